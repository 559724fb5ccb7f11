//! The tickets behind a report's count, a page at a time.

use opsdesk_store::reports::{self as store, Counted, Dimension, Key};
use serde::Serialize;

use super::{AGE_LABELS, ReportQuery, dimension_name, scope_of};
use crate::tickets::number_of;
use crate::{App, AppError, Principal};

/// Tickets a drill-down lists per page, at most.
pub const MAX_DRILL_DOWN: i64 = 500;

/// A page of the tickets a figure counted.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CountedTickets {
    pub items: Vec<CountedTicket>,
    pub next_cursor: Option<String>,
}

/// One counted ticket.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CountedTicket {
    /// `INC-42`.
    pub number: String,
    pub title: String,
}

/// A drill-down as asked: the figure and what narrows it.
#[derive(Debug, Clone, Default)]
pub struct DrillDown {
    /// `created`, `responded`, `response_met`, `response_breached`, `resolution_met`,
    /// `resolution_breached`, `resolved`, `first_contact`, `reopened`, `backlog`, `volume`.
    pub figure: String,
    /// `previous` for the previous period.
    pub period: Option<String>,
    /// Backlog: the age bucket, 0 (youngest) to 4.
    pub age: Option<usize>,
    /// Volume: the dimension and the value's key.
    pub by: Option<String>,
    pub key: Option<String>,
    pub cursor: Option<String>,
    pub limit: i64,
}

/// The counted figure a drill-down names.
fn counted_of(drill: &DrillDown) -> Result<Counted, AppError> {
    Ok(match drill.figure.as_str() {
        "created" => Counted::Created,
        "responded" => Counted::Responded,
        "response_met" => Counted::ResponseMet,
        "response_breached" => Counted::ResponseBreached,
        "resolution_met" => Counted::ResolutionMet,
        "resolution_breached" => Counted::ResolutionBreached,
        "resolved" => Counted::Resolved,
        "first_contact" => Counted::FirstContact,
        "reopened" => Counted::Reopened,
        "rated" => Counted::Rated,
        "satisfied" => Counted::Satisfied,
        "backlog" => match drill.age {
            Some(age) if age < AGE_LABELS.len() => Counted::Backlog(age),
            _ => return Err(AppError::invalid("age", "expected 0 to 4")),
        },
        "volume" => {
            let by = Dimension::ALL
                .into_iter()
                .find(|d| Some(dimension_name(*d)) == drill.by.as_deref())
                .ok_or_else(|| {
                    AppError::invalid(
                        "by",
                        "expected category, organization, group, agent or channel",
                    )
                })?;
            let key = match drill.key.as_deref() {
                None => return Err(AppError::invalid("key", "name the value to list")),
                Some("none") => Key::None,
                Some(text) if by == Dimension::Channel => Key::Text(text.to_owned()),
                Some(text) => Key::Id(
                    text.parse()
                        .map_err(|_| AppError::invalid("key", "expected an id or none"))?,
                ),
            };
            Counted::Volume(by, key)
        }
        _ => return Err(AppError::invalid("figure", "not a counted figure")),
    })
}

impl App {
    /// The tickets a figure counted, a page at a time by ticket id.
    pub async fn report_tickets(
        &self,
        principal: &Principal,
        query: &ReportQuery,
        drill: &DrillDown,
    ) -> Result<CountedTickets, AppError> {
        let counted = counted_of(drill)?;
        let period = self.period(principal, query).await?;
        let (from, to) = match drill.period.as_deref() {
            None | Some("current") => (period.start, period.end),
            Some("previous") => (period.previous_start, period.start),
            Some(_) => return Err(AppError::invalid("period", "expected current or previous")),
        };
        let after = match &drill.cursor {
            None => 0,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| AppError::invalid("cursor", "not a cursor this list gave"))?,
        };
        if !(1..=MAX_DRILL_DOWN).contains(&drill.limit) {
            return Err(AppError::invalid("limit", "must be 1 to 500"));
        }
        let scope = scope_of(principal, period.organization);
        let mut conn = self.db().reader().await?;
        let mut rows = store::counted_tickets(
            &mut conn,
            &scope,
            &counted,
            from,
            to,
            self.now_ms(),
            after,
            drill.limit + 1,
        )
        .await?;
        let more = rows.len() as i64 > drill.limit;
        rows.truncate(drill.limit as usize);
        Ok(CountedTickets {
            next_cursor: more
                .then(|| rows.last().map(|row| row.id.to_string()))
                .flatten(),
            items: rows
                .into_iter()
                .map(|row| CountedTicket {
                    number: number_of(&row.ticket_type, row.number),
                    title: row.title,
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drill_down_names_a_figure_the_report_counts() {
        let drill = |figure: &str, by: Option<&str>, key: Option<&str>| DrillDown {
            figure: figure.into(),
            by: by.map(Into::into),
            key: key.map(Into::into),
            ..DrillDown::default()
        };
        assert_eq!(
            counted_of(&drill("volume", Some("channel"), Some("web"))).ok(),
            Some(Counted::Volume(Dimension::Channel, Key::Text("web".into())))
        );
        assert_eq!(
            counted_of(&drill("volume", Some("group"), Some("none"))).ok(),
            Some(Counted::Volume(Dimension::Group, Key::None))
        );
        assert!(counted_of(&drill("volume", Some("group"), Some("x"))).is_err());
        assert!(counted_of(&drill("backlog", None, None)).is_err());
        assert!(counted_of(&drill("mood", None, None)).is_err());
    }
}
