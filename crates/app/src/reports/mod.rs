//! Reports: the service desk's figures over a period of days in the viewer's time zone,
//! each beside the previous period of equal length ([`figures`]), the tickets behind every
//! count ([`drill_down`]), the same report as a CSV file ([`export`]), and today's big
//! numbers for the wall dashboard ([`wall`]), and the weekly report by mail ([`weekly`]).
//! Whole days are counted from daily roll-ups, folded once a day has ended ([`rollups`]).
//! Staff see the organizations they may see; a customer sees their own organization's.

mod drill_down;
mod export;
mod figures;
mod pdf;
mod rollups;
mod wall;
mod weekly;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use opsdesk_store::reports::{Dimension, Scope};

use crate::preferences::report_zone;
use crate::{App, AppError, Principal};

pub use drill_down::{CountedTicket, CountedTickets, DrillDown, MAX_DRILL_DOWN};
pub use export::report_csv;
pub use figures::{
    Report, ReportAge, ReportAverage, ReportChanges, ReportCount, ReportDay, ReportDeflection,
    ReportMonitors, ReportShare, ReportVolume, ReportVolumeLine,
};
pub use pdf::report_pdf;
pub use wall::{Wall, WallPriority};
pub use weekly::{ReportSubscription, ReportSubscriptionInput};

/// Days a report covers when none are asked for.
const DEFAULT_DAYS: i64 = 30;
/// The longest period a report covers.
const MAX_DAYS: i64 = 366;

/// What a report is asked for: days `from` to `to` (both included) in `time_zone`, and
/// optionally one organization.
#[derive(Debug, Clone, Default)]
pub struct ReportQuery {
    pub from: Option<Date>,
    pub to: Option<Date>,
    pub organization: Option<i64>,
    /// An IANA time zone; when absent the viewer's own, else their quiet hours', else UTC.
    pub time_zone: Option<String>,
}

/// A report's period in milliseconds, and the one before it.
#[derive(Debug, Clone)]
struct Period {
    from: Date,
    to: Date,
    zone: TimeZone,
    zone_name: String,
    start: i64,
    end: i64,
    previous_start: i64,
    organization: Option<i64>,
}

impl Period {
    /// The query string common to this period's drill-downs.
    fn query(&self, previous: bool) -> String {
        let mut query = format!("from={}&to={}&tz={}", self.from, self.to, self.zone_name);
        if let Some(id) = self.organization {
            query.push_str(&format!("&organization={id}"));
        }
        if previous {
            query.push_str("&period=previous");
        }
        query
    }

    fn drill(&self, figure: &str, previous: bool) -> String {
        format!("figure={figure}&{}", self.query(previous))
    }

    fn count(&self, figure: &str, value: i64, previous: i64) -> ReportCount {
        ReportCount {
            value,
            previous,
            drill_down: self.drill(figure, false),
            previous_drill_down: self.drill(figure, true),
        }
    }
}

const AGE_LABELS: [&str; 5] = ["<1d", "1-3d", "3-7d", "7-30d", ">30d"];

fn dimension_name(dimension: Dimension) -> &'static str {
    match dimension {
        Dimension::Category => "category",
        Dimension::Organization => "organization",
        Dimension::Group => "group",
        Dimension::Agent => "agent",
        Dimension::Channel => "channel",
    }
}

fn percent(counted: i64, of: i64) -> Option<f64> {
    (of > 0).then(|| (counted as f64 * 1000.0 / of as f64).round() / 10.0)
}

fn minutes(total_ms: i64, tickets: i64) -> Option<f64> {
    (tickets > 0).then(|| (total_ms as f64 / tickets as f64 / 60_000.0 * 10.0).round() / 10.0)
}

fn midnight(date: Date, zone: &TimeZone, field: &str) -> Result<i64, AppError> {
    date.to_zoned_datetime(zone.clone())
        .map(|zoned| zoned.timestamp().as_millisecond())
        .map_err(|e| AppError::invalid(field, e))
}

impl App {
    /// The time zone a person's reports and weekly mail are in unless they name one: their
    /// own, else their quiet hours' (staff), else UTC ([`report_zone`]).
    async fn viewer_time_zone(&self, principal: &Principal) -> Result<String, AppError> {
        if !(principal.role.is_staff() && principal.user_id.is_some()) {
            return Ok(report_zone(principal.time_zone.as_deref(), None));
        }
        let rules = self.notification_rules(principal).await?;
        let quiet = rules.quiet_hours.as_ref().map(|q| q.time_zone.as_str());
        Ok(report_zone(rules.time_zone.as_deref(), quiet))
    }

    /// The period a query asks for, checked: `from` not after `to`, at most 366 days.
    async fn period(&self, principal: &Principal, query: &ReportQuery) -> Result<Period, AppError> {
        let zone_name = match &query.time_zone {
            Some(name) => name.clone(),
            None => self.viewer_time_zone(principal).await?,
        };
        let zone = TimeZone::get(&zone_name)
            .map_err(|_| AppError::invalid("tz", "expected an IANA time zone"))?;
        let today = self.now().to_zoned_datetime(zone.clone()).date();
        let to = query.to.unwrap_or(today);
        let from = match query.from {
            Some(from) => from,
            None => to
                .checked_sub(jiff::Span::new().days(DEFAULT_DAYS - 1))
                .map_err(|e| AppError::invalid("to", e))?,
        };
        if from > to {
            return Err(AppError::invalid("from", "must not be after to"));
        }
        let longest = from
            .checked_add(jiff::Span::new().days(MAX_DAYS - 1))
            .map_err(|e| AppError::invalid("from", e))?;
        if to > longest {
            return Err(AppError::invalid("to", "a report covers at most 366 days"));
        }
        let start = midnight(from, &zone, "from")?;
        let after = to.tomorrow().map_err(|e| AppError::invalid("to", e))?;
        let end = midnight(after, &zone, "to")?;
        if let Some(id) = query.organization
            && !principal.can_see_organization(Some(id))
        {
            return Err(AppError::NotFound("organization"));
        }
        Ok(Period {
            from,
            to,
            zone,
            zone_name,
            start,
            end,
            previous_start: start - (end - start),
            organization: query.organization,
        })
    }
}

/// The organizations a report covers: the one asked for, or all the principal sees.
fn scope_of(principal: &Principal, organization: Option<i64>) -> Scope {
    match organization {
        Some(id) => Scope {
            organizations: Some(vec![id]),
            unowned: false,
            restricted_groups: principal.restricted_filter(),
        },
        None => Scope {
            organizations: principal.organization_filter(),
            unowned: principal.role.is_staff(),
            restricted_groups: principal.restricted_filter(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_and_shares_round_to_a_tenth() {
        assert_eq!(minutes(3 * 60_000 + 30_000, 1), Some(3.5));
        assert_eq!(minutes(100, 0), None);
        assert_eq!(percent(1, 3), Some(33.3));
        assert_eq!(percent(0, 0), None);
    }
}
