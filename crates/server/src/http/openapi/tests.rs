//! The document against the code: the routes the server registers (read from the source of
//! the route tables, so that a new route without an annotation fails here), the routes of the
//! contract, the rules of OpenAPI 3, and the JSON the domain types really serialize to.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use actix_web::http::StatusCode;
use chat_domain::ids::{AdminId, MessageId, SessionId, StoreId};
use chat_domain::model::{
    Admin, Conversation, Listing, Message, MessageBody, MessageStatus, Sender, Session,
    SessionDetails, SessionStatus, Store, UnreadCounts,
};
use chat_domain::usecases::{ConversationThread, ReadMark, SessionThread, SessionView};
use chat_domain::values::{
    Attachment, ClientMessageId, Email, LogoUrl, MessageContent, Name, StoreKey,
};
use chat_domain::{ChatError, RepositoryError, ValidationError};

use super::*;
use crate::http::error::ApiError;

/// A route: its method (upper case) and its path without the trailing slash.
type Route = (String, String);

fn document() -> Value {
    serde_json::from_str(json()).expect("the document is JSON")
}

/// The path as the router matches it: the server trims the trailing slash of requests.
fn normalize(path: &str) -> String {
    match path.trim_end_matches('/') {
        "" => "/".to_owned(),
        trimmed => trimmed.to_owned(),
    }
}

/// Every (method, path) of the document.
fn documented(doc: &Value) -> BTreeSet<Route> {
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            routes.insert((method.to_uppercase(), normalize(path)));
        }
    }
    routes
}

// ---- The routes the server registers, read from its source ----

