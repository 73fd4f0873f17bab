//! The HTTP side: one keep-alive client, and the requests the scenarios make.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, RequestBuilder, StatusCode};

/// A client for loopback: no proxy, no redirects, Nagle off, generous timeouts. Idle
/// connections are dropped after 4 s, before the service's keep-alive (5 s, actix-web's
/// default) closes them: a request sent on a connection the server is closing at that moment
/// fails, and would count as refused.
///
/// # Errors
/// When the client cannot be built.
pub fn client() -> anyhow::Result<Client> {
    Ok(Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(4))
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// `POST /v1/chat/store/message/send/` with `content` (no JSON escaping needed: the tool's
/// contents are plain letters, digits and spaces); the status, or `None` when the request
/// failed.
pub async fn store_send(
    client: &Client,
    base: &str,
    token: &str,
    content: &str,
) -> Option<StatusCode> {
    post(
        client,
        base,
        "/v1/chat/store/message/send/",
        token,
        format!(r#"{{"content":"{content}"}}"#),
    )
    .await
}

/// `GET path` as the holder of `token`; the status after reading the whole body, or `None`.
pub async fn get(client: &Client, base: &str, path: &str, token: &str) -> Option<StatusCode> {
    status_of(
        client
            .get(format!("{base}{path}"))
            .header(AUTHORIZATION, format!("Token {token}")),
    )
    .await
}

/// `POST path` with a JSON `body` as the holder of `token`; the status after reading the
/// body, or `None`.
pub async fn post(
    client: &Client,
    base: &str,
    path: &str,
    token: &str,
    body: String,
) -> Option<StatusCode> {
    status_of(
        client
            .post(format!("{base}{path}"))
            .header(AUTHORIZATION, format!("Token {token}"))
            .header(CONTENT_TYPE, "application/json")
            .body(body),
    )
    .await
}

/// Sends `request`; the status after reading the whole body, or `None`.
async fn status_of(request: RequestBuilder) -> Option<StatusCode> {
    let resp = request.send().await.ok()?;
    let status = resp.status();
    resp.bytes().await.ok()?;
    Some(status)
}

/// A message content of about `len` characters carrying `tag` first (letters, digits and
/// spaces only).
#[must_use]
pub fn content(tag: &str, len: usize) -> String {
    let mut text = format!("{tag} hello I need help with my order it has not arrived yet");
    while text.len() < len {
        text.push_str(" please");
    }
    text.truncate(len.max(tag.len()));
    text
}
