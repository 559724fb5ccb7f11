//! The optional second factor for local passwords: a time-based one-time password (RFC 6238)
//! from an authenticator app, with single-use recovery codes for a lost device.

use opsdesk_domain::account::Role;
use opsdesk_store::accounts as accounts_store;
use opsdesk_store::second_factor as store;
use serde::Serialize;
use totp_rs::{Secret, Totp};

use crate::audit::{Action, Entity, Event};
use crate::auth::{ClientInfo, Session};
use crate::change::Need;
use crate::clock::{random_secret, secret_hash};
use crate::{App, AppError, Principal};

/// How long a right password waits for its second factor.
const CHALLENGE_TTL_MS: i64 = 5 * 60_000;
/// Wrong codes one challenge takes before the person must enter the password again.
const CHALLENGE_ATTEMPTS: i64 = 5;
const RECOVERY_CODES: usize = 10;
const ISSUER: &str = "opsdesk";

/// The authenticator set-up a person scans or types: shown once, before confirmation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TotpEnrolment {
    /// The shared secret in base32, for typing into an app.
    pub secret: String,
    /// The `otpauth://` URI the QR code carries.
    pub otpauth_uri: String,
}

/// Whether an account has a second factor, and how many recovery codes are left.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SecondFactorStatus {
    pub enabled: bool,
    /// Enrolment started but no code entered yet.
    pub pending: bool,
    pub recovery_codes_left: i64,
    /// Only accounts with a local password can add one; directory accounts use their
    /// directory's own.
    pub available: bool,
}

/// Recovery codes, shown once when the second factor is confirmed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    pub codes: Vec<String>,
}

fn totp(secret_base32: &str, account: &str) -> Result<Totp, AppError> {
    let secret = Secret::try_from_base32(secret_base32)
        .map_err(|e| AppError::internal("stored authenticator secret", format!("{e:?}")))?;
    totp_rs::Builder::new()
        .with_secret(secret)
        .with_account_name(account)
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|e| AppError::internal("authenticator", format!("{e:?}")))
}

/// Recovery codes are typed by hand: ten hex digits in two groups, compared without case,
/// spaces or dashes.
fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn wrong_code() -> AppError {
    AppError::invalid("code", "the code is wrong or was already used")
}

impl App {
    /// Whether signing in as `user_id` needs a second factor.
    pub(crate) async fn second_factor_enabled(&self, user_id: i64) -> Result<bool, AppError> {
        let mut conn = self.db().reader().await?;
        Ok(store::get_totp(&mut conn, user_id)
            .await?
            .is_some_and(|totp| totp.confirmed_at.is_some()))
    }

    /// Remembers, for five minutes, that `user_id` gave the right password.
    pub(crate) async fn open_login_challenge(&self, user_id: i64) -> Result<String, AppError> {
        let challenge = random_secret()?;
        let hash = secret_hash(&challenge);
        self.system_change("sign-in", move |tx| {
            Box::pin(async move {
                Ok(store::insert_login_challenge(
                    tx.conn,
                    &hash,
                    user_id,
                    tx.now + CHALLENGE_TTL_MS,
                )
                .await?)
            })
        })
        .await?;
        Ok(challenge)
    }

