//! Validated values: each has a parsing constructor that enforces the contract's rules, so a
//! value that exists is a valid one.

use std::fmt;

use crate::error::ValidationError;

/// The longest URL accepted for attachments and logos.
pub const MAX_URL_CHARS: usize = 2048;
/// The longest `client_message_id`.
pub const MAX_CLIENT_MESSAGE_ID_CHARS: usize = 64;
/// The default limit of a message's content, in characters (configurable per service).
pub const DEFAULT_MAX_CONTENT_CHARS: usize = 5000;
/// The length of every token and API key.
pub const TOKEN_CHARS: usize = 64;
/// The length of a store's public key.
pub const STORE_KEY_CHARS: usize = 12;

const MAX_NAME_CHARS: usize = 200;
const MAX_EMAIL_CHARS: usize = 254;

fn char_count(s: &str) -> usize {
    s.chars().count()
}

/// Refuses NUL (U+0000), which no text field accepts: PostgreSQL cannot store it in text.
pub(crate) fn check_no_nul(field: &'static str, raw: &str) -> Result<(), ValidationError> {
    if raw.contains('\0') {
        return Err(ValidationError::new(field, "must not contain NUL (U+0000)"));
    }
    Ok(())
}

/// A display name of a store, an admin or an API key: 1 to 200 characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    /// # Errors
    /// Returns a [`ValidationError`] for `field` when it holds NUL, the trimmed name is empty, or the name
    /// as given is too long (the limit applies to what the client sent, white space included,
    /// as the API's document says).
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        check_no_nul(field, raw)?;
        let name = raw.trim();
        if name.is_empty() {
            return Err(ValidationError::new(field, "must not be empty"));
        }
        if char_count(raw) > MAX_NAME_CHARS {
            return Err(ValidationError::new(
                field,
                format!("must be at most {MAX_NAME_CHARS} characters"),
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address: one `@` with text on both sides and a dot in the domain, no spaces.
/// Kept as given but trimmed; deliverability is not this type's business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// # Errors
    /// Returns a [`ValidationError`] for `field` when the address is malformed.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        let email = raw.trim();
        // The limit applies to what the client sent, white space included.
        let well_formed = char_count(raw) <= MAX_EMAIL_CHARS
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && match email.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if well_formed {
            Ok(Self(email.to_owned()))
        } else {
            Err(ValidationError::new(field, "must be a valid email address"))
        }
    }

    /// The address as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks the contract's URL rule: `http` or `https`, a host, at most 2048 characters, no spaces.
/// A URL as the client sent it, white space included, is at most [`MAX_URL_CHARS`] long.
fn check_length(field: &'static str, raw: &str) -> Result<(), ValidationError> {
    if char_count(raw) > MAX_URL_CHARS {
        return Err(ValidationError::new(
            field,
            format!("must be at most {MAX_URL_CHARS} characters"),
        ));
    }
    Ok(())
}

fn check_url(field: &'static str, url: &str) -> Result<(), ValidationError> {
    check_length(field, url)?;
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| ValidationError::new(field, "must be an http or https URL"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ValidationError::new(
            field,
            "must be a valid http or https URL",
        ));
    }
    Ok(())
}

/// A store's logo: an http(s) URL, or empty when the store has none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogoUrl(String);

impl LogoUrl {
    /// # Errors
    /// Returns a [`ValidationError`] for `logo_url` when the URL is not http(s) or too long.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        check_length("logo_url", raw)?;
        let url = raw.trim();
        if !url.is_empty() {
            check_url("logo_url", url)?;
        }
        Ok(Self(url.to_owned()))
    }

    /// The URL, or `""`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What an attachment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentKind {
    /// A picture.
    Image,
    /// A video.
    Video,
    /// A sound recording.
    Audio,
    /// Any other file.
    File,
}

