//! Proof by a one-time code mailed to the person's recovery address.

use std::net::IpAddr;

use opsdesk_store::accounts::UserRow;
use opsdesk_store::directories::{self as store, PasswordResetRow};

use super::mail::{ResetMail, Secret, Shown, asked_for};
use super::{ResetDone, ResetProof, reset_step};
use crate::clock::secret_hash;
use crate::jobs::JobError;
use crate::{App, AppError};

/// How long a mailed code stays valid.
pub(super) const CODE_VALID_MS: i64 = 15 * 60_000;
/// Wrong codes before a request fails for good.
const MAX_CODE_ATTEMPTS: i64 = 5;

pub(super) fn wrong_code() -> AppError {
    AppError::invalid(
        "code",
        "the code is wrong or has expired; ask for a new one",
    )
}

/// An eight-digit code: 10⁸ values against at most five tries.
pub(super) fn new_code() -> Result<String, AppError> {
    let mut bytes = [0_u8; 8];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppError::internal("no randomness available", e.to_string()))?;
    Ok(format!("{:08}", u64::from_le_bytes(bytes) % 100_000_000))
}

impl App {
    /// Mails the person their one-time code.
    pub(super) async fn mail_code(
        &self,
        row: &PasswordResetRow,
        account: &UserRow,
    ) -> Result<(), JobError> {
        let what = asked_for(&row.kind, "your");
        self.mail_reset_secret(row.id, Secret::Code, |code| ResetMail {
            to: row.recovery_address.clone(),
            subject: format!("Password reset code for {}", account.email),
            opening: format!(
                "Someone asked to {what} for {} at the service desk.",
                account.email
            ),
            shown: Shown::Code(code.to_owned()),
            closing: vec![
                "Enter it on the page where you asked; it works once, for 15 minutes.".into(),
                "If this was not you, ignore this mail: nothing changes without the code.".into(),
            ],
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
        let now = self.client_step(client)?;
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
                tx.record(reset_step(
                    id,
                    serde_json::json!({
                        "user_id": user_id, "wrong_code": true, "attempts": attempts,
                        "client_ip": client_ip,
                        "state": if attempts >= MAX_CODE_ATTEMPTS { "failed" } else { "pending" },
                    }),
                ))
                .await
            })
        })
        .await
    }
}
