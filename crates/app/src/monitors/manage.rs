//! Managing monitors: create, read, change, delete, and their uptime.

use super::*;

/// A new monitor's configuration and tags, checked; every problem names its field.
fn new_monitor(
    principal: &Principal,
    input: NewMonitor,
) -> Result<(MonitorConfig, MonitorKind, Vec<String>), AppError> {
    let kind: MonitorKind = input
        .kind
        .parse()
        .map_err(|e| AppError::invalid("kind", e))?;
    let heartbeat = kind == MonitorKind::Heartbeat;
    if input.schedule.is_some() && input.interval_s.is_some() {
        return Err(AppError::invalid(
            "schedule",
            "give either interval_s or schedule, not both",
        ));
    }
    let cron = input.schedule.map(|s| s.trim().to_owned());
    // A schedule without a zone is read in UTC; a zone without a schedule is refused.
    let timezone = match (&cron, input.timezone) {
        (Some(_), None) => Some(DEFAULT_TIMEZONE.to_owned()),
        (_, zone) => zone.map(|z| z.trim().to_owned()),
    };
    let incident = input.incident.unwrap_or_default();
    let config = MonitorConfig {
        organization_id: input.organization_id,
        name: input.name.trim().to_owned(),
        kind: kind.as_str().to_owned(),
        target: input.target.trim().to_owned(),
        settings: serde_json::to_string(&input.settings)
            .map_err(|e| AppError::internal("serialising a monitor's settings", e))?,
        // A scheduled heartbeat has no period.
        interval_s: if cron.is_some() {
            0
        } else {
            input.interval_s.unwrap_or(60)
        },
        timeout_s: input.timeout_s.unwrap_or(10),
        retries: input.retries.unwrap_or(1),
        recover_after: input.recover_after.unwrap_or(1),
        requester: incident
            .requester
            .clone()
            .unwrap_or_else(|| principal.email.clone()),
        incident: serde_json::to_string(&incident)
            .map_err(|e| AppError::internal("serialising a monitor's incident", e))?,
        depends_on: input.depends_on,
        cron,
        timezone,
        grace_s: input.grace_s.unwrap_or(if heartbeat { 60 } else { 0 }),
        paused: input.paused,
    };
    let mut errors = validate(&config, kind, &input.settings);
    let tags = monitor_tags(&input.tags, &mut errors);
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    if !principal.can_see_organization(config.organization_id) {
        return Err(AppError::invalid(
            "organization_id",
            "not an organization you serve",
        ));
    }
    Ok((config, kind, tags))
}

