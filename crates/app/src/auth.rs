//! Signing in: passwords, API tokens, browser sessions, and the limits on guessing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use opsdesk_domain::account::{Email, Role, lockout_seconds};
use opsdesk_store::Conn;
use opsdesk_store::accounts::{self as store, TokenRow, UserRow};
use serde::Serialize;

use crate::audit::{Action, Entity, Event};
use crate::change::Need;
use crate::clock::{random_secret, secret_hash};
use crate::{App, AppError, Principal, Via, timestamp};

/// Prefix that makes opsdesk tokens recognisable to secret scanners and people.
const TOKEN_PREFIX: &str = "odk_";
/// Writing `last_used_at` on every request would turn reads into writes; once a minute is enough.
const TOKEN_TOUCH_INTERVAL_MS: i64 = 60_000;

pub(crate) fn hash_password(password: &str) -> Result<String, AppError> {
    let mut salt_bytes = [0_u8; 16];
    getrandom::fill(&mut salt_bytes)
        .map_err(|e| AppError::internal("no randomness available", e.to_string()))?;
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| AppError::internal("salt encoding failed", e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AppError::internal("password hashing failed", e.to_string()))
}

/// A hash to check wrong e-mail addresses against, so that an unknown address costs as much
/// time as a known one and sign-in timing does not reveal who has an account.
static DECOY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    hash_password("decoy password for unknown users").unwrap_or_default()
});

fn password_matches(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// An API token's metadata as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub user_id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<jiff::Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<jiff::Timestamp>,
}

impl From<TokenRow> for ApiToken {
    fn from(row: TokenRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            user_id: row.user_id,
            created_at: timestamp(row.created_at),
            last_used_at: row.last_used_at.map(timestamp),
            revoked_at: row.revoked_at.map(timestamp),
        }
    }
}

/// A token just created: the only time its secret is visible.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub token: ApiToken,
    /// The secret to send as `Authorization: Bearer …`. Shown once; only its hash is kept.
    pub secret: String,
}

/// Where a sign-in comes from, as its session records it.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

/// What a right password leads to: a session, or first a second factor.
#[derive(Debug, Clone)]
pub enum SignIn {
    Session(Session),
    /// Answer with a code from the authenticator (or a recovery code) within five minutes.
    SecondFactor {
        challenge: String,
    },
}

/// A user agent is only shown to help people recognise their sessions; a bounded prefix
/// is enough and keeps odd clients from storing kilobytes per session.
fn short_user_agent(agent: &str) -> String {
    agent.chars().take(200).collect()
}

/// A signed-in browser session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The cookie value (only its hash is stored).
    pub secret: String,
    /// The token forms must echo back.
    pub csrf_token: String,
    pub expires_at_ms: i64,
}

/// Counts events per key (failed sign-ins per client address, diagnostics per person) in
/// fixed one-minute windows. Bounded: when the table is full, windows that have ended are
/// dropped first, then the table is cleared.
pub(crate) struct Throttle<K> {
    per_minute: u32,
    windows: Mutex<HashMap<K, (i64, u32)>>,
}

/// Failed sign-ins per client address.
pub(crate) type LoginThrottle = Throttle<IpAddr>;

const THROTTLE_MAX_KEYS: usize = 100_000;

