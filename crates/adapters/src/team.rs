//! The team in PostgreSQL: presence across instances, capacity, and routing passes.
//!
//! Each instance has a random id and a row in `instances` that it refreshes every heartbeat;
//! `admin_sockets` says which instance holds a console of which admin. An admin's presence is
//! decided on their locked `admins` row (the domain's rule, handed in), and stored with the
//! `admin_presence` event that tells it. Locks are always taken admin rows first, sessions
//! second, so that claims, transfers and routing passes cannot deadlock.

use async_trait::async_trait;
use chat_domain::events::DomainEvent;
use chat_domain::ids::{AdminId, StoreId};
use chat_domain::model::{Admin, SessionStatus};
use chat_domain::ports::{Planner, PresenceRule, TeamRepository};
use chat_domain::team::{Availability, Candidate, Capacity, Load, Member, Presence};
use chat_domain::RepositoryError;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::{Array, BigInt, Bool, Int4, Nullable, Text, Timestamptz};
use std::sync::atomic::Ordering;

use crate::db::{abort, db_error, repository_error};
use crate::feed::record;
use crate::rows::{details, AdminRow, SessionRow, StoreRow};
use crate::schema::{admin_sockets, admins, instances, sessions, stores};
use crate::{Postgres, Wire};

/// The advisory lock that serializes routing passes across instances.
const ROUTING_LOCK: i64 = 0x0052_4f55_5445; // "ROUTE"

/// A random id for this instance.
pub(crate) fn instance_id() -> i64 {
    use rand::Rng;
    rand::thread_rng().gen_range(1..i64::MAX)
}

fn capacity(raw: i32) -> Result<Capacity, DieselError> {
    Capacity::parse(i64::from(raw)).map_err(|e| abort(RepositoryError::internal(e)))
}

fn presence(raw: &str) -> Result<Presence, DieselError> {
    Presence::parse(raw).map_err(|e| abort(RepositoryError::internal(e)))
}

/// How many claimed sessions the admin holds.
fn active_sessions(conn: &mut PgConnection, admin: i64) -> Result<i64, DieselError> {
    sessions::table
        .filter(sessions::admin_id.eq(admin))
        .filter(sessions::status.eq(SessionStatus::Claimed.as_str()))
        .count()
        .get_result(conn)
}

/// Locks the admin `id` (until the transaction ends) and reads their load after the lock: it
/// counts every claim committed before it. `None` when there is no such admin.
pub(crate) fn lock_load(conn: &mut PgConnection, id: i64) -> Result<Option<Load>, DieselError> {
    let row: Option<(AdminRow, i32)> = admins::table
        .find(id)
        .select((AdminRow::as_select(), admins::max_sessions))
        .for_update()
        .first(conn)
        .optional()?;
    let Some((admin, max)) = row else {
        return Ok(None);
    };
    // A statement of its own, after the lock: it sees every claim committed before it.
    Ok(Some(Load {
        admin: Admin::try_from(admin).map_err(abort)?,
        active_sessions: active_sessions(conn, id)?,
        max_sessions: capacity(max)?,
    }))
}

fn load_of(conn: &mut PgConnection, id: i64) -> Result<Option<Load>, DieselError> {
    let row: Option<(AdminRow, i32)> = admins::table
        .find(id)
        .select((AdminRow::as_select(), admins::max_sessions))
        .first(conn)
        .optional()?;
    let Some((admin, max)) = row else {
        return Ok(None);
    };
    Ok(Some(Load {
        admin: Admin::try_from(admin).map_err(abort)?,
        active_sessions: active_sessions(conn, id)?,
        max_sessions: capacity(max)?,
    }))
}

/// Says that this instance is alive (its row is what its consoles refer to).
fn alive(conn: &mut PgConnection, instance: i64) -> Result<(), DieselError> {
    diesel::insert_into(instances::table)
        .values(instances::id.eq(instance))
        .on_conflict(instances::id)
        .do_update()
        .set(instances::heard_at.eq(diesel::dsl::now))
        .execute(conn)?;
    Ok(())
}

