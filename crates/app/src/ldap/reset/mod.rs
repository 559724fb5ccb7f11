//! Self-service password reset and account unlock for directory accounts.
//!
//! The person names their account and how they prove who they are. With a code, if the desk
//! knows the account and it is linked to a directory, a one-time code is mailed to its
//! recovery address through the job outbox. With their manager's approval, the manager the
//! directory names (when the desk knows them) is mailed approve and deny links; approved,
//! the person is mailed a link to finish with. Whether the account or its manager exists is
//! never said: every request answers alike. Finishing either way sets a new password
//! (checked against opsdesk's policy, then the directory's own) in the directory, or lifts
//! its lockout, and opsdesk's lockout with it. Every step is audited and rate-limited, and
//! each completed reset is recorded as a service request opened and resolved at once, so
//! the reports count the deflection.
//!
//! What the two proofs share lives here: starting a reset, finding its account, and the job
//! that mails what a reset waits for. [`code`] and [`manager`] hold each proof's own steps,
//! [`complete`] what finishing either way does, and [`mail`] the one shape of their mails.

mod code;
mod complete;
mod mail;
mod manager;

use std::net::IpAddr;

use opsdesk_domain::account::Email;
use opsdesk_store::Batch;
use opsdesk_store::accounts as accounts_store;
use opsdesk_store::directories::{self as store, NewPasswordReset};
use opsdesk_store::identities;
use serde::Serialize;

use super::client::{Connection, Entry};
use super::reach_of;
use crate::audit::{Action, Entity, Event};
use crate::change::Need;
use crate::clock::{random_secret, secret_hash};
use crate::jobs::{self, JobError, JobKind};
use crate::{App, AppError, Principal};
use code::CODE_VALID_MS;
use manager::APPROVAL_VALID_MS;

pub use manager::ApprovalRequest;

/// Requests for one address per minute, on one node.
pub(crate) const REQUESTS_PER_ADDRESS_PER_MINUTE: u32 = 3;
/// Requests and code entries from one client address per minute, on one node.
pub(crate) const STEPS_PER_CLIENT_PER_MINUTE: u32 = 10;
/// Resets one account may ask for per hour, on all nodes together.
const RESETS_PER_ACCOUNT_PER_HOUR: i64 = 5;
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

opsdesk_domain::string_enum! {
    /// How a person proves who they are.
    pub enum ResetProof as "proof" {
        /// A one-time code mailed to their recovery address.
        Code => "code",
        /// Their manager's approval, then a link mailed to their recovery address.
        Manager => "manager",
    }
}

/// A completed reset or unlock.
#[derive(Debug, Clone, Serialize)]
pub struct ResetDone {
    pub kind: ResetKind,
    /// The service request it was recorded as, already resolved.
    pub ticket: String,
}

/// The account a reset is for: the desk user, its directory and its entry there, and the
/// desk user its manager is, when asked for and known.
struct ResetAccount {
    user_id: i64,
    directory_id: i64,
    entry: Entry,
    manager_id: Option<i64>,
}

/// An audit entry for a step of reset `id` (0 when refused before any reset), `after`
/// saying what the step did.
fn reset_step(id: i64, after: serde_json::Value) -> Event {
    Event {
        entity: Entity::PasswordReset,
        entity_id: id,
        action: Action::Updated,
        before: None,
        after: Some(after),
    }
}

/// Queues the job that mails what reset `id` waits for now: its code, its manager's links,
/// or, once approved, the link to finish with.
fn queue_reset_mail(batch: &mut Batch, id: i64, now: i64) {
    jobs::queue(
        batch,
        JobKind::PasswordResetCode,
        &serde_json::json!({ "reset_id": id }),
        now,
    );
}

