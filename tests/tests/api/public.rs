//! The public API of integrations, with an API key. The list with DRF-style numbered pages
//! and absolute links (behind a proxy too), one
//! conversation with its messages, the provisioning of stores, admins and tokens, and every
//! error of each.

use std::collections::BTreeSet;

use chat_e2e::{
    assert_error, assert_message_shape, assert_timestamp, assert_unauthorized, assert_wrong_kind,
    expect_json, id_of, ids, TestAdmin, TestApp, TestStore,
};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};

const LIST: &str = "/api/public/conversations/";

// ---------------------------------------------------------------------------------------------
// Helpers

async fn send(builder: RequestBuilder) -> Response {
    builder
        .send()
        .await
        .expect("the request reaches the server")
}

/// `GET` of an absolute URL (a `next` or `previous` link) with the API key.
async fn follow(app: &TestApp, url: &str, key: &str) -> Value {
    let resp = send(
        app.client
            .get(url)
            .header("Authorization", format!("Token {key}")),
    )
    .await;
    expect_list(resp).await
}

/// A 200 page of the list, checked against its documented shape; returns it.
async fn expect_list(resp: Response) -> Value {
    let body = expect_json(resp, 200).await;
    assert_list_shape(&body);
    body
}

/// `GET /api/public/conversations/<query>`, expecting 200.
async fn list(app: &TestApp, key: &str, query: &str) -> Value {
    expect_list(app.get(&format!("{LIST}{query}"), key).await).await
}

/// `GET /api/public/conversations/<id>/<query>`.
async fn conversation(app: &TestApp, key: &str, id: i64, query: &str) -> Response {
    app.get(&format!("{LIST}{id}/{query}"), key).await
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

fn set<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
    names.iter().copied().collect()
}

/// `{"count", "next", "previous", "results"}` and nothing else, as Django REST framework pages.
fn assert_list_shape(body: &Value) {
    assert_eq!(
        keys(body),
        set(&["count", "next", "previous", "results"]),
        "{body}"
    );
    assert!(body["count"].is_u64(), "count: {body}");
    for link in ["next", "previous"] {
        assert!(
            body[link].is_null() || body[link].is_string(),
            "{link}: {body}"
        );
    }
    for c in body["results"].as_array().expect("results is an array") {
        assert_conversation_shape(c, false);
    }
}

/// The conversation object: exactly the documented fields plus `status`, `created` and
/// `last_message_at`; with `thread`, `messages` is the list and `message_count` and
/// `has_more` join.
fn assert_conversation_shape(c: &Value, thread: bool) {
    let mut expected = set(&[
        "id",
        "user",
        "active",
        "agent",
        "messages",
        "status",
        "created",
        "last_message_at",
    ]);
    if thread {
        expected.extend(["message_count", "has_more"]);
    }
    assert_eq!(keys(c), expected, "{c}");
    assert!(c["id"].as_i64().is_some_and(|id| id > 0), "id: {c}");
    let user = &c["user"];
    assert_eq!(keys(user), set(&["id", "email", "name", "key"]), "{c}");
    assert!(user["id"].as_i64().is_some(), "user.id: {c}");
    assert!(user["name"].is_string() && user["email"].is_string(), "{c}");
    let key = user["key"].as_str().expect("user.key is a string");
    assert!(
        key.len() == 12 && key.bytes().all(|b| b.is_ascii_alphanumeric()),
        "user.key: {c}"
    );
    let status = c["status"].as_str().expect("status is a string");
    assert!(["open", "claimed", "closed"].contains(&status), "{c}");
    assert_eq!(c["active"], json!(status != "closed"), "active: {c}");
    if !c["agent"].is_null() {
        assert_eq!(keys(&c["agent"]), set(&["id", "name", "email"]), "{c}");
        assert!(c["agent"]["id"].as_i64().is_some(), "agent.id: {c}");
    }
    if status == "claimed" {
        assert!(
            !c["agent"].is_null(),
            "a claimed conversation has an agent: {c}"
        );
    }
    if thread {
        let messages = c["messages"].as_array().expect("messages is a list");
        for m in messages {
            assert_message_shape(m);
            assert_eq!(m["session_id"], c["id"], "{c}");
        }
        assert!(c["message_count"].as_i64().is_some_and(|n| n >= 0), "{c}");
        assert!(c["has_more"].is_boolean(), "{c}");
    } else {
        assert!(c["messages"].as_i64().is_some_and(|n| n >= 0), "{c}");
    }
    assert_timestamp(&c["created"]);
    assert_timestamp(&c["last_message_at"]);
}

