//! Extractors: the authenticated caller, JSON bodies with field-named errors, paging.

use std::future::{ready, Ready};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderMap};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use chat_domain::ids::{AdminId, ApiKeyId, MessageId, SessionId, StoreId};
use chat_domain::model::{MessageCursor, Page};
use chat_domain::{ChatError, Principal, ValidationError};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::ApiError;
use crate::state::AppState;

/// The default and the largest page of a list.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest page of a list.
pub const MAX_LIMIT: u32 = 500;

/// The token of a request: `Authorization: Token <t>` or `Bearer <t>`.
pub fn header_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer"))
        .then(|| token.trim())
}

/// Middleware: authenticates the request's token and stores the [`Principal`] in the request
/// extensions, or answers 401 before any handler or body parsing runs.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::from(ChatError::Unauthorized))?;
    let token = header_token(req.headers()).ok_or(ApiError::Chat(ChatError::Unauthorized))?;
    let principal = state
        .access
        .authenticate(token)
        .await
        .map_err(ApiError::from)?;
    let span = tracing::Span::current();
    span.record("principal_kind", principal.kind());
    span.record("principal_id", principal.id());
    if let Err(wait) = state.limits.request(&principal) {
        state.metrics.rate_limited();
        return Err(ApiError::RateLimited(wait).into());
    }
    req.extensions_mut().insert(principal);
    next.call(req).await
}

fn principal(req: &HttpRequest) -> Result<Principal, ApiError> {
    req.extensions()
        .get::<Principal>()
        .copied()
        .ok_or(ApiError::Chat(ChatError::Unauthorized))
}

/// Whoever calls, of any kind.
///
/// # Errors
/// 401 when the request was not authenticated.
pub fn caller(req: &HttpRequest) -> Result<Principal, ApiError> {
    principal(req)
}

fn wrong_kind() -> ApiError {
    ApiError::Chat(ChatError::Forbidden(""))
}

/// The calling admin (403 for any other kind of token).
#[derive(Debug, Clone, Copy)]
pub struct AdminCaller(pub AdminId);

impl FromRequest for AdminCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match principal(req) {
            Ok(Principal::Admin(id)) => Ok(Self(id)),
            Ok(_) => Err(wrong_kind()),
            Err(e) => Err(e),
        })
    }
}

/// The calling store (403 for any other kind of token).
#[derive(Debug, Clone, Copy)]
pub struct StoreCaller(pub StoreId);

impl FromRequest for StoreCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match principal(req) {
            Ok(Principal::Store(id)) => Ok(Self(id)),
            Ok(_) => Err(wrong_kind()),
            Err(e) => Err(e),
        })
    }
}

/// The calling integration's API key (403 for any other kind of token).
#[derive(Debug, Clone, Copy)]
pub struct ApiKeyCaller(pub ApiKeyId);

impl FromRequest for ApiKeyCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match principal(req) {
            Ok(Principal::ApiKey(id)) => Ok(Self(id)),
            Ok(_) => Err(wrong_kind()),
            Err(e) => Err(e),
        })
    }
}

/// A JSON body. Errors name the offending field; an empty body reads as `{}`, so that a
/// missing field is reported as such; a non-empty body must be sent as JSON.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

fn is_json(req: &HttpRequest) -> bool {
    req.mime_type().ok().flatten().is_some_and(|mime| {
        mime.type_() == "application"
            && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
    })
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map_or(65_536, |state| state.settings.http.body_limit_bytes);
        let json = is_json(req);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = body
                .await
                .map_err(|err| match err.as_error::<PayloadError>() {
                    Some(PayloadError::Overflow) => ApiError::PayloadTooLarge(limit),
                    _ => ApiError::BadRequest(format!("could not read the request body: {err}")),
                })?;
            let bytes: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
                b"{}"
            } else if json {
                &body
            } else {
                return Err(ApiError::UnsupportedMediaType);
            };
            let mut de = serde_json::Deserializer::from_slice(bytes);
            let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
                let path = err.path().to_string();
                let inner = err.into_inner();
                if path == "." || inner.is_syntax() || inner.is_eof() {
                    ApiError::BadRequest(format!("malformed JSON body: {inner}"))
                } else {
                    ApiError::BadRequest(format!("{path}: {inner}"))
                }
            })?;
            // One JSON value and nothing after it.
            de.end()
                .map_err(|err| ApiError::BadRequest(format!("malformed JSON body: {err}")))?;
            Ok(JsonBody(value))
        })
    }
}