/// The source with its comments blanked out (string literals kept as they are).
fn strip_comments(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < bytes.len() {
        if let Some(end) = literal_end(source, i) {
            out.push_str(&source[i..end]);
            i = end;
        } else if source[i..].starts_with("//") {
            let end = source[i..].find('\n').map_or(source.len(), |n| i + n);
            out.push_str(&" ".repeat(end - i));
            i = end;
        } else if source[i..].starts_with("/*") {
            let end = source[i + 2..]
                .find("*/")
                .map_or(source.len(), |n| i + n + 4);
            out.push_str(&" ".repeat(end - i));
            i = end;
        } else {
            let c = source[i..].chars().next().expect("a char");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The index just past the string literal opening at `start`.
fn string_end(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    panic!("an unterminated string literal at {start}")
}

fn is_ident(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// The index just past the string, raw string or character literal that starts at `i`, if
/// one does (a lifetime is not a literal).
fn literal_end(text: &str, i: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    match bytes[i] {
        b'"' => Some(string_end(text, i)),
        b'r' => {
            let starts_token = match i {
                0 => true,
                1 => !is_ident(bytes[0]) || bytes[0] == b'b',
                _ => !is_ident(bytes[i - 1]) || (bytes[i - 1] == b'b' && !is_ident(bytes[i - 2])),
            };
            let hashes = bytes[i + 1..].iter().take_while(|b| **b == b'#').count();
            if !starts_token || bytes.get(i + 1 + hashes) != Some(&b'"') {
                return None;
            }
            let close = format!("\"{}", "#".repeat(hashes));
            let from = i + 2 + hashes;
            Some(
                text[from..]
                    .find(&close)
                    .map_or(text.len(), |n| from + n + close.len()),
            )
        }
        b'\'' if bytes.get(i + 1) == Some(&b'\\') => {
            text[i + 3..].find('\'').map(|n| i + 3 + n + 1)
        }
        b'\'' => {
            let c = text[i + 1..].chars().next()?;
            let close = i + 1 + c.len_utf8();
            (bytes.get(close) == Some(&b'\'')).then_some(close + 1)
        }
        _ => None,
    }
}

/// The index of the bracket closing the one at `open`.
fn matching(text: &str, open: usize) -> usize {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = open;
    while i < bytes.len() {
        if let Some(end) = literal_end(text, i) {
            i = end;
            continue;
        }
        match bytes[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
        i += 1;
    }
    let start: String = text[open..].chars().take(40).collect();
    panic!("no closing bracket for {start:?}")
}

/// The argument list of the call whose `(` is at `open`, and the index after its `)`.
fn call_args(text: &str, open: usize) -> (&str, usize) {
    let close = matching(text, open);
    (&text[open + 1..close], close + 1)
}

/// The string literal that `args` starts with.
fn first_literal(args: &str) -> String {
    let args = args.trim_start();
    assert!(
        args.starts_with('"'),
        "a route path must be a string literal, not {args:?}"
    );
    let end = string_end(args, 0);
    serde_json::from_str(&args[..end]).expect("a plain string literal")
}

/// The body of the function named `name` in `source`.
fn fn_body<'a>(source: &'a str, name: &str, file: &Path) -> &'a str {
    let signature = format!("fn {name}(");
    let at = source
        .find(&signature)
        .unwrap_or_else(|| panic!("{} has no {signature}", file.display()));
    let open = at + source[at..].find('{').expect("a function body");
    &source[open + 1..matching(source, open)]
}

/// What the route tables of the server register.
struct Registry {
    src: PathBuf,
    routes: BTreeSet<Route>,
    resources: usize,
    files: BTreeSet<PathBuf>,
}

impl Registry {
    fn read(&mut self, file: &Path) -> String {
        self.files.insert(file.to_owned());
        strip_comments(
            &std::fs::read_to_string(file)
                .unwrap_or_else(|e| panic!("read {}: {e}", file.display())),
        )
    }

    /// The file of the module that `path` (as in `.configure(path)`) names, seen from `from`.
    fn module_file(&self, path: &str, from: &Path) -> (PathBuf, String) {
        let segments: Vec<&str> = path.split("::").map(str::trim).collect();
        assert!(
            segments.len() >= 2 && segments.iter().all(|s| !s.is_empty() && !s.contains('|')),
            "only `.configure(module::function)` is understood, not {path:?}"
        );
        let (function, modules) = segments.split_last().expect("segments");
        let (mut dir, modules) = match modules {
            ["crate", rest @ ..] => (self.src.clone(), rest),
            ["super", rest @ ..] => (
                from.parent()
                    .and_then(Path::parent)
                    .expect("a parent")
                    .to_owned(),
                rest,
            ),
            ["self", rest @ ..] | rest => (from.parent().expect("a dir").to_owned(), rest),
        };
        let (last, parents) = modules.split_last().expect("a module");
        for module in parents {
            dir.push(module);
        }
        let file = [
            dir.join(format!("{last}.rs")),
            dir.join(last).join("mod.rs"),
        ]
        .into_iter()
        .find(|f| f.exists())
        .unwrap_or_else(|| panic!("no file for the module of {path:?}"));
        (file, (*function).to_owned())
    }

    /// Walks a chain of calls on a `ServiceConfig`, an `App` or a `Scope`: every top-level
    /// `.service(...)`, `.configure(...)` and `.route(path, ...)`.
    fn chain(&mut self, text: &str, prefix: &str, file: &Path) {
        let mut i = 0;
        while i < text.len() {
            if let Some(end) = literal_end(text, i) {
                i = end;
                continue;
            }
            let rest = &text[i..];
            match rest.as_bytes()[0] {
                b'(' | b'[' | b'{' => {
                    i = matching(text, i) + 1;
                    continue;
                }
                _ => {}
            }
            if rest.starts_with(".service(") {
                let (args, next) = call_args(text, i + ".service".len());
                self.service(args, prefix, file);
                i = next;
            } else if rest.starts_with(".configure(") {
                let (args, next) = call_args(text, i + ".configure".len());
                let (module, function) = self.module_file(args.trim(), file);
                let source = self.read(&module);
                let body = fn_body(&source, &function, &module).to_owned();
                self.chain(&body, prefix, &module);
                i = next;
            } else if rest.starts_with(".route(") {
                let (args, next) = call_args(text, i + ".route".len());
                let path = format!("{prefix}{}", first_literal(args));
                self.resources += 1;
                self.methods(args, &path);
                i = next;
            } else {
                i += rest.chars().next().expect("a char").len_utf8();
            }
        }
    }

    /// The argument of a `.service(...)`: a scope or a resource.
    fn service(&mut self, args: &str, prefix: &str, file: &Path) {
        let args = args.trim();
        if let Some(rest) = args.strip_prefix("web::scope") {
            let (scope, after) = call_args(rest, 0);
            let prefix = format!("{prefix}{}", first_literal(scope));
            self.chain(&rest[after..], &prefix, file);
        } else if let Some(rest) = args.strip_prefix("web::resource") {
            let (resource, after) = call_args(rest, 0);
            let path = format!("{prefix}{}", first_literal(resource));
            self.resources += 1;
            let mut found = false;
            let chain = &rest[after..];
            let mut i = 0;
            while let Some(at) = chain[i..].find(".route(") {
                let (route, next) = call_args(chain, i + at + ".route".len());
                self.methods(route, &path);
                found = true;
                i = next;
            }
            assert!(
                found,
                "the resource {path} has no `.route(web::<method>()...)`"
            );
        } else {
            panic!("only `.service(web::scope(..))` and `.service(web::resource(..))` are understood, not {args:?}");
        }
    }

    /// The methods of the `web::<method>()` routes in `args`.
    fn methods(&mut self, args: &str, path: &str) {
        let mut found = false;
        for method in ["get", "post", "put", "delete", "patch", "head"] {
            if args.contains(&format!("web::{method}()")) {
                self.routes.insert((method.to_uppercase(), normalize(path)));
                found = true;
            }
        }
        assert!(
            found,
            "a route of {path} with no `web::<method>()`: {args:?}"
        );
    }
}

/// The (method, path) pairs the server registers, read from `configure` in `http/mod.rs` and
/// the route tables it configures, with their scopes' prefixes.
fn registered() -> BTreeSet<Route> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut registry = Registry {
        src: src.clone(),
        routes: BTreeSet::new(),
        resources: 0,
        files: BTreeSet::new(),
    };
    let root = src.join("http").join("mod.rs");
    let source = registry.read(&root);
    let body = fn_body(&source, "configure", &root).to_owned();
    registry.chain(&body, "", &root);

    // Every `web::resource(` of the crate's code must have been read on the way: a route
    // registered some other way would otherwise go unseen.
    let mut everywhere = 0;
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read the source tree") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && !path.ends_with("http/openapi/tests.rs")
            {
                let source = strip_comments(&std::fs::read_to_string(&path).expect("read"));
                let code = source.split("#[cfg(test)]").next().unwrap_or_default();
                let count = code.matches("web::resource(").count();
                assert!(
                    count == 0 || registry.files.contains(&path),
                    "{} registers routes outside the route tables this test reads",
                    path.display()
                );
                everywhere += count;
            }
        }
    }
    assert_eq!(
        registry.resources, everywhere,
        "every web::resource( of the source is read"
    );
    registry.routes
}