impl<K: std::hash::Hash + Eq> Throttle<K> {
    pub(crate) fn new(per_minute: u32) -> Self {
        Self {
            per_minute: per_minute.max(1),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Refuses when `key` has used up this minute's events.
    pub(crate) fn check(&self, key: &K, now: i64) -> Result<(), AppError> {
        let minute = now / 60_000;
        let windows = self
            .windows
            .lock()
            .map_err(|_| AppError::broken("throttle poisoned"))?;
        match windows.get(key) {
            Some((window, events)) if *window == minute && *events >= self.per_minute => {
                Err(AppError::RateLimited {
                    retry_after_secs: 60 - (now / 1000) % 60,
                })
            }
            _ => Ok(()),
        }
    }

    /// Counts one event of `key`.
    pub(crate) fn record(&self, key: K, now: i64) {
        let minute = now / 60_000;
        let Ok(mut windows) = self.windows.lock() else {
            return;
        };
        if windows.len() >= THROTTLE_MAX_KEYS {
            windows.retain(|_, (window, _)| *window == minute);
            if windows.len() >= THROTTLE_MAX_KEYS {
                windows.clear();
            }
        }
        let entry = windows.entry(key).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        entry.1 += 1;
    }
}

pub(crate) async fn principal_for(
    conn: &mut Conn,
    user: &UserRow,
    via: Via,
) -> Result<Principal, AppError> {
    let role: Role = user
        .role
        .parse()
        .map_err(|e| AppError::internal(format!("user {}", user.id), e))?;
    let (agent_organizations, groups) = if role == Role::Agent {
        (
            store::agent_organizations(conn, user.id).await?,
            opsdesk_store::tickets::user_groups(conn, user.id).await?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(Principal {
        user_id: Some(user.id),
        email: user.email.clone(),
        role,
        organization_id: user.organization_id,
        agent_organizations,
        groups,
        via,
        time_zone: user.time_zone.clone(),
    })
}

pub(crate) fn invalid_credentials() -> AppError {
    AppError::Unauthenticated("wrong e-mail address or password".into())
}

impl App {
    /// Resolves a bearer token to its principal. Missing, wrong and revoked tokens, and
    /// tokens of deactivated users, all fail the same way.
    pub async fn authenticate_token(&self, secret: &str) -> Result<Principal, AppError> {
        let rejected = || AppError::Unauthenticated("the API token is invalid or revoked".into());
        if !secret.starts_with(TOKEN_PREFIX) {
            return Err(rejected());
        }
        let hash = secret_hash(secret);
        let mut conn = self.db().reader().await?;
        let (token, user) = store::find_token(&mut conn, &hash)
            .await?
            .ok_or_else(rejected)?;
        if user.active == 0 {
            return Err(rejected());
        }
        let principal = principal_for(&mut conn, &user, Via::Token { token_id: token.id }).await?;
        drop(conn);
        if token
            .last_used_at
            .is_none_or(|used| self.now_ms() - used > TOKEN_TOUCH_INTERVAL_MS)
        {
            let token_id = token.id;
            self.system_change("token use", move |tx| {
                Box::pin(async move { Ok(store::touch_token(tx.conn, token_id, tx.now).await?) })
            })
            .await?;
        }
        Ok(principal)
    }

    /// Resolves a session cookie to its principal.
    pub async fn authenticate_session(&self, secret: &str) -> Result<Principal, AppError> {
        let rejected =
            || AppError::Unauthenticated("the session has expired; sign in again".into());
        let now = self.now_ms();
        let mut conn = self.db().reader().await?;
        let found = store::find_session(&mut conn, &secret_hash(secret), now)
            .await?
            .ok_or_else(rejected)?;
        if found.user.active == 0 {
            return Err(rejected());
        }
        let session_id = found.session.public_id;
        let principal = principal_for(
            &mut conn,
            &found.user,
            Via::Session {
                csrf_token: found.csrf_token,
                session_id: session_id.clone(),
            },
        )
        .await?;
        drop(conn);
        if found
            .session
            .last_seen_at
            .is_none_or(|seen| now - seen > TOKEN_TOUCH_INTERVAL_MS)
        {
            self.system_change("session use", move |tx| {
                Box::pin(
                    async move { Ok(store::touch_session(tx.conn, &session_id, tx.now).await?) },
                )
            })
            .await?;
        }
        Ok(principal)
    }

    /// Signs in with e-mail and password from `client`. Wrong passwords count towards a
    /// per-address limit and a per-account lockout. An account with a second factor gets a
    /// challenge to answer with [`App::answer_second_factor`] instead of a session.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<SignIn, AppError> {
        let now = self.now_ms();
        self.inner.login_throttle.check(&client.ip, now)?;
        let email = Email::parse(email).map_err(|_| invalid_credentials())?;
        let user = {
            let mut conn = self.db().reader().await?;
            store::find_user_by_email(&mut conn, email.as_str()).await?
        };
        let Some(user) = user else {
            // A directory with sign-up may know the address: its bind decides.
            if let Some(signed_in) = self.directory_sign_up(&email, password, client).await? {
                return Ok(signed_in);
            }
            let attempt = password.to_owned();
            let _ =
                tokio::task::spawn_blocking(move || password_matches(&attempt, &DECOY_HASH)).await;
            self.inner.login_throttle.record(client.ip, now);
            return Err(invalid_credentials());
        };
        if let Some(until) = user.locked_until.filter(|until| *until > now) {
            return Err(AppError::RateLimited {
                retry_after_secs: (until - now + 999) / 1000,
            });
        }
        // A directory account's password is checked by a bind, never a local hash.
        if let Some(signed_in) = self.directory_login(&user, password, client).await? {
            return Ok(signed_in);
        }
        let stored = user.password_hash.clone().unwrap_or_default();
        let attempt = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || password_matches(&attempt, &stored))
            .await
            .map_err(|e| AppError::internal("password check stopped", e))?;
        let user_id = user.id;
        if !matches || user.active == 0 {
            self.record_login_failure(&user, client.ip).await?;
            return Err(invalid_credentials());
        }
        self.system_change("sign-in", move |tx| {
            Box::pin(async move { Ok(store::clear_login_failures(tx.conn, user_id).await?) })
        })
        .await?;
        if self.second_factor_enabled(user_id).await? {
            return Ok(SignIn::SecondFactor {
                challenge: self.open_login_challenge(user_id).await?,
            });
        }
        Ok(SignIn::Session(
            self.open_session(user_id, "password", client).await?,
        ))
    }

    /// Counts a wrong password (or a sign-in by a deactivated account) towards the client's
    /// limit and the account's lockout.
    pub(crate) async fn record_login_failure(
        &self,
        user: &UserRow,
        client: IpAddr,
    ) -> Result<(), AppError> {
        let now = self.now_ms();
        self.inner.login_throttle.record(client, now);
        let (user_id, failures) = (user.id, user.failed_logins + 1);
        let locked_until = lockout_seconds(u32::try_from(failures).unwrap_or(u32::MAX))
            .map(|secs| now + secs * 1000);
        self.system_change("sign-in", move |tx| {
            Box::pin(async move {
                Ok(store::record_login_failure(tx.conn, user_id, failures, locked_until).await?)
            })
        })
        .await
    }

    /// Opens a browser session for a user who has proven who they are by `method`
    /// (`password`, `oidc`, `ldap`…). Every way of signing in ends here.
    pub async fn open_session(
        &self,
        user_id: i64,
        method: &str,
        client: &ClientInfo,
    ) -> Result<Session, AppError> {
        let session = Session {
            secret: random_secret()?,
            csrf_token: random_secret()?,
            expires_at_ms: self.now_ms() + self.config().session_ttl_secs * 1000,
        };
        let hash = secret_hash(&session.secret);
        // 128 random bits: enough to name a session without revealing anything of its secret.
        let public_id = random_secret()?.chars().take(32).collect::<String>();
        let (csrf, expires) = (session.csrf_token.clone(), session.expires_at_ms);
        let method = method.to_owned();
        let ip = client.ip.to_string();
        let user_agent = client.user_agent.as_deref().map(short_user_agent);
        self.system_change("sign-in", move |tx| {
            Box::pin(async move {
                let new = store::NewSession {
                    token_hash: &hash,
                    public_id: &public_id,
                    user_id,
                    csrf_token: &csrf,
                    method: &method,
                    client_ip: Some(&ip),
                    user_agent: user_agent.as_deref(),
                    expires_at: expires,
                };
                Ok(store::insert_session(tx.conn, &new, tx.now).await?)
            })
        })
        .await?;
        Ok(session)
    }

    /// Ends a browser session.
    pub async fn logout(&self, session_secret: &str) -> Result<(), AppError> {
        let hash = secret_hash(session_secret);
        self.system_change("sign-out", move |tx| {
            Box::pin(async move { Ok(store::delete_session(tx.conn, &hash).await?) })
        })
        .await
    }

    /// Creates an API token for the user with `email`. Admins (and the system) may create
    /// tokens for anyone; others only for themselves.
    pub async fn create_token(
        &self,
        principal: &Principal,
        email: &str,
        name: &str,
    ) -> Result<CreatedToken, AppError> {
        let email = Email::parse(email).map_err(|e| AppError::invalid("email", e))?;
        let name = name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AppError::invalid("name", "must be 1 to 100 characters"));
        }
        let owner = {
            let mut conn = self.db().reader().await?;
            store::find_user_by_email(&mut conn, email.as_str()).await?
        }
        .ok_or_else(|| AppError::invalid("email", "no user has this e-mail address"))?;
        if principal.role != Role::Admin && principal.user_id != Some(owner.id) {
            return Err(AppError::Forbidden(
                "only admins create tokens for other users".into(),
            ));
        }
        let secret = format!("{TOKEN_PREFIX}{}", random_secret()?);
        let hash = secret_hash(&secret);
        let token = self
            .change(principal, Need::Anyone, move |mut tx| {
                Box::pin(async move {
                    let row = store::insert_token(tx.conn, owner.id, &name, &hash, tx.now).await?;
                    let token = ApiToken::from(row);
                    tx.record(Event::created(Entity::ApiToken, token.id, &token))
                        .await?;
                    Ok::<_, AppError>(token)
                })
            })
            .await?;
        Ok(CreatedToken { token, secret })
    }

