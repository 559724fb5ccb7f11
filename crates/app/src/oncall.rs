//! On-call schedules: who answers now. Admins define a schedule's rotation layers in a time
//! zone; staff see who is on call at any time and until when, and take over (or hand over)
//! a stretch with an override.

use jiff::tz::TimeZone;
use opsdesk_domain::account::Role;
use opsdesk_domain::ical;
use opsdesk_domain::oncall::{self as rules, Layer, Override, Rotation};
use opsdesk_store::oncall::{self as store, OverrideRow, ScheduleRow};
use serde::{Deserialize, Serialize};

use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::{App, AppError, FieldError, Principal, timestamp};

/// How far ahead "until when" is looked for.
const HORIZON_MS: i64 = 400 * 86_400_000;

/// A schedule, with who is on call now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Schedule {
    pub id: i64,
    pub name: String,
    /// An IANA time zone: hand-offs and restrictions are on its wall clock.
    pub time_zone: String,
    /// Each `{"people": [e-mail…], "start": "2026-01-05T09:00", "turn": {"days": 7} |
    /// {"hours": 12}, "restriction"?: {"days": ["monday", …], "from": "09:00", "to":
    /// "17:00"}}`; where several are on, the last wins.
    #[schema(value_type = Vec<Object>)]
    pub layers: Vec<Layer>,
    pub on_call: OnCall,
}

/// A new schedule.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSchedule {
    pub name: String,
    pub time_zone: String,
    #[schema(value_type = Vec<Object>)]
    pub layers: Vec<Layer>,
}

/// Who is on call at a time, and until when.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OnCall {
    #[schema(value_type = String, format = DateTime)]
    pub at: jiff::Timestamp,
    /// Nobody when no layer is on (outside every restriction) and no override runs.
    pub person: Option<String>,
    /// When that may change next (a hand-off, a restriction's edge, an override's).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<jiff::Timestamp>,
}

/// Someone on call instead of the rotation for a while.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOverride {
    /// The staff member's e-mail address; yourself when absent.
    #[serde(default)]
    pub person: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub from: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub until: jiff::Timestamp,
}

/// An override as recorded.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScheduleOverride {
    pub id: i64,
    pub person: String,
    #[schema(value_type = String, format = DateTime)]
    pub from: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub until: jiff::Timestamp,
    /// Who added it.
    pub by: String,
}

/// A stretch someone is on call on a schedule.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OnCallShift {
    pub schedule: String,
    pub person: String,
    #[schema(value_type = String, format = DateTime)]
    pub from: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub until: jiff::Timestamp,
}

/// Most days of shifts one request shows.
pub const MOST_SHIFT_DAYS: u32 = 90;

/// Whether a user may be on call (or be paged): active staff.
pub(crate) fn active_staff(user: &opsdesk_store::accounts::UserRow) -> bool {
    user.active != 0 && user.role != Role::Customer.as_str()
}

fn rotation_of(row: &ScheduleRow) -> Result<(Rotation, Vec<Layer>), AppError> {
    let broken = |e: String| AppError::broken(format!("schedule {}: {e}", row.id));
    let zone = TimeZone::get(&row.time_zone).map_err(|e| broken(e.to_string()))?;
    let layers: Vec<Layer> =
        serde_json::from_str(&row.layers).map_err(|e| broken(e.to_string()))?;
    let rotation = Rotation::new(zone, layers.clone()).map_err(|e| broken(e.to_string()))?;
    Ok((rotation, layers))
}

fn overrides_of(rows: &[OverrideRow]) -> Vec<Override> {
    rows.iter()
        .map(|o| Override {
            person: o.email.clone(),
            from: timestamp(o.starts_at),
            until: timestamp(o.ends_at),
        })
        .collect()
}

fn on_call_at(rotation: &Rotation, overrides: &[Override], at: jiff::Timestamp) -> OnCall {
    let horizon = timestamp(at.as_millisecond().saturating_add(HORIZON_MS));
    OnCall {
        at,
        person: rotation.on_call(overrides, at),
        until: rotation
            .changes(overrides, at, horizon)
            .into_iter()
            .find(|t| *t > at),
    }
}

/// The e-mail address of whoever is on call on schedule `id` at `at_ms`; none when nobody
/// is, or the schedule is gone.
pub(crate) async fn person_on_call(
    conn: &mut opsdesk_store::Conn,
    id: i64,
    at_ms: i64,
) -> Result<Option<String>, AppError> {
    let Some(row) = store::schedule(conn, id).await? else {
        return Ok(None);
    };
    let (rotation, _) = rotation_of(&row)?;
    let overrides = store::overrides(conn, id, at_ms).await?;
    Ok(rotation.on_call(&overrides_of(&overrides), timestamp(at_ms)))
}

