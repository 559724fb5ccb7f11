//! Checks: handing due monitors to probes, recording their results, and rolling results up.

use std::collections::HashMap;

use super::*;

impl App {
    /// Leases up to `limit` due checks to this node (the scheduler's side).
    pub async fn claim_monitor_checks(&self, limit: i64) -> Result<Vec<DueCheck>, AppError> {
        let node = self.config().node_name.clone();
        let rows = self
            .system_change("monitor", move |tx| {
                Box::pin(async move {
                    crate::nodes::renew(tx.conn, &node, tx.now).await?;
                    let (backend, now) = (tx.backend, tx.now);
                    Ok(
                        store::claim_due(tx.conn, backend, &node, now, LEASE_SLACK_MS, limit)
                            .await?,
                    )
                })
            })
            .await?;
        let mut due = Vec::with_capacity(rows.len());
        for row in rows {
            let Ok(kind) = kind_of(&row) else {
                tracing::error!(monitor = row.id, kind = %row.kind, "monitor has an unknown kind");
                continue;
            };
            due.push(DueCheck {
                monitor_id: row.id,
                kind,
                target: row.target.clone(),
                settings: serde_json::from_str(&row.settings).unwrap_or_default(),
                snmp: None,
                timeout_ms: row.timeout_s.saturating_mul(1000),
                state_version: row.state_version,
                due_at: row.next_check_at,
            });
        }
        self.add_snmp_credentials(&mut due).await?;
        Ok(due)
    }

    /// Gives each SNMP interface check its device's address and credentials, read in one
    /// query for the whole claim.
    async fn add_snmp_credentials(&self, due: &mut [DueCheck]) -> Result<(), AppError> {
        let mut devices: Vec<i64> = due
            .iter()
            .filter_map(|check| check.settings.interface.map(|i| i.device))
            .collect();
        if devices.is_empty() {
            return Ok(());
        }
        devices.sort_unstable();
        devices.dedup();
        let credentials: HashMap<i64, (String, opsdesk_network::Credentials)> = {
            let mut conn = self.db().reader().await?;
            opsdesk_store::network::credentials_of(&mut conn, &devices)
                .await?
                .into_iter()
                .filter_map(|(id, address, credentials)| {
                    Some((id, (address, serde_json::from_str(&credentials).ok()?)))
                })
                .collect()
        };
        for check in due {
            check.snmp = check
                .settings
                .interface
                .and_then(|interface| credentials.get(&interface.device).cloned());
        }
        Ok(())
    }

    /// The earliest time any monitor is due, so the scheduler can sleep until then.
    pub async fn next_monitor_due(&self) -> Result<Option<i64>, AppError> {
        let mut conn = self.db().reader().await?;
        Ok(store::next_due(&mut conn).await?)
    }

    /// Records finished checks in one transaction; returns how many counted (a result whose
    /// lease was lost, or that raced another, is dropped).
    pub async fn record_checks(&self, results: Vec<CheckResult>) -> Result<usize, AppError> {
        let node = self.config().node_name.clone();
        self.system_change("monitor", move |mut tx| {
            Box::pin(async move {
                let mut recorded = 0;
                for result in &results {
                    let written = record_one(&mut tx, result, Some(&node)).await?;
                    recorded += usize::from(written != Recorded::Stale);
                }
                Ok(recorded)
            })
        })
        .await
    }

    /// Rolls raw results older than `keep_days` up into hourly figures.
    pub async fn roll_up_monitor_results(&self, keep_days: i64) -> Result<u64, AppError> {
        let hour = 3_600_000;
        self.system_change("monitor", move |tx| {
            Box::pin(async move {
                let before = (tx.now - keep_days.max(1) * 86_400_000) / hour * hour;
                Ok(store::roll_up(tx.conn, before).await?)
            })
        })
        .await
    }
}

/// What recording a check result or ping wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recorded {
    /// Nothing: another write changed the monitor first, so the result was stale.
    Stale,
    /// The monitor's new state (and the result, and the outage job it may queue).
    State,
}

