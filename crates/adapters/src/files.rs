//! Uploaded files: their bytes in an object store (a local directory, or any S3-compatible
//! bucket, through the `object_store` crate), what is known of them in PostgreSQL.
//!
//! A file's bytes are written before its row: a failure between the two leaves bytes nobody
//! knows (removed by no one, but never served); a row always has its bytes.

use std::sync::Arc;

use async_trait::async_trait;
use chat_domain::ids::{AdminId, SessionId, StoreId};
use chat_domain::model::Participant;
use chat_domain::ports::FileStore;
use chat_domain::upload::{Attached, FileKey, StoredFile};
use chat_domain::RepositoryError;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use object_store::path::Path;
use object_store::ObjectStore;

use crate::db::db_error;
use crate::schema::files;
use crate::Database;

/// Where the bytes go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileBackend {
    /// A directory of this machine (one instance, or a shared volume).
    Local {
        /// The directory; made when missing.
        dir: std::path::PathBuf,
    },
    /// An S3-compatible bucket (several instances).
    S3 {
        /// The bucket.
        bucket: String,
        /// The endpoint, empty for AWS itself.
        endpoint: String,
        /// The region.
        region: String,
        /// The credentials (empty: from the environment, `AWS_ACCESS_KEY_ID`...).
        access_key_id: String,
        /// See `access_key_id`.
        secret_access_key: String,
        /// Whether the endpoint may be plain `http` (a test server).
        allow_http: bool,
    },
}

/// Files on an object store, known in PostgreSQL. The store is set up at its first use, so
/// that a process that never handles a file (a command of the command line) makes no
/// directory.
#[derive(Debug, Clone)]
pub struct Files {
    db: Database,
    backend: FileBackend,
    store: Arc<std::sync::OnceLock<Arc<dyn ObjectStore>>>,
}

fn corrupt(e: impl std::fmt::Display) -> RepositoryError {
    RepositoryError::internal(format!("invalid file row: {e}"))
}

fn unavailable(e: object_store::Error) -> RepositoryError {
    RepositoryError::unavailable(e)
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = files, check_for_backend(diesel::pg::Pg))]
struct FileRow {
    key: String,
    name: String,
    size: i64,
    content_type: String,
    uploader_type: String,
    uploader_id: i64,
    session_id: Option<i64>,
    private: bool,
    created: DateTime<Utc>,
}

impl TryFrom<FileRow> for StoredFile {
    type Error = RepositoryError;

    fn try_from(row: FileRow) -> Result<Self, Self::Error> {
        Ok(Self {
            key: FileKey::parse(&row.key).map_err(corrupt)?,
            name: row.name,
            size: u64::try_from(row.size).map_err(corrupt)?,
            content_type: row.content_type,
            uploader: match row.uploader_type.as_str() {
                "admin" => Participant::Admin(AdminId::parse(row.uploader_id).map_err(corrupt)?),
                "store" => Participant::Store(StoreId::parse(row.uploader_id).map_err(corrupt)?),
                other => return Err(corrupt(other)),
            },
            attached: row
                .session_id
                .map(|id| {
                    Ok::<_, RepositoryError>(Attached {
                        session: SessionId::parse(id).map_err(corrupt)?,
                        private: row.private,
                    })
                })
                .transpose()?,
            created: row.created,
        })
    }
}