    /// The principal's own tokens.
    pub async fn tokens(&self, principal: &Principal) -> Result<Vec<ApiToken>, AppError> {
        let user_id = principal
            .user_id
            .ok_or_else(|| AppError::Unauthenticated("no user is signed in".into()))?;
        let mut conn = self.db().reader().await?;
        Ok(store::list_tokens(&mut conn, user_id)
            .await?
            .into_iter()
            .map(ApiToken::from)
            .collect())
    }

    /// Revokes a token: one's own, or anyone's for an admin.
    pub async fn revoke_token(
        &self,
        principal: &Principal,
        token_id: i64,
    ) -> Result<ApiToken, AppError> {
        let (is_admin, user_id) = (principal.role == Role::Admin, principal.user_id);
        let revoked = self
            .change(principal, Need::Anyone, move |mut tx| {
                Box::pin(async move {
                    let before = store::get_token(tx.conn, token_id)
                        .await?
                        .filter(|token| is_admin || Some(token.user_id) == user_id)
                        .ok_or(AppError::NotFound("token"))?;
                    if !store::revoke_token(tx.conn, token_id, tx.now).await? {
                        return Err(AppError::Conflict {
                            field: None,
                            message: "the token is already revoked".into(),
                        });
                    }
                    let before = ApiToken::from(before);
                    let after = ApiToken {
                        revoked_at: Some(timestamp(tx.now)),
                        ..before.clone()
                    };
                    tx.record(Event {
                        entity: Entity::ApiToken,
                        entity_id: token_id,
                        action: Action::Revoked,
                        before: crate::audit::snapshot(&before),
                        after: crate::audit::snapshot(&after),
                    })
                    .await?;
                    Ok(after)
                })
            })
            .await?;
        Ok(revoked)
    }
}