/// The 404 of a page that does not exist, exactly as DRF words it.
async fn assert_invalid_page(resp: Response) {
    let body = expect_json(resp, 404).await;
    assert_eq!(body, json!({"error": "Invalid page.", "code": "not_found"}));
}

/// A 400 `invalid_request` whose message names `field`.
async fn assert_invalid(resp: Response, field: &str) {
    let message = assert_error(resp, 400, "invalid_request").await;
    assert!(message.contains(field), "{field} is named: {message}");
}

/// `n` stores, each writing one message: `n` open conversations, oldest first.
async fn conversations(app: &TestApp, n: i64) -> Vec<i64> {
    let mut sessions = Vec::new();
    for i in 0..n {
        let store = app.create_store(100 + i, &format!("Store {i}")).await;
        sessions.push(app.open_session(&store, "hello").await);
    }
    sessions
}

async fn admin_close(app: &TestApp, admin: &TestAdmin, sid: i64) {
    let resp = app
        .post_json(
            "/v1/chat/admin/session/close/",
            &admin.token,
            &json!({ "session_id": sid }),
        )
        .await;
    expect_json(resp, 200).await;
}

/// The query of an absolute link, parsed; checks that it points at the list.
fn link_query(link: &Value, base: &str) -> Vec<(String, String)> {
    let link = link.as_str().unwrap_or_else(|| panic!("a link: {link}"));
    let rest = link
        .strip_prefix(&format!("{base}{LIST}"))
        .unwrap_or_else(|| panic!("{link} starts with {base}{LIST}"));
    let query = rest.strip_prefix('?').unwrap_or(rest);
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// A world of one conversation in each situation: open with three messages, claimed by Ann
/// (a message each way), closed by Bob after he claimed it, closed by its store unclaimed.
struct World {
    key: String,
    ann: TestAdmin,
    bob: TestAdmin,
    store: TestStore,
    waiting: i64,
    claimed: i64,
    closed_by_admin: i64,
    closed_by_store: i64,
}

async fn world(app: &TestApp) -> World {
    let key = app.create_api_key("reports").await;
    let ann = app.create_admin("Ann").await;
    let bob = app.create_admin("Bob").await;

    let store = app.create_store(12, "Tech Store").await;
    let waiting = app.open_session(&store, "I need help with shipping").await;
    app.store_send(&store, "anyone?").await;
    app.store_send(&store, "please").await;

    let second = app.create_store(13, "Red Pear").await;
    let claimed = app.open_session(&second, "refund").await;
    app.claim(&ann, claimed).await;
    app.admin_send(&ann, claimed, "on it").await;

    let third = app.create_store(14, "Gray Leaf").await;
    let closed_by_admin = app.open_session(&third, "invoice").await;
    app.claim(&bob, closed_by_admin).await;
    admin_close(app, &bob, closed_by_admin).await;

    let fourth = app.create_store(15, "Yellow Finger").await;
    let resp = app
        .post_empty("/v1/chat/store/session/", &fourth.token)
        .await;
    let closed_by_store = id_of(&expect_json(resp, 201).await["id"]);
    app.store_close(&fourth).await;

    World {
        key,
        ann,
        bob,
        store,
        waiting,
        claimed,
        closed_by_admin,
        closed_by_store,
    }
}

fn by_id(body: &Value, id: i64) -> Value {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("conversation {id} in {body}"))
        .clone()
}

