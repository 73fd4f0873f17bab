//! Text the service cannot store, or the contract does not allow, is refused at the edge: any
//! string through any text field of any endpoint, and of the command line, gets 2xx or 4xx,
//! never 500, and a 4xx changes nothing in the database.

use chat_e2e::{TestApp, TestStore};
use clap::Parser;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::{json, Value};

/// A digest of every row the service writes.
async fn fingerprint(app: &TestApp) -> String {
    #[derive(diesel::QueryableByName)]
    struct Digest {
        #[diesel(sql_type = diesel::sql_types::Text)]
        digest: String,
    }
    app.events_numbered().await;
    app.sql(|conn| {
        use diesel::RunQueryDsl;
        diesel::sql_query(
            "SELECT COALESCE(md5(string_agg(r, E'\\n' ORDER BY r)), '') AS digest FROM ( \
               SELECT 'admins ' || t::text AS r FROM admins t UNION ALL \
               SELECT 'stores ' || t::text FROM stores t UNION ALL \
               SELECT 'api_keys ' || t::text FROM api_keys t UNION ALL \
               SELECT 'tokens ' || t::text FROM tokens t UNION ALL \
               SELECT 'sessions ' || t::text FROM sessions t UNION ALL \
               SELECT 'messages ' || t::text FROM messages t UNION ALL \
               SELECT 'events ' || t::text FROM events t) rows",
        )
        .get_result::<Digest>(conn)
    })
    .await
    .digest
}

/// Where a string goes: a request with the string in one text field (the others valid).
#[derive(Debug, Clone, Copy)]
enum Field {
    StoreContent,
    StoreClientMessageId,
    StoreAttachmentUrl,
    StoreAttachmentType,
    AdminContent,
    AdminClientMessageId,
    StoreName,
    StoreEmail,
    StoreLogoUrl,
    AdminName,
    AdminEmail,
    RevokedToken,
    CliAdminName,
    CliApiKeyName,
}

const FIELDS: [Field; 14] = [
    Field::StoreContent,
    Field::StoreClientMessageId,
    Field::StoreAttachmentUrl,
    Field::StoreAttachmentType,
    Field::AdminContent,
    Field::AdminClientMessageId,
    Field::StoreName,
    Field::StoreEmail,
    Field::StoreLogoUrl,
    Field::AdminName,
    Field::AdminEmail,
    Field::RevokedToken,
    Field::CliAdminName,
    Field::CliApiKeyName,
];

/// A string as JSON text: most as serde writes them, some with escapes no Rust string holds
/// (lone surrogates).
#[derive(Debug, Clone)]
struct Text(String);

fn texts() -> impl Strategy<Value = Text> {
    let tricky = prop_oneof![
        Just("\\u0000".to_owned()),
        Just("a\\u0000b".to_owned()),
        Just("\\ud800".to_owned()),
        Just("x\\udfff".to_owned()),
        Just("\\u007f".to_owned()),
        Just("\\u200f\\u202e".to_owned()),
        Just("x".repeat(5001)),
        Just("é".repeat(5000)),
        Just(String::new()),
        Just(" ".to_owned()),
    ];
    let arbitrary = any::<String>().prop_map(|s| {
        let quoted = serde_json::to_string(&s).expect("a string");
        quoted[1..quoted.len() - 1].to_owned()
    });
    prop_oneof![
        tricky,
        arbitrary,
        "[\\x00-\\x7f]{0,80}".prop_map(|s| {
            let quoted = serde_json::to_string(&s).expect("a string");
            quoted[1..quoted.len() - 1].to_owned()
        })
    ]
    .prop_map(Text)
}

struct World {
    app: TestApp,
    store: TestStore,
    admin_token: String,
    session_id: i64,
    key: String,
}

/// The body of a JSON object whose `field` holds `text` as given, beside `rest`.
fn body(rest: &Value, field: &str, text: &Text) -> String {
    let rest = rest.to_string();
    let inner = rest.trim_start_matches('{').trim_end_matches('}');
    let sep = if inner.is_empty() { "" } else { "," };
    format!("{{{inner}{sep}\"{field}\":\"{}\"}}", text.0)
}

/// Who sends a request.
#[derive(Debug, Clone, Copy)]
enum Caller {
    Store,
    Admin,
    Integration,
}

