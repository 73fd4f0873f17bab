//! The one error type of the API: every failure becomes `{"error", "code"}` with its status.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use chat_domain::{ChatError, RepositoryError};
use serde::Serialize;

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
    /// Over the rate limit; retry after the given wait.
    #[error("too many requests: slow down and retry later")]
    RateLimited(std::time::Duration),
}

/// The body of every error response.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    /// A human message.
    pub error: &'a str,
    /// A stable snake_case code.
    pub code: &'a str,
}

impl From<RepositoryError> for ApiError {
    fn from(err: RepositoryError) -> Self {
        Self::Chat(ChatError::Repository(err))
    }
}

impl ApiError {
    /// The status and code of the error.
    #[must_use]
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::Chat(err) => match err {
                ChatError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
                ChatError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
                ChatError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
                ChatError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
                ChatError::AlreadyClaimed => (StatusCode::CONFLICT, "already_claimed"),
                ChatError::SessionClosed => (StatusCode::CONFLICT, "session_closed"),
                ChatError::NotClaimed => (StatusCode::CONFLICT, "not_claimed"),
                ChatError::Contention | ChatError::Repository(RepositoryError::Unavailable(_)) => {
                    (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
                }
                ChatError::Repository(RepositoryError::Duplicate(_)) => {
                    (StatusCode::BAD_REQUEST, "invalid_request")
                }
                ChatError::Repository(RepositoryError::Internal(_)) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal")
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
pub fn error_response(status: StatusCode, message: &str, code: &str) -> HttpResponse {
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
                code,
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
