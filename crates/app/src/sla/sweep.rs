//! Raising warnings and breaches as they come due, and the housekeeping beside it.

use super::*;

impl App {
    /// Raises the warnings and breaches that are due, each exactly once (also with several
    /// nodes: a conditional update decides who records it). Returns how many were raised.
    pub async fn sweep_sla(&self) -> Result<usize, AppError> {
        self.system_change("sla", |mut tx| {
            Box::pin(async move { sweep(&mut tx).await })
        })
        .await
    }

    /// Runs the SLA sweeper and the time-based automation rules every `interval` until `shutdown` turns true, and about once a
    /// minute the housekeeping: closing long-resolved tickets, reminding of article reviews,
    /// dropping expired sessions.
    pub async fn run_sla(
        &self,
        interval: std::time::Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut last_housekeeping: Option<std::time::Instant> = None;
        loop {
            if *shutdown.borrow() {
                return;
            }
            if let Err(error) = self.sweep_sla().await {
                tracing::warn!(%error, "SLA sweep failed");
            }
            if let Err(error) = self.sweep_rules().await {
                tracing::warn!(%error, "the sweep of time-based rules failed");
            }
            if last_housekeeping.is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(60))
            {
                last_housekeeping = Some(std::time::Instant::now());
                if let Err(error) = self.housekeeping().await {
                    tracing::warn!(%error, "housekeeping failed");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Closes tickets resolved longer than `auto_close_days` ago, keeps the triage model
    /// fresh, rolls up the reports' days that changed, reminds article owners of reviews due and owners of contracts and licences of renewals, fires the dead-man's switch of silent alert sources, times out work agents never answered, and deletes expired sessions, the alert notifications older than the simulator replays and interface traffic older than its chart shows.
    pub async fn housekeeping(&self) -> Result<(), AppError> {
        let days = self.config().auto_close_days;
        if days > 0 {
            let closed = self.close_resolved_tickets(days).await?;
            if closed > 0 {
                tracing::info!(closed, "closed tickets resolved more than {days} days ago");
            }
        }
        self.keep_triage_fresh().await;
        // A day another node folds at the same moment is folded again at the next round.
        match self.fold_reports().await {
            Ok(0) => {}
            Ok(folded) => tracing::debug!(folded, "rolled up the reports' days that changed"),
            Err(error) => tracing::warn!(%error, "rolling up the reports' days failed"),
        }
        let reminded = self.remind_article_reviews().await?;
        if reminded > 0 {
            tracing::info!(reminded, "reminded article owners of reviews due");
        }
        let silent = self.watch_silent_sources().await?;
        if silent > 0 {
            tracing::warn!(silent, "alert sources went silent");
        }
        let unanswered = self.time_out_unanswered_work().await?;
        if unanswered > 0 {
            tracing::warn!(unanswered, "agents never answered work handed to them");
        }
        let renewals = self.remind_renewals().await?;
        if renewals > 0 {
            tracing::info!(renewals, "opened renewal tasks for contracts and licences");
        }
        self.system_change("housekeeping", |tx| {
            Box::pin(async move {
                opsdesk_store::accounts::delete_expired_sessions(tx.conn, tx.now).await?;
                opsdesk_store::second_factor::delete_expired_login_challenges(tx.conn, tx.now)
                    .await?;
                let kept_since = tx.now - crate::alerts::simulate::KEPT_DAYS * 86_400_000;
                opsdesk_store::alerts::prune_notifications(tx.conn, kept_since).await?;
                let traffic_since = tx.now - crate::network::SAMPLES_KEPT_DAYS * 86_400_000;
                opsdesk_store::network::prune_samples(tx.conn, traffic_since).await?;
                Ok(())
            })
        })
        .await
    }
}

/// Most due tickets one sweep handles; the rest wait for the next sweep.
pub const SLA_SWEEP_BATCH: i64 = 500;

/// The clocks after raising every level crossed by `now`, and those crossings in order.
pub(super) fn raise_due(
    before: &TicketSlaRow,
    calendar: &BusinessCalendar,
    now: i64,
) -> Result<(TicketSlaRow, Vec<(ClockKind, Crossing)>), AppError> {
    let warnings = warnings_of(before);
    let mut after = before.clone();
    let mut crossings = Vec::new();
    for kind in ClockKind::ALL {
        let mut clock = clock_of(before, kind);
        for crossing in clock
            .crossings_due(calendar, &warnings, timestamp(now))
            .map_err(invalid_time)?
        {
            clock.raised = crossing.level;
            crossings.push((kind, crossing));
        }
        set_clock(&mut after, kind, &clock);
    }
    for (kind, crossing) in &crossings {
        if crossing.percent == 100 {
            match kind {
                ClockKind::Response => after.response_breached = 1,
                ClockKind::Resolution => after.resolution_breached = 1,
            }
        }
    }
    refresh(&mut after, calendar)?;
    Ok((after, crossings))
}

async fn sweep(tx: &mut Tx<'_>) -> Result<usize, AppError> {
    let now = tx.now;
    let due = store::due_checks(tx.conn, tx.backend, now, SLA_SWEEP_BATCH).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let catalog = crate::catalog::current(tx.conn).await?;
    let mut raised = 0;
    for before in due {
        let calendar = catalog.calendar(before.calendar_id)?;
        let (after, crossings) = raise_due(&before, calendar, now)?;
        if !store::record_raised(tx.conn, &before, &after).await? {
            continue;
        }
        for (kind, crossing) in crossings {
            let action = if crossing.percent == 100 {
                Action::SlaBreached
            } else {
                Action::SlaWarning
            };
            let data = serde_json::json!({
                "clock": kind.as_str(), "percent": crossing.percent, "at": timestamp(ms(crossing.at)),
            });
            let mut batch = tx.batch();
            opsdesk_store::tickets::add_timeline(
                &mut batch,
                before.ticket_id,
                now,
                tx.actor,
                action.as_str(),
                false,
                &data.to_string(),
            );
            let event = Event {
                entity: Entity::Ticket,
                entity_id: before.ticket_id,
                action,
                before: None,
                after: Some(data),
            };
            tx.record_with(batch, event).await?;
            raised += 1;
        }
    }
    Ok(raised)
}