/// The request that carries a field over HTTP: method, path, caller, the other fields (valid)
/// and the field's name; `None` for the command line's fields.
fn request(
    field: Field,
    session_id: i64,
) -> Option<(Method, &'static str, Caller, Value, &'static str)> {
    const STORE_SEND: &str = "/v1/chat/store/message/send/";
    const ADMIN_SEND: &str = "/v1/chat/admin/message/send/";
    const STORE: &str = "/api/public/stores/900/";
    const ADMINS: &str = "/api/public/admins/";
    let named = json!({"name": "S", "email": "s@example.com"});
    Some(match field {
        Field::StoreContent => (
            Method::POST,
            STORE_SEND,
            Caller::Store,
            json!({}),
            "content",
        ),
        Field::StoreClientMessageId => (
            Method::POST,
            STORE_SEND,
            Caller::Store,
            json!({"content": "hi"}),
            "client_message_id",
        ),
        Field::StoreAttachmentUrl => (
            Method::POST,
            STORE_SEND,
            Caller::Store,
            json!({"attachment_type": "image"}),
            "attachment_url",
        ),
        Field::StoreAttachmentType => (
            Method::POST,
            STORE_SEND,
            Caller::Store,
            json!({"attachment_url": "https://example.com/a.png"}),
            "attachment_type",
        ),
        Field::AdminContent => (
            Method::POST,
            ADMIN_SEND,
            Caller::Admin,
            json!({"session_id": session_id}),
            "content",
        ),
        Field::AdminClientMessageId => (
            Method::POST,
            ADMIN_SEND,
            Caller::Admin,
            json!({"session_id": session_id, "content": "hi"}),
            "client_message_id",
        ),
        Field::StoreName => (
            Method::PUT,
            STORE,
            Caller::Integration,
            json!({"email": "s@example.com"}),
            "name",
        ),
        Field::StoreEmail => (
            Method::PUT,
            STORE,
            Caller::Integration,
            json!({"name": "S"}),
            "email",
        ),
        Field::StoreLogoUrl => (Method::PUT, STORE, Caller::Integration, named, "logo_url"),
        Field::AdminName => (
            Method::POST,
            ADMINS,
            Caller::Integration,
            json!({"email": "a@example.com"}),
            "name",
        ),
        Field::AdminEmail => (
            Method::POST,
            ADMINS,
            Caller::Integration,
            json!({"name": "A"}),
            "email",
        ),
        Field::RevokedToken => (
            Method::DELETE,
            "/api/public/tokens/",
            Caller::Integration,
            json!({}),
            "token",
        ),
        Field::CliAdminName | Field::CliApiKeyName => return None,
    })
}

/// Sends `text` through `field`; the status, or for the command line 200 or 400.
async fn try_field(world: &World, field: Field, text: &Text) -> u16 {
    let Some((method, path, caller, rest, name)) = request(field, world.session_id) else {
        return try_command(world, field, text).await;
    };
    let token = match caller {
        Caller::Store => &world.store.token,
        Caller::Admin => &world.admin_token,
        Caller::Integration => &world.key,
    };
    world
        .app
        .request(method, path, token)
        .header("Content-Type", "application/json")
        .body(body(&rest, name, text))
        .send()
        .await
        .expect("the server answers")
        .status()
        .as_u16()
}

/// Runs the command that takes `field` with `text` as its argument: 200 when it succeeds, 400
/// when it refuses the text as invalid.
async fn try_command(world: &World, field: Field, text: &Text) -> u16 {
    // Arguments are OS strings: what JSON escapes mean, decoded (a NUL cannot be an argument
    // at all).
    let Ok(decoded) = serde_json::from_str::<String>(&format!("\"{}\"", text.0)) else {
        return 400;
    };
    if decoded.contains('\0') {
        return 400;
    }
    let args: Vec<&str> = match field {
        Field::CliAdminName => vec![
            "chat-server",
            "create-admin",
            "--name",
            &decoded,
            "--email",
            "cli@example.com",
        ],
        _ => vec!["chat-server", "create-api-key", "--name", &decoded],
    };
    let Ok(cli) = chat_server::cli::Cli::try_parse_from(args) else {
        return 400;
    };
    let command = cli.command.expect("a command");
    match chat_server::cli::run(world.app.state(), command).await {
        Ok(_) => 200,
        Err(err) => {
            let chat = err.downcast_ref::<chat_domain::ChatError>();
            assert!(
                matches!(chat, Some(chat_domain::ChatError::Invalid(_))),
                "the command line refuses {text:?} as invalid, not with {err:#}"
            );
            400
        }
    }
}

#[test]
fn any_text_in_any_field_is_stored_or_refused_without_a_trace() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let world = runtime.block_on(async {
        let app = TestApp::spawn().await;
        let store = app.create_store(1, "Tech Store").await;
        let admin = app.create_admin("Ann").await;
        let other = app.create_store(2, "Other Store").await;
        let session_id = app.open_session(&other, "hello").await;
        app.claim(&admin, session_id).await;
        let key = app.create_api_key("Marketplace").await;
        World {
            app,
            store,
            admin_token: admin.token,
            session_id,
            key,
        }
    });
    let mut runner = TestRunner::new(Config {
        cases: 160,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (0..FIELDS.len(), texts());
    runner
        .run(&strategy, |(field, text)| {
            let field = FIELDS[field];
            runtime.block_on(async {
                let before = fingerprint(&world.app).await;
                let status = try_field(&world, field, &text).await;
                prop_assert!(status < 500, "{field:?} with {text:?}: {status}");
                if status >= 400 {
                    let after = fingerprint(&world.app).await;
                    prop_assert_eq!(
                        before,
                        after,
                        "{:?} with {:?} refused ({}) changed the database",
                        field,
                        text,
                        status
                    );
                }
                Ok(())
            })
        })
        .expect("every text is stored or refused without a trace");
}
