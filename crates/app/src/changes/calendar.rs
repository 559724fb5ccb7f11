//! The change calendar: planned changes and freeze or blackout periods over a time range,
//! as JSON or iCalendar, and the conflicts of a change's window with other changes on the
//! same or related items, with freezes, and with its implementer's other bookings.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use opsdesk_domain::change::{
    self as rules, ChangeType, Conflict, Freeze, FreezeKind, PlannedChange,
};
use opsdesk_domain::ical;
use opsdesk_store::Conn;
use opsdesk_store::accounts as account_store;
use opsdesk_store::changes::{self as store, ChangeFilter, ChangeRow, FreezeRow, NewFreeze};
use serde::{Deserialize, Serialize};

use super::{ChangeSummary, change_number, summary, visible_change};
use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::{App, AppError, FieldError, Principal, timestamp};

/// Longest calendar range asked for at once.
const MOST_RANGE_MS: i64 = 400 * 86_400_000;

/// A freeze or blackout period.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FreezeWindow {
    pub id: i64,
    pub name: String,
    /// `freeze` (no standard or normal change) or `blackout` (no change at all).
    pub kind: String,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: Timestamp,
    /// Over this organization's items only.
    pub organization: Option<String>,
    /// Over this service (an item) only.
    pub ci: Option<i64>,
    pub ci_name: Option<String>,
    pub reason: String,
    pub created_by: String,
}

/// A new freeze or blackout period: over everything, one organization, or one item.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFreezeWindow {
    pub name: String,
    /// `freeze` (default) or `blackout`.
    #[serde(default)]
    pub kind: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: Timestamp,
    #[serde(default)]
    pub organization: Option<String>,
    #[serde(default)]
    pub ci: Option<i64>,
    #[serde(default)]
    pub reason: String,
}

/// Why a change's window is a problem, with what it collides with.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChangeConflict {
    /// `same_ci`, `related_ci`, `freeze` or `implementer`.
    pub kind: String,
    /// What it collides with: `CHG-12` or the freeze's name.
    pub with: String,
    /// In words, for people.
    pub message: String,
}

/// A change on the calendar, with its conflicts among the changes shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CalendarEntry {
    #[serde(flatten)]
    pub change: ChangeSummary,
    pub conflicts: Vec<ChangeConflict>,
}

/// The calendar over a range.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChangeCalendar {
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    pub changes: Vec<CalendarEntry>,
    pub freezes: Vec<FreezeWindow>,
}

fn freeze_view(row: FreezeRow) -> FreezeWindow {
    FreezeWindow {
        id: row.id,
        name: row.name,
        kind: row.kind,
        starts_at: timestamp(row.starts_at),
        ends_at: timestamp(row.ends_at),
        organization: row.organization,
        ci: row.ci_id,
        ci_name: row.ci,
        reason: row.reason,
        created_by: row.created_by,
    }
}

fn conflict_view(conflict: Conflict, names: &BTreeMap<i64, String>) -> ChangeConflict {
    let name = |id: i64| {
        names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("item {id}"))
    };
    match conflict {
        Conflict::SameCi { change, ci } => ChangeConflict {
            kind: "same_ci".into(),
            message: format!("{change} changes {} at the same time", name(ci)),
            with: change,
        },
        Conflict::RelatedCi {
            change,
            ci,
            related,
        } => ChangeConflict {
            kind: "related_ci".into(),
            message: format!(
                "{change} changes {}, related to {}, at the same time",
                name(related),
                name(ci)
            ),
            with: change,
        },
        Conflict::Freeze {
            freeze,
            freeze_kind,
        } => ChangeConflict {
            kind: "freeze".into(),
            message: format!("the window falls inside the {freeze_kind} \"{freeze}\""),
            with: freeze,
        },
        Conflict::Implementer { change } => ChangeConflict {
            kind: "implementer".into(),
            message: format!("the implementer is booked on {change} at the same time"),
            with: change,
        },
        Conflict::OutsideMaintenance { ci } => ChangeConflict {
            kind: "outside_maintenance".into(),
            message: format!(
                "the window is outside the maintenance periods of {}",
                name(ci)
            ),
            with: name(ci),
        },
    }
}

