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

#[cfg(test)]
mod tests;
