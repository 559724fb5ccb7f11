//! Finishing a reset, whichever way its person proved who they are: the directory changed,
//! opsdesk's lockout cleared, and a resolved service request recorded.

use std::net::IpAddr;

use opsdesk_domain::account::check_password;
use opsdesk_store::accounts as accounts_store;
use opsdesk_store::directories::{self as store, PasswordResetRow};

use super::super::client::{Connection, DirectoryError};
use super::super::{reach_of, unreachable};
use super::code::wrong_code;
use super::manager::wrong_link;
use super::{RESET_CATEGORY, ResetDone, ResetKind, ResetProof, reset_step};
use crate::tickets::{NewTicket, TicketPatch};
use crate::{App, AppError, Precondition, Principal};

impl App {
    /// Completes a reset whose person proved who they are by `proof`: sets `password` in
    /// the directory (a reset) or lifts the lockout (an unlock), clears opsdesk's own
    /// lockout, and records a resolved service request. A password opsdesk's or the
    /// directory's policy refuses is 422 naming `password`, and the reset stays usable.
    pub(super) async fn complete_reset(
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
                tx.record(reset_step(
                    id,
                    serde_json::json!({
                        "user_id": user_id, "kind": kind, "proof": proof, "state": "completed",
                        "client_ip": client_ip, "ticket_id": ticket_id,
                    }),
                ))
                .await
            })
        })
        .await?;
        Ok(ResetDone {
            kind,
            ticket: ticket.number,
        })
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
