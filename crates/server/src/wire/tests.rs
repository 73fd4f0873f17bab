//! The JSON the wire types write, field by field, for the shapes clients rely on.

use chat_domain::events::RecordedEvent;
use chat_domain::events::{DisconnectReason as Reason, DomainEvent, EventKind, Side, Typing};
use chat_domain::ids::{AdminId, EventId, MessageId, SessionId, StoreId};
use chat_domain::model::{
    Admin as DomainAdmin, Conversation as DomainConversation, Message as DomainMessage,
    MessageBody, MessageStatus as Status, Sender, Session as DomainSession, SessionDetails,
    SessionStatus as State, Store as DomainStore, UnreadCounts,
};
use chat_domain::usecases::{ConversationThread as DomainThread, SessionView};
use chat_domain::values::{
    Attachment, ClientMessageId, Email, LogoUrl, MessageContent, Name, StoreKey,
};
use chrono::TimeZone;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::*;

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 12, 16, 11, minute, 0).unwrap()
}

fn store() -> DomainStore {
    DomainStore {
        id: StoreId::parse(12).unwrap(),
        name: Name::parse("name", "Tech Store").unwrap(),
        logo_url: LogoUrl::parse("https://example.com/logo.jpg").unwrap(),
        email: Email::parse("email", "store@example.com").unwrap(),
        key: StoreKey::parse("EVvyMuAMtxAw").unwrap(),
    }
}

fn admin() -> DomainAdmin {
    DomainAdmin {
        id: AdminId::parse(3).unwrap(),
        name: Name::parse("name", "Ann").unwrap(),
        email: Email::parse("email", "ann@example.com").unwrap(),
    }
}

fn message(sender: Sender) -> DomainMessage {
    DomainMessage {
        id: MessageId::parse(123).unwrap(),
        session_id: SessionId::parse(5).unwrap(),
        sender,
        body: MessageBody::new(MessageContent::parse("I need help", 5000).unwrap(), None).unwrap(),
        status: Status::Sent,
        created: at(20),
        client_message_id: None,
        private: false,
    }
}

fn details(last_message: Option<DomainMessage>) -> SessionDetails {
    SessionDetails {
        session: DomainSession {
            id: SessionId::parse(5).unwrap(),
            store_id: StoreId::parse(12).unwrap(),
            admin_id: None,
            status: State::Open,
            last_message_at: at(0),
            created: at(0),
            updated: at(20),
        },
        store: store(),
        last_message,
        unread: UnreadCounts {
            by_admin: 2,
            by_store: 0,
        },
        message_count: 2,
    }
}

fn to_json(value: impl Serialize) -> Value {
    serde_json::to_value(value).unwrap()
}

#[test]
fn a_message_shows_its_sender_attachment_and_key() {
    assert_eq!(
        to_json(Message::from(&message(Sender::Store(
            StoreId::parse(12).unwrap()
        )))),
        json!({
            "id": 123,
            "session_id": 5,
            "sender_type": "store",
            "sender_id": 12,
            "content": "I need help",
            "attachment_url": "",
            "attachment_type": "",
            "status": "sent",
            "created": "2025-12-16T11:20:00Z",
            "client_message_id": null,
            "private": false
        })
    );
    let mut msg = message(Sender::Admin(AdminId::parse(2).unwrap()));
    msg.body = MessageBody::new(
        MessageContent::parse("", 10).unwrap(),
        Attachment::parse(Some("https://cdn.example.com/a.png"), Some("image")).unwrap(),
    )
    .unwrap();
    msg.client_message_id = Some(ClientMessageId::parse("c-1").unwrap());
    msg.status = Status::Read;
    let value = to_json(Message::from(&msg));
    assert_eq!(value["sender_type"], "admin");
    assert_eq!(value["sender_id"], 2);
    assert_eq!(value["attachment_url"], "https://cdn.example.com/a.png");
    assert_eq!(value["attachment_type"], "image");
    assert_eq!(value["status"], "read");
    assert_eq!(value["client_message_id"], "c-1");
    let system = to_json(Message::from(&message(Sender::System)));
    assert_eq!(system["sender_type"], "system");
    assert_eq!(system["sender_id"], Value::Null);
}

#[test]
fn a_session_is_the_event_object_with_the_viewers_unread_count() {
    let details = details(None);
    let event = to_json(SessionEvent::from(&details));
    assert_eq!(
        event,
        json!({
            "id": 5,
            "store_id": 12,
            "admin_id": null,
            "status": "open",
            "last_message_at": "2025-12-16T11:00:00Z",
            "created": "2025-12-16T11:00:00Z",
            "updated": "2025-12-16T11:20:00Z",
            "store": {
                "id": 12,
                "name": "Tech Store",
                "logo_url": "https://example.com/logo.jpg",
                "email": "store@example.com"
            },
            "last_message": null
        })
    );
    let view = SessionView {
        details,
        unread_count: 2,
    };
    let mut session = to_json(Session::from(&view));
    assert_eq!(session["unread_count"], 2);
    session.as_object_mut().unwrap().remove("unread_count");
    assert_eq!(session, event);
}