    /// Completes a sign-in with a code from the authenticator or a recovery code.
    pub async fn answer_second_factor(
        &self,
        challenge: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<Session, AppError> {
        let now = self.now_ms();
        self.inner.login_throttle.check(&client.ip, now)?;
        let hash = secret_hash(challenge);
        let expired = || {
            AppError::Unauthenticated("the sign-in has expired; enter your password again".into())
        };
        let attempt_hash = hash.clone();
        let (user_id, attempts) = self
            .system_change("sign-in", move |tx| {
                Box::pin(async move {
                    Ok(store::attempt_login_challenge(tx.conn, &attempt_hash, tx.now).await?)
                })
            })
            .await?
            .ok_or_else(expired)?;
        if attempts > CHALLENGE_ATTEMPTS {
            self.end_login_challenge(&hash).await?;
            return Err(expired());
        }
        if !self.accept_second_factor(user_id, code).await? {
            self.inner.login_throttle.record(client.ip, now);
            return Err(wrong_code());
        }
        self.end_login_challenge(&hash).await?;
        self.open_session(user_id, "password+totp", client).await
    }

    async fn end_login_challenge(&self, hash: &str) -> Result<(), AppError> {
        let hash = hash.to_owned();
        self.system_change("sign-in", move |tx| {
            Box::pin(async move { Ok(store::delete_login_challenge(tx.conn, &hash).await?) })
        })
        .await
    }

    /// Checks `code` against the authenticator (each time step's code works once) or the
    /// unused recovery codes, spending it if it is right.
    async fn accept_second_factor(&self, user_id: i64, code: &str) -> Result<bool, AppError> {
        let row = {
            let mut conn = self.db().reader().await?;
            store::get_totp(&mut conn, user_id).await?
        };
        let Some(row) = row else {
            return Ok(false);
        };
        let seconds = u64::try_from(self.now_ms() / 1000).unwrap_or_default();
        let step = totp(&row.secret, "")?
            .check(code.trim(), seconds)
            .and_then(|step| i64::try_from(step).ok());
        let confirm = row.confirmed_at.is_none();
        let code_hash = secret_hash(&normalise_code(code));
        self.system_change("second factor", move |tx| {
            Box::pin(async move {
                let now = tx.now;
                Ok(match step {
                    Some(step) => {
                        store::use_totp_step(tx.conn, user_id, step, confirm.then_some(now)).await?
                    }
                    None => store::use_recovery_code(tx.conn, user_id, &code_hash, now).await?,
                })
            })
        })
        .await
    }

    /// The principal's second-factor state.
    pub async fn second_factor_status(
        &self,
        principal: &Principal,
    ) -> Result<SecondFactorStatus, AppError> {
        let user_id = signed_in(principal)?;
        let mut conn = self.db().reader().await?;
        let totp = store::get_totp(&mut conn, user_id).await?;
        let left = store::unused_recovery_codes(&mut conn, user_id).await?;
        let user = accounts_store::get_user(&mut conn, user_id).await?;
        Ok(SecondFactorStatus {
            enabled: totp.as_ref().is_some_and(|t| t.confirmed_at.is_some()),
            pending: totp.as_ref().is_some_and(|t| t.confirmed_at.is_none()),
            recovery_codes_left: left,
            available: user.is_some_and(|u| u.password_hash.is_some()),
        })
    }

    /// Starts adding an authenticator to the principal's own local account. Until a first
    /// code confirms it, sign-in does not ask for one.
    pub async fn begin_totp(&self, principal: &Principal) -> Result<TotpEnrolment, AppError> {
        let user_id = signed_in(principal)?;
        let mut bytes = [0_u8; 20];
        getrandom::fill(&mut bytes)
            .map_err(|e| AppError::internal("no randomness available", e.to_string()))?;
        let secret = Secret::new(Box::new(bytes)).to_base32();
        let enrolment = TotpEnrolment {
            otpauth_uri: totp(&secret, &principal.email)?
                .to_url()
                .map_err(|e| AppError::internal("authenticator", format!("{e:?}")))?,
            secret: secret.clone(),
        };
        self.change(principal, Need::Anyone, move |tx| {
            Box::pin(async move {
                let user = accounts_store::get_user(tx.conn, user_id)
                    .await?
                    .ok_or(AppError::NotFound("user"))?;
                if user.password_hash.is_none() {
                    return Err(AppError::Conflict {
                        field: None,
                        message: "this account signs in through its directory, which has its \
                                  own second factor"
                            .into(),
                    });
                }
                if store::get_totp(tx.conn, user_id)
                    .await?
                    .is_some_and(|t| t.confirmed_at.is_some())
                {
                    return Err(AppError::Conflict {
                        field: None,
                        message: "a second factor is already on; turn it off first".into(),
                    });
                }
                Ok(store::begin_totp(tx.conn, user_id, &secret, tx.now).await?)
            })
        })
        .await?;
        Ok(enrolment)
    }

    /// Confirms the authenticator with its first code, turning the second factor on, and
    /// returns fresh recovery codes.
    pub async fn confirm_totp(
        &self,
        principal: &Principal,
        code: &str,
    ) -> Result<RecoveryCodes, AppError> {
        let user_id = signed_in(principal)?;
        let pending = {
            let mut conn = self.db().reader().await?;
            store::get_totp(&mut conn, user_id).await?
        };
        if pending.is_none_or(|t| t.confirmed_at.is_some()) {
            return Err(AppError::Conflict {
                field: None,
                message: "start adding an authenticator first".into(),
            });
        }
        if !self.accept_second_factor(user_id, code).await? {
            return Err(wrong_code());
        }
        let codes = (0..RECOVERY_CODES)
            .map(|_| random_secret().map(|secret| format!("{}-{}", &secret[..5], &secret[5..10])))
            .collect::<Result<Vec<_>, _>>()?;
        let hashes: Vec<String> = codes
            .iter()
            .map(|code| secret_hash(&normalise_code(code)))
            .collect();
        self.change(principal, Need::Anyone, move |mut tx| {
            Box::pin(async move {
                store::replace_recovery_codes(tx.conn, user_id, &hashes).await?;
                tx.record(Event {
                    entity: Entity::SecondFactor,
                    entity_id: user_id,
                    action: Action::Enabled,
                    before: None,
                    after: Some(serde_json::json!({ "method": "totp" })),
                })
                .await
            })
        })
        .await?;
        Ok(RecoveryCodes { codes })
    }

    /// Turns the second factor off: one's own (with a current code), or anyone's for an admin
    /// (a person who lost their device and their recovery codes).
    pub async fn disable_second_factor(
        &self,
        principal: &Principal,
        user_id: i64,
        code: Option<&str>,
    ) -> Result<(), AppError> {
        if principal.role != Role::Admin {
            if principal.user_id != Some(user_id) {
                return Err(AppError::Forbidden(
                    "only admins turn off other people's second factor".into(),
                ));
            }
            let code = code.ok_or_else(|| AppError::invalid("code", "enter a current code"))?;
            if !self.accept_second_factor(user_id, code).await? {
                return Err(wrong_code());
            }
        }
        self.change(principal, Need::Anyone, move |mut tx| {
            Box::pin(async move {
                if !store::delete_totp(tx.conn, user_id).await? {
                    return Err(AppError::NotFound("second factor"));
                }
                tx.record(Event {
                    entity: Entity::SecondFactor,
                    entity_id: user_id,
                    action: Action::Disabled,
                    before: Some(serde_json::json!({ "method": "totp" })),
                    after: None,
                })
                .await
            })
        })
        .await
    }
}

fn signed_in(principal: &Principal) -> Result<i64, AppError> {
    principal
        .user_id
        .ok_or_else(|| AppError::Unauthenticated("no user is signed in".into()))
}
