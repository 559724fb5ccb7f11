//! Maintenance windows: planned time in which monitors alert no one.

use super::*;

/// A maintenance window.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMaintenance {
    /// The monitor it covers; with neither this nor `tag`: every monitor.
    #[serde(default)]
    pub monitor_id: Option<i64>,
    /// Covers every monitor with this tag, now or later tagged.
    #[serde(default)]
    pub tag: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: jiff::Timestamp,
    /// Required for a one-off window; a recurring one without it recurs for ever.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<jiff::Timestamp>,
    /// Makes the window recur between `starts_at` and `ends_at`.
    #[serde(default)]
    pub recurrence: Option<NewRecurrence>,
    #[serde(default)]
    pub reason: String,
}

/// When a recurring maintenance window is in force: `duration_s` from each time of
/// `schedule`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRecurrence {
    /// A cron expression, e.g. `0 2 * * SUN` for Sundays at 02:00.
    pub schedule: String,
    /// The IANA time zone `schedule` is read in (default `UTC`).
    #[serde(default)]
    pub timezone: Option<String>,
    /// How long each period of maintenance lasts, in seconds (60 to 604800).
    pub duration_s: i64,
}

/// A maintenance window as stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Maintenance {
    pub id: i64,
    /// The monitor it covers; with neither this nor `tag`: every monitor.
    pub monitor_id: Option<i64>,
    /// Covers every monitor with this tag.
    pub tag: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: jiff::Timestamp,
    /// Absent for a recurring window that recurs for ever.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<jiff::Timestamp>,
    pub recurrence: Option<NewRecurrence>,
    pub reason: String,
    /// Whether the window holds alerts right now.
    pub in_force: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
}

impl Maintenance {
    fn from_stored(stored: StoredMaintenance, now: i64) -> Self {
        let in_force = maintenance_window(&stored.window).is_some_and(|w| w.active_at(now));
        let window = stored.window;
        let recurrence = match (window.schedule, window.duration_s) {
            (Some(schedule), Some(duration_s)) => Some(NewRecurrence {
                schedule,
                timezone: window.timezone,
                duration_s,
            }),
            _ => None,
        };
        Self {
            id: stored.id,
            monitor_id: window.monitor_id,
            tag: window.tag,
            starts_at: timestamp(window.starts_at),
            ends_at: (window.ends_at != i64::MAX).then(|| timestamp(window.ends_at)),
            recurrence,
            reason: window.reason,
            in_force,
            created_at: timestamp(stored.created_at),
        }
    }
}

/// Which maintenance windows to list.
#[derive(Debug, Clone, Default)]
pub struct MaintenanceQuery {
    /// Windows covering this monitor: its own, its tags' and those for every monitor.
    pub monitor_id: Option<i64>,
    /// Windows for this tag.
    pub tag: Option<String>,
}

/// A window's settings, for the audit log.
pub(super) fn maintenance_snapshot(window: &MaintenanceRow) -> serde_json::Value {
    serde_json::json!({
        "monitor_id": window.monitor_id, "tag": window.tag,
        "starts_at": timestamp(window.starts_at),
        "ends_at": (window.ends_at != i64::MAX).then(|| timestamp(window.ends_at)),
        "schedule": window.schedule, "timezone": window.timezone,
        "duration_s": window.duration_s, "reason": window.reason,
    })
}

/// Refuses a principal who may not change `window`: one monitor's window is for the staff
/// who see that monitor (others get not found); a tag may span organizations, so like
/// "every monitor" it is for admins.
pub(super) async fn require_maintenance_access(
    conn: &mut Conn,
    principal: &Principal,
    window: &MaintenanceRow,
) -> Result<(), AppError> {
    match window.monitor_id {
        Some(monitor) => visible(conn, principal, monitor).await.map(|_| ()),
        None => principal.require_admin(),
    }
}

/// Longest period of a recurring maintenance window: a week.
pub(super) const MAX_MAINTENANCE_S: i64 = 7 * 86_400;

