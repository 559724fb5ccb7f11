//! The public status page of an organization: its monitors as components with their
//! current status and 90 days of uptime, open outages and maintenance. No login; it shows
//! names and states only, never targets, errors or ticket numbers.

use std::collections::HashMap;

use opsdesk_store::accounts;
use opsdesk_store::monitors as store;
use serde::Serialize;

use crate::monitors::{current_status, maintenance_window};
use crate::{App, AppError, timestamp};

/// Days of uptime bars.
const DAYS: i64 = 90;
const DAY_MS: i64 = 86_400_000;
/// Components shown at most.
const MAX_COMPONENTS: i64 = 200;

/// What the status page shows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatusPage {
    pub organization: String,
    /// `operational`, `degraded` (something is down) or `maintenance`.
    pub overall: String,
    pub components: Vec<Component>,
    pub incidents: Vec<PublicIncident>,
    pub maintenance: Vec<PublicMaintenance>,
    #[schema(value_type = String, format = DateTime)]
    pub generated_at: jiff::Timestamp,
}

/// One monitored service.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Component {
    pub name: String,
    /// As the monitor API reports it (`up`, `down`, `maintenance`, …).
    pub status: String,
    /// Uptime over the 90 days; `null` without checks.
    pub uptime_90d: Option<f64>,
    /// One entry per UTC day, oldest first; `null` for days without checks.
    pub days: Vec<Option<f64>>,
}

/// An outage in progress.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicIncident {
    pub component: String,
    #[schema(value_type = String, format = DateTime)]
    pub since: jiff::Timestamp,
}

/// Maintenance in progress or planned.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicMaintenance {
    /// The component concerned; `null` for all.
    pub component: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: jiff::Timestamp,
    pub reason: String,
}

impl App {
    /// The public status page of organization `organization_id` (no login).
    pub async fn status_page(&self, organization_id: i64) -> Result<StatusPage, AppError> {
        let mut conn = self.db().reader().await?;
        let organization = accounts::get_organization(&mut conn, organization_id)
            .await?
            .ok_or(AppError::NotFound("status page"))?;
        let now = self.now_ms();
        let today = now / DAY_MS * DAY_MS;
        let from = today - (DAYS - 1) * DAY_MS;
        let rows = store::list(&mut conn, Some(&[organization_id]), 0, MAX_COMPONENTS).await?;
        let mut tallies: HashMap<(i64, i64), (i64, i64)> = HashMap::new();
        for (monitor, day, checks, ok) in
            store::daily(&mut conn, organization_id, from, now + 1).await?
        {
            tallies.insert((monitor, day), (checks, ok));
        }
        let mut components = Vec::with_capacity(rows.len());
        for row in rows {
            let status = current_status(&mut conn, &row, now).await?;
            let mut total = (0, 0);
            let days = (0..DAYS)
                .map(|d| {
                    let (checks, ok) = tallies
                        .get(&(row.id, from + d * DAY_MS))
                        .copied()
                        .unwrap_or((0, 0));
                    total = (total.0 + checks, total.1 + ok);
                    (checks > 0).then(|| ok as f64 * 100.0 / checks as f64)
                })
                .collect();
            components.push(Component {
                name: row.name,
                status: status.as_str().to_owned(),
                uptime_90d: (total.0 > 0).then(|| total.1 as f64 * 100.0 / total.0 as f64),
                days,
            });
        }
        let incidents: Vec<PublicIncident> = store::open_outages(&mut conn, organization_id)
            .await?
            .into_iter()
            .map(|(component, since)| PublicIncident {
                component,
                since: timestamp(since),
            })
            .collect();
        // A recurring window shows its period in progress or its next one.
        let maintenance: Vec<PublicMaintenance> =
            store::upcoming_maintenance(&mut conn, organization_id, now)
                .await?
                .into_iter()
                .filter_map(|(component, row)| {
                    let (starts_at, ends_at) = maintenance_window(&row)?.current_or_next(now)?;
                    Some(PublicMaintenance {
                        component,
                        starts_at: timestamp(starts_at),
                        ends_at: timestamp(ends_at),
                        reason: row.reason,
                    })
                })
                .collect();
        let overall = if components.iter().any(|c| c.status == "down") {
            "degraded"
        } else if components.iter().any(|c| c.status == "maintenance") {
            "maintenance"
        } else {
            "operational"
        };
        Ok(StatusPage {
            organization: organization.name,
            overall: overall.to_owned(),
            components,
            incidents,
            maintenance,
            generated_at: timestamp(now),
        })
    }
}