impl Recorded {
    pub(super) fn state_written(written: bool) -> Self {
        if written { Self::State } else { Self::Stale }
    }
}

/// Records one result in the change's transaction. See [`evaluate`].
pub(super) async fn record_one(
    tx: &mut Tx<'_>,
    result: &CheckResult,
    node: Option<&str>,
) -> Result<Recorded, AppError> {
    let Some(row) = store::get(tx.conn, result.monitor_id).await? else {
        return Ok(Recorded::Stale);
    };
    if row.state_version != result.state_version || row.paused != 0 {
        return Ok(Recorded::Stale);
    }
    if let Some(rates) = &result.rates {
        opsdesk_store::network::insert_sample(
            tx.conn,
            row.id,
            &opsdesk_store::network::SampleRow {
                at: result.at,
                in_bps: rates.in_bps,
                out_bps: rates.out_bps,
                utilisation_pct: rates.utilisation_pct,
                errors_per_min: rates.errors_per_min,
                discards_per_min: rates.discards_per_min,
            },
        )
        .await?;
    }
    let mut updated = row.clone();
    if let Some(outcome) = &result.outcome {
        updated.last_check_at = Some(result.at);
        updated.last_latency_ms = outcome.latency_ms;
        updated.last_error.clone_from(&outcome.error);
    }
    let maintenance = in_maintenance(tx.conn, row.id, tx.now).await?;
    evaluate(
        tx,
        &updated,
        row.state_version,
        node,
        result.outcome.as_ref(),
        maintenance,
    )
    .await
}

