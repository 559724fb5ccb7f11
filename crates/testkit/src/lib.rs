//! Helpers for opsdesk's integration tests: a fresh database on each backend, the real
//! server on 127.0.0.1 port 0, and a small HTTP client.
//!
//! PostgreSQL suites run when `OPSDESK_TEST_POSTGRES_URL` is set (each test gets its own
//! database, dropped afterwards); with `OPSDESK_REQUIRE_SERVICES=1` a missing URL fails the
//! test instead of skipping it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use opsdesk_app::accounts::{NewOrganization, NewUserInput, OrganizationRef};
use opsdesk_app::{App, AppConfig, Db, DbOptions, Principal};
use serde_json::{Value, json};
use tokio::sync::watch;

pub mod browser;
mod clients;
mod inventory;
mod mailbox;
mod processes;
mod targets;

pub use clients::{Client, Reply, WebForms, page_csrf_token, page_text};
pub use inventory::{EnrolledAgent, agent_report, package};
pub use mailbox::mails_about;
pub use opsdesk_seed::generator;
pub use processes::{ServerProcess, run_command, run_command_output};
pub use sqlx;
pub use targets::{Delivery, WebhookReceiver, expiring_tls_server};

/// A database engine under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The engine behind a test database, as the store names it.
impl From<Backend> for opsdesk_store::Backend {
    fn from(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => opsdesk_store::Backend::Sqlite,
            Backend::Postgres => opsdesk_store::Backend::Postgres,
        }
    }
}

/// Runs a test body once per backend: `sqlite` always, `postgres` when configured.
#[macro_export]
macro_rules! dual_backend_test {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)($crate::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::postgres_url().is_some() {
                    ($body)($crate::Backend::Postgres).await;
                }
            }
        }
    };
}

/// The password of every user the test servers create.
pub const PASSWORD: &str = "correct horse battery staple";

/// The PostgreSQL server for tests, or `None` to skip (panics when services are required).
pub fn postgres_url() -> Option<String> {
    match std::env::var("OPSDESK_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("OPSDESK_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("OPSDESK_REQUIRE_SERVICES=1 but OPSDESK_TEST_POSTGRES_URL is not set")
        }
        _ => {
            eprintln!("skipping PostgreSQL: set OPSDESK_TEST_POSTGRES_URL to run it");
            None
        }
    }
}

/// Whether a missing service fails the test (CI) rather than skipping it.
pub(crate) fn services_required() -> bool {
    std::env::var("OPSDESK_REQUIRE_SERVICES").as_deref() == Ok("1")
}

/// A service's program, from the environment variable `env` or its Debian path `default`;
/// `None` means skip the test, unless services are required, then the test fails. `setup`
/// names the script that installs it.
pub fn service_binary(env: &str, default: &str, setup: &str) -> Option<String> {
    let path = std::env::var(env)
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| default.to_owned());
    if std::path::Path::new(&path).exists() {
        return Some(path);
    }
    if services_required() {
        panic!("OPSDESK_REQUIRE_SERVICES=1 but {path} is missing (run {setup})");
    }
    eprintln!("skipping: no {path}; set {env} or run {setup}");
    None
}

/// A service's address from the environment variable `variable` (set by `setup`, a script
/// of `.ci/setup.d`); `None` means skip the test, unless services are required, then the
/// test fails.
pub fn service_setting(variable: &str, setup: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(value) if !value.is_empty() => Some(value),
        _ if services_required() => {
            panic!("OPSDESK_REQUIRE_SERVICES=1 but {variable} is not set (run {setup})")
        }
        _ => {
            eprintln!("skipping: set {variable} (run {setup}) to run this test");
            None
        }
    }
}