impl App {
    /// Creates a schedule (admins). Everyone in a layer must be active staff.
    pub async fn create_schedule(
        &self,
        principal: &Principal,
        input: NewSchedule,
    ) -> Result<Schedule, AppError> {
        self.save_schedule(principal, None, input).await
    }

    /// Replaces a schedule's name, time zone and layers (admins); the overrides stay.
    pub async fn update_schedule(
        &self,
        principal: &Principal,
        id: i64,
        input: NewSchedule,
    ) -> Result<Schedule, AppError> {
        self.save_schedule(principal, Some(id), input).await
    }

    /// Creates a schedule, or with `id` replaces that one, after checking it.
    async fn save_schedule(
        &self,
        principal: &Principal,
        id: Option<i64>,
        input: NewSchedule,
    ) -> Result<Schedule, AppError> {
        let mut errors = Vec::new();
        let name = crate::accounts::check_name("name", &input.name, &mut errors);
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let zone = TimeZone::get(&input.time_zone).map_err(|_| {
            AppError::invalid(
                "time_zone",
                "not an IANA time zone; use a name such as Europe/London",
            )
        })?;
        Rotation::new(zone, input.layers.clone()).map_err(|e| AppError::invalid("layers", e))?;
        let layers = serde_json::to_string(&input.layers)
            .map_err(|e| AppError::internal("recording a schedule", e))?;
        let people: Vec<String> = input
            .layers
            .iter()
            .flat_map(|l| l.people.iter().map(|p| p.to_lowercase()))
            .collect();
        let time_zone = input.time_zone.clone();
        let row = self
            .change(principal, Need::Admin, move |mut tx| {
                Box::pin(async move {
                    let mut errors = Vec::new();
                    for email in &people {
                        let found =
                            opsdesk_store::accounts::find_user_by_email(tx.conn, email).await?;
                        if !found.as_ref().is_some_and(active_staff) {
                            errors.push(FieldError::new(
                                "layers",
                                format!("{email} is not active staff"),
                            ));
                        }
                    }
                    if !errors.is_empty() {
                        return Err(AppError::Invalid(errors));
                    }
                    let snapshot = |row: &ScheduleRow| {
                        serde_json::json!({"name": row.name, "time_zone": row.time_zone,
                                           "layers": serde_json::from_str::<serde_json::Value>(&row.layers).unwrap_or_default()})
                    };
                    let row = match id {
                        None => {
                            let row = store::insert_schedule(
                                tx.conn, &name, &time_zone, &layers, tx.now,
                            )
                            .await?;
                            tx.record(Event::created(Entity::Schedule, row.id, &snapshot(&row)))
                                .await?;
                            row
                        }
                        Some(id) => {
                            let before = store::schedule(tx.conn, id)
                                .await?
                                .ok_or(AppError::NotFound("schedule"))?;
                            let row = store::update_schedule(
                                tx.conn, id, &name, &time_zone, &layers, tx.now,
                            )
                            .await?
                            .ok_or(AppError::NotFound("schedule"))?;
                            tx.record(Event::updated(
                                Entity::Schedule,
                                id,
                                &snapshot(&before),
                                &snapshot(&row),
                            ))
                            .await?;
                            row
                        }
                    };
                    Ok(row)
                })
            })
            .await?;
        self.schedule_view(row).await
    }

    async fn schedule_view(&self, row: ScheduleRow) -> Result<Schedule, AppError> {
        let (rotation, layers) = rotation_of(&row)?;
        let now = self.now();
        let overrides = {
            let mut conn = self.db().reader().await?;
            store::overrides(&mut conn, row.id, now.as_millisecond()).await?
        };
        Ok(Schedule {
            id: row.id,
            on_call: on_call_at(&rotation, &overrides_of(&overrides), now),
            name: row.name,
            time_zone: row.time_zone,
            layers,
        })
    }

    /// Every schedule with who is on call now (staff).
    pub async fn schedules(&self, principal: &Principal) -> Result<Vec<Schedule>, AppError> {
        principal.require_staff()?;
        let rows = {
            let mut conn = self.db().reader().await?;
            store::schedules(&mut conn).await?
        };
        let mut schedules = Vec::with_capacity(rows.len());
        for row in rows {
            schedules.push(self.schedule_view(row).await?);
        }
        Ok(schedules)
    }

    /// Who is on call on schedule `id` at `at` (now when absent), and until when (staff).
    pub async fn on_call(
        &self,
        principal: &Principal,
        id: i64,
        at: Option<jiff::Timestamp>,
    ) -> Result<OnCall, AppError> {
        principal.require_staff()?;
        let at = at.unwrap_or_else(|| self.now());
        let mut conn = self.db().reader().await?;
        let row = store::schedule(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound("schedule"))?;
        let (rotation, _) = rotation_of(&row)?;
        // Overrides that ended before `at` cannot matter.
        let overrides = store::overrides(&mut conn, id, at.as_millisecond()).await?;
        Ok(on_call_at(&rotation, &overrides_of(&overrides), at))
    }

