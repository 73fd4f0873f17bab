//! Stores, admins and API keys in PostgreSQL.

use async_trait::async_trait;
use chat_domain::ids::{AdminId, StoreId};
use chat_domain::model::{Admin, AdminProfile, ApiKey, Store, StoreProfile};
use chat_domain::ports::DirectoryRepository;
use chat_domain::values::{Name, STORE_KEY_CHARS};
use chat_domain::RepositoryError;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use rand::distributions::{Alphanumeric, DistString};

use crate::db::{db_error, is_unique_violation};
use crate::rows::{AdminRow, ApiKeyRow, StoreRow};
use crate::schema::{admins, api_keys, stores};
use crate::Postgres;

/// A new random public key for a store.
fn store_key() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), STORE_KEY_CHARS)
}

#[derive(QueryableByName)]
struct PutStoreRow {
    #[diesel(embed)]
    store: StoreRow,
    #[diesel(sql_type = Bool)]
    inserted: bool,
}

#[async_trait]
impl DirectoryRepository for Postgres {
    async fn admin(&self, id: AdminId) -> Result<Option<Admin>, RepositoryError> {
        let known = self
            .admins
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned();
        if let Some(admin) = known {
            return Ok(Some(admin));
        }
        let found = self
            .db
            .run(move |conn| {
                admins::table
                    .find(id.get())
                    .select(AdminRow::as_select())
                    .first(conn)
                    .optional()
                    .map_err(db_error)?
                    .map(Admin::try_from)
                    .transpose()
            })
            .await?;
        if let Some(admin) = &found {
            self.admins
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, admin.clone());
        }
        Ok(found)
    }

    async fn admins(&self) -> Result<Vec<Admin>, RepositoryError> {
        self.db
            .run(|conn| {
                admins::table
                    .order((admins::name.asc(), admins::id.asc()))
                    .select(AdminRow::as_select())
                    .load(conn)
                    .map_err(db_error)?
                    .into_iter()
                    .map(Admin::try_from)
                    .collect()
            })
            .await
    }

    async fn store(&self, id: StoreId) -> Result<Option<Store>, RepositoryError> {
        self.db
            .run(move |conn| {
                stores::table
                    .find(id.get())
                    .select(StoreRow::as_select())
                    .first(conn)
                    .optional()
                    .map_err(db_error)?
                    .map(Store::try_from)
                    .transpose()
            })
            .await
    }

    async fn create_admin(&self, profile: AdminProfile) -> Result<Admin, RepositoryError> {
        self.db
            .run(move |conn| {
                diesel::insert_into(admins::table)
                    .values((
                        admins::name.eq(profile.name.as_str()),
                        admins::email.eq(profile.email.as_str()),
                        admins::max_sessions
                            .eq(i32::try_from(profile.max_sessions.get()).unwrap_or(i32::MAX)),
                    ))
                    .returning(AdminRow::as_returning())
                    .get_result(conn)
                    .map_err(|err| {
                        if is_unique_violation(&err) {
                            RepositoryError::Duplicate("email")
                        } else {
                            db_error(err)
                        }
                    })
                    .and_then(Admin::try_from)
            })
            .await
    }

    async fn put_store(&self, profile: StoreProfile) -> Result<(Store, bool), RepositoryError> {
        self.db
            .run(move |conn| {
                // One statement, so that concurrent puts of a new store cannot both insert;
                // `xmax = 0` tells an inserted row from an updated one.
                let row: PutStoreRow = diesel::sql_query(
                    "INSERT INTO stores (id, name, email, logo_url, public_key) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, \
                       email = EXCLUDED.email, logo_url = EXCLUDED.logo_url, updated = now() \
                     RETURNING id, name, email, logo_url, public_key, (xmax = 0) AS inserted",
                )
                .bind::<BigInt, _>(profile.id.get())
                .bind::<Text, _>(profile.name.as_str())
                .bind::<Text, _>(profile.email.as_str())
                .bind::<Text, _>(profile.logo_url.as_str())
                .bind::<Text, _>(store_key())
                .get_result(conn)
                .map_err(db_error)?;
                Ok((Store::try_from(row.store)?, row.inserted))
            })
            .await
    }

    async fn create_api_key(&self, name: Name) -> Result<ApiKey, RepositoryError> {
        self.db
            .run(move |conn| {
                diesel::insert_into(api_keys::table)
                    .values(api_keys::name.eq(name.as_str()))
                    .returning(ApiKeyRow::as_returning())
                    .get_result(conn)
                    .map_err(db_error)
                    .and_then(ApiKey::try_from)
            })
            .await
    }
}

impl Postgres {
    /// Whether any admin exists (a fresh installation has none).
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] or [`RepositoryError::Internal`].
    pub async fn has_admins(&self) -> Result<bool, RepositoryError> {
        self.db
            .run(|conn| {
                diesel::select(diesel::dsl::exists(admins::table.select(admins::id)))
                    .get_result(conn)
                    .map_err(db_error)
            })
            .await
    }

    /// The admin whose email is `email`, if any.
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] or [`RepositoryError::Internal`].
    pub async fn admin_by_email(
        &self,
        email: &str,
    ) -> Result<Option<chat_domain::ids::AdminId>, RepositoryError> {
        let email = email.to_owned();
        let id: Option<i64> = self
            .db
            .run(move |conn| {
                admins::table
                    .filter(admins::email.eq(email))
                    .select(admins::id)
                    .first(conn)
                    .optional()
                    .map_err(db_error)
            })
            .await?;
        id.map(|id| chat_domain::ids::AdminId::parse(id).map_err(RepositoryError::internal))
            .transpose()
    }
}
