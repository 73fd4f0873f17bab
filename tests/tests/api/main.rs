//! The service end to end, in one test binary: the real server on port 0 with a fresh
//! database per test, driven over HTTP and WebSocket as a client would. A module per area.

mod admin;
mod auth;
mod browser;
mod canned;
mod chaos;
mod conflicts;
mod conventions;
mod errors;
mod files;
mod hostile;
mod openapi;
mod operations;
mod public;
mod races;
mod realtime;
mod routing;
mod search;
mod store;
mod team;
mod text;
mod webhooks;
