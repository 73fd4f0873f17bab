//! Errors of the domain: invalid input, failures of the ports, and the outcomes of use cases.

use std::error::Error as StdError;

use thiserror::Error;

/// Input that breaks a rule of the domain, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    field: &'static str,
    message: String,
}

impl ValidationError {
    /// A validation failure of `field`, with a human message.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }

    /// The name of the offending field, as the API spells it.
    #[must_use]
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// What is wrong with it.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A failure of a repository or another port, as the domain sees it.
///
/// Adapters translate their own failures into these: a refused or timed-out connection is
/// [`RepositoryError::Unavailable`], a broken uniqueness rule is [`RepositoryError::Duplicate`],
/// anything else [`RepositoryError::Internal`].
#[derive(Debug, Error)]
pub enum RepositoryError {
    /// The backing store cannot be reached now; retrying later may succeed.
    #[error("the database is unavailable")]
    Unavailable(#[source] Box<dyn StdError + Send + Sync>),
    /// A record with the same unique value already exists (the value is named).
    #[error("{0} is already in use")]
    Duplicate(&'static str),
    /// An unexpected failure.
    #[error("unexpected repository failure")]
    Internal(#[source] Box<dyn StdError + Send + Sync>),
}

impl RepositoryError {
    /// Wraps any error as [`RepositoryError::Internal`].
    pub fn internal(err: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::Internal(err.into())
    }

    /// Wraps any error as [`RepositoryError::Unavailable`].
    pub fn unavailable(err: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::Unavailable(err.into())
    }
}

/// Why a use case did not do what was asked. Each variant maps to one error code of the API.
#[derive(Debug, Error)]
pub enum ChatError {
    /// The request breaks a rule (`invalid_request`).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The token is missing, unknown or revoked (`unauthorized`).
    #[error("Unauthorized")]
    Unauthorized,
    /// The caller may not do this (`forbidden`).
    #[error("{0}")]
    Forbidden(&'static str),
    /// The named thing does not exist, or is not the caller's to see (`not_found`).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Another admin claimed the session first (`already_claimed`).
    #[error("session is already claimed by another admin")]
    AlreadyClaimed,
    /// The session is closed (`session_closed`).
    #[error("session is closed")]
    SessionClosed,
    /// The session is not claimed by the caller (`not_claimed`).
    #[error("session is not claimed")]
    NotClaimed,
    /// The admin who would take the session holds as many as they may (`at_capacity`).
    #[error("the admin holds as many sessions as they may (max_sessions)")]
    AtCapacity,
    /// An upload over the size limit (`payload_too_large`).
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    /// An upload of a type that is not taken (`unsupported_media_type`).
    #[error("{0}")]
    UnsupportedType(String),
    /// The request clashes with what exists, such as a unique name (`conflict`).
    #[error("{0}")]
    Conflict(&'static str),
    /// A port failed.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}
