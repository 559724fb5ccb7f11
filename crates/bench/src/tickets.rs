//! Tickets: creation through the API by concurrent clients, and a large desk loaded straight
//! into the tables for the scenarios that read one.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use opsdesk_app::App;
use opsdesk_app::tickets::NewTicket;
use opsdesk_seed::bulk::Desk;
use opsdesk_seed::generator::{Directory, GeneratedTicket};
use opsdesk_seed::{Generator, Scale};
use serde_json::Value;

use crate::Target;
use crate::harness::{Location, Scratch, Server, create_admin, latencies, post_all};
use crate::stats::{Tally, median};

/// A generated ticket as the API's JSON.
fn ticket_json(directory: &Directory, ticket: GeneratedTicket) -> Value {
    let input = serde_json::json!({
        "type": ticket.ticket_type,
        "title": ticket.title,
        "description": ticket.description,
        "impact": ticket.impact,
        "urgency": ticket.urgency,
        "requester": directory.customers[ticket.requester].email,
        "group": directory.groups[ticket.group].name,
        "assignee": ticket.assignee.map(|a| directory.agents[a].email.clone()),
        "category": ticket.category,
        "tags": ticket.tags,
        "source": ticket.source,
    });
    // The API refuses unknown fields; make sure this stays a valid NewTicket.
    debug_assert!(serde_json::from_value::<NewTicket>(input.clone()).is_ok());
    input
}

pub(crate) async fn create(
    target: &Target,
    clients: usize,
    tickets: usize,
    runs: usize,
    with_pgbench: bool,
) -> anyhow::Result<()> {
    let backend = if target.postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!("create: {tickets} tickets, {clients} clients, {runs} runs, {backend}");
    let mut tally = Tally::default();
    let mut ceilings = Vec::new();
    for run in 1..=runs {
        let scratch = Scratch::new(target.postgres.as_deref()).await?;
        let mut generator = Generator::new(target.seed, Scale::DEMO);
        let directory = generator.directory().clone();
        {
            let app = scratch.location.open().await?;
            create_admin(&app).await?;
            opsdesk_seed::demo::create_directory(&app, &directory).await?;
            app.db().clone().close().await;
        }
        let bodies: Vec<Value> = (0..tickets)
            .map(|_| ticket_json(&directory, generator.ticket()))
            .collect();
        let server = Server::start(&target.opsdesk, &scratch.location).await?;
        let url = format!("{}/api/v1/tickets", server.url);
        let (elapsed, answers) = post_all(&server, &url, 201, bodies, clients).await?;
        let rate = tally.record(run, "tickets", tickets, elapsed, latencies(&answers));
        drop(server);
        scratch.remove().await?;
        if let (true, Some(postgres)) = (with_pgbench, &target.postgres) {
            let tps = pgbench(postgres, clients).await?;
            println!(
                "  pgbench: {tps:.0} transactions/s; creation is {:.2} of it",
                rate / tps
            );
            ceilings.push(tps);
        }
    }
    tally.summary("create", "tickets", "target ≥ 3000/s on SQLite");
    if !ceilings.is_empty() {
        println!(
            "pgbench median: {:.0} transactions/s (target on PostgreSQL: creation ≥ half of it)",
            median(&mut ceilings)
        );
    }
    Ok(())
}

/// Transactions per second `pgbench` (TPC-B, scale 1, `clients` clients, 10 s) sustains on a
/// fresh database of the PostgreSQL server at `server`.
async fn pgbench(server: &str, clients: usize) -> anyhow::Result<f64> {
    let scratch = Scratch::new(Some(server)).await?;
    let Location::Postgres(url) = &scratch.location else {
        bail!("pgbench needs a PostgreSQL database");
    };
    let run = |args: &[&str]| -> anyhow::Result<String> {
        let output = Command::new("pgbench")
            .args(args)
            .arg(url)
            .output()
            .context("cannot run pgbench (Debian: apt install postgresql-client)")?;
        if !output.status.success() {
            bail!(
                "pgbench failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    };
    run(&["-i", "-q"])?;
    let clients = clients.to_string();
    let report = run(&["-c", &clients, "-j", "2", "-T", "10"])?;
    scratch.remove().await?;
    report
        .lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|tps| tps.parse().ok())
        .context("pgbench printed no tps line")
}

pub(crate) async fn load(
    target: &Target,
    location: &Location,
    tickets: usize,
) -> anyhow::Result<()> {
    let app = location.open().await?;
    bulk_load(&app, target.seed, tickets, Desk::History).await?;
    // As the server would in its first minute: the reports' roll-ups of the days loaded.
    let started = Instant::now();
    let days = app
        .fold_reports()
        .await
        .map_err(|e| anyhow::anyhow!("rolling up the reports: {e}"))?;
    println!(
        "roll-ups: {days} days in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    app.db().clone().close().await;
    Ok(())
}

/// Creates the benchmark admin, then bulk-loads `tickets` tickets shaped like `desk`,
/// reporting progress.
pub(crate) async fn bulk_load(
    app: &App,
    seed: u64,
    tickets: usize,
    desk: Desk,
) -> anyhow::Result<()> {
    create_admin(app).await?;
    let started = Instant::now();
    let mut last_report = Instant::now();
    opsdesk_seed::bulk::load(app, seed, tickets, desk, |loaded| {
        if last_report.elapsed() > Duration::from_secs(10) || loaded == tickets {
            last_report = Instant::now();
            println!(
                "  {loaded} tickets, {:.0}/s",
                loaded as f64 / started.elapsed().as_secs_f64()
            );
        }
    })
    .await?;
    println!(
        "load: {tickets} tickets in {:.0} s ({:.0} tickets/s)",
        started.elapsed().as_secs_f64(),
        tickets as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}