/// Decides the presence of the admin, whose row the caller locked, and records its event
/// when it moved. Returns the presence and the events.
fn settle(
    conn: &mut PgConnection,
    wire: &dyn Wire,
    admin: i64,
    announced: &str,
    away: bool,
    rule: PresenceRule,
    now: DateTime<Utc>,
) -> Result<(Presence, Vec<DomainEvent>), DieselError> {
    let announced = presence(announced)?;
    let connected: bool = diesel::select(diesel::dsl::exists(
        admin_sockets::table.filter(admin_sockets::admin_id.eq(admin)),
    ))
    .get_result(conn)?;
    let id = AdminId::parse(admin).map_err(|e| abort(RepositoryError::internal(e)))?;
    let Some(event) = rule(id, announced, connected, away) else {
        return Ok((announced, Vec::new()));
    };
    let DomainEvent::AdminPresence { status, .. } = &event else {
        return Err(abort(RepositoryError::internal(
            "the presence rule returned another event",
        )));
    };
    let status = *status;
    diesel::update(admins::table.find(admin))
        .set(admins::presence.eq(status.as_str()))
        .execute(conn)?;
    let events = vec![event];
    record(conn, wire, &events, now)?;
    Ok((status, events))
}

/// Locks the admin's row: their announced presence and whether they said they are away.
fn lock_admin(conn: &mut PgConnection, admin: i64) -> Result<Option<(String, bool)>, DieselError> {
    admins::table
        .find(admin)
        .select((admins::presence, admins::away))
        .for_update()
        .first(conn)
        .optional()
}

#[derive(QueryableByName)]
struct MemberRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Int4)]
    max_sessions: i32,
    #[diesel(sql_type = Text)]
    presence: String,
    #[diesel(sql_type = BigInt)]
    active: i64,
}

/// Whether a routing pass may assign anything: a session waits and an online admin has room.
const DUE: &str = "\
SELECT EXISTS (SELECT 1 FROM sessions WHERE status = 'open')
   AND EXISTS (SELECT 1 FROM admins a
                WHERE a.presence = 'online'
                  AND (a.max_sessions = 0
                       OR a.max_sessions > (SELECT count(*) FROM sessions s
                                             WHERE s.admin_id = a.id
                                               AND s.status = 'claimed'))) AS due";

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = Bool)]
    due: bool,
}

#[derive(QueryableByName)]
struct PositionRow {
    #[diesel(sql_type = Bool)]
    online: bool,
    #[diesel(sql_type = Nullable<BigInt>)]
    position: Option<i64>,
}

