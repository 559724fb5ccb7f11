//! Configuration: flags > `OPSDESK_*` environment variables > `opsdesk.toml` > defaults.

// figment's own error type is large; it is returned once per start, so boxing gains nothing.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Every setting `opsdesk` reads. See the README's configuration table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address and port the web server listens on.
    pub listen: SocketAddr,
    /// Folder of the embedded SQLite database (used when no database URL is set).
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL instead of SQLite.
    pub database_url: Option<String>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Log filter, e.g. `info` or `opsdesk=debug,info`.
    pub log: String,
    /// Emit logs as JSON lines instead of text.
    pub log_json: bool,
    /// Name of this node in job leases; defaults to host name and process id.
    pub node_name: Option<String>,
    /// Browser session lifetime in seconds.
    pub session_ttl_secs: i64,
    /// Mark cookies Secure; set when users reach opsdesk over HTTPS.
    pub secure_cookies: bool,
    /// Where people reach opsdesk (`https://desk.example.com`), for links in mail; by
    /// default `http://` and the listen address.
    pub public_url: Option<String>,
    /// Database connections in the pool.
    pub db_max_connections: u32,
    /// Failed sign-ins allowed per client address per minute.
    pub login_attempts_per_minute: u32,
    /// Delay before a failed job's first retry, in milliseconds (doubling, capped at an hour).
    pub job_retry_base_ms: i64,
    /// How often SLA warnings and breaches are looked for, in milliseconds.
    pub sla_sweep_interval_ms: u64,
    /// Resolved tickets close after this many days; 0 keeps them resolved.
    pub auto_close_days: u32,
    /// Monitor checks this node runs at once.
    pub monitor_concurrency: usize,
    /// Days raw monitor results are kept before they are rolled up into hourly figures.
    pub monitor_raw_retention_days: i64,
    /// Networks (`10.0.0.0/8`) and host names (`*.corp.example`) that diagnostics from a
    /// ticket may reach besides the ticket's own items; empty: only those.
    pub diagnostics_allow: Vec<opsdesk_domain::diagnostics::Allowed>,
    /// Where SNMP traps are received (`0.0.0.0:162`); none: traps are not received.
    pub snmp_trap_listen: Option<String>,
    /// The SNMPv1/v2c communities whose traps are taken.
    pub snmp_trap_communities: Vec<String>,
    /// The (generic) alert integration traps become alerts of, by name.
    pub snmp_trap_integration: String,
    /// The mail channel (`[mail]` in opsdesk.toml; `OPSDESK_MAIL__SMTP_URL` etc.).
    pub mail: MailConfig,
    /// Scheduled backups (`[backup]` in opsdesk.toml; `OPSDESK_BACKUP__DIR` etc.).
    pub backup: BackupConfig,
    /// OpenID Connect sign-in (`[oidc]` in opsdesk.toml; `OPSDESK_OIDC__HTTP_PROXY`).
    pub oidc: OidcConfig,
}

/// The `[oidc]` settings. See docs/oidc.md.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// An HTTP proxy for opsdesk's requests to identity providers (discovery, keys,
    /// tokens); none: direct, or as `HTTPS_PROXY` says.
    pub http_proxy: Option<String>,
}

/// The `[backup]` settings. See docs/backup.md.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// Folder the server writes a backup set into, one subfolder per backup; none: no
    /// scheduled backups.
    pub dir: Option<PathBuf>,
    /// Hours between scheduled backups.
    pub every_hours: u64,
    /// Sets kept; older ones are removed after each new one is written.
    pub keep: usize,
    /// On SQLite, copy the write-ahead log beside the newest set every second, for
    /// point-in-time recovery (`opsdesk restore DIR --at TIME`).
    pub continuous: bool,
}

impl BackupConfig {
    /// Whether the server copies SQLite's log beside its backups (and so checkpoints itself).
    pub fn copies_log(&self, database_url: Option<&str>) -> bool {
        self.dir.is_some() && self.continuous && database_url.is_none()
    }
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            dir: None,
            every_hours: 24,
            keep: 7,
            continuous: true,
        }
    }
}

/// The `[mail]` settings. See docs/email.md.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// Relay for notifications: `smtp://host:25`, `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS) or `smtps://user:pass@host:465`. No relay: no notifications.
    pub smtp_url: Option<String>,
    /// From address of notifications, e.g. `Service desk <support@example.com>`.
    pub from: String,
    /// Folder of notification templates that replace the built-in ones.
    pub templates_dir: Option<PathBuf>,
    /// Unknown senders become customers of the organization with their domain.
    pub accept_unknown_senders: bool,
    /// Messages processed per sender per hour; more are recorded and left alone.
    pub max_per_sender_per_hour: i64,
    /// Mailboxes `opsdesk serve` reads (`[[mail.imap]]`).
    pub imap: Vec<ImapConfig>,
    /// Seconds between looks at a mailbox whose server has no IDLE (and the longest IDLE).
    pub imap_poll_secs: u64,
    /// Address of the LMTP listener (e.g. `127.0.0.1:2424`); none: no listener.
    pub lmtp_listen: Option<SocketAddr>,
}

