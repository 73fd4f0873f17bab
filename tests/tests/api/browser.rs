//! The agent console and the store chat in a real browser: headless Chromium through
//! WebDriver, against the real server, as the people using them would. A failing scenario
//! leaves a screenshot of each page under `target/browser/`.

use std::time::{Duration, Instant};

use chat_e2e::browser::{find, js, open, press, send, texts, wait_attr, wait_true, Browser};
use chat_e2e::{id_of, TestApp, TestStore};
use fantoccini::Client;
use serde_json::{json, Value};

const CONSOLE: &str = "/console/";
const CHAT: &str = "/chat/";

/// The store's current session, once the page's first message opened it.
async fn current_session(app: &TestApp, store: &TestStore) -> i64 {
    let started = Instant::now();
    loop {
        let resp = app.get("/v1/chat/store/session/", &store.token).await;
        if resp.status() == 200 {
            let thread: Value = resp.json().await.expect("a session");
            return id_of(&thread["id"]);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no session opened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The row of session `id` in the list `list` (`queue`, `mine`, `closed`).
fn row(list: &str, id: i64) -> String {
    format!("#{list} li.session[data-session-id=\"{id}\"]")
}

/// Waits until exactly one message with `text` is in `#messages`, and for a while after, to
/// be sure no copy follows.
async fn shown_once(page: &Client, text: &str) {
    wait_true(
        page,
        &format!("{text:?} shown"),
        "return Array.from(document.querySelectorAll('#messages li.message .content'))\
         .some(e => e.textContent === arguments[0]);",
        vec![json!(text)],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let copies = texts(page, "#messages li.message .content")
        .await
        .into_iter()
        .filter(|t| t == text)
        .count();
    assert_eq!(copies, 1, "{text:?} is shown {copies} times");
}

/// The status tick of the viewer's own message with `text`.
async fn wait_status(page: &Client, text: &str, status: &str) {
    wait_true(
        page,
        &format!("{text:?} {status}"),
        "const m = Array.from(document.querySelectorAll('#messages li.message.mine'))\
         .find(e => e.querySelector('.content').textContent === arguments[0]);\
         return !!m && m.querySelector('.status').getAttribute('data-status') === arguments[1];",
        vec![json!(text), json!(status)],
    )
    .await;
}

async fn wait_hidden(page: &Client, css: &str, want: bool) {
    wait_true(
        page,
        &format!("{css} hidden = {want}"),
        "const e = document.querySelector(arguments[0]); return !!e && e.hidden === arguments[1];",
        vec![json!(css), json!(want)],
    )
    .await;
}

async fn click(page: &Client, css: &str) {
    find(page, css).await.click().await.expect("click");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_and_an_admin_chat_with_typing_and_read_receipts() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let browser = Browser::start().await;
    browser
        .run("chat", async {
            let console = browser.page(1280).await;
            let chat = browser.page(360).await;
            open(&chat, &app.base_url, CHAT, &store.token).await;
            open(&console, &app.base_url, CONSOLE, &admin.token).await;

            send(&chat, "I need help with shipping").await;
            // The console's socket has it: delivered.
            wait_status(&chat, "I need help with shipping", "delivered").await;
            let session = current_session(&app, &store).await;
            click(&console, &format!("{} button.claim", row("queue", session))).await;
            wait_attr(&console, "#thread", "data-session-id", &session.to_string()).await;
            find(&console, &row("mine", session)).await;
            shown_once(&console, "I need help with shipping").await;
            // The admin has the thread open: the store's message is read, and counted so.
            wait_status(&chat, "I need help with shipping", "read").await;
            wait_hidden(&console, &format!("{} .unread", row("mine", session)), true).await;

            // Typing shows on the other side, and clears when the message is sent.
            find(&console, "#composer")
                .await
                .send_keys("On it")
                .await
                .expect("type");
            wait_hidden(&chat, "#typing", false).await;
            find(&console, "#composer")
                .await
                .send_keys(", checking now\u{E007}")
                .await
                .expect("send");
            shown_once(&chat, "On it, checking now").await;
            wait_hidden(&chat, "#typing", true).await;
            // The store's page is open: the admin's message reaches "read".
            wait_status(&console, "On it, checking now", "read").await;
            // The admin's own message counts nothing unread.
            tokio::time::sleep(Duration::from_millis(300)).await;
            wait_hidden(&console, &format!("{} .unread", row("mine", session)), true).await;

            // A notice in the store's thread names the admin who took the session.
            wait_true(
                &chat,
                "a notice names the admin",
                "return Array.from(document.querySelectorAll('#messages li.notice'))\
                 .some(e => e.textContent.includes('Ann'));",
                vec![],
            )
            .await;
            // At 360 px the store page has no horizontal scroll.
            let scrolls = js(
                &chat,
                "return document.documentElement.scrollWidth > window.innerWidth;",
                vec![],
            )
            .await;
            assert_eq!(scrolls, Value::Bool(false), "horizontal scroll at 360 px");

            // `UPDATE_SCREENSHOTS=1` writes the pictures of the pages in docs/.
            if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
                let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
                for (page, name) in [(&console, "console.png"), (&chat, "chat.png")] {
                    let png = page.screenshot().await.expect("a screenshot");
                    std::fs::write(docs.join(name), png).expect("write the screenshot");
                }
            }
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_clicking_claim_on_the_same_session_one_wins_every_time() {
    const ROUNDS: i64 = 20;
    let app = TestApp::spawn().await;
    let ann = app.create_admin("Ann").await;
    let bob = app.create_admin("Bob").await;
    let browser = Browser::start().await;
    browser
        .run("claim-race", async {
            let a = browser.page(1280).await;
            let b = browser.page(1280).await;
            open(&a, &app.base_url, CONSOLE, &ann.token).await;
            open(&b, &app.base_url, CONSOLE, &bob.token).await;
            for round in 0..ROUNDS {
                let store = app.create_store(100 + round, &format!("Store {round}")).await;
                let session = app.open_session(&store, "hello").await;
                let button = format!("{} button.claim", row("queue", session));
                tokio::join!(find(&a, &button), find(&b, &button));
                // Both click at the same moment of the machine's clock (a WebDriver command
                // may take a while under load; the first answer takes the row away at once).
                let at = chrono::Utc::now().timestamp_millis() + 400;
                let click = "window.__clicked = null; setTimeout(() => {\
                             const b = document.querySelector(arguments[0]);\
                             window.__clicked = !!b; if (b) b.click(); }, arguments[1] - Date.now());";
                tokio::join!(
                    js(&a, click, vec![json!(button), json!(at)]),
                    js(&b, click, vec![json!(button), json!(at)])
                );
                for page in [&a, &b] {
                    wait_true(page, "the click", "return window.__clicked !== null;", vec![]).await;
                    let clicked = js(page, "return window.__clicked;", vec![]).await;
                    assert_eq!(clicked, json!(true), "round {round}: both clicked");
                }
                // The winner has the thread open; the loser is told who won, and the row
                // leaves its queue.
                let id = session.to_string();
                let opened = |page: &Client| {
                    let page = page.clone();
                    let id = id.clone();
                    async move {
                        js(
                            &page,
                            "const t = document.querySelector('#thread');\
                             return !!t && !t.hidden && t.getAttribute('data-session-id') === arguments[0];",
                            vec![json!(id)],
                        )
                        .await
                            == Value::Bool(true)
                    }
                };
                let started = Instant::now();
                let (winner, loser, name) = loop {
                    match (opened(&a).await, opened(&b).await) {
                        (true, false) => break (&a, &b, "Ann"),
                        (false, true) => break (&b, &a, "Bob"),
                        (true, true) => panic!("round {round}: both opened the thread"),
                        (false, false) => {}
                    }
                    assert!(
                        started.elapsed() < Duration::from_secs(10),
                        "round {round}: nobody opened the thread"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                };
                wait_true(
                    loser,
                    "the loser is told who won",
                    "return document.querySelector('#notice').textContent.includes(arguments[0]);",
                    vec![json!(format!("Claimed by {name}"))],
                )
                .await;
                wait_true(
                    loser,
                    "the row leaves the loser's queue",
                    "return !document.querySelector(arguments[0]);",
                    vec![json!(row("queue", session))],
                )
                .await;
                assert!(!opened(loser).await, "round {round}: the loser opened it");
                find(winner, &row("mine", session)).await;
            }
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_pages_carry_on_across_a_server_restart_without_a_reload() {
    let mut app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let session = app.open_session(&store, "before the restart").await;
    app.claim(&admin, session).await;
    let browser = Browser::start().await;
    let console = browser.page(1280).await;
    let chat = browser.page(360).await;
    browser
        .run("restart", async {
            open(&chat, &app.base_url, CHAT, &store.token).await;
            open(&console, &app.base_url, CONSOLE, &admin.token).await;
            click(&console, &row("mine", session)).await;
            shown_once(&console, "before the restart").await;
            // Marks that a reload would wipe.
            for page in [&console, &chat] {
                js(page, "window.__sameDocument = true;", vec![]).await;
            }

            app.stop().await;
            wait_attr(&chat, "#connection", "data-state", "offline").await;
            wait_attr(&console, "#connection", "data-state", "offline").await;
            // Sent while the server is down: kept, retried with the same key.
            send(&console, "sent while down").await;
            wait_status(&console, "sent while down", "sending").await;

            app.start().await;
            app.store_send(&store, "sent after the restart").await;
            for page in [&console, &chat] {
                wait_attr(page, "#connection", "data-state", "online").await;
                shown_once(page, "before the restart").await;
                shown_once(page, "sent while down").await;
                shown_once(page, "sent after the restart").await;
                let same = js(page, "return window.__sameDocument === true;", vec![]).await;
                assert_eq!(same, Value::Bool(true), "the page was reloaded");
            }
            // Stored once, whatever the retries.
            let thread = app.store_current(&store, "").await;
            let down = thread["messages"]
                .as_array()
                .expect("messages")
                .iter()
                .filter(|m| m["content"] == "sent while down")
                .count();
            assert_eq!(down, 1);
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_content_is_shown_as_text() {
    const PAYLOAD: &str = "<img src=x onerror=alert(1)>";
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "<b>Store</b>").await;
    let browser = Browser::start().await;
    browser
        .run("xss", async {
            let console = browser.page(1280).await;
            let chat = browser.page(360).await;
            open(&chat, &app.base_url, CHAT, &store.token).await;
            open(&console, &app.base_url, CONSOLE, &admin.token).await;
            send(&chat, PAYLOAD).await;
            let session = current_session(&app, &store).await;
            // With the keyboard alone: `?` shows the help, Escape hides it, `j` selects the
            // first session, `c` claims it.
            find(&console, &row("queue", session)).await;
            js(&console, "document.activeElement.blur();", vec![]).await;
            press(&console, '?').await;
            wait_true(&console, "the help", "return document.querySelector('#help').open;", vec![]).await;
            press(&console, '\u{E00C}').await;
            wait_true(&console, "no help", "return !document.querySelector('#help').open;", vec![]).await;
            press(&console, 'j').await;
            wait_true(
                &console,
                "the row selected",
                "return document.querySelector(arguments[0]).classList.contains('selected');",
                vec![json!(row("queue", session))],
            )
            .await;
            press(&console, 'c').await;
            wait_attr(&console, "#thread", "data-session-id", &session.to_string()).await;
            for page in [&console, &chat] {
                shown_once(page, PAYLOAD).await;
                let images = js(
                    page,
                    "return document.querySelectorAll('#messages img, #queue img, #mine img').length;",
                    vec![],
                )
                .await;
                assert_eq!(images, json!(0), "markup was interpreted");
            }
            let name = texts(&console, &format!("{} .store-name", row("mine", session))).await;
            assert_eq!(name, ["<b>Store</b>"]);
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_of_a_thousand_keeps_up_with_fifty_events_a_second() {
    const OPEN: i64 = 1000;
    const RATE: u64 = 50;
    const SECONDS: u64 = 4;
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let mut stores = Vec::new();
    for id in 1..=OPEN {
        let store = app.create_store(id, &format!("Store {id}")).await;
        app.state()
            .chat
            .send_as_store(
                chat_domain::ids::StoreId::parse(id).expect("an id"),
                &chat_domain::usecases::Draft {
                    content: format!("first {id}"),
                    ..Default::default()
                },
            )
            .await
            .expect("open a session");
        stores.push(store);
    }
    let browser = Browser::start().await;
    browser
        .run("queue", async {
            let console = browser.page(1280).await;
            open(&console, &app.base_url, CONSOLE, &admin.token).await;
            wait_true(
                &console,
                "the whole queue",
                "return document.querySelectorAll('#queue li.session').length === arguments[0];",
                vec![json!(OPEN)],
            )
            .await;
            // Mark every row, and watch the page's main thread: a timer that fires late
            // means the page froze.
            js(
                &console,
                "document.querySelectorAll('#queue li.session').forEach(e => { e.__kept = true; });\
                 window.__lag = 0; let last = performance.now();\
                 window.__probe = setInterval(() => { const now = performance.now();\
                 window.__lag = Math.max(window.__lag, now - last - 20); last = now; }, 20);",
                vec![],
            )
            .await;
            let interval = Duration::from_millis(1000 / RATE);
            let mut tick = tokio::time::interval(interval);
            let mut last = Vec::new();
            for n in 0..RATE * SECONDS {
                tick.tick().await;
                let store = &stores[usize::try_from((n * 37) % 1000).expect("an index")];
                let text = format!("update {n}");
                app.store_send(store, &text).await;
                last.push((store.id, text));
            }
            // The newest updates are on their rows, and the rows are the same elements.
            let (id, text) = last.last().expect("sent").clone();
            wait_true(
                &console,
                "the last update is shown",
                "const r = Array.from(document.querySelectorAll('#queue li.session'))\
                 .find(e => e.querySelector('.store-name').textContent === arguments[0]);\
                 return !!r && r.querySelector('.preview').textContent.includes(arguments[1]);",
                vec![json!(format!("Store {id}")), json!(text)],
            )
            .await;
            let state = js(
                &console,
                "clearInterval(window.__probe);\
                 const rows = Array.from(document.querySelectorAll('#queue li.session'));\
                 return { rows: rows.length, kept: rows.filter(e => e.__kept).length,\
                          lag: window.__lag, first: rows[0].querySelector('.preview').textContent };",
                vec![],
            )
            .await;
            eprintln!("queue after {} events: {state}", RATE * SECONDS);
            assert_eq!(state["rows"], json!(OPEN), "{state}");
            assert_eq!(
                state["kept"],
                json!(OPEN),
                "rows were re-created instead of updated: {state}"
            );
            let lag = state["lag"].as_f64().expect("a lag");
            assert!(lag < 500.0, "the page froze for {lag} ms");
            assert!(
                state["first"]
                    .as_str()
                    .is_some_and(|t| t.contains(&text)),
                "the newest activity is first: {state}"
            );
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canned_reply_is_listed_under_slash_and_expanded_with_the_names() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    for (shortcut, content) in [
        (
            "refund",
            "Hello {store.name}, this is {admin.name}: your refund is on its way.",
        ),
        ("hello", "Hello!"),
    ] {
        let resp = app
            .post_json(
                "/v1/chat/admin/canned/",
                &admin.token,
                &serde_json::json!({ "shortcut": shortcut, "content": content }),
            )
            .await;
        chat_e2e::expect_json(resp, 201).await;
    }
    let browser = Browser::start().await;
    browser
        .run("canned", async {
            let console = browser.page(1280).await;
            let chat = browser.page(360).await;
            open(&chat, &app.base_url, CHAT, &store.token).await;
            open(&console, &app.base_url, CONSOLE, &admin.token).await;
            send(&chat, "Where is my refund?").await;
            let session = current_session(&app, &store).await;
            click(&console, &format!("{} button.claim", row("queue", session))).await;
            wait_attr(&console, "#thread", "data-session-id", &session.to_string()).await;

            let composer = find(&console, "#composer").await;
            composer.send_keys("/").await.expect("type");
            wait_hidden(&console, "#canned-list", false).await;
            assert_eq!(
                texts(&console, "#canned-list li strong").await,
                ["/hello", "/refund"],
                "every reply under a bare slash"
            );
            composer.send_keys("re").await.expect("type");
            wait_true(
                &console,
                "only /refund is listed",
                "return document.querySelectorAll('#canned-list li').length === 1;",
                vec![],
            )
            .await;
            // Tab expands, with the store's and the admin's names.
            composer.send_keys("\u{E004}").await.expect("Tab");
            let expanded = "Hello Tech Store, this is Ann: your refund is on its way.";
            wait_true(
                &console,
                "the reply is expanded",
                "return document.getElementById('composer').value === arguments[0];",
                vec![serde_json::json!(expanded)],
            )
            .await;
            wait_hidden(&console, "#canned-list", true).await;
            // Enter then sends it as any message.
            composer.send_keys("\u{E007}").await.expect("Enter");
            shown_once(&chat, expanded).await;
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_opens_the_conversation_at_the_message() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let session = app
        .open_session(&store, "Where is my crème brûlée order?")
        .await;
    app.claim(&admin, session).await;
    // Enough after it that it is not on the thread's first page.
    for i in 0..120 {
        app.store_send(&store, &format!("and another thing, number {i}"))
            .await;
    }
    let browser = Browser::start().await;
    browser
        .run("search", async {
            let console = browser.page(1280).await;
            open(&console, &app.base_url, CONSOLE, &admin.token).await;
            find(&console, &row("mine", session)).await;
            // `/` puts the focus in the search box.
            press(&console, '/').await;
            let search = find(&console, "#search").await;
            search
                .send_keys("CREME brulee\u{E007}")
                .await
                .expect("search");
            wait_hidden(&console, "#search-section", false).await;
            assert_eq!(
                texts(&console, "#search-results mark").await,
                ["crème", "brûlée"]
            );
            click(&console, "#search-results button").await;
            wait_attr(&console, "#thread", "data-session-id", &session.to_string()).await;
            wait_true(
                &console,
                "the message is shown and marked",
                "const li = document.querySelector('#messages li.found'); \
                 return !!li && li.textContent.includes('crème brûlée');",
                vec![],
            )
            .await;
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_team_tools_presence_assignment_and_notes_in_the_pages() {
    let app = TestApp::spawn_with(|s| {
        s.routing.mode = "auto".to_owned();
        s.routing.offline_grace_secs = 1;
    })
    .await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let browser = Browser::start().await;
    browser
        .run("team", async {
            let chat = browser.page(360).await;
            open(&chat, &app.base_url, CHAT, &store.token).await;
            // Nobody online: the store is told it will be answered later.
            wait_attr(&chat, "#availability", "data-online", "false").await;
            send(&chat, "My parcel arrived broken").await;
            wait_true(
                &chat,
                "the store sees its place in the queue",
                "return document.querySelector('#availability').textContent.includes('number 1 in the queue');",
                vec![],
            )
            .await;
            let session = current_session(&app, &store).await;

            // Ann opens the console: she is online, and the waiting session is assigned to
            // her at once; it arrives in Mine without a click.
            let console = browser.page(1280).await;
            open(&console, &app.base_url, CONSOLE, &admin.token).await;
            find(&console, &row("mine", session)).await;
            wait_true(
                &chat,
                "the store is told an agent joined",
                "return Array.from(document.querySelectorAll('#messages li.notice'))\
                 .some(e => e.textContent.includes('Ann'));",
                vec![],
            )
            .await;
            wait_attr(&console, "#presence", "data-status", "online").await;

            // Presence toggles: away, and back online; the team sees it.
            click(&console, "#presence").await;
            wait_attr(&console, "#presence", "data-status", "away").await;
            let team = app.get("/v1/chat/admin/admins/", &admin.token).await;
            let team: Value = team.json().await.expect("JSON");
            assert_eq!(team["data"][0]["status"], "away");
            click(&console, "#presence").await;
            wait_attr(&console, "#presence", "data-status", "online").await;

            // A private note, shown apart in the console, never on the store's page.
            click(&console, &row("mine", session)).await;
            wait_attr(&console, "#thread", "data-session-id", &session.to_string()).await;
            click(&console, "#private-note").await;
            send(&console, "Customer is a VIP, replace without a return").await;
            wait_true(
                &console,
                "the note is shown as a note",
                "return Array.from(document.querySelectorAll('#messages li.message.note .content'))\
                 .some(e => e.textContent === 'Customer is a VIP, replace without a return');",
                vec![],
            )
            .await;
            click(&console, "#private-note").await;
            send(&console, "We will send a replacement today").await;
            shown_once(&chat, "We will send a replacement today").await;
            let page_text = js(&chat, "return document.body.textContent;", vec![]).await;
            assert!(
                !page_text.as_str().unwrap_or_default().contains("VIP"),
                "the store page shows the note"
            );
            // Reloaded, the store's page still shows no note.
            chat.refresh().await.expect("reload");
            shown_once(&chat, "We will send a replacement today").await;
            let page_text = js(&chat, "return document.body.textContent;", vec![]).await;
            assert!(!page_text.as_str().unwrap_or_default().contains("VIP"));
        })
        .await;
}

/// A marketplace's site on another loopback origin: a page with the widget's tag, and its
/// token endpoint (which would mint the token with the API key; here it hands out one).
struct Marketplace {
    origin: String,
    handle: actix_web::dev::ServerHandle,
}

impl Marketplace {
    /// `page` is the HTML of `/shop/`, written once the service's URL is known.
    async fn start(
        page: std::sync::Arc<std::sync::Mutex<String>>,
        token: std::sync::Arc<std::sync::Mutex<String>>,
    ) -> Self {
        use actix_web::{web, App, HttpResponse, HttpServer};
        let server = HttpServer::new(move || {
            let (page, token) = (page.clone(), token.clone());
            App::new()
                .route(
                    "/shop/",
                    web::get().to(move || {
                        let page = page.lock().unwrap().clone();
                        async move { HttpResponse::Ok().content_type("text/html").body(page) }
                    }),
                )
                .route(
                    "/support/chat-token",
                    web::post().to(move || {
                        let token = token.lock().unwrap().clone();
                        async move { HttpResponse::Ok().json(json!({ "token": token })) }
                    }),
                )
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .expect("bind the marketplace");
        let origin = format!("http://{}", server.addrs()[0]);
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { origin, handle }
    }
}

impl Drop for Marketplace {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_chat_embedded_in_a_marketplace_page() {
    use std::sync::{Arc, Mutex};
    let (shop_page, shop_token) = (Arc::new(Mutex::new(String::new())), Arc::default());
    let shop = Marketplace::start(shop_page.clone(), Arc::clone(&shop_token)).await;
    let (evil_page, evil_token) = (Arc::new(Mutex::new(String::new())), Arc::default());
    let evil = Marketplace::start(evil_page.clone(), evil_token).await;
    let listed = shop.origin.clone();
    let app = TestApp::spawn_with(move |s| s.http.embed_origins = vec![listed]).await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    shop_token.lock().unwrap().clone_from(&store.token);
    *shop_page.lock().unwrap() = format!(
        "<!doctype html><title>Shop</title><h1>Shop</h1>\
         <script src=\"{}/widget.js\" data-token-url=\"/support/chat-token\" async></script>",
        app.base_url
    );
    *evil_page.lock().unwrap() = format!(
        "<!doctype html><title>Elsewhere</title><iframe id=\"f\" src=\"{}/chat/\"></iframe>",
        app.base_url
    );
    let browser = Browser::start().await;
    browser
        .run("widget", async {
            let page = browser.page(1280).await;
            page.goto(&format!("{}/shop/", shop.origin))
                .await
                .expect("open the shop");
            click(&page, "#support-chat-launcher").await;
            // In the frame: signed in with the token the marketplace handed over.
            let frame = find(&page, "#support-chat-frame").await;
            frame.enter_frame().await.expect("enter the chat frame");
            wait_attr(&page, "#connection", "data-state", "online").await;
            let url = js(&page, "return location.href;", vec![]).await;
            assert!(
                !url.as_str().unwrap_or_default().contains(&store.token),
                "the token is never in a URL: {url}"
            );
            send(&page, "Hello from the shop page").await;
            page.enter_parent_frame().await.expect("back to the shop");

            // The admin answers; the store sees it in the open widget.
            let session = current_session(&app, &store).await;
            app.claim(&admin, session).await;
            app.admin_send(&admin, session, "Hello, how can I help?")
                .await;
            let frame = find(&page, "#support-chat-frame").await;
            frame.enter_frame().await.expect("enter the chat frame");
            shown_once(&page, "Hello, how can I help?").await;
            page.enter_parent_frame().await.expect("back to the shop");

            // Closed, the launcher counts what arrives.
            click(&page, "#support-chat-launcher").await;
            app.admin_send(&admin, session, "Are you still there?")
                .await;
            wait_true(
                &page,
                "the unread badge shows 1",
                "const b = document.getElementById('support-chat-badge'); \
                 return !!b && b.style.display !== 'none' && b.textContent === '1';",
                vec![],
            )
            .await;
            // Opened again: read, and the badge goes.
            click(&page, "#support-chat-launcher").await;
            wait_true(
                &page,
                "the badge clears",
                "return document.getElementById('support-chat-badge').style.display === 'none';",
                vec![],
            )
            .await;

            // A page of an origin not listed cannot frame the chat.
            let other = browser.page(1280).await;
            other
                .goto(&format!("{}/shop/", evil.origin))
                .await
                .expect("open the other page");
            let frame = find(&other, "#f").await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            frame.enter_frame().await.expect("enter the frame");
            let framed = js(
                &other,
                "return !!document.getElementById('composer');",
                vec![],
            )
            .await;
            assert_eq!(
                framed,
                Value::Bool(false),
                "the chat was framed by an unlisted origin"
            );
        })
        .await;
    drop((shop, evil));
}

/// Drops a file made in the page (`bytes`, `name`, `type`) on the composer, as a person
/// dragging it from their desktop would.
async fn drop_file(page: &Client, bytes: &[u8], name: &str, kind: &str) {
    js(
        page,
        "const file = new File([new Uint8Array(arguments[0])], arguments[1], { type: arguments[2] }); \
         const data = new DataTransfer(); data.items.add(file); \
         document.getElementById('composer-form').dispatchEvent(\
           new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true })); \
         return true;",
        vec![json!(bytes), json!(name), json!(kind)],
    )
    .await;
}

/// Waits until the thread shows an uploaded image that loaded (from a blob: URL).
async fn image_shown(page: &Client) {
    wait_true(
        page,
        "an uploaded image shown",
        "return Array.from(document.querySelectorAll('#messages img.attachment-image'))\
         .some(i => i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0);",
        vec![],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_dropped_in_the_pages_show_on_both_sides() {
    const PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f,
        0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8,
        0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00,
        0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let browser = Browser::start().await;
    browser
        .run("files", async {
            let chat = browser.page(360).await;
            let console = browser.page(1280).await;
            open(&chat, &app.base_url, CHAT, &store.token).await;
            send(&chat, "The parcel arrived broken").await;
            let session = current_session(&app, &store).await;
            // The store drops a photo: it shows in its thread, from its bytes.
            drop_file(&chat, PNG, "parcel.png", "image/png").await;
            image_shown(&chat).await;

            open(&console, &app.base_url, CONSOLE, &admin.token).await;
            click(&console, &format!("{} button.claim", row("queue", session))).await;
            wait_attr(&console, "#thread", "data-session-id", &session.to_string()).await;
            image_shown(&console).await;
            // No token in any image's URL.
            let srcs = js(
                &console,
                "return Array.from(document.querySelectorAll('img'), i => i.src).join(' ');",
                vec![],
            )
            .await;
            assert!(!srcs.as_str().unwrap_or_default().contains(&admin.token));

            // The admin drops a PDF: a link to download on the store's side.
            drop_file(
                &console,
                b"%PDF-1.4\n%%EOF\n",
                "invoice.pdf",
                "application/pdf",
            )
            .await;
            find(&chat, "#messages a.attachment[data-type=\"file\"]").await;
        })
        .await;
}
