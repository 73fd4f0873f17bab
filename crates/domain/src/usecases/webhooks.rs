//! Integrations' webhook endpoints (API key): registered, listed, changed, deleted, their
//! secrets rotated, their deliveries read. The deliveries themselves are the adapters' work,
//! by the rules of [`crate::webhook`].

use std::sync::Arc;
use std::time::Duration;

use crate::error::{ChatError, ValidationError};
use crate::ids::WebhookId;
use crate::model::{Listing, Page};
use crate::ports::{Resolver, WebhookRepository};
use crate::webhook::{
    is_public, parse_description, Attempt, EventFilter, WebhookDraft, WebhookEndpoint,
    WebhookPatch, WebhookUrl,
};

/// How long a rotated secret keeps signing beside the new one.
pub const SECRET_OVERLAP: Duration = Duration::from_secs(24 * 3600);

/// Which endpoints may be registered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookPolicy {
    /// `http` URLs are accepted (else `https` only).
    pub allow_http: bool,
    /// Loopback, private and link-local addresses are accepted.
    pub allow_private: bool,
}

/// An endpoint as a client gives it, not yet checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointText {
    /// The URL.
    pub url: Option<String>,
    /// The event types, or `["*"]`.
    pub events: Option<Vec<String>>,
    /// What it is for.
    pub description: Option<String>,
    /// Enabled or not (changes only).
    pub enabled: Option<bool>,
}

/// The webhook use cases.
pub struct Webhooks<W, R> {
    repository: Arc<W>,
    resolver: Arc<R>,
    policy: WebhookPolicy,
}

impl<W, R> Clone for Webhooks<W, R> {
    fn clone(&self) -> Self {
        Self {
            repository: self.repository.clone(),
            resolver: self.resolver.clone(),
            policy: self.policy,
        }
    }
}

impl<W, R> std::fmt::Debug for Webhooks<W, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<W: WebhookRepository, R: Resolver> Webhooks<W, R> {
    /// The use cases over `repository`, checking addresses with `resolver`.
    pub fn new(repository: Arc<W>, resolver: Arc<R>, policy: WebhookPolicy) -> Self {
        Self {
            repository,
            resolver,
            policy,
        }
    }

    /// A URL the policy accepts, whose host stands for no address inside the service's
    /// network (unless the policy allows those).
    async fn destination(&self, raw: &str) -> Result<WebhookUrl, ChatError> {
        let url = WebhookUrl::parse(raw, self.policy.allow_http)?;
        if self.policy.allow_private {
            return Ok(url);
        }
        let addresses = self
            .resolver
            .resolve(url.host(), url.port())
            .await
            .map_err(|_| ValidationError::new("url", "its host does not resolve"))?;
        if addresses.is_empty() || addresses.iter().any(|a| !is_public(*a)) {
            return Err(ValidationError::new(
                "url",
                "must not point at a loopback, private or link-local address",
            )
            .into());
        }
        Ok(url)
    }

    /// Registers an endpoint. Returns it and its secret, shown this once.
    ///
    /// # Errors
    /// [`ChatError::Invalid`] for a missing or bad URL, event list or description.
    pub async fn create(&self, text: EndpointText) -> Result<(WebhookEndpoint, String), ChatError> {
        let url = text
            .url
            .ok_or_else(|| ValidationError::new("url", "is required"))?;
        let events = text
            .events
            .ok_or_else(|| ValidationError::new("events", "is required"))?;
        let draft = WebhookDraft {
            events: EventFilter::parse(&events)?,
            description: parse_description(text.description.as_deref().unwrap_or_default())?,
            url: self.destination(&url).await?,
        };
        Ok(self.repository.create(draft).await?)
    }

    /// The endpoints, oldest first.
    ///
    /// # Errors
    /// [`ChatError::Repository`] when the store fails.
    pub async fn list(&self, page: Page) -> Result<Listing<WebhookEndpoint>, ChatError> {
        Ok(self.repository.list(page).await?)
    }

    /// The endpoint `id`.
    ///
    /// # Errors
    /// [`ChatError::NotFound`] when there is none.
    pub async fn get(&self, id: WebhookId) -> Result<WebhookEndpoint, ChatError> {
        self.repository
            .get(id)
            .await?
            .ok_or(ChatError::NotFound("webhook"))
    }

    /// Changes the endpoint `id`.
    ///
    /// # Errors
    /// [`ChatError::Invalid`] for a bad field, [`ChatError::NotFound`] when there is none.
    pub async fn update(
        &self,
        id: WebhookId,
        text: EndpointText,
    ) -> Result<WebhookEndpoint, ChatError> {
        let patch = WebhookPatch {
            url: match text.url {
                Some(url) => Some(self.destination(&url).await?),
                None => None,
            },
            events: text.events.as_deref().map(EventFilter::parse).transpose()?,
            description: text
                .description
                .as_deref()
                .map(parse_description)
                .transpose()?,
            enabled: text.enabled,
        };
        self.repository
            .update(id, patch)
            .await?
            .ok_or(ChatError::NotFound("webhook"))
    }

