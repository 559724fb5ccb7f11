//! LDAP directories against a real OpenLDAP server (`.ci/setup.d/70-slapd.sh`): signing in
//! with a directory password over LDAPS and StartTLS (in real Chromium too), plain text to a
//! remote server refused, syncs (a dry run that writes nothing, group → support group, a
//! person disabled in the directory losing their session and token), and the portal's
//! self-service password reset with the directory's own policy, proven by a mailed code or
//! approved by the person's manager.
//!
//! The server is shared by parallel runs: every test makes its own, uniquely named people.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::time::Duration;

use jiff::SignedDuration;
use ldap3::controls::RawControl;
use ldap3::{LdapConnAsync, Mod};
use opsdesk_app::ManualClock;
use opsdesk_testkit::browser::{Driver, WAIT, chromedriver, click, type_into};
use opsdesk_testkit::{
    Backend, TestServer, dual_backend_test, eventually, form_sign_in, mails_about, page_csrf_token,
    page_text, service_setting,
};
use serde_json::{Value, json};

const SETUP: &str = ".ci/setup.d/70-slapd.sh";

/// The test directory's settings from the environment, or `None` to skip.
struct Slapd {
    ldaps: String,
    starttls: String,
    ca: String,
    base: String,
    admin_dn: String,
    admin_password: String,
    service_dn: String,
    service_password: String,
}

impl Slapd {
    fn from_env() -> Option<Self> {
        let get = |name: &str| service_setting(name, SETUP);
        Some(Self {
            ldaps: get("OPSDESK_TEST_LDAP_URL")?,
            starttls: get("OPSDESK_TEST_LDAP_STARTTLS_URL")?,
            ca: std::fs::read_to_string(get("OPSDESK_TEST_LDAP_CA")?).unwrap(),
            base: get("OPSDESK_TEST_LDAP_BASE_DN")?,
            admin_dn: get("OPSDESK_TEST_LDAP_BIND_DN")?,
            admin_password: get("OPSDESK_TEST_LDAP_BIND_PASSWORD")?,
            service_dn: get("OPSDESK_TEST_LDAP_SERVICE_DN")?,
            service_password: get("OPSDESK_TEST_LDAP_SERVICE_PASSWORD")?,
        })
    }

    /// An admin connection for setting the directory up (plain LDAP on loopback).
    async fn admin(&self) -> ldap3::Ldap {
        let (driver, mut ldap) = LdapConnAsync::new(&self.starttls).await.unwrap();
        ldap3::drive!(driver);
        ldap.simple_bind(&self.admin_dn, &self.admin_password)
            .await
            .unwrap()
            .success()
            .unwrap();
        ldap
    }

