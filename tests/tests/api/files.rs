//! Uploads end to end, on the local directory and on an S3-compatible server: typed by their
//! bytes, limited, sent, downloaded by the other side, refused to a third party, cleaned up.

use chat_e2e::s3::S3Server;
use chat_e2e::{assert_error, expect_json, TestApp};
use serde_json::{json, Value};

/// A 1x1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";

async fn upload_form(
    app: &TestApp,
    side: &str,
    token: &str,
    name: &str,
    bytes: &[u8],
) -> reqwest::Response {
    let part = reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned());
    let form = reqwest::multipart::Form::new().part("file", part);
    post_form(app, &format!("/v1/chat/{side}/upload/"), token, form).await
}

async fn post_form(
    app: &TestApp,
    path: &str,
    token: &str,
    form: reqwest::multipart::Form,
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("Authorization", format!("Token {token}"))
        .multipart(form)
        .send()
        .await
        .expect("a response")
}

async fn upload_raw(
    app: &TestApp,
    side: &str,
    token: &str,
    name: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/chat/{side}/upload/?name={name}")))
        .header("Authorization", format!("Token {token}"))
        .header("Content-Type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .expect("a response")
}

async fn download(app: &TestApp, url: &str, token: &str) -> reqwest::Response {
    app.client
        .get(url)
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .expect("a response")
}

/// A store uploads a photo and sends it; its admin downloads it; another admin and another
/// store may not; a PDF comes as an attachment; the types and the limit hold.
async fn files_go_both_ways(app: &TestApp) {
    let ann = app.create_admin("Ann").await;
    let bob = app.create_admin("Bob").await;
    let store = app.create_store(7, "Tech Store").await;
    let other = app.create_store(8, "Other Store").await;
    let session = app.open_session(&store, "The parcel arrived broken").await;
    app.claim(&ann, session).await;

    // Typed by its bytes, whatever its name says.
    let resp = upload_form(app, "store", &store.token, "broken parcel.txt", PNG).await;
    let photo = expect_json(resp, 201).await;
    assert_eq!(photo["attachment_type"], "image");
    assert_eq!(photo["content_type"], "image/png");
    assert_eq!(photo["name"], "broken parcel.txt");
    assert_eq!(photo["size"], PNG.len());
    let url = photo["attachment_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&app.base_url), "{url}");

    // Before it is sent: its uploader alone.
    assert_eq!(download(app, &url, &store.token).await.status(), 200);
    assert_error(download(app, &url, &ann.token).await, 404, "not_found").await;

    // Nobody else may send it.
    let resp = app
        .post_json(
            "/v1/chat/admin/message/send/",
            &ann.token,
            &json!({ "session_id": session, "content": "mine now", "attachment_url": url, "attachment_type": "image" }),
        )
        .await;
    let message = assert_error(resp, 400, "invalid_request").await;
    assert!(message.starts_with("attachment_url"), "{message}");

    let sent = expect_json(
        app.post_json(
            "/v1/chat/store/message/send/",
            &store.token,
            &json!({ "content": "", "attachment_url": url, "attachment_type": "image" }),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(sent["attachment_url"], url.as_str());

    // Sent: the session's readers read it; nobody else learns it exists.
    let resp = download(app, &url, &ann.token).await;
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("sandbox"));
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("inline"));
    assert_eq!(&resp.bytes().await.unwrap()[..], PNG);
    assert_eq!(download(app, &url, &store.token).await.status(), 200);
    assert_error(download(app, &url, &bob.token).await, 404, "not_found").await;
    assert_error(download(app, &url, &other.token).await, 404, "not_found").await;
    let key = app.create_api_key("reports").await;
    assert_eq!(download(app, &url, &key).await.status(), 200);
    // Sent once: not again, even by its uploader.
    let resp = app
        .post_json(
            "/v1/chat/store/message/send/",
            &store.token,
            &json!({ "content": "again", "attachment_url": url, "attachment_type": "image" }),
        )
        .await;
    assert_error(resp, 400, "invalid_request").await;

    // An admin's PDF, as the raw body: an attachment to download.
    let resp = upload_raw(app, "admin", &ann.token, "invoice%201.pdf", PDF.to_vec()).await;
    let invoice = expect_json(resp, 201).await;
    assert_eq!(invoice["attachment_type"], "file");
    assert_eq!(invoice["name"], "invoice 1.pdf");
    let invoice_url = invoice["attachment_url"].as_str().unwrap().to_owned();
    expect_json(
        app.post_json(
            "/v1/chat/admin/message/send/",
            &ann.token,
            &json!({ "session_id": session, "content": "Your invoice", "attachment_url": invoice_url, "attachment_type": "file" }),
        )
        .await,
        201,
    )
    .await;
    let resp = download(app, &invoice_url, &store.token).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename*=UTF-8''invoice%201.pdf"));

    // Not a type taken: 415, whatever the name. Too large: 413. Nothing: 400.
    let resp = upload_raw(
        app,
        "store",
        &store.token,
        "photo.png",
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00".to_vec(),
    )
    .await;
    assert_error(resp, 415, "unsupported_media_type").await;
    let resp = upload_raw(
        app,
        "store",
        &store.token,
        "page.html",
        b"<html>\x00</html>".to_vec(),
    )
    .await;
    assert_error(resp, 415, "unsupported_media_type").await;
    let mut big = PNG.to_vec();
    big.resize(2 * 1024 * 1024 + 1, 0);
    let resp = upload_raw(app, "store", &store.token, "big.png", big).await;
    assert_error(resp, 413, "payload_too_large").await;
    let resp = upload_raw(app, "store", &store.token, "empty", Vec::new()).await;
    assert_error(resp, 400, "invalid_request").await;
    let text = upload_raw(
        app,
        "store",
        &store.token,
        "notes.txt",
        "Order 4411, café\n".as_bytes().to_vec(),
    )
    .await;
    assert_eq!(expect_json(text, 201).await["content_type"], "text/plain");
    // A form has its one field.
    let form = reqwest::multipart::Form::new()
        .text("note", "not a file")
        .part(
            "file",
            reqwest::multipart::Part::bytes(PNG.to_vec()).file_name("a.png"),
        );
    let resp = post_form(app, "/v1/chat/store/upload/", &store.token, form).await;
    assert!(assert_error(resp, 400, "invalid_request")
        .await
        .starts_with("note:"));
    // A name given in the query is checked as documented, a form's file or not.
    for name in ["a%00b.png", &"n".repeat(201)] {
        let resp = upload_raw(app, "store", &store.token, name, PNG.to_vec()).await;
        assert!(assert_error(resp, 400, "invalid_request")
            .await
            .starts_with("name:"));
    }
    let part = reqwest::multipart::Part::bytes(PNG.to_vec()).file_name("a.png");
    let form = reqwest::multipart::Form::new().part("file", part);
    let resp = post_form(app, "/v1/chat/store/upload/?name=a%00b", &store.token, form).await;
    assert!(assert_error(resp, 400, "invalid_request")
        .await
        .starts_with("name:"));
    // An API key, another kind of token: refused.
    let resp = upload_raw(app, "store", &key, "x.txt", b"x".to_vec()).await;
    assert_error(resp, 403, "forbidden").await;

    // A file never sent is gone after the cleanup.
    let resp = upload_form(app, "store", &store.token, "forgotten.png", PNG).await;
    let forgotten: Value = expect_json(resp, 201).await;
    let forgotten_url = forgotten["attachment_url"].as_str().unwrap().to_owned();
    let removed = app
        .state()
        .files
        .expire(chrono::Utc::now() + chrono::Duration::seconds(1))
        .await
        .expect("expire");
    assert_eq!(removed, 2, "the forgotten photo and the text");
    assert_error(
        download(app, &forgotten_url, &store.token).await,
        404,
        "not_found",
    )
    .await;
    // Sent ones stay.
    assert_eq!(download(app, &url, &ann.token).await.status(), 200);
}

fn small_files(settings: &mut chat_server::settings::Settings) {
    settings.files.max_bytes = 2 * 1024 * 1024;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_in_the_local_directory() {
    let app = TestApp::spawn_with(small_files).await;
    files_go_both_ways(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_in_an_s3_bucket() {
    let s3 = S3Server::start().await;
    let app = TestApp::spawn_with(|s| {
        small_files(s);
        s3.configure(s);
    })
    .await;
    files_go_both_ways(&app).await;
    // Two sent files stay in the bucket, the others are gone.
    assert_eq!(s3.objects().await, 2);
}
