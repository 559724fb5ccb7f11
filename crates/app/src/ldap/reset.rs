//! Self-service password reset and account unlock for directory accounts.
//!
//! The person names their account; if the desk knows it and it is linked to a directory, a
//! one-time code is mailed to its recovery address through the job outbox. Whether the
//! account exists is never said: every request answers with the page to enter a code on.
//! With the right code a new password (checked against opsdesk's policy, then the
//! directory's own) is set in the directory, or its lockout lifted, and opsdesk's lockout
//! with it. Every step is audited and rate-limited, and each completed reset is recorded as
//! a service request opened and resolved at once, so the reports count the deflection.

use std::net::IpAddr;

use opsdesk_domain::account::{Email, check_password};
use opsdesk_store::accounts as accounts_store;
use opsdesk_store::directories::{self as store, NewPasswordReset, PasswordResetRow};
use opsdesk_store::identities;
use serde::Serialize;

use super::client::{Connection, DirectoryError, Entry};
use super::{reach_of, unreachable};
use crate::audit::{Action, Entity, Event};
use crate::clock::{random_secret, secret_hash};
use crate::jobs::{self, JobError, JobKind};
use crate::mail::PersonalMail;
use crate::tickets::{NewTicket, TicketPatch};
use crate::{App, AppError, Precondition, Principal};

/// Requests for one address per minute, on one node.
pub(crate) const REQUESTS_PER_ADDRESS_PER_MINUTE: u32 = 3;
/// Requests and code entries from one client address per minute, on one node.
pub(crate) const STEPS_PER_CLIENT_PER_MINUTE: u32 = 10;
/// Resets one account may ask for per hour, on all nodes together.
const RESETS_PER_ACCOUNT_PER_HOUR: i64 = 5;
/// How long a mailed code stays valid.
const CODE_VALID_MS: i64 = 15 * 60_000;
/// Wrong codes before a request fails for good.
const MAX_CODE_ATTEMPTS: i64 = 5;
/// The category completed resets are filed under.
pub const RESET_CATEGORY: &str = "Password reset";

opsdesk_domain::string_enum! {
    /// What a person asks for.
    pub enum ResetKind as "reset kind" {
        /// A new password.
        Reset => "reset",
        /// The lockout after too many wrong passwords lifted.
        Unlock => "unlock",
    }
}

/// A completed reset or unlock.
#[derive(Debug, Clone, Serialize)]
pub struct ResetDone {
    pub kind: ResetKind,
    /// The service request it was recorded as, already resolved.
    pub ticket: String,
}

fn wrong_code() -> AppError {
    AppError::invalid(
        "code",
        "the code is wrong or has expired; ask for a new one",
    )
}

/// An eight-digit code: 10⁸ values against at most five tries.
fn new_code() -> Result<String, AppError> {
    let mut bytes = [0_u8; 8];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppError::internal("no randomness available", e.to_string()))?;
    Ok(format!("{:08}", u64::from_le_bytes(bytes) % 100_000_000))
}

