//! What opsdesk knows of each provider between sign-ins: its discovery document and its
//! signing keys, fetched once and kept for an hour (on the application's clock), and the
//! HTTP client that talks to providers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use openidconnect::IssuerUrl;
use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};

use super::OidcSettings;
use crate::AppError;

/// How long a discovery document and its keys are trusted before they are fetched again.
const KEEP_MS: i64 = 3_600_000;
/// Providers remembered at once; beyond, the table starts afresh (it refills on demand).
const MOST_PROVIDERS: usize = 1_000;

/// A provider's discovery document with its keys, as fetched at `fetched_at` from `issuer`.
#[derive(Debug, Clone)]
pub(crate) struct Discovered {
    pub issuer: String,
    pub fetched_at: i64,
    pub metadata: CoreProviderMetadata,
}

/// The providers' documents and the client that fetches them, shared by the application.
pub(crate) struct OidcRuntime {
    pub http: reqwest::Client,
    known: Mutex<HashMap<i64, Arc<Discovered>>>,
}

/// Why a provider could not be reached or understood.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Unreachable(pub String);

impl OidcRuntime {
    pub(crate) fn new(settings: &OidcSettings) -> Result<Self, AppError> {
        // Redirects are never followed: a provider's endpoints answer directly, and
        // following them would let a crafted document send requests elsewhere.
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .user_agent(concat!("opsdesk/", env!("CARGO_PKG_VERSION")));
        if let Some(proxy) = &settings.http_proxy {
            builder = builder.proxy(
                reqwest::Proxy::all(proxy).map_err(|e| AppError::internal("oidc.http_proxy", e))?,
            );
        }
        Ok(Self {
            http: builder
                .build()
                .map_err(|e| AppError::internal("OpenID Connect HTTP client", e))?,
            known: Mutex::new(HashMap::new()),
        })
    }

    /// Forgets what is known of provider `id` (its settings changed or it is gone).
    pub(crate) fn forget(&self, id: i64) {
        if let Ok(mut known) = self.known.lock() {
            known.remove(&id);
        }
    }

    fn remembered(&self, id: i64) -> Option<Arc<Discovered>> {
        self.known.lock().ok()?.get(&id).cloned()
    }

    fn remember(&self, id: i64, discovered: Discovered) -> Arc<Discovered> {
        let discovered = Arc::new(discovered);
        if let Ok(mut known) = self.known.lock() {
            if known.len() >= MOST_PROVIDERS {
                known.clear();
            }
            known.insert(id, discovered.clone());
        }
        discovered
    }

    /// Provider `id`'s document and keys from `issuer`: the ones kept if fresh, else
    /// fetched (the document's issuer must be exactly `issuer`).
    pub(crate) async fn discovered(
        &self,
        id: i64,
        issuer: &str,
        now: i64,
    ) -> Result<Arc<Discovered>, Unreachable> {
        if let Some(known) = self.remembered(id)
            && known.issuer == issuer
            && now - known.fetched_at < KEEP_MS
        {
            return Ok(known);
        }
        let issuer_url = IssuerUrl::new(issuer.to_owned())
            .map_err(|e| Unreachable(format!("the issuer is no URL: {e}")))?;
        let metadata = CoreProviderMetadata::discover_async(issuer_url, &self.http)
            .await
            .map_err(|e| Unreachable(format!("discovery failed: {}", crate::error_chain(&e))))?;
        Ok(self.remember(
            id,
            Discovered {
                issuer: issuer.to_owned(),
                fetched_at: now,
                metadata,
            },
        ))
    }

    /// Fetches provider `id`'s keys again (a token was signed with a key not among those
    /// kept: the provider rotated its keys) and keeps them with the same document.
    pub(crate) async fn refresh_keys(
        &self,
        id: i64,
        stale: &Discovered,
        now: i64,
    ) -> Result<Arc<Discovered>, Unreachable> {
        let keys = CoreJsonWebKeySet::fetch_async(stale.metadata.jwks_uri(), &self.http)
            .await
            .map_err(|e| {
                Unreachable(format!(
                    "the keys could not be fetched: {}",
                    crate::error_chain(&e)
                ))
            })?;
        Ok(self.remember(
            id,
            Discovered {
                issuer: stale.issuer.clone(),
                fetched_at: now,
                metadata: stale.metadata.clone().set_jwks(keys),
            },
        ))
    }
}
