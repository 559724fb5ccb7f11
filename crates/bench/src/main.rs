//! `opsdesk-bench`: opsdesk's benchmarks, run against a real `opsdesk serve` process.
//!
//! * `create`: tickets created through the HTTP API by many concurrent clients.
//! * `load`: a very large generated desk written straight into a database.
//! * `search`: full-text and filter searches over such a desk, then the server's memory.
//! * `sla`: the SLA sweeper finding due warnings and breaches among a million open tickets.
//! * `alerts`: alerts posted to an integration, and the time from an alert to its page.
//! * `impact`: CMDB impact analysis over a 100,000-item estate.
//! * `conflicts`: conflict detection for a new change among 100,000 scheduled changes.
//! * `agents`: thousands of host agents reporting their inventory every 5 minutes.
//! * `snmp`: a thousand network devices' interfaces polled over SNMP every minute.
//! * `reports`: the report over 30-day periods of a loaded desk.
//! * `backup`: `opsdesk backup` of a loaded desk while it serves requests.
//! * `directory-sync`: a sync of 50,000 LDAP people and 2,000 groups into a fresh desk.
//!
//! Every scenario takes its data from the seeded generator, so runs measure the same work.
//! Results and the commands that reproduce them are in docs/benchmarks.md.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Parser, Subcommand};

use harness::Location;

mod agents;
mod alerts;
mod backup;
mod changes;
mod cmdb;
mod directory;
mod harness;
mod network;
mod reports;
mod search;
mod sla;
mod stats;
mod tickets;

#[derive(Debug, Parser)]
#[command(
    name = "opsdesk-bench",
    about = "Benchmarks for opsdesk, run against a real `opsdesk serve`."
)]
struct Cli {
    #[command(subcommand)]
    command: Scenario,
}