impl App {
    /// Starts a reset or unlock of the account `login` (an e-mail address, or a directory
    /// login) names, from `client`. Always answers with the secret of the page to enter the
    /// mailed code on, whether or not such an account exists.
    pub async fn start_password_reset(
        &self,
        login: &str,
        kind: ResetKind,
        client: IpAddr,
    ) -> Result<String, AppError> {
        let login = login.trim().to_lowercase();
        if login.is_empty() || login.chars().count() > 254 {
            return Err(AppError::invalid(
                "login",
                "name your e-mail address or user name",
            ));
        }
        let now = self.now_ms();
        let throttles = &self.inner.reset_throttles;
        throttles.by_client.check(&client, now)?;
        throttles.by_address.check(&login, now)?;
        throttles.by_client.record(client, now);
        throttles.by_address.record(login.clone(), now);
        let handle = random_secret()?;
        let handle_hash = secret_hash(&handle);
        let found = self.reset_account(&login).await?;
        let client_ip = client.to_string();
        let principal = Principal::system("password reset");
        self.change(&principal, crate::change::Need::Anyone, move |mut tx| {
            Box::pin(async move {
                let Some((user_id, directory_id, entry)) = found else {
                    // Audited all the same: an admin sees the attempts on unknown names.
                    tx.record(Event {
                        entity: Entity::PasswordReset,
                        entity_id: 0,
                        action: Action::Created,
                        before: None,
                        after: Some(serde_json::json!({
                            "login": login, "kind": kind, "client_ip": client_ip,
                            "account": "unknown",
                        })),
                    })
                    .await?;
                    return Ok(());
                };
                let since = tx.now - 3_600_000;
                if store::recent_resets(tx.conn, user_id, since).await?
                    >= RESETS_PER_ACCOUNT_PER_HOUR
                {
                    tx.record(Event {
                        entity: Entity::PasswordReset,
                        entity_id: 0,
                        action: Action::Created,
                        before: None,
                        after: Some(serde_json::json!({
                            "login": login, "kind": kind, "client_ip": client_ip,
                            "user_id": user_id, "refused": "too many requests this hour",
                        })),
                    })
                    .await?;
                    return Ok(());
                }
                let recovery = entry
                    .recovery
                    .clone()
                    .unwrap_or_else(|| entry.email.clone());
                let id = store::insert_reset(
                    tx.conn,
                    &NewPasswordReset {
                        handle_hash: &handle_hash,
                        user_id,
                        directory_id,
                        kind: kind.as_str(),
                        user_dn: &entry.dn,
                        recovery_address: &recovery,
                        client_ip: &client_ip,
                        expires_at: tx.now + CODE_VALID_MS,
                    },
                    tx.now,
                )
                .await?;
                let mut batch = tx.batch();
                jobs::queue(
                    &mut batch,
                    JobKind::PasswordResetCode,
                    &serde_json::json!({ "reset_id": id }),
                    tx.now,
                );
                tx.record_with(
                    batch,
                    Event::created(
                        Entity::PasswordReset,
                        id,
                        &serde_json::json!({
                            "user_id": user_id, "directory_id": directory_id, "kind": kind,
                            "client_ip": client_ip, "recovery_address": recovery,
                        }),
                    ),
                )
                .await
            })
        })
        .await?;
        Ok(handle)
    }

    /// The account `login` names, its directory and its entry there, if the desk knows it
    /// and it is linked to an active directory that finds it.
    async fn reset_account(&self, login: &str) -> Result<Option<(i64, i64, Entry)>, AppError> {
        let (by_address, directories) = {
            let mut conn = self.db().reader().await?;
            let user = match Email::parse(login) {
                Ok(email) => accounts_store::find_user_by_email(&mut conn, email.as_str()).await?,
                Err(_) => None,
            };
            let linked = match &user {
                Some(user) => store::directory_of_user(&mut conn, user.id).await?,
                None => None,
            };
            (
                user.zip(linked),
                store::active_directories(&mut conn).await?,
            )
        };
        let candidates = match &by_address {
            Some((_, (row, _))) => vec![row.clone()],
            None => directories,
        };
        for row in candidates.into_iter().filter(|row| row.active != 0) {
            let reach = reach_of(&row)?;
            let mut connection = match Connection::service(&reach).await {
                Ok(connection) => connection,
                Err(error) => {
                    tracing::warn!(directory = row.id, %error, "directory unreachable for a reset");
                    continue;
                }
            };
            let search = match &by_address {
                Some((user, _)) => user.email.clone(),
                None => login.to_owned(),
            };
            let entry = connection.find_person(&reach, &search).await;
            connection.close().await;
            let Ok(Some(entry)) = entry else { continue };
            let user_id = match &by_address {
                Some((user, (_, subject))) if *subject == entry.subject => Some(user.id),
                Some(_) => None,
                None => {
                    let mut conn = self.db().reader().await?;
                    identities::find_identity_user(&mut conn, "ldap", row.id, &entry.subject)
                        .await?
                        .map(|user| user.id)
                }
            };
            if let Some(user_id) = user_id {
                return Ok(Some((user_id, row.id, entry)));
            }
        }
        Ok(None)
    }

