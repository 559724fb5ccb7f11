//! What every scenario runs on: a fresh database, a real `opsdesk serve` on it with an admin
//! token, and many clients posting to it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use opsdesk_app::accounts::NewUserInput;
use opsdesk_app::{App, AppConfig, Db, DbOptions, Principal};
use serde_json::Value;

/// The admin every benchmark acts as.
pub(crate) const ADMIN: &str = "bench-admin@bench.example";

/// Where a database is: a SQLite folder or a PostgreSQL URL.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Location {
    pub(crate) fn args(&self) -> Vec<String> {
        match self {
            Location::Sqlite(dir) => vec!["--data-dir".into(), dir.display().to_string()],
            Location::Postgres(url) => vec!["--database-url".into(), url.clone()],
        }
    }

    pub(crate) async fn open(&self) -> anyhow::Result<App> {
        let (url, dir) = match self {
            Location::Sqlite(dir) => (None, dir.as_path()),
            Location::Postgres(url) => (Some(url.as_str()), Path::new(".")),
        };
        let db = Db::open(url, dir, &DbOptions::default()).await?;
        Ok(App::new(db, AppConfig::default())?)
    }
}

/// Creates the benchmark admin.
pub(crate) async fn create_admin(app: &App) -> anyhow::Result<()> {
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
pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
    pub(crate) token: String,
    pub(crate) http: reqwest::Client,
}

impl Server {
    pub(crate) async fn start(binary: &Path, location: &Location) -> anyhow::Result<Self> {
        Self::start_with_env(binary, location, &[]).await
    }

    /// POSTs `body` to `path` as the admin; the created record.
    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
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

    /// GETs `path` as the admin once per query, one request after another; each latency,
    /// sorted. An answer other than a success fails the run.
    pub(crate) async fn time_gets<'a, Q>(
        &self,
        path: &str,
        queries: impl IntoIterator<Item = Q>,
    ) -> anyhow::Result<Vec<Duration>>
    where
        Q: AsRef<[(&'a str, &'a str)]>,
    {
        let mut latencies = Vec::new();
        for query in queries {
            let sent = Instant::now();
            let response = self
                .http
                .get(format!("{}{path}", self.url))
                .query(query.as_ref())
                .bearer_auth(&self.token)
                .send()
                .await?;
            let (url, status) = (response.url().clone(), response.status());
            let body = response.text().await?;
            if !status.is_success() {
                bail!("GET {url} answered {status}: {body}");
            }
            latencies.push(sent.elapsed());
        }
        latencies.sort();
        Ok(latencies)
    }

    /// Starts with extra `OPSDESK_*` settings in its environment.
    pub(crate) async fn start_with_env(
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

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn stop(&mut self) {
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
pub(crate) struct Scratch {
    pub(crate) location: Location,
    _folder: Option<tempfile::TempDir>,
    drop_sql: Option<(String, String)>,
}

impl Scratch {
    pub(crate) async fn new(postgres: Option<&str>) -> anyhow::Result<Self> {
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

    pub(crate) async fn remove(self) -> anyhow::Result<()> {
        if let Some((server, sql)) = &self.drop_sql {
            admin_sql(server, sql).await?;
        }
        Ok(())
    }
}

pub(crate) async fn admin_sql(server: &str, sql: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(server).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// VmRSS and VmHWM of a process, in MiB.
pub(crate) fn memory(pid: u32) -> anyhow::Result<(f64, f64)> {
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

/// One request of [`post_all`]: when it was sent, how long it took, what it answered.
pub(crate) struct Answer {
    pub(crate) sent: Instant,
    pub(crate) latency: Duration,
    pub(crate) body: String,
}

/// Posts every body to `url`, `clients` at a time, each expecting `status`; returns the wall
/// time and each request's answer.
pub(crate) async fn post_all(
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

pub(crate) fn latencies(answers: &[Answer]) -> Vec<Duration> {
    answers.iter().map(|a| a.latency).collect()
}