    /// Deletes the endpoint `id`.
    ///
    /// # Errors
    /// [`ChatError::NotFound`] when there is none.
    pub async fn delete(&self, id: WebhookId) -> Result<(), ChatError> {
        if self.repository.delete(id).await? {
            Ok(())
        } else {
            Err(ChatError::NotFound("webhook"))
        }
    }

    /// A new secret for the endpoint `id`; the old one signs beside it for a day.
    ///
    /// # Errors
    /// [`ChatError::NotFound`] when there is none.
    pub async fn rotate_secret(
        &self,
        id: WebhookId,
    ) -> Result<(WebhookEndpoint, String), ChatError> {
        self.repository
            .rotate_secret(id, SECRET_OVERLAP)
            .await?
            .ok_or(ChatError::NotFound("webhook"))
    }

    /// The endpoint's delivery attempts, newest first.
    ///
    /// # Errors
    /// [`ChatError::NotFound`] when there is no such endpoint.
    pub async fn attempts(&self, id: WebhookId, page: Page) -> Result<Listing<Attempt>, ChatError> {
        self.repository
            .attempts(id, page)
            .await?
            .ok_or(ChatError::NotFound("webhook"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockResolver, MockWebhookRepository};

    fn webhooks(
        resolved: Vec<std::net::IpAddr>,
        policy: WebhookPolicy,
    ) -> Webhooks<MockWebhookRepository, MockResolver> {
        let mut resolver = MockResolver::new();
        resolver
            .expect_resolve()
            .returning(move |_, _| Ok(resolved.clone()));
        let mut repository = MockWebhookRepository::new();
        repository.expect_create().returning(|draft| {
            Ok((
                WebhookEndpoint {
                    id: WebhookId::parse(1).unwrap(),
                    url: draft.url,
                    events: draft.events,
                    enabled: true,
                    description: draft.description,
                    created: crate::testing::now(),
                },
                "whsec_x".to_owned(),
            ))
        });
        Webhooks::new(Arc::new(repository), Arc::new(resolver), policy)
    }

    fn text(url: &str) -> EndpointText {
        EndpointText {
            url: Some(url.to_owned()),
            events: Some(vec!["*".to_owned()]),
            ..EndpointText::default()
        }
    }

    #[tokio::test]
    async fn a_name_that_resolves_inside_the_network_is_refused() {
        let inside = webhooks(vec!["127.0.0.1".parse().unwrap()], WebhookPolicy::default());
        let err = inside
            .create(text("https://localhost.example/hook"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ChatError::Invalid(ref e) if e.field() == "url"),
            "{err:?}"
        );
        let mixed = webhooks(
            vec![
                "93.184.216.34".parse().unwrap(),
                "10.0.0.1".parse().unwrap(),
            ],
            WebhookPolicy::default(),
        );
        assert!(mixed.create(text("https://a.example/")).await.is_err());
        let outside = webhooks(
            vec!["93.184.216.34".parse().unwrap()],
            WebhookPolicy::default(),
        );
        let (endpoint, secret) = outside.create(text("https://a.example/")).await.unwrap();
        assert_eq!(endpoint.url.host(), "a.example");
        assert!(secret.starts_with("whsec_"));
        // Where the policy allows it, loopback over http is fine (tests, a local relay).
        let local = webhooks(
            vec!["127.0.0.1".parse().unwrap()],
            WebhookPolicy {
                allow_http: true,
                allow_private: true,
            },
        );
        assert!(local.create(text("http://127.0.0.1:9000/")).await.is_ok());
    }

    #[tokio::test]
    async fn bad_fields_are_named() {
        let hooks = webhooks(
            vec!["93.184.216.34".parse().unwrap()],
            WebhookPolicy::default(),
        );
        let field = |err: ChatError| match err {
            ChatError::Invalid(e) => e.field(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(hooks.create(EndpointText::default()).await.unwrap_err()),
            "url"
        );
        let mut no_events = text("https://a.example/");
        no_events.events = None;
        assert_eq!(field(hooks.create(no_events).await.unwrap_err()), "events");
        let mut bad = text("https://a.example/");
        bad.description = Some("a\0b".to_owned());
        assert_eq!(field(hooks.create(bad).await.unwrap_err()), "description");
        assert_eq!(
            field(hooks.create(text("http://a.example/")).await.unwrap_err()),
            "url"
        );
    }
}