    /// Every schedule's shifts from now for `days` days (1 to 90), in time order; only
    /// `person`'s when given (staff).
    pub async fn shifts(
        &self,
        principal: &Principal,
        person: Option<&str>,
        days: u32,
    ) -> Result<Vec<OnCallShift>, AppError> {
        principal.require_staff()?;
        if !(1..=MOST_SHIFT_DAYS).contains(&days) {
            return Err(AppError::invalid(
                "days",
                format!("1 to {MOST_SHIFT_DAYS} days"),
            ));
        }
        let from = self.now();
        let until = timestamp(from.as_millisecond() + i64::from(days) * 86_400_000);
        let person = person.map(str::to_lowercase);
        let mut conn = self.db().reader().await?;
        let mut shifts = Vec::new();
        for row in store::schedules(&mut conn).await? {
            let (rotation, _) = rotation_of(&row)?;
            let overrides =
                overrides_of(&store::overrides(&mut conn, row.id, from.as_millisecond()).await?);
            shifts.extend(
                rotation
                    .shifts(&overrides, from, until)
                    .into_iter()
                    .filter(|s| person.as_ref().is_none_or(|p| *p == s.person))
                    .map(|s| OnCallShift {
                        schedule: row.name.clone(),
                        person: s.person,
                        from: s.from,
                        until: s.until,
                    }),
            );
        }
        shifts.sort_by_key(|s| (s.from, s.schedule.clone()));
        Ok(shifts)
    }

    /// [`App::shifts`] as an iCalendar document, for calendar apps.
    pub async fn shifts_calendar(
        &self,
        principal: &Principal,
        person: Option<&str>,
        days: u32,
    ) -> Result<String, AppError> {
        let shifts = self.shifts(principal, person, days).await?;
        let events: Vec<ical::Event> = shifts
            .iter()
            .map(|s| ical::Event {
                uid: format!(
                    "shift-{}-{}-{}@opsdesk",
                    s.schedule,
                    s.person,
                    s.from.as_millisecond()
                ),
                summary: format!("On call: {}", s.schedule),
                description: s.person.clone(),
                from: s.from,
                until: s.until,
            })
            .collect();
        let name = match person {
            Some(person) => format!("On call: {person}"),
            None => "On call".to_owned(),
        };
        Ok(ical::calendar(&name, &events, self.now()))
    }

    /// The overrides of schedule `id` still to come or running (staff).
    pub async fn schedule_overrides(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<Vec<ScheduleOverride>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        store::schedule(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound("schedule"))?;
        Ok(store::overrides(&mut conn, id, self.now_ms())
            .await?
            .into_iter()
            .map(|o| ScheduleOverride {
                id: o.id,
                person: o.email,
                from: timestamp(o.starts_at),
                until: timestamp(o.ends_at),
                by: o.created_by,
            })
            .collect())
    }

    /// Puts someone on call instead of the rotation for a while (staff: a take-over or a
    /// swap); it wins over the layers, and over earlier overrides.
    pub async fn add_override(
        &self,
        principal: &Principal,
        id: i64,
        input: NewOverride,
    ) -> Result<ScheduleOverride, AppError> {
        principal.require_staff()?;
        let person = input
            .person
            .clone()
            .unwrap_or_else(|| principal.email.clone());
        rules::check_override(&Override {
            person: person.clone(),
            from: input.from,
            until: input.until,
        })
        .map_err(|e| AppError::invalid("until", e))?;
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                store::schedule(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("schedule"))?;
                let user =
                    opsdesk_store::accounts::find_user_by_email(tx.conn, &person.to_lowercase())
                        .await?
                        .filter(active_staff)
                        .ok_or_else(|| AppError::invalid("person", "not active staff"))?;
                let window = (input.from.as_millisecond(), input.until.as_millisecond());
                let by = if tx.principal.email.is_empty() {
                    tx.actor.to_owned()
                } else {
                    tx.principal.email.clone()
                };
                let override_id =
                    store::insert_override(tx.conn, id, user.id, window, &by, tx.now).await?;
                let recorded = ScheduleOverride {
                    id: override_id,
                    person: user.email,
                    from: input.from,
                    until: input.until,
                    by,
                };
                tx.record(Event {
                    entity: Entity::Schedule,
                    entity_id: id,
                    action: crate::audit::Action::Updated,
                    before: None,
                    after: Some(serde_json::json!({"override": recorded})),
                })
                .await?;
                Ok(recorded)
            })
        })
        .await
    }
}