#[derive(Debug, Args, Clone)]
struct Target {
    /// The opsdesk binary to benchmark (build it with `cargo build --release -p opsdesk`).
    #[arg(long, default_value = "target/release/opsdesk")]
    opsdesk: PathBuf,
    /// PostgreSQL server URL; `create` makes (and drops) a database of its own on it.
    #[arg(long)]
    postgres: Option<String>,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// The database a scenario fills or reads: a SQLite folder or a PostgreSQL database.
#[derive(Debug, Args, Clone)]
struct Database {
    /// SQLite data folder (when no --database-url).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// PostgreSQL database (a database URL, not only the server's).
    #[arg(long)]
    database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Ticket creation through POST /api/v1/tickets with concurrent clients, on a fresh database per run.
    Create {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Tickets per run.
        #[arg(long, default_value_t = 20_000)]
        tickets: usize,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// After each run, run `pgbench` (TPC-B, as many clients, 10 s) on the same PostgreSQL
        /// server, to compare creation with what the server itself sustains.
        #[arg(long, requires = "postgres")]
        pgbench: bool,
    },
    /// Alerts posted one per request to a generic integration with concurrent clients, on a
    /// fresh database per run: each opens or joins its service's incident.
    Alerts {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Alerts per run.
        #[arg(long, default_value_t = 50_000)]
        alerts: usize,
        /// Services they are about: one incident each.
        #[arg(long, default_value_t = 500)]
        services: usize,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Impact analysis (GET /api/v1/cis/{id}/impact) over a CMDB estate written straight
    /// into a fresh database, from a mix of roots (switches, hosts, VMs, services).
    Impact {
        #[command(flatten)]
        target: Target,
        /// Configuration items in the estate.
        #[arg(long, default_value_t = 100_000)]
        cis: usize,
        /// Impact queries per run.
        #[arg(long, default_value_t = 2_000)]
        queries: usize,
        #[arg(long, default_value_t = 4)]
        clients: usize,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Conflict detection (GET /api/v1/changes/{id}/conflicts) for new changes among
    /// scheduled changes over a year, written straight into a fresh database, one request
    /// at a time; then the same use case in process.
    Conflicts {
        #[command(flatten)]
        target: Target,
        /// Configuration items: 500 hosts, the rest application servers running on them.
        #[arg(long, default_value_t = 10_000)]
        cis: usize,
        /// Changes scheduled over the next year, 1–4 h long, on 1–3 items each.
        #[arg(long, default_value_t = 100_000)]
        changes: usize,
        /// People carrying the scheduled changes out.
        #[arg(long, default_value_t = 200)]
        implementers: usize,
        /// New changes whose conflicts are timed, each run.
        #[arg(long, default_value_t = 200)]
        candidates: usize,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Host agents enrolled over the API, a first full report each, then the steady state
    /// at the real rate (each agent once per period, 1 % of its packages changed), with the
    /// server's CPU and memory; then the real `opsdesk agent` binary's own cost.
    Agents {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 10_000)]
        agents: usize,
        /// Packages each agent reports.
        #[arg(long, default_value_t = 1_500)]
        packages: usize,
        /// Seconds of steady state measured.
        #[arg(long, default_value_t = 120)]
        window: u64,
        /// Seconds between two reports of one agent.
        #[arg(long, default_value_t = 300.0)]
        period: f64,
        /// Concurrent enrolments.
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// Times the real agent is measured.
        #[arg(long, default_value_t = 3)]
        agent_runs: usize,
        #[arg(long, default_value_t = 1)]
        runs: usize,
    },
    /// Network devices' interfaces polled over SNMP (devices simulated by a real snmpd).
    Snmp {
        #[command(flatten)]
        target: Target,
        /// The snmpd every simulated device is (see .ci/setup.d/50-snmpd.sh).
        #[arg(long, default_value = "127.0.0.1:16100")]
        snmpd: String,
        #[arg(long, default_value = "opsdesk-read")]
        community: String,
        #[arg(long, default_value_t = 1_000)]
        devices: usize,
        /// Interfaces watched per device.
        #[arg(long, default_value_t = 24)]
        interfaces: usize,
        /// Seconds of steady state measured.
        #[arg(long, default_value_t = 120)]
        window: u64,
        #[arg(long, default_value_t = 1)]
        runs: usize,
    },
    /// Fills a database with a large generated desk (straight into the tables).
    Load {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        database: Database,
        #[arg(long, default_value_t = 1_000_000)]
        tickets: usize,
    },
    /// Searches over a loaded desk through GET /api/v1/tickets, then reads the server's memory.
    Search {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        database: Database,
        /// Queries of each kind per run.
        #[arg(long, default_value_t = 300)]
        queries: usize,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// The report (GET /api/v1/reports) over 30-day periods spread over a desk `load` filled,
    /// one request at a time.
    Reports {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        database: Database,
        /// Reports per run.
        #[arg(long, default_value_t = 100)]
        queries: usize,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// `opsdesk backup` of a desk `load` filled while the server on it answers searches and
    /// creates tickets; then `backup verify` of each set.
    Backup {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        database: Database,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Fills an empty database with open tickets under SLA, then times the sweeper's query for
    /// due warnings and breaches and shows the database's plan for it.
    Sla {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        database: Database,
        /// Open tickets to load.
        #[arg(long, default_value_t = 1_000_000)]
        open: usize,
        /// Sweeps timed per run.
        #[arg(long, default_value_t = 100)]
        sweeps: usize,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// A full sync of a large directory in the CI's OpenLDAP (loaded once, see
    /// .ci/setup.d/70-slapd.sh) into a fresh desk through the application's use case, then a
    /// sync finding nothing changed and one after 1 % of the people changed.
    DirectorySync(directory::DirectorySync),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Scenario::Create {
            target,
            clients,
            tickets,
            runs,
            pgbench,
        } => tickets::create(&target, clients, tickets, runs, pgbench).await,
        Scenario::Alerts {
            target,
            clients,
            alerts,
            services,
            runs,
        } => alerts::alert_ingest(&target, clients, alerts, services, runs).await,
        Scenario::Impact {
            target,
            cis,
            queries,
            clients,
            runs,
        } => cmdb::impact(&target, cis, queries, clients, runs).await,
        Scenario::Conflicts {
            target,
            cis,
            changes,
            implementers,
            candidates,
            runs,
        } => changes::conflicts(&target, cis, changes, implementers, candidates, runs).await,
        Scenario::Agents {
            target,
            agents,
            packages,
            window,
            period,
            clients,
            agent_runs,
            runs,
        } => {
            agents::agents(
                &target, agents, packages, window, period, clients, agent_runs, runs,
            )
            .await
        }
        Scenario::Snmp {
            target,
            snmpd,
            community,
            devices,
            interfaces,
            window,
            runs,
        } => {
            network::snmp(
                &target, &snmpd, &community, devices, interfaces, window, runs,
            )
            .await
        }
        Scenario::Load {
            target,
            database,
            tickets,
        } => tickets::load(&target, &database.location()?, tickets).await,
        Scenario::Search {
            target,
            database,
            queries,
            runs,
        } => search::search(&target, &database.location()?, queries, runs).await,
        Scenario::Reports {
            target,
            database,
            queries,
            runs,
        } => reports::reports(&target, &database.location()?, queries, runs).await,
        Scenario::Backup {
            target,
            database,
            runs,
        } => backup::backup(&target, &database.location()?, runs).await,
        Scenario::Sla {
            target,
            database,
            open,
            sweeps,
            runs,
        } => sla::sla(&target, &database.location()?, open, sweeps, runs).await,
        Scenario::DirectorySync(options) => directory::directory_sync(&options).await,
    }
}

impl Database {
    fn location(self) -> anyhow::Result<Location> {
        match (self.data_dir, self.database_url) {
            (_, Some(url)) => Ok(Location::Postgres(url)),
            (Some(dir), None) => Ok(Location::Sqlite(dir)),
            (None, None) => bail!("name the database: --data-dir DIR or --database-url URL"),
        }
    }
}
