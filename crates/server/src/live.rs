//! The production set of ports: which adapter stands behind each port of the domain.

use chat_adapters::{Commits, Postgres};
use chat_domain::ports::{Ports, SystemClock};

/// The production set of adapters: PostgreSQL, the event sequencer, the system clock.
#[derive(Debug)]
pub struct Live;

impl Ports for Live {
    type Sessions = Postgres;
    type Messages = Postgres;
    type Directory = Postgres;
    type Tokens = Postgres;
    type Feed = Postgres;
    type Notifier = Commits;
    type Typing = Postgres;
    type Team = Postgres;
    type Clock = SystemClock;
}