#[test]
fn the_source_reader_sees_every_kind_of_registration() {
    let mut registry = Registry {
        src: PathBuf::new(),
        routes: BTreeSet::new(),
        resources: 0,
        files: BTreeSet::new(),
    };
    let code = strip_comments(
        r##"
        let _ = ('"', b'(', '\'', '\\', r#"(".service("#, "// )", 'x', '\u{1F600}');
        fn f<'a>(x: &'a str) -> &'a str { x }
        cfg.service(web::resource("/a").route(web::get().to(a)).route(web::post().to(b)))
            // .service(web::resource("/commented").route(web::get().to(c)))
            /* .service(web::resource("/commented/too").route(web::get().to(c))) */
            .service(
                web::scope("/s")
                    .wrap(from_fn(|r, n| async { n.call(r).await }))
                    .service(web::resource("/b/{id}").route(web::delete().to(d)))
                    .route("/c", web::put().to(e)),
            )
            .default_service(web::to(f));
        "##,
    );
    registry.chain(&code, "/p", Path::new("x.rs"));
    let expected: BTreeSet<Route> = [
        ("GET", "/p/a"),
        ("POST", "/p/a"),
        ("DELETE", "/p/s/b/{id}"),
        ("PUT", "/p/s/c"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_owned(), p.to_owned()))
    .collect();
    assert_eq!(registry.routes, expected);
    assert_eq!(registry.resources, 3);
}