/// Feeds a probe outcome (or, for heartbeats, the status worked out from pings) into the
/// state machine and writes the new state if nobody else did first; opens or ends the
/// outage and queues its incident job in the same transaction. `maintenance` says whether
/// a window holds the monitor's alerts now.
pub(super) async fn evaluate(
    tx: &mut Tx<'_>,
    row: &MonitorRow,
    state_version: i64,
    node: Option<&str>,
    outcome: Option<&ProbeOutcome>,
    maintenance: bool,
) -> Result<Recorded, AppError> {
    let now = tx.now;
    let kind = kind_of(row)?;
    let before = check_state(row);
    let (ok, error, next_check_at) = match (kind, outcome) {
        (MonitorKind::Heartbeat, _) => {
            let heartbeat = heartbeat_state(row);
            let expected = next_expected(row);
            let grace_ms = row.grace_s.saturating_mul(1000);
            let hb = heartbeat.status(now, expected, grace_ms);
            let next = heartbeat
                .next_change(now, expected, grace_ms)
                .unwrap_or(i64::MAX);
            let error = match hb {
                HeartbeatStatus::Down if heartbeat.failed => {
                    Some("the job reported a failure".to_owned())
                }
                HeartbeatStatus::Down if heartbeat.started_at.is_some() => {
                    Some("the job started but did not finish within the grace time".to_owned())
                }
                HeartbeatStatus::Down => Some(match expected {
                    Some(due) if row.cron.is_some() => format!(
                        "no ping for the run due at {} and the grace time after it",
                        timestamp(due)
                    ),
                    _ => "no ping within the period and grace time".to_owned(),
                }),
                _ => None,
            };
            if hb == HeartbeatStatus::New {
                // Nothing heard yet: nothing to decide.
                let mut update = update_from(row, &before);
                update.next_check_at = next;
                let written =
                    store::update_state(tx.conn, row.id, state_version, node, &update, now).await?;
                return Ok(Recorded::state_written(written));
            }
            (hb != HeartbeatStatus::Down, error, next)
        }
        (_, Some(outcome)) => (
            outcome.ok,
            outcome.error.clone(),
            // Keep the cadence: the next check is one interval after this one was due.
            (row.next_check_at.saturating_add(row.interval_s * 1000)).max(now),
        ),
        (_, None) => {
            return Err(AppError::broken("a probe result without an outcome"));
        }
    };
    let state = before.observe(ok, thresholds(row));
    let suppression = Suppression {
        maintenance,
        dependency_down: match row.depends_on {
            Some(dep) => store::get(tx.conn, dep)
                .await?
                .is_some_and(|d| d.up == Some(0) && d.paused == 0),
            None => false,
        },
    };
    let mut update = update_from(row, &state);
    update.next_check_at = next_check_at;
    if kind == MonitorKind::Heartbeat {
        // A probe's error comes with its result; a heartbeat's is what silence means.
        update.last_error.clone_from(&error);
    }
    let action = alert(&state, row.open_outage_id.is_some(), suppression);
    if action == Alert::Resolve {
        update.open_outage_id = None;
    }
    // The conditional update comes first: if another write got there, nothing else happens.
    if !store::update_state(tx.conn, row.id, state_version, node, &update, now).await? {
        return Ok(Recorded::Stale);
    }
    let outage = match (action, row.open_outage_id) {
        (Alert::Open, _) => {
            let period = ping_schedule(row).map_or(0, |s| s.period_near(now));
            let window = i64::from(FLAP_WINDOW).saturating_mul(period);
            let outage = match store::recent_outage(tx.conn, row.id, now - window).await? {
                Some(previous) => {
                    store::reopen_outage(tx.conn, previous.id).await?;
                    previous.id
                }
                None => store::open_outage(tx.conn, row.id, now, error.as_deref()).await?,
            };
            store::set_open_outage(tx.conn, row.id, Some(outage)).await?;
            Some(outage)
        }
        (Alert::Resolve, Some(outage)) => {
            store::end_outage(tx.conn, outage, now).await?;
            Some(outage)
        }
        (Alert::Hold, Some(outage)) if !ok => {
            if let Some(outage) = store::count_failure(tx.conn, outage).await? {
                note_failures(tx, &outage, error.as_deref()).await?;
            }
            None
        }
        _ => None,
    };
    if let Some(outage) = outage {
        let mut batch = tx.batch();
        jobs::queue(
            &mut batch,
            JobKind::MonitorOutage,
            &serde_json::json!({"outage_id": outage}),
            now,
        );
        batch.run(tx.conn).await?;
    }
    let latency = outcome.and_then(|o| o.latency_ms);
    store::insert_result(
        tx.conn,
        row.id,
        now,
        ok,
        latency,
        error.as_deref(),
        suppression.maintenance,
    )
    .await?;
    Ok(Recorded::State)
}

/// Notes the outage's failures on its incident's timeline, staff only, when [`FailureNotes`]
/// says one is due. Nothing before the incident job has linked the incident (its description
/// reports the first error) or once it has resolved it.
pub(super) async fn note_failures(
    tx: &mut Tx<'_>,
    outage: &OutageRow,
    error: Option<&str>,
) -> Result<(), AppError> {
    let now = tx.now;
    let Some(ticket_id) = outage.ticket_id else {
        return Ok(());
    };
    if outage.ticket_resolved != 0 {
        return Ok(());
    }
    let last = LastFailureNote {
        at: outage.noted_at,
        outage_started_at: outage.started_at,
        error: outage.noted_error.clone(),
        failures: outage.noted_failures,
    };
    let Some(note) = FailureNotes::default().due(&last, outage.failures, now, error) else {
        return Ok(());
    };
    let checks = if note.failures == 1 {
        "check"
    } else {
        "checks"
    };
    let mut body = format!(
        "{} more failed {checks} since {}",
        note.failures,
        timestamp(note.since)
    );
    if let Some(error) = error {
        body.push_str(&format!("; last error: {error}"));
    }
    let mut batch = tx.batch();
    crate::tickets::timeline(
        &mut batch,
        ticket_id,
        now,
        tx.actor,
        "monitor_failures",
        false,
        serde_json::json!({ "body": body }),
    );
    batch.run(tx.conn).await?;
    store::note_failures(tx.conn, outage.id, now, outage.failures, error).await?;
    Ok(())
}
