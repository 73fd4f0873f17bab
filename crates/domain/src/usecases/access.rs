//! Who may call, and the provisioning of admins, stores, tokens and API keys.

use super::Shared;
use crate::error::ChatError;
use crate::model::{Admin, AdminProfile, ApiKey, Store, StoreProfile};
use crate::ports::{AccessPorts, DirectoryRepository, Ports, TokenStore};
use crate::principal::Principal;
use crate::team::Capacity;
use crate::values::{Name, Token};

/// A store to create or update, as a client gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewStore {
    /// The marketplace's id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Contact address.
    pub email: String,
    /// Logo URL, possibly empty.
    pub logo_url: String,
}

impl NewStore {
    fn parse(&self) -> Result<StoreProfile, ChatError> {
        Ok(StoreProfile {
            id: crate::ids::StoreId::parse(self.id)?,
            name: Name::parse("name", &self.name)?,
            email: crate::values::Email::parse("email", &self.email)?,
            logo_url: crate::values::LogoUrl::parse(&self.logo_url)?,
        })
    }
}

/// Authentication and provisioning.
pub struct Access<P: Ports> {
    ports: Shared<P>,
    default_max_sessions: Capacity,
}

impl<P: Ports> Clone for Access<P> {
    fn clone(&self) -> Self {
        Self {
            ports: self.ports.clone(),
            default_max_sessions: self.default_max_sessions,
        }
    }
}

impl<P: AccessPorts> Access<P> {
    /// Authentication and provisioning over `ports`; new admins may hold
    /// `default_max_sessions` unless told otherwise.
    pub fn new(ports: Shared<P>, default_max_sessions: Capacity) -> Self {
        Self {
            ports,
            default_max_sessions,
        }
    }

    /// Who the raw `token` belongs to.
    ///
    /// # Errors
    /// [`ChatError::Unauthorized`] when the token is malformed, unknown or revoked.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, ChatError> {
        let token = Token::parse(token).map_err(|_| ChatError::Unauthorized)?;
        self.ports
            .tokens
            .authenticate(&token)
            .await?
            .ok_or(ChatError::Unauthorized)
    }

    /// Creates an admin, who may hold `max_sessions` claimed sessions (the default when
    /// `None`), and mints its first token.
    ///
    /// # Errors
    /// [`ChatError::Invalid`] for a bad name, email or capacity, or an email already in use.
    pub async fn create_admin(
        &self,
        name: &str,
        email: &str,
        max_sessions: Option<i64>,
    ) -> Result<(Admin, Token), ChatError> {
        let profile = AdminProfile {
            name: Name::parse("name", name)?,
            email: crate::values::Email::parse("email", email)?,
            max_sessions: max_sessions
                .map(Capacity::parse)
                .transpose()?
                .unwrap_or(self.default_max_sessions),
        };
        let admin = self
            .ports
            .directory
            .create_admin(profile)
            .await
            .map_err(|err| match err {
                crate::error::RepositoryError::Duplicate(field) => ChatError::Invalid(
                    crate::error::ValidationError::new(field, "is already used by another admin"),
                ),
                other => other.into(),
            })?;
        let token = self.ports.tokens.issue(Principal::Admin(admin.id)).await?;
        Ok((admin, token))
    }

    /// Creates or updates a store by the marketplace's id. Returns it and whether it is new.
    ///
    /// # Errors
    /// [`ChatError::Invalid`] for a bad id, name, email or logo URL.
    pub async fn put_store(&self, store: &NewStore) -> Result<(Store, bool), ChatError> {
        let profile = store.parse()?;
        Ok(self.ports.directory.put_store(profile).await?)
    }

    /// Mints a new token for an existing admin or store, or a new key of an API key.
    ///
    /// # Errors
    /// [`ChatError::NotFound`] when the owner does not exist.
    pub async fn issue_token(&self, owner: Principal) -> Result<Token, ChatError> {
        let exists = match owner {
            Principal::Admin(id) => self.ports.directory.admin(id).await?.is_some(),
            Principal::Store(id) => self.ports.directory.store(id).await?.is_some(),
            Principal::ApiKey(_) => true,
        };
        if !exists {
            return Err(ChatError::NotFound(owner.kind()));
        }
        Ok(self.ports.tokens.issue(owner).await?)
    }

    /// Creates an API key for an integration; the key is shown once.
    ///
    /// # Errors
    /// [`ChatError::Invalid`] for a bad name.
    pub async fn create_api_key(&self, name: &str) -> Result<(ApiKey, Token), ChatError> {
        let name = Name::parse("name", name)?;
        let key = self.ports.directory.create_api_key(name).await?;
        let token = self.ports.tokens.issue(Principal::ApiKey(key.id)).await?;
        Ok((key, token))
    }

    /// Revokes a token or API key at once.
    ///
    /// # Errors
    /// [`ChatError::Invalid`] for a malformed token, [`ChatError::NotFound`] for one that is
    /// unknown or already revoked.
    pub async fn revoke(&self, token: &str) -> Result<(), ChatError> {
        let token = Token::parse(token)?;
        if self.ports.tokens.revoke(&token).await? {
            Ok(())
        } else {
            Err(ChatError::NotFound("token"))
        }
    }
}

