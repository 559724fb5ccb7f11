//! The authorization-code flow with PKCE: [`App::begin_oidc_sign_in`] sends the browser to
//! the provider with a fresh `state`, nonce and code challenge, kept server-side; the
//! provider sends it back to [`App::finish_oidc_sign_in`], which takes (deletes) the kept
//! sign-in, redeems the code, validates the ID token against the provider's keys, the
//! client id, the issuer, the application's clock and the nonce, and opens a session for
//! the account the claims map to. Every refusal is audited and says why.

use std::net::IpAddr;

use base64::Engine;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreIdToken, CoreTokenResponse,
};
use openidconnect::{
    AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, SignatureVerificationError, TokenResponse,
};
use opsdesk_domain::oidc::{Claims, Refusal};
use opsdesk_store::oidc::{self as store, AttemptRow, ProviderRow};

use super::cache::Discovered;
use super::{CALLBACK_PATH, mapping};
use crate::auth::{ClientInfo, Session};
use crate::clock::{random_secret, secret_hash};
use crate::{App, AppError};

/// How long a person has to sign in at the provider and come back.
const ATTEMPT_MS: i64 = 10 * 60_000;
/// How far in the future a token's issue time may be, for clocks that differ a little.
const CLOCK_SKEW_SECS: i64 = 300;
/// Longest `login_hint` passed on to a provider.
const MOST_HINT_CHARS: usize = 254;

type ProviderClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Where to send the browser, and the `state` to bind to it (in a cookie), so that an
/// answer carried to another browser is refused.
#[derive(Debug, Clone)]
pub struct Redirect {
    pub url: String,
    pub state: String,
}

/// What a provider's answer carries back (the callback's query), and the `state` the
/// browser kept from [`Redirect`].
#[derive(Debug, Clone, Default)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub browser_state: Option<String>,
}

/// A sign-in that worked: the session, and where the person was going.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session: Session,
    pub return_to: String,
}

/// What went wrong with a sign-in through a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// No sign-in under way has this `state`: made up, or already used.
    UnknownState,
    /// The sign-in took longer than allowed.
    Expired,
    /// The answer came back to another browser than the one that started the sign-in.
    OtherBrowser,
    /// The provider refused or the person cancelled.
    ProviderError,
    /// The provider is unknown or disabled.
    NoProvider,
    /// The provider could not be reached or answered nonsense.
    Unreachable,
    /// The provider would not redeem the code.
    CodeRefused,
    /// The answer held no ID token.
    NoIdToken,
    /// The ID token's signature does not check out against the provider's keys.
    Signature,
    /// The ID token was issued for another client.
    Audience,
    /// The ID token was issued by another provider.
    Issuer,
    /// The ID token has expired (or is issued in the future).
    TokenExpired,
    /// The ID token's nonce is not the one this sign-in sent.
    Nonce,
    /// The ID token is malformed otherwise.
    InvalidToken,
    /// Too many failed sign-ins from this address.
    RateLimited,
    /// The token was fine, but its person may not sign in here.
    Account(Refusal),
    /// Our side failed; the log has the details.
    Internal,
}

impl Trouble {
    /// A stable name for the audit log and the sign-in page's message.
    pub fn code(self) -> &'static str {
        match self {
            Trouble::UnknownState => "unknown_state",
            Trouble::Expired => "expired",
            Trouble::OtherBrowser => "other_browser",
            Trouble::ProviderError => "provider_error",
            Trouble::NoProvider => "no_provider",
            Trouble::Unreachable => "unreachable",
            Trouble::CodeRefused => "code_refused",
            Trouble::NoIdToken => "no_id_token",
            Trouble::Signature => "signature",
            Trouble::Audience => "audience",
            Trouble::Issuer => "issuer",
            Trouble::TokenExpired => "token_expired",
            Trouble::Nonce => "nonce",
            Trouble::InvalidToken => "invalid_token",
            Trouble::RateLimited => "rate_limited",
            Trouble::Account(refusal) => refusal.code(),
            Trouble::Internal => "internal",
        }
    }
}

/// Why a sign-in through a provider did not happen, with the details for the audit log.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {detail}", trouble.code())]
pub struct SignInRefused {
    pub trouble: Trouble,
    pub detail: String,
}

impl SignInRefused {
    fn new(trouble: Trouble, detail: impl Into<String>) -> Self {
        Self {
            trouble,
            detail: detail.into(),
        }
    }
}

