//! opsdesk's application layer: every use case, carried out for an authenticated
//! [`Principal`], authorized in one place ([`authz`]), and written with its audit entry and
//! its jobs in one transaction. Channels (HTTP, mail, monitors, the CLI) call this crate and
//! never the store.

pub mod accounts;
pub mod alerts;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod automation;
pub mod backups;
mod catalog;
mod change;
pub mod changes;
mod clock;
pub mod cmdb;
pub mod dashboard;
pub mod deflection;
pub mod diagnostics;
mod error;
pub mod jobs;
pub mod knowledge;
pub mod ldap;
pub mod mail;
pub mod metrics;
pub mod monitors;
pub mod network;
mod nodes;
pub mod oidc;
pub mod oncall;
pub mod paging;
pub mod portal;
mod precondition;
pub mod preferences;
pub mod problems;
pub mod remote;
pub mod reports;
pub mod runbooks;
pub mod scim;
pub mod second_factor;
pub mod security;
pub mod sessions;
pub mod silences;
pub mod sla;
pub mod status_page;
pub mod surveys;
pub mod tickets;
pub mod triage;
pub mod webhooks;

use std::sync::Arc;

pub use authz::{Principal, Via};
pub use clock::{Clock, ManualClock, SharedClock, SystemClock, timestamp};
pub use error::{AppError, FieldError, error_chain};
pub use opsdesk_store::{Backend, Db, DbOptions, StoreError};
pub use precondition::Precondition;

/// Settings the use cases need.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// How long a browser session lasts without signing in again, in seconds.
    pub session_ttl_secs: i64,
    /// Name of this node in job leases and logs; unique per running `opsdesk serve`.
    pub node_name: String,
    /// Wrong passwords allowed from one address per minute before it must wait.
    pub login_attempts_per_minute: u32,
    /// Delay before a failed job's first retry, in milliseconds; doubles with each attempt.
    pub job_retry_base_ms: i64,
    /// How often SLA warnings and breaches are looked for, in milliseconds.
    pub sla_sweep_interval_ms: u64,
    /// Resolved tickets close after this many days; 0 keeps them resolved.
    pub auto_close_days: u32,
    /// The mail channel: notifications relay, templates, sender rules.
    pub mail: mail::MailSettings,
    /// Largest file kept as an attachment, uploaded or mailed, in bytes (the server sets it
    /// to its request body limit). A larger mailed file stays in the original message only.
    pub max_attachment_bytes: usize,
    /// Where people reach opsdesk (`https://desk.example.com`), for links in mail.
    pub public_url: String,
    /// The networks and host names diagnostics may reach, besides a ticket's own items.
    pub diagnostics_allow: opsdesk_domain::diagnostics::AllowList,
    /// OpenID Connect sign-in: how providers are reached.
    pub oidc: oidc::OidcSettings,
    /// Where the server keeps its scheduled backups, for the backup page.
    pub backup: backups::BackupSettings,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            session_ttl_secs: 12 * 3600,
            node_name: format!("node-{}", std::process::id()),
            login_attempts_per_minute: 20,
            job_retry_base_ms: 10_000,
            sla_sweep_interval_ms: 1_000,
            auto_close_days: 7,
            mail: mail::MailSettings::default(),
            max_attachment_bytes: 10 * 1024 * 1024,
            public_url: "http://localhost:8080".to_owned(),
            diagnostics_allow: opsdesk_domain::diagnostics::AllowList::default(),
            oidc: oidc::OidcSettings::default(),
            backup: backups::BackupSettings::default(),
        }
    }
}

/// The application: shared by every channel, cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    config: AppConfig,
    clock: SharedClock,
    metrics: metrics::Metrics,
    login_throttle: auth::LoginThrottle,
    jobs_waker: tokio::sync::Notify,
    http: reqwest::Client,
    events: tokio::sync::broadcast::Sender<TicketEvent>,
    /// The relay for notifications, when one is configured.
    smtp: Option<opsdesk_mail::SmtpSender>,
    /// The triage assistant's model in service.
    triage: triage::TriageSlot,
    /// Agent reports taken at once; beyond them an agent is told to come back later.
    agent_reports: tokio::sync::Semaphore,
    /// The CMDB's dependency graph, kept for impact analyses.
    cmdb_graph: cmdb::GraphCache,
    /// Runs diagnostics from the server.
    diagnoser: opsdesk_network::diagnose::Diagnoser,
    /// Diagnostics per person per minute.
    diagnostics_throttle: auth::Throttle<String>,
    /// Identity providers' documents and keys, and the client that fetches them.
    oidc: oidc::OidcRuntime,
    /// Rate limits of self-service password resets.
    reset_throttles: ldap::ResetThrottles,
}

