//! Tokens in PostgreSQL, stored as SHA-256 hashes only.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use chat_domain::ids::{AdminId, ApiKeyId, StoreId};
use chat_domain::ports::TokenStore;
use chat_domain::values::{Token, TOKEN_CHARS};
use chat_domain::{Principal, RepositoryError};
use diesel::prelude::*;
use rand::distributions::{Alphanumeric, DistString};
use sha2::{Digest, Sha256};

use crate::db::{db_error, pg_notify};
use crate::listen::REVOCATIONS_CHANNEL;
use crate::schema::tokens;
use crate::Postgres;

/// The stored form of a token (SHA-256). Tokens are 64 random characters, so a plain hash is enough: there
/// is nothing to guess that a slow hash would protect.
#[must_use]
pub fn token_hash(token: &Token) -> Vec<u8> {
    Sha256::digest(token.expose().as_bytes()).to_vec()
}

/// How long a revocation waits for every instance to apply it before it is answered anyway
/// (an instance that is frozen, not gone, cannot answer).
const APPLIED_WITHIN: Duration = Duration::from_secs(2);
/// How often the revoking instance looks whether every instance has applied it.
const APPLIED_POLL: Duration = Duration::from_millis(2);

/// A revocation as announced: its number and the token's hash.
pub(crate) fn revocation_note(number: i64, hash: &[u8]) -> String {
    format!("{number}:{}", hex::encode(hash))
}

/// Reads an announced revocation back.
pub(crate) fn parse_revocation_note(note: &str) -> Option<(i64, Vec<u8>)> {
    let (number, hash) = note.split_once(':')?;
    Some((number.parse().ok()?, hex::decode(hash).ok()?))
}

#[derive(QueryableByName)]
struct Behind {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    behind: i64,
}

fn mint() -> Token {
    let raw = Alphanumeric.sample_string(&mut rand::thread_rng(), TOKEN_CHARS);
    Token::parse(&raw).expect("64 alphanumerics make a valid token")
}

fn owner(
    admin: Option<i64>,
    store: Option<i64>,
    api_key: Option<i64>,
) -> Result<Principal, RepositoryError> {
    let invalid = |e| RepositoryError::internal(format!("invalid token owner: {e}"));
    match (admin, store, api_key) {
        (Some(id), None, None) => Ok(Principal::Admin(AdminId::parse(id).map_err(invalid)?)),
        (None, Some(id), None) => Ok(Principal::Store(StoreId::parse(id).map_err(invalid)?)),
        (None, None, Some(id)) => Ok(Principal::ApiKey(ApiKeyId::parse(id).map_err(invalid)?)),
        _ => Err(RepositoryError::internal(
            "a token must have exactly one owner",
        )),
    }
}

#[async_trait]
impl TokenStore for Postgres {
    async fn authenticate(&self, token: &Token) -> Result<Option<Principal>, RepositoryError> {
        let hash = token_hash(token);
        if let Some(owner) = self.tokens.get(&hash) {
            return Ok(Some(owner));
        }
        let ticket = self.tokens.ticket();
        let lookup = hash.clone();
        let owner = self
            .db
            .run(move |conn| {
                tokens::table
                    .filter(tokens::token_hash.eq(lookup))
                    .filter(tokens::revoked_at.is_null())
                    .select((tokens::admin_id, tokens::store_id, tokens::api_key_id))
                    .first::<(Option<i64>, Option<i64>, Option<i64>)>(conn)
                    .optional()
                    .map_err(db_error)?
                    .map(|(admin, store, key)| owner(admin, store, key))
                    .transpose()
            })
            .await?;
        if let Some(owner) = owner {
            self.tokens.put(ticket, hash, owner);
        }
        Ok(owner)
    }

    async fn issue(&self, owner: Principal) -> Result<Token, RepositoryError> {
        let token = mint();
        let hash = token_hash(&token);
        let (admin, store, key) = match owner {
            Principal::Admin(id) => (Some(id.get()), None, None),
            Principal::Store(id) => (None, Some(id.get()), None),
            Principal::ApiKey(id) => (None, None, Some(id.get())),
        };
        self.db
            .run(move |conn| {
                diesel::insert_into(tokens::table)
                    .values((
                        tokens::token_hash.eq(hash),
                        tokens::admin_id.eq(admin),
                        tokens::store_id.eq(store),
                        tokens::api_key_id.eq(key),
                    ))
                    .execute(conn)
                    .map_err(db_error)
            })
            .await?;
        Ok(token)
    }

    async fn revoke(&self, token: &Token) -> Result<bool, RepositoryError> {
        let hash = token_hash(token);
        // Here at once; on the other instances when the announcement arrives.
        self.tokens.forget(&hash);
        let number = self
            .db
            .run(move |conn| {
                conn.transaction(|conn| {
                    let numbers: Vec<Option<i64>> = diesel::update(tokens::table)
                        .filter(tokens::token_hash.eq(&hash))
                        .filter(tokens::revoked_at.is_null())
                        .set((
                            tokens::revoked_at.eq(diesel::dsl::now),
                            tokens::revocation.eq(diesel::dsl::sql::<
                                diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
                            >(
                                "nextval('token_revocations')"
                            )),
                        ))
                        .returning(tokens::revocation)
                        .get_results(conn)?;
                    let number = numbers.into_iter().flatten().max();
                    if let Some(number) = number {
                        // Every instance forgets the token and closes its live connections
                        // when this commits.
                        diesel::select(pg_notify(
                            REVOCATIONS_CHANNEL,
                            revocation_note(number, &hash),
                        ))
                        .execute(conn)?;
                    }
                    Ok(number)
                })
                .map_err(db_error)
            })
            .await?;
        let Some(number) = number else {
            return Ok(false);
        };
        self.await_applied(number).await?;
        Ok(true)
    }
}

impl Postgres {
    /// Waits until every relay that was listening when revocation `number` committed has
    /// applied it (relays that connect later start with no token remembered), so that no
    /// instance accepts the token once the revocation is answered. Gives up after
    /// [`APPLIED_WITHIN`], for an instance that is frozen rather than gone.
    async fn await_applied(&self, number: i64) -> Result<(), RepositoryError> {
        let started = Instant::now();
        loop {
            let behind = self
                .db
                .run(move |conn| {
                    diesel::sql_query(
                        "SELECT count(*) AS behind FROM pg_stat_activity a \
                         LEFT JOIN relay_listeners l ON l.pid = a.pid \
                         WHERE a.datname = current_database() AND a.application_name = $1 \
                         AND COALESCE(l.revocations_applied, 0) < $2",
                    )
                    .bind::<diesel::sql_types::Text, _>(crate::listen::APPLICATION_NAME)
                    .bind::<diesel::sql_types::BigInt, _>(number)
                    .get_result::<Behind>(conn)
                    .map_err(db_error)
                })
                .await?
                .behind;
            if behind == 0 {
                return Ok(());
            }
            if started.elapsed() > APPLIED_WITHIN {
                tracing::warn!(
                    behind,
                    "a revocation was not confirmed by every instance in time"
                );
                return Ok(());
            }
            tokio::time::sleep(APPLIED_POLL).await;
        }
    }
}