/// One mailbox to read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    /// `imaps://user:password@host/INBOX`, or `imap://…?tls=starttls`; `imap://` without TLS
    /// only on a trusted network. Escape `@` in the user name as `%40`.
    pub url: String,
    /// Folder processed mail is moved to; empty: flag it \Seen and leave it in place.
    #[serde(default = "default_processed_folder")]
    pub processed_folder: String,
}

fn default_processed_folder() -> String {
    "opsdesk-processed".to_owned()
}

impl Default for MailConfig {
    fn default() -> Self {
        let app = opsdesk_app::mail::MailSettings::default();
        Self {
            smtp_url: app.smtp_url,
            from: app.from,
            templates_dir: app.templates_dir,
            accept_unknown_senders: app.accept_unknown_senders,
            max_per_sender_per_hour: app.max_per_sender_per_hour,
            imap: Vec::new(),
            imap_poll_secs: 60,
            lmtp_listen: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("opsdesk-data"),
            database_url: None,
            max_body_bytes: 10 * 1024 * 1024,
            log: "info".into(),
            log_json: false,
            node_name: None,
            session_ttl_secs: 12 * 3600,
            secure_cookies: false,
            public_url: None,
            db_max_connections: 8,
            login_attempts_per_minute: 20,
            job_retry_base_ms: 10_000,
            sla_sweep_interval_ms: 1_000,
            auto_close_days: 7,
            monitor_concurrency: 512,
            monitor_raw_retention_days: 30,
            diagnostics_allow: Vec::new(),
            snmp_trap_listen: None,
            snmp_trap_communities: vec!["public".to_owned()],
            snmp_trap_integration: "SNMP traps".to_owned(),
            mail: MailConfig::default(),
            backup: BackupConfig::default(),
            oidc: OidcConfig::default(),
        }
    }
}

/// Settings given as flags; only those present override the other sources.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

/// The names of all settings, taken from the defaults so that they cannot drift apart.
fn setting_names() -> Vec<String> {
    match serde_json::to_value(Config::default()) {
        Ok(serde_json::Value::Object(fields)) => fields.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Reads the configuration. `file` is the `--config` path; without one, `opsdesk.toml` in
/// the current folder is read when it exists. The error is boxed: figment's is large.
pub fn load(file: Option<&Path>, flags: &FlagOverrides) -> Result<Config, Box<figment::Error>> {
    let file = file.map_or_else(|| PathBuf::from("opsdesk.toml"), Path::to_path_buf);
    let settings = setting_names();
    Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::file(file))
        .merge(
            Env::prefixed("OPSDESK_")
                .filter(move |key| {
                    // Other OPSDESK_* variables (test suites, CI) are not settings: they are
                    // ignored rather than refused. Nested keys (`MAIL__SMTP_URL`) belong to
                    // their top-level setting. The key keeps the variable's case here.
                    let top = key.as_str().split("__").next().unwrap_or_default();
                    settings.iter().any(|name| top.eq_ignore_ascii_case(name))
                })
                .split("__"),
        )
        .merge(Serialized::defaults(flags))
        .extract()
        .map_err(Box::new)
}

#[cfg(test)]
mod tests {
    // `Jail::expect_with` closures must return figment's (large) error type.
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]
    use super::*;
    use figment::Jail;

    #[test]
    fn flags_beat_environment_beat_file_beat_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "opsdesk.toml",
                "listen = \"127.0.0.1:9000\"\ndata_dir = \"from-file\"\nlog = \"debug\"",
            )?;
            jail.set_env("OPSDESK_DATA_DIR", "from-env");
            jail.set_env("OPSDESK_MAX_BODY_BYTES", "1024");
            let flags = FlagOverrides {
                listen: Some("127.0.0.1:9999".parse().unwrap()),
                ..FlagOverrides::default()
            };
            let config = load(None, &flags).map_err(|e| e.to_string())?;
            assert_eq!(config.listen.port(), 9999);
            assert_eq!(config.data_dir, PathBuf::from("from-env"));
            assert_eq!(config.log, "debug");
            assert_eq!(config.max_body_bytes, 1024);
            assert_eq!(config.session_ttl_secs, 12 * 3600);
            Ok(())
        });
    }

    #[test]
    fn variables_that_are_not_settings_are_ignored() {
        Jail::expect_with(|jail| {
            jail.set_env("OPSDESK_CONFIG", "elsewhere.toml");
            jail.set_env("OPSDESK_REQUIRE_SERVICES", "1");
            jail.set_env("OPSDESK_TEST_POSTGRES_URL", "postgres://db/test");
            jail.set_env("OPSDESK_CI_ENV", "/tmp/ci-env");
            jail.set_env("OPSDESK_NODE_NAME", "north");
            let config = load(None, &FlagOverrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(config.node_name.as_deref(), Some("north"));
            Ok(())
        });
    }

    #[test]
    fn unknown_settings_in_the_file_are_refused() {
        Jail::expect_with(|jail| {
            jail.create_file("opsdesk.toml", "lisen = \"127.0.0.1:9000\"")?;
            let error = load(None, &FlagOverrides::default()).expect_err("typo must be refused");
            assert!(error.to_string().contains("lisen"), "{error}");
            Ok(())
        });
    }
}
