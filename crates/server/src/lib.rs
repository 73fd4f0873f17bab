//! The support chat service: the HTTP API over the domain's use cases, wired to the
//! PostgreSQL adapters, and the management command line. `main.rs` only parses arguments.

pub mod app;
pub mod cli;
pub mod demo;
pub mod http;
pub mod live;
pub mod metrics;
pub mod pages;
pub mod realtime;
pub mod settings;
pub mod startup;
pub mod state;
pub mod wire;

pub use settings::Settings;
pub use startup::Application;
pub use state::AppState;
