//! Diesel rows, and their conversion into domain types. Rows never leave this crate.

use chat_domain::events::{Audience, Carried, EventKind, RecordedEvent, Side};
use chat_domain::ids::{AdminId, ApiKeyId, EventId, MessageId, SessionId, StoreId};
use chat_domain::model::{
    Admin, ApiKey, Message, MessageBody, MessageStatus, Sender, Session, SessionDetails,
    SessionStatus, Store, UnreadCounts,
};
use chat_domain::values::{
    Attachment, ClientMessageId, Email, LogoUrl, MessageContent, Name, StoreKey,
};
use chat_domain::{RepositoryError, ValidationError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::schema::{admins, api_keys, messages, sessions, stores};
use crate::views::numbered_events;

/// A row that breaks a rule of the domain: the database holds what the service never writes.
fn corrupt(err: ValidationError) -> RepositoryError {
    RepositoryError::internal(format!("invalid row: {err}"))
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = stores, check_for_backend(diesel::pg::Pg))]
pub(crate) struct StoreRow {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub logo_url: String,
    pub public_key: String,
}

impl TryFrom<StoreRow> for Store {
    type Error = RepositoryError;

    fn try_from(row: StoreRow) -> Result<Self, Self::Error> {
        // Stores are provisioned by the marketplace; names and emails were validated on the
        // way in, but are read back leniently enough to never hide a store.
        Ok(Self {
            id: StoreId::parse(row.id).map_err(corrupt)?,
            name: Name::parse("name", &row.name).map_err(corrupt)?,
            logo_url: LogoUrl::parse(&row.logo_url).map_err(corrupt)?,
            email: Email::parse("email", &row.email).map_err(corrupt)?,
            key: StoreKey::parse(&row.public_key).map_err(corrupt)?,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = admins, check_for_backend(diesel::pg::Pg))]
pub(crate) struct AdminRow {
    pub id: i64,
    pub name: String,
    pub email: String,
}

impl TryFrom<AdminRow> for Admin {
    type Error = RepositoryError;

    fn try_from(row: AdminRow) -> Result<Self, Self::Error> {
        Ok(Self {
            id: AdminId::parse(row.id).map_err(corrupt)?,
            name: Name::parse("name", &row.name).map_err(corrupt)?,
            email: Email::parse("email", &row.email).map_err(corrupt)?,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
pub(crate) struct ApiKeyRow {
    pub id: i64,
    pub name: String,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = RepositoryError;

    fn try_from(row: ApiKeyRow) -> Result<Self, Self::Error> {
        Ok(Self {
            id: ApiKeyId::parse(row.id).map_err(corrupt)?,
            name: Name::parse("name", &row.name).map_err(corrupt)?,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions, check_for_backend(diesel::pg::Pg))]
pub(crate) struct SessionRow {
    pub id: i64,
    pub store_id: i64,
    pub admin_id: Option<i64>,
    pub status: String,
    pub last_message_at: DateTime<Utc>,
    pub message_count: i64,
    pub unread_by_admin: i64,
    pub unread_by_store: i64,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

impl SessionRow {
    pub fn session(&self) -> Result<Session, RepositoryError> {
        Ok(Session {
            id: SessionId::parse(self.id).map_err(corrupt)?,
            store_id: StoreId::parse(self.store_id).map_err(corrupt)?,
            admin_id: self
                .admin_id
                .map(AdminId::parse)
                .transpose()
                .map_err(corrupt)?,
            status: SessionStatus::parse(&self.status).map_err(corrupt)?,
            last_message_at: self.last_message_at,
            created: self.created,
            updated: self.updated,
        })
    }

    pub fn unread(&self) -> UnreadCounts {
        UnreadCounts {
            by_admin: self.unread_by_admin,
            by_store: self.unread_by_store,
        }
    }
}

/// A session row with its store and last message, as the details queries select them.
pub(crate) type DetailsRow = (SessionRow, StoreRow, Option<MessageRow>);

pub(crate) fn details(row: DetailsRow) -> Result<SessionDetails, RepositoryError> {
    let (session, store, last) = row;
    Ok(SessionDetails {
        session: session.session()?,
        store: store.try_into()?,
        last_message: last.map(Message::try_from).transpose()?,
        unread: session.unread(),
        message_count: session.message_count,
    })
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = messages, check_for_backend(diesel::pg::Pg))]
pub(crate) struct MessageRow {
    pub id: i64,
    pub session_id: i64,
    pub sender_type: String,
    pub sender_id: Option<i64>,
    pub content: String,
    pub attachment_url: String,
    pub attachment_type: String,
    pub status: String,
    pub client_message_id: Option<String>,
    pub created: DateTime<Utc>,
    pub private: bool,
}

pub(crate) fn sender(kind: &str, id: Option<i64>) -> Result<Sender, RepositoryError> {
    match (kind, id) {
        ("store", Some(id)) => Ok(Sender::Store(StoreId::parse(id).map_err(corrupt)?)),
        ("admin", Some(id)) => Ok(Sender::Admin(AdminId::parse(id).map_err(corrupt)?)),
        ("system", None) => Ok(Sender::System),
        _ => Err(RepositoryError::internal(format!(
            "invalid sender {kind} {id:?}"
        ))),
    }
}

impl TryFrom<MessageRow> for Message {
    type Error = RepositoryError;

    fn try_from(row: MessageRow) -> Result<Self, Self::Error> {
        // Content was bounded by the policy in force when it was written; do not re-check
        // its length against today's policy.
        let content = MessageContent::parse(&row.content, usize::MAX).map_err(corrupt)?;
        let attachment = Attachment::parse(Some(&row.attachment_url), Some(&row.attachment_type))
            .map_err(corrupt)?;
        Ok(Self {
            id: MessageId::parse(row.id).map_err(corrupt)?,
            session_id: SessionId::parse(row.session_id).map_err(corrupt)?,
            sender: sender(&row.sender_type, row.sender_id)?,
            body: MessageBody::new(content, attachment).map_err(corrupt)?,
            status: MessageStatus::parse(&row.status).map_err(corrupt)?,
            created: row.created,
            client_message_id: row
                .client_message_id
                .as_deref()
                .map(ClientMessageId::parse)
                .transpose()
                .map_err(corrupt)?,
            private: row.private,
        })
    }
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = numbered_events, check_for_backend(diesel::pg::Pg))]
pub(crate) struct EventRow {
    pub event_id: i64,
    pub kind: String,
    pub data: String,
    pub all_admins: bool,
    pub admin_ids: Vec<i64>,
    pub store_id: Option<i64>,
    pub created: DateTime<Utc>,
    pub carries_message: Option<i64>,
    pub carries_to: Option<String>,
}

/// The typed delivery fact of an event row.
fn carried(message: Option<i64>, to: Option<&str>) -> Result<Option<Carried>, RepositoryError> {
    match (message, to) {
        (Some(message), Some(to)) => Ok(Some(Carried {
            message: MessageId::parse(message).map_err(corrupt)?,
            to: Side::parse(to)
                .ok_or_else(|| RepositoryError::internal(format!("unknown side {to}")))?,
        })),
        _ => Ok(None),
    }
}

impl TryFrom<EventRow> for RecordedEvent {
    type Error = RepositoryError;

    fn try_from(row: EventRow) -> Result<Self, Self::Error> {
        Ok(Self {
            id: EventId::parse(row.event_id).map_err(corrupt)?,
            created: row.created,
            kind: EventKind::parse(&row.kind).ok_or_else(|| {
                RepositoryError::internal(format!("unknown event kind {}", row.kind))
            })?,
            audience: Audience {
                all_admins: row.all_admins,
                admins: row
                    .admin_ids
                    .into_iter()
                    .map(AdminId::parse)
                    .collect::<Result<_, _>>()
                    .map_err(corrupt)?,
                store: row
                    .store_id
                    .map(StoreId::parse)
                    .transpose()
                    .map_err(corrupt)?,
            },
            carries: carried(row.carries_message, row.carries_to.as_deref())?,
            data: row.data,
        })
    }
}
