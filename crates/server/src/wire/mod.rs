//! The JSON of the API, defined once: every object the service sends, over HTTP or in a
//! WebSocket frame, built `From` the domain's types. The OpenAPI document shows these same
//! types (their `ToSchema`), so what is served and what is documented cannot drift apart.
//!
//! - [`objects`]: what the HTTP answers hold (sessions, messages, conversations, pages).
//! - [`event_data`]: the `data` of each event.
//! - [`frames`]: the WebSocket frames, both ways.
//!
//! Request bodies belong to their handlers (`crate::http`).

pub mod event_data;
pub mod frames;
pub mod objects;

pub use self::event_data::*;
pub use self::frames::*;
pub use self::objects::*;

/// The service's wire format, handed once to the adapters: the repositories store each
/// event's data as [`event_data`] writes it, and the hub writes each frame once, as
/// [`event_frame`] and [`typing_frame`] do.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonWire;

impl chat_adapters::Wire for JsonWire {
    fn event_data(&self, event: &chat_domain::events::DomainEvent) -> String {
        event_data(event)
    }

    fn event_frame(&self, event: &chat_domain::events::RecordedEvent) -> String {
        event_frame(event)
    }

    fn typing_frame(&self, typing: &chat_domain::events::Typing) -> String {
        typing_frame(typing)
    }
}

#[cfg(test)]
mod tests;
