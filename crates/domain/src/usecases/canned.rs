//! The team's canned replies: the answers a support team types fifty times a day, written once
//! and expanded in the console.

use std::sync::Arc;

use crate::error::ChatError;
use crate::ids::{AdminId, CannedReplyId};
use crate::model::CannedReply;
use crate::ports::{CannedDraft, CannedReplyRepository};
use crate::values::{MessageContent, Shortcut};
use crate::RepositoryError;

/// What an admin writes: a shortcut and a text, as received.
#[derive(Debug, Clone, Default)]
pub struct CannedText {
    /// The shortcut.
    pub shortcut: String,
    /// The text.
    pub content: String,
}

/// The canned-reply use cases, over their one port.
#[derive(Debug)]
pub struct CannedReplies<R> {
    replies: Arc<R>,
    max_content_chars: usize,
}

impl<R> Clone for CannedReplies<R> {
    fn clone(&self) -> Self {
        Self {
            replies: self.replies.clone(),
            max_content_chars: self.max_content_chars,
        }
    }
}

impl<R: CannedReplyRepository> CannedReplies<R> {
    /// The use cases over `replies`; a reply's text is bounded as a message's.
    pub fn new(replies: Arc<R>, max_content_chars: usize) -> Self {
        Self {
            replies,
            max_content_chars,
        }
    }

    /// A reply's shortcut and text, checked as the contract says: the shortcut's pattern, and
    /// a text as a message's content that is not blank.
    fn parse(&self, text: &CannedText) -> Result<CannedDraft, ChatError> {
        let shortcut = Shortcut::parse(&text.shortcut)?;
        let content = MessageContent::parse(&text.content, self.max_content_chars)?;
        if content.is_blank() {
            return Err(crate::ValidationError::new("content", "must not be empty").into());
        }
        Ok(CannedDraft { shortcut, content })
    }

    /// Every reply, by shortcut.
    ///
    /// # Errors
    /// [`ChatError::Repository`] when the port fails.
    pub async fn list(&self) -> Result<Vec<CannedReply>, ChatError> {
        Ok(self.replies.list().await?)
    }

    /// Writes a new reply as `by`.
    ///
    /// # Errors
    /// [`ChatError::Invalid`] for a bad shortcut or text, [`ChatError::Conflict`] when the
    /// shortcut is taken, [`ChatError::Repository`] when the port fails.
    pub async fn create(&self, by: AdminId, text: &CannedText) -> Result<CannedReply, ChatError> {
        let draft = self.parse(text)?;
        self.replies.create(draft, by).await.map_err(taken)
    }

    /// Rewrites reply `id`.
    ///
    /// # Errors
    /// As [`CannedReplies::create`], and [`ChatError::NotFound`] for an unknown reply.
    pub async fn update(
        &self,
        id: CannedReplyId,
        text: &CannedText,
    ) -> Result<CannedReply, ChatError> {
        let draft = self.parse(text)?;
        self.replies
            .update(id, draft)
            .await
            .map_err(taken)?
            .ok_or(ChatError::NotFound("canned reply"))
    }

    /// Deletes reply `id`.
    ///
    /// # Errors
    /// [`ChatError::NotFound`] for an unknown reply, [`ChatError::Repository`] when the port
    /// fails.
    pub async fn delete(&self, id: CannedReplyId) -> Result<(), ChatError> {
        if self.replies.delete(id).await? {
            Ok(())
        } else {
            Err(ChatError::NotFound("canned reply"))
        }
    }
}

/// A taken shortcut is a conflict; any other failure stays what it is.
fn taken(err: RepositoryError) -> ChatError {
    match err {
        RepositoryError::Duplicate(_) => ChatError::Conflict("a canned reply has this shortcut"),
        other => ChatError::Repository(other),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::ports::MockCannedReplyRepository;

    fn admin() -> AdminId {
        AdminId::parse(7).unwrap()
    }

    fn text(shortcut: &str, content: &str) -> CannedText {
        CannedText {
            shortcut: shortcut.to_owned(),
            content: content.to_owned(),
        }
    }

    fn stored(draft: &CannedDraft) -> CannedReply {
        CannedReply {
            id: CannedReplyId::parse(1).unwrap(),
            shortcut: draft.shortcut.clone(),
            content: draft.content.clone(),
            created_by: admin(),
            updated: Utc::now(),
        }
    }

    #[tokio::test]
    async fn a_reply_is_checked_before_it_is_stored() {
        let mut replies = MockCannedReplyRepository::new();
        replies.expect_create().never();
        let canned = CannedReplies::new(Arc::new(replies), 10);
        for (bad, field) in [
            (text("Refund", "ok"), "shortcut"),
            (text("refund", "   "), "content"),
            (text("refund", "more than ten"), "content"),
            (text("refund", "a\0b"), "content"),
        ] {
            match canned.create(admin(), &bad).await {
                Err(ChatError::Invalid(err)) => assert_eq!(err.field(), field, "{bad:?}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_taken_shortcut_is_a_conflict() {
        let mut replies = MockCannedReplyRepository::new();
        replies
            .expect_create()
            .returning(|_, _| Err(RepositoryError::Duplicate("shortcut")));
        let canned = CannedReplies::new(Arc::new(replies), 100);
        assert!(matches!(
            canned.create(admin(), &text("refund", "Hello")).await,
            Err(ChatError::Conflict(_))
        ));
    }

    #[tokio::test]
    async fn unknown_replies_are_not_found() {
        let mut replies = MockCannedReplyRepository::new();
        replies.expect_update().returning(|_, _| Ok(None));
        replies.expect_delete().returning(|_| Ok(false));
        replies
            .expect_create()
            .returning(|draft, _| Ok(stored(&draft)));
        let canned = CannedReplies::new(Arc::new(replies), 100);
        let id = CannedReplyId::parse(9).unwrap();
        assert!(matches!(
            canned.update(id, &text("refund", "Hi")).await,
            Err(ChatError::NotFound(_))
        ));
        assert!(matches!(
            canned.delete(id).await,
            Err(ChatError::NotFound(_))
        ));
        let created = canned
            .create(admin(), &text("refund", "Hi {store.name}"))
            .await
            .unwrap();
        assert_eq!(created.content.as_str(), "Hi {store.name}");
    }
}
