//! The admins' consoles connected to this instance: presence is told to the team when an
//! admin's first console connects here, and when their last one has been closed for the
//! grace period (a reconnect within it changes nothing).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_domain::ids::AdminId;
use chat_domain::usecases::Team;

use crate::live::Live;

/// The consoles of each admin on this instance.
#[derive(Clone)]
pub struct Consoles {
    open: Arc<Mutex<HashMap<AdminId, usize>>>,
    team: Team<Live>,
    grace: Duration,
}

impl std::fmt::Debug for Consoles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consoles")
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

/// One open console; dropping it closes it.
#[derive(Debug)]
pub struct Console {
    consoles: Consoles,
    admin: AdminId,
}

impl Consoles {
    /// No console yet; an admin goes offline `grace` after their last one closed.
    #[must_use]
    pub fn new(team: Team<Live>, grace: Duration) -> Self {
        Self {
            open: Arc::default(),
            team,
            grace,
        }
    }

    fn count(&self, admin: AdminId) -> usize {
        self.open
            .lock()
            .expect("consoles lock")
            .get(&admin)
            .copied()
            .unwrap_or(0)
    }

    /// A console of `admin` opened here: the first one makes them present (once that is
    /// recorded, so that the admins list shows it as soon as the socket is open).
    pub async fn opened(&self, admin: AdminId) -> Console {
        let first = {
            let mut open = self.open.lock().expect("consoles lock");
            let count = open.entry(admin).or_default();
            *count += 1;
            *count == 1
        };
        if first {
            if let Err(err) = self.team.console(admin, true).await {
                tracing::warn!(error = %err, "could not record a console; the next heartbeat tells");
            }
        }
        Console {
            consoles: self.clone(),
            admin,
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let last = {
            let mut open = self.consoles.open.lock().expect("consoles lock");
            let count = open.entry(self.admin).or_default();
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.admin);
                true
            } else {
                false
            }
        };
        if !last {
            return;
        }
        let (consoles, admin) = (self.consoles.clone(), self.admin);
        actix_web::rt::spawn(async move {
            tokio::time::sleep(consoles.grace).await;
            if consoles.count(admin) > 0 {
                return;
            }
            if let Err(err) = consoles.team.console(admin, false).await {
                tracing::warn!(error = %err, "could not record a closed console");
            }
        });
    }
}