opsdesk_domain::string_enum! {
    /// What happened to a ticket, as live views announce it.
    pub enum TicketEventKind as "ticket event" {
        Created => "created",
        Updated => "updated",
        Comment => "comment",
        Linked => "linked",
        Merged => "merged",
    }
}

/// A ticket changed: what live views (server-sent events) listen to. Delivered after commit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TicketEvent {
    pub ticket_id: i64,
    pub number: String,
    pub kind: TicketEventKind,
    pub actor: String,
}

impl App {
    /// Builds the application on an open database, on the system's clock.
    pub fn new(db: Db, config: AppConfig) -> Result<Self, AppError> {
        Self::with_clock(db, config, Arc::new(SystemClock))
    }

    /// Builds the application reading the time from `clock` (tests pass a [`ManualClock`]).
    pub fn with_clock(db: Db, config: AppConfig, clock: SharedClock) -> Result<Self, AppError> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .user_agent(concat!("opsdesk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AppError::internal("HTTP client", e))?;
        let login_throttle = auth::LoginThrottle::new(config.login_attempts_per_minute);
        let smtp = match &config.mail.smtp_url {
            Some(url) => Some(
                opsdesk_mail::SmtpSender::new(url)
                    .map_err(|e| AppError::internal("mail.smtp_url", e))?,
            ),
            None => None,
        };
        let oidc = oidc::OidcRuntime::new(&config.oidc)?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                config,
                clock,
                metrics: metrics::Metrics::default(),
                login_throttle,
                jobs_waker: tokio::sync::Notify::new(),
                http,
                events: tokio::sync::broadcast::channel(1024).0,
                smtp,
                triage: triage::TriageSlot::default(),
                agent_reports: tokio::sync::Semaphore::new(cmdb::REPORTS_AT_ONCE),
                cmdb_graph: cmdb::GraphCache::default(),
                diagnoser: opsdesk_network::diagnose::Diagnoser::new()
                    .map_err(|e| AppError::internal("diagnostics", e))?,
                diagnostics_throttle: auth::Throttle::new(diagnostics::DIAGNOSTICS_PER_MINUTE),
                oidc,
                reset_throttles: ldap::ResetThrottles::default(),
            }),
        })
    }

    /// The database, for readiness checks and closing.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The current time on the application's clock.
    pub fn now(&self) -> jiff::Timestamp {
        self.inner.clock.now()
    }

    /// The current time in stored milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        self.now().as_millisecond()
    }

    /// When a report's period of `count` units (of `unit_ms` each) back from now starts;
    /// `count` must be 1 to `max`, else the parameter `field` is invalid.
    pub(crate) fn period_start(
        &self,
        field: &str,
        count: i64,
        max: i64,
        unit_ms: i64,
    ) -> Result<i64, AppError> {
        if !(1..=max).contains(&count) {
            return Err(AppError::invalid(field, format!("must be 1 to {max}")));
        }
        Ok(self.now_ms() - count * unit_ms)
    }

    /// The application's clock, for the workers that run beside it.
    pub fn clock(&self) -> SharedClock {
        self.inner.clock.clone()
    }

    /// The settings this application runs with.
    pub fn config(&self) -> &AppConfig {
        &self.inner.config
    }

    /// Ticket changes on this node, as they commit. Slow listeners miss events (and are told
    /// so by the channel) rather than slowing writers down.
    pub fn ticket_events(&self) -> tokio::sync::broadcast::Receiver<TicketEvent> {
        self.inner.events.subscribe()
    }

    pub(crate) fn publish(
        &self,
        ticket_id: i64,
        number: &str,
        kind: TicketEventKind,
        principal: &Principal,
    ) {
        // No receivers is normal (nobody is watching); that is the only error `send` has.
        let _ = self.inner.events.send(TicketEvent {
            ticket_id,
            number: number.to_owned(),
            kind,
            actor: principal.email.clone(),
        });
    }

    /// Counters shared by the channels and workers.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }
}
