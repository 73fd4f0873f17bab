//! Who is calling.

use crate::ids::{AdminId, ApiKeyId, StoreId};
use crate::model::Participant;

/// The owner of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Principal {
    /// A support admin.
    Admin(AdminId),
    /// A store.
    Store(StoreId),
    /// An integration's API key.
    ApiKey(ApiKeyId),
}

impl Principal {
    /// `"admin"`, `"store"` or `"api_key"`.
    #[must_use]
    pub const fn kind(self) -> &'static str {
        match self {
            Self::Admin(_) => "admin",
            Self::Store(_) => "store",
            Self::ApiKey(_) => "api_key",
        }
    }

    /// The raw id of the owner.
    #[must_use]
    pub const fn id(self) -> i64 {
        match self {
            Self::Admin(id) => id.get(),
            Self::Store(id) => id.get(),
            Self::ApiKey(id) => id.get(),
        }
    }

    /// The side of a conversation this principal is, if it is one.
    #[must_use]
    pub const fn participant(self) -> Option<Participant> {
        match self {
            Self::Admin(id) => Some(Participant::Admin(id)),
            Self::Store(id) => Some(Participant::Store(id)),
            Self::ApiKey(_) => None,
        }
    }
}