/// A database of its own for one test: a temporary folder (SQLite) or a new PostgreSQL
/// database, removed when dropped.
pub struct TestDb {
    pub backend: Backend,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    _folder: tempfile::TempDir,
    server_url: Option<String>,
    name: String,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        let folder = tempfile::tempdir().unwrap();
        let name = format!("opsdesk_test_{}", uuid::Uuid::new_v4().simple());
        let (database_url, server_url) = match backend {
            Backend::Sqlite => (None, None),
            Backend::Postgres => {
                let server = postgres_url().expect("PostgreSQL URL");
                admin_sql(&server, &format!("CREATE DATABASE {name}")).await;
                (Some(replace_database(&server, &name)), Some(server))
            }
        };
        Self {
            backend,
            data_dir: folder.path().join("data"),
            database_url,
            _folder: folder,
            server_url,
            name,
        }
    }

    /// Opens the database (migrating it), as `opsdesk serve` would.
    pub async fn open(&self) -> Db {
        Db::open(
            self.database_url.as_deref(),
            &self.data_dir,
            &DbOptions::default(),
        )
        .await
        .unwrap()
    }

    /// A plain connection to this database, for tests that must reach past the application
    /// (to tamper with rows, say).
    pub async fn connect(&self) -> sqlx::AnyConnection {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let url = match &self.database_url {
            Some(url) => url.clone(),
            None => {
                // Created when missing, so that a test can lay down an old schema itself.
                std::fs::create_dir_all(&self.data_dir).unwrap();
                let file = self.data_dir.join("opsdesk.db");
                format!("sqlite://{}?mode=rwc", file.display())
            }
        };
        sqlx::AnyConnection::connect(&url).await.unwrap()
    }

    /// The flags that point an `opsdesk` command at this database.
    pub fn cli_args(&self) -> Vec<String> {
        match &self.database_url {
            Some(url) => vec!["--database-url".into(), url.clone()],
            None => vec!["--data-dir".into(), self.data_dir.display().to_string()],
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(server) = self.server_url.take() {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            // Drop runs inside the test's runtime; a thread of its own may block.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(admin_sql(&server, &sql));
            })
            .join();
        }
    }
}

async fn admin_sql(server: &str, sql: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(server).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let stem = base.rsplit_once('/').map_or(base, |(stem, _)| stem);
    match query {
        Some(query) => format!("{stem}/{name}?{query}"),
        None => format!("{stem}/{name}"),
    }
}

/// The real HTTP server, in-process on 127.0.0.1 port 0, with its job runner and monitor
/// scheduler.
pub struct TestServer {
    pub url: String,
    pub app: App,
    pub db: TestDb,
    /// Token of the admin every test server starts with.
    pub admin_token: String,
    /// The monitor scheduler's counters and scheduling lags.
    pub monitor_stats: std::sync::Arc<opsdesk_monitor::SchedulerStats>,
    shutdown: watch::Sender<bool>,
}

impl TestServer {
    pub async fn start(backend: Backend) -> Self {
        Self::start_on(
            TestDb::new(backend).await,
            opsdesk_http::HttpConfig::default(),
        )
        .await
    }

    pub async fn start_on(db: TestDb, http: opsdesk_http::HttpConfig) -> Self {
        Self::start_with(db, http, AppConfig::default()).await
    }

    /// Starts on `db` with application settings of the test's choosing (the node name is
    /// always made unique).
    pub async fn start_with(db: TestDb, http: opsdesk_http::HttpConfig, config: AppConfig) -> Self {
        Self::start_on_clock(
            db,
            http,
            config,
            std::sync::Arc::new(opsdesk_app::SystemClock),
        )
        .await
    }

