//! The SLA compliance report.

use super::*;

/// One row of the compliance report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComplianceLine {
    /// The priority, organization or group (`none` when the ticket has none).
    pub key: String,
    pub tickets: i64,
    pub response_met: i64,
    pub response_breached: i64,
    /// Met ÷ (met + breached), in percent; absent when nothing was decided yet.
    pub response_compliance: Option<f64>,
    pub resolution_met: i64,
    pub resolution_breached: i64,
    pub resolution_compliance: Option<f64>,
}

fn percent(met: i64, breached: i64) -> Option<f64> {
    let decided = met + breached;
    (decided > 0).then(|| (met as f64 * 1000.0 / decided as f64).round() / 10.0)
}

impl App {
    /// Met and breached counts and compliance for tickets created in `[from, to)`, grouped
    /// by `priority`, `organization` or `group` (admins).
    pub async fn sla_report(
        &self,
        principal: &Principal,
        from: i64,
        to: i64,
        group_by: &str,
    ) -> Result<Vec<ComplianceLine>, AppError> {
        principal.require_admin()?;
        let (bucket, joins) = match group_by {
            "priority" => ("t.priority", ""),
            "organization" => (
                "o.name",
                "LEFT JOIN organizations o ON o.id = t.organization_id",
            ),
            "group" => ("g.name", "LEFT JOIN groups g ON g.id = t.group_id"),
            _ => {
                return Err(AppError::invalid(
                    "group_by",
                    "expected priority, organization or group",
                ));
            }
        };
        let mut conn = self.db().reader().await?;
        let bucket_text = match group_by {
            "priority" => "'P' || CAST(t.priority AS TEXT)",
            _ => bucket,
        };
        let rows = store::compliance(&mut conn, bucket_text, joins, from, to).await?;
        Ok(rows
            .into_iter()
            .map(|row| ComplianceLine {
                key: row.bucket.unwrap_or_else(|| "none".into()),
                tickets: row.tickets,
                response_met: row.response_met,
                response_breached: row.response_breached,
                response_compliance: percent(row.response_met, row.response_breached),
                resolution_met: row.resolution_met,
                resolution_breached: row.resolution_breached,
                resolution_compliance: percent(row.resolution_met, row.resolution_breached),
            })
            .collect())
    }
}
