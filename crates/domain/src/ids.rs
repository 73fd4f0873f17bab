//! Typed identifiers. Every id is a positive integer; the newtypes keep a store id from being
//! passed where a session id is expected.

use std::fmt;

use crate::error::ValidationError;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(i64);

        impl $name {
            /// Parses a raw id: ids are positive integers.
            ///
            /// # Errors
            /// Returns a [`ValidationError`] naming the field when `raw` is zero or negative.
            pub fn parse(raw: i64) -> Result<Self, ValidationError> {
                if raw > 0 {
                    Ok(Self(raw))
                } else {
                    Err(ValidationError::new($field, "must be a positive integer"))
                }
            }

            /// The raw integer value.
            #[must_use]
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl TryFrom<i64> for $name {
            type Error = ValidationError;

            fn try_from(raw: i64) -> Result<Self, Self::Error> {
                Self::parse(raw)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A store of the marketplace; the id is the marketplace's own.
    StoreId,
    "store_id"
);
id_type!(
    /// A support admin.
    AdminId,
    "admin_id"
);
id_type!(
    /// A chat session between one store and (once claimed) one admin.
    SessionId,
    "session_id"
);
id_type!(
    /// A message in a session. Ids grow with time within the service.
    MessageId,
    "message_id"
);
id_type!(
    /// A canned reply the support team shares.
    CannedReplyId,
    "id"
);

id_type!(
    /// An API key of an integration.
    ApiKeyId,
    "api_key_id"
);
id_type!(
    /// A recorded event of the event feed. Ids grow strictly in commit order.
    EventId,
    "event_id"
);

id_type!(
    /// An integration's webhook endpoint.
    WebhookId,
    "webhook_id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_positive() {
        assert_eq!(SessionId::parse(5).map(SessionId::get), Ok(5));
        let err = SessionId::parse(0).unwrap_err();
        assert_eq!(err.field(), "session_id");
        assert!(AdminId::parse(-3).is_err());
    }

    #[test]
    fn ids_serialize_as_plain_integers() {
        let id = StoreId::parse(12).unwrap();
        assert_eq!(id.to_string(), "12");
    }
}