/// The items related to each of `cis` (either way), and every item's name.
async fn neighbourhood(
    conn: &mut Conn,
    cis: &[i64],
) -> Result<BTreeMap<i64, BTreeSet<i64>>, AppError> {
    let mut related: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
    for (source, _, target) in store::relations_around(conn, cis).await? {
        related.entry(source).or_default().insert(target);
        related.entry(target).or_default().insert(source);
    }
    Ok(related)
}

/// The freezes over `[start, end)` as conflict detection reads them: an organization's
/// freeze covers the change when the change or one of its items is that organization's.
async fn freezes_over(
    conn: &mut Conn,
    row: &ChangeRow,
    cis: &BTreeSet<i64>,
    start: i64,
    end: i64,
) -> Result<Vec<Freeze>, AppError> {
    let mut out = Vec::new();
    for f in store::freezes(conn, start, end).await? {
        let kind: FreezeKind = f.kind.parse().unwrap_or(FreezeKind::Freeze);
        let covered = match (f.ci_id, f.organization_id) {
            (Some(ci), _) => Some(BTreeSet::from([ci])),
            (None, Some(org)) => {
                let ids: Vec<i64> = cis.iter().copied().collect();
                let of_org = store::cis_of_organization(conn, org, &ids).await?;
                if row.organization_id == Some(org) {
                    Some(BTreeSet::new())
                } else if of_org.is_empty() {
                    None
                } else {
                    Some(of_org.into_iter().collect())
                }
            }
            (None, None) => Some(BTreeSet::new()),
        };
        if let Some(cis) = covered {
            out.push(Freeze {
                id: f.id,
                name: f.name,
                kind,
                start: f.starts_at,
                end: f.ends_at,
                cis,
            });
        }
    }
    Ok(out)
}

/// The conflicts of change `row` with every other planned change, freeze and booking.
pub(crate) async fn conflicts_of(
    conn: &mut Conn,
    row: &ChangeRow,
) -> Result<Vec<ChangeConflict>, AppError> {
    let (Some(start), Some(end)) = (row.planned_start, row.planned_end) else {
        return Ok(Vec::new());
    };
    let items = store::cis_of(conn, row.id).await?;
    let mut names: BTreeMap<i64, String> = items
        .iter()
        .map(|(id, name, _)| (*id, name.clone()))
        .collect();
    let cis: BTreeSet<i64> = names.keys().copied().collect();
    let ids: Vec<i64> = cis.iter().copied().collect();
    let related = neighbourhood(conn, &ids).await?;
    let mut around: BTreeSet<i64> = cis.clone();
    for set in related.values() {
        around.extend(set);
    }
    let around: Vec<i64> = around.into_iter().collect();
    let mut others: BTreeMap<i64, PlannedChange> = BTreeMap::new();
    for hit in store::overlapping(conn, row.id, start, end, &around, row.implementer_id).await? {
        let entry = others.entry(hit.id).or_insert_with(|| PlannedChange {
            id: hit.id,
            number: change_number(hit.id),
            start: hit.planned_start,
            end: hit.planned_end,
            cis: BTreeSet::new(),
            implementer: hit.implementer_id,
        });
        entry.cis.extend(hit.ci_id);
    }
    let freezes = freezes_over(conn, row, &cis, start, end).await?;
    let mine = PlannedChange {
        id: row.id,
        number: change_number(row.id),
        start,
        end,
        cis,
        implementer: row.implementer_id,
    };
    let kind: ChangeType = row.change_type.parse().unwrap_or(ChangeType::Normal);
    let others: Vec<PlannedChange> = others.into_values().collect();
    let mut found = rules::conflicts(&mine, kind, &related, &others, &freezes);
    // An emergency cannot wait for the next maintenance period.
    if kind != ChangeType::Emergency {
        for ci in &mine.cis {
            let agreed: Vec<_> = store::agreed_maintenance(conn, *ci, start)
                .await?
                .iter()
                .filter_map(crate::monitors::maintenance_window)
                .collect();
            if !rules::fits_maintenance(&agreed, start, end) {
                found.push(Conflict::OutsideMaintenance { ci: *ci });
            }
        }
    }
    // Related items are named too.
    let unnamed: Vec<i64> = found
        .iter()
        .filter_map(|c| match c {
            Conflict::RelatedCi { related, .. } if !names.contains_key(related) => Some(*related),
            _ => None,
        })
        .collect();
    for id in unnamed {
        if let Some(ci) = opsdesk_store::cmdb::ci(conn, id).await? {
            names.insert(id, ci.name);
        }
    }
    Ok(found
        .into_iter()
        .map(|c| conflict_view(c, &names))
        .collect())
}

