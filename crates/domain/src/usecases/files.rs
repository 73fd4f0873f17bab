//! Uploads: a file stored for its uploader, attached to the message it is sent with, read by
//! whoever may read that message.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::Shared;
use crate::error::{ChatError, ValidationError};
use crate::ids::SessionId;
use crate::model::Participant;
use crate::ports::{FileStore, Ports, SessionRepository};
use crate::principal::Principal;
use crate::upload::{file_name, kind_of, Attached, FileKey, StoredFile};

/// The path of a file's URL: `/v1/files/<key>/`.
pub const FILES_PATH: &str = "/v1/files/";

/// The file uses cases.
pub struct Files<P: Ports, F> {
    ports: Shared<P>,
    store: Arc<F>,
    max_bytes: u64,
}

impl<P: Ports, F> Clone for Files<P, F> {
    fn clone(&self) -> Self {
        Self {
            ports: self.ports.clone(),
            store: self.store.clone(),
            max_bytes: self.max_bytes,
        }
    }
}

impl<P: Ports, F> std::fmt::Debug for Files<P, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Files")
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

/// The key of a file in one of this service's file URLs (any host), if it is one.
#[must_use]
pub fn key_in_url(url: &str) -> Option<FileKey> {
    let after_scheme = url.trim().split_once("://")?.1;
    let path = &after_scheme[after_scheme.find('/')?..];
    let rest = path.strip_prefix(FILES_PATH)?;
    let key = rest.split(['/', '?', '#']).next()?;
    FileKey::parse(key).ok()
}

impl<P: Ports<Sessions: SessionRepository>, F: FileStore> Files<P, F> {
    /// Files of at most `max_bytes`, kept in `store`.
    pub fn new(ports: Shared<P>, store: Arc<F>, max_bytes: u64) -> Self {
        Self {
            ports,
            store,
            max_bytes,
        }
    }

    /// The largest file taken.
    #[must_use]
    pub const fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Stores a file for `uploader`. `sniffed` is its content type as read from its bytes
    /// (never from its name).
    ///
    /// # Errors
    /// [`ChatError::TooLarge`] over the limit, [`ChatError::UnsupportedType`] for a type not
    /// taken (or none recognised), [`ChatError::Invalid`] for an empty file.
    pub async fn upload(
        &self,
        uploader: Participant,
        name: &str,
        sniffed: Option<&str>,
        bytes: Vec<u8>,
    ) -> Result<StoredFile, ChatError> {
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > self.max_bytes {
            return Err(ChatError::TooLarge(self.max_bytes));
        }
        if bytes.is_empty() {
            return Err(ValidationError::new("file", "is empty").into());
        }
        let content_type = sniffed
            .filter(|t| kind_of(t).is_some())
            .ok_or_else(|| {
                ChatError::UnsupportedType(format!(
                    "file: a {} is not taken; send PNG, JPEG, GIF, WebP, PDF, plain text, MP3, OGG, MP4 or WebM",
                    sniffed.unwrap_or("file of unknown type")
                ))
            })?;
        Ok(self
            .store
            .put(file_name(name), content_type.to_owned(), uploader, bytes)
            .await?)
    }

    /// A file and its bytes, for `who`.
    ///
    /// # Errors
    /// [`ChatError::NotFound`] for an unknown file or one `who` may not read.
    pub async fn read(
        &self,
        who: Principal,
        key: &str,
    ) -> Result<(StoredFile, Vec<u8>), ChatError> {
        let missing = || ChatError::NotFound("file");
        let key = FileKey::parse(key).map_err(|_| missing())?;
        let file = self.store.get(&key).await?.ok_or_else(missing)?;
        let session = match file.attached {
            Some(attached) => self.ports.sessions.find(attached.session).await?,
            None => None,
        };
        if !file.readable_by(who, session.as_ref()) {
            return Err(missing());
        }
        let bytes = self.store.read(&key).await?;
        Ok((file, bytes))
    }

    /// Checks, before a message is stored, that an attachment URL naming one of this
    /// service's files names an upload of `sender`'s not sent yet. Returns its key, or `None`
    /// for an outside URL.
    ///
    /// # Errors
    /// [`ChatError::Invalid`] for `attachment_url` otherwise.
    pub async fn own_upload(
        &self,
        sender: Participant,
        url: Option<&str>,
    ) -> Result<Option<FileKey>, ChatError> {
        let Some(key) = url.and_then(key_in_url) else {
            return Ok(None);
        };
        let not_yours = || {
            ValidationError::new(
                "attachment_url",
                "is not an upload of yours waiting to be sent",
            )
        };
        let file = self.store.get(&key).await?.ok_or_else(not_yours)?;
        if file.uploader != sender || file.attached.is_some() {
            return Err(not_yours().into());
        }
        Ok(Some(key))
    }

    /// The message carrying the file `key` was stored in `session`: readers of the message
    /// read the file from now on.
    ///
    /// # Errors
    /// [`ChatError::Repository`] when the store fails.
    pub async fn attach(
        &self,
        key: &FileKey,
        session: SessionId,
        private: bool,
    ) -> Result<(), ChatError> {
        self.store
            .attach(key, Attached { session, private })
            .await?;
        Ok(())
    }

    /// Deletes files never sent, uploaded before `before`; how many.
    ///
    /// # Errors
    /// [`ChatError::Repository`] when the store fails.
    pub async fn expire(&self, before: DateTime<Utc>) -> Result<u64, ChatError> {
        Ok(self.store.remove_unattached(before).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_are_recognised_on_any_host() {
        let key = "0123456789abcdef0123456789abcdef";
        for url in [
            format!("https://chat.example.com/v1/files/{key}/"),
            format!("http://127.0.0.1:8000/v1/files/{key}/photo.png"),
            format!(" https://x/v1/files/{key}?v=1"),
        ] {
            assert_eq!(key_in_url(&url).unwrap().as_str(), key, "{url}");
        }
        for url in [
            "https://cdn.example.com/a.png",
            "https://x/v1/files/short/",
            "https://x/files/0123456789abcdef0123456789abcdef/",
        ] {
            assert!(key_in_url(url).is_none(), "{url}");
        }
    }
}