    /// Mails a reset's one-time code to its recovery address (the `password_reset.code`
    /// job). The code is made here and only its hash kept, so it exists in the mail alone.
    pub(crate) async fn send_reset_code(
        &self,
        payload: &serde_json::Value,
    ) -> Result<(), JobError> {
        let id = jobs::id_in(payload, "reset_id")?;
        let row = {
            let mut conn = self.db().reader().await?;
            store::get_reset(&mut conn, id).await?
        };
        let Some(row) = row.filter(|r| r.state == "pending" && self.now_ms() < r.expires_at) else {
            return Ok(());
        };
        let account = {
            let mut conn = self.db().reader().await?;
            accounts_store::get_user(&mut conn, row.user_id).await?
        };
        let Some(account) = account else {
            return Ok(());
        };
        let code = new_code()?;
        let code_hash = secret_hash(&code);
        self.system_change("password reset", move |tx| {
            Box::pin(async move { Ok(store::set_reset_code(tx.conn, id, &code_hash).await?) })
        })
        .await?;
        let what = match row.kind.as_str() {
            "unlock" => "unlock your account",
            _ => "choose a new password",
        };
        let text = format!(
            "Someone asked to {what} for {email} at the service desk.\n\n\
             Your code: {code}\n\n\
             Enter it on the page where you asked; it works once, for 15 minutes.\n\
             If this was not you, ignore this mail: nothing changes without the code.\n",
            email = account.email,
        );
        let html = format!(
            "<p>Someone asked to {what} for {email} at the service desk.</p>\
             <p>Your code: <strong>{code}</strong></p>\
             <p>Enter it on the page where you asked; it works once, for 15 minutes. If this \
             was not you, ignore this mail: nothing changes without the code.</p>",
            email = crate::mail::html_escape(&account.email),
        );
        self.send_personal(PersonalMail {
            to: row.recovery_address.clone(),
            subject: format!("Password reset code for {}", account.email),
            text,
            html,
            key: format!("password-reset.{id}"),
        })
        .await?;
        Ok(())
    }

    /// Finishes a reset with the mailed `code`: sets `password` in the directory (a reset)
    /// or lifts the lockout (an unlock), clears opsdesk's own lockout, and records a
    /// resolved service request. A wrong code is 422 naming `code`; a password opsdesk's or
    /// the directory's policy refuses is 422 naming `password`, and the code stays usable.
    pub async fn finish_password_reset(
        &self,
        handle: &str,
        code: &str,
        password: Option<&str>,
        client: IpAddr,
    ) -> Result<ResetDone, AppError> {
        let now = self.now_ms();
        let throttles = &self.inner.reset_throttles;
        throttles.by_client.check(&client, now)?;
        throttles.by_client.record(client, now);
        let row = {
            let mut conn = self.db().reader().await?;
            store::find_reset(&mut conn, &secret_hash(handle)).await?
        };
        let Some(row) = row.filter(|r| r.state == "pending" && now < r.expires_at) else {
            return Err(wrong_code());
        };
        // Hashes are compared: how long that takes says nothing useful about the code.
        let code_matches = row
            .code_hash
            .as_deref()
            .is_some_and(|expected| secret_hash(code.trim()) == expected);
        if !code_matches {
            self.count_wrong_code(&row, client).await?;
            return Err(wrong_code());
        }
        let kind: ResetKind = row
            .kind
            .parse()
            .map_err(|e| AppError::internal("password reset kind", e))?;
        let password = match kind {
            ResetKind::Reset => {
                let password = password.unwrap_or_default();
                check_password(password).map_err(|e| AppError::invalid("password", e))?;
                Some(password.to_owned())
            }
            ResetKind::Unlock => None,
        };
        self.change_in_directory(&row, kind, password.as_deref())
            .await?;
        let ticket = self.record_deflection(&row, kind).await?;
        let (id, user_id, ticket_id) = (row.id, row.user_id, ticket.id);
        let client_ip = client.to_string();
        self.system_change("password reset", move |mut tx| {
            Box::pin(async move {
                if !store::complete_reset(tx.conn, id, ticket_id, tx.now).await? {
                    return Err(wrong_code());
                }
                accounts_store::clear_login_failures(tx.conn, user_id).await?;
                tx.record(Event {
                    entity: Entity::PasswordReset,
                    entity_id: id,
                    action: Action::Updated,
                    before: None,
                    after: Some(serde_json::json!({
                        "user_id": user_id, "kind": kind, "state": "completed",
                        "client_ip": client_ip, "ticket_id": ticket_id,
                    })),
                })
                .await
            })
        })
        .await?;
        Ok(ResetDone {
            kind,
            ticket: ticket.number,
        })
    }

