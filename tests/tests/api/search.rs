//! Search across conversations: every word, diacritics and case aside, newest first, and only
//! in the sessions the admin may read.

use chat_e2e::{assert_error, assert_wrong_kind, expect_json, TestApp};
use serde_json::Value;

async fn search(app: &TestApp, token: &str, query: &str) -> Value {
    expect_json(
        app.get(&format!("/v1/chat/admin/search/?{query}"), token)
            .await,
        200,
    )
    .await
}

fn snippets(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| r["snippet"].as_str().expect("a snippet").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_finds_every_word_without_diacritics_in_what_the_admin_may_read() {
    let app = TestApp::spawn().await;
    let ann = app.create_admin("Ann").await;
    let bob = app.create_admin("Bob").await;
    let cafe = app.create_store(1, "Café Crème").await;
    let open = app.create_store(2, "Open Store").await;
    let bobs = app.create_store(3, "Bob's Store").await;
    let closed = app.create_store(4, "Closed Store").await;

    // Held by Ann: the store's message and her answer.
    let held = app
        .open_session(&cafe, "Où est mon remboursement ? refund please")
        .await;
    app.claim(&ann, held).await;
    app.admin_send(&ann, held, "Your refund is on its way")
        .await;
    // In the queue: any admin reads it.
    let queued = app.open_session(&open, "I want a REFUND now").await;
    // Held by Bob: not Ann's to read.
    let others = app.open_session(&bobs, "refund for Bob only").await;
    app.claim(&bob, others).await;
    // Closed while Ann held it: still hers to read.
    let done = app.open_session(&closed, "an old refund").await;
    app.claim(&ann, done).await;
    app.store_close(&closed).await;

    let found = search(&app, &ann.token, "q=refund").await;
    assert_eq!(found["count"], 4, "{found}");
    let sessions: Vec<i64> = found["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["session"]["id"].as_i64().unwrap())
        .collect();
    // Newest first; Bob's session never.
    assert_eq!(sessions, [done, queued, held, held]);
    let first = &found["data"][0];
    assert_eq!(first["message"]["content"], "an old refund");
    assert!(first["session"].get("unread_count").is_some());
    for snippet in snippets(&found) {
        assert!(
            snippet.to_lowercase().contains("\u{2}refund\u{3}"),
            "the match is marked: {snippet:?}"
        );
    }
    // Bob finds his own, and what is open, not Ann's.
    let bobs_view = search(&app, &bob.token, "q=refund").await;
    assert_eq!(bobs_view["count"], 2, "{bobs_view}");

    // Every word must be there; case and diacritics do not matter.
    let both = search(&app, &ann.token, "q=REFUND%20now").await;
    assert_eq!(both["count"], 1);
    assert_eq!(both["data"][0]["session"]["id"], queued);
    let accents = search(&app, &ann.token, "q=ou%20est%20mon%20REMBOURSEMENT").await;
    assert_eq!(accents["count"], 1);
    assert!(snippets(&accents)[0].contains("\u{2}Où\u{3}"), "{accents}");

    // A store's name matches too: the session, with no message.
    let by_name = search(&app, &ann.token, "q=cafe%20creme").await;
    assert_eq!(by_name["count"], 1, "{by_name}");
    assert_eq!(by_name["data"][0]["session"]["id"], held);
    assert_eq!(by_name["data"][0]["message"], Value::Null);
    assert_eq!(
        by_name["data"][0]["snippet"],
        "\u{2}Café\u{3} \u{2}Crème\u{3}"
    );

    // Pages.
    let second = search(&app, &ann.token, "q=refund&limit=1&offset=1").await;
    assert_eq!(second["count"], 4);
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(second["data"][0]["session"]["id"], queued);
    let nothing = search(&app, &ann.token, "q=parcel").await;
    assert_eq!(nothing["count"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_search_is_refused_and_stores_cannot_search() {
    let app = TestApp::spawn().await;
    let ann = app.create_admin("Ann").await;
    let store = app.create_store(1, "Tech Store").await;
    for query in [
        "",
        "q=",
        "q=%20%20",
        "q=a%00b",
        "q=x&limit=101",
        "q=x&limit=0",
        "q=x&offset=-1",
    ] {
        let resp = app
            .get(&format!("/v1/chat/admin/search/?{query}"), &ann.token)
            .await;
        assert_error(resp, 400, "invalid_request").await;
    }
    let long = "x".repeat(201);
    let resp = app
        .get(&format!("/v1/chat/admin/search/?q={long}"), &ann.token)
        .await;
    assert_error(resp, 400, "invalid_request").await;
    assert_wrong_kind(app.get("/v1/chat/admin/search/?q=x", &store.token).await).await;
}