/// Checks a new window; every problem names its field.
pub(super) fn maintenance_row(input: &NewMaintenance) -> Result<MaintenanceRow, AppError> {
    let mut errors = Vec::new();
    if input.monitor_id.is_some() && input.tag.is_some() {
        errors.push(FieldError::new(
            "tag",
            "give either monitor_id or tag, not both",
        ));
    }
    let tag = input.tag.as_deref().and_then(|tag| match Tag::parse(tag) {
        Ok(tag) => Some(tag.as_str().to_owned()),
        Err(e) => {
            errors.push(FieldError::new("tag", e));
            None
        }
    });
    let starts_at = input.starts_at.as_millisecond();
    let ends_at = match (input.ends_at, &input.recurrence) {
        (Some(end), _) => end.as_millisecond(),
        (None, Some(_)) => i64::MAX,
        (None, None) => {
            errors.push(FieldError::new("ends_at", "a one-off window needs an end"));
            i64::MAX
        }
    };
    if ends_at <= starts_at {
        errors.push(FieldError::new("ends_at", "must be after `starts_at`"));
    }
    if let Some(recurrence) = &input.recurrence {
        let timezone = recurrence.timezone.as_deref().unwrap_or(DEFAULT_TIMEZONE);
        match CronSchedule::parse(&recurrence.schedule, timezone) {
            Ok(_) => {}
            Err(e @ ScheduleError::TimeZone(_)) => {
                errors.push(FieldError::new("recurrence.timezone", e));
            }
            Err(e @ (ScheduleError::Expression(_) | ScheduleError::Never)) => {
                errors.push(FieldError::new("recurrence.schedule", e));
            }
        }
        if !(60..=MAX_MAINTENANCE_S).contains(&recurrence.duration_s) {
            range_error("recurrence.duration_s", 60, MAX_MAINTENANCE_S, &mut errors);
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let recurrence = input.recurrence.as_ref();
    Ok(MaintenanceRow {
        monitor_id: input.monitor_id,
        tag,
        starts_at,
        ends_at,
        reason: input.reason.trim().to_owned(),
        schedule: recurrence.map(|r| r.schedule.trim().to_owned()),
        timezone: recurrence.map(|r| {
            r.timezone
                .as_deref()
                .unwrap_or(DEFAULT_TIMEZONE)
                .trim()
                .to_owned()
        }),
        duration_s: recurrence.map(|r| r.duration_s),
    })
}

/// A stored window in time; `None` (logged) if its schedule no longer parses.
pub(crate) fn maintenance_window(row: &MaintenanceRow) -> Option<MaintenanceWindow> {
    let recurrence = match (&row.schedule, row.duration_s) {
        (Some(schedule), Some(duration_s)) => {
            let timezone = row.timezone.as_deref().unwrap_or(DEFAULT_TIMEZONE);
            match CronSchedule::parse(schedule, timezone) {
                Ok(schedule) => Some(Recurrence {
                    schedule,
                    duration_ms: duration_s.saturating_mul(1000),
                }),
                Err(error) => {
                    tracing::error!(%error, "a stored maintenance schedule does not parse");
                    return None;
                }
            }
        }
        _ => None,
    };
    Some(MaintenanceWindow {
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        recurrence,
    })
}

/// Whether a maintenance window covering the monitor is in force at `now`.
pub(super) async fn in_maintenance(
    conn: &mut Conn,
    monitor_id: i64,
    now: i64,
) -> Result<bool, AppError> {
    Ok(store::maintenance_covering(conn, monitor_id, now)
        .await?
        .iter()
        .filter_map(maintenance_window)
        .any(|window| window.active_at(now)))
}

impl App {
    /// Adds a maintenance window (staff): alerts are held and checks inside it do not count
    /// against uptime.
    pub async fn create_maintenance(
        &self,
        principal: &Principal,
        input: NewMaintenance,
    ) -> Result<i64, AppError> {
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let window = maintenance_row(&input)?;
                require_maintenance_access(tx.conn, tx.principal, &window).await?;
                let id = store::insert_maintenance(tx.conn, &window, tx.now).await?;
                let snapshot = maintenance_snapshot(&window);
                tx.record(Event::created(Entity::MaintenanceWindow, id, &snapshot))
                    .await?;
                Ok(id)
            })
        })
        .await
    }

    /// Maintenance windows after id `after`, in id order (staff). Windows for monitors the
    /// principal does not see are left out.
    pub async fn maintenance_windows(
        &self,
        principal: &Principal,
        query: &MaintenanceQuery,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Maintenance>, AppError> {
        principal.require_staff()?;
        let tag = match &query.tag {
            Some(tag) => Some(
                Tag::parse(tag)
                    .map_err(|e| AppError::invalid("tag", e))?
                    .as_str()
                    .to_owned(),
            ),
            None => None,
        };
        let mut conn = self.db().reader().await?;
        if let Some(monitor) = query.monitor_id {
            visible(&mut conn, principal, monitor).await?;
        }
        let organizations = principal.organization_filter();
        let filter = store::MaintenanceFilter {
            organizations: organizations.as_deref(),
            covering: query.monitor_id,
            tag: tag.as_deref(),
        };
        let now = self.now_ms();
        Ok(store::list_maintenance(&mut conn, &filter, after, limit)
            .await?
            .into_iter()
            .map(|stored| Maintenance::from_stored(stored, now))
            .collect())
    }

    /// One maintenance window (staff); not found if it is for a monitor the principal does
    /// not see.
    pub async fn maintenance_window(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<Maintenance, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let stored = visible_maintenance(&mut conn, principal, id).await?;
        Ok(Maintenance::from_stored(stored, self.now_ms()))
    }

    /// Deletes a maintenance window: alerts it held go out from the next check. Who may
    /// delete a window is who may create it.
    pub async fn delete_maintenance(&self, principal: &Principal, id: i64) -> Result<(), AppError> {
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let stored = visible_maintenance(tx.conn, tx.principal, id).await?;
                require_maintenance_access(tx.conn, tx.principal, &stored.window).await?;
                store::delete_maintenance(tx.conn, id).await?;
                let snapshot = maintenance_snapshot(&stored.window);
                tx.record(Event::deleted(Entity::MaintenanceWindow, id, &snapshot))
                    .await
            })
        })
        .await
    }
}

/// A maintenance window the principal may see (any but those for monitors it does not
/// see), or not found.
pub(super) async fn visible_maintenance(
    conn: &mut Conn,
    principal: &Principal,
    id: i64,
) -> Result<StoredMaintenance, AppError> {
    let stored = store::maintenance(conn, id)
        .await?
        .ok_or(AppError::NotFound("maintenance window"))?;
    if let Some(monitor) = stored.window.monitor_id {
        match visible(conn, principal, monitor).await {
            Err(AppError::NotFound(_)) => return Err(AppError::NotFound("maintenance window")),
            other => other?,
        };
    }
    Ok(stored)
}
