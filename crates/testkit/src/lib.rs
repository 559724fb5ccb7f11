//! Helpers for opsdesk's integration tests: a fresh database on each backend, the real
//! server on 127.0.0.1 port 0, and a small HTTP client.
//!
//! PostgreSQL suites run when `OPSDESK_TEST_POSTGRES_URL` is set (each test gets its own
//! database, dropped afterwards); with `OPSDESK_REQUIRE_SERVICES=1` a missing URL fails the
//! test instead of skipping it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opsdesk_app::accounts::{NewOrganization, NewUserInput, OrganizationRef};
use opsdesk_app::{App, AppConfig, Db, DbOptions, Principal};
use serde_json::{Value, json};
use tokio::sync::watch;

pub mod browser;
mod inventory;

pub use inventory::{agent_report, package};
pub use opsdesk_seed::generator;
pub use sqlx;

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
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let form = page_text(&client, format!("{}/login", self.url)).await;
        let signed_in = client
            .post(format!("{}/login", self.url))
            .form(&[
                ("email", email),
                ("password", password),
                ("csrf_token", &page_csrf_token(&form)),
            ])
            .send()
            .await
            .unwrap();
        assert!(
            signed_in.status().is_success(),
            "signing in as {email}: {}",
            signed_in.status()
        );
        client
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

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A small JSON client for tests.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub token: Option<String>,
    pub http: reqwest::Client,
}

impl Client {
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(self.request(reqwest::Method::POST, path).json(&body))
            .await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(self.request(reqwest::Method::PUT, path).json(&body))
            .await
    }

    pub async fn patch(&self, path: &str, body: Value, if_match: Option<&str>) -> Reply {
        let request = self.request(reqwest::Method::PATCH, path).json(&body);
        let request = match if_match {
            Some(etag) => request.header("if-match", etag),
            None => request,
        };
        self.send(request).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.request(reqwest::Method::DELETE, path)).await
    }
}

/// A web session that posts forms as a browser does: with the session's CSRF token,
/// following the redirect a saved form answers with.
pub struct WebForms {
    pub client: reqwest::Client,
    pub csrf: String,
    url: String,
}

impl WebForms {
    /// Posts `fields` to `path`; returns the status and path of the page it ends on, and
    /// that page.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (u16, String, String) {
        let mut fields = fields.to_vec();
        fields.push(("csrf_token", self.csrf.as_str()));
        let response = self
            .client
            .post(format!("{}{path}", self.url))
            .form(&fields)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let path = response.url().path().to_owned();
        (status, path, response.text().await.unwrap())
    }

    /// The page at `path`.
    pub async fn page(&self, path: &str) -> String {
        page_text(&self.client, format!("{}{path}", self.url)).await
    }
}

