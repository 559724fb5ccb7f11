//! OpenID Connect sign-in against a real provider (the certified `oidc-provider` package,
//! started by `.ci/setup.d/65-oidc-provider.sh`): real Chromium signs in through the
//! provider's own login page; a first sign-in creates the account in the provider's
//! organization; tokens tampered with on their way from the provider's token endpoint (a
//! forwarding proxy between opsdesk and the provider), tokens for another client, expired
//! tokens, replayed states and foreign nonces are refused with a message and an audit
//! entry; a customer signing in through their organization's provider sees only that
//! organization's tickets, and addresses of other organizations or of staff are refused; a
//! provider restarted with a new signing key is followed without a refusal.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fantoccini::Locator;
use opsdesk_app::oidc::OidcSettings;
use opsdesk_app::{AppConfig, Clock, ManualClock, SystemClock};
use opsdesk_testkit::browser::{
    Driver, WAIT, accessibility_violations, axe_script, chromedriver, click, sign_in, type_into,
    wait_for_text,
};
use opsdesk_testkit::{PASSWORD, TestServer, dual_backend_test, eventually};
use serde_json::{Value, json};

/// Every test account's password at the provider (`.ci/oidc-provider.mjs`).
const PROVIDER_PASSWORD: &str = "provider-password";

/// The provider's issuer, or `None` to skip (fails when services are required).
fn issuer() -> Option<String> {
    opsdesk_testkit::service_setting(
        "OPSDESK_TEST_OIDC_ISSUER",
        ".ci/setup.d/65-oidc-provider.sh",
    )
}