#[test]
fn the_document_lists_exactly_the_routes_the_server_registers() {
    let registered = registered();
    let documented = documented(&document());
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&registered).collect();
    assert!(
        undocumented.is_empty(),
        "routes without a #[utoipa::path] annotation listed in ApiDoc: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented routes the server does not register: {unserved:?}"
    );
    assert!(registered.len() >= 28, "{registered:?}");
}

// ---- The contract ----

/// Every route of the API as the README lists it, the operations routes and this
/// document, as written there.
const CONTRACT: [(&str, &str); 28] = [
    ("GET", "/v1/chat/admin/sessions/open/"),
    ("POST", "/v1/chat/admin/session/claim/"),
    ("GET", "/v1/chat/admin/sessions/my/"),
    ("GET", "/v1/chat/admin/session/{id}/"),
    ("POST", "/v1/chat/admin/message/send/"),
    ("POST", "/v1/chat/admin/session/close/"),
    ("POST", "/v1/chat/admin/session/release/"),
    ("POST", "/v1/chat/admin/session/transfer/"),
    ("POST", "/v1/chat/admin/session/read/"),
    ("GET", "/v1/chat/admin/ws/"),
    ("POST", "/v1/chat/store/session/"),
    ("GET", "/v1/chat/store/session/"),
    ("GET", "/v1/chat/store/sessions/"),
    ("GET", "/v1/chat/store/session/{id}/"),
    ("POST", "/v1/chat/store/message/send/"),
    ("POST", "/v1/chat/store/session/close/"),
    ("POST", "/v1/chat/store/session/read/"),
    ("GET", "/v1/chat/store/ws/"),
    ("GET", "/api/public/conversations/"),
    ("GET", "/api/public/conversations/{id}/"),
    ("PUT", "/api/public/stores/{id}/"),
    ("POST", "/api/public/stores/{id}/tokens/"),
    ("POST", "/api/public/admins/"),
    ("DELETE", "/api/public/tokens/"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
];

#[test]
fn the_document_lists_every_route_of_the_contract_as_written() {
    let doc = document();
    for (method, path) in CONTRACT {
        let operation = &doc["paths"][path][method.to_lowercase()];
        assert!(
            operation.is_object(),
            "{method} {path} is not in the document"
        );
    }
}

// ---- OpenAPI 3 ----

fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                match (key.as_str(), item) {
                    ("$ref", Value::String(target)) => out.push(target),
                    _ => refs(item, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs(item, out)),
        _ => {}
    }
}

