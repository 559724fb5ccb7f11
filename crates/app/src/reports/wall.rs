//! The wall dashboard's big numbers for today (staff).

use opsdesk_store::reports as store;
use serde::Serialize;

use super::{ReportQuery, minutes, scope_of};
use crate::{App, AppError, Principal};

/// Monitors the wall dashboard looks at, at most.
const WALL_MONITORS: i64 = 10_000;

/// Open incidents of one priority, and the ticket search that lists them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WallPriority {
    /// `P1` to `P5`.
    pub priority: String,
    pub tickets: i64,
    /// A query of the search language (`/tickets?q=`) for exactly these tickets.
    pub query: String,
}

/// What the wall dashboard shows, for today in the viewer's time zone (staff).
#[derive(Debug, Clone, PartialEq)]
pub struct Wall {
    pub open_incidents: Vec<WallPriority>,
    /// Tickets whose response or resolution target fell due today and was missed.
    pub breaches_today: i64,
    pub monitors_down: usize,
    /// Mean time to respond to the tickets opened today and answered.
    pub mtta_today: Option<f64>,
    pub answered_today: i64,
}

impl App {
    /// Today's big numbers for the wall dashboard (staff): open incidents by priority, SLA
    /// breaches today, monitors down and today's MTTA.
    pub async fn wall(&self, principal: &Principal) -> Result<Wall, AppError> {
        principal.require_staff()?;
        let date = self.period(principal, &ReportQuery::default()).await?.to;
        let today = ReportQuery {
            from: Some(date),
            to: Some(date),
            ..ReportQuery::default()
        };
        let today = self.period(principal, &today).await?;
        let scope = scope_of(principal, None);
        let mut conn = self.db().reader().await?;
        let counts = store::open_incidents(&mut conn, &scope).await?;
        let breaches_today = store::breaches(&mut conn, &scope, today.start, today.end).await?;
        let created = store::created_totals(&mut conn, &scope, today.start, today.end).await?;
        drop(conn);
        let monitors_down = self
            .monitors(principal, 0, WALL_MONITORS)
            .await?
            .iter()
            .filter(|m| m.status == "down")
            .count();
        Ok(Wall {
            open_incidents: (1..=5)
                .map(|rank| WallPriority {
                    priority: format!("P{rank}"),
                    tickets: counts
                        .iter()
                        .find(|(p, _)| *p == rank)
                        .map_or(0, |(_, n)| *n),
                    query: format!("type:incident status:new,open,pending priority:P{rank}"),
                })
                .collect(),
            breaches_today,
            monitors_down,
            mtta_today: minutes(created.response_ms, created.responded),
            answered_today: created.responded,
        })
    }
}