/// Registers a client at the provider that answers at `server`'s callback; its id and
/// secret.
async fn register_client(issuer: &str, server: &TestServer) -> (String, String) {
    let registered: Value = reqwest::Client::new()
        .post(format!("{issuer}/reg"))
        .json(&json!({
            "redirect_uris": [format!("{}/login/oidc/callback", server.url)],
            "scope": "openid email profile groups",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        registered["client_id"].as_str().unwrap().to_owned(),
        registered["client_secret"].as_str().unwrap().to_owned(),
    )
}

async fn organization_id(server: &TestServer, name: &str) -> i64 {
    let organizations = server.admin().get("/api/v1/organizations").await;
    organizations.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .and_then(|o| o["id"].as_i64())
        .unwrap_or_else(|| panic!("no organization {name}"))
}

/// Adds a provider with a freshly registered client, for `organization` (or staff); its id.
async fn add_provider(
    server: &TestServer,
    issuer: &str,
    name: &str,
    organization: Option<i64>,
    extra: Value,
) -> i64 {
    let (client_id, client_secret) = register_client(issuer, server).await;
    let mut body = json!({
        "name": name,
        "label": name,
        "organization_id": organization,
        "issuer": issuer,
        "client_id": client_id,
        "client_secret": client_secret,
        "scopes": ["email", "profile", "groups"],
        "allow_signup": true,
    });
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    let created = server
        .admin()
        .post("/api/v1/identity-providers", body)
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["has_client_secret"], true);
    assert!(
        !created.text.contains(&client_secret),
        "the client secret was shown back"
    );
    created.body["id"].as_i64().unwrap()
}

/// A browser-like client: keeps cookies, follows no redirects by itself.
fn browser_like() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Where a sign-in through a provider ended: the last page, and the callback URL that the
/// provider sent the browser to.
struct Landing {
    status: u16,
    url: String,
    body: String,
    callback: Option<String>,
}

/// Follows a sign-in from `start` (an opsdesk URL) through the provider's login form,
/// signing in there as `account`, up to the first page that is no redirect.
async fn follow(client: &reqwest::Client, start: &str, account: &str) -> Landing {
    let mut request = client.get(start);
    let mut callback = None;
    let mut signed_in_at_provider = false;
    for _ in 0..20 {
        let response = request.send().await.unwrap();
        let url = response.url().clone();
        if response.status().is_redirection() {
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            let next = url.join(&location).unwrap();
            if next.path() == "/login/oidc/callback" {
                callback = Some(next.to_string());
            }
            request = client.get(next);
            continue;
        }
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        if url.path().starts_with("/interaction/") && !signed_in_at_provider {
            signed_in_at_provider = true;
            request = client
                .post(format!("{url}/login"))
                .form(&[("login", account), ("password", PROVIDER_PASSWORD)]);
            continue;
        }
        return Landing {
            status,
            url: url.to_string(),
            body,
            callback,
        };
    }
    panic!("the sign-in from {start} never settled");
}

async fn sign_in_through(
    server: &TestServer,
    provider: i64,
    account: &str,
) -> (reqwest::Client, Landing) {
    let client = browser_like();
    let landing = follow(
        &client,
        &format!("{}/login/oidc/{provider}", server.url),
        account,
    )
    .await;
    (client, landing)
}

/// The refusals of sign-ins through provider `provider` in the audit log, by reason.
async fn refusals(server: &TestServer, provider: i64) -> Vec<String> {
    let log = server
        .admin()
        .get(&format!(
            "/api/v1/audit?entity=identity_provider&entity_id={provider}&limit=500"
        ))
        .await;
    log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "sign_in_refused")
        .map(|e| e["after"]["reason"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Waits until a refusal for `reason` is in the audit log.
async fn refusal_audited(server: &TestServer, provider: i64, reason: &str) {
    let found = eventually(Duration::from_secs(10), || async {
        refusals(server, provider).await.iter().any(|r| r == reason)
    })
    .await;
    assert!(
        found,
        "no audited refusal `{reason}`: {:?}",
        refusals(server, provider).await
    );
}

/// The sign-in page came back, refusing, with `message`.
fn refused_with(landing: &Landing, message: &str) {
    assert!(
        landing.url.contains("/login/oidc/callback"),
        "ended at {}",
        landing.url
    );
    assert_eq!(landing.status, 401, "{}", landing.body);
    assert!(
        landing.body.contains(message),
        "the page does not say {message:?}: {}",
        landing.body
    );
    assert!(
        landing.body.contains("id=\"sign-in\""),
        "not the sign-in page"
    );
}

dual_backend_test!(
    providers_are_configured_by_admins_and_checked,
    |backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let acme = organization_id(&server, "Acme").await;
        let base = json!({"name": "Acme SSO", "issuer": "https://login.acme.example/realms/acme",
                          "client_id": "opsdesk", "client_secret": "s3cret-value",
                          "organization_id": acme});
        // An organization's provider may not make agents or admins, nor map support groups.
        let mut staff_roles = base.clone();
        staff_roles["role_rules"] = json!([{"group": "it", "role": "admin"}]);
        let refused = admin.post("/api/v1/identity-providers", staff_roles).await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert_eq!(refused.body["errors"][0]["field"], "role_rules[0].role");
        // Plain http only on loopback.
        let mut plain = base.clone();
        plain["issuer"] = json!("http://login.acme.example");
        let refused = admin.post("/api/v1/identity-providers", plain).await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert_eq!(refused.body["errors"][0]["field"], "issuer");

        let created = admin.post("/api/v1/identity-providers", base).await;
        assert_eq!(created.status, 201, "{}", created.text);
        assert!(!created.text.contains("s3cret-value"));
        let id = created.body["id"].as_i64().unwrap();
        assert_eq!(created.body["default_role"], "customer");
        assert_eq!(created.body["organization"], "Acme");
        let etag = created.header("etag").unwrap().to_owned();
        let path = format!("/api/v1/identity-providers/{id}");
        let changed = admin
            .patch(
                &path,
                json!({"active": false, "email_domains": ["Acme.example"]}),
                Some(&etag),
            )
            .await;
        assert_eq!(changed.status, 200, "{}", changed.text);
        assert_eq!(changed.body["active"], false);
        assert_eq!(changed.body["email_domains"], json!(["acme.example"]));
        assert_eq!(changed.body["has_client_secret"], true);
        let stale = admin
            .patch(&path, json!({"active": true}), Some(&etag))
            .await;
        assert_eq!(stale.status, 412, "{}", stale.text);
        // Customers and agents may not see providers.
        let carol = server.token_for("carol@acme.example").await;
        assert_eq!(server.client(&carol).get(&path).await.status, 403);
        // A disabled provider has no button on the sign-in page.
        let login = server.anonymous().get("/login").await;
        assert!(
            !login.text.contains("Sign in with Acme SSO"),
            "{}",
            login.text
        );
        // The admin page shows the redirect URI to register.
        let (web, _) = server.web_session("admin@example.com").await;
        let page =
            opsdesk_testkit::page_text(&web, format!("{}/admin/identity-providers", server.url))
                .await;
        assert!(
            page.contains(&format!("{}/login/oidc/callback", server.url)),
            "{page}"
        );
        assert!(page.contains("Acme SSO"));
        // The admin page's form: a staff provider mapping a group to a support group.
        let forms = server.web_forms("admin@example.com").await;
        let staff = [
            ("name", "Staff SSO"),
            ("issuer", "https://login.msp.example/realms/staff"),
            ("client_id", "opsdesk-staff"),
            ("client_secret", "another-secret"),
            ("scopes", "email profile groups"),
            ("email_claim", "email"),
            ("name_claim", "name"),
            ("groups_claim", "groups"),
            ("role_rules", "desk-admins = admin\ndesk = agent"),
            ("group_mappings", "desk = Service Desk"),
            ("active", "on"),
        ];
        let mut malformed = staff.to_vec();
        malformed[8] = ("role_rules", "desk is agent");
        let (status, _, page) = forms.post("/admin/identity-providers", &malformed).await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("line 1"), "{page}");
        let (status, at, page) = forms.post("/admin/identity-providers", &staff).await;
        assert_eq!(
            (status, at.as_str()),
            (200, "/admin/identity-providers"),
            "{page}"
        );
        let listed = admin.get("/api/v1/identity-providers").await;
        let created = listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "Staff SSO")
            .cloned()
            .unwrap_or_else(|| panic!("not created: {}", listed.text));
        assert_eq!(created["organization_id"], Value::Null);
        assert_eq!(
            created["role_rules"][1],
            json!({"group": "desk", "role": "agent"})
        );
        assert_eq!(created["group_mappings"][0]["group"], "desk");
        assert!(!listed.text.contains("another-secret"));

        let deleted = admin.delete(&path).await;
        assert_eq!(deleted.status, 204, "{}", deleted.text);
        assert_eq!(admin.get(&path).await.status, 404);
    }
);