#[test]
fn the_document_is_valid_openapi_3() {
    let doc = document();
    let version = doc["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3."), "{version}");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

    // A parser of OpenAPI 3.1 reads it, and every reference resolves.
    let spec = oas3::from_json(json()).expect("oas3 parses the document");
    assert!(spec.openapi.starts_with("3.1"));
    let mut targets = Vec::new();
    refs(&doc, &mut targets);
    assert!(targets.len() > 50, "{}", targets.len());
    for target in targets {
        let pointer = target.strip_prefix('#').expect("a local reference");
        assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
    }
    let components = spec.components.as_ref().expect("components");
    for (name, schema) in &components.schemas {
        schema
            .resolve(&spec)
            .unwrap_or_else(|e| panic!("the schema {name} does not resolve: {e}"));
    }

    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    let mut operation_ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let templated: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for (method, op) in item.as_object().expect("a path item") {
            let what = format!("{method} {path}");
            let id = op["operationId"].as_str().expect("an operationId");
            assert!(operation_ids.insert(id.to_owned()), "{what}: {id} repeats");
            assert!(op["summary"].is_string(), "{what} has no summary");
            // Every path template has its path parameter, and only those.
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| {
                    assert_eq!(p["required"], true, "{what}: a path parameter is required");
                    p["name"].as_str().expect("a name")
                })
                .collect();
            assert_eq!(declared, templated, "{what}: path parameters");
            // Success and errors.
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses
                    .keys()
                    .any(|s| s.starts_with('2') || s.as_str() == "101"),
                "{what} has no success response"
            );
            for (status, response) in responses {
                let status: u16 = status.parse().expect("a numeric status");
                let response = match response["$ref"].as_str() {
                    Some(target) => target
                        .strip_prefix('#')
                        .and_then(|pointer| doc.pointer(pointer))
                        .unwrap_or_else(|| panic!("{what} {status}: {target} does not resolve")),
                    None => response,
                };
                assert!(response["description"].is_string(), "{what} {status}");
                if status >= 400 {
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/Error", "{what} {status}");
                }
            }
            // Token-protected routes answer 401 and 403, the others need no token.
            let security = op["security"].as_array();
            for requirement in security.into_iter().flatten() {
                for scheme in requirement.as_object().expect("a requirement").keys() {
                    assert!(schemes.contains_key(scheme), "{what}: unknown {scheme}");
                }
            }
            if security.is_some() {
                for status in ["401", "403", "500", "503"] {
                    assert!(responses.contains_key(status), "{what} lacks {status}");
                }
            } else {
                assert!(
                    ["/healthz", "/readyz", "/metrics", "/openapi.json"].contains(&path.as_str()),
                    "{what} has no security"
                );
            }
            // A JSON body can be refused.
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(responses.contains_key(status), "{what} lacks {status}");
                }
                let schema = &op["requestBody"]["content"]["application/json"]["schema"];
                assert!(schema.is_object(), "{what}: a JSON request body");
            }
            if path.ends_with("/ws/") {
                assert!(
                    responses.contains_key("101"),
                    "{what}: 101 Switching Protocols"
                );
            }
        }
    }
}

#[test]
fn request_bodies_name_the_fields_the_handlers_read() {
    let doc = document();
    let body = |path: &str| {
        let schema = &doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]
            ["schema"]["$ref"];
        let name = schema
            .as_str()
            .expect("a ref")
            .rsplit('/')
            .next()
            .expect("a name");
        doc["components"]["schemas"][name].clone()
    };
    let claim = body("/v1/chat/admin/session/claim/");
    assert_eq!(claim["required"], serde_json::json!(["session_id"]));
    assert_eq!(claim["properties"]["session_id"]["type"], "integer");
    let transfer = body("/v1/chat/admin/session/transfer/");
    assert_eq!(
        transfer["required"],
        serde_json::json!(["session_id", "admin_id"])
    );
    let send = body("/v1/chat/store/message/send/");
    let fields: Vec<&String> = send["properties"]
        .as_object()
        .expect("props")
        .keys()
        .collect();
    assert_eq!(
        fields,
        [
            "content",
            "attachment_url",
            "attachment_type",
            "client_message_id"
        ]
    );
    assert_eq!(send["properties"]["client_message_id"]["maxLength"], 64);
}

// ---- The JSON of the domain ----

fn at(seconds: u32) -> DateTime<Utc> {
    chrono::TimeZone::with_ymd_and_hms(&Utc, 2025, 12, 16, 11, 5, seconds).unwrap()
}

fn store() -> Store {
    Store {
        id: StoreId::parse(12).unwrap(),
        name: Name::parse("name", "Tech Store").unwrap(),
        logo_url: LogoUrl::parse("https://example.com/logo.jpg").unwrap(),
        email: Email::parse("email", "store@example.com").unwrap(),
        key: StoreKey::parse("EVvyMuAMtxAw").unwrap(),
    }
}

fn admin() -> Admin {
    Admin {
        id: AdminId::parse(3).unwrap(),
        name: Name::parse("name", "Ann").unwrap(),
        email: Email::parse("email", "ann@example.com").unwrap(),
    }
}