    /// Starts reading the time from `clock`: a test holding a [`opsdesk_app::ManualClock`]
    /// moves it to see what the server does later, without waiting.
    pub async fn start_on_clock(
        db: TestDb,
        http: opsdesk_http::HttpConfig,
        config: AppConfig,
        clock: opsdesk_app::SharedClock,
    ) -> Self {
        let app = App::with_clock(
            db.open().await,
            AppConfig {
                node_name: format!("test-{}", uuid::Uuid::new_v4().simple()),
                ..config
            },
            clock,
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let (shutdown, stopped) = watch::channel(false);
        let router = opsdesk_http::router(app.clone(), http);
        let mut server_stopped = stopped.clone();
        tokio::spawn(opsdesk_http::serve(listener, router, async move {
            let _ = server_stopped.wait_for(|stop| *stop).await;
        }));
        app.join_nodes().await.unwrap();
        tokio::spawn({
            let app = app.clone();
            let stopped = stopped.clone();
            async move { app.keep_node_alive(stopped).await }
        });
        let scheduler = opsdesk_monitor::Scheduler::new(
            app.clone(),
            opsdesk_monitor::SchedulerConfig {
                tick: std::time::Duration::from_millis(100),
                ..Default::default()
            },
        )
        .unwrap();
        let monitor_stats = scheduler.stats();
        tokio::spawn(scheduler.run(stopped.clone()));
        tokio::spawn({
            let app = app.clone();
            let stopped = stopped.clone();
            async move { app.run_jobs(stopped).await }
        });
        tokio::spawn({
            let app = app.clone();
            let stopped = stopped.clone();
            async move { app.run_triage(stopped).await }
        });
        tokio::spawn({
            let app = app.clone();
            let interval = Duration::from_millis(app.config().sla_sweep_interval_ms);
            async move { app.run_sla(interval, stopped).await }
        });
        let admin_token = seed_admin(&app, "admin@example.com").await;
        Self {
            url: format!("http://{address}"),
            app,
            db,
            admin_token,
            monitor_stats,
            shutdown,
        }
    }

    /// A client authenticated with `token`.
    pub fn client(&self, token: &str) -> Client {
        Client {
            base: self.url.clone(),
            token: Some(token.to_owned()),
            http: reqwest::Client::new(),
        }
    }

    /// A client authenticated as the admin.
    pub fn admin(&self) -> Client {
        self.client(&self.admin_token)
    }

    /// Runs the command-line binary `bin` with `args` on this server's database: whether it
    /// succeeded, and what it wrote to standard output and error, in that order.
    pub async fn run_cli(&self, bin: &str, args: &[&str]) -> (bool, String) {
        let database = self.db.cli_args();
        let mut args = args.to_vec();
        args.extend(database.iter().map(String::as_str));
        let output = run_command_output(bin, &args, None).await;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    }

    /// A client with no credentials.
    pub fn anonymous(&self) -> Client {
        Client {
            base: self.url.clone(),
            token: None,
            http: reqwest::Client::builder()
                .cookie_store(true)
                .build()
                .unwrap(),
        }
    }

    /// A service desk for the web UI's tests: the customer organizations Acme (carol@) and
    /// Globex (gus@), the agent ann@msp.example in the tier-1 group "Service Desk", the admin
    /// root@msp.example, and a Printer category whose diagnostic questions the portal asks.
    pub async fn service_desk(backend: Backend) -> Self {
        Self::start(backend).await.furnished().await
    }

    /// [`TestServer::service_desk`] reading the time from `clock`.
    pub async fn service_desk_on_clock(backend: Backend, clock: opsdesk_app::SharedClock) -> Self {
        Self::service_desk_with(backend, AppConfig::default(), clock).await
    }

    /// [`TestServer::service_desk`] with application settings of the test's choosing (a
    /// mail relay), reading the time from `clock`.
    pub async fn service_desk_with(
        backend: Backend,
        config: AppConfig,
        clock: opsdesk_app::SharedClock,
    ) -> Self {
        Self::start_on_clock(
            TestDb::new(backend).await,
            opsdesk_http::HttpConfig::default(),
            config,
            clock,
        )
        .await
        .furnished()
        .await
    }

    /// Adds the service desk's organizations, people, group and category.
    async fn furnished(self) -> Self {
        let server = self;
        let acme = server.organization("Acme").await;
        let globex = server.organization("Globex").await;
        server.user("ann@msp.example", "agent", None, &[]).await;
        server.user("root@msp.example", "admin", None, &[]).await;
        server
            .user("carol@acme.example", "customer", Some(acme), &[])
            .await;
        server
            .user("gus@globex.example", "customer", Some(globex), &[])
            .await;
        let admin = server.admin();
        let group = admin
            .post(
                "/api/v1/groups",
                json!({"name": "Service Desk", "tier": 1, "members": ["ann@msp.example"]}),
            )
            .await;
        assert_eq!(group.status, 201, "{}", group.text);
        let category = admin
            .post("/api/v1/categories", json!({"name": "Printer"}))
            .await;
        assert_eq!(category.status, 201, "{}", category.text);
        for (question, required) in [
            ("What error message do you see?", true),
            ("What changed recently?", false),
        ] {
            let created = admin
                .post(
                    "/api/v1/category-questions",
                    json!({"category": "Printer", "question": question, "required": required}),
                )
                .await;
            assert_eq!(created.status, 201, "{}", created.text);
        }
        server
    }

    /// A schedule "Primary" (UTC) with ann on call in weekly turns from 5 January 2026
    /// (within `restriction` when given), a policy "Infrastructure" paging it and, after
    /// five minutes, root@ (telling `chat` when given), and an integration "Prometheus"
    /// (generic JSON, grouped by `service`) whose incidents page that policy. Returns the
    /// integration's URL path.
    pub async fn paged_integration(
        &self,
        chat: Option<&str>,
        restriction: Option<Value>,
    ) -> String {
        let admin = self.admin();
        let mut layer = json!({"people": ["ann@msp.example"], "start": "2026-01-05T09:00:00",
                               "turn": {"days": 7}});
        if let Some(restriction) = restriction {
            layer["restriction"] = restriction;
        }
        let schedule = admin
            .post(
                "/api/v1/schedules",
                json!({"name": "Primary", "time_zone": "UTC", "layers": [layer]}),
            )
            .await;
        assert_eq!(schedule.status, 201, "{}", schedule.text);
        let policy = admin
            .post(
                "/api/v1/escalation-policies",
                json!({"name": "Infrastructure", "chat_webhook_url": chat, "levels": [
                    {"targets": [{"schedule": schedule.body["id"]}], "wait_minutes": 5},
                    {"targets": [{"user": "root@msp.example"}], "wait_minutes": 10}]}),
            )
            .await;
        assert_eq!(policy.status, 201, "{}", policy.text);
        let integration = admin
            .post(
                "/api/v1/integrations",
                json!({"name": "Prometheus", "kind": "generic",
                       "requester": "carol@acme.example", "group_by": ["service"],
                       "escalation_policy": "Infrastructure"}),
            )
            .await;
        assert_eq!(integration.status, 201, "{}", integration.text);
        assert_eq!(integration.body["escalation_policy"], "Infrastructure");
        integration.body["url_path"].as_str().unwrap().to_owned()
    }

    /// Opens an incident through the API as the admin; returns its number.
    pub async fn incident(
        &self,
        title: &str,
        impact: &str,
        urgency: &str,
        requester: &str,
    ) -> String {
        let created = self
            .admin()
            .post(
                "/api/v1/tickets",
                json!({"type": "incident", "title": title, "impact": impact, "urgency": urgency,
                       "requester": requester}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        created.body["number"].as_str().unwrap().to_owned()
    }

    /// Signs in through the form with a plain HTTP client; returns it and the CSRF token
    /// the pages' forms carry.
    pub async fn web_session(&self, email: &str) -> (reqwest::Client, String) {
        let client = self.signed_in_client(email, PASSWORD).await;
        let page = page_text(&client, format!("{}/portal", self.url)).await;
        (client, page_csrf_token(&page))
    }

    /// A signed-in session that fills in the pages' forms as `email`.
    /// Whether at least `count` jobs of `kind` are done, waiting up to 20 s for them.
    pub async fn jobs_done(&self, kind: &str, count: usize) -> bool {
        eventually(Duration::from_secs(20), || async {
            let done = self.admin().get("/api/v1/jobs?status=done&limit=500").await;
            done.body["items"]
                .as_array()
                .is_some_and(|jobs| jobs.iter().filter(|j| j["kind"] == kind).count() >= count)
        })
        .await
    }

    pub async fn web_forms(&self, email: &str) -> WebForms {
        let (client, csrf) = self.web_session(email).await;
        WebForms {
            client,
            csrf,
            url: self.url.clone(),
        }
    }

    /// A cookie-keeping HTTP client signed in as `email` through the sign-in form, as a
    /// browser would be.
    pub async fn signed_in_client(&self, email: &str, password: &str) -> reqwest::Client {
        signed_in_client(&self.url, email, password).await
    }

    /// Creates an organization and returns its id.
    pub async fn organization(&self, name: &str) -> i64 {
        self.app
            .create_organization(
                &Principal::system("test"),
                NewOrganization {
                    name: name.into(),
                    ..NewOrganization::default()
                },
            )
            .await
            .unwrap()
            .id
    }

    /// Creates a user with `role` (in `organization` when given) and returns an API token for them.
    pub async fn user(
        &self,
        email: &str,
        role: &str,
        organization: Option<i64>,
        limits: &[i64],
    ) -> String {
        self.app
            .create_user(
                &Principal::system("test"),
                NewUserInput {
                    email: email.into(),
                    name: email.split('@').next().unwrap_or(email).into(),
                    role: role.into(),
                    organization: organization.map(OrganizationRef::Id),
                    organizations: limits.iter().copied().map(OrganizationRef::Id).collect(),
                    password: Some(PASSWORD.into()),
                },
            )
            .await
            .unwrap();
        self.app
            .create_token(&Principal::system("test"), email, "test")
            .await
            .unwrap()
            .secret
    }

    /// The id of the user with this address (panics when there is none).
    pub async fn user_id(&self, email: &str) -> i64 {
        let users = self.admin().get("/api/v1/users?limit=500").await;
        users.body["items"]
            .as_array()
            .and_then(|items| items.iter().find(|u| u["email"] == email))
            .and_then(|user| user["id"].as_i64())
            .unwrap_or_else(|| panic!("no user {email}: {}", users.text))
    }

    /// A fresh API token for an existing user.
    pub async fn token_for(&self, email: &str) -> String {
        self.app
            .create_token(&Principal::system("test"), email, "test")
            .await
            .unwrap()
            .secret
    }

    /// Stops the server and its workers.
    pub fn stop(&self) {
        let _ = self.shutdown.send(true);
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn seed_admin(app: &App, email: &str) -> String {
    app.create_user(
        &Principal::system("test"),
        NewUserInput {
            email: email.into(),
            name: "Admin".into(),
            role: "admin".into(),
            organization: None,
            organizations: Vec::new(),
            password: Some(PASSWORD.into()),
        },
    )
    .await
    .unwrap();
    app.create_token(&Principal::system("test"), email, "test")
        .await
        .unwrap()
        .secret
}

/// Waits until `condition` holds, checking every 50 ms, for at most `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A cookie-keeping HTTP client signed in to the server at `url` as `email` through the
/// sign-in form, as a browser would be.
pub async fn signed_in_client(url: &str, email: &str, password: &str) -> reqwest::Client {
    let (client, status) = form_sign_in(url, email, password).await;
    assert!(
        (200..300).contains(&status),
        "signing in as {email}: {status}"
    );
    client
}

/// Posts the sign-in form of the server at `url` as `email`; the cookie-keeping client and
/// the status of the page it ends on.
pub async fn form_sign_in(url: &str, email: &str, password: &str) -> (reqwest::Client, u16) {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let form = page_text(&client, format!("{url}/login")).await;
    let response = client
        .post(format!("{url}/login"))
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf_token", &page_csrf_token(&form)),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (client, status)
}