dual_backend_test!(
    a_person_signs_in_through_the_provider_in_a_browser,
    |backend| async move {
        let Some(binary) = chromedriver() else { return };
        let Some(issuer) = issuer() else { return };
        let server = TestServer::service_desk(backend).await;
        let acme = organization_id(&server, "Acme").await;
        let provider = add_provider(
            &server,
            &issuer,
            "Acme SSO",
            Some(acme),
            json!({"email_domains": ["acme.example"]}),
        )
        .await;

        let driver = Driver::start(&binary).await;
        let (browser, _profile) = driver.browser().await;
        browser
            .goto(&format!("{}/login", server.url))
            .await
            .unwrap();
        click(&browser, &format!("a[data-provider=\"{provider}\"]")).await;
        // The provider's own login page.
        browser
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css("#login"))
            .await
            .unwrap();
        assert!(
            browser
                .current_url()
                .await
                .unwrap()
                .as_str()
                .starts_with(&issuer)
        );
        type_into(&browser, "#login", "alice@acme.example").await;
        type_into(&browser, "#password", PROVIDER_PASSWORD).await;
        click(&browser, "#submit").await;
        wait_for_text(&browser, ".me", "alice@acme.example").await;
        assert!(
            browser
                .current_url()
                .await
                .unwrap()
                .path()
                .starts_with("/portal"),
            "a customer lands in the portal"
        );

        // The first sign-in created a customer of the provider's organization.
        let users = server.admin().get("/api/v1/users?limit=500").await;
        let alice = users.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == "alice@acme.example")
            .cloned()
            .unwrap_or_else(|| panic!("no account was created: {}", users.text));
        assert_eq!(alice["role"], "customer");
        assert_eq!(alice["organization_id"], acme);
        assert_eq!(alice["name"], "Alice Acme");

        // Home-realm discovery: the address's domain leads to its provider.
        browser.delete_all_cookies().await.unwrap();
        browser
            .goto(&format!("{}/login", server.url))
            .await
            .unwrap();
        type_into(&browser, "#email", "carol@acme.example").await;
        click(&browser, "#sso").await;
        browser
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css("#login"))
            .await
            .unwrap();
        let at = browser.current_url().await.unwrap();
        assert!(at.as_str().starts_with(&issuer), "went to {at}");

        // The local admin's password keeps working whatever is configured.
        server.signed_in_client("admin@example.com", PASSWORD).await;

        // The sign-in page with its buttons, and the admin's provider pages, pass the
        // accessibility rules.
        let Some(axe) = axe_script() else { return };
        browser.delete_all_cookies().await.unwrap();
        browser
            .goto(&format!("{}/login", server.url))
            .await
            .unwrap();
        let violations = accessibility_violations(&browser, &axe).await;
        assert!(violations.is_empty(), "/login: {violations:#?}");
        sign_in(&browser, &server, "admin@example.com").await;
        for page in [
            "/admin/identity-providers".to_owned(),
            format!("/admin/identity-providers/{provider}"),
        ] {
            browser
                .goto(&format!("{}{page}", server.url))
                .await
                .unwrap();
            let violations = accessibility_violations(&browser, &axe).await;
            assert!(violations.is_empty(), "{page}: {violations:#?}");
        }
    }
);

