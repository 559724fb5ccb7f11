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

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use opsdesk_app::accounts::NewUserInput;
use opsdesk_app::tickets::NewTicket;
use opsdesk_app::{App, AppConfig, Db, DbOptions, Principal};
use opsdesk_seed::bulk::Desk;
use opsdesk_seed::generator::{Directory, GeneratedTicket};
use opsdesk_seed::{Generator, Scale};
use serde_json::Value;

mod alerts;
mod backup;
mod changes;
mod cmdb;
mod directory;
mod network;
mod reports;

/// The admin every benchmark acts as.
const ADMIN: &str = "bench-admin@bench.example";

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
        } => create(&target, clients, tickets, runs, pgbench).await,
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
            cmdb::agents(
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
        } => load(&target, &database.location()?, tickets).await,
        Scenario::Search {
            target,
            database,
            queries,
            runs,
        } => search(&target, &database.location()?, queries, runs).await,
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
        } => sla(&target, &database.location()?, open, sweeps, runs).await,
        Scenario::DirectorySync(options) => directory::directory_sync(&options).await,
    }
}

/// Where a database is: a SQLite folder or a PostgreSQL URL.
#[derive(Debug, Clone)]
enum Location {
    Sqlite(PathBuf),
    Postgres(String),
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

impl Location {
    fn args(&self) -> Vec<String> {
        match self {
            Location::Sqlite(dir) => vec!["--data-dir".into(), dir.display().to_string()],
            Location::Postgres(url) => vec!["--database-url".into(), url.clone()],
        }
    }

    async fn open(&self) -> anyhow::Result<App> {
        let (url, dir) = match self {
            Location::Sqlite(dir) => (None, dir.as_path()),
            Location::Postgres(url) => (Some(url.as_str()), Path::new(".")),
        };
        let db = Db::open(url, dir, &DbOptions::default()).await?;
        Ok(App::new(db, AppConfig::default())?)
    }
}

/// Creates the benchmark admin.
async fn create_admin(app: &App) -> anyhow::Result<()> {
    app.create_user(
        &Principal::system("bench"),
        NewUserInput {
            email: ADMIN.into(),
            name: "Benchmark".into(),
            role: "admin".into(),
            organization: None,
            organizations: Vec::new(),
            password: None,
        },
    )
    .await?;
    Ok(())
}

/// A running `opsdesk serve` and an admin token for it; killed when dropped.
struct Server {
    child: Child,
    url: String,
    token: String,
    http: reqwest::Client,
}

impl Server {
    async fn start(binary: &Path, location: &Location) -> anyhow::Result<Self> {
        Self::start_with_env(binary, location, &[]).await
    }