    /// Adds a person `uid` with a unique address and `password`; returns their DN and mail.
    async fn person(&self, uid: &str, password: &str) -> (String, String) {
        let dn = format!("uid={uid},ou=people,{}", self.base);
        let mail = format!("{uid}@corp.test");
        let mut ldap = self.admin().await;
        let set = |v: &str| HashSet::from([v.to_owned()]);
        ldap.add(
            &dn,
            vec![
                ("objectClass".to_owned(), set("inetOrgPerson")),
                ("uid".to_owned(), set(uid)),
                ("cn".to_owned(), set(&format!("Person {uid}"))),
                ("sn".to_owned(), set(uid)),
                ("mail".to_owned(), set(&mail)),
                ("userPassword".to_owned(), set(password)),
            ],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
        (dn, mail)
    }

    /// Adds a group `cn` with `members`; returns its DN.
    async fn group(&self, cn: &str, members: &[&str]) -> String {
        let dn = format!("cn={cn},ou=groups,{}", self.base);
        let mut ldap = self.admin().await;
        let members: HashSet<String> = members.iter().map(|m| (*m).to_owned()).collect();
        ldap.add(
            &dn,
            vec![
                (
                    "objectClass".to_owned(),
                    HashSet::from(["groupOfNames".to_owned()]),
                ),
                ("cn".to_owned(), HashSet::from([cn.to_owned()])),
                ("member".to_owned(), members),
            ],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
        dn
    }

    /// Sets `attribute` of `dn` to `value`.
    async fn set(&self, dn: &str, attribute: &str, value: &str) {
        let mut ldap = self.admin().await;
        ldap.modify(dn, vec![Mod::Replace(attribute, HashSet::from([value]))])
            .await
            .unwrap()
            .success()
            .unwrap();
    }

    /// Locks `dn` the way an administrator disables an OpenLDAP account (ppolicy).
    async fn disable(&self, dn: &str) {
        let mut ldap = self.admin().await;
        ldap.with_controls(RawControl {
            ctype: "1.3.6.1.4.1.4203.666.5.12".into(),
            crit: true,
            val: None,
        })
        .modify(
            dn,
            vec![Mod::Replace(
                "pwdAccountLockedTime",
                HashSet::from(["000001010000Z"]),
            )],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    }

    /// Whether `dn` binds with `password`.
    async fn binds(&self, dn: &str, password: &str) -> bool {
        let (driver, mut ldap) = LdapConnAsync::new(&self.starttls).await.unwrap();
        ldap3::drive!(driver);
        ldap.simple_bind(dn, password)
            .await
            .is_ok_and(|r| r.rc == 0)
    }

    /// Settings of a staff directory reached at `url`.
    fn settings(&self, name: &str, url: &str, starttls: bool) -> Value {
        json!({
            "name": name, "url": url, "starttls": starttls, "ca_pem": self.ca,
            "bind_dn": self.service_dn, "bind_password": self.service_password,
            "user_base": format!("ou=people,{}", self.base),
            "group_base": format!("ou=groups,{}", self.base),
            "allow_signup": true, "sync_interval_minutes": 0,
        })
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

dual_backend_test!(
    signs_in_over_ldaps_and_starttls_and_refuses_plain_text_to_a_remote_server,
    |backend: Backend| async move {
        let Some(slapd) = Slapd::from_env() else {
            return;
        };
        let server = TestServer::start(backend).await;
        let admin = server.admin();

        let mut plain = slapd.settings("Remote", "ldap://ldap.corp.example:389", false);
        plain["ca_pem"] = Value::Null;
        let refused = admin.post("/api/v1/directories", plain).await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert_eq!(
            refused.body["errors"][0]["field"], "url",
            "{}",
            refused.text
        );
        assert!(
            refused.text.contains("never plain text"),
            "{}",
            refused.text
        );
        // Customers need an organization: a staff directory cannot make them.
        let mut customers = slapd.settings("Customers", &slapd.ldaps, false);
        customers["default_role"] = json!("customer");
        let refused = admin.post("/api/v1/directories", customers).await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert_eq!(refused.body["errors"][0]["field"], "default_role");

        let ldaps = admin
            .post(
                "/api/v1/directories",
                slapd.settings("Corp LDAPS", &slapd.ldaps, false),
            )
            .await;
        assert_eq!(ldaps.status, 201, "{}", ldaps.text);
        assert!(
            ldaps.body.get("bind_password").is_none(),
            "the password is write-only"
        );
        let check = admin
            .post(
                &format!("/api/v1/directories/{}/check", ldaps.body["id"]),
                json!({}),
            )
            .await;
        assert_eq!(check.body["ok"], true, "{}", check.text);

        // A first sign-in makes the account (sign-up), over LDAPS.
        let (_, mail) = slapd.person(&unique("ldaps"), "first-password-1234").await;
        let (client, status) = form_sign_in(&server.url, &mail, "first-password-1234").await;
        assert_eq!(status, 200);
        let page = page_text(&client, format!("{}/portal", server.url)).await;
        assert!(page.contains("signout"), "not signed in over LDAPS");
        let (_, status) = form_sign_in(&server.url, &mail, "wrong-password-1234").await;
        assert_eq!(status, 401, "a wrong directory password is refused");

        // The same through a StartTLS directory (the LDAPS one switched off).
        let off = admin
            .patch(
                &format!("/api/v1/directories/{}", ldaps.body["id"]),
                json!({"active": false}),
                None,
            )
            .await;
        assert_eq!(off.status, 200, "{}", off.text);
        let starttls = admin
            .post(
                "/api/v1/directories",
                slapd.settings("Corp StartTLS", &slapd.starttls, true),
            )
            .await;
        assert_eq!(starttls.status, 201, "{}", starttls.text);
        let check = admin
            .post(
                &format!("/api/v1/directories/{}/check", starttls.body["id"]),
                json!({}),
            )
            .await;
        assert_eq!(check.body["ok"], true, "{}", check.text);
        assert!(check.text.contains("StartTLS"), "{}", check.text);
        let (_, mail) = slapd
            .person(&unique("starttls"), "second-password-123")
            .await;
        let (client, status) = form_sign_in(&server.url, &mail, "second-password-123").await;
        assert_eq!(status, 200);
        let me = client
            .get(format!("{}/portal", server.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(me.contains(&mail), "not signed in over StartTLS");
        // A directory account never signs in with a local password: it has none.
        let sessions = server.app.user_count().await.unwrap();
        assert!(sessions >= 3);
    }
);

dual_backend_test!(
    a_sync_dry_run_lists_changes_writes_nothing_then_maps_groups_and_disables,
    |backend: Backend| async move {
        let Some(slapd) = Slapd::from_env() else {
            return;
        };
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let (dn, mail) = slapd.person(&unique("sync"), "sync-password-12345").await;
        let group = unique("desk");
        slapd.group(&group, &[&dn]).await;
        let mut settings = slapd.settings("Corp", &slapd.ldaps, false);
        settings["allow_signup"] = json!(false);
        settings["user_filter"] = json!(format!(
            "(&(objectClass=inetOrgPerson)(uid={}))",
            dn.trim_start_matches("uid=").split(',').next().unwrap()
        ));
        settings["group_mappings"] = json!([{"group": group, "support_group": "Service Desk"}]);
        let directory = admin.post("/api/v1/directories", settings).await;
        assert_eq!(directory.status, 201, "{}", directory.text);
        let id = directory.body["id"].as_i64().unwrap();

        let users_before = server.app.user_count().await.unwrap();
        let dry = admin
            .post(
                &format!("/api/v1/directories/{id}/sync?dry_run=true"),
                json!({}),
            )
            .await;
        assert_eq!(dry.status, 200, "{}", dry.text);
        assert_eq!(dry.body["dry_run"], true);
        assert_eq!(
            dry.body["changes"]["create"][0]["email"],
            mail.as_str(),
            "{}",
            dry.text
        );
        assert_eq!(
            dry.body["changes"]["create"][0]["support_groups"][0],
            "service desk"
        );
        assert_eq!(
            server.app.user_count().await.unwrap(),
            users_before,
            "a dry run writes nothing"
        );

        let synced = admin
            .post(&format!("/api/v1/directories/{id}/sync"), json!({}))
            .await;
        assert_eq!(synced.status, 200, "{}", synced.text);
        assert_eq!(synced.body["summary"]["created"], 1, "{}", synced.text);
        let groups = admin.get("/api/v1/groups").await;
        let desk = groups.body["items"]
            .as_array()
            .or(groups.body.as_array())
            .unwrap()
            .iter()
            .find(|g| g["name"] == "Service Desk")
            .cloned()
            .unwrap();
        assert!(
            desk.to_string().contains(&mail),
            "group → support group: {desk}"
        );
        let again = admin
            .post(
                &format!("/api/v1/directories/{id}/sync?dry_run=true"),
                json!({}),
            )
            .await;
        assert_eq!(again.body["summary"]["created"], 0, "{}", again.text);
        assert_eq!(again.body["summary"]["group_changes"], 0, "{}", again.text);

        // Signed in and holding a token, then disabled in the directory.
        let (client, status) = form_sign_in(&server.url, &mail, "sync-password-12345").await;
        assert_eq!(status, 200);
        let token = server.token_for(&mail).await;
        assert_eq!(server.client(&token).get("/api/v1/me").await.status, 200);
        slapd.disable(&dn).await;
        let synced = admin
            .post(&format!("/api/v1/directories/{id}/sync"), json!({}))
            .await;
        assert_eq!(synced.body["summary"]["disabled"], 1, "{}", synced.text);
        assert_eq!(synced.body["changes"]["disable"][0]["reason"], "disabled");
        assert_eq!(
            server.client(&token).get("/api/v1/me").await.status,
            401,
            "the token is refused"
        );
        let after = client
            .get(format!("{}/portal", server.url))
            .send()
            .await
            .unwrap();
        assert!(
            after.url().path().starts_with("/login"),
            "the session is refused: {}",
            after.url()
        );
        let audit = admin.get("/api/v1/audit?entity=directory&limit=50").await;
        assert!(
            audit.text.contains("synced"),
            "the sync is audited: {}",
            audit.text
        );
    }
);

/// The reset code mailed for `mail`, once it arrives.
async fn reset_code(maildir: &str, mail: &str, skip: usize) -> String {
    let arrived = eventually(Duration::from_secs(30), || async {
        mails_about(maildir, &["Password reset code for", mail]).len() > skip
    })
    .await;
    assert!(arrived, "no reset code was mailed to {mail}");
    let mails = mails_about(maildir, &["Password reset code for", mail]);
    let codes: Vec<String> = mails
        .iter()
        .filter_map(|(_, text)| {
            let after = text.split("Your code: ").nth(1)?;
            Some(after.chars().take(8).collect())
        })
        .collect();
    // The newest mail's code is the one not seen before.
    codes
        .into_iter()
        .nth(skip)
        .unwrap_or_else(|| panic!("no code in the mail to {mail}"))
}

/// Asks for a reset of `login` in the portal; the page's address to enter the code on.
async fn ask_reset(client: &reqwest::Client, server: &TestServer, login: &str) -> (u16, String) {
    let response = client
        .post(format!("{}/portal/password", server.url))
        .form(&[("login", login), ("kind", "reset")])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.url().path().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_password_reset_sets_the_directory_password_and_opens_a_resolved_request() {
    let Some(slapd) = Slapd::from_env() else {
        return;
    };
    let Some((server, maildir)) = TestServer::mailing_service_desk(
        Backend::Sqlite,
        std::sync::Arc::new(opsdesk_app::SystemClock),
    )
    .await
    else {
        return;
    };
    let admin = server.admin();
    let uid = unique("reset");
    let (dn, mail) = slapd.person(&uid, "old-password-123456").await;
    let directory = admin
        .post(
            "/api/v1/directories",
            slapd.settings("Corp", &slapd.ldaps, false),
        )
        .await;
    assert_eq!(directory.status, 201, "{}", directory.text);
    // The account comes with the first sign-in.
    let (_, status) = form_sign_in(&server.url, &mail, "old-password-123456").await;
    assert_eq!(status, 200);

    let sign_in = page_text(&reqwest::Client::new(), format!("{}/login", server.url)).await;
    assert!(
        sign_in.contains("href=\"/portal/password\""),
        "the sign-in page links the reset"
    );
    let browser_like = reqwest::Client::new();
    // An unknown account gets the same answer as a known one.
    let (status, unknown_page) = ask_reset(&browser_like, &server, &unique("nobody")).await;
    assert_eq!(status, 200);
    assert!(unknown_page.starts_with("/portal/password/"));
    let (status, page) = ask_reset(&browser_like, &server, &uid).await;
    assert_eq!(status, 200);
    let code = reset_code(&maildir, &mail, 0).await;
    let finish = |password: &'static str, code: String, page: String| {
        let client = browser_like.clone();
        let url = format!("{}{page}", server.url);
        async move {
            let response = client
                .post(url)
                .form(&[
                    ("code", code.as_str()),
                    ("password", password),
                    ("confirm", password),
                ])
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    // Long enough for opsdesk (10), too short for the directory's policy (14).
    let (status, text) = finish("only-12-char", code.clone(), page.clone()).await;
    assert_eq!(status, 422, "{text}");
    assert!(
        text.contains("id=\"password-error\""),
        "the refusal names the password field"
    );
    assert!(text.contains("password policy"), "{text}");
    let (status, text) = finish("a-new-long-password-42", "00000000".into(), page.clone()).await;
    assert_eq!(status, 422);
    assert!(text.contains("id=\"code-error\""), "{text}");
    let (status, text) = finish("a-new-long-password-42", code.clone(), page.clone()).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("id=\"reset-done\""), "{text}");
    assert!(
        slapd.binds(&dn, "a-new-long-password-42").await,
        "the new password binds"
    );
    assert!(
        !slapd.binds(&dn, "old-password-123456").await,
        "the old one no longer does"
    );
    let (status, _) = finish("another-long-password-7", code, page).await;
    assert_eq!(status, 422, "a code works once");

    let tickets = admin
        .get("/api/v1/tickets?q=status:resolved%20category:%22Password%20reset%22")
        .await;
    assert_eq!(tickets.status, 200, "{}", tickets.text);
    let found = tickets.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["requester"]["email"] == mail.as_str() || t.to_string().contains(&mail));
    assert!(found, "a resolved password reset request: {}", tickets.text);

    // Three requests for one address a minute; the fourth waits.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(ask_reset(&browser_like, &server, &uid).await.0);
    }
    assert!(
        statuses.contains(&429),
        "requests are rate-limited: {statuses:?}"
    );
}

/// The link starting with `prefix` and holding `holding`, as a path on the test server, in
/// the `nth` (from 0, in the order the resets were asked for) mail whose subject holds
/// `subject` and `mail`, once it arrives.
async fn mailed_link(
    maildir: &str,
    subject: &str,
    mail: &str,
    nth: usize,
    prefix: &str,
    holding: &str,
) -> String {
    let arrived = eventually(Duration::from_secs(30), || async {
        mails_about(maildir, &[subject, mail]).len() > nth
    })
    .await;
    assert!(arrived, "no mail \"{subject}\" about {mail}");
    // The maildir lists mails in no order; their Message-ID holds the reset's number.
    let mut links: Vec<(u64, String)> = mails_about(maildir, &[subject, mail])
        .iter()
        .filter_map(|(raw, text)| {
            let reset = raw.split("opsdesk.password-reset.").nth(1)?;
            let reset: u64 = reset.split('.').next()?.parse().ok()?;
            let link = text
                .split_whitespace()
                .find(|word| word.starts_with(prefix) && word.contains(holding))?;
            Some((
                reset,
                link.trim_start_matches("http://desk.test").to_owned(),
            ))
        })
        .collect();
    links.sort();
    links
        .into_iter()
        .nth(nth)
        .unwrap_or_else(|| panic!("no link in the mail \"{subject}\" about {mail}"))
        .1
}

/// The link to decide a reset in the `nth` mail to the manager about `mail`.
async fn approval_link(maildir: &str, mail: &str, nth: usize) -> String {
    mailed_link(
        maildir,
        "Approve a password reset for",
        mail,
        nth,
        "http://desk.test/portal/password/approval/",
        "decision=approve",
    )
    .await
}

/// The link to finish with in the first mail telling `mail` that their manager approved.
async fn approved_link(maildir: &str, mail: &str) -> String {
    mailed_link(
        maildir,
        "Password reset approved for",
        mail,
        0,
        "http://desk.test/portal/password/approved/",
        "",
    )
    .await
}

/// Asks in the portal for a reset of `login` approved by its manager: the status and page.
async fn ask_manager(client: &reqwest::Client, server: &TestServer, login: &str) -> (u16, String) {
    let response = client
        .post(format!("{}/portal/password", server.url))
        .form(&[("login", login), ("kind", "reset"), ("proof", "manager")])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert_eq!(
        response.url().path(),
        "/portal/password",
        "no page to go on to"
    );
    (status, response.text().await.unwrap())
}

/// Opens the decision `link` as `client` and sends `decision` with the page's form token:
/// the status of the page and of the decision.
async fn decide(
    client: &reqwest::Client,
    server: &TestServer,
    link: &str,
    decision: &str,
) -> (u16, u16, String) {
    let page = client
        .get(format!("{}{link}", server.url))
        .send()
        .await
        .unwrap();
    let page_status = page.status().as_u16();
    let action = link.split('?').next().unwrap();
    // The session's form token, from a page every signed-in person may open.
    let csrf = page_csrf_token(&page_text(client, format!("{}/account", server.url)).await);
    let response = client
        .post(format!("{}{action}", server.url))
        .form(&[("decision", decision), ("csrf_token", &csrf)])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (page_status, status, response.text().await.unwrap())
}

dual_backend_test!(
    a_manager_approves_a_password_reset_and_the_new_password_binds,
    |backend: Backend| async move {
        let Some(slapd) = Slapd::from_env() else {
            return;
        };
        let clock = ManualClock::starting_at("2026-03-02T10:00:00Z".parse().unwrap());
        let Some((server, maildir)) =
            TestServer::mailing_service_desk(backend, std::sync::Arc::new(clock.clone())).await
        else {
            return;
        };
        let admin = server.admin();
        let mut settings = slapd.settings("Corp", &slapd.ldaps, false);
        settings["manager_attribute"] = json!("manager");
        let directory = admin.post("/api/v1/directories", settings).await;
        assert_eq!(directory.status, 201, "{}", directory.text);
        let (boss_dn, boss_mail) = slapd.person(&unique("boss"), "boss-password-123456").await;
        let report_uid = unique("report");
        let (report_dn, report_mail) = slapd.person(&report_uid, "old-password-1234567").await;
        slapd.set(&report_dn, "manager", &boss_dn).await;
        let (_, other_mail) = slapd.person(&unique("other"), "other-password-12345").await;
        // The accounts come with the first sign-in.
        let (boss, status) = form_sign_in(&server.url, &boss_mail, "boss-password-123456").await;
        assert_eq!(status, 200);
        let (_, status) = form_sign_in(&server.url, &report_mail, "old-password-1234567").await;
        assert_eq!(status, 200);
        let (other, status) = form_sign_in(&server.url, &other_mail, "other-password-12345").await;
        assert_eq!(status, 200);

        let anonymous = reqwest::Client::new();
        let (status, asked) = ask_manager(&anonymous, &server, &report_uid).await;
        assert_eq!(status, 200, "{asked}");
        assert!(asked.contains("id=\"reset-asked\""), "{asked}");
        // No account, or no manager, gets the very same answer.
        let (status, unknown) = ask_manager(&anonymous, &server, &unique("nobody")).await;
        assert_eq!((status, &unknown), (200, &asked));
        let (status, no_manager) = ask_manager(&anonymous, &server, &other_mail).await;
        assert_eq!((status, &no_manager), (200, &asked));

        let link = approval_link(&maildir, &report_mail, 0).await;
        // Not signed in: to the sign-in page, deciding nothing.
        let page = anonymous
            .get(format!("{}{link}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(page.url().path(), "/login");
        // Someone else signed in, holding the link, cannot see or decide it.
        let (page, status, text) = decide(&other, &server, &link, "approve").await;
        assert_eq!((page, status), (403, 403), "{text}");
        let (page, status, text) = decide(&boss, &server, &link, "approve").await;
        assert_eq!((page, status), (200, 200), "{text}");
        assert!(text.contains("id=\"approval-done\""), "{text}");
        let (_, status, _) = decide(&boss, &server, &link, "approve").await;
        assert_eq!(status, 409, "a decision link works once");
        assert!(
            slapd.binds(&report_dn, "old-password-1234567").await,
            "approving changes nothing by itself"
        );

        let finish = approved_link(&maildir, &report_mail).await;
        let set = |password: &'static str| {
            let url = format!("{}{finish}", server.url);
            let client = anonymous.clone();
            async move {
                let response = client
                    .post(url)
                    .form(&[("password", password), ("confirm", password)])
                    .send()
                    .await
                    .unwrap();
                (response.status().as_u16(), response.text().await.unwrap())
            }
        };
        let (status, text) = set("short-pass-1").await;
        assert_eq!(status, 422, "the directory's policy still applies: {text}");
        assert!(text.contains("id=\"password-error\""), "{text}");
        let (status, text) = set("approved-password-4242").await;
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("id=\"reset-done\""), "{text}");
        assert!(slapd.binds(&report_dn, "approved-password-4242").await);
        assert!(!slapd.binds(&report_dn, "old-password-1234567").await);
        let (status, text) = set("another-password-4242").await;
        assert_eq!(status, 422, "the link works once");
        assert!(text.contains("id=\"link-error\""), "{text}");

        // Denied: the request ends and the password stays.
        clock.advance(SignedDuration::from_mins(2));
        let (status, _) = ask_manager(&anonymous, &server, &report_mail).await;
        assert_eq!(status, 200);
        let denied = approval_link(&maildir, &report_mail, 1).await;
        let (_, status, text) = decide(&boss, &server, &denied, "deny").await;
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("id=\"approval-done\""), "{text}");
        let (_, status, _) = decide(&boss, &server, &denied, "approve").await;
        assert_eq!(status, 409, "a denied request cannot be approved after all");
        assert!(slapd.binds(&report_dn, "approved-password-4242").await);

        // Not decided within a day: too late.
        clock.advance(SignedDuration::from_mins(2));
        let (status, _) = ask_manager(&anonymous, &server, &report_mail).await;
        assert_eq!(status, 200);
        let late = approval_link(&maildir, &report_mail, 2).await;
        clock.advance(SignedDuration::from_hours(25));
        let (boss, status) = form_sign_in(&server.url, &boss_mail, "boss-password-123456").await;
        assert_eq!(status, 200);
        let (page, status, _) = decide(&boss, &server, &late, "approve").await;
        assert_eq!((page, status), (409, 409), "an expired request is refused");

        let audit = admin
            .get("/api/v1/audit?entity=password_reset&limit=100")
            .await;
        assert_eq!(audit.status, 200, "{}", audit.text);
        for step in [
            "\"proof\":\"manager\"",
            "no manager known to the desk",
            "not the manager asked",
            "\"decision\":\"approved\"",
            "\"decision\":\"denied\"",
            "\"state\":\"completed\"",
        ] {
            assert!(audit.text.contains(step), "{step} audited: {}", audit.text);
        }
        let tickets = admin
            .get("/api/v1/tickets?q=status:resolved%20category:%22Password%20reset%22")
            .await;
        assert_eq!(tickets.status, 200, "{}", tickets.text);
        assert!(
            tickets.text.contains(&report_mail),
            "recorded as a resolved request: {}",
            tickets.text
        );
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_in_with_a_directory_password() {
    let Some(slapd) = Slapd::from_env() else {
        return;
    };
    let Some(binary) = chromedriver() else { return };
    let server = TestServer::start(Backend::Sqlite).await;
    let directory = server
        .admin()
        .post(
            "/api/v1/directories",
            slapd.settings("Corp", &slapd.ldaps, false),
        )
        .await;
    assert_eq!(directory.status, 201, "{}", directory.text);
    let (_, mail) = slapd
        .person(&unique("browser"), "browser-password-123")
        .await;
    let driver = Driver::start(&binary).await;
    let (browser, _profile) = driver.browser().await;
    browser
        .goto(&format!("{}/login", server.url))
        .await
        .unwrap();
    type_into(&browser, "#email", &mail).await;
    type_into(&browser, "#password", "browser-password-123").await;
    click(&browser, "#sign-in").await;
    browser
        .wait()
        .at_most(WAIT)
        .for_element(fantoccini::Locator::Css(".signout"))
        .await
        .unwrap();
    let me = browser
        .find(fantoccini::Locator::Css(".me"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(me, mail);
    browser.close().await.unwrap();
}

/// Waits until the page in `browser` has an element matching `css`.
async fn shown(browser: &fantoccini::Client, css: &str) {
    browser
        .wait()
        .at_most(WAIT)
        .for_element(fantoccini::Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_walks_a_password_reset_its_manager_approves() {
    let Some(slapd) = Slapd::from_env() else {
        return;
    };
    let Some(binary) = chromedriver() else { return };
    let clock = ManualClock::starting_at("2026-03-02T10:00:00Z".parse().unwrap());
    let Some((server, maildir)) =
        TestServer::mailing_service_desk(Backend::Sqlite, std::sync::Arc::new(clock)).await
    else {
        return;
    };
    let mut settings = slapd.settings("Corp", &slapd.ldaps, false);
    settings["manager_attribute"] = json!("manager");
    let directory = server.admin().post("/api/v1/directories", settings).await;
    assert_eq!(directory.status, 201, "{}", directory.text);
    let (boss_dn, boss_mail) = slapd.person(&unique("boss"), "boss-password-123456").await;
    let report_uid = unique("report");
    let (report_dn, report_mail) = slapd.person(&report_uid, "old-password-1234567").await;
    slapd.set(&report_dn, "manager", &boss_dn).await;
    // Both have accounts from signing in before.
    for (mail, password) in [
        (&report_mail, "old-password-1234567"),
        (&boss_mail, "boss-password-123456"),
    ] {
        let (_, status) = form_sign_in(&server.url, mail, password).await;
        assert_eq!(status, 200);
    }

    let driver = Driver::start(&binary).await;
    // The person who forgot their password asks in the portal, signed in nowhere.
    let (person, _person_profile) = driver.browser().await;
    person
        .goto(&format!("{}/portal/password", server.url))
        .await
        .unwrap();
    type_into(&person, "#login", &report_uid).await;
    click(&person, "#kind-reset").await;
    click(&person, "#proof-manager").await;
    click(&person, "#reset-request").await;
    shown(&person, "#reset-asked").await;

    // Their manager signs in with the directory password and approves from the mailed link.
    let link = approval_link(&maildir, &report_mail, 0).await;
    let (boss, _boss_profile) = driver.browser().await;
    boss.goto(&format!("{}/login", server.url)).await.unwrap();
    type_into(&boss, "#email", &boss_mail).await;
    type_into(&boss, "#password", "boss-password-123456").await;
    click(&boss, "#sign-in").await;
    shown(&boss, ".signout").await;
    boss.goto(&format!("{}{link}", server.url)).await.unwrap();
    shown(&boss, "#approval-request").await;
    click(&boss, "#approval-approve").await;
    shown(&boss, "#approval-done").await;

    // The person follows the link then mailed to them and chooses a new password.
    let finish = approved_link(&maildir, &report_mail).await;
    person
        .goto(&format!("{}{finish}", server.url))
        .await
        .unwrap();
    type_into(&person, "#password", "browser-approved-4242").await;
    type_into(&person, "#confirm", "browser-approved-4242").await;
    click(&person, "#reset-finish").await;
    shown(&person, "#reset-done").await;
    assert!(slapd.binds(&report_dn, "browser-approved-4242").await);
    assert!(!slapd.binds(&report_dn, "old-password-1234567").await);
    person.close().await.unwrap();
    boss.close().await.unwrap();
}