    async fn count_wrong_code(
        &self,
        row: &PasswordResetRow,
        client: IpAddr,
    ) -> Result<(), AppError> {
        let (id, user_id) = (row.id, row.user_id);
        let client_ip = client.to_string();
        self.system_change("password reset", move |mut tx| {
            Box::pin(async move {
                let attempts = store::count_reset_attempt(tx.conn, id, MAX_CODE_ATTEMPTS).await?;
                tx.record(Event {
                    entity: Entity::PasswordReset,
                    entity_id: id,
                    action: Action::Updated,
                    before: None,
                    after: Some(serde_json::json!({
                        "user_id": user_id, "wrong_code": true, "attempts": attempts,
                        "client_ip": client_ip,
                        "state": if attempts >= MAX_CODE_ATTEMPTS { "failed" } else { "pending" },
                    })),
                })
                .await
            })
        })
        .await
    }

    /// Sets the new password, or lifts the lockout, in the reset's directory.
    async fn change_in_directory(
        &self,
        row: &PasswordResetRow,
        kind: ResetKind,
        password: Option<&str>,
    ) -> Result<(), AppError> {
        let directory = {
            let mut conn = self.db().reader().await?;
            store::get_directory(&mut conn, row.directory_id)
                .await?
                .ok_or(AppError::NotFound("directory"))?
        };
        let reach = reach_of(&directory)?;
        let mut connection = Connection::service(&reach)
            .await
            .map_err(|e| unreachable(&e))?;
        let done = async {
            if let Some(password) = password {
                connection
                    .set_password(reach.kind, &row.user_dn, password)
                    .await?;
            }
            // A new password comes with the lockout lifted: the person can sign in with it.
            connection.unlock(reach.kind, &row.user_dn).await
        }
        .await;
        connection.close().await;
        match (done, kind) {
            (Ok(()), _) => Ok(()),
            (Err(DirectoryError::Policy(message)), ResetKind::Reset) => {
                Err(AppError::invalid("password", message))
            }
            (Err(error), _) => Err(unreachable(&error)),
        }
    }

    /// Records a completed reset as a service request of its person, opened in the portal
    /// and resolved at once, under the "Password reset" category.
    async fn record_deflection(
        &self,
        row: &PasswordResetRow,
        kind: ResetKind,
    ) -> Result<crate::tickets::Ticket, AppError> {
        let system = Principal::system("password reset");
        let requester = {
            let mut conn = self.db().reader().await?;
            accounts_store::get_user(&mut conn, row.user_id)
                .await?
                .ok_or(AppError::NotFound("user"))?
        };
        let has_category = self
            .categories()
            .await?
            .iter()
            .any(|c| c.path.eq_ignore_ascii_case(RESET_CATEGORY));
        if !has_category {
            let created = self
                .create_category(
                    &system,
                    crate::tickets::NewCategory {
                        name: RESET_CATEGORY.to_owned(),
                        parent: None,
                    },
                )
                .await;
            // Another node may have just made it.
            if let Err(error) = created
                && !matches!(error, AppError::Conflict { .. })
            {
                return Err(error);
            }
        }
        let (title, note) = match kind {
            ResetKind::Reset => (
                "Password reset (self-service)",
                "The requester proved who they are with a code mailed to their recovery address and chose a new password, set in the directory.",
            ),
            ResetKind::Unlock => (
                "Account unlock (self-service)",
                "The requester proved who they are with a code mailed to their recovery address; the lockout was lifted in the directory and in opsdesk.",
            ),
        };
        let ticket = self
            .create_ticket(
                &system,
                NewTicket {
                    ticket_type: "service_request".into(),
                    title: title.into(),
                    description: note.into(),
                    impact: "low".into(),
                    urgency: "low".into(),
                    requester: Some(requester.email),
                    category: Some(RESET_CATEGORY.into()),
                    source: Some("web".into()),
                    ..NewTicket::default()
                },
            )
            .await?;
        self.update_ticket(
            &system,
            &ticket.number,
            Precondition::Any,
            TicketPatch {
                status: Some("resolved".into()),
                resolution_code: Some("self_service".into()),
                resolution_note: Some(note.into()),
                ..TicketPatch::default()
            },
        )
        .await
    }
}