// ---------------------------------------------------------------------------------------------
// The list

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_has_the_documented_shape() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;

    let body = list(&app, &w.key, "").await;
    assert_eq!(body["count"], 4);
    assert_eq!(body["next"], json!(null));
    assert_eq!(body["previous"], json!(null));
    // Newest first.
    assert_eq!(
        ids(&body["results"]),
        [w.closed_by_store, w.closed_by_admin, w.claimed, w.waiting]
    );

    let waiting = by_id(&body, w.waiting);
    assert_eq!(
        waiting["user"],
        json!({
            "id": 12,
            "email": w.store.email,
            "name": "Tech Store",
            "key": waiting["user"]["key"],
        })
    );
    assert_eq!(waiting["active"], true);
    assert_eq!(waiting["agent"], json!(null));
    assert_eq!(waiting["messages"], 3);
    assert_eq!(waiting["status"], "open");

    let claimed = by_id(&body, w.claimed);
    assert_eq!(claimed["active"], true);
    assert_eq!(claimed["status"], "claimed");
    assert_eq!(
        claimed["agent"],
        json!({"id": w.ann.id, "name": "Ann", "email": claimed["agent"]["email"]})
    );
    assert!(claimed["agent"]["email"].is_string());
    assert_eq!(claimed["messages"], 2);

    // A closed conversation keeps the admin it had.
    let closed = by_id(&body, w.closed_by_admin);
    assert_eq!(closed["active"], false);
    assert_eq!(closed["agent"]["id"], w.bob.id);
    assert_eq!(closed["messages"], 1);

    let abandoned = by_id(&body, w.closed_by_store);
    assert_eq!(abandoned["active"], false);
    assert_eq!(abandoned["agent"], json!(null));
    assert_eq!(abandoned["messages"], 0);

    // The key is the store's stable public key.
    let again = list(&app, &w.key, "").await;
    assert_eq!(
        by_id(&again, w.waiting)["user"]["key"],
        waiting["user"]["key"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_filter_keeps_active_or_closed_conversations() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;

    let active = list(&app, &w.key, "?status=true").await;
    assert_eq!(active["count"], 2);
    assert_eq!(ids(&active["results"]), [w.claimed, w.waiting]);

    let closed = list(&app, &w.key, "?status=false").await;
    assert_eq!(closed["count"], 2);
    assert_eq!(
        ids(&closed["results"]),
        [w.closed_by_store, w.closed_by_admin]
    );

    for bad in ["yes", "1", "open", ""] {
        let resp = app.get(&format!("{LIST}?status={bad}"), &w.key).await;
        assert_invalid(resp, "status").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_next_visits_every_conversation_exactly_once() {
    let app = TestApp::spawn().await;
    let key = app.create_api_key("reports").await;
    let created = conversations(&app, 23).await;
    let newest_first: Vec<i64> = created.iter().rev().copied().collect();

    let mut pages = vec![list(&app, &key, "?page_size=5").await];
    while let Some(next) = pages.last().unwrap()["next"].as_str().map(str::to_owned) {
        assert!(pages.len() < 10, "the links end");
        pages.push(follow(&app, &next, &key).await);
    }
    assert_eq!(pages.len(), 5);
    let sizes: Vec<usize> = pages
        .iter()
        .map(|p| p["results"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [5, 5, 5, 5, 3]);
    let seen: Vec<i64> = pages.iter().flat_map(|p| ids(&p["results"])).collect();
    assert_eq!(seen, newest_first, "every conversation once, newest first");
    assert!(pages.iter().all(|p| p["count"] == 23));

    // Links are absolute, keep page_size, and number the pages; the first has no `page`.
    for (i, page) in pages.iter().enumerate() {
        let number = i + 1;
        if number < 5 {
            let query = link_query(&page["next"], &app.base_url);
            assert!(query.contains(&("page_size".to_owned(), "5".to_owned())));
            assert!(query.contains(&("page".to_owned(), (number + 1).to_string())));
        }
        match number {
            1 => assert_eq!(page["previous"], json!(null)),
            2 => assert_eq!(
                link_query(&page["previous"], &app.base_url),
                [("page_size".to_owned(), "5".to_owned())]
            ),
            _ => {
                let query = link_query(&page["previous"], &app.base_url);
                assert!(query.contains(&("page".to_owned(), (number - 1).to_string())));
            }
        }
    }

    // Following `previous` from the last page walks back through the same pages.
    let mut back = vec![pages.last().unwrap().clone()];
    while let Some(previous) = back.last().unwrap()["previous"].as_str().map(str::to_owned) {
        assert!(back.len() < 10, "the links end");
        back.push(follow(&app, &previous, &key).await);
    }
    back.reverse();
    assert_eq!(back, pages);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_keep_the_filter() {
    let app = TestApp::spawn().await;
    let key = app.create_api_key("reports").await;
    let created = conversations(&app, 7).await;

    let first = list(&app, &key, "?status=true&page_size=3").await;
    assert_eq!(first["count"], 7);
    let query = link_query(&first["next"], &app.base_url);
    assert!(query.contains(&("status".to_owned(), "true".to_owned())));
    let mut seen = ids(&first["results"]);
    let mut page = first;
    while let Some(next) = page["next"].as_str().map(str::to_owned) {
        page = follow(&app, &next, &key).await;
        seen.extend(ids(&page["results"]));
    }
    let newest_first: Vec<i64> = created.iter().rev().copied().collect();
    assert_eq!(seen, newest_first);

    // Nothing is closed: the closed filter has one empty page.
    let closed = list(&app, &key, "?status=false&page_size=3").await;
    assert_eq!(
        closed,
        json!({"count": 0, "next": null, "previous": null, "results": []})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_pages_are_404_and_bad_page_sizes_400() {
    let app = TestApp::spawn().await;
    let key = app.create_api_key("reports").await;

    // Page 1 of nothing is fine; page 2 of nothing is not.
    let empty = list(&app, &key, "").await;
    assert_eq!(
        empty,
        json!({"count": 0, "next": null, "previous": null, "results": []})
    );
    assert_eq!(list(&app, &key, "?page=1").await, empty);
    assert_invalid_page(app.get(&format!("{LIST}?page=2"), &key).await).await;

    conversations(&app, 12).await;
    let last = list(&app, &key, "?page=3&page_size=5").await;
    assert_eq!(last["results"].as_array().unwrap().len(), 2);
    assert_eq!(last["next"], json!(null));
    for bad in ["0", "4", "99999999999999999999999", "abc", "", "-1", "1.5"] {
        let resp = app
            .get(&format!("{LIST}?page={bad}&page_size=5"), &key)
            .await;
        assert_invalid_page(resp).await;
    }
    for bad in ["0", "201", "abc", "", "-5"] {
        let resp = app.get(&format!("{LIST}?page_size={bad}"), &key).await;
        assert_invalid(resp, "page_size").await;
    }
    let widest = list(&app, &key, "?page_size=200").await;
    assert_eq!(widest["results"].as_array().unwrap().len(), 12);
    // The default page holds 50.
    assert_eq!(list(&app, &key, "").await["results"], widest["results"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_page_size_is_50() {
    let app = TestApp::spawn().await;
    let key = app.create_api_key("reports").await;
    conversations(&app, 51).await;
    let first = list(&app, &key, "").await;
    assert_eq!(first["count"], 51);
    assert_eq!(first["results"].as_array().unwrap().len(), 50);
    let second = follow(&app, first["next"].as_str().unwrap(), &key).await;
    assert_eq!(second["results"].as_array().unwrap().len(), 1);
    assert_eq!(
        link_query(&first["next"], &app.base_url),
        [("page".to_owned(), "2".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_are_absolute_behind_a_reverse_proxy() {
    let app = TestApp::spawn().await;
    let key = app.create_api_key("reports").await;
    conversations(&app, 3).await;

    // Directly: the request's own scheme and host.
    let direct = list(&app, &key, "?page_size=1&page=2").await;
    assert_eq!(
        direct["next"],
        format!("{}{LIST}?page_size=1&page=3", app.base_url)
    );
    assert_eq!(
        direct["previous"],
        format!("{}{LIST}?page_size=1", app.base_url)
    );

    // Behind a proxy: what the proxy says the client used.
    let resp = send(
        app.request(Method::GET, &format!("{LIST}?page_size=1&page=2"), &key)
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Host", "chat.example.com"),
    )
    .await;
    let proxied = expect_list(resp).await;
    assert_eq!(
        proxied["next"],
        format!("https://chat.example.com{LIST}?page_size=1&page=3")
    );
    assert_eq!(
        proxied["previous"],
        format!("https://chat.example.com{LIST}?page_size=1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_start_with_the_configured_public_base_url() {
    let app = TestApp::spawn_with(|settings| {
        settings.public_base_url = "https://support.example.com/chat".to_owned();
    })
    .await;
    let key = app.create_api_key("reports").await;
    conversations(&app, 2).await;

    for forwarded in [false, true] {
        let mut request = app.request(Method::GET, &format!("{LIST}?page_size=1"), &key);
        if forwarded {
            request = request
                .header("X-Forwarded-Proto", "http")
                .header("X-Forwarded-Host", "evil.example.com");
        }
        let body = expect_list(send(request).await).await;
        assert_eq!(
            body["next"],
            format!("https://support.example.com/chat{LIST}?page_size=1&page=2")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// One conversation

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_conversation_has_its_messages() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;

    let resp = conversation(&app, &w.key, w.claimed, "").await;
    let claimed = expect_json(resp, 200).await;
    assert_conversation_shape(&claimed, true);
    assert_eq!(claimed["agent"]["id"], w.ann.id);
    assert_eq!(claimed["message_count"], 2);
    assert_eq!(claimed["has_more"], false);
    let contents: Vec<&str> = claimed["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["refund", "on it"], "oldest first");
    // The same conversation as in the list, messages aside.
    let listed = by_id(&list(&app, &w.key, "").await, w.claimed);
    for field in ["id", "user", "active", "agent", "status", "created"] {
        assert_eq!(claimed[field], listed[field], "{field}");
    }
    assert_eq!(claimed["message_count"], listed["messages"]);

    // Paged like Get Session: the newest `limit`, then the ones before.
    let newest = expect_json(conversation(&app, &w.key, w.waiting, "?limit=2").await, 200).await;
    assert_conversation_shape(&newest, true);
    assert_eq!(newest["message_count"], 3);
    assert_eq!(newest["has_more"], true);
    let page = ids(&newest["messages"]);
    assert_eq!(page.len(), 2);
    let older = expect_json(
        conversation(
            &app,
            &w.key,
            w.waiting,
            &format!("?limit=2&before={}", page[0]),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(older["has_more"], false);
    assert_eq!(older["messages"].as_array().unwrap().len(), 1);
    assert!(ids(&older["messages"])[0] < page[0]);

    let empty = expect_json(conversation(&app, &w.key, w.closed_by_store, "").await, 200).await;
    assert_conversation_shape(&empty, true);
    assert_eq!(empty["messages"], json!([]));
    assert_eq!(empty["message_count"], 0);
    assert_eq!(empty["agent"], json!(null));

    // Without the trailing slash too.
    let resp = app.get(&format!("{LIST}{}", w.claimed), &w.key).await;
    assert_eq!(expect_json(resp, 200).await["id"], w.claimed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_or_malformed_conversations() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let resp = conversation(&app, &w.key, 999_999, "").await;
    assert_error(resp, 404, "not_found").await;
    let resp = app.get(&format!("{LIST}abc/"), &w.key).await;
    assert_invalid(resp, "conversation_id").await;
    let resp = app.get(&format!("{LIST}0/"), &w.key).await;
    assert_invalid(resp, "conversation_id").await;
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=501", "limit"),
        ("?limit=x", "limit"),
        ("?before=x", "before"),
    ] {
        let resp = conversation(&app, &w.key, w.waiting, query).await;
        assert_invalid(resp, field).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Provisioning

async fn put_store(app: &TestApp, key: &str, id: &str, body: &Value) -> Response {
    send(
        app.request(Method::PUT, &format!("/api/public/stores/{id}/"), key)
            .json(body),
    )
    .await
}

async fn revoke(app: &TestApp, key: &str, body: &Value) -> Response {
    send(
        app.request(Method::DELETE, "/api/public/tokens/", key)
            .json(body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_are_created_and_updated_by_the_marketplace_id() {
    let app = TestApp::spawn().await;
    let key = app.create_api_key("marketplace").await;

    let body = json!({
        "name": "Tech Store",
        "email": "store@example.com",
        "logo_url": "https://example.com/logo.jpg"
    });
    let created = expect_json(put_store(&app, &key, "77", &body).await, 200).await;
    assert_eq!(
        keys(&created),
        set(&["id", "name", "logo_url", "email", "key"])
    );
    assert_eq!(created["id"], 77);
    assert_eq!(created["name"], "Tech Store");
    assert_eq!(created["email"], "store@example.com");
    assert_eq!(created["logo_url"], "https://example.com/logo.jpg");
    let store_key = created["key"].as_str().unwrap();
    assert!(store_key.len() == 12 && store_key.bytes().all(|b| b.is_ascii_alphanumeric()));

    // An update keeps the key; PUT replaces, so a missing logo clears it.
    let renamed = json!({"name": "Tech Store 2", "email": "new@example.com"});
    let updated = expect_json(put_store(&app, &key, "77", &renamed).await, 200).await;
    assert_eq!(
        updated,
        json!({
            "id": 77,
            "name": "Tech Store 2",
            "logo_url": "",
            "email": "new@example.com",
            "key": store_key,
        })
    );

    // The store can chat, and integrations see it by its new name and the same key.
    let resp = send(app.request(Method::POST, "/api/public/stores/77/tokens/", &key)).await;
    let minted = expect_json(resp, 201).await;
    assert_eq!(keys(&minted), set(&["token"]));
    let token = minted["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64);
    let resp = app
        .post_json(
            "/v1/chat/store/message/send/",
            &token,
            &json!({"content": "hello"}),
        )
        .await;
    expect_json(resp, 201).await;
    let listed = list(&app, &key, "").await;
    assert_eq!(
        listed["results"][0]["user"],
        json!({"id": 77, "email": "new@example.com", "name": "Tech Store 2", "key": store_key})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_store_fields_are_named() {
    let app = TestApp::spawn().await;
    let key = app.create_api_key("marketplace").await;
    let good = json!({"name": "Tech Store", "email": "store@example.com"});

    for (id, body, field) in [
        ("0", good.clone(), "store_id"),
        ("abc", good.clone(), "store_id"),
        ("-3", good.clone(), "store_id"),
        ("5", json!({"email": "store@example.com"}), "name"),
        (
            "5",
            json!({"name": " ", "email": "store@example.com"}),
            "name",
        ),
        ("5", json!({"name": "Tech Store"}), "email"),
        ("5", json!({"name": "Tech Store", "email": "nope"}), "email"),
        (
            "5",
            json!({"name": 5, "email": "store@example.com"}),
            "name",
        ),
        (
            "5",
            json!({"name": "Tech Store", "email": "store@example.com", "logo_url": "ftp://x"}),
            "logo_url",
        ),
    ] {
        let resp = put_store(&app, &key, id, &body).await;
        assert_invalid(resp, field).await;
    }
    let resp = send(
        app.request(Method::PUT, "/api/public/stores/5/", &key)
            .header("Content-Type", "application/json")
            .body("{\"name\": "),
    )
    .await;
    assert_error(resp, 400, "invalid_request").await;

    // Nothing was created.
    let resp = send(app.request(Method::POST, "/api/public/stores/5/tokens/", &key)).await;
    assert_error(resp, 404, "not_found").await;
    let resp = send(app.request(Method::POST, "/api/public/stores/abc/tokens/", &key)).await;
    assert_invalid(resp, "store_id").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_are_created_with_a_first_token() {
    let app = TestApp::spawn().await;
    let key = app.create_api_key("marketplace").await;

    let body = json!({"name": "Ann", "email": "ann@example.com"});
    let resp = app.post_json("/api/public/admins/", &key, &body).await;
    let created = expect_json(resp, 201).await;
    assert_eq!(keys(&created), set(&["id", "name", "email", "token"]));
    assert_eq!(created["name"], "Ann");
    assert_eq!(created["email"], "ann@example.com");
    let token = created["token"].as_str().unwrap();
    assert_eq!(token.len(), 64);
    let admin = TestAdmin {
        id: id_of(&created["id"]),
        name: "Ann".to_owned(),
        token: token.to_owned(),
    };
    assert_eq!(app.open_queue(&admin, "").await["count"], 0);

    // The email is taken (in any case).
    for email in ["ann@example.com", "ANN@example.com"] {
        let again = json!({"name": "Other Ann", "email": email});
        let resp = app.post_json("/api/public/admins/", &key, &again).await;
        assert_invalid(resp, "email").await;
    }
    for (body, field) in [
        (json!({"email": "bob@example.com"}), "name"),
        (json!({"name": "", "email": "bob@example.com"}), "name"),
        (json!({"name": "Bob"}), "email"),
        (json!({"name": "Bob", "email": "bob"}), "email"),
    ] {
        let resp = app.post_json("/api/public/admins/", &key, &body).await;
        assert_invalid(resp, field).await;
    }
    let resp = app
        .post_raw("/api/public/admins/", &key, "application/json", "[1, 2")
        .await;
    assert_error(resp, 400, "invalid_request").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_refused_at_once() {
    let app = TestApp::spawn().await;
    let key = app.create_api_key("marketplace").await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;

    let resp = revoke(&app, &key, &json!({"token": admin.token})).await;
    assert_eq!(resp.status(), 204);
    assert!(resp.bytes().await.unwrap().is_empty(), "204 has no body");
    assert_unauthorized(app.get("/v1/chat/admin/sessions/open/", &admin.token).await).await;

    let resp = revoke(&app, &key, &json!({"token": store.token})).await;
    assert_eq!(resp.status(), 204);
    assert_unauthorized(app.get("/v1/chat/store/sessions/", &store.token).await).await;

    // Already revoked, unknown, malformed, missing.
    let resp = revoke(&app, &key, &json!({"token": admin.token})).await;
    assert_error(resp, 404, "not_found").await;
    let resp = revoke(&app, &key, &json!({"token": "A".repeat(64)})).await;
    assert_error(resp, 404, "not_found").await;
    for body in [json!({"token": "short"}), json!({}), json!({"token": 5})] {
        assert_invalid(revoke(&app, &key, &body).await, "token").await;
    }
    let resp = send(app.request(Method::DELETE, "/api/public/tokens/", &key)).await;
    assert_invalid(resp, "token").await;

    // An API key can be revoked too, by itself even.
    let other = app.create_api_key("old").await;
    assert_eq!(
        revoke(&app, &key, &json!({"token": other})).await.status(),
        204
    );
    assert_unauthorized(app.get(LIST, &other).await).await;
    assert_eq!(
        revoke(&app, &key, &json!({"token": key})).await.status(),
        204
    );
    assert_unauthorized(app.get(LIST, &key).await).await;
}

// ---------------------------------------------------------------------------------------------
// Authentication

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_api_keys_may_call() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let revoked = app.create_api_key("revoked").await;
    app.revoke(&revoked).await;

    let endpoints: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, LIST.to_owned(), None),
        (Method::GET, format!("{LIST}{}/", w.waiting), None),
        (
            Method::PUT,
            "/api/public/stores/12/".to_owned(),
            Some(json!({"name": "X", "email": "x@example.com"})),
        ),
        (
            Method::POST,
            "/api/public/stores/12/tokens/".to_owned(),
            None,
        ),
        (
            Method::POST,
            "/api/public/admins/".to_owned(),
            Some(json!({"name": "Eve", "email": "eve@example.com"})),
        ),
        (
            Method::DELETE,
            "/api/public/tokens/".to_owned(),
            Some(json!({"token": w.ann.token})),
        ),
    ];
    for (method, path, body) in &endpoints {
        let call = |authorization: Option<String>| {
            let mut builder = app.client.request(method.clone(), app.url(path));
            if let Some(value) = authorization {
                builder = builder.header("Authorization", value);
            }
            if let Some(body) = body {
                builder = builder.json(body);
            }
            send(builder)
        };
        for bad in [
            None,
            Some("Token".to_owned()),
            Some(format!("Token {}", "A".repeat(64))),
            Some(format!("Token {revoked}")),
            Some(w.key.clone()),
        ] {
            assert_unauthorized(call(bad).await).await;
        }
        assert_wrong_kind(call(Some(format!("Token {}", w.ann.token))).await).await;
        assert_wrong_kind(call(Some(format!("Token {}", w.store.token))).await).await;
    }

    // Nothing above took effect: the admin's token still works, no admin or store changed.
    assert_eq!(app.open_queue(&w.ann, "").await["count"], 1);
    let body = list(&app, &w.key, "?status=true").await;
    assert_eq!(by_id(&body, w.waiting)["user"]["name"], "Tech Store");
    // `Bearer` is accepted as an alias.
    let resp = send(
        app.client
            .get(app.url(LIST))
            .header("Authorization", format!("Bearer {}", w.key)),
    )
    .await;
    expect_list(resp).await;
}
