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

use std::net::IpAddr;

use opsdesk_domain::account::{Email, check_password};
use opsdesk_store::accounts as accounts_store;
use opsdesk_store::accounts::UserRow;
use opsdesk_store::directories::{
    self as store, NewPasswordReset, PasswordResetRow, ResetApprovalRow,
};
use opsdesk_store::identities;
use serde::Serialize;

use super::client::{Connection, DirectoryError, Entry};
use super::{reach_of, unreachable};
use crate::audit::{Action, Entity, Event};
use crate::change::Need;
use crate::clock::{random_secret, secret_hash, timestamp};
use crate::jobs::{self, JobError, JobKind};
use crate::mail::{PersonalMail, html_escape};
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
/// How long a manager has to decide: a working day, whichever hour the person asked at.
const APPROVAL_VALID_MS: i64 = 24 * 3_600_000;
/// How long the link mailed once the manager approved stays valid.
const LINK_VALID_MS: i64 = 3_600_000;
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

opsdesk_domain::string_enum! {
    /// How a person proves who they are.
    pub enum ResetProof as "proof" {
        /// A one-time code mailed to their recovery address.
        Code => "code",
        /// Their manager's approval, then a link mailed to their recovery address.
        Manager => "manager",
    }
}

/// A reset request as its person's manager sees it before deciding.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalRequest {
    pub kind: ResetKind,
    /// Who asks: their name and address at the desk.
    pub name: String,
    pub email: String,
    /// Where the request came from.
    pub client_ip: String,
    pub requested_at: jiff::Timestamp,
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

fn wrong_link() -> AppError {
    AppError::invalid(
        "link",
        "the link has expired or was used already; ask for a new reset",
    )
}

/// A decision token that is stale, used or denied: the same answer for each.
fn decided_already() -> AppError {
    AppError::Conflict {
        field: None,
        message: "this request was decided already or has expired; the person can ask again".into(),
    }
}

fn wrong_code() -> AppError {
    AppError::invalid(
        "code",
        "the code is wrong or has expired; ask for a new one",
    )
}