fn assign_waiting(
    conn: &mut PgConnection,
    wire: &dyn Wire,
    plan: Planner,
    now: DateTime<Utc>,
) -> Result<Vec<DomainEvent>, DieselError> {
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
        .bind::<BigInt, _>(ROUTING_LOCK)
        .execute(conn)?;
    let online: Vec<(AdminRow, i32, Option<DateTime<Utc>>)> = admins::table
        .filter(admins::presence.eq(Presence::Online.as_str()))
        .order(admins::id)
        .select((
            AdminRow::as_select(),
            admins::max_sessions,
            admins::last_assigned,
        ))
        .for_update()
        .load(conn)?;
    if online.is_empty() {
        return Ok(Vec::new());
    }
    // Their loads, counted in one statement after their rows were locked.
    let ids: Vec<i64> = online.iter().map(|(row, ..)| row.id).collect();
    let loads: std::collections::HashMap<i64, i64> = sessions::table
        .filter(sessions::status.eq(SessionStatus::Claimed.as_str()))
        .filter(sessions::admin_id.eq_any(&ids))
        .group_by(sessions::admin_id)
        .select((
            sessions::admin_id.assume_not_null(),
            diesel::dsl::count_star(),
        ))
        .load::<(i64, i64)>(conn)?
        .into_iter()
        .collect();
    let mut candidates = Vec::with_capacity(online.len());
    let mut room: i64 = 0;
    for (row, max, last_assigned) in online {
        let active = loads.get(&row.id).copied().unwrap_or(0);
        let max_sessions = capacity(max)?;
        room = room.saturating_add(max_sessions.room(active).unwrap_or(i64::MAX));
        candidates.push(Candidate {
            load: Load {
                admin: Admin::try_from(row).map_err(abort)?,
                active_sessions: active,
                max_sessions,
            },
            last_assigned,
        });
    }
    if room == 0 {
        return Ok(Vec::new());
    }
    // The oldest waiting first. One being changed now (a message being stored, a close) is
    // waited for: its change is short, and skipping it would leave it waiting for the next
    // pass. Admin rows are locked already, so this wait cannot close a cycle.
    let waiting: Vec<(SessionRow, StoreRow)> = sessions::table
        .inner_join(stores::table)
        .filter(sessions::status.eq(SessionStatus::Open.as_str()))
        .order((sessions::queued_at.asc().nulls_first(), sessions::id.asc()))
        .limit(room.min(1_000))
        .select((SessionRow::as_select(), StoreRow::as_select()))
        .for_no_key_update()
        .load(conn)?;
    let waiting = waiting
        .into_iter()
        .map(|(session, store)| details((session, store, None)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(abort)?;
    let assignments = plan(candidates, &waiting, now);
    if assignments.is_empty() {
        return Ok(Vec::new());
    }
    // Written in two statements however many there are: the sessions, then their admins.
    let (mut ids, mut statuses, mut holders, mut ats) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut events = Vec::new();
    for claim in assignments {
        let after = claim.after_state();
        let admin = after
            .admin_id
            .ok_or_else(|| abort(RepositoryError::internal("an assignment without an admin")))?;
        ids.push(claim.session_id.get());
        statuses.push(after.status.as_str());
        holders.push(admin.get());
        ats.push(claim.at());
        events.extend(claim.events);
    }
    diesel::sql_query(
        "UPDATE sessions s \
            SET status = a.status, admin_id = a.admin, updated = a.at, queued_at = NULL \
           FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::timestamptz[]) \
                AS a(id, status, admin, at) \
          WHERE s.id = a.id",
    )
    .bind::<Array<BigInt>, _>(&ids)
    .bind::<Array<Text>, _>(&statuses)
    .bind::<Array<BigInt>, _>(&holders)
    .bind::<Array<Timestamptz>, _>(&ats)
    .execute(conn)?;
    diesel::sql_query(
        "UPDATE admins d SET last_assigned = a.at \
           FROM (SELECT admin, max(at) AS at \
                   FROM unnest($1::bigint[], $2::timestamptz[]) AS u(admin, at) \
                  GROUP BY admin) AS a \
          WHERE d.id = a.admin",
    )
    .bind::<Array<BigInt>, _>(&holders)
    .bind::<Array<Timestamptz>, _>(&ats)
    .execute(conn)?;
    record(conn, wire, &events, now)?;
    Ok(events)
}

#[async_trait]
impl TeamRepository for Postgres {
    async fn members(&self) -> Result<Vec<Member>, RepositoryError> {
        self.db
            .run(|conn| {
                let rows: Vec<MemberRow> = diesel::sql_query(
                    "SELECT a.id, a.name, a.email, a.max_sessions, a.presence, \
                            (SELECT count(*) FROM sessions s \
                              WHERE s.admin_id = a.id AND s.status = 'claimed') AS active \
                       FROM admins a ORDER BY a.name, a.id",
                )
                .load(conn)
                .map_err(db_error)?;
                rows.into_iter()
                    .map(|row| {
                        Ok(Member {
                            load: Load {
                                admin: Admin::try_from(AdminRow {
                                    id: row.id,
                                    name: row.name,
                                    email: row.email,
                                })?,
                                active_sessions: row.active,
                                max_sessions: capacity(row.max_sessions)
                                    .map_err(repository_error)?,
                            },
                            status: presence(&row.presence).map_err(repository_error)?,
                        })
                    })
                    .collect()
            })
            .await
    }

    async fn set_capacity(
        &self,
        id: AdminId,
        max_sessions: Capacity,
    ) -> Result<Option<Load>, RepositoryError> {
        self.db
            .run(move |conn| {
                let max = i32::try_from(max_sessions.get()).unwrap_or(i32::MAX);
                let changed = diesel::update(admins::table.find(id.get()))
                    .set(admins::max_sessions.eq(max))
                    .execute(conn)
                    .map_err(db_error)?;
                if changed == 0 {
                    return Ok(None);
                }
                load_of(conn, id.get()).map_err(repository_error)
            })
            .await
    }

    async fn console(
        &self,
        admin: AdminId,
        connected: bool,
        rule: PresenceRule,
        now: DateTime<Utc>,
    ) -> Result<Vec<DomainEvent>, RepositoryError> {
        let (wire, instance) = (self.wire.clone(), self.instance);
        self.db
            .run(move |conn| {
                conn.transaction(|conn| {
                    alive(conn, instance)?;
                    let Some((announced, away)) = lock_admin(conn, admin.get())? else {
                        return Ok(Vec::new());
                    };
                    if connected {
                        diesel::insert_into(admin_sockets::table)
                            .values((
                                admin_sockets::instance_id.eq(instance),
                                admin_sockets::admin_id.eq(admin.get()),
                            ))
                            .on_conflict_do_nothing()
                            .execute(conn)?;
                    } else {
                        diesel::delete(
                            admin_sockets::table
                                .filter(admin_sockets::instance_id.eq(instance))
                                .filter(admin_sockets::admin_id.eq(admin.get())),
                        )
                        .execute(conn)?;
                    }
                    let (_, events) =
                        settle(conn, &*wire, admin.get(), &announced, away, rule, now)?;
                    Ok(events)
                })
                .map_err(repository_error)
            })
            .await
    }

    async fn set_away(
        &self,
        admin: AdminId,
        away: bool,
        rule: PresenceRule,
        now: DateTime<Utc>,
    ) -> Result<Option<(Presence, Vec<DomainEvent>)>, RepositoryError> {
        let wire = self.wire.clone();
        self.db
            .run(move |conn| {
                conn.transaction(|conn| {
                    let Some((announced, _)) = lock_admin(conn, admin.get())? else {
                        return Ok(None);
                    };
                    diesel::update(admins::table.find(admin.get()))
                        .set(admins::away.eq(away))
                        .execute(conn)?;
                    settle(conn, &*wire, admin.get(), &announced, away, rule, now).map(Some)
                })
                .map_err(repository_error)
            })
            .await
    }

    async fn heartbeat(
        &self,
        stale_after: std::time::Duration,
        rule: PresenceRule,
        now: DateTime<Utc>,
    ) -> Result<Vec<DomainEvent>, RepositoryError> {
        let (wire, instance) = (self.wire.clone(), self.instance);
        let stale_ms = i64::try_from(stale_after.as_millis()).unwrap_or(i64::MAX);
        self.db
            .run(move |conn| {
                alive(conn, instance).map_err(db_error)?;
                // Instances gone silent take their consoles with them.
                diesel::sql_query(
                    "DELETE FROM instances \
                      WHERE id <> $1 AND heard_at < now() - make_interval(secs => $2 / 1000.0)",
                )
                .bind::<BigInt, _>(instance)
                .bind::<BigInt, _>(stale_ms)
                .execute(conn)
                .map_err(db_error)?;
                // Anyone announced present with no console left anywhere.
                let gone: Vec<i64> = admins::table
                    .filter(admins::presence.ne(Presence::Offline.as_str()))
                    .filter(diesel::dsl::not(diesel::dsl::exists(
                        admin_sockets::table.filter(admin_sockets::admin_id.eq(admins::id)),
                    )))
                    .select(admins::id)
                    .load(conn)
                    .map_err(db_error)?;
                let mut events = Vec::new();
                for admin in gone {
                    let told = conn
                        .transaction(|conn| {
                            let Some((announced, away)) = lock_admin(conn, admin)? else {
                                return Ok(Vec::new());
                            };
                            settle(conn, &*wire, admin, &announced, away, rule, now)
                                .map(|(_, events)| events)
                        })
                        .map_err(repository_error)?;
                    events.extend(told);
                }
                Ok(events)
            })
            .await
    }

    async fn assign_waiting(
        &self,
        plan: Planner,
        now: DateTime<Utc>,
    ) -> Result<Vec<DomainEvent>, RepositoryError> {
        // A pass of this instance that has not started yet will see the change that asks for
        // this one (it committed before): no need for two.
        if self.routing_queued.swap(true, Ordering::SeqCst) {
            return Ok(Vec::new());
        }
        let (wire, queued) = (self.wire.clone(), self.routing_queued.clone());
        let result = self
            .db
            .run(move |conn| {
                // From here on this pass sees every change committed before now: a change
                // committed from now on queues a pass of its own.
                queued.store(false, Ordering::SeqCst);
                // A look without a lock first: most changes leave nothing to route (no one
                // waits, or no one has room), and a pass locks every online admin.
                let due = diesel::sql_query(DUE)
                    .get_result::<Due>(conn)
                    .map_err(db_error)?;
                if !due.due {
                    return Ok(Vec::new());
                }
                conn.transaction(|conn| assign_waiting(conn, &*wire, plan, now))
                    .map_err(repository_error)
            })
            .await;
        if result.is_err() {
            // It may have failed before starting: the next change or heartbeat tries again.
            self.routing_queued.store(false, Ordering::SeqCst);
        }
        result
    }

    async fn availability(&self, store: StoreId) -> Result<Availability, RepositoryError> {
        self.db
            .run(move |conn| {
                let row: PositionRow = diesel::sql_query(
                    "SELECT EXISTS (SELECT 1 FROM admins WHERE presence = 'online') AS online, \
                            (SELECT count(*) FROM sessions w \
                              WHERE w.status = 'open' \
                                AND (w.queued_at, w.id) <= (mine.queued_at, mine.id)) AS position \
                       FROM (SELECT 1) one \
                       LEFT JOIN sessions mine \
                         ON mine.store_id = $1 AND mine.status = 'open'",
                )
                .bind::<BigInt, _>(store.get())
                .get_result(conn)
                .map_err(db_error)?;
                Ok(Availability {
                    online: row.online,
                    queue_position: row
                        .position
                        .filter(|p| *p > 0)
                        .and_then(|p| u64::try_from(p).ok()),
                })
            })
            .await
    }
}