/// What the proxy does to ID tokens coming back from the token endpoint.
#[derive(Debug, Clone)]
enum Mode {
    Pass,
    /// Changes one character of the signature.
    BreakSignature,
    /// Sends this token instead.
    Replace(String),
}

/// A forwarding HTTP proxy between opsdesk and the provider that sees every ID token the
/// token endpoint returns and does to it what `mode` says.
#[derive(Clone)]
struct TokenProxy {
    mode: Arc<Mutex<Mode>>,
    /// The ID tokens the provider issued, in order.
    seen: Arc<Mutex<Vec<String>>>,
    url: String,
}

impl TokenProxy {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let proxy = TokenProxy {
            mode: Arc::new(Mutex::new(Mode::Pass)),
            seen: Arc::new(Mutex::new(Vec::new())),
            url,
        };
        let forward = reqwest::Client::builder().no_proxy().build().unwrap();
        let state = proxy.clone();
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let (forward, state) = (forward.clone(), state.clone());
            async move { state.forward(&forward, request).await }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        proxy
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn last_seen(&self) -> String {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("no ID token seen")
    }

    async fn forward(
        &self,
        http: &reqwest::Client,
        request: axum::extract::Request,
    ) -> axum::response::Response {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        // A proxied request names its whole target (`GET http://host/path`).
        let mut out = http.request(parts.method.clone(), parts.uri.to_string());
        for (name, value) in &parts.headers {
            if name != "host" && name != "proxy-connection" {
                out = out.header(name, value);
            }
        }
        let answer = out.body(body.to_vec()).send().await.unwrap();
        let status = answer.status();
        let content_type = answer.headers().get("content-type").cloned();
        let mut bytes = answer.bytes().await.unwrap().to_vec();
        if parts.uri.path() == "/token" && status.is_success() {
            let mut tokens: Value = serde_json::from_slice(&bytes).unwrap();
            if let Some(token) = tokens["id_token"].as_str().map(str::to_owned) {
                self.seen.lock().unwrap().push(token.clone());
                let mode = self.mode.lock().unwrap().clone();
                tokens["id_token"] = match mode {
                    Mode::Pass => json!(token),
                    Mode::BreakSignature => json!(break_signature(&token)),
                    Mode::Replace(other) => json!(other),
                };
            }
            bytes = serde_json::to_vec(&tokens).unwrap();
        }
        let mut response = axum::response::Response::new(axum::body::Body::from(bytes));
        *response.status_mut() = status;
        if let Some(content_type) = content_type {
            response.headers_mut().insert("content-type", content_type);
        }
        response
    }
}

/// The token with one character in the middle of its signature changed.
fn break_signature(token: &str) -> String {
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut chars: Vec<char> = signature.chars().collect();
    let middle = chars.len() / 2;
    chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
    format!("{signed}.{}", chars.into_iter().collect::<String>())
}