impl App {
    /// Adds a monitor (staff). Heartbeats get a secret ping URL.
    pub async fn create_monitor(
        &self,
        principal: &Principal,
        input: NewMonitor,
    ) -> Result<Monitor, AppError> {
        let row = self
            .change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move {
                    let now = tx.now;
                    let (config, kind, tags) = new_monitor(tx.principal, input)?;
                    let heartbeat = kind == MonitorKind::Heartbeat;
                    let token = heartbeat.then(|| uuid::Uuid::new_v4().to_string());
                    check_dependency(tx.conn, config.depends_on, None).await?;
                    // Heartbeats are evaluated once their first ping sets a deadline.
                    let first = if heartbeat { i64::MAX } else { now };
                    let id = store::insert(tx.conn, &config, token.as_deref(), first, now).await?;
                    store::set_tags(tx.conn, id, &tags).await?;
                    if !heartbeat {
                        let due = now + jitter_ms(id, config.interval_s);
                        store::set_next_check(tx.conn, id, due).await?;
                    }
                    let row = store::get(tx.conn, id)
                        .await?
                        .ok_or(AppError::NotFound("monitor"))?;
                    tx.record(Event::created(Entity::Monitor, id, &config_snapshot(&row)))
                        .await?;
                    Ok(row)
                })
            })
            .await?;
        let mut conn = self.db().reader().await?;
        view(&mut conn, row, self.now_ms()).await
    }

    /// One monitor with its status.
    pub async fn monitor(&self, principal: &Principal, id: i64) -> Result<Monitor, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let row = visible(&mut conn, principal, id).await?;
        view(&mut conn, row, self.now_ms()).await
    }

    /// Monitors after id `after`, in id order.
    pub async fn monitors(
        &self,
        principal: &Principal,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Monitor>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let filter = principal.organization_filter();
        let rows = store::list(&mut conn, filter.as_deref(), after, limit).await?;
        let now = self.now_ms();
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            items.push(view(&mut conn, row, now).await?);
        }
        Ok(items)
    }

    /// Changes a monitor (staff); `expected_version` comes from `If-Match`.
    pub async fn update_monitor(
        &self,
        principal: &Principal,
        id: i64,
        expected_version: impl Into<Precondition>,
        patch: MonitorPatch,
    ) -> Result<Monitor, AppError> {
        let expected_version: Precondition = expected_version.into();
        let row = self
            .change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move {
                    let now = tx.now;
                    let row = visible(tx.conn, tx.principal, id).await?;
                    expected_version.check(row.version)?;
                    let kind = kind_of(&row)?;
                    let mut incident: IncidentSettings =
                        serde_json::from_str(&row.incident).unwrap_or_default();
                    let mut requester = row.requester.clone();
                    if let Some(new) = patch.incident {
                        if let Some(r) = &new.requester {
                            requester.clone_from(r);
                        }
                        incident = new;
                    }
                    let settings = match patch.settings {
                        Some(s) => s,
                        None => serde_json::from_str(&row.settings).unwrap_or_default(),
                    };
                    // A heartbeat has a period or a schedule: whichever is sent replaces the other.
                    let (interval_s, cron, timezone) = match (patch.interval_s, patch.schedule) {
                        (Some(_), Some(_)) => {
                            return Err(AppError::invalid(
                                "schedule",
                                "give either interval_s or schedule, not both",
                            ));
                        }
                        (Some(interval), None) => (interval, None, patch.timezone),
                        (None, Some(cron)) => (
                            0,
                            Some(cron.trim().to_owned()),
                            patch
                                .timezone
                                .or(row.timezone.clone())
                                .or_else(|| Some(DEFAULT_TIMEZONE.to_owned())),
                        ),
                        (None, None) => (
                            row.interval_s,
                            row.cron.clone(),
                            patch.timezone.or(row.timezone.clone()),
                        ),
                    };
                    let config = MonitorConfig {
                        organization_id: row.organization_id,
                        name: patch
                            .name
                            .map(|n| n.trim().to_owned())
                            .unwrap_or_else(|| row.name.clone()),
                        kind: row.kind.clone(),
                        target: patch
                            .target
                            .map(|t| t.trim().to_owned())
                            .unwrap_or_else(|| row.target.clone()),
                        settings: serde_json::to_string(&settings).map_err(|e| {
                            AppError::internal("serialising a monitor's settings", e)
                        })?,
                        interval_s,
                        timeout_s: patch.timeout_s.unwrap_or(row.timeout_s),
                        retries: patch.retries.unwrap_or(row.retries),
                        recover_after: patch.recover_after.unwrap_or(row.recover_after),
                        incident: serde_json::to_string(&incident).map_err(|e| {
                            AppError::internal("serialising a monitor's incident", e)
                        })?,
                        requester,
                        depends_on: patch.depends_on.or(row.depends_on),
                        cron,
                        timezone: timezone.map(|z| z.trim().to_owned()),
                        grace_s: patch.grace_s.unwrap_or(row.grace_s),
                        paused: patch.paused.unwrap_or(row.paused != 0),
                    };
                    let mut errors = validate(&config, kind, &settings);
                    let tags = patch.tags.map(|tags| monitor_tags(&tags, &mut errors));
                    if !errors.is_empty() {
                        return Err(AppError::Invalid(errors));
                    }
                    check_dependency(tx.conn, config.depends_on, Some(id)).await?;
                    if let Some(tags) = &tags {
                        store::set_tags(tx.conn, id, tags).await?;
                    }
                    // A changed interval or an unpaused monitor is checked soon, not after
                    // the old interval; a heartbeat is re-evaluated against its new period or
                    // schedule at once.
                    let next = if kind == MonitorKind::Heartbeat {
                        row.next_check_at.min(now)
                    } else {
                        row.next_check_at
                            .min(now + jitter_ms(id, config.interval_s))
                    };
                    if !store::update_config(tx.conn, id, row.version, &config, next, now).await? {
                        return Err(AppError::Stale);
                    }
                    let after = store::get(tx.conn, id)
                        .await?
                        .ok_or(AppError::NotFound("monitor"))?;
                    let (before_config, after_config) =
                        (config_snapshot(&row), config_snapshot(&after));
                    tx.record(Event::updated(
                        Entity::Monitor,
                        id,
                        &before_config,
                        &after_config,
                    ))
                    .await?;
                    Ok(after)
                })
            })
            .await?;
        let mut conn = self.db().reader().await?;
        view(&mut conn, row, self.now_ms()).await
    }

    /// Deletes a monitor and its history (staff). Incidents it opened stay.
    pub async fn delete_monitor(&self, principal: &Principal, id: i64) -> Result<(), AppError> {
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let row = visible(tx.conn, tx.principal, id).await?;
                store::delete(tx.conn, id).await?;
                tx.record(Event::deleted(Entity::Monitor, id, &config_snapshot(&row)))
                    .await
            })
        })
        .await
    }

    /// Uptime and hourly response times of a monitor over `[from, to)`.
    pub async fn monitor_uptime(
        &self,
        principal: &Principal,
        id: i64,
        from: jiff::Timestamp,
        to: jiff::Timestamp,
    ) -> Result<Uptime, AppError> {
        principal.require_staff()?;
        if to <= from {
            return Err(AppError::invalid("to", "must be after `from`"));
        }
        let mut conn = self.db().reader().await?;
        let row = visible(&mut conn, principal, id).await?;
        let hours = store::hourly(
            &mut conn,
            row.id,
            from.as_millisecond(),
            to.as_millisecond(),
        )
        .await?;
        let total = hours.iter().fold(Tally::default(), |acc, (_, t)| Tally {
            checks: acc.checks + t.checks,
            ok: acc.ok + t.ok,
            latency_sum: acc.latency_sum + t.latency_sum,
            latency_max: acc.latency_max.max(t.latency_max),
        });
        Ok(Uptime {
            from,
            to,
            checks: total.checks,
            uptime_percent: percent(&total),
            series: hours
                .into_iter()
                .map(|(hour, t)| UptimePoint {
                    at: timestamp(hour),
                    checks: t.checks,
                    uptime_percent: percent(&t).unwrap_or(0.0),
                    avg_latency_ms: t.latency_sum / t.checks.max(1),
                    max_latency_ms: t.latency_max,
                })
                .collect(),
        })
    }
}
