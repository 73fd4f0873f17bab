//! Sessions and messages kept in memory: what a service reusing the domain writes to store
//! them elsewhere. It locks, reads and writes, and calls no rule of the domain: every decision
//! comes with the call, from the use case.
//!
//! One mutex stands for the database's row locks: a unit of work holds it from its first read
//! to its last write, so changes are decided one after the other, each on what the one before
//! wrote.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::RepositoryError;
use crate::events::DomainEvent;
use crate::ids::{AdminId, MessageId, SessionId, StoreId};
use crate::model::{
    Admin, Conversation, Listing, Message, MessageCursor, MessagePage, MessageStatus,
    MySessionsFilter, Page, Participant, Sender, Session, SessionDetails, SessionStatus, Store,
    UnreadCounts,
};
use crate::ports::{
    AppendOutcome, Changed, Decide, DeliveredRule, Destination, MessageRepository, NewMessage,
    OpenRule, OpenedSession, ReadMarked, ReadOutcome, ReadRule, SessionRepository, WriteRule,
    Written,
};
use crate::session::TransitionError;
use crate::team::{Capacity, Load};

#[derive(Debug, Default)]
struct State {
    stores: BTreeMap<StoreId, Store>,
    admins: BTreeMap<AdminId, (Admin, Capacity)>,
    sessions: BTreeMap<SessionId, SessionDetails>,
    messages: Vec<Message>,
    next_session: i64,
    next_message: i64,
}

impl State {
    fn load(&self, admin: AdminId) -> Option<Load> {
        let (admin, max_sessions) = self.admins.get(&admin)?.clone();
        let active_sessions = self
            .sessions
            .values()
            .filter(|s| {
                s.session.status == SessionStatus::Claimed && s.session.admin_id == Some(admin.id)
            })
            .count();
        Some(Load {
            admin,
            active_sessions: i64::try_from(active_sessions).unwrap_or(i64::MAX),
            max_sessions,
        })
    }

    fn live(&self, store: StoreId) -> Option<&SessionDetails> {
        self.sessions
            .values()
            .find(|s| s.session.store_id == store && s.session.status != SessionStatus::Closed)
    }

    /// A new open session of `store`, not yet kept.
    fn new_session(
        &mut self,
        store: StoreId,
        now: DateTime<Utc>,
    ) -> Result<SessionDetails, RepositoryError> {
        let store = self
            .stores
            .get(&store)
            .cloned()
            .ok_or_else(|| RepositoryError::internal("no such store"))?;
        self.next_session += 1;
        Ok(SessionDetails {
            session: Session {
                id: SessionId::parse(self.next_session).map_err(RepositoryError::internal)?,
                store_id: store.id,
                admin_id: None,
                status: SessionStatus::Open,
                last_message_at: now,
                created: now,
                updated: now,
            },
            store,
            last_message: None,
            unread: UnreadCounts::default(),
            message_count: 0,
        })
    }

    fn conversation(&self, details: &SessionDetails) -> Conversation {
        Conversation {
            session: details.session.clone(),
            store: details.store.clone(),
            agent: details
                .session
                .admin_id
                .and_then(|id| self.admins.get(&id))
                .map(|(admin, _)| admin.clone()),
            message_count: details.message_count,
        }
    }
}

/// Sessions and messages in memory. Cheap to clone: clones share their state.
#[derive(Debug, Clone, Default)]
pub struct InMemory {
    state: Arc<Mutex<State>>,
}

impl InMemory {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a store.
    pub fn add_store(&self, store: Store) {
        self.lock().stores.insert(store.id, store);
    }

    /// Adds an admin who may hold `max_sessions` sessions.
    pub fn add_admin(&self, admin: Admin, max_sessions: Capacity) {
        self.lock().admins.insert(admin.id, (admin, max_sessions));
    }

    /// Every message kept, in the order they were written.
    #[must_use]
    pub fn messages(&self) -> Vec<Message> {
        self.lock().messages.clone()
    }
}

fn page_of<T>(items: Vec<T>, page: Page) -> Listing<T> {
    let total = items.len() as u64;
    let items = items
        .into_iter()
        .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
        .take(page.limit() as usize)
        .collect();
    Listing { items, total }
}

fn newest_activity_first(items: &mut [SessionDetails]) {
    items.sort_by(|a, b| {
        (b.session.last_message_at, b.session.id).cmp(&(a.session.last_message_at, a.session.id))
    });
}

#[async_trait]
impl SessionRepository for InMemory {
    async fn find(&self, id: SessionId) -> Result<Option<SessionDetails>, RepositoryError> {
        Ok(self.lock().sessions.get(&id).cloned())
    }

