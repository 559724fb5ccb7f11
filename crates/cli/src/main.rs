//! `opsdesk`: IT service management in one binary.

mod agent;
mod backup;
mod cis;
mod config;
mod directory;
mod import;
mod rt;
mod triage;
mod vuln;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use opsdesk_app::accounts::{NewOrganization, NewUserInput, OrganizationRef};
use opsdesk_app::mail::MailSettings;
use opsdesk_app::{App, AppConfig, AppError, Db, DbOptions, Principal};
use opsdesk_http::HttpConfig;
use tokio::sync::watch;

use config::{Config, FlagOverrides};

#[derive(Debug, Parser)]
#[command(
    name = "opsdesk",
    version,
    about = "IT service management in one binary: service desk, SLAs, email and monitoring.",
    long_about = "IT service management in one binary: service desk, SLAs, email and monitoring.\n\n\
        Start with `opsdesk serve`; it keeps its data in ./opsdesk-data (SQLite) unless given \
        --database-url postgres://…  Settings come from flags, then OPSDESK_* environment \
        variables, then opsdesk.toml, then defaults."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the database is; shared by every command that opens it.
#[derive(Debug, Args, Clone)]
struct DatabaseArgs {
    /// Folder of the embedded SQLite database [default: ./opsdesk-data].
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL (postgres://user:password@host/db); replaces SQLite.
    #[arg(long, value_name = "URL", global = true)]
    database_url: Option<String>,
    /// Configuration file [default: ./opsdesk.toml when present].
    #[arg(long, value_name = "FILE", global = true, env = "OPSDESK_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the web server, API and background workers.
    #[command(long_about = "Run the web server, API and background workers.\n\n\
        With no flags: SQLite in ./opsdesk-data, listening on http://127.0.0.1:8080. \
        Several nodes may share one PostgreSQL database (--database-url); each runs the API \
        and takes its share of background jobs.")]
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// Load a demo desk (organizations, agents, customers, a few hundred tickets) when
        /// the database has no tickets yet, and print the demo admin's password.
        #[arg(long)]
        demo: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Apply database migrations and exit (serve also applies them at start).
    Migrate {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Bring in tickets from the desk you leave, or configuration items from a file.
    Import {
        #[command(subcommand)]
        command: import::ImportCommand,
    },
    /// Write configuration items to a file.
    Export {
        #[command(subcommand)]
        command: cis::ExportCommand,
    },
    /// Measure the triage assistant on labelled tickets; write sample ticket files.
    Triage {
        #[command(subcommand)]
        command: triage::TriageCommand,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage organizations (the client companies or departments you support).
    Organization {
        #[command(subcommand)]
        command: OrganizationCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Inspect the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Receive mail.
    Mail {
        #[command(subcommand)]
        command: MailCommand,
    },
    /// Report this machine's inventory to a server (the host agent, Linux).
    Agent {
        #[command(subcommand)]
        command: agent::AgentCommand,
    },
    /// Security advisories for the machines the host agents report.
    Vuln {
        #[command(subcommand)]
        command: vuln::VulnCommand,
    },
    /// LDAP and Active Directory directories: sync them now, or list what a sync would change.
    Directory {
        #[command(subcommand)]
        command: directory::DirectoryCommand,
    },
    /// Back the desk up while it serves, or check a backup (`backup verify DIR`).
    #[command(after_help = "Examples:\n  \
        opsdesk backup --to /backups/2026-12-06 --data-dir ./opsdesk-data\n  \
        opsdesk backup verify /backups/2026-12-06")]
    Backup(backup::BackupArgs),
    /// Restore a backup set into SQLite, or into PostgreSQL to move a growing desk.
    Restore(backup::RestoreArgs),
    /// Print the OpenAPI document of the HTTP API.
    Openapi,
    /// Print the version.
    Version,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user; works while a server is running on the same database.
    #[command(after_help = "Example, the first admin:\n  \
        echo 'a long passphrase' | opsdesk user add --email admin@example.com --name Admin --role admin --password-stdin")]
    Add {
        /// E-mail address; also the sign-in name.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// admin, agent or customer.
        #[arg(long)]
        role: String,
        /// Organization (name or id); required for customers.
        #[arg(long)]
        organization: Option<String>,
        /// Read the password from standard input (first line).
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Debug, Subcommand)]
enum OrganizationCommand {
    /// Create an organization.
    Add {
        /// Its name, e.g. "Acme Ltd".
        #[arg(long)]
        name: String,
        /// Mail domain whose senders belong to it, e.g. acme.example.
        #[arg(long)]
        domain: Option<String>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an API token and print it alone on one line (it is not shown again).
    Create {
        /// Whose token.
        #[arg(long)]
        email: String,
        /// What the token is for, e.g. "monitoring script".
        #[arg(long, default_value = "cli")]
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Debug, Subcommand)]
enum MailCommand {
    /// Read one message on standard input and file it: for an MTA's pipe delivery.
    #[command(
        long_about = "Read one RFC 5322 message on standard input and file it as a \
        ticket or comment; for an MTA's pipe delivery (Postfix, Exim).\n\n\
        Exit codes follow sysexits.h: 0 filed (also when it was filed before, or kept in \
        quarantine), 65 the input is not a message or too large, 75 temporary failure (the \
        database is unreachable: the MTA keeps the message and retries), 78 bad configuration.",
        after_help = "Postfix master.cf example:\n  \
        opsdesk unix - n n - - pipe flags=Rq user=opsdesk argv=/usr/local/bin/opsdesk mail ingest --config /etc/opsdesk/opsdesk.toml"
    )]
    Ingest {
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// sysexits.h codes an MTA understands.
mod sysexits {
    pub const DATAERR: u8 = 65;
    pub const TEMPFAIL: u8 = 75;
    pub const CONFIG: u8 = 78;
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check the audit log's hash chain; names the first entry that was altered or removed.
    Verify {
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve {
            listen,
            demo,
            database,
        } => serve(load_config(&database, listen)?, demo).await,
        Command::Migrate { database } => {
            let config = load_config(&database, None)?;
            init_logging(&config);
            open_db(&config).await?.close().await;
            println!("database is up to date");
            Ok(ExitCode::SUCCESS)
        }
        Command::User {
            command:
                UserCommand::Add {
                    email,
                    name,
                    role,
                    organization,
                    password_stdin,
                    database,
                },
        } => {
            let password = if password_stdin {
                Some(read_password()?)
            } else {
                None
            };
            let app = open_app(&load_config(&database, None)?).await?;
            let input = NewUserInput {
                email,
                name,
                role,
                organization: organization.map(|o| {
                    o.parse()
                        .map_or(OrganizationRef::Name(o), OrganizationRef::Id)
                }),
                organizations: Vec::new(),
                password,
            };
            let user = app
                .create_user(&Principal::system("cli"), input)
                .await
                .map_err(explain)?;
            println!(
                "created {} {} <{}> (id {})",
                user.role, user.name, user.email, user.id
            );
            app.db().clone().close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Organization {
            command:
                OrganizationCommand::Add {
                    name,
                    domain,
                    database,
                },
        } => {
            let app = open_app(&load_config(&database, None)?).await?;
            let organization = app
                .create_organization(
                    &Principal::system("cli"),
                    NewOrganization {
                        name,
                        domain,
                        ..NewOrganization::default()
                    },
                )
                .await
                .map_err(explain)?;
            println!(
                "created organization {} (id {})",
                organization.name, organization.id
            );
            app.db().clone().close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            command:
                TokenCommand::Create {
                    email,
                    name,
                    database,
                },
        } => {
            let app = open_app(&load_config(&database, None)?).await?;
            let token = app
                .create_token(&Principal::system("cli"), &email, &name)
                .await
                .map_err(explain)?;
            println!("{}", token.secret);
            app.db().clone().close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command: AuditCommand::Verify { database },
        } => {
            let app = open_app(&load_config(&database, None)?).await?;
            let outcome = app.verify_audit_chain().await.map_err(explain)?;
            app.db().clone().close().await;
            match outcome {
                Ok(verified) => {
                    println!(
                        "audit log intact: {} entries, head {}",
                        verified.entries, verified.head
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(chain_break) => {
                    eprintln!("audit log BROKEN: {chain_break}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Mail {
            command: MailCommand::Ingest { database },
        } => Ok(mail_ingest(&database).await),
        Command::Import { command } => {
            import::run(command).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Export { command } => {
            cis::export(command).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Triage { command } => {
            triage::run(command)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Agent { command } => agent::run(command).await,
        Command::Vuln { command } => {
            vuln::run(command).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Directory { command } => {
            directory::run(command).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup(args) => backup::backup(args).await,
        Command::Restore(args) => backup::restore(args).await,
        Command::Openapi => {
            println!("{}", opsdesk_http::openapi_json());
            Ok(ExitCode::SUCCESS)
        }
        Command::Version => {
            println!("opsdesk {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load_config(
    database: &DatabaseArgs,
    listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<Config> {
    let flags = FlagOverrides {
        listen,
        data_dir: database.data_dir.clone(),
        database_url: database.database_url.clone(),
    };
    config::load(database.config.as_deref(), &flags).context("invalid configuration")
}

/// Turns an application error into a message for the command line, field by field.
fn explain(error: AppError) -> anyhow::Error {
    explain_fields(error, "--", "\n       ")
}

/// [`explain`] with each field named after `flag` (`--` for options), the fields joined by
/// `separator`.
fn explain_fields(error: AppError, flag: &str, separator: &str) -> anyhow::Error {
    match error {
        AppError::Invalid(errors) => anyhow::anyhow!(
            "{}",
            errors
                .iter()
                .map(|e| format!("{flag}{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join(separator)
        ),
        // Keeps the chain of causes, which `{:#}` prints.
        other => anyhow::Error::new(other),
    }
}

fn read_password() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut input)
        .context("could not read the password from standard input")?;
    let password = input.lines().next().unwrap_or("").to_owned();
    if password.is_empty() {
        bail!(
            "standard input held no password (pipe it in: echo 'passphrase' | opsdesk user add … --password-stdin)"
        );
    }
    Ok(password)
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only help a person at a terminal; files and journals get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if config.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn db_options(config: &Config) -> DbOptions {
    DbOptions {
        max_connections: config.db_max_connections,
        // Every process on the database, not only the server: another's automatic
        // checkpoint could start the log over before the server had copied it.
        manual_checkpoints: config.backup.copies_log(config.database_url.as_deref()),
        ..DbOptions::default()
    }
}

async fn open_db(config: &Config) -> anyhow::Result<Db> {
    Db::open(
        config.database_url.as_deref(),
        &config.data_dir,
        &db_options(config),
    )
    .await
    .context("could not open the database")
}

fn app_config(config: &Config) -> AppConfig {
    let defaults = AppConfig::default();
    AppConfig {
        session_ttl_secs: config.session_ttl_secs,
        node_name: config.node_name.clone().unwrap_or(defaults.node_name),
        login_attempts_per_minute: config.login_attempts_per_minute,
        job_retry_base_ms: config.job_retry_base_ms,
        sla_sweep_interval_ms: config.sla_sweep_interval_ms,
        auto_close_days: config.auto_close_days,
        mail: MailSettings {
            smtp_url: config.mail.smtp_url.clone(),
            from: config.mail.from.clone(),
            templates_dir: config.mail.templates_dir.clone(),
            accept_unknown_senders: config.mail.accept_unknown_senders,
            max_per_sender_per_hour: config.mail.max_per_sender_per_hour,
        },
        // One limit for every file: what an upload may be, a mailed file may be.
        max_attachment_bytes: config.max_body_bytes,
        public_url: config.public_url.as_ref().map_or_else(
            || format!("http://{}", config.listen),
            |url| url.trim_end_matches('/').to_owned(),
        ),
        diagnostics_allow: opsdesk_domain::diagnostics::AllowList::new(
            config.diagnostics_allow.clone(),
        ),
        oidc: opsdesk_app::oidc::OidcSettings {
            http_proxy: config.oidc.http_proxy.clone(),
        },
        backup: opsdesk_app::backups::BackupSettings {
            dir: config.backup.dir.clone(),
            every_hours: config.backup.every_hours,
            keep: config.backup.keep,
            copies_log: config.backup.copies_log(config.database_url.as_deref()),
        },
    }
}

async fn open_app(config: &Config) -> anyhow::Result<App> {
    let db = open_db(config).await?;
    App::new(db, app_config(config)).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Holds the data folder for one server. The OS releases the lock when the process ends,
/// however it ends, so a crash never leaves a stale lock behind.
fn lock_data_dir(data_dir: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data folder {}", data_dir.display()))?;
    let path = data_dir.join("serve.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    if file.try_lock().is_err() {
        bail!(
            "another `opsdesk serve` is already using {}; stop it first, or give this one its own --data-dir \
             (to run several nodes, share a PostgreSQL database with --database-url)",
            data_dir.display()
        );
    }
    Ok(file)
}

/// `opsdesk mail ingest`: every failure maps to the sysexits code that makes the MTA do the
/// right thing (retry a temporary failure, bounce bad input).
async fn mail_ingest(database: &DatabaseArgs) -> ExitCode {
    let config = match load_config(database, None) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("opsdesk: {error:#}");
            return ExitCode::from(sysexits::CONFIG);
        }
    };
    let mut raw = Vec::new();
    let limit = u64::try_from(opsdesk_mail::MAX_MESSAGE_BYTES).unwrap_or(u64::MAX);
    if let Err(error) = std::io::stdin().take(limit + 1).read_to_end(&mut raw) {
        eprintln!("opsdesk: cannot read the message: {error}");
        return ExitCode::from(sysexits::TEMPFAIL);
    }
    if raw.len() > opsdesk_mail::MAX_MESSAGE_BYTES {
        eprintln!(
            "opsdesk: the message is larger than {} bytes",
            opsdesk_mail::MAX_MESSAGE_BYTES
        );
        return ExitCode::from(sysexits::DATAERR);
    }
    if raw.iter().all(u8::is_ascii_whitespace) {
        eprintln!("opsdesk: standard input held no message");
        return ExitCode::from(sysexits::DATAERR);
    }
    let db = match open_db(&config).await {
        Ok(db) => db,
        Err(error) => {
            eprintln!("opsdesk: {error:#}; the message was not filed, deliver it again later");
            return ExitCode::from(sysexits::TEMPFAIL);
        }
    };
    let app = match App::new(db, app_config(&config)) {
        Ok(app) => app,
        Err(error) => {
            eprintln!("opsdesk: {error}");
            return ExitCode::from(sysexits::CONFIG);
        }
    };
    let outcome = app.ingest_mail(raw).await;
    app.db().clone().close().await;
    match outcome {
        Ok(outcome) => {
            println!("{}", serde_json::json!(outcome));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("opsdesk: {error}; the message was not filed, deliver it again later");
            ExitCode::from(sysexits::TEMPFAIL)
        }
    }
}

/// The IMAP pollers and the LMTP listener the configuration asks for, each handing mail to
/// the one ingest path.
async fn mail_readers(
    config: &Config,
    app: &App,
    stopped: &watch::Receiver<bool>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut tasks = Vec::new();
    let poll = std::time::Duration::from_secs(config.mail.imap_poll_secs.max(1));
    for mailbox in &config.mail.imap {
        let processed = Some(mailbox.processed_folder.clone()).filter(|f| !f.is_empty());
        let reader = opsdesk_mail::imap::Mailbox::from_url(&mailbox.url, processed)
            .context("mail.imap.url")?;
        let app = app.clone();
        let stopped = stopped.clone();
        tasks.push(tokio::spawn(async move {
            let deliver = |raw: Vec<u8>| {
                let app = app.clone();
                async move {
                    app.ingest_mail(raw)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
            };
            reader.run(deliver, poll, stopped).await;
        }));
    }
    if let Some(address) = config.mail.lmtp_listen {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen for LMTP on {address}"))?;
        let app = app.clone();
        let stopped = stopped.clone();
        tasks.push(tokio::spawn(async move {
            let deliver = move |raw: Vec<u8>| {
                let app = app.clone();
                async move {
                    app.ingest_mail(raw)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
            };
            opsdesk_mail::lmtp::serve(listener, deliver, stopped).await;
        }));
    }
    Ok(tasks)
}

async fn serve(config: Config, demo: bool) -> anyhow::Result<ExitCode> {
    init_logging(&config);
    let _lock = match config.database_url {
        None => Some(lock_data_dir(&config.data_dir)?),
        Some(_) => None,
    };
    let app = open_app(&config).await?;
    if demo {
        load_demo(&app).await?;
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr().context("no local address")?;
    let router = opsdesk_http::router(
        app.clone(),
        HttpConfig {
            max_body_bytes: config.max_body_bytes,
            secure_cookies: config.secure_cookies,
        },
    );
    app.join_nodes()
        .await
        .map_err(|e| anyhow::anyhow!("cannot register this node: {e}"))?;
    let (stop_workers, workers_stopped) = watch::channel(false);
    let mut workers = vec![tokio::spawn({
        let app = app.clone();
        let stopped = workers_stopped.clone();
        async move { app.keep_node_alive(stopped).await }
    })];
    workers.push(tokio::spawn({
        let app = app.clone();
        let stopped = workers_stopped.clone();
        async move { app.run_jobs(stopped).await }
    }));
    workers.push(tokio::spawn({
        let app = app.clone();
        let stopped = workers_stopped.clone();
        async move { app.run_triage(stopped).await }
    }));
    workers.push(tokio::spawn({
        let app = app.clone();
        let interval = std::time::Duration::from_millis(config.sla_sweep_interval_ms.max(100));
        let stopped = workers_stopped.clone();
        async move { app.run_sla(interval, stopped).await }
    }));
    let scheduler = opsdesk_monitor::Scheduler::new(
        app.clone(),
        opsdesk_monitor::SchedulerConfig {
            concurrency: config.monitor_concurrency,
            raw_retention_days: config.monitor_raw_retention_days,
            ..Default::default()
        },
    )
    .map_err(|e| anyhow::anyhow!("monitoring: {e}"))?;
    workers.push(tokio::spawn(scheduler.run(stop_workers.subscribe())));
    if let Some(address) = &config.snmp_trap_listen {
        let listener = opsdesk_network::TrapListener::bind(address, &config.snmp_trap_communities)
            .await
            .with_context(|| format!("cannot receive SNMP traps on {address}"))?;
        workers.push(tokio::spawn(opsdesk_monitor::receive_traps(
            app.clone(),
            listener,
            config.snmp_trap_integration.clone(),
            workers_stopped.clone(),
        )));
    }
    workers.extend(mail_readers(&config, &app, &workers_stopped).await?);
    workers.push(tokio::spawn({
        let app = app.clone();
        let stopped = workers_stopped.clone();
        async move { app.run_directory_syncs(stopped).await }
    }));
    workers.push(tokio::spawn(backup::run_scheduled(
        app.db().clone(),
        config.database_url.clone(),
        config.data_dir.clone(),
        config.backup.clone(),
        workers_stopped.clone(),
    )));
    let storage = match &config.database_url {
        Some(_) => "PostgreSQL".to_owned(),
        None => format!("SQLite in {}", config.data_dir.display()),
    };
    println!(
        "opsdesk {} listening on http://{address} ({storage})",
        env!("CARGO_PKG_VERSION")
    );
    if app.user_count().await.map_err(|e| anyhow::anyhow!("{e}"))? == 0 {
        let location = match &config.database_url {
            Some(_) => " --database-url <the same URL>".to_owned(),
            None if config.data_dir == Config::default().data_dir => String::new(),
            None => format!(" --data-dir {}", config.data_dir.display()),
        };
        println!(
            "no users yet; create the first admin with:\n  \
             echo 'a long passphrase' | opsdesk user add --email you@example.com --name 'Your Name' --role admin --password-stdin{location}"
        );
    }
    opsdesk_http::serve(listener, router, shutdown_signal())
        .await
        .context("server failed")?;
    tracing::info!("shutting down");
    let _ = stop_workers.send(true);
    for worker in workers {
        let _ = worker.await;
    }
    app.db().clone().close().await;
    Ok(ExitCode::SUCCESS)
}

async fn load_demo(app: &App) -> anyhow::Result<()> {
    use opsdesk_seed::demo::{DEMO_SEED, DEMO_TICKETS};
    println!("loading the demo desk ({DEMO_TICKETS} tickets)…");
    match opsdesk_seed::demo::load_demo(app, DEMO_SEED, DEMO_TICKETS)
        .await
        .map_err(explain)
        .context("could not load the demo data")?
    {
        Some(desk) => println!(
            "demo desk loaded: {} tickets, {} agents, {} customers\n  \
             sign in as {} with password {}",
            desk.tickets, desk.agents, desk.customers, desk.admin_email, desk.admin_password
        ),
        None => println!(
            "the database already has tickets; no demo data loaded \
             (the demo admin, if any, is {})",
            opsdesk_seed::demo::DEMO_ADMIN
        ),
    }
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => return interrupt.await.unwrap_or(()),
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await.unwrap_or(());
}