impl App {
    /// Starts a reset or unlock of the account `login` (an e-mail address, or a directory
    /// login) names, from `client`, proven by `proof`. Always answers with the secret of the
    /// page to enter a mailed code on, whether or not such an account (or its manager)
    /// exists; with a manager's approval no code comes, and the page is not shown.
    pub async fn start_password_reset(
        &self,
        login: &str,
        kind: ResetKind,
        proof: ResetProof,
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
        let found = self.reset_account(&login, proof).await?;
        let client_ip = client.to_string();
        let principal = Principal::system("password reset");
        self.change(&principal, Need::Anyone, move |mut tx| {
            Box::pin(async move {
                // Audited all the same: an admin sees the attempts on unknown names.
                let refused = |reason: serde_json::Value| Event {
                    entity: Entity::PasswordReset,
                    entity_id: 0,
                    action: Action::Created,
                    before: None,
                    after: Some(serde_json::json!({
                        "login": login, "kind": kind, "proof": proof, "client_ip": client_ip,
                        "refused": reason,
                    })),
                };
                let Some(account) = found else {
                    return tx.record(refused("unknown account".into())).await;
                };
                let user_id = account.user_id;
                let since = tx.now - 3_600_000;
                if store::recent_resets(tx.conn, user_id, since).await?
                    >= RESETS_PER_ACCOUNT_PER_HOUR
                {
                    let reason = serde_json::json!({
                        "user_id": user_id, "reason": "too many requests this hour",
                    });
                    return tx.record(refused(reason)).await;
                }
                let valid_ms = match (proof, account.manager_id) {
                    (ResetProof::Code, _) => CODE_VALID_MS,
                    (ResetProof::Manager, Some(_)) => APPROVAL_VALID_MS,
                    (ResetProof::Manager, None) => {
                        let reason = serde_json::json!({
                            "user_id": user_id, "reason": "no manager known to the desk",
                        });
                        return tx.record(refused(reason)).await;
                    }
                };
                let entry = &account.entry;
                let recovery = entry
                    .recovery
                    .clone()
                    .unwrap_or_else(|| entry.email.clone());
                let id = store::insert_reset(
                    tx.conn,
                    &NewPasswordReset {
                        handle_hash: &handle_hash,
                        user_id,
                        directory_id: account.directory_id,
                        kind: kind.as_str(),
                        user_dn: &entry.dn,
                        recovery_address: &recovery,
                        client_ip: &client_ip,
                        expires_at: tx.now + valid_ms,
                    },
                    tx.now,
                )
                .await?;
                if let Some(manager_id) = account.manager_id {
                    store::insert_approval(tx.conn, id, manager_id).await?;
                }
                let mut batch = tx.batch();
                // One job mails whatever the reset waits for: its code, or its manager.
                queue_reset_mail(&mut batch, id, tx.now);
                tx.record_with(
                    batch,
                    Event::created(
                        Entity::PasswordReset,
                        id,
                        &serde_json::json!({
                            "user_id": user_id, "directory_id": account.directory_id,
                            "kind": kind, "proof": proof, "manager_id": account.manager_id,
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

    /// Counts a step of a reset (a code entered, a decision, a finish) from `client`
    /// against its limit; the time now.
    fn client_step(&self, client: IpAddr) -> Result<i64, AppError> {
        let now = self.now_ms();
        let by_client = &self.inner.reset_throttles.by_client;
        by_client.check(&client, now)?;
        by_client.record(client, now);
        Ok(now)
    }

    /// The account `login` names, its directory and its entry there, if the desk knows it
    /// and it is linked to an active directory that finds it; with `proof` by manager, the
    /// desk user the entry's manager attribute names too.
    async fn reset_account(
        &self,
        login: &str,
        proof: ResetProof,
    ) -> Result<Option<ResetAccount>, AppError> {
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
            let manager = match (&entry, proof) {
                (Ok(Some(entry)), ResetProof::Manager) => match &entry.manager {
                    Some(dn) => connection.person_at(&reach, dn).await.ok().flatten(),
                    None => None,
                },
                _ => None,
            };
            connection.close().await;
            let Ok(Some(entry)) = entry else { continue };
            let mut conn = self.db().reader().await?;
            let user_id = match &by_address {
                Some((user, (_, subject))) if *subject == entry.subject => Some(user.id),
                Some(_) => None,
                None => identities::find_identity_user(&mut conn, "ldap", row.id, &entry.subject)
                    .await?
                    .map(|user| user.id),
            };
            let Some(user_id) = user_id else { continue };
            let manager_id = match manager {
                Some(manager) => {
                    identities::find_identity_user(&mut conn, "ldap", row.id, &manager.subject)
                        .await?
                        .filter(|user| user.active != 0 && user.id != user_id)
                        .map(|user| user.id)
                }
                None => None,
            };
            return Ok(Some(ResetAccount {
                user_id,
                directory_id: row.id,
                entry,
                manager_id,
            }));
        }
        Ok(None)
    }

    /// Mails what a reset waits for (the `password_reset.code` job): its one-time code to
    /// the recovery address; or, when the person asked their manager, the approve and deny
    /// links to the manager and, once approved, the link to finish with to the person.
    /// Each secret is made as its mail is sent, and only its hash kept.
    pub(crate) async fn send_reset_code(
        &self,
        payload: &serde_json::Value,
    ) -> Result<(), JobError> {
        let id = jobs::id_in(payload, "reset_id")?;
        let (row, approval) = {
            let mut conn = self.db().reader().await?;
            (
                store::get_reset(&mut conn, id).await?,
                store::get_approval(&mut conn, id).await?,
            )
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
        match approval {
            None => self.mail_code(&row, &account).await,
            Some(approval) if approval.state == "waiting" => {
                self.mail_manager(&row, &account, approval.manager_id).await
            }
            Some(approval) if approval.state == "approved" => {
                self.mail_approved_link(&row, &account).await
            }
            Some(_) => Ok(()),
        }
    }
}