    async fn current_for_store(
        &self,
        store: StoreId,
    ) -> Result<Option<SessionDetails>, RepositoryError> {
        Ok(self.lock().live(store).cloned())
    }

    async fn open_for_store(
        &self,
        store: StoreId,
        now: DateTime<Utc>,
        rule: OpenRule,
    ) -> Result<OpenedSession, RepositoryError> {
        let mut state = self.lock();
        if let Some(session) = state.live(store).cloned() {
            return Ok(OpenedSession {
                session,
                created: false,
                events: Vec::new(),
            });
        }
        let session = state.new_session(store, now)?;
        state.sessions.insert(session.session.id, session.clone());
        Ok(OpenedSession {
            events: rule(&session),
            session,
            created: true,
        })
    }

    async fn change(
        &self,
        id: SessionId,
        taker: Option<AdminId>,
        decide: Decide,
    ) -> Result<Changed, RepositoryError> {
        let mut state = self.lock();
        let load = match taker {
            Some(admin) => match state.load(admin) {
                Some(load) => Some(load),
                None => return Ok(Changed::NoTaker),
            },
            None => None,
        };
        let Some(current) = state.sessions.get(&id).cloned() else {
            return Ok(Changed::NoSession);
        };
        let transition = match decide(&current, load.as_ref()) {
            Ok(Some(transition)) => transition,
            Ok(None) => return Ok(Changed::Unchanged(current)),
            Err(reason) => return Ok(Changed::Refused(reason)),
        };
        // The status, the admin and the time of the change alone.
        let kept = state
            .sessions
            .get_mut(&id)
            .ok_or_else(|| RepositoryError::internal("the session went away"))?;
        kept.session.status = transition.after.session.status;
        kept.session.admin_id = transition.after.session.admin_id;
        kept.session.updated = transition.after.session.updated;
        Ok(Changed::Applied(transition))
    }

    async fn list_open(&self, page: Page) -> Result<Listing<SessionDetails>, RepositoryError> {
        let mut open: Vec<_> = (self.lock().sessions.values())
            .filter(|s| s.session.status == SessionStatus::Open)
            .cloned()
            .collect();
        newest_activity_first(&mut open);
        Ok(page_of(open, page))
    }

    async fn list_for_admin(
        &self,
        admin: AdminId,
        filter: MySessionsFilter,
        page: Page,
    ) -> Result<Listing<SessionDetails>, RepositoryError> {
        let status = filter.status();
        let mut mine: Vec<_> = (self.lock().sessions.values())
            .filter(|s| s.session.status == status && s.session.admin_id == Some(admin))
            .cloned()
            .collect();
        newest_activity_first(&mut mine);
        Ok(page_of(mine, page))
    }

    async fn list_for_store(
        &self,
        store: StoreId,
        page: Page,
    ) -> Result<Listing<SessionDetails>, RepositoryError> {
        let mut theirs: Vec<_> = (self.lock().sessions.values())
            .filter(|s| s.session.store_id == store)
            .cloned()
            .collect();
        theirs.sort_by(|a, b| {
            (b.session.created, b.session.id).cmp(&(a.session.created, a.session.id))
        });
        Ok(page_of(theirs, page))
    }

    async fn list_conversations(
        &self,
        active: Option<bool>,
        page: Page,
    ) -> Result<Listing<Conversation>, RepositoryError> {
        let state = self.lock();
        let mut all: Vec<_> = (state.sessions.values())
            .filter(|s| {
                active.map_or(true, |active| {
                    active == (s.session.status != SessionStatus::Closed)
                })
            })
            .map(|s| state.conversation(s))
            .collect();
        all.sort_by(|a, b| {
            (b.session.created, b.session.id).cmp(&(a.session.created, a.session.id))
        });
        Ok(page_of(all, page))
    }

    async fn conversation(&self, id: SessionId) -> Result<Option<Conversation>, RepositoryError> {
        let state = self.lock();
        Ok(state.sessions.get(&id).map(|s| state.conversation(s)))
    }
}

/// Whether `sender` is on the other side of `reader`.
fn from_the_other_side(sender: Sender, reader: Participant) -> bool {
    match reader {
        Participant::Admin(_) => matches!(sender, Sender::Store(_)),
        Participant::Store(_) => !matches!(sender, Sender::Store(_)),
    }
}