impl From<AppError> for SignInRefused {
    fn from(error: AppError) -> Self {
        match error {
            AppError::RateLimited { .. } => {
                SignInRefused::new(Trouble::RateLimited, "too many attempts")
            }
            AppError::NotFound(_) => {
                SignInRefused::new(Trouble::NoProvider, "no such active provider")
            }
            other => {
                tracing::error!(error = %crate::error_chain(&other), "OpenID Connect sign-in failed");
                SignInRefused::new(Trouble::Internal, other.to_string())
            }
        }
    }
}

/// A path of opsdesk's own to go to after signing in; anything else goes home.
fn safe_return(path: Option<&str>) -> String {
    match path {
        Some(p)
            if p.starts_with('/') && !p.starts_with("//") && !p.contains(['\\', '\r', '\n']) =>
        {
            p.chars().take(500).collect()
        }
        _ => "/".to_owned(),
    }
}

fn client_for(
    provider: &ProviderRow,
    discovered: &Discovered,
    redirect_uri: &str,
) -> Result<ProviderClient, SignInRefused> {
    let secret = Some(provider.client_secret.clone())
        .filter(|s| !s.is_empty())
        .map(ClientSecret::new);
    let redirect = RedirectUrl::new(redirect_uri.to_owned())
        .map_err(|e| SignInRefused::new(Trouble::Internal, format!("redirect URI: {e}")))?;
    // Basic authentication is the default; a provider that only takes the secret in the
    // body says so in its document.
    let only_post = discovered
        .metadata
        .token_endpoint_auth_methods_supported()
        .is_some_and(|methods| {
            methods.contains(&CoreClientAuthMethod::ClientSecretPost)
                && !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
        });
    let client = CoreClient::from_provider_metadata(
        discovered.metadata.clone(),
        ClientId::new(provider.client_id.clone()),
        secret,
    )
    .set_redirect_uri(redirect);
    Ok(if only_post {
        client.set_auth_type(AuthType::RequestBody)
    } else {
        client
    })
}

