//! The one error type of the API: every failure becomes `{"error", "code"}` with its status.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use chat_domain::{ChatError, RepositoryError};
use serde::Serialize;
use utoipa::ToSchema;

/// A failure of a request, as the client is told.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A use case refused or failed.
    #[error(transparent)]
    Chat(#[from] ChatError),
    /// The request is malformed (`invalid_request`).
    #[error("{0}")]
    BadRequest(String),
    /// No such route or resource.
    #[error("{0}")]
    NotFound(String),
    /// The body is over the limit.
    #[error("request body is too large (limit {0} bytes)")]
    PayloadTooLarge(usize),
    /// The body is not JSON.
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    /// The request's body did not arrive within the deadline (`request_timeout`).
    #[error("the request took too long to arrive (limit {0} s)")]
    RequestTimeout(u64),
    /// Over the rate limit; retry after the given wait.
    #[error("too many requests: slow down and retry later")]
    RateLimited(std::time::Duration),
}

/// The code of an error: stable, for programs to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: a malformed body, query or path; the message names the field.
    InvalidRequest,
    /// 401: a missing, unknown or revoked token.
    Unauthorized,
    /// 403: a token of the wrong kind, or a session another admin holds.
    Forbidden,
    /// 404: no such resource, or no such route.
    NotFound,
    /// 405: the route exists, not with this method.
    MethodNotAllowed,
    /// 408: the request did not arrive within the deadline; the connection is closed.
    RequestTimeout,
    /// 409: the session is claimed by another admin.
    AlreadyClaimed,
    /// 409: the session is closed.
    SessionClosed,
    /// 409: the session is not claimed (by the caller).
    NotClaimed,
    /// 409: the admin who would take the session holds as many as they may.
    AtCapacity,
    /// 409: the request clashes with what exists (a canned reply's shortcut is taken).
    Conflict,
    /// 413: the body is over the limit.
    PayloadTooLarge,
    /// 415: a body that is not sent as JSON.
    UnsupportedMediaType,
    /// 429: over the rate limit; `Retry-After` says when to retry.
    RateLimited,
    /// 503: the database is unavailable; `Retry-After: 1`.
    Unavailable,
    /// 500: an internal failure (no internals are shown).
    Internal,
}

impl ErrorCode {
    /// The code as written on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RequestTimeout => "request_timeout",
            Self::AlreadyClaimed => "already_claimed",
            Self::SessionClosed => "session_closed",
            Self::NotClaimed => "not_claimed",
            Self::AtCapacity => "at_capacity",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error, example = json!({"error": "Unauthorized", "code": "unauthorized"}))]
pub struct ErrorBody<'a> {
    /// A human message.
    pub error: &'a str,
    /// A stable snake_case code.
    pub code: ErrorCode,
}

impl From<RepositoryError> for ApiError {
    fn from(err: RepositoryError) -> Self {
        Self::Chat(ChatError::Repository(err))
    }
}

impl ApiError {
    /// The status and code of the error.
    #[must_use]
    pub fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge),
            Self::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
            ),
            Self::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited),
            Self::RequestTimeout(_) => (StatusCode::REQUEST_TIMEOUT, ErrorCode::RequestTimeout),
            Self::Chat(err) => match err {
                ChatError::Invalid(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest),
                ChatError::Unauthorized => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
                ChatError::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
                ChatError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
                ChatError::AlreadyClaimed => (StatusCode::CONFLICT, ErrorCode::AlreadyClaimed),
                ChatError::SessionClosed => (StatusCode::CONFLICT, ErrorCode::SessionClosed),
                ChatError::NotClaimed => (StatusCode::CONFLICT, ErrorCode::NotClaimed),
                ChatError::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::Conflict),
                ChatError::AtCapacity => (StatusCode::CONFLICT, ErrorCode::AtCapacity),
                ChatError::TooLarge(_) => {
                    (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge)
                }
                ChatError::UnsupportedType(_) => (
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    ErrorCode::UnsupportedMediaType,
                ),
                ChatError::Repository(RepositoryError::Unavailable(_)) => {
                    (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable)
                }
                ChatError::Repository(RepositoryError::Duplicate(_)) => {
                    (StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest)
                }
                ChatError::Repository(RepositoryError::Internal(_)) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
                }
            },
        }
    }

    /// The message the client sees; internals never leak.
    fn message(&self) -> String {
        match self {
            Self::Chat(ChatError::Repository(RepositoryError::Internal(_))) => {
                "internal server error".to_owned()
            }
            Self::Chat(ChatError::Repository(RepositoryError::Unavailable(_))) => {
                "the service is temporarily unavailable, try again".to_owned()
            }
            Self::Chat(ChatError::Forbidden("")) => "Forbidden".to_owned(),
            other => other.to_string(),
        }
    }
}

/// A JSON error response with `status`, `message` and `code`.
pub fn error_response(status: StatusCode, message: &str, code: ErrorCode) -> HttpResponse {
    HttpResponse::build(status).json(ErrorBody {
        error: message,
        code,
    })
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status_and_code().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            // The cause chain goes to the log, never to the client.
            let mut causes = String::new();
            let mut source = std::error::Error::source(self);
            while let Some(cause) = source {
                causes.push_str(": ");
                causes.push_str(&cause.to_string());
                source = cause.source();
            }
            tracing::error!(
                status = status.as_u16(),
                code = code.as_str(),
                "request failed: {self}{causes}"
            );
        }
        let mut response = error_response(status, &self.message(), code);
        let retry_after = match self {
            Self::RateLimited(wait) => Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)),
            _ if status == StatusCode::SERVICE_UNAVAILABLE => Some(1),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}