fn new_key() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Files {
    /// Files in `backend`, known in `db`.
    ///
    /// # Errors
    /// When the backend's settings cannot work (an S3 setting the client refuses).
    pub fn new(db: Database, backend: &FileBackend) -> Result<Self, RepositoryError> {
        let files = Self {
            db,
            backend: backend.clone(),
            store: Arc::default(),
        };
        if let FileBackend::S3 { .. } = backend {
            // Checked now: no side effect.
            files.open()?;
        }
        Ok(files)
    }

    /// The object store, set up on first use.
    fn store(&self) -> Result<&Arc<dyn ObjectStore>, RepositoryError> {
        if let Some(store) = self.store.get() {
            return Ok(store);
        }
        let store = self.open()?;
        Ok(self.store.get_or_init(|| store))
    }

    fn open(&self) -> Result<Arc<dyn ObjectStore>, RepositoryError> {
        Ok(match &self.backend {
            FileBackend::Local { dir } => {
                std::fs::create_dir_all(dir).map_err(RepositoryError::internal)?;
                Arc::new(
                    object_store::local::LocalFileSystem::new_with_prefix(dir)
                        .map_err(RepositoryError::internal)?,
                )
            }
            FileBackend::S3 {
                bucket,
                endpoint,
                region,
                access_key_id,
                secret_access_key,
                allow_http,
            } => {
                let mut builder = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_allow_http(*allow_http);
                if !endpoint.is_empty() {
                    builder = builder.with_endpoint(endpoint);
                }
                if !access_key_id.is_empty() {
                    builder = builder
                        .with_access_key_id(access_key_id)
                        .with_secret_access_key(secret_access_key);
                }
                Arc::new(builder.build().map_err(RepositoryError::internal)?)
            }
        })
    }

    fn path(key: &str) -> Path {
        Path::from(format!("files/{key}"))
    }
}

#[async_trait]
impl FileStore for Files {
    async fn put(
        &self,
        name: String,
        content_type: String,
        uploader: Participant,
        bytes: Vec<u8>,
    ) -> Result<StoredFile, RepositoryError> {
        let key = new_key();
        let size = i64::try_from(bytes.len()).map_err(RepositoryError::internal)?;
        self.store()?
            .put(&Self::path(&key), bytes.into())
            .await
            .map_err(unavailable)?;
        let (kind, id) = match uploader {
            Participant::Admin(id) => ("admin", id.get()),
            Participant::Store(id) => ("store", id.get()),
        };
        self.db
            .run(move |conn| {
                diesel::insert_into(files::table)
                    .values((
                        files::key.eq(&key),
                        files::name.eq(&name),
                        files::size.eq(size),
                        files::content_type.eq(&content_type),
                        files::uploader_type.eq(kind),
                        files::uploader_id.eq(id),
                    ))
                    .returning(FileRow::as_returning())
                    .get_result::<FileRow>(conn)
                    .map_err(db_error)?
                    .try_into()
            })
            .await
    }

    async fn get(&self, key: &FileKey) -> Result<Option<StoredFile>, RepositoryError> {
        let key = key.as_str().to_owned();
        self.db
            .run(move |conn| {
                files::table
                    .find(key)
                    .select(FileRow::as_select())
                    .first::<FileRow>(conn)
                    .optional()
                    .map_err(db_error)?
                    .map(StoredFile::try_from)
                    .transpose()
            })
            .await
    }

    async fn read(&self, key: &FileKey) -> Result<Vec<u8>, RepositoryError> {
        let got = self
            .store()?
            .get(&Self::path(key.as_str()))
            .await
            .map_err(unavailable)?;
        Ok(got.bytes().await.map_err(unavailable)?.to_vec())
    }

    async fn attach(&self, key: &FileKey, attached: Attached) -> Result<bool, RepositoryError> {
        let key = key.as_str().to_owned();
        self.db
            .run(move |conn| {
                diesel::update(files::table.find(key).filter(files::session_id.is_null()))
                    .set((
                        files::session_id.eq(attached.session.get()),
                        files::private.eq(attached.private),
                    ))
                    .execute(conn)
                    .map(|n| n > 0)
                    .map_err(db_error)
            })
            .await
    }

    async fn remove_unattached(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError> {
        let keys: Vec<String> = self
            .db
            .run(move |conn| {
                files::table
                    .filter(files::session_id.is_null())
                    .filter(files::created.lt(before))
                    .select(files::key)
                    .limit(1_000)
                    .load(conn)
                    .map_err(db_error)
            })
            .await?;
        let mut removed = 0;
        for key in keys {
            // The row first: a file no longer known is never served, even if its bytes stay.
            let gone = {
                let key = key.clone();
                self.db
                    .run(move |conn| {
                        diesel::delete(files::table.find(key).filter(files::session_id.is_null()))
                            .execute(conn)
                            .map_err(db_error)
                    })
                    .await?
            };
            if gone > 0 {
                match self.store()?.delete(&Self::path(&key)).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(err) => return Err(unavailable(err)),
                }
                removed += 1;
            }
        }
        Ok(removed)
    }
}