/// What a reset of `kind` asks for, as a mail says it.
fn asked_for(kind: &str) -> &'static str {
    match kind {
        "unlock" => "unlock your account",
        _ => "choose a new password",
    }
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
    /// Each secret is made here and only its hash kept, so it exists in the mail alone.
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

    async fn mail_code(&self, row: &PasswordResetRow, account: &UserRow) -> Result<(), JobError> {
        let id = row.id;
        let code = new_code()?;
        let code_hash = secret_hash(&code);
        self.system_change("password reset", move |tx| {
            Box::pin(async move { Ok(store::set_reset_code(tx.conn, id, &code_hash).await?) })
        })
        .await?;
        let what = asked_for(&row.kind);
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
            email = html_escape(&account.email),
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

    /// Mails `manager_id` the links to approve or deny the reset `account` asked for.
    async fn mail_manager(
        &self,
        row: &PasswordResetRow,
        account: &UserRow,
        manager_id: i64,
    ) -> Result<(), JobError> {
        let manager = {
            let mut conn = self.db().reader().await?;
            accounts_store::get_user(&mut conn, manager_id).await?
        };
        let Some(manager) = manager.filter(|m| m.active != 0) else {
            return Ok(());
        };
        let id = row.id;
        let token = random_secret()?;
        let token_hash = secret_hash(&token);
        self.system_change("password reset", move |tx| {
            Box::pin(async move { Ok(store::set_approval_token(tx.conn, id, &token_hash).await?) })
        })
        .await?;
        let what = match row.kind.as_str() {
            "unlock" => "unlock their account",
            _ => "choose a new password",
        };
        let page = format!(
            "{}/portal/password/approval/{token}",
            self.config().public_url
        );
        let (approve, deny) = (
            format!("{page}?decision=approve"),
            format!("{page}?decision=deny"),
        );
        let text = format!(
            "{name} ({email}) asked the service desk to {what}, and names you as their manager \
             to confirm it is them.\n\n\
             Approve: {approve}\n\
             Deny: {deny}\n\n\
             Deciding needs you signed in to the desk as {manager}; the links work once, for \
             24 hours. Approved, they are mailed a link to finish with. If you did not expect \
             this, deny it: nothing changes without your approval.\n",
            name = account.name,
            email = account.email,
            manager = manager.email,
        );
        let html = format!(
            "<p>{name} ({email}) asked the service desk to {what}, and names you as their \
             manager to confirm it is them.</p>\
             <p><a href=\"{approve}\">Approve</a> · <a href=\"{deny}\">Deny</a></p>\
             <p>Deciding needs you signed in to the desk as {manager}; the links work once, for \
             24 hours. Approved, they are mailed a link to finish with. If you did not expect \
             this, deny it: nothing changes without your approval.</p>",
            name = html_escape(&account.name),
            email = html_escape(&account.email),
            manager = html_escape(&manager.email),
            approve = html_escape(&approve),
            deny = html_escape(&deny),
        );
        self.send_personal(PersonalMail {
            to: manager.email.clone(),
            subject: format!("Approve a password reset for {}", account.email),
            text,
            html,
            key: format!("password-reset.{id}.approval"),
        })
        .await?;
        Ok(())
    }

    /// Mails the person whose manager approved their reset the link to finish with.
    async fn mail_approved_link(
        &self,
        row: &PasswordResetRow,
        account: &UserRow,
    ) -> Result<(), JobError> {
        let id = row.id;
        let link = random_secret()?;
        let link_hash = secret_hash(&link);
        self.system_change("password reset", move |tx| {
            Box::pin(async move { Ok(store::set_approval_link(tx.conn, id, &link_hash).await?) })
        })
        .await?;
        let what = asked_for(&row.kind);
        let url = format!(
            "{}/portal/password/approved/{link}",
            self.config().public_url
        );
        let text = format!(
            "Your manager approved your request to {what} for {email} at the service desk.\n\n\
             Continue here: {url}\n\n\
             The link works once, for an hour.\n",
            email = account.email,
        );
        let html = format!(
            "<p>Your manager approved your request to {what} for {email} at the service \
             desk.</p><p><a href=\"{url}\">Continue</a></p>\
             <p>The link works once, for an hour.</p>",
            email = html_escape(&account.email),
            url = html_escape(&url),
        );
        self.send_personal(PersonalMail {
            to: row.recovery_address.clone(),
            subject: format!("Password reset approved for {}", account.email),
            text,
            html,
            key: format!("password-reset.{id}.approved"),
        })
        .await?;
        Ok(())
    }

    /// The reset request a mailed decision `token` is for, as the manager it was sent to
    /// sees it before deciding. Anyone else is refused.
    pub async fn password_reset_approval(
        &self,
        principal: &Principal,
        token: &str,
    ) -> Result<ApprovalRequest, AppError> {
        let (row, _) = self.open_approval(principal, token).await?;
        let person = {
            let mut conn = self.db().reader().await?;
            accounts_store::get_user(&mut conn, row.user_id)
                .await?
                .ok_or(AppError::NotFound("user"))?
        };
        Ok(ApprovalRequest {
            kind: row
                .kind
                .parse()
                .map_err(|e| AppError::internal("password reset kind", e))?,
            name: person.name,
            email: person.email,
            client_ip: row.client_ip,
            requested_at: timestamp(row.created_at),
        })
    }

    /// The still-open approval a decision `token` names, if `principal` is its manager.
    async fn open_approval(
        &self,
        principal: &Principal,
        token: &str,
    ) -> Result<(PasswordResetRow, ResetApprovalRow), AppError> {
        let found = {
            let mut conn = self.db().reader().await?;
            match store::find_approval(&mut conn, &secret_hash(token)).await? {
                Some(approval) => store::get_reset(&mut conn, approval.reset_id)
                    .await?
                    .map(|row| (row, approval)),
                None => None,
            }
        };
        let (row, approval) = found.ok_or(AppError::NotFound("password reset approval"))?;
        if principal.user_id != Some(approval.manager_id) {
            return Err(AppError::Forbidden(
                "only the manager this request was sent to can decide it".into(),
            ));
        }
        let open =
            approval.state == "waiting" && row.state == "pending" && self.now_ms() < row.expires_at;
        if !open {
            return Err(decided_already());
        }
        Ok((row, approval))
    }

    /// The manager's decision on a reset their report asked for, with the mailed `token`:
    /// approved, the person is mailed a link to finish with, valid for an hour; denied, the
    /// request ends. A token decides once; only the manager it was sent to may use it.
    pub async fn decide_password_reset(
        &self,
        principal: &Principal,
        token: &str,
        approve: bool,
        client: IpAddr,
    ) -> Result<(), AppError> {
        let now = self.now_ms();
        let throttles = &self.inner.reset_throttles;
        throttles.by_client.check(&client, now)?;
        throttles.by_client.record(client, now);
        let client_ip = client.to_string();
        let (row, approval) = match self.open_approval(principal, token).await {
            Err(AppError::Forbidden(message)) => {
                // Someone holding another's link: worth an admin's notice.
                let by = principal.user_id;
                self.change(principal, Need::Anyone, move |mut tx| {
                    Box::pin(async move {
                        tx.record(Event {
                            entity: Entity::PasswordReset,
                            entity_id: 0,
                            action: Action::Updated,
                            before: None,
                            after: Some(serde_json::json!({
                                "refused": "not the manager asked", "by_user_id": by,
                                "client_ip": client_ip,
                            })),
                        })
                        .await
                    })
                })
                .await?;
                return Err(AppError::Forbidden(message));
            }
            other => other?,
        };
        let (id, user_id, manager_id) = (row.id, row.user_id, approval.manager_id);
        self.change(principal, Need::Anyone, move |mut tx| {
            Box::pin(async move {
                let link_until = tx.now + LINK_VALID_MS;
                if !store::decide_approval(tx.conn, id, approve, link_until, tx.now).await? {
                    return Err(decided_already());
                }
                let mut batch = tx.batch();
                if approve {
                    jobs::queue(
                        &mut batch,
                        JobKind::PasswordResetCode,
                        &serde_json::json!({ "reset_id": id }),
                        tx.now,
                    );
                }
                tx.record_with(
                    batch,
                    Event {
                        entity: Entity::PasswordReset,
                        entity_id: id,
                        action: Action::Updated,
                        before: None,
                        after: Some(serde_json::json!({
                            "user_id": user_id, "manager_id": manager_id,
                            "decision": if approve { "approved" } else { "denied" },
                            "state": if approve { "pending" } else { "failed" },
                            "client_ip": client_ip,
                        })),
                    },
                )
                .await
            })
        })
        .await
    }

    /// Finishes a reset with the mailed `code`: see [`App::complete_reset`]. A wrong code is
    /// 422 naming `code`.
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
        self.complete_reset(&row, password, client, ResetProof::Code)
            .await
    }

    /// Finishes a reset the person's manager approved, with the `link` mailed after the
    /// approval: see [`App::complete_reset`]. A used or expired link is 422 naming `link`.
    pub async fn finish_approved_reset(
        &self,
        link: &str,
        password: Option<&str>,
        client: IpAddr,
    ) -> Result<ResetDone, AppError> {
        let now = self.now_ms();
        let throttles = &self.inner.reset_throttles;
        throttles.by_client.check(&client, now)?;
        throttles.by_client.record(client, now);
        let row = {
            let mut conn = self.db().reader().await?;
            store::find_approved_reset(&mut conn, &secret_hash(link)).await?
        };
        let Some(row) = row.filter(|r| r.state == "pending" && now < r.expires_at) else {
            return Err(wrong_link());
        };
        self.complete_reset(&row, password, client, ResetProof::Manager)
            .await
    }

    /// Completes a reset whose person proved who they are by `proof`: sets `password` in
    /// the directory (a reset) or lifts the lockout (an unlock), clears opsdesk's own
    /// lockout, and records a resolved service request. A password opsdesk's or the
    /// directory's policy refuses is 422 naming `password`, and the reset stays usable.
    async fn complete_reset(
        &self,
        row: &PasswordResetRow,
        password: Option<&str>,
        client: IpAddr,
        proof: ResetProof,
    ) -> Result<ResetDone, AppError> {
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
        self.change_in_directory(row, kind, password.as_deref())
            .await?;
        let ticket = self.record_deflection(row, kind, proof).await?;
        let (id, user_id, ticket_id) = (row.id, row.user_id, ticket.id);
        let client_ip = client.to_string();
        self.system_change("password reset", move |mut tx| {
            Box::pin(async move {
                if !store::complete_reset(tx.conn, id, ticket_id, tx.now).await? {
                    return Err(match proof {
                        ResetProof::Code => wrong_code(),
                        ResetProof::Manager => wrong_link(),
                    });
                }
                accounts_store::clear_login_failures(tx.conn, user_id).await?;
                tx.record(Event {
                    entity: Entity::PasswordReset,
                    entity_id: id,
                    action: Action::Updated,
                    before: None,
                    after: Some(serde_json::json!({
                        "user_id": user_id, "kind": kind, "proof": proof, "state": "completed",
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
        proof: ResetProof,
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
        let proven = match proof {
            ResetProof::Code => {
                "The requester proved who they are with a code mailed to their recovery address"
            }
            ResetProof::Manager => {
                "The requester's manager approved the request, and the requester followed the link then mailed to their recovery address"
            }
        };
        let (title, note) = match kind {
            ResetKind::Reset => (
                "Password reset (self-service)",
                format!("{proven}, and chose a new password, set in the directory."),
            ),
            ResetKind::Unlock => (
                "Account unlock (self-service)",
                format!("{proven}; the lockout was lifted in the directory and in opsdesk."),
            ),
        };
        let ticket = self
            .create_ticket(
                &system,
                NewTicket {
                    ticket_type: "service_request".into(),
                    title: title.into(),
                    description: note.clone(),
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
                resolution_note: Some(note),
                ..TicketPatch::default()
            },
        )
        .await
    }
}