dual_backend_test!(
    tampered_foreign_expired_and_replayed_sign_ins_are_refused,
    |backend| async move {
        let Some(issuer) = issuer() else { return };
        let proxy = TokenProxy::start().await;
        let clock = ManualClock::starting_at(SystemClock.now());
        let config = AppConfig {
            oidc: OidcSettings {
                http_proxy: Some(proxy.url.clone()),
            },
            ..AppConfig::default()
        };
        let server = TestServer::service_desk_with(backend, config, Arc::new(clock.clone())).await;
        let acme = organization_id(&server, "Acme").await;
        let provider = add_provider(&server, &issuer, "Acme SSO", Some(acme), json!({})).await;
        let other = add_provider(&server, &issuer, "Other client", Some(acme), json!({})).await;

        // A sign-in that works, through the proxy.
        let (client, landing) = sign_in_through(&server, provider, "alice@acme.example").await;
        assert_eq!(landing.status, 200, "{}", landing.body);
        assert!(landing.url.ends_with("/portal"), "ended at {}", landing.url);
        assert!(landing.body.contains("alice@acme.example"));
        let earlier_token = proxy.last_seen();

        // The provider's answer, sent again: its state is used up.
        let callback = landing
            .callback
            .expect("the provider answered at the callback");
        let replayed = follow(&client, &callback, "alice@acme.example").await;
        refused_with(&replayed, "already been used");
        refusal_audited(&server, 0, "unknown_state").await;

        // A token whose signature was changed on the way.
        proxy.set(Mode::BreakSignature);
        let (_, landing) = sign_in_through(&server, provider, "alice@acme.example").await;
        refused_with(&landing, "could not be verified");
        refusal_audited(&server, provider, "signature").await;

        // A real token, issued to another client: the wrong audience.
        proxy.set(Mode::Pass);
        let (_, landing) = sign_in_through(&server, other, "alice@acme.example").await;
        assert_eq!(landing.status, 200, "{}", landing.body);
        proxy.set(Mode::Replace(proxy.last_seen()));
        let (_, landing) = sign_in_through(&server, provider, "alice@acme.example").await;
        refused_with(&landing, "could not be verified");
        refusal_audited(&server, provider, "audience").await;

        // A real token for this client, from an earlier sign-in: its nonce is not this one's.
        proxy.set(Mode::Replace(earlier_token));
        let (_, landing) = sign_in_through(&server, provider, "alice@acme.example").await;
        refused_with(&landing, "could not be verified");
        refusal_audited(&server, provider, "nonce").await;

        // Two hours later by opsdesk's clock, a token the provider issues now has expired.
        proxy.set(Mode::Pass);
        clock.advance(jiff::SignedDuration::from_hours(2));
        let (_, landing) = sign_in_through(&server, provider, "alice@acme.example").await;
        refused_with(&landing, "has expired");
        refusal_audited(&server, provider, "token_expired").await;
    }
);

