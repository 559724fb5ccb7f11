//! Deleting a ticket for good (spam, a test, one opened by mistake) and bringing a deleted one
//! back, with its conversation and files, from a backup into the live desk.

use opsdesk_store::backup::{self as backup_store, CopyError, TicketRows};
use opsdesk_store::tickets::deletion;

use super::*;

/// What is left of a deleted ticket to tell the admin who deleted it.
#[derive(Debug, Clone)]
pub struct DeletedTicket {
    /// `INC-42`.
    pub number: String,
    pub title: String,
}

impl App {
    /// Deletes a ticket and everything that hangs from it (admins). The audit log keeps the
    /// ticket as it was; a backup can bring it back ([`App::restore_ticket`]). Refused while
    /// other tickets are merged into it or filed under it.
    pub async fn delete_ticket(
        &self,
        principal: &Principal,
        reference: &str,
    ) -> Result<DeletedTicket, AppError> {
        let reference = reference.to_owned();
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let row = find_visible(tx.conn, tx.principal, &reference).await?;
                let (id, title) = (row.id, row.title.clone());
                let number = number_of(&row.ticket_type, row.number);
                let dependants = deletion::dependants(tx.conn, id).await?;
                if !dependants.is_empty() {
                    let names = dependants
                        .iter()
                        .map(|(ticket_type, n)| number_of(ticket_type, *n))
                        .collect::<Vec<_>>()
                        .join(", ");
                    return Err(AppError::Conflict {
                        field: None,
                        message: format!(
                            "{names} merged into {number} or filed under it; \
                             move or delete them first"
                        ),
                    });
                }
                let before = view(tx.conn, tx.principal, row, tx.now).await?;
                // Recorded while the ticket is there, so a security incident's stays private.
                tx.record(Event::deleted(Entity::Ticket, id, &before))
                    .await?;
                deletion::delete(tx.conn, id).await?;
                Ok(DeletedTicket { number, title })
            })
        })
        .await
    }

    /// Writes a deleted ticket back into the desk from `rows`, read from a backup with
    /// [`read_backup_ticket`], with the number, ids and times it had (admins).
    pub async fn restore_ticket(
        &self,
        principal: &Principal,
        rows: TicketRows,
    ) -> Result<Ticket, AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                backup_store::write_ticket(tx.conn, &rows)
                    .await
                    .map_err(refusal)?;
                let row = store::get(tx.conn, rows.ticket_id)
                    .await?
                    .ok_or(AppError::NotFound("ticket"))?;
                let after = view(tx.conn, tx.principal, row, tx.now).await?;
                tx.record(Event {
                    entity: Entity::Ticket,
                    entity_id: after.id,
                    action: Action::Restored,
                    before: None,
                    after: snapshot(&after),
                })
                .await?;
                Ok(after)
            })
        })
        .await
    }
}

/// Reads ticket `reference` (`INC-42`) and everything that hangs from it from `source`, a
/// backup's database.
pub async fn read_backup_ticket(
    source: &mut Conn,
    reference: &str,
) -> Result<TicketRows, AppError> {
    let number: TicketNumber = reference
        .parse()
        .map_err(|_| AppError::invalid("ticket", "give a ticket number such as INC-42"))?;
    let sequence = i64::try_from(number.sequence()).map_err(|_| AppError::NotFound("ticket"))?;
    backup_store::read_ticket(source, number.ticket_type().as_str(), sequence)
        .await
        .map_err(refusal)?
        .ok_or(AppError::NotFound("ticket"))
}

fn refusal(error: CopyError) -> AppError {
    match error {
        CopyError::Store(error) => error.into(),
        error @ (CopyError::TicketInDesk(_) | CopyError::MissingReference { .. }) => {
            AppError::Conflict {
                field: Some("ticket".into()),
                message: error.to_string(),
            }
        }
        error => AppError::Internal {
            context: "the backup's schema does not match the desk's".into(),
            source: Some(Box::new(error)),
        },
    }
}
