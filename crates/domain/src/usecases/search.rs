//! Search across the conversations an admin may read: "what did we tell this store about the
//! refund?".

use std::sync::Arc;

use crate::error::ChatError;
use crate::ids::AdminId;
use crate::model::{Listing, Page, Participant, SearchHit};
use crate::ports::SearchRepository;
use crate::values::SearchWords;

/// The most results of one page.
pub const MAX_SEARCH_LIMIT: u32 = 100;

/// The search use case, over its one port.
#[derive(Debug)]
pub struct Search<R> {
    repository: Arc<R>,
}

impl<R> Clone for Search<R> {
    fn clone(&self) -> Self {
        Self {
            repository: self.repository.clone(),
        }
    }
}

/// A search result as the searching admin sees it: with the session's count of messages the
/// admin has not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// What matched.
    pub hit: SearchHit,
    /// Messages from the store the admin has not read.
    pub unread_count: i64,
}

impl<R: SearchRepository> Search<R> {
    /// The use case over `repository`.
    pub fn new(repository: Arc<R>) -> Self {
        Self { repository }
    }

    /// What `admin` finds for `words` (checked as [`SearchWords::parse`] says).
    ///
    /// # Errors
    /// [`ChatError::Invalid`] for blank or too long words, [`ChatError::Repository`] when the
    /// port fails.
    pub async fn search(
        &self,
        admin: AdminId,
        words: &str,
        page: Page,
    ) -> Result<Listing<Found>, ChatError> {
        let words = SearchWords::parse(words)?;
        let listing = self.repository.search(admin, &words, page).await?;
        Ok(Listing {
            items: listing
                .items
                .into_iter()
                .map(|hit| Found {
                    unread_count: hit.session.unread.for_reader(Participant::Admin(admin)),
                    hit,
                })
                .collect(),
            total: listing.total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::MockSearchRepository;

    #[tokio::test]
    async fn blank_or_long_searches_reach_no_database() {
        let mut repository = MockSearchRepository::new();
        repository.expect_search().never();
        let search = Search::new(Arc::new(repository));
        let admin = AdminId::parse(1).unwrap();
        let page = Page::new(20, 0, MAX_SEARCH_LIMIT).unwrap();
        for words in ["", "   ", "a\0", &"x".repeat(201)] {
            assert!(
                matches!(search.search(admin, words, page).await, Err(ChatError::Invalid(e)) if e.field() == "q"),
                "{words:?}"
            );
        }
    }
}