impl AttachmentKind {
    /// The name used on the wire and in storage.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::File => "file",
        }
    }

    /// # Errors
    /// Returns a [`ValidationError`] for `attachment_type` unless `raw` is one of
    /// `image`, `video`, `audio`, `file`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "image" => Ok(Self::Image),
            "video" => Ok(Self::Video),
            "audio" => Ok(Self::Audio),
            "file" => Ok(Self::File),
            _ => Err(ValidationError::new(
                "attachment_type",
                "must be one of image, video, audio, file",
            )),
        }
    }
}

/// A message's attachment: a URL and what it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    url: String,
    kind: AttachmentKind,
}

impl Attachment {
    /// Parses the optional pair of fields of a send request. Both empty (or absent) means no
    /// attachment.
    ///
    /// # Errors
    /// Returns a [`ValidationError`] when the URL is not http(s) or too long, the type is not
    /// one of the four kinds, or only one of the two is given.
    pub fn parse(url: Option<&str>, kind: Option<&str>) -> Result<Option<Self>, ValidationError> {
        check_length("attachment_url", url.unwrap_or_default())?;
        let url = url.map(str::trim).unwrap_or_default();
        let kind = kind.map(str::trim).unwrap_or_default();
        match (url.is_empty(), kind.is_empty()) {
            (true, true) => Ok(None),
            (true, false) => Err(ValidationError::new(
                "attachment_url",
                "is required when attachment_type is given",
            )),
            (false, true) => Err(ValidationError::new(
                "attachment_type",
                "is required when attachment_url is given",
            )),
            (false, false) => {
                check_url("attachment_url", url)?;
                Ok(Some(Self {
                    url: url.to_owned(),
                    kind: AttachmentKind::parse(kind)?,
                }))
            }
        }
    }

    /// The URL of the attachment.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What the attachment is.
    #[must_use]
    pub fn kind(&self) -> AttachmentKind {
        self.kind
    }
}

/// The text of a message, at most a configured number of characters. May be empty only when
/// the message has an attachment (checked by [`crate::model::MessageBody::new`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageContent(String);

impl MessageContent {
    /// # Errors
    /// Returns a [`ValidationError`] for `content` when it holds NUL or is longer than `max_chars`.
    pub fn parse(raw: &str, max_chars: usize) -> Result<Self, ValidationError> {
        check_no_nul("content", raw)?;
        if char_count(raw) > max_chars {
            return Err(ValidationError::new(
                "content",
                format!("must be at most {max_chars} characters"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Whether there is no visible text.
    #[must_use]
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A client's idempotency key for a send: 1 to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientMessageId(String);

impl ClientMessageId {
    /// # Errors
    /// Returns a [`ValidationError`] for `client_message_id` when empty, too long or holding NUL.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        check_no_nul("client_message_id", raw)?;
        if raw.is_empty() || char_count(raw) > MAX_CLIENT_MESSAGE_ID_CHARS {
            return Err(ValidationError::new(
                "client_message_id",
                format!("must be 1 to {MAX_CLIENT_MESSAGE_ID_CHARS} characters"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The longest search, in characters.
pub const MAX_SEARCH_CHARS: usize = 200;

/// What an admin searches for: words, every one of which a message must contain (or the store's
/// name), diacritics and case aside. 1 to 200 characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchWords(String);

impl SearchWords {
    /// # Errors
    /// Returns a [`ValidationError`] for `q` when it is blank, too long, or holds NUL.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        check_no_nul("q", raw)?;
        let words = raw.trim();
        if words.is_empty() {
            return Err(ValidationError::new("q", "must not be empty"));
        }
        if char_count(raw) > MAX_SEARCH_CHARS {
            return Err(ValidationError::new(
                "q",
                format!("must be at most {MAX_SEARCH_CHARS} characters"),
            ));
        }
        Ok(Self(words.to_owned()))
    }

    /// The words as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The longest shortcut of a canned reply.
pub const MAX_SHORTCUT_CHARS: usize = 32;

/// What an admin types after `/` to expand a canned reply: 1 to 32 of `a-z`, `0-9`, `_`, `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Shortcut(String);

impl Shortcut {
    /// # Errors
    /// Returns a [`ValidationError`] for `shortcut` unless `raw` is 1 to 32 characters of
    /// `a-z`, `0-9`, `_` and `-`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let valid = (1..=MAX_SHORTCUT_CHARS).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::new(
                "shortcut",
                format!("must be 1 to {MAX_SHORTCUT_CHARS} of a-z, 0-9, _ and -"),
            ))
        }
    }

    /// The shortcut as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A bearer secret: a token of an admin or a store, or an API key. 64 ASCII letters and digits.
/// Its `Debug` output hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// # Errors
    /// Returns a [`ValidationError`] for `token` unless `raw` is 64 ASCII letters or digits.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.len() == TOKEN_CHARS && raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::new(
                "token",
                format!("must be {TOKEN_CHARS} letters and digits"),
            ))
        }
    }

    /// The secret itself. Show it once, to its owner, when it is minted.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// A store's stable public key: 12 ASCII letters and digits, shown to integrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreKey(String);

impl StoreKey {
    /// # Errors
    /// Returns a [`ValidationError`] for `key` unless `raw` is 12 ASCII letters or digits.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.len() == STORE_KEY_CHARS && raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::new(
                "key",
                format!("must be {STORE_KEY_CHARS} letters and digits"),
            ))
        }
    }

