//! Uploaded files: which types are taken (decided from the bytes, never from the name), what
//! a file's name may be, and who may read a file.

use chrono::{DateTime, Utc};

use crate::error::ValidationError;
use crate::ids::SessionId;
use crate::model::{Participant, SessionDetails};
use crate::principal::Principal;
use crate::values::AttachmentKind;

/// The longest file name kept.
pub const MAX_NAME_CHARS: usize = 200;

/// The content types taken, as sniffed from the bytes, and the kind of attachment each is.
pub const ALLOWED: &[(&str, AttachmentKind)] = &[
    ("image/png", AttachmentKind::Image),
    ("image/jpeg", AttachmentKind::Image),
    ("image/gif", AttachmentKind::Image),
    ("image/webp", AttachmentKind::Image),
    ("application/pdf", AttachmentKind::File),
    ("text/plain", AttachmentKind::File),
    ("audio/mpeg", AttachmentKind::Audio),
    ("audio/ogg", AttachmentKind::Audio),
    ("video/mp4", AttachmentKind::Video),
    ("video/webm", AttachmentKind::Video),
];

/// The kind of attachment a file of `content_type` is, when it is a type taken.
#[must_use]
pub fn kind_of(content_type: &str) -> Option<AttachmentKind> {
    ALLOWED
        .iter()
        .find(|(t, _)| *t == content_type)
        .map(|(_, kind)| *kind)
}

/// Checks the name a client gives a raw upload (`?name=`), as the API's document declares it:
/// no NUL, as no text field takes one, and at most [`MAX_NAME_CHARS`] characters. A form's file
/// name is only cleaned, by [`file_name`]: a browser sends what the file is called.
///
/// # Errors
/// A [`ValidationError`] for `field` otherwise.
pub fn check_given_name(field: &'static str, raw: &str) -> Result<(), ValidationError> {
    crate::values::check_no_nul(field, raw)?;
    if raw.chars().count() > MAX_NAME_CHARS {
        return Err(ValidationError::new(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(())
}

/// A file's name as shown and offered for download: the last part of a path, without
/// control characters or quotes, at most [`MAX_NAME_CHARS`] characters; `file` when nothing
/// is left.
#[must_use]
pub fn file_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = last
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | ';'))
        .take(MAX_NAME_CHARS)
        .collect();
    let clean = clean.trim().trim_start_matches('.').trim();
    if clean.is_empty() {
        "file".to_owned()
    } else {
        clean.to_owned()
    }
}

/// A random key naming a stored file: 32 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileKey(String);

impl FileKey {
    /// # Errors
    /// A [`ValidationError`] for `file` unless `raw` is 32 lowercase hex digits.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.len() == 32
            && raw
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::new("file", "no such file"))
        }
    }

    /// The key.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a file is attached: the session of the message that carries it, and whether that
/// message is a private note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attached {
    /// The session.
    pub session: SessionId,
    /// A note: only admins read it.
    pub private: bool,
}

/// A stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// Its key.
    pub key: FileKey,
    /// Its name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its content type, as sniffed.
    pub content_type: String,
    /// Who uploaded it.
    pub uploader: Participant,
    /// The message it was sent with, once sent.
    pub attached: Option<Attached>,
    /// When it was uploaded.
    pub created: DateTime<Utc>,
}

impl StoredFile {
    /// The kind of attachment it is.
    #[must_use]
    pub fn kind(&self) -> AttachmentKind {
        kind_of(&self.content_type).unwrap_or(AttachmentKind::File)
    }

    /// Whether `who` may read it: before it is sent, its uploader alone; once sent, whoever may
    /// read the session of the message (`session`), the store not a note, and an integration
    /// (which reads every conversation) not a note either.
    #[must_use]
    pub fn readable_by(&self, who: Principal, session: Option<&SessionDetails>) -> bool {
        let (Some(attached), Some(session)) = (self.attached, session) else {
            return match who {
                Principal::Admin(id) => self.uploader == Participant::Admin(id),
                Principal::Store(id) => self.uploader == Participant::Store(id),
                Principal::ApiKey(_) => false,
            };
        };
        match who {
            Principal::Admin(id) => session.check_read(Participant::Admin(id)).is_ok(),
            Principal::Store(id) => {
                !attached.private && session.check_read(Participant::Store(id)).is_ok()
            }
            Principal::ApiKey(_) => !attached.private,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AdminId, StoreId};
    use crate::model::SessionStatus;
    use crate::testing::{details, now};

    fn file(uploader: Participant, attached: Option<Attached>) -> StoredFile {
        StoredFile {
            key: FileKey::parse("0123456789abcdef0123456789abcdef").unwrap(),
            name: "photo.png".to_owned(),
            size: 10,
            content_type: "image/png".to_owned(),
            uploader,
            attached,
            created: now(),
        }
    }

    #[test]
    fn types_come_from_the_list_and_names_are_cleaned() {
        assert_eq!(kind_of("image/webp"), Some(AttachmentKind::Image));
        assert_eq!(kind_of("application/pdf"), Some(AttachmentKind::File));
        assert_eq!(kind_of("video/webm"), Some(AttachmentKind::Video));
        assert_eq!(kind_of("application/x-msdownload"), None);
        assert_eq!(kind_of("text/html"), None);
        assert_eq!(
            file_name("C:\\Users\\a\\invoice \"1\".pdf"),
            "invoice 1.pdf"
        );
        assert_eq!(file_name("../../etc/passwd"), "passwd");
        assert_eq!(file_name(".."), "file");
        assert_eq!(file_name("a\u{0}b\nc"), "abc");
        assert_eq!(file_name(&"x".repeat(300)).len(), MAX_NAME_CHARS);
        assert!(check_given_name("name", &"é".repeat(MAX_NAME_CHARS)).is_ok());
        assert_eq!(
            check_given_name("name", &"é".repeat(MAX_NAME_CHARS + 1))
                .unwrap_err()
                .field(),
            "name"
        );
        assert!(check_given_name("name", "a\u{0}b").is_err());
        assert!(FileKey::parse("0123456789ABCDEF0123456789abcdef").is_err());
        assert!(FileKey::parse("../etc").is_err());
    }

    #[test]
    fn an_unsent_file_is_the_uploaders_and_a_sent_one_the_sessions_readers() {
        let store = StoreId::parse(12).unwrap();
        let ann = AdminId::parse(2).unwrap();
        let bob = AdminId::parse(3).unwrap();
        let unsent = file(Participant::Store(store), None);
        assert!(unsent.readable_by(Principal::Store(store), None));
        assert!(!unsent.readable_by(Principal::Admin(ann), None));

        let session = details(5, SessionStatus::Claimed, Some(2));
        let attached = Attached {
            session: session.session.id,
            private: false,
        };
        let sent = file(Participant::Store(store), Some(attached));
        assert!(sent.readable_by(Principal::Admin(ann), Some(&session)));
        assert!(!sent.readable_by(Principal::Admin(bob), Some(&session)));
        assert!(sent.readable_by(Principal::Store(store), Some(&session)));
        assert!(!sent.readable_by(
            Principal::Store(StoreId::parse(13).unwrap()),
            Some(&session)
        ));

        let note = file(
            Participant::Admin(ann),
            Some(Attached {
                private: true,
                ..attached
            }),
        );
        assert!(note.readable_by(Principal::Admin(ann), Some(&session)));
        assert!(!note.readable_by(Principal::Store(store), Some(&session)));
    }
}