/// The ID token's claims by name, from its payload. Read only after the token was validated.
fn payload(
    token: &CoreIdToken,
) -> Result<serde_json::Map<String, serde_json::Value>, SignInRefused> {
    let compact = token.to_string();
    let part = compact
        .split('.')
        .nth(1)
        .ok_or_else(|| SignInRefused::new(Trouble::InvalidToken, "no payload"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|e| SignInRefused::new(Trouble::InvalidToken, format!("payload: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| SignInRefused::new(Trouble::InvalidToken, format!("payload: {e}")))
}

/// A claim by name: the name itself, else a dotted path into nested objects
/// (`realm_access.roles`).
fn claim<'a>(
    claims: &'a serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<&'a serde_json::Value> {
    claims.get(name).or_else(|| {
        let mut parts = name.split('.');
        let first = claims.get(parts.next()?)?;
        parts.try_fold(first, |value, part| value.get(part))
    })
}

/// What opsdesk reads of the person from the token's claims, by the provider's claim names.
fn person(provider: &ProviderRow, claims: &serde_json::Map<String, serde_json::Value>) -> Claims {
    let text = |name: &str| {
        claim(claims, name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let email_verified = claim(claims, "email_verified").and_then(|v| match v {
        serde_json::Value::Bool(b) => Some(*b),
        serde_json::Value::String(s) => Some(s == "true"),
        _ => None,
    });
    let groups = match claim(claims, &provider.groups_claim) {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|g| g.as_str())
            .take(1_000)
            .map(str::to_owned)
            .collect(),
        Some(serde_json::Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    Claims {
        subject: text("sub").unwrap_or_default(),
        email: text(&provider.email_claim),
        email_verified,
        name: text(&provider.name_claim),
        groups,
    }
}

/// What a failed validation means for the person.
fn classify(error: &ClaimsVerificationError) -> Trouble {
    match error {
        ClaimsVerificationError::SignatureVerification(_) => Trouble::Signature,
        ClaimsVerificationError::InvalidAudience(_) => Trouble::Audience,
        ClaimsVerificationError::InvalidIssuer(_) => Trouble::Issuer,
        ClaimsVerificationError::Expired(_) => Trouble::TokenExpired,
        ClaimsVerificationError::InvalidNonce(_) => Trouble::Nonce,
        _ => Trouble::InvalidToken,
    }
}

impl App {
    /// Starts signing in through provider `provider_id`: keeps a new sign-in (state, nonce,
    /// PKCE verifier) for ten minutes and returns where to send the browser. `origin` is
    /// opsdesk's address as the browser uses it (the redirect URI is `origin` +
    /// [`CALLBACK_PATH`]); `return_to` a path to go to afterwards.
    pub async fn begin_oidc_sign_in(
        &self,
        provider_id: i64,
        origin: &str,
        return_to: Option<&str>,
        login_hint: Option<&str>,
        client: IpAddr,
    ) -> Result<Redirect, SignInRefused> {
        let now = self.now_ms();
        self.inner.login_throttle.check(&client, now)?;
        let provider = {
            let mut conn = self.db().reader().await.map_err(AppError::from)?;
            store::get_provider(&mut conn, provider_id)
                .await
                .map_err(AppError::from)?
        }
        .filter(|p| p.active != 0)
        .ok_or(AppError::NotFound("identity provider"))?;
        let discovered = self
            .inner
            .oidc
            .discovered(provider.id, &provider.issuer, now)
            .await
            .map_err(|e| SignInRefused::new(Trouble::Unreachable, e.0))?;
        let redirect_uri = format!("{}{CALLBACK_PATH}", origin.trim_end_matches('/'));
        let client = client_for(&provider, &discovered, &redirect_uri)?;
        let (state, nonce, verifier) = (random_secret()?, random_secret()?, random_secret()?);
        let challenge =
            PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.clone()));
        let (state_for_url, nonce_for_url) = (state.clone(), nonce.clone());
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state_for_url),
                move || Nonce::new(nonce_for_url),
            )
            .set_pkce_challenge(challenge);
        for scope in provider.scopes.split(' ').filter(|s| !s.is_empty()) {
            request = request.add_scope(Scope::new(scope.to_owned()));
        }
        if let Some(hint) = login_hint.map(str::trim).filter(|h| !h.is_empty()) {
            let hint: String = hint.chars().take(MOST_HINT_CHARS).collect();
            request = request.add_extra_param("login_hint", hint);
        }
        let (url, _, _) = request.url();
        let attempt = AttemptRow {
            state_hash: secret_hash(&state),
            provider_id: provider.id,
            nonce,
            pkce_verifier: verifier,
            redirect_uri,
            return_to: safe_return(return_to),
            created_at: now,
            expires_at: now + ATTEMPT_MS,
        };
        self.system_change("sign-in", move |tx| {
            Box::pin(async move {
                store::prune_attempts(tx.conn, tx.now).await?;
                Ok(store::insert_attempt(tx.conn, &attempt).await?)
            })
        })
        .await?;
        Ok(Redirect {
            url: url.to_string(),
            state,
        })
    }

    /// Finishes a sign-in with the provider's answer: a session for the account the
    /// validated ID token maps to, or why not (audited, and counted against the client's
    /// address like a wrong password).
    pub async fn finish_oidc_sign_in(
        &self,
        callback: Callback,
        client: &ClientInfo,
    ) -> Result<SignedIn, SignInRefused> {
        let now = self.now_ms();
        if let Err(error) = self.inner.login_throttle.check(&client.ip, now) {
            return Err(error.into());
        }
        let mut provider_id = None;
        let mut person = None;
        let outcome = self
            .finish(callback, client, &mut provider_id, &mut person)
            .await;
        if let Err(refused) = &outcome
            && refused.trouble != Trouble::RateLimited
        {
            self.inner.login_throttle.record(client.ip, now);
            super::audit::record_refusal(self, provider_id, refused, person.as_ref()).await;
        }
        outcome
    }

    async fn finish(
        &self,
        callback: Callback,
        client: &ClientInfo,
        provider_id: &mut Option<i64>,
        person_out: &mut Option<Claims>,
    ) -> Result<SignedIn, SignInRefused> {
        let state = callback
            .state
            .filter(|s| !s.is_empty())
            .ok_or_else(|| SignInRefused::new(Trouble::UnknownState, "the answer has no state"))?;
        let hash = secret_hash(&state);
        let attempt = self
            .system_change("sign-in", move |tx| {
                Box::pin(async move { Ok(store::take_attempt(tx.conn, &hash).await?) })
            })
            .await?
            .ok_or_else(|| {
                SignInRefused::new(Trouble::UnknownState, "no sign-in under way has this state")
            })?;
        *provider_id = Some(attempt.provider_id);
        if callback.browser_state.as_deref() != Some(state.as_str()) {
            return Err(SignInRefused::new(
                Trouble::OtherBrowser,
                "the answer reached another browser than the one that started the sign-in",
            ));
        }
        let now = self.now_ms();
        if now > attempt.expires_at {
            return Err(SignInRefused::new(
                Trouble::Expired,
                "the sign-in took too long",
            ));
        }
        if let Some(error) = callback.error {
            let description = callback.error_description.unwrap_or_default();
            return Err(SignInRefused::new(
                Trouble::ProviderError,
                format!("{error} {description}").trim().to_owned(),
            ));
        }
        let code = callback
            .code
            .filter(|c| !c.is_empty())
            .ok_or_else(|| SignInRefused::new(Trouble::CodeRefused, "the answer has no code"))?;
        let provider = {
            let mut conn = self.db().reader().await.map_err(AppError::from)?;
            store::get_provider(&mut conn, attempt.provider_id)
                .await
                .map_err(AppError::from)?
        }
        .filter(|p| p.active != 0)
        .ok_or(AppError::NotFound("identity provider"))?;
        let runtime = &self.inner.oidc;
        let mut discovered = runtime
            .discovered(provider.id, &provider.issuer, now)
            .await
            .map_err(|e| SignInRefused::new(Trouble::Unreachable, e.0))?;
        let token_response: CoreTokenResponse =
            client_for(&provider, &discovered, &attempt.redirect_uri)?
                .exchange_code(AuthorizationCode::new(code))
                .map_err(|e| SignInRefused::new(Trouble::Unreachable, e.to_string()))?
                .set_pkce_verifier(PkceCodeVerifier::new(attempt.pkce_verifier.clone()))
                .request_async(&runtime.http)
                .await
                .map_err(|e| SignInRefused::new(Trouble::CodeRefused, crate::error_chain(&e)))?;
        let id_token = token_response.id_token().ok_or_else(|| {
            SignInRefused::new(Trouble::NoIdToken, "the provider sent no ID token")
        })?;
        let nonce = Nonce::new(attempt.nonce.clone());
        let mut verified = self.verify(&provider, &discovered, &attempt, id_token, &nonce);
        if matches!(
            &verified,
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey
            ))
        ) {
            discovered = runtime
                .refresh_keys(provider.id, &discovered, now)
                .await
                .map_err(|e| SignInRefused::new(Trouble::Unreachable, e.0))?;
            verified = self.verify(&provider, &discovered, &attempt, id_token, &nonce);
        }
        if let Err(error) = verified {
            return Err(SignInRefused::new(classify(&error), error.to_string()));
        }
        let person = person(&provider, &payload(id_token)?);
        if person.subject.is_empty() {
            return Err(SignInRefused::new(
                Trouble::InvalidToken,
                "the token names no subject",
            ));
        }
        *person_out = Some(person.clone());
        let user_id = mapping::settle(self, &provider, person).await??;
        let session = self.open_session(user_id, "oidc", client).await?;
        Ok(SignedIn {
            session,
            return_to: attempt.return_to,
        })
    }

    /// Validates `token` for `provider` with the keys in `discovered`, on the application's
    /// clock.
    fn verify(
        &self,
        provider: &ProviderRow,
        discovered: &Discovered,
        attempt: &AttemptRow,
        token: &CoreIdToken,
        nonce: &Nonce,
    ) -> Result<(), ClaimsVerificationError> {
        let client = client_for(provider, discovered, &attempt.redirect_uri)
            .map_err(|e| ClaimsVerificationError::Other(e.detail))?;
        let clock = self.clock();
        let now = move || {
            chrono::DateTime::from_timestamp_millis(clock.now().as_millisecond())
                .unwrap_or_default()
        };
        let issued_by = now.clone();
        let verifier = client
            .id_token_verifier()
            .set_time_fn(now)
            .set_issue_time_verifier_fn(move |issued| {
                if (issued - issued_by()).num_seconds() > CLOCK_SKEW_SECS {
                    Err(format!("the token is issued in the future ({issued})"))
                } else {
                    Ok(())
                }
            });
        token.claims(&verifier, nonce).map(|_| ())
    }
}

impl From<Refusal> for SignInRefused {
    fn from(refusal: Refusal) -> Self {
        SignInRefused::new(Trouble::Account(refusal), refusal.to_string())
    }
}
