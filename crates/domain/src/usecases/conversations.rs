//! What integrations read through the public API: every conversation, newest first, in
//! numbered pages, and one conversation with a page of its messages.

use super::Shared;
use crate::error::ChatError;
use crate::ids::SessionId;
use crate::model::{Conversation, Listing, Message, MessageCursor, NumberedPage};
use crate::ports::{MessageRepository, Ports, ReadPorts, SessionRepository};

/// A conversation with a page of its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationThread {
    /// The conversation.
    pub conversation: Conversation,
    /// The page of messages, oldest first.
    pub messages: Vec<Message>,
    /// Whether older messages exist.
    pub has_more: bool,
}

/// The conversations of the public API.
pub struct Conversations<P: Ports> {
    ports: Shared<P>,
}

impl<P: Ports> Clone for Conversations<P> {
    fn clone(&self) -> Self {
        Self {
            ports: self.ports.clone(),
        }
    }
}

impl<P: ReadPorts> Conversations<P> {
    /// The conversations over `ports`.
    pub fn new(ports: Shared<P>) -> Self {
        Self { ports }
    }

    /// Page `page` of every conversation, newest first, and how many there are; `active`
    /// keeps only the open and claimed ones (`Some(true)`) or only the closed ones
    /// (`Some(false)`).
    ///
    /// # Errors
    /// [`ChatError::NotFound`]`("page")` for a page past the end (the first page always
    /// exists, empty when there is no conversation); [`ChatError::Repository`] when the
    /// store fails.
    pub async fn list(
        &self,
        active: Option<bool>,
        page: NumberedPage,
    ) -> Result<Listing<Conversation>, ChatError> {
        let listing = self
            .ports
            .sessions
            .list_conversations(active, page.window())
            .await?;
        if !page.exists_in(listing.total) {
            return Err(ChatError::NotFound("page"));
        }
        Ok(listing)
    }

    /// The conversation `id` with the newest `cursor.limit` messages before `cursor.before`,
    /// oldest first.
    ///
    /// # Errors
    /// [`ChatError::NotFound`]`("conversation")` for an unknown one; [`ChatError::Repository`]
    /// when the store fails.
    pub async fn get(
        &self,
        id: SessionId,
        cursor: MessageCursor,
    ) -> Result<ConversationThread, ChatError> {
        let conversation = self
            .ports
            .sessions
            .conversation(id)
            .await?
            .ok_or(ChatError::NotFound("conversation"))?;
        // Notes are the team's own: never in the public API.
        let page = self.ports.messages.page(id, cursor, false).await?;
        Ok(ConversationThread {
            conversation,
            messages: page.messages,
            has_more: page.has_more,
        })
    }
}

impl<P: Ports> std::fmt::Debug for Conversations<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conversations").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::error::RepositoryError;
    use crate::model::{MessagePage, Page, Sender, SessionStatus};
    use crate::testing::{admin, details, message, mocks, session_id, store_id};

    fn conversation(id: i64, status: SessionStatus, agent: Option<i64>) -> Conversation {
        let d = details(id, status, agent);
        Conversation {
            session: d.session,
            store: d.store,
            agent: agent.map(admin),
            message_count: d.message_count,
        }
    }

    fn page(number: u64, size: u32) -> NumberedPage {
        NumberedPage::new(number, size, 200).unwrap()
    }

    #[tokio::test]
    async fn list_asks_for_the_window_of_the_page_and_the_filter() {
        let mut m = mocks();
        m.sessions
            .expect_list_conversations()
            .withf(|active, window| {
                *active == Some(true) && *window == Page::new(5, 10, 200).unwrap()
            })
            .times(1)
            .returning(|_, _| {
                Ok(Listing {
                    items: vec![conversation(9, SessionStatus::Claimed, Some(2))],
                    total: 11,
                })
            });
        let conversations = Conversations::new(Arc::new(m.into_adapters()));
        let listing = conversations.list(Some(true), page(3, 5)).await.unwrap();
        assert_eq!(listing.total, 11);
        assert_eq!(listing.items[0].agent, Some(admin(2)));
    }

    #[tokio::test]
    async fn a_page_past_the_end_is_not_found() {
        let mut m = mocks();
        m.sessions.expect_list_conversations().returning(|_, _| {
            Ok(Listing {
                items: Vec::new(),
                total: 10,
            })
        });
        let conversations = Conversations::new(Arc::new(m.into_adapters()));
        assert!(matches!(
            conversations.list(None, page(3, 5)).await,
            Err(ChatError::NotFound("page"))
        ));
    }

    #[tokio::test]
    async fn the_first_page_of_nothing_is_empty() {
        let mut m = mocks();
        m.sessions
            .expect_list_conversations()
            .withf(|active, _| *active == Some(false))
            .returning(|_, _| {
                Ok(Listing {
                    items: Vec::new(),
                    total: 0,
                })
            });
        let conversations = Conversations::new(Arc::new(m.into_adapters()));
        let listing = conversations.list(Some(false), page(1, 50)).await.unwrap();
        assert_eq!(listing.total, 0);
        assert!(listing.items.is_empty());
    }

    #[tokio::test]
    async fn list_passes_store_failures_on() {
        let mut m = mocks();
        m.sessions
            .expect_list_conversations()
            .returning(|_, _| Err(RepositoryError::unavailable("down")));
        let conversations = Conversations::new(Arc::new(m.into_adapters()));
        assert!(matches!(
            conversations.list(None, page(1, 50)).await,
            Err(ChatError::Repository(RepositoryError::Unavailable(_)))
        ));
    }

    #[tokio::test]
    async fn get_shows_a_page_of_messages() {
        let mut m = mocks();
        m.sessions
            .expect_conversation()
            .withf(|id| id.get() == 7)
            .returning(|_| Ok(Some(conversation(7, SessionStatus::Closed, Some(2)))));
        m.messages
            .expect_page()
            .withf(|id, cursor, notes| {
                id.get() == 7 && cursor.limit == 2 && cursor.before.is_none() && !*notes
            })
            .returning(|_, _, _| {
                Ok(MessagePage {
                    messages: vec![
                        message(4, 7, Sender::Store(store_id(12))),
                        message(5, 7, Sender::Admin(crate::testing::admin_id(2))),
                    ],
                    has_more: true,
                })
            });
        let conversations = Conversations::new(Arc::new(m.into_adapters()));
        let thread = conversations
            .get(
                session_id(7),
                MessageCursor {
                    before: None,
                    limit: 2,
                },
            )
            .await
            .unwrap();
        assert!(thread.has_more);
        assert_eq!(thread.conversation.message_count, 3);
        assert!(!thread.conversation.is_active());
        assert_eq!(
            thread.conversation.agent.as_ref().map(|a| a.id.get()),
            Some(2)
        );
        let ids: Vec<_> = thread.messages.iter().map(|m| m.id.get()).collect();
        assert_eq!(ids, [4, 5]);
    }

    #[tokio::test]
    async fn get_reports_unknown_conversations_without_reading_messages() {
        let mut m = mocks();
        m.sessions.expect_conversation().returning(|_| Ok(None));
        m.messages.expect_page().never();
        let conversations = Conversations::new(Arc::new(m.into_adapters()));
        let err = conversations
            .get(
                session_id(7),
                MessageCursor {
                    before: None,
                    limit: 100,
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, ChatError::NotFound("conversation")));
    }
}