/// A required id field of a body.
///
/// # Errors
/// `invalid_request` naming the field when it is absent or not a positive integer.
/// Integer fields of JSON bodies: any integral JSON number (`5`, and `5.0` as JSON Schema and
/// Django REST framework take it), refused when it has a fraction or does not fit in 64 bits.
pub mod integral {
    use serde::de::{self, Deserializer, Visitor};

    struct Integral;

    impl Visitor<'_> for Integral {
        type Value = i64;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an integer")
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom("an integer out of range"))
        }

        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
            // Within ±2^63, where the cast is exact for an integral value.
            if v.fract() == 0.0 && v >= i64::MIN as f64 && v < i64::MAX as f64 {
                Ok(v as i64)
            } else {
                Err(E::invalid_type(de::Unexpected::Float(v), &self))
            }
        }
    }

    /// For `Option<i64>` fields, with `#[serde(default, deserialize_with = ...)]`.
    ///
    /// # Errors
    /// When the value is not an integral number within 64 bits.
    pub fn option<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
        struct Maybe;

        impl<'de> Visitor<'de> for Maybe {
            type Value = Option<i64>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an integer or null")
            }

            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }

            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }

            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(Integral).map(Some)
            }
        }

        deserializer.deserialize_option(Maybe)
    }
}

/// The message-send limit, on the routes that send (after [`authenticate`], which the scope
/// runs first): one send of the caller's bucket, or 429.
///
/// # Errors
/// 429 `rate_limited` when the caller is over its send limit.
pub async fn send_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let principal = req.extensions().get::<Principal>().copied();
    if let (Some(state), Some(principal)) = (state, principal) {
        if let Err(wait) = state.limits.send(&principal) {
            state.metrics.rate_limited();
            return Err(ApiError::RateLimited(wait).into());
        }
    }
    next.call(req).await
}

pub fn required<T>(
    field: &'static str,
    value: Option<i64>,
    parse: fn(i64) -> Result<T, ValidationError>,
) -> Result<T, ApiError> {
    let raw = value.ok_or_else(|| ApiError::BadRequest(format!("{field}: is required")))?;
    parse(raw).map_err(|_| ApiError::BadRequest(format!("{field}: must be a positive integer")))
}

/// A path segment that should be an id.
///
/// # Errors
/// `invalid_request` naming the field when it is not a positive integer.
pub fn path_id<T>(
    field: &'static str,
    raw: &str,
    parse: fn(i64) -> Result<T, ValidationError>,
) -> Result<T, ApiError> {
    integral_text::<i64>(raw)
        .and_then(|n| parse(n).ok())
        .ok_or_else(|| ApiError::BadRequest(format!("{field}: must be a positive integer")))
}

/// An integer written as text, also with a fraction of zeros (`5.0`), as the integer fields of
/// bodies take it: the schemas of paths and queries say `integer`, which JSON Schema lets
/// `5.0` be.
fn integral_text<T: std::str::FromStr>(raw: &str) -> Option<T> {
    let whole = match raw.split_once('.') {
        Some((whole, zeros)) if !zeros.is_empty() && zeros.bytes().all(|b| b == b'0') => whole,
        Some(_) => return None,
        None => raw,
    };
    whole.parse().ok()
}

/// Marks the other side's messages of the session read, up to `message_id`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReadBody {
    #[schema(value_type = i64, minimum = 1, required = true)]
    #[serde(default, deserialize_with = "integral::option")]
    session_id: Option<i64>,
    #[schema(value_type = i64, minimum = 1, required = true)]
    #[serde(default, deserialize_with = "integral::option")]
    message_id: Option<i64>,
}

impl ReadBody {
    /// The session and the message, both required.
    ///
    /// # Errors
    /// `invalid_request` naming the field that is missing or not a positive integer.
    pub fn parse(&self) -> Result<(SessionId, MessageId), ApiError> {
        Ok((
            required("session_id", self.session_id, SessionId::parse)?,
            required("message_id", self.message_id, MessageId::parse)?,
        ))
    }
}

/// `?limit=` and `?offset=` of a list of sessions. Values are parsed by hand, here and in the
/// other queries, so that an error names the parameter.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many sessions at most (1 to 500).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500, default = 100)]
    limit: Option<String>,
    /// How many to skip (at most 2^63 - 1: beyond is 400).
    #[param(value_type = Option<u64>, minimum = 0, maximum = 9_223_372_036_854_775_807_i64, default = 0)]
    offset: Option<String>,
}

