//! The adapters against a real PostgreSQL, in one test binary: the repositories, the public
//! API's conversations, the migrations, and the event feed's failure modes.
//!
//! Every test has a database of its own, cloned from a migrated template and dropped
//! afterwards (see `chat_adapters::testing`); needs `DATABASE_URL`.

mod common;
mod conversations;
mod migrations;
mod postgres;
mod sequencer;
mod team;