#[test]
fn a_conversation_is_shown_as_integrations_read_it() {
    let closed = DomainConversation {
        session: DomainSession {
            status: State::Closed,
            admin_id: Some(admin().id),
            ..details(None).session
        },
        store: store(),
        agent: Some(admin()),
        message_count: 1,
    };
    assert_eq!(
        to_json(Conversation::from(&closed)),
        json!({
            "id": 5,
            "user": {
                "id": 12,
                "email": "store@example.com",
                "name": "Tech Store",
                "key": "EVvyMuAMtxAw"
            },
            "active": false,
            "agent": {"id": 3, "name": "Ann", "email": "ann@example.com"},
            "messages": 1,
            "status": "closed",
            "created": "2025-12-16T11:00:00Z",
            "last_message_at": "2025-12-16T11:00:00Z"
        })
    );
    let thread = DomainThread {
        conversation: closed,
        messages: vec![message(Sender::System)],
        has_more: true,
    };
    let value = to_json(ConversationThread::from(&thread));
    assert_eq!(value["messages"][0]["id"], 123);
    assert_eq!(value["message_count"], 1);
    assert_eq!(value["has_more"], true);
    assert_eq!(value["user"]["key"], "EVvyMuAMtxAw");
}

fn data(event: &DomainEvent) -> Value {
    serde_json::from_str(&event_data(event)).unwrap()
}

#[test]
fn every_event_has_the_data_its_type_says() {
    let session = SessionId::parse(5).unwrap();
    let details = details(Some(message(Sender::Store(StoreId::parse(12).unwrap()))));
    for event in [
        DomainEvent::SessionOpened(details.clone()),
        DomainEvent::SessionUpdated(details.clone()),
        DomainEvent::SessionClosed(details.clone()),
    ] {
        assert_eq!(data(&event), to_json(SessionEvent::from(&details)));
    }
    assert_eq!(
        data(&DomainEvent::SessionClaimed {
            session_id: session,
            admin_id: admin().id,
            assigned: false,
        }),
        json!({"session_id": 5, "admin_id": 3, "assigned": false})
    );
    assert_eq!(
        data(&DomainEvent::AdminConnected {
            session_id: session,
            store_id: store().id,
            admin: admin(),
            assigned: true,
        }),
        json!({"session_id": 5, "admin": {"id": 3, "name": "Ann"}, "assigned": true})
    );
    assert_eq!(
        data(&DomainEvent::AdminPresence {
            admin_id: admin().id,
            status: chat_domain::team::Presence::Away,
        }),
        json!({"admin_id": 3, "status": "away"})
    );
    assert_eq!(
        data(&DomainEvent::AdminDisconnected {
            session_id: session,
            store_id: store().id,
            reason: Reason::Transferred,
        }),
        json!({"session_id": 5, "reason": "transferred"})
    );
    assert_eq!(
        data(&DomainEvent::MessageStatus {
            session_id: session,
            message_ids: vec![MessageId::parse(4).unwrap(), MessageId::parse(6).unwrap()],
            status: Status::Delivered,
            senders: chat_domain::events::Audience::default(),
        }),
        json!({"session_id": 5, "message_ids": [4, 6], "status": "delivered"})
    );
    let msg = message(Sender::System);
    assert_eq!(
        data(&DomainEvent::NewMessage {
            message: msg.clone(),
            store_id: store().id,
            admin_id: None,
        }),
        to_json(Message::from(&msg))
    );
}

#[test]
fn frames_are_written_as_documented() {
    let event = RecordedEvent {
        id: EventId::parse(7).unwrap(),
        created: at(5),
        kind: EventKind::SessionClaimed,
        audience: chat_domain::events::Audience::default(),
        carries: None,
        data: r#"{"session_id":5,"admin_id":2}"#.to_owned(),
    };
    assert_eq!(
        event_frame(&event),
        r#"{"type":"session_claimed","event_id":7,"created":"2025-12-16T11:05:00Z","data":{"session_id":5,"admin_id":2}}"#
    );
    let typing = Typing {
        session_id: SessionId::parse(5).unwrap(),
        sender_type: Side::Store,
        is_typing: true,
    };
    assert_eq!(
        typing_frame(&typing),
        r#"{"type":"typing","data":{"session_id":5,"sender_type":"store","is_typing":true}}"#
    );
    assert_eq!(hello_frame(12), r#"{"type":"hello","event_id":12}"#);
    assert_eq!(error_frame("bad"), r#"{"type":"error","error":"bad"}"#);
    assert_eq!(
        ServerFrame::bare(ServerFrameType::Pong).text(),
        r#"{"type":"pong"}"#
    );
    for kind in EventKind::ALL {
        assert_eq!(
            to_json(ServerFrameType::from(kind)),
            kind.as_str(),
            "{kind:?}"
        );
    }
}

#[test]
fn client_frames_are_read_by_their_type() {
    assert!(matches!(
        serde_json::from_str(r#"{"type":"ping"}"#),
        Ok(ClientFrame::Ping)
    ));
    assert!(matches!(
        serde_json::from_str(r#"{"type":"typing","session_id":5,"is_typing":false}"#),
        Ok(ClientFrame::Typing {
            session_id: 5,
            is_typing: false
        })
    ));
    assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"shout"}"#).is_err());
}
