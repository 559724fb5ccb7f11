//! The tickets and monitors about an item, and what changed in its inventory.

use jiff::Timestamp;
use opsdesk_store::Conn;
use opsdesk_store::cmdb as store;
use serde::Serialize;

use super::{Ci, view, visible};
use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::{App, AppError, Principal, timestamp};

/// A ticket or monitor about an item, on its page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CiTicket {
    pub id: i64,
    /// `INC-42`.
    pub number: String,
    pub title: String,
    pub status: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CiMonitor {
    pub id: i64,
    pub name: String,
    pub kind: String,
    /// `up`, `down`, `paused` or `pending`.
    pub status: String,
}

/// What changed in an item's inventory.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InventoryChange {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub section: String,
    /// `openssl 3.0.11 → 3.0.13`.
    pub summary: String,
}

/// An item a ticket is about, with what the desk wants to know beside it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketCi {
    pub ci: Ci,
    /// Its other open tickets.
    pub open_tickets: Vec<CiTicket>,
    pub monitors: Vec<CiMonitor>,
    /// Inventory changes of the last seven days, the latest first.
    pub inventory_changes: Vec<InventoryChange>,
}

impl App {
    /// Links a ticket to an item (staff): both must be visible to them.
    pub async fn link_ticket_ci(
        &self,
        principal: &Principal,
        ticket: &str,
        ci_id: i64,
    ) -> Result<(), AppError> {
        let ticket = self.ticket(principal, ticket).await?;
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let row = visible(tx.conn, tx.principal, ci_id)
                    .await
                    .map_err(|_| AppError::invalid("ci", "no item has this id"))?;
                if store::link_ticket(tx.conn, ticket.id, ci_id).await? {
                    let actor = tx.actor.to_owned();
                    store::insert_history(
                        tx.conn,
                        ci_id,
                        tx.now,
                        &actor,
                        "ticket",
                        None,
                        Some(&ticket.number),
                    )
                    .await?;
                    crate::changes::link_incident_to_changes(&mut tx, ticket.id, ci_id).await?;
                    tx.record(Event {
                        entity: Entity::Ticket,
                        entity_id: ticket.id,
                        action: crate::audit::Action::Linked,
                        before: None,
                        after: Some(serde_json::json!({"ci": row.id, "name": row.name})),
                    })
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// Unlinks a ticket from an item (staff).
    pub async fn unlink_ticket_ci(
        &self,
        principal: &Principal,
        ticket: &str,
        ci_id: i64,
    ) -> Result<(), AppError> {
        let ticket = self.ticket(principal, ticket).await?;
        self.change(principal, Need::Staff, move |tx| {
            Box::pin(async move {
                store::unlink_ticket(tx.conn, ticket.id, ci_id).await?;
                Ok(())
            })
        })
        .await
    }

    /// The items a ticket is about, each with its other open tickets, its monitors and the
    /// last week's inventory changes ("openssl upgraded 2 h before the incident").
    pub async fn ticket_cis(
        &self,
        principal: &Principal,
        ticket: &str,
    ) -> Result<Vec<TicketCi>, AppError> {
        principal.require_staff()?;
        let ticket = self.ticket(principal, ticket).await?;
        let week_ago = self.now_ms() - 7 * 24 * 3_600_000;
        let mut conn = self.db().reader().await?;
        let mut list = Vec::new();
        for ci_id in store::ticket_ci_ids(&mut conn, ticket.id).await? {
            let Ok(row) = visible(&mut conn, principal, ci_id).await else {
                continue;
            };
            let macs = store::macs(&mut conn, ci_id).await?;
            let open_tickets = self
                .ci_tickets_in(&mut conn, principal, ci_id)
                .await?
                .into_iter()
                .filter(|t| {
                    t.id != ticket.id
                        && !matches!(t.status.as_str(), "resolved" | "closed" | "cancelled")
                })
                .collect();
            list.push(TicketCi {
                ci: view(row, macs),
                open_tickets,
                monitors: monitors_in(&mut conn, ci_id).await?,
                inventory_changes: changes_in(&mut conn, ci_id, week_ago).await?,
            });
        }
        Ok(list)
    }

    /// Tickets about an item, open ones first (staff).
    pub async fn ci_tickets(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<Vec<CiTicket>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        visible(&mut conn, principal, id).await?;
        self.ci_tickets_in(&mut conn, principal, id).await
    }

    async fn ci_tickets_in(
        &self,
        conn: &mut Conn,
        principal: &Principal,
        id: i64,
    ) -> Result<Vec<CiTicket>, AppError> {
        let restricted = principal.restricted_filter();
        Ok(store::tickets_of(conn, id, 50, restricted.as_deref())
            .await?
            .into_iter()
            .filter(|t| principal.can_see_organization(t.organization_id))
            .map(|t| CiTicket {
                id: t.id,
                number: crate::tickets::number_of(&t.ticket_type, t.number),
                title: t.title,
                status: t.status,
                created_at: timestamp(t.created_at),
            })
            .collect())
    }

    /// An item's monitors (staff).
    pub async fn ci_monitors(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<Vec<CiMonitor>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        visible(&mut conn, principal, id).await?;
        monitors_in(&mut conn, id).await
    }

    /// Makes monitor `monitor` watch item `ci` (staff): the item's page shows it, and
    /// while it is down, impact analyses count the item as failing. A monitor watches one
    /// item; linking it here unlinks it from any other.
    pub async fn link_monitor_ci(
        &self,
        principal: &Principal,
        ci: i64,
        monitor: i64,
    ) -> Result<(), AppError> {
        self.monitor(principal, monitor).await?;
        self.change(principal, Need::Staff, move |tx| {
            Box::pin(async move {
                visible(tx.conn, tx.principal, ci).await?;
                store::set_monitor_ci(tx.conn, monitor, Some(ci)).await?;
                Ok(())
            })
        })
        .await
    }

    /// Stops monitor `monitor` watching item `ci` (staff).
    pub async fn unlink_monitor_ci(
        &self,
        principal: &Principal,
        ci: i64,
        monitor: i64,
    ) -> Result<(), AppError> {
        self.change(principal, Need::Staff, move |tx| {
            Box::pin(async move {
                visible(tx.conn, tx.principal, ci).await?;
                if !store::monitors_of(tx.conn, ci)
                    .await?
                    .iter()
                    .any(|m| m.id == monitor)
                {
                    return Err(AppError::NotFound("monitor"));
                }
                store::set_monitor_ci(tx.conn, monitor, None).await?;
                Ok(())
            })
        })
        .await
    }

    /// What changed in an item's inventory since `since` (staff).
    pub async fn ci_inventory_changes(
        &self,
        principal: &Principal,
        id: i64,
        since: i64,
    ) -> Result<Vec<InventoryChange>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        visible(&mut conn, principal, id).await?;
        changes_in(&mut conn, id, since).await
    }
}

async fn monitors_in(conn: &mut Conn, id: i64) -> Result<Vec<CiMonitor>, AppError> {
    Ok(store::monitors_of(conn, id)
        .await?
        .into_iter()
        .map(|m| CiMonitor {
            id: m.id,
            name: m.name,
            kind: m.kind,
            status: match (m.paused, m.up) {
                (1, _) => "paused",
                (_, Some(1)) => "up",
                (_, Some(_)) => "down",
                (_, None) => "pending",
            }
            .to_owned(),
        })
        .collect())
}

async fn changes_in(
    conn: &mut Conn,
    id: i64,
    since: i64,
) -> Result<Vec<InventoryChange>, AppError> {
    Ok(opsdesk_store::inventory::changes(conn, id, since, 200)
        .await?
        .into_iter()
        .map(|c| InventoryChange {
            at: timestamp(c.at),
            section: c.section,
            summary: c.summary,
        })
        .collect())
}
