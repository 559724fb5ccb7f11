//! The SLA sweeper's query among a million open tickets under SLA.

use std::time::Instant;

use opsdesk_seed::bulk::Desk;

use crate::Target;
use crate::harness::Location;
use crate::stats::{median, ms, percentile};
use crate::tickets::bulk_load;

/// How far the sweeper is behind at the measured instant: the crossings of this last stretch
/// are the ones a sweep finds, a few thousand among a million open tickets.
pub(crate) const SWEEPER_BEHIND_MS: i64 = 60_000;

pub(crate) async fn sla(
    target: &Target,
    location: &Location,
    open: usize,
    sweeps: usize,
    runs: usize,
) -> anyhow::Result<()> {
    use opsdesk_app::sla::SLA_SWEEP_BATCH;
    use opsdesk_store::sla::{due_checks, explain_due_checks};

    let app = location.open().await?;
    let swept_at = app.now_ms();
    bulk_load(&app, target.seed, open, Desk::OpenUnderSla { swept_at }).await?;
    let measured_at = swept_at + SWEEPER_BEHIND_MS;
    let db = app.db().clone();
    let backend = db.backend();
    let due_in_all = db
        .write(move |conn| {
            Box::pin(async move { due_checks(conn, backend, measured_at, i64::MAX).await })
        })
        .await?
        .len();
    let plan = explain_due_checks(
        &mut *db.reader().await?,
        backend,
        measured_at,
        SLA_SWEEP_BATCH,
    )
    .await?;
    println!("plan of the sweeper's query ({backend:?}):");
    for line in &plan {
        println!("  {line}");
    }
    println!(
        "sla: {open} open tickets, {due_in_all} with a warning or breach due, {sweeps} sweeps of at most {SLA_SWEEP_BATCH} per run, {runs} runs"
    );
    let mut p50s = Vec::new();
    let mut p99s = Vec::new();
    let mut found = 0;
    for run in 1..=runs {
        let mut latencies = Vec::with_capacity(sweeps);
        for _ in 0..sweeps {
            // The sweeper's own transaction around its query, which locks on PostgreSQL.
            let started = Instant::now();
            found = db
                .write(move |conn| {
                    Box::pin(async move {
                        due_checks(conn, backend, measured_at, SLA_SWEEP_BATCH).await
                    })
                })
                .await?
                .len();
            latencies.push(started.elapsed());
        }
        latencies.sort();
        let (p50, p99) = (
            ms(percentile(&latencies, 50.0)),
            ms(percentile(&latencies, 99.0)),
        );
        println!("  run {run}: p50 {p50:.1} ms, p99 {p99:.1} ms, {found} tickets found per sweep");
        p50s.push(p50);
        p99s.push(p99);
    }
    db.close().await;
    println!(
        "sla sweep query, median over {runs} runs of {sweeps} sweeps: p50 {:.1} ms, p99 {:.1} ms, {found} of {due_in_all} due tickets found per sweep (target ≤ 100 ms)",
        median(&mut p50s),
        median(&mut p99s)
    );
    Ok(())
}