fn messages() -> Vec<Message> {
    let text = MessageBody::new(MessageContent::parse("hello", 5000).unwrap(), None).unwrap();
    let attachment = Attachment::parse(Some("https://x.io/a.png"), Some("image")).unwrap();
    let picture = MessageBody::new(MessageContent::parse("", 5000).unwrap(), attachment).unwrap();
    vec![
        Message {
            id: MessageId::parse(1).unwrap(),
            session_id: SessionId::parse(7).unwrap(),
            sender: Sender::Store(StoreId::parse(12).unwrap()),
            body: text.clone(),
            status: MessageStatus::Read,
            created: at(0),
            client_message_id: Some(ClientMessageId::parse("c-1").unwrap()),
        },
        Message {
            id: MessageId::parse(2).unwrap(),
            session_id: SessionId::parse(7).unwrap(),
            sender: Sender::Admin(AdminId::parse(3).unwrap()),
            body: picture,
            status: MessageStatus::Delivered,
            created: at(1),
            client_message_id: None,
        },
        Message {
            id: MessageId::parse(3).unwrap(),
            session_id: SessionId::parse(7).unwrap(),
            sender: Sender::System,
            body: text,
            status: MessageStatus::Sent,
            created: at(2),
            client_message_id: None,
        },
    ]
}

fn session(status: SessionStatus, admin_id: Option<AdminId>) -> Session {
    Session {
        id: SessionId::parse(7).unwrap(),
        store_id: StoreId::parse(12).unwrap(),
        admin_id,
        status,
        last_message_at: at(2),
        created: at(0),
        updated: at(2),
    }
}

fn views() -> Vec<SessionView> {
    let claimed = SessionDetails {
        session: session(SessionStatus::Claimed, Some(AdminId::parse(3).unwrap())),
        store: store(),
        last_message: messages().pop(),
        unread: UnreadCounts::default(),
        message_count: 3,
    };
    let open = SessionDetails {
        session: session(SessionStatus::Open, None),
        last_message: None,
        ..claimed.clone()
    };
    [claimed, open]
        .into_iter()
        .map(|details| SessionView {
            details,
            unread_count: 2,
        })
        .collect()
}

fn conversations() -> Vec<Conversation> {
    vec![
        Conversation {
            session: session(SessionStatus::Claimed, Some(AdminId::parse(3).unwrap())),
            store: store(),
            agent: Some(admin()),
            message_count: 3,
        },
        Conversation {
            session: session(SessionStatus::Closed, None),
            store: store(),
            agent: None,
            message_count: 0,
        },
    ]
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("serializes")
}

