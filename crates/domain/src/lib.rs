//! The domain of the support chat service: stores open chat sessions, admins claim them and
//! answer, integrations read every conversation.
//!
//! - [`model`]: the entities and how the API shows them.
//! - [`session`]: the session state machine, as pure transitions returning domain events.
//! - [`team`]: presence, capacity and routing, as pure rules.
//! - [`webhook`]: webhook endpoints and the rules of their deliveries.
//! - [`upload`]: uploaded files: the types taken, and who may read them.
//! - [`events`]: the events and who receives them.
//! - [`ports`]: what the domain needs from the outside (repositories, tokens, the event feed,
//!   the notifier, the clock), with their error contracts.
//! - [`usecases`]: the operations of the service, generic over the ports.
//!
//! This crate knows no web framework and no database.

pub mod error;
pub mod events;
pub mod ids;
pub mod model;
pub mod ports;
pub mod principal;
pub mod session;
pub mod team;
pub mod upload;
pub mod usecases;
pub mod values;
pub mod webhook;

/// Fixtures and the ports made of mocks, for the tests of this crate and of services that reuse
/// it (feature `mocks`).
#[cfg(any(test, feature = "mocks"))]
pub mod testing;

pub use error::{ChatError, RepositoryError, ValidationError};
pub use principal::Principal;
/// What the ports' signatures name: a service implementing them needs no other version.
pub use {async_trait::async_trait, chrono};
