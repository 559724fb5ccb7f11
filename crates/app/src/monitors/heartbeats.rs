//! Heartbeats: the pings cron jobs and scripts send to say they ran.

use super::*;

impl App {
    /// A heartbeat ping (no login: the secret token is the credential). Durable when this
    /// returns. `exit_code` comes from `/ping/<uuid>/<exit-code>`.
    pub async fn heartbeat_ping(
        &self,
        token: &str,
        ping: Ping,
        exit_code: Option<u8>,
    ) -> Result<(), AppError> {
        if uuid::Uuid::parse_str(token).is_err() {
            return Err(AppError::NotFound("heartbeat"));
        }
        let token = token.to_owned();
        for attempt in 1..=WRITE_ATTEMPTS {
            let token = token.clone();
            let written = self
                .system_change("monitor", move |mut tx| {
                    Box::pin(async move {
                        let now = tx.now;
                        let pinged = store::by_token(tx.conn, &token, now)
                            .await?
                            .ok_or(AppError::NotFound("heartbeat"))?;
                        let row = pinged.monitor;
                        let (heartbeat, duration) = heartbeat_state(&row).ping(ping, now);
                        let kind = match ping {
                            Ping::Start => "start",
                            Ping::Success => "success",
                            Ping::Fail => "fail",
                        };
                        store::insert_ping(
                            tx.conn,
                            row.id,
                            now,
                            kind,
                            exit_code.map(i64::from),
                            duration,
                        )
                        .await?;
                        let mut updated = row.clone();
                        updated.last_ping_at = heartbeat.last_ping;
                        updated.started_at = heartbeat.started_at;
                        updated.ping_failed = i64::from(heartbeat.failed);
                        updated.last_latency_ms = duration.or(row.last_latency_ms);
                        if row.paused != 0 {
                            let update = update_from(&updated, &check_state(&row));
                            let written = store::update_state(
                                tx.conn,
                                row.id,
                                row.state_version,
                                None,
                                &update,
                                now,
                            )
                            .await?;
                            return Ok(Recorded::state_written(written));
                        }
                        // Most pings fall in no window, as the lookup has already told.
                        let maintenance = pinged.spanning_windows > 0
                            && in_maintenance(tx.conn, row.id, now).await?;
                        evaluate(
                            &mut tx,
                            &updated,
                            row.state_version,
                            None,
                            None,
                            maintenance,
                        )
                        .await
                    })
                })
                .await?;
            if written != Recorded::Stale {
                return Ok(());
            }
            tracing::debug!(attempt, "heartbeat ping raced another write; retrying");
        }
        Err(AppError::Conflict {
            field: None,
            message: "the heartbeat is busy; ping again".to_owned(),
        })
    }
}