impl<P: Ports> std::fmt::Debug for Access<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::error::RepositoryError;
    use crate::ids::{AdminId, StoreId};
    use crate::testing::{admin, mocks, store, token};

    #[tokio::test]
    async fn authenticate_rejects_malformed_tokens_without_a_lookup() {
        let access = Access::new(Arc::new(mocks().into_adapters()), Capacity::default());
        assert!(matches!(
            access.authenticate("short").await,
            Err(ChatError::Unauthorized)
        ));
    }

    #[tokio::test]
    async fn authenticate_maps_unknown_tokens_to_unauthorized() {
        let mut m = mocks();
        m.tokens.expect_authenticate().returning(|_| Ok(None));
        let access = Access::new(Arc::new(m.into_adapters()), Capacity::default());
        let raw = token().expose().to_owned();
        assert!(matches!(
            access.authenticate(&raw).await,
            Err(ChatError::Unauthorized)
        ));
    }

    #[tokio::test]
    async fn authenticate_returns_the_owner() {
        let mut m = mocks();
        m.tokens
            .expect_authenticate()
            .returning(|_| Ok(Some(Principal::Store(StoreId::parse(12).unwrap()))));
        let access = Access::new(Arc::new(m.into_adapters()), Capacity::default());
        let raw = token().expose().to_owned();
        assert_eq!(
            access.authenticate(&raw).await.unwrap(),
            Principal::Store(StoreId::parse(12).unwrap())
        );
    }

    #[tokio::test]
    async fn create_admin_validates_and_mints_a_token() {
        let mut m = mocks();
        m.directory
            .expect_create_admin()
            .withf(|p| p.name.as_str() == "Ann" && p.email.as_str() == "ann@example.com")
            .returning(|_| Ok(admin(2)));
        m.tokens
            .expect_issue()
            .withf(|p| *p == Principal::Admin(AdminId::parse(2).unwrap()))
            .returning(|_| Ok(token()));
        let access = Access::new(Arc::new(m.into_adapters()), Capacity::default());
        let (created, minted) = access
            .create_admin(" Ann ", "ann@example.com", None)
            .await
            .unwrap();
        assert_eq!(created.id.get(), 2);
        assert_eq!(minted, token());

        let err = access
            .create_admin("Ann", "not-an-email", None)
            .await
            .unwrap_err();
        assert!(matches!(err, ChatError::Invalid(e) if e.field() == "email"));
    }

    #[tokio::test]
    async fn create_admin_reports_a_taken_email_as_invalid() {
        let mut m = mocks();
        m.directory
            .expect_create_admin()
            .returning(|_| Err(RepositoryError::Duplicate("email")));
        let access = Access::new(Arc::new(m.into_adapters()), Capacity::default());
        let err = access
            .create_admin("Ann", "ann@example.com", None)
            .await
            .unwrap_err();
        assert!(matches!(err, ChatError::Invalid(e) if e.field() == "email"));
    }

    #[tokio::test]
    async fn put_store_validates_every_field() {
        let access = Access::new(Arc::new(mocks().into_adapters()), Capacity::default());
        let good = NewStore {
            id: 12,
            name: "Tech Store".into(),
            email: "store@example.com".into(),
            logo_url: String::new(),
        };
        for (bad, field) in [
            (
                NewStore {
                    id: 0,
                    ..good.clone()
                },
                "store_id",
            ),
            (
                NewStore {
                    name: " ".into(),
                    ..good.clone()
                },
                "name",
            ),
            (
                NewStore {
                    email: "x".into(),
                    ..good.clone()
                },
                "email",
            ),
            (
                NewStore {
                    logo_url: "ftp://x".into(),
                    ..good.clone()
                },
                "logo_url",
            ),
        ] {
            let err = access.put_store(&bad).await.unwrap_err();
            assert!(
                matches!(err, ChatError::Invalid(e) if e.field() == field),
                "{field}"
            );
        }
    }

    #[tokio::test]
    async fn put_store_saves_the_profile() {
        let mut m = mocks();
        m.directory
            .expect_put_store()
            .withf(|p| p.id.get() == 12 && p.name.as_str() == "Tech Store")
            .returning(|_| Ok((store(12), true)));
        let access = Access::new(Arc::new(m.into_adapters()), Capacity::default());
        let new = NewStore {
            id: 12,
            name: "Tech Store".into(),
            email: "store@example.com".into(),
            logo_url: "https://example.com/logo.jpg".into(),
        };
        let (saved, created) = access.put_store(&new).await.unwrap();
        assert!(created);
        assert_eq!(saved.id.get(), 12);
    }

    #[tokio::test]
    async fn issue_token_needs_an_existing_owner() {
        let mut m = mocks();
        m.directory.expect_store().returning(|_| Ok(None));
        m.directory
            .expect_admin()
            .returning(|id| Ok(Some(admin(id.get()))));
        m.tokens.expect_issue().times(1).returning(|_| Ok(token()));
        let access = Access::new(Arc::new(m.into_adapters()), Capacity::default());
        let missing = access
            .issue_token(Principal::Store(StoreId::parse(99).unwrap()))
            .await
            .unwrap_err();
        assert!(matches!(missing, ChatError::NotFound("store")));
        assert!(access
            .issue_token(Principal::Admin(AdminId::parse(2).unwrap()))
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn create_api_key_mints_its_secret() {
        let mut m = mocks();
        m.directory.expect_create_api_key().returning(|name| {
            Ok(ApiKey {
                id: crate::ids::ApiKeyId::parse(1).unwrap(),
                name,
            })
        });
        m.tokens
            .expect_issue()
            .withf(|p| matches!(p, Principal::ApiKey(_)))
            .returning(|_| Ok(token()));
        let access = Access::new(Arc::new(m.into_adapters()), Capacity::default());
        let (key, secret) = access.create_api_key("reports").await.unwrap();
        assert_eq!(key.name.as_str(), "reports");
        assert_eq!(secret, token());
        assert!(access.create_api_key("").await.is_err());
    }

    #[tokio::test]
    async fn revoke_reports_unknown_tokens() {
        let mut m = mocks();
        let mut seen = false;
        m.tokens.expect_revoke().returning(move |_| {
            let first = !seen;
            seen = true;
            Ok(first)
        });
        let access = Access::new(Arc::new(m.into_adapters()), Capacity::default());
        let raw = token().expose().to_owned();
        assert!(access.revoke(&raw).await.is_ok());
        assert!(matches!(
            access.revoke(&raw).await,
            Err(ChatError::NotFound("token"))
        ));
        assert!(matches!(
            access.revoke("bad").await,
            Err(ChatError::Invalid(_))
        ));
    }
}