/// The body of the page at `url`, fetched with `client` (its cookies included).
pub async fn page_text(client: &reqwest::Client, url: String) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// The CSRF token a page of the web UI carries (its `csrf-token` meta element).
pub fn page_csrf_token(page: &str) -> String {
    page.split("name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned()
}

/// An `opsdesk` process started from the built binary, killed when dropped.
pub struct ServerProcess {
    pub child: Child,
    pub url: String,
}

impl ServerProcess {
    /// Starts `opsdesk serve` on a free port with `args` and waits until `/healthz` answers.
    pub async fn start(binary: &str, args: &[String]) -> Self {
        Self::start_with_env(binary, args, &[]).await
    }

    /// Like [`ServerProcess::start`], with extra environment variables (`OPSDESK_NODE_NAME`…).
    pub async fn start_with_env(binary: &str, args: &[String], env: &[(&str, &str)]) -> Self {
        Self::start_within(binary, args, env, Duration::from_secs(15)).await
    }

    /// Like [`ServerProcess::start_with_env`], for a server with work to do before it
    /// listens (loading `--demo` data), allowed `timeout` to answer.
    pub async fn start_within(
        binary: &str,
        args: &[String],
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{port}");
        let child = Command::new(binary)
            .arg("serve")
            .arg("--listen")
            .arg(&listen)
            .args(args)
            .env("OPSDESK_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // Owned from here on, so that a failed start still kills the process when dropped.
        let mut process = Self {
            child,
            url: format!("http://{listen}"),
        };
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if let Ok(response) = client.get(format!("{}/healthz", process.url)).send().await
                && response.status().is_success()
            {
                return process;
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("opsdesk serve exited ({status}) before answering /healthz");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("opsdesk serve did not answer /healthz within {timeout:?}");
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs an `opsdesk` command to completion and returns its stdout; panics on failure.
pub fn run_command(binary: &str, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut child = Command::new(binary)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("OPSDESK_LOG", "warn")
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "opsdesk {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs an `opsdesk` command and returns how it ended, whether it succeeded or not; kills
/// it (and panics) if it has not finished within three minutes — generous, because the
/// host agent runs the machine's package tools at the lowest priority, which a busy CI
/// machine starves.
pub async fn run_command_output(binary: &str, args: &[&str], stdin: Option<&str>) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(binary)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("OPSDESK_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    tokio::time::timeout(Duration::from_secs(180), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("opsdesk {args:?} did not finish within 180 s"))
        .unwrap()
}

/// This machine's agent, enrolled into a test server for Acme and run from the built
/// `opsdesk` binary with a state folder of its own (removed when dropped).
pub struct EnrolledAgent {
    binary: String,
    state: tempfile::TempDir,
    /// The configuration item the enrolment made for this machine.
    pub ci: i64,
}

impl EnrolledAgent {
    /// Enrols this machine with `opsdesk agent enrol` and an enrolment token for Acme.
    pub async fn enrol(server: &TestServer, binary: &str) -> Self {
        let made = server
            .admin()
            .post("/api/v1/agent-enrolments", json!({"organization": "Acme"}))
            .await;
        assert_eq!(made.status, 201, "{}", made.text);
        let token = made.body["token"].as_str().unwrap();
        let state = tempfile::tempdir().unwrap();
        let state_dir = state.path().to_str().unwrap();
        let args = [
            "agent",
            "enrol",
            "--server",
            &server.url,
            "--token",
            token,
            "--state-dir",
            state_dir,
        ];
        let enrolled = run_command_output(binary, &args, None).await;
        assert!(
            enrolled.status.success(),
            "{}",
            String::from_utf8_lossy(&enrolled.stderr)
        );
        let said = String::from_utf8_lossy(&enrolled.stdout).into_owned();
        let ci = said
            .split("configuration item ")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("no item in {said}"));
        Self {
            binary: binary.to_owned(),
            state,
            ci,
        }
    }

    /// One round of `opsdesk agent run --once`: it reports, and does its queued work.
    pub async fn run_once(&self) {
        let state_dir = self.state.path().to_str().unwrap();
        let args = ["agent", "run", "--once", "--state-dir", state_dir];
        let ran = run_command_output(&self.binary, &args, None).await;
        assert!(
            ran.status.success(),
            "{}",
            String::from_utf8_lossy(&ran.stderr)
        );
    }
}

/// One webhook POST as a [`WebhookReceiver`] got it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `x-opsdesk-event`.
    pub event: String,
    /// `x-opsdesk-delivery`: the id of the job that sent it.
    pub delivery: String,
    /// `x-opsdesk-signature`.
    pub signature: String,
    pub body: Value,
}

type Received = Arc<Mutex<Vec<Delivery>>>;

/// A local HTTP endpoint for webhooks at `url`: records every POST and answers each with the
/// status it was started with.
pub struct WebhookReceiver {
    pub url: String,
    received: Received,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    pub async fn start(status: u16) -> Self {
        Self::start_slow(status, Duration::ZERO).await
    }

    /// A receiver that records each delivery on arrival but answers only after `delay`,
    /// to catch a sender in the middle of a delivery.
    pub async fn start_slow(status: u16, delay: Duration) -> Self {
        let status = axum::http::StatusCode::from_u16(status).unwrap();
        let received: Received = Arc::default();
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(record_delivery))
            .with_state((received.clone(), status, delay));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            url: format!("http://{address}/hook"),
            received,
            task,
        }
    }

    /// Everything received so far, in order of arrival.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record_delivery(
    axum::extract::State((received, status, delay)): axum::extract::State<(
        Received,
        axum::http::StatusCode,
        Duration,
    )>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let delivery = Delivery {
        event: header("x-opsdesk-event"),
        delivery: header("x-opsdesk-delivery"),
        signature: header("x-opsdesk-signature"),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    received.lock().unwrap().push(delivery);
    tokio::time::sleep(delay).await;
    status
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

/// A TLS server on 127.0.0.1 whose self-signed certificate for `localhost` expires in
/// `days` days: what certificate monitors and diagnostics must warn about.
pub async fn expiring_tls_server(days: i64) -> SocketAddr {
    use tokio::io::AsyncWriteExt;
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    let cert = params.self_signed(&key).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(socket).await {
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    address
}