    /// POSTs `body` to `path` as the admin; the created record.
    async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("POST {path} answered {status}: {text}");
        }
        Ok(serde_json::from_str(&text)?)
    }

    /// Starts with extra `OPSDESK_*` settings in its environment.
    async fn start_with_env(
        binary: &Path,
        location: &Location,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let args = location.args();
        // The setup's own connections may still be closing (a last checkpoint holds the
        // database for a moment): a locked database is tried again, briefly.
        let mut attempts = 0;
        let output = loop {
            let output = Command::new(binary)
                .args(["token", "create", "--email", ADMIN, "--name", "bench"])
                .args(&args)
                .env("OPSDESK_LOG", "warn")
                .output()
                .with_context(|| format!("cannot run {}", binary.display()))?;
            attempts += 1;
            let locked = String::from_utf8_lossy(&output.stderr).contains("database is locked");
            if output.status.success() || !locked || attempts == 20 {
                break output;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        if !output.status.success() {
            bail!(
                "token create failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let child = Command::new(binary)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(&args)
            .env("OPSDESK_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .spawn()?;
        let mut server = Self {
            child,
            url,
            token,
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()?,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(response) = server
                .http
                .get(format!("{}/healthz", server.url))
                .send()
                .await
                && response.status().is_success()
            {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server.stop();
        bail!("opsdesk serve did not answer /healthz within 60 s")
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A fresh database for one run, removed afterwards.
struct Scratch {
    location: Location,
    _folder: Option<tempfile::TempDir>,
    drop_sql: Option<(String, String)>,
}

impl Scratch {
    async fn new(postgres: Option<&str>) -> anyhow::Result<Self> {
        match postgres {
            None => {
                let folder = tempfile::Builder::new()
                    .prefix("opsdesk-bench")
                    .tempdir_in("/var/tmp")?;
                Ok(Self {
                    location: Location::Sqlite(folder.path().join("data")),
                    _folder: Some(folder),
                    drop_sql: None,
                })
            }
            Some(server) => {
                let name = format!("opsdesk_bench_{}", uuid::Uuid::new_v4().simple());
                admin_sql(server, &format!("CREATE DATABASE {name}")).await?;
                let (base, _) = server
                    .rsplit_once('/')
                    .context("a PostgreSQL URL ends in /database")?;
                Ok(Self {
                    location: Location::Postgres(format!("{base}/{name}")),
                    _folder: None,
                    drop_sql: Some((
                        server.to_owned(),
                        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    )),
                })
            }
        }
    }

    async fn remove(self) -> anyhow::Result<()> {
        if let Some((server, sql)) = &self.drop_sql {
            admin_sql(server, sql).await?;
        }
        Ok(())
    }
}

async fn admin_sql(server: &str, sql: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(server).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// The `p`-th percentile (0–100) of sorted `values`, by nearest rank.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

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

/// The rate and latencies of each run of a posting benchmark, and their medians.
#[derive(Default)]
struct Tally {
    rates: Vec<f64>,
    p50s: Vec<f64>,
    p99s: Vec<f64>,
}

impl Tally {
    /// Records run `run`: `count` requests of `unit` in `elapsed`; prints it and returns
    /// the rate.
    fn record(
        &mut self,
        run: usize,
        unit: &str,
        count: usize,
        elapsed: Duration,
        mut latencies: Vec<Duration>,
    ) -> f64 {
        latencies.sort();
        let rate = count as f64 / elapsed.as_secs_f64();
        let (p50, p99) = (percentile(&latencies, 50.0), percentile(&latencies, 99.0));
        println!(
            "  run {run}: {rate:.0} {unit}/s, p50 {:.1} ms, p99 {:.1} ms",
            ms(p50),
            ms(p99)
        );
        self.rates.push(rate);
        self.p50s.push(ms(p50));
        self.p99s.push(ms(p99));
        rate
    }

    /// Prints the medians over the runs, with the scenario's `target`.
    fn summary(&mut self, name: &str, unit: &str, target: &str) {
        println!(
            "{name} median over {} runs: {:.0} {unit}/s, p50 {:.1} ms, p99 {:.1} ms ({target})",
            self.rates.len(),
            median(&mut self.rates),
            median(&mut self.p50s),
            median(&mut self.p99s)
        );
    }
}

async fn create(
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

/// One request of [`post_all`]: when it was sent, how long it took, what it answered.
struct Answer {
    sent: Instant,
    latency: Duration,
    body: String,
}

/// Posts every body to `url`, `clients` at a time, each expecting `status`; returns the wall
/// time and each request's answer.
async fn post_all(
    server: &Server,
    url: &str,
    status: u16,
    bodies: Vec<Value>,
    clients: usize,
) -> anyhow::Result<(Duration, Vec<Answer>)> {
    let queue = std::sync::Arc::new(std::sync::Mutex::new(bodies));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..clients.max(1) {
        let queue = queue.clone();
        let http = server.http.clone();
        let url = url.to_owned();
        let token = server.token.clone();
        workers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            loop {
                let next = queue
                    .lock()
                    .map_err(|_| anyhow::anyhow!("queue poisoned"))?
                    .pop();
                let Some(body) = next else { break };
                let sent = Instant::now();
                let response = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await?;
                let answered = response.status();
                let text = response.text().await?;
                if answered.as_u16() != status {
                    bail!("POST {url} answered {answered}: {text}");
                }
                answers.push(Answer {
                    sent,
                    latency: sent.elapsed(),
                    body: text,
                });
            }
            Ok::<_, anyhow::Error>(answers)
        }));
    }
    let mut answers = Vec::new();
    for worker in workers {
        answers.extend(worker.await??);
    }
    Ok((started.elapsed(), answers))
}

fn latencies(answers: &[Answer]) -> Vec<Duration> {
    answers.iter().map(|a| a.latency).collect()
}

async fn load(target: &Target, location: &Location, tickets: usize) -> anyhow::Result<()> {
    let app = location.open().await?;
    bulk_load(&app, target.seed, tickets, Desk::History).await?;
    app.db().clone().close().await;
    Ok(())
}

/// Creates the benchmark admin, then bulk-loads `tickets` tickets shaped like `desk`,
/// reporting progress.
async fn bulk_load(app: &App, seed: u64, tickets: usize, desk: Desk) -> anyhow::Result<()> {
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

/// The two kinds of query measured: full text with a status filter, and filters only.
fn queries(seed: u64, count: usize) -> (Vec<String>, Vec<String>) {
    let mut generator = Generator::new(seed, Scale::LARGE);
    let statuses = ["open", "open,pending", "new,open", "resolved"];
    let text = (0..count)
        .map(|i| {
            let [a, b] = generator.search_words();
            format!("status:{} {a} {b}", statuses[i % statuses.len()])
        })
        .collect();
    let groups: Vec<String> = generator
        .directory()
        .groups
        .iter()
        .map(|g| g.name.clone())
        .collect();
    let filters = (0..count)
        .map(|i| match i % 3 {
            0 => format!("status:open group:\"{}\"", groups[i % groups.len()]),
            1 => format!("status:pending priority:P{}", 1 + i % 5),
            _ => format!(
                "is:unassigned status:new sort:-created group:\"{}\"",
                groups[i % groups.len()]
            ),
        })
        .collect();
    (text, filters)
}

/// Runs `queries` one after another; returns each latency.
async fn run_queries(server: &Server, queries: &[String]) -> anyhow::Result<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(queries.len());
    for query in queries {
        let sent = Instant::now();
        let response = server
            .http
            .get(format!("{}/api/v1/tickets", server.url))
            .query(&[("q", query.as_str())])
            .bearer_auth(&server.token)
            .send()
            .await?;
        let status = response.status();
        let body = response.text().await?;
        if !status.is_success() {
            bail!("search `{query}` answered {status}: {body}");
        }
        latencies.push(sent.elapsed());
    }
    latencies.sort();
    Ok(latencies)
}

/// VmRSS and VmHWM of a process, in MiB.
fn memory(pid: u32) -> anyhow::Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<f64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        let kib: f64 = line
            .split_whitespace()
            .nth(1)
            .context("malformed /proc status line")?
            .parse()?;
        Ok(kib / 1024.0)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

async fn search(
    target: &Target,
    location: &Location,
    count: usize,
    runs: usize,
) -> anyhow::Result<()> {
    let server = Server::start(&target.opsdesk, location).await?;
    let (text, filters) = queries(target.seed, count);
    // One untimed pass warms the page cache, as a server that has been up a while would be.
    run_queries(&server, &text).await?;
    run_queries(&server, &filters).await?;
    let mut results: Vec<(&str, Vec<f64>, Vec<f64>)> = vec![
        ("text + status", Vec::new(), Vec::new()),
        ("filters only", Vec::new(), Vec::new()),
    ];
    for run in 1..=runs {
        for (kind, list) in [(0, &text), (1, &filters)] {
            let latencies = run_queries(&server, list).await?;
            let (p50, p99) = (
                ms(percentile(&latencies, 50.0)),
                ms(percentile(&latencies, 99.0)),
            );
            println!(
                "  run {run} {}: p50 {p50:.1} ms, p99 {p99:.1} ms",
                results[kind].0
            );
            results[kind].1.push(p50);
            results[kind].2.push(p99);
        }
    }
    for (kind, p50s, p99s) in &mut results {
        println!(
            "search {kind}, median over {runs} runs of {count} queries: p50 {:.1} ms, p99 {:.1} ms (target p99 ≤ 50 ms)",
            median(p50s),
            median(p99s)
        );
    }
    let (rss, hwm) = memory(server.pid())?;
    println!(
        "memory after the search workload: VmRSS {rss:.0} MiB, VmHWM {hwm:.0} MiB (target RSS ≤ 150 MiB)"
    );
    Ok(())
}

/// How far the sweeper is behind at the measured instant: the crossings of this last stretch
/// are the ones a sweep finds, a few thousand among a million open tickets.
const SWEEPER_BEHIND_MS: i64 = 60_000;

async fn sla(
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
