//! The text of the frames the server sends: the wire format of the sockets, written here and
//! handed to the hub, which writes each frame once for every connection it goes to.

use chat_adapters::hub::Framing;
use chat_domain::events::RecordedEvent;
use chrono::SecondsFormat;

/// How the hub writes frames.
pub const FRAMING: Framing = Framing { event, typing };

/// An event: `{"type", "event_id", "created", "data"}`.
#[must_use]
pub fn event(event: &RecordedEvent) -> String {
    format!(
        r#"{{"type":"{}","event_id":{},"created":"{}","data":{}}}"#,
        event.kind.as_str(),
        event.id,
        event.created.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        event.data
    )
}

/// A typing notice, from its `data` as JSON: `{"type": "typing", "data"}` (no `event_id`:
/// typing is never stored).
#[must_use]
pub fn typing(data: &str) -> String {
    format!(r#"{{"type":"typing","data":{data}}}"#)
}

/// The cursor of a socket: `{"type": "hello", "event_id"}`.
#[must_use]
pub fn hello(cursor: i64) -> String {
    format!(r#"{{"type":"hello","event_id":{cursor}}}"#)
}

#[cfg(test)]
mod tests {
    use chat_domain::events::{Audience, EventKind};
    use chat_domain::ids::EventId;
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn frames_follow_the_contract() {
        let e = RecordedEvent {
            id: EventId::parse(7).unwrap(),
            created: chrono::Utc
                .with_ymd_and_hms(2025, 12, 16, 11, 5, 0)
                .unwrap(),
            kind: EventKind::SessionClaimed,
            audience: Audience::default(),
            carries: None,
            data: r#"{"session_id":5,"admin_id":2}"#.to_owned(),
        };
        assert_eq!(
            event(&e),
            r#"{"type":"session_claimed","event_id":7,"created":"2025-12-16T11:05:00Z","data":{"session_id":5,"admin_id":2}}"#
        );
        assert_eq!(
            typing(r#"{"session_id":5}"#),
            r#"{"type":"typing","data":{"session_id":5}}"#
        );
        assert_eq!(hello(12), r#"{"type":"hello","event_id":12}"#);
    }
}