/// The schema `name` of the document.
fn schema(name: &str) -> Value {
    serde_json::json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// `value` conforms to the schema `name`, and has every property the schema lists.
fn assert_exact(doc: &Value, name: &str, value: &Value) {
    let errors = conformance_errors(doc, &schema(name), value);
    assert!(errors.is_empty(), "{name}: {errors:#?}\n{value:#}");
    let properties = doc["components"]["schemas"][name]["properties"]
        .as_object()
        .expect("an object schema");
    let keys: Vec<&String> = value.as_object().expect("an object").keys().collect();
    let listed: Vec<&String> = properties.keys().collect();
    assert_eq!(keys, listed, "{name}: the fields, in order");
    let required = &doc["components"]["schemas"][name]["required"];
    for field in properties.keys() {
        assert!(
            required
                .as_array()
                .is_some_and(|r| r.contains(&Value::from(field.as_str()))),
            "{name}.{field} is always sent, so it is required"
        );
    }
}

#[actix_web::test]
async fn the_schemas_describe_the_json_of_the_domain_exactly() {
    let doc = document();
    for message in messages() {
        assert_exact(&doc, "Message", &to_json(&message));
    }
    for view in views() {
        assert_exact(&doc, "Session", &to_json(&view));
        assert_exact(&doc, "SessionEvent", &to_json(&view.details));
        let thread = SessionThread {
            view,
            messages: messages(),
            has_more: true,
        };
        assert_exact(&doc, "SessionThread", &to_json(&thread));
    }
    let list = super::super::list_response(Listing {
        items: views(),
        total: 9,
    });
    let body = actix_web::body::to_bytes(list.into_body()).await.unwrap();
    let list: Value = serde_json::from_slice(&body).unwrap();
    assert_exact(&doc, "SessionList", &list);
    assert_exact(&doc, "Store", &to_json(&store()));
    assert_exact(&doc, "Admin", &to_json(&admin()));
    let mark = ReadMark {
        session_id: SessionId::parse(7).unwrap(),
        read_up_to: MessageId::parse(2).unwrap(),
    };
    assert_exact(&doc, "ReadMark", &to_json(&mark));
    for conversation in conversations() {
        assert_exact(&doc, "Conversation", &to_json(&conversation));
        let thread = ConversationThread {
            conversation,
            messages: messages(),
            has_more: false,
        };
        assert_exact(&doc, "ConversationThread", &to_json(&thread));
    }
}

#[test]
fn the_validator_finds_what_departs_from_a_schema() {
    let doc = document();
    let mut message = serde_json::to_value(&messages()[0]).unwrap();
    assert!(conformance_errors(&doc, &schema("Message"), &message).is_empty());
    message["extra"] = Value::from(1);
    message["status"] = Value::from("lost");
    message["created"] = Value::from("2025-12-16T11:05:00+01:00");
    message.as_object_mut().unwrap().remove("session_id");
    let errors = conformance_errors(&doc, &schema("Message"), &message).join("\n");
    for expected in [
        "undocumented property \"extra\"",
        "\"lost\" is not one of",
        "with a Z",
        "missing required property \"session_id\"",
    ] {
        assert!(errors.contains(expected), "{expected}: {errors}");
    }
    let nullable = conformance_errors(
        &doc,
        &schema("Session"),
        &serde_json::json!({"last_message": 3}),
    );
    assert!(nullable.iter().any(|e| e.contains("oneOf")), "{nullable:?}");
}

/// Every code the server answers with is in the `ErrorCode` enum of the document.
#[test]
fn every_error_code_is_documented() {
    let doc = document();
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("an enum")
        .clone();
    let mut answered = BTreeSet::new();
    for status in 400..600 {
        if let Ok(status) = StatusCode::from_u16(status) {
            answered.insert(super::super::code_of(status));
        }
    }
    let errors = [
        ApiError::BadRequest(String::new()),
        ApiError::NotFound(String::new()),
        ApiError::PayloadTooLarge(1),
        ApiError::UnsupportedMediaType,
        ApiError::RateLimited(std::time::Duration::from_secs(1)),
        ApiError::Chat(ChatError::Invalid(ValidationError::new("x", "y"))),
        ApiError::Chat(ChatError::Unauthorized),
        ApiError::Chat(ChatError::Forbidden("")),
        ApiError::Chat(ChatError::NotFound("session")),
        ApiError::Chat(ChatError::AlreadyClaimed),
        ApiError::Chat(ChatError::SessionClosed),
        ApiError::Chat(ChatError::NotClaimed),
        ApiError::Chat(ChatError::Contention),
        ApiError::Chat(ChatError::Repository(RepositoryError::internal("x"))),
        ApiError::Chat(ChatError::Repository(RepositoryError::Duplicate("email"))),
    ];
    for error in &errors {
        answered.insert(error.status_and_code().1);
    }
    for code in answered {
        assert!(
            codes.contains(&Value::from(code)),
            "{code} is not in ErrorCode"
        );
    }
}

#[actix_web::test]
async fn the_document_is_served_as_json() {
    let response = super::document().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "application/json"
    );
    let body = actix_web::body::to_bytes(response.into_body())
        .await
        .unwrap();
    let served: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(served, document());
}

/// The document as it is served, checked in as `docs/openapi.json` and reviewed like code: a
/// change of the API shows in the diff of that file. `UPDATE_SNAPSHOTS=1 cargo test -p
/// chat-server openapi` writes it anew.
#[test]
fn the_document_matches_its_snapshot() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let served = format!("{}\n", super::json());
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &served).expect("write the snapshot");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == served,
        "docs/openapi.json differs from the document the server serves; review the change and \
         run `UPDATE_SNAPSHOTS=1 cargo test -p chat-server openapi` to accept it"
    );
}
