//! Tokens in PostgreSQL, stored as SHA-256 hashes only.

use async_trait::async_trait;
use chat_domain::ids::{AdminId, ApiKeyId, StoreId};
use chat_domain::ports::TokenStore;
use chat_domain::values::{Token, TOKEN_CHARS};
use chat_domain::{Principal, RepositoryError};
use diesel::prelude::*;
use rand::distributions::{Alphanumeric, DistString};
use sha2::{Digest, Sha256};

use crate::db::{db_error, pg_notify};
use crate::schema::tokens;
use crate::Postgres;

/// The stored form of a token (SHA-256). Tokens are 64 random characters, so a plain hash is enough: there
/// is nothing to guess that a slow hash would protect.
#[must_use]
pub fn token_hash(token: &Token) -> Vec<u8> {
    Sha256::digest(token.expose().as_bytes()).to_vec()
}

/// The channel on which revoked token hashes are announced.
pub(crate) const REVOCATIONS_CHANNEL: &str = "chat_revocations";

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
        self.db
            .run(move |conn| {
                conn.transaction(|conn| {
                    let revoked = diesel::update(tokens::table)
                        .filter(tokens::token_hash.eq(&hash))
                        .filter(tokens::revoked_at.is_null())
                        .set(tokens::revoked_at.eq(diesel::dsl::now))
                        .execute(conn)?;
                    if revoked > 0 {
                        // Every instance closes the token's live connections at commit.
                        diesel::select(pg_notify(REVOCATIONS_CHANNEL, hex::encode(&hash)))
                            .execute(conn)?;
                    }
                    Ok(revoked > 0)
                })
                .map_err(db_error)
            })
            .await
    }
}