    /// The key as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_are_short_lowercase_words() {
        for good in ["refund", "a", "late-parcel_2", &"x".repeat(32)] {
            assert_eq!(Shortcut::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "Refund",
            "late parcel",
            "é",
            "a/b",
            "a\0",
            &"x".repeat(33),
        ] {
            assert_eq!(
                Shortcut::parse(bad).unwrap_err().field(),
                "shortcut",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn no_text_field_takes_nul() {
        let nul = "a\0b";
        assert_eq!(Name::parse("name", nul).unwrap_err().field(), "name");
        assert_eq!(
            Email::parse("email", "a\0@b.com").unwrap_err().field(),
            "email"
        );
        assert_eq!(
            LogoUrl::parse("https://a.com/\0").unwrap_err().field(),
            "logo_url"
        );
        assert_eq!(
            MessageContent::parse(nul, 100).unwrap_err().field(),
            "content"
        );
        assert_eq!(
            ClientMessageId::parse(nul).unwrap_err().field(),
            "client_message_id"
        );
        assert_eq!(
            Attachment::parse(Some("https://a.com/\0"), Some("image"))
                .unwrap_err()
                .field(),
            "attachment_url"
        );
        // Other control characters and marks are text like any other.
        assert!(MessageContent::parse("a\u{7f}\u{200f}b", 100).is_ok());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            Name::parse("name", "  Tech Store ").unwrap().as_str(),
            "Tech Store"
        );
        assert_eq!(Name::parse("name", "   ").unwrap_err().field(), "name");
        assert!(Name::parse("name", &"x".repeat(201)).is_err());
        assert!(Name::parse("name", &"é".repeat(200)).is_ok());
    }

    #[test]
    fn emails_need_a_local_part_and_a_domain() {
        assert!(Email::parse("email", "store@example.com").is_ok());
        for bad in [
            "",
            "store",
            "@example.com",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@.com",
        ] {
            assert_eq!(
                Email::parse("email", bad).unwrap_err().field(),
                "email",
                "{bad}"
            );
        }
    }

    #[test]
    fn logo_urls_are_http_or_empty() {
        assert_eq!(LogoUrl::parse("").unwrap().as_str(), "");
        assert!(LogoUrl::parse("https://example.com/logo.jpg").is_ok());
        assert!(LogoUrl::parse("ftp://example.com/logo.jpg").is_err());
        assert!(LogoUrl::parse("https://").is_err());
    }

    #[test]
    fn attachments_need_both_fields() {
        assert_eq!(Attachment::parse(None, None), Ok(None));
        assert_eq!(Attachment::parse(Some(""), Some("")), Ok(None));
        let att = Attachment::parse(Some("https://cdn.example.com/a.png"), Some("image"))
            .unwrap()
            .unwrap();
        assert_eq!(att.kind(), AttachmentKind::Image);
        assert_eq!(att.url(), "https://cdn.example.com/a.png");
        assert_eq!(
            Attachment::parse(Some("https://x.io/a"), None)
                .unwrap_err()
                .field(),
            "attachment_type"
        );
        assert_eq!(
            Attachment::parse(None, Some("file")).unwrap_err().field(),
            "attachment_url"
        );
        assert_eq!(
            Attachment::parse(Some("https://x.io/a"), Some("pdf"))
                .unwrap_err()
                .field(),
            "attachment_type"
        );
        assert_eq!(
            Attachment::parse(Some("javascript:alert(1)"), Some("file"))
                .unwrap_err()
                .field(),
            "attachment_url"
        );
        let long = format!("https://x.io/{}", "a".repeat(MAX_URL_CHARS));
        assert!(Attachment::parse(Some(&long), Some("file")).is_err());
    }

    #[test]
    fn content_is_bounded_in_characters() {
        assert!(MessageContent::parse(&"é".repeat(10), 10).is_ok());
        assert_eq!(
            MessageContent::parse(&"a".repeat(11), 10)
                .unwrap_err()
                .field(),
            "content"
        );
        assert!(MessageContent::parse(" \n", 10).unwrap().is_blank());
    }

    #[test]
    fn client_message_ids_are_bounded() {
        assert!(ClientMessageId::parse("abc-1").is_ok());
        assert!(ClientMessageId::parse("").is_err());
        assert!(ClientMessageId::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn tokens_are_64_alphanumerics_and_never_debug_printed() {
        let raw = "a".repeat(64);
        let token = Token::parse(&raw).unwrap();
        assert_eq!(token.expose(), raw);
        assert_eq!(format!("{token:?}"), "Token(***)");
        assert!(Token::parse(&"a".repeat(63)).is_err());
        assert!(Token::parse(&format!("{}!", "a".repeat(63))).is_err());
    }

    #[test]
    fn store_keys_are_12_alphanumerics() {
        assert!(StoreKey::parse("EVvyMuAMtxAw").is_ok());
        assert!(StoreKey::parse("short").is_err());
    }
}

/// Whether an admin answers now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Presence {
    /// A console of theirs is connected and they have not said they are away.
    Online,
    /// A console of theirs is connected, and they said they are away.
    Away,
    /// No console of theirs has been connected for the grace period.
    Offline,
}

impl Presence {
    /// The name used on the wire and in storage.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Away => "away",
            Self::Offline => "offline",
        }
    }

    /// # Errors
    /// A [`ValidationError`] for `status` unless `raw` is `online`, `away` or `offline`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "online" => Ok(Self::Online),
            "away" => Ok(Self::Away),
            "offline" => Ok(Self::Offline),
            _ => Err(ValidationError::new(
                "status",
                "must be one of online, away, offline",
            )),
        }
    }

    /// The presence of an admin with a console connected (`connected`) or not, who said they
    /// are away (`away`) or not.
    #[must_use]
    pub const fn of(connected: bool, away: bool) -> Self {
        match (connected, away) {
            (false, _) => Self::Offline,
            (true, true) => Self::Away,
            (true, false) => Self::Online,
        }
    }
}

/// How many claimed sessions an admin may hold at once; 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capacity(u32);

impl Capacity {
    /// The largest capacity that can be set.
    pub const MAX: u32 = 10_000;

    /// # Errors
    /// A [`ValidationError`] for `max_sessions` when `raw` is negative or above
    /// [`Capacity::MAX`].
    pub fn parse(raw: i64) -> Result<Self, ValidationError> {
        u32::try_from(raw)
            .ok()
            .filter(|n| *n <= Self::MAX)
            .map(Self)
            .ok_or_else(|| {
                ValidationError::new(
                    "max_sessions",
                    format!("must be between 0 (no limit) and {}", Self::MAX),
                )
            })
    }

    /// The number (0: no limit).
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }

    /// How many more sessions fit beside `active` ones; `None` when there is no limit.
    #[must_use]
    pub fn room(self, active: i64) -> Option<i64> {
        (self.0 != 0).then(|| (i64::from(self.0) - active).max(0))
    }
}