#[async_trait]
impl MessageRepository for InMemory {
    async fn append(
        &self,
        new: NewMessage,
        write: WriteRule,
        open: OpenRule,
    ) -> Result<AppendOutcome, RepositoryError> {
        let mut state = self.lock();
        // The session, and the one opened for the message (kept only if the message is).
        let (current, opened) = match new.to {
            Destination::Session(id) => match state.sessions.get(&id) {
                Some(session) => (session.clone(), None),
                None => return Ok(AppendOutcome::Refused(TransitionError::NotYours)),
            },
            Destination::LiveSessionOf(store) => match state.live(store) {
                Some(session) => (session.clone(), None),
                None => {
                    let session = state.new_session(store, new.created)?;
                    let events = open(&session);
                    (session, Some(events))
                }
            },
        };
        let sender = Sender::from(new.author);
        let existing = new.client_message_id.as_ref().and_then(|key| {
            state
                .messages
                .iter()
                .find(|m| {
                    m.session_id == current.session.id
                        && m.sender == sender
                        && m.client_message_id.as_ref() == Some(key)
                })
                .cloned()
        });
        let id = MessageId::parse(state.next_message + 1).map_err(RepositoryError::internal)?;
        let (message, change) = match write(&current, &new, existing, id) {
            Ok(Written::New { message, change }) => (message, change),
            Ok(Written::Duplicate(message)) => return Ok(AppendOutcome::Duplicate(message)),
            Err(reason) => return Ok(AppendOutcome::Refused(reason)),
        };
        state.next_message += 1;
        state.messages.push(message.clone());
        if message.private {
            state.sessions.insert(current.session.id, current);
        } else {
            state
                .sessions
                .insert(change.session.session.id, change.session.clone());
        }
        Ok(AppendOutcome::created(message, *change, opened))
    }

    async fn page(
        &self,
        session: SessionId,
        cursor: MessageCursor,
        notes: bool,
    ) -> Result<MessagePage, RepositoryError> {
        let state = self.lock();
        let mut newest: Vec<Message> = (state.messages.iter().rev())
            .filter(|m| m.session_id == session && (notes || !m.private))
            .filter(|m| cursor.before.map_or(true, |before| m.id < before))
            .take(cursor.limit as usize + 1)
            .cloned()
            .collect();
        let has_more = newest.len() > cursor.limit as usize;
        newest.truncate(cursor.limit as usize);
        newest.reverse();
        Ok(MessagePage {
            messages: newest,
            has_more,
        })
    }

    async fn mark_read(
        &self,
        session: SessionId,
        reader: Participant,
        up_to: MessageId,
        _now: DateTime<Utc>,
        rule: ReadRule,
    ) -> Result<ReadOutcome, RepositoryError> {
        let mut state = self.lock();
        let Some(current) = state.sessions.get(&session).cloned() else {
            return Ok(ReadOutcome::Refused(TransitionError::NotYours));
        };
        let known = (state.messages.iter()).any(|m| m.id == up_to && m.session_id == session);
        let moved: Vec<(MessageId, Sender)> = (state.messages.iter())
            .filter(|m| known && m.session_id == session && m.id <= up_to && !m.private)
            .filter(|m| m.status != MessageStatus::Read && from_the_other_side(m.sender, reader))
            .map(|m| (m.id, m.sender))
            .collect();
        let change = match rule(&current, reader, known, &moved) {
            Ok(ReadMarked::Marked(change)) => change,
            Ok(ReadMarked::UnknownMessage) => return Ok(ReadOutcome::UnknownMessage),
            Err(reason) => return Ok(ReadOutcome::Refused(reason)),
        };
        for message in &mut state.messages {
            if moved.iter().any(|(id, _)| *id == message.id) {
                message.status = MessageStatus::Read;
            }
        }
        if let Some(kept) = state.sessions.get_mut(&session) {
            kept.unread = change.session.unread;
        }
        Ok(ReadOutcome::Marked(change.events))
    }

    async fn mark_delivered(
        &self,
        reader: Participant,
        messages: Vec<MessageId>,
        _now: DateTime<Utc>,
        rule: DeliveredRule,
    ) -> Result<Vec<DomainEvent>, RepositoryError> {
        let mut state = self.lock();
        let mut moved: BTreeMap<SessionId, Vec<(MessageId, Sender)>> = BTreeMap::new();
        for message in &mut state.messages {
            if messages.contains(&message.id)
                && message.status == MessageStatus::Sent
                && !message.private
                && from_the_other_side(message.sender, reader)
            {
                message.status = MessageStatus::Delivered;
                moved
                    .entry(message.session_id)
                    .or_default()
                    .push((message.id, message.sender));
            }
        }
        Ok(moved
            .into_iter()
            .flat_map(|(session, moved)| rule(session, &moved))
            .collect())
    }
}

#[cfg(test)]
mod tests;