impl App {
    /// Creates a freeze or blackout period (admin).
    pub async fn create_freeze_window(
        &self,
        principal: &Principal,
        input: NewFreezeWindow,
    ) -> Result<FreezeWindow, AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let mut errors = Vec::new();
                let name = input.name.trim().to_owned();
                if name.is_empty() || name.chars().count() > 200 {
                    errors.push(FieldError::new("name", "1 to 200 characters"));
                }
                let kind = match input.kind.as_deref().map(str::parse::<FreezeKind>) {
                    None => FreezeKind::Freeze,
                    Some(Ok(kind)) => kind,
                    Some(Err(e)) => {
                        errors.push(FieldError::new("kind", e));
                        FreezeKind::Freeze
                    }
                };
                if input.ends_at <= input.starts_at {
                    errors.push(FieldError::new("ends_at", "must be after starts_at"));
                }
                let organization_id = match input.organization.as_deref().map(str::trim) {
                    None | Some("") => None,
                    Some(org) => {
                        match account_store::find_organization_by_name(tx.conn, org).await? {
                            Some(o) => Some(o.id),
                            None => {
                                errors.push(FieldError::new(
                                    "organization",
                                    "no organization has this name",
                                ));
                                None
                            }
                        }
                    }
                };
                if let Some(ci) = input.ci
                    && crate::cmdb::visible(tx.conn, tx.principal, ci)
                        .await
                        .is_err()
                {
                    errors.push(FieldError::new("ci", "no item has this id"));
                }
                if !errors.is_empty() {
                    return Err(AppError::Invalid(errors));
                }
                let created_by = tx.actor.to_owned();
                let id = store::insert_freeze(
                    tx.conn,
                    &NewFreeze {
                        name: &name,
                        kind: kind.as_str(),
                        starts_at: input.starts_at.as_millisecond(),
                        ends_at: input.ends_at.as_millisecond(),
                        organization_id,
                        ci_id: input.ci,
                        reason: input.reason.trim(),
                        created_by: &created_by,
                    },
                    tx.now,
                )
                .await?;
                let row = store::freeze(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("freeze window"))?;
                let freeze = freeze_view(row);
                tx.record(Event::created(Entity::FreezeWindow, id, &freeze))
                    .await?;
                Ok(freeze)
            })
        })
        .await
    }

    /// Removes a freeze or blackout period (admin).
    pub async fn delete_freeze_window(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<(), AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let row = store::freeze(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("freeze window"))?;
                store::delete_freeze(tx.conn, id).await?;
                tx.record(Event::deleted(Entity::FreezeWindow, id, &freeze_view(row)))
                    .await
            })
        })
        .await
    }

    /// Freeze and blackout periods that have not ended, or over `[from, to)` (staff).
    pub async fn freeze_windows(
        &self,
        principal: &Principal,
        range: Option<(Timestamp, Timestamp)>,
    ) -> Result<Vec<FreezeWindow>, AppError> {
        principal.require_staff()?;
        let (from, to) = range.map_or((self.now_ms(), i64::MAX), |(from, to)| {
            (from.as_millisecond(), to.as_millisecond())
        });
        let mut conn = self.db().reader().await?;
        Ok(store::freezes(&mut conn, from, to)
            .await?
            .into_iter()
            .map(freeze_view)
            .collect())
    }

    /// The conflicts of a change's window (staff).
    pub async fn change_conflicts(
        &self,
        principal: &Principal,
        number: &str,
    ) -> Result<Vec<ChangeConflict>, AppError> {
        let id = super::parse_change_number(number).ok_or(AppError::NotFound("change"))?;
        let mut conn = self.db().reader().await?;
        let row = visible_change(&mut conn, principal, id).await?;
        conflicts_of(&mut conn, &row).await
    }

    /// The changes planned, happening or done over `[from, to)` with their conflicts, and
    /// the freeze periods (staff; the organizations they see).
    pub async fn change_calendar(
        &self,
        principal: &Principal,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<ChangeCalendar, AppError> {
        principal.require_staff()?;
        let (start, end) = (from.as_millisecond(), to.as_millisecond());
        if end <= start {
            return Err(AppError::invalid("to", "must be after from"));
        }
        if end - start > MOST_RANGE_MS {
            return Err(AppError::invalid("to", "at most 400 days after from"));
        }
        let organizations = principal.organization_filter();
        let filter = ChangeFilter {
            state: None,
            organizations: organizations.as_deref(),
            window: Some((start, end)),
        };
        let mut conn = self.db().reader().await?;
        let rows = store::changes(&mut conn, &filter, i64::MAX, 2_000).await?;
        let mut changes = Vec::with_capacity(rows.len());
        for row in &rows {
            let planned = row
                .state
                .parse::<opsdesk_domain::change::ChangeState>()
                .is_ok_and(|s| s.is_planned());
            let conflicts = if planned {
                conflicts_of(&mut conn, row).await?
            } else {
                Vec::new()
            };
            changes.push(CalendarEntry {
                change: summary(row),
                conflicts,
            });
        }
        changes.sort_by_key(|e| (e.change.planned_start, e.change.id));
        let freezes = store::freezes(&mut conn, start, end)
            .await?
            .into_iter()
            .map(freeze_view)
            .collect();
        Ok(ChangeCalendar {
            from,
            to,
            changes,
            freezes,
        })
    }

    /// The calendar as an iCalendar document: each change an event, each freeze one too.
    pub async fn change_calendar_ical(
        &self,
        principal: &Principal,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<String, AppError> {
        let calendar = self.change_calendar(principal, from, to).await?;
        let base = &self.config().public_url;
        let mut events = Vec::new();
        for entry in &calendar.changes {
            let c = &entry.change;
            let (Some(from), Some(until)) = (c.planned_start, c.planned_end) else {
                continue;
            };
            let mut description = format!(
                "{} change, {} risk, {}. {base}/changes/{}",
                c.change_type, c.risk_level, c.state, c.number
            );
            for conflict in &entry.conflicts {
                description.push_str(&format!("\nConflict: {}", conflict.message));
            }
            events.push(ical::Event {
                uid: format!("{}@opsdesk-changes", c.number),
                summary: format!("{}: {}", c.number, c.title),
                description,
                from,
                until,
            });
        }
        for f in &calendar.freezes {
            events.push(ical::Event {
                uid: format!("freeze-{}@opsdesk-changes", f.id),
                summary: format!("{}: {}", f.kind, f.name),
                description: f.reason.clone(),
                from: f.starts_at,
                until: f.ends_at,
            });
        }
        Ok(ical::calendar("opsdesk changes", &events, self.now()))
    }
}
