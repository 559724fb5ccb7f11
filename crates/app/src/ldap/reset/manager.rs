//! Proof by the manager the directory names: they approve or deny the request with links
//! mailed to them, and the person, once approved, finishes with a link mailed to them.

use std::net::IpAddr;

use opsdesk_store::accounts as accounts_store;
use opsdesk_store::accounts::UserRow;
use opsdesk_store::directories::{self as store, PasswordResetRow, ResetApprovalRow};
use serde::Serialize;

use super::mail::{Link, ResetMail, Secret, Shown, asked_for};
use super::{ResetDone, ResetKind, ResetProof, queue_reset_mail, reset_step};
use crate::change::Need;
use crate::clock::{secret_hash, timestamp};
use crate::jobs::JobError;
use crate::{App, AppError, Principal};

/// How long a manager has to decide: a working day, whichever hour the person asked at.
pub(super) const APPROVAL_VALID_MS: i64 = 24 * 3_600_000;
/// How long the link mailed once the manager approved stays valid.
const LINK_VALID_MS: i64 = 3_600_000;

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

pub(super) fn wrong_link() -> AppError {
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

impl App {
    /// Mails `manager_id` the links to approve or deny the reset `account` asked for.
    pub(super) async fn mail_manager(
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
        let what = asked_for(&row.kind, "their");
        self.mail_reset_secret(row.id, Secret::Decision, |token| {
            let page = format!(
                "{}/portal/password/approval/{token}",
                self.config().public_url
            );
            let link = |label, decision| Link {
                label,
                text_label: label,
                url: format!("{page}?decision={decision}"),
            };
            ResetMail {
                to: manager.email.clone(),
                subject: format!("Approve a password reset for {}", account.email),
                opening: format!(
                    "{} ({}) asked the service desk to {what}, and names you as their manager \
                     to confirm it is them.",
                    account.name, account.email
                ),
                shown: Shown::Links(vec![link("Approve", "approve"), link("Deny", "deny")]),
                closing: vec![format!(
                    "Deciding needs you signed in to the desk as {}; the links work once, for \
                     24 hours. Approved, they are mailed a link to finish with. If you did not \
                     expect this, deny it: nothing changes without your approval.",
                    manager.email
                )],
            }
        })
        .await
    }

    /// Mails the person whose manager approved their reset the link to finish with.
    pub(super) async fn mail_approved_link(
        &self,
        row: &PasswordResetRow,
        account: &UserRow,
    ) -> Result<(), JobError> {
        let what = asked_for(&row.kind, "your");
        self.mail_reset_secret(row.id, Secret::Link, |link| ResetMail {
            to: row.recovery_address.clone(),
            subject: format!("Password reset approved for {}", account.email),
            opening: format!(
                "Your manager approved your request to {what} for {} at the service desk.",
                account.email
            ),
            shown: Shown::Links(vec![Link {
                label: "Continue",
                text_label: "Continue here",
                url: format!(
                    "{}/portal/password/approved/{link}",
                    self.config().public_url
                ),
            }]),
            closing: vec!["The link works once, for an hour.".into()],
        })
        .await
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
        self.client_step(client)?;
        let client_ip = client.to_string();
        let (row, approval) = match self.open_approval(principal, token).await {
            Err(AppError::Forbidden(message)) => {
                // Someone holding another's link: worth an admin's notice.
                let by = principal.user_id;
                self.change(principal, Need::Anyone, move |mut tx| {
                    Box::pin(async move {
                        tx.record(reset_step(
                            0,
                            serde_json::json!({
                                "refused": "not the manager asked", "by_user_id": by,
                                "client_ip": client_ip,
                            }),
                        ))
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
                    queue_reset_mail(&mut batch, id, tx.now);
                }
                tx.record_with(
                    batch,
                    reset_step(
                        id,
                        serde_json::json!({
                            "user_id": user_id, "manager_id": manager_id,
                            "decision": if approve { "approved" } else { "denied" },
                            "state": if approve { "pending" } else { "failed" },
                            "client_ip": client_ip,
                        }),
                    ),
                )
                .await
            })
        })
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
        let now = self.client_step(client)?;
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
}