dual_backend_test!(
    a_customer_of_one_organization_never_reaches_another,
    |backend| async move {
        let Some(issuer) = issuer() else { return };
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let acme = organization_id(&server, "Acme").await;
        // Acme's customers see each other's tickets: the widest view a customer can have.
        let shared = admin
            .patch(
                &format!("/api/v1/organizations/{acme}"),
                json!({"customers_see_all": true}),
                None,
            )
            .await;
        assert_eq!(shared.status, 200, "{}", shared.text);
        let acme_ticket = server
            .incident("Acme printer jam", "medium", "medium", "carol@acme.example")
            .await;
        let globex_ticket = server
            .incident("Globex payroll down", "high", "high", "gus@globex.example")
            .await;
        let provider = add_provider(&server, &issuer, "Acme SSO", Some(acme), json!({})).await;

        let (alice, landing) = sign_in_through(&server, provider, "alice@acme.example").await;
        assert_eq!(landing.status, 200, "{}", landing.body);
        assert!(
            landing.body.contains("Acme printer jam"),
            "{}",
            landing.body
        );
        assert!(!landing.body.contains("Globex payroll down"));
        let api: Value = alice
            .get(format!("{}/api/v1/tickets?limit=500", server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let numbers: Vec<&str> = api["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["number"].as_str())
            .collect();
        assert_eq!(numbers, vec![acme_ticket.as_str()], "{api}");
        let foreign = alice
            .get(format!("{}/api/v1/tickets/{globex_ticket}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(foreign.status(), 404);
        let portal = alice
            .get(format!("{}/portal/tickets/{globex_ticket}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(portal.status(), 404);

        // An existing customer of Acme signs in to their own account, now linked.
        let (_, landing) = sign_in_through(&server, provider, "carol@acme.example").await;
        assert_eq!(landing.status, 200, "{}", landing.body);
        assert!(landing.body.contains("carol@acme.example"));

        // Another organization's customer, staff, and an unverified address are refused.
        let (_, landing) = sign_in_through(&server, provider, "gus@globex.example").await;
        refused_with(&landing, "cannot sign in through this provider");
        refusal_audited(&server, provider, "other_organization").await;
        let (_, landing) = sign_in_through(&server, provider, "ann@msp.example").await;
        refused_with(&landing, "cannot sign in through this provider");
        refusal_audited(&server, provider, "staff_account").await;
        let (_, landing) = sign_in_through(&server, provider, "unverified@acme.example").await;
        refused_with(&landing, "has not verified");
        refusal_audited(&server, provider, "email_not_verified").await;
        let gus = server.user_id("gus@globex.example").await;
        let gus_user = admin.get(&format!("/api/v1/users/{gus}")).await;
        assert_eq!(
            gus_user.body["organization"], "Globex",
            "gus stays where he was"
        );
    }
);

/// A provider of this test's own (`.ci/oidc-provider.mjs` on a free port), with one client
/// configured in advance so that it survives restarts; each start signs with a new key.
struct OwnProvider {
    script: String,
    port: u16,
    client: Value,
    process: tokio::process::Child,
}

impl OwnProvider {
    async fn start(script: &str, port: u16, client: &Value) -> Self {
        let folder = std::path::Path::new(script).parent().unwrap();
        let process = tokio::process::Command::new("node")
            .arg(script)
            .arg(port.to_string())
            .current_dir(folder)
            .env("OIDC_STATIC_CLIENT", client.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let discovery = format!("http://127.0.0.1:{port}/.well-known/openid-configuration");
        let up = eventually(Duration::from_secs(20), || async {
            reqwest::get(&discovery)
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        assert!(up, "the provider on port {port} did not start");
        Self {
            script: script.to_owned(),
            port,
            client: client.clone(),
            process,
        }
    }

    /// The ids of the keys it publishes.
    async fn key_ids(&self) -> Vec<String> {
        let keys: Value = reqwest::get(format!("http://127.0.0.1:{}/jwks", self.port))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|key| key["kid"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Stops it and starts it again on the same port, with a new signing key.
    async fn restart(mut self) -> Self {
        self.process.kill().await.unwrap();
        Self::start(&self.script, self.port, &self.client).await
    }
}

/// `account` signs in through `provider` and lands on a page of theirs.
async fn signs_in(server: &TestServer, provider: i64, account: &str) {
    let (_, landing) = sign_in_through(server, provider, account).await;
    assert_eq!(landing.status, 200, "{}", landing.body);
    assert!(landing.body.contains(account), "{}", landing.body);
}

dual_backend_test!(
    a_provider_that_rotates_its_signing_key_is_followed,
    |backend| async move {
        let Some(script) = opsdesk_testkit::service_setting(
            "OPSDESK_TEST_OIDC_PROVIDER_SCRIPT",
            ".ci/setup.d/65-oidc-provider.sh",
        ) else {
            return;
        };
        let server = TestServer::service_desk(backend).await;
        let acme = organization_id(&server, "Acme").await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = json!({
            "client_id": "rotation-test",
            "client_secret": "rotation-test-secret",
            "redirect_uris": [format!("{}/login/oidc/callback", server.url)],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
        });
        let provider_process = OwnProvider::start(&script, port, &client).await;
        let created = server
            .admin()
            .post(
                "/api/v1/identity-providers",
                json!({"name": "Rotating", "label": "Rotating", "organization_id": acme,
                       "issuer": format!("http://127.0.0.1:{port}"),
                       "client_id": "rotation-test", "client_secret": "rotation-test-secret",
                       "scopes": ["email", "profile"], "allow_signup": true}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        let provider = created.body["id"].as_i64().unwrap();

        // The first sign-in fetches the provider's keys.
        signs_in(&server, provider, "alice@acme.example").await;
        let first_keys = provider_process.key_ids().await;

        // Restarted, the provider signs with a key opsdesk has not seen.
        let provider_process = provider_process.restart().await;
        let second_keys = provider_process.key_ids().await;
        assert!(
            first_keys.iter().all(|kid| !second_keys.contains(kid)),
            "{first_keys:?} and {second_keys:?}"
        );
        signs_in(&server, provider, "alice@acme.example").await;
        assert!(refusals(&server, provider).await.is_empty());
    }
);