/// `?status=` of My Sessions: which of the admin's sessions (the page is a [`PageQuery`] of
/// the same query string).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MySessionsQuery {
    /// `claimed` (the default): the sessions the admin holds now; `closed`: the ones it held
    /// when they were closed.
    #[param(value_type = Option<String>, pattern = "^(claimed|closed)$")]
    pub status: Option<String>,
}

/// `?limit=` and `?before=` of a session's messages.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ThreadQuery {
    /// How many messages at most, the newest ones (1 to 500).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500, default = 100)]
    limit: Option<String>,
    /// Only messages older than this message id (the page before it).
    #[param(value_type = Option<i64>, minimum = 1)]
    before: Option<String>,
}

fn number<T: std::str::FromStr>(field: &str, raw: Option<&str>) -> Result<Option<T>, ApiError> {
    raw.map(|s| {
        integral_text::<T>(s.trim())
            .ok_or_else(|| ApiError::BadRequest(format!("{field}: must be a non-negative integer")))
    })
    .transpose()
}

/// `?q=`, `?limit=` and `?offset=` of a search.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// The words, every one of which a message (or the store's name) must hold, diacritics and
    /// case aside (1 to 200 characters, no NUL).
    #[param(value_type = String, required = true, max_length = 200, pattern = r"^[^\x00]*[^\s\x00][^\x00]*$")]
    pub q: Option<String>,
    /// How many results at most (1 to 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, default = 20)]
    limit: Option<String>,
    /// How many to skip (at most 2^63 - 1).
    #[param(value_type = Option<u64>, minimum = 0, maximum = 9_223_372_036_854_775_807_i64, default = 0)]
    offset: Option<String>,
}

impl SearchQuery {
    /// The page asked for: `?limit=` (1 to 100, default 20) and `?offset=` (default 0).
    ///
    /// # Errors
    /// `invalid_request` naming the parameter.
    pub fn page(&self) -> Result<Page, ApiError> {
        let limit = number::<u32>("limit", self.limit.as_deref())?.unwrap_or(20);
        let offset = number::<u64>("offset", self.offset.as_deref())?.unwrap_or(0);
        Page::new(limit, offset, chat_domain::usecases::MAX_SEARCH_LIMIT)
            .map_err(|e| ApiError::Chat(e.into()))
    }
}

impl PageQuery {
    /// The page asked for: `?limit=` (1 to 500, default 100) and `?offset=` (default 0).
    ///
    /// # Errors
    /// `invalid_request` naming the parameter.
    pub fn page(&self) -> Result<Page, ApiError> {
        let limit = number::<u32>("limit", self.limit.as_deref())?.unwrap_or(DEFAULT_LIMIT);
        let offset = number::<u64>("offset", self.offset.as_deref())?.unwrap_or(0);
        Page::new(limit, offset, MAX_LIMIT).map_err(|e| ApiError::Chat(e.into()))
    }
}

impl ThreadQuery {
    /// `?limit=` (1 to 500, default 100) and `?before=<message id>`.
    ///
    /// # Errors
    /// `invalid_request` naming the parameter.
    pub fn cursor(&self) -> Result<MessageCursor, ApiError> {
        let limit = number::<u32>("limit", self.limit.as_deref())?.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ApiError::BadRequest(format!(
                "limit: must be between 1 and {MAX_LIMIT}"
            )));
        }
        let before = match self.before.as_deref() {
            Some(raw) => Some(path_id("before", raw.trim(), MessageId::parse)?),
            None => None,
        };
        Ok(MessageCursor { before, limit })
    }
}

#[cfg(test)]
mod tests {
    use super::integral_text;

    #[test]
    fn an_integer_of_a_path_or_query_may_have_a_fraction_of_zeros_and_nothing_else() {
        assert_eq!(integral_text::<i64>("7"), Some(7));
        assert_eq!(integral_text::<i64>("7.0"), Some(7));
        assert_eq!(integral_text::<u32>("7.000"), Some(7));
        assert_eq!(integral_text::<i64>("7."), None);
        assert_eq!(integral_text::<i64>("7.5"), None);
        assert_eq!(integral_text::<i64>(".0"), None);
        assert_eq!(integral_text::<i64>("7.0.0"), None);
        assert_eq!(integral_text::<i64>("1e3"), None);
        assert_eq!(integral_text::<u32>("-1.0"), None);
        assert_eq!(integral_text::<i64>("x"), None);
    }
}
