//! Sessions, tokens and the second factor through the API and the sign-in form: people see
//! and revoke their own sessions, admins anyone's, "sign out everywhere" ends sessions and
//! tokens at once; an authenticator app's codes are checked on the test's clock, each
//! works once, recovery codes work once, and a challenge allows five tries for five minutes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use opsdesk_app::ManualClock;
use opsdesk_testkit::{
    Backend, PASSWORD, TestServer, dual_backend_test, page_csrf_token, page_text,
};
use serde_json::{Value, json};

const NOW: &str = "2026-03-02T10:00:00Z";

/// A cookie-keeping client that calls itself `agent`, as a browser would.
fn browser(agent: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .user_agent(agent)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in through the API; returns the status and body.
async fn api_sign_in(server: &TestServer, client: &reqwest::Client, email: &str) -> (u16, Value) {
    let reply = client
        .post(format!("{}/api/v1/session", server.url))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    (reply.status().as_u16(), reply.json().await.unwrap())
}

async fn answer(server: &TestServer, client: &reqwest::Client, challenge: &str, code: &str) -> u16 {
    client
        .post(format!("{}/api/v1/session/second-factor", server.url))
        .json(&json!({"challenge": challenge, "code": code}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Whether `client`'s session still opens the API.
async fn signed_in(server: &TestServer, client: &reqwest::Client) -> bool {
    client
        .get(format!("{}/api/v1/me", server.url))
        .send()
        .await
        .unwrap()
        .status()
        == 200
}

/// The authenticator app's code for `secret` at the clock's time.
fn code(secret: &str, clock: &ManualClock) -> String {
    use opsdesk_app::Clock;
    let totp = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
        .build()
        .unwrap();
    let seconds = u64::try_from(clock.now().as_second()).unwrap();
    totp.generate(seconds).to_string()
}

dual_backend_test!(
    people_see_and_revoke_their_sessions,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let carol = server.client(&server.token_for("carol@acme.example").await);
        let gus = server.client(&server.token_for("gus@globex.example").await);
        let admin = server.admin();

        let laptop = browser("Laptop/1.0");
        let phone = browser("Phone/2.0");
        for client in [&laptop, &phone] {
            let (status, body) = api_sign_in(&server, client, "carol@acme.example").await;
            assert_eq!(status, 200, "{body}");
        }

        let listed = carol.get("/api/v1/sessions").await;
        assert_eq!(listed.status, 200, "{}", listed.text);
        let sessions = listed.body.as_array().unwrap();
        assert_eq!(sessions.len(), 2, "{}", listed.text);
        let agents: Vec<&str> = sessions
            .iter()
            .map(|s| s["user_agent"].as_str().unwrap())
            .collect();
        assert!(agents.contains(&"Laptop/1.0") && agents.contains(&"Phone/2.0"));
        assert!(sessions.iter().all(|s| s["method"] == "password"));
        assert!(sessions.iter().all(|s| s["client_ip"] == "127.0.0.1"));
        let phone_id = sessions
            .iter()
            .find(|s| s["user_agent"] == "Phone/2.0")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();

        // Another customer can neither list nor end carol's sessions, nor learn they exist.
        let carol_id = server.user_id("carol@acme.example").await;
        let peek = gus
            .get(&format!("/api/v1/sessions?user_id={carol_id}"))
            .await;
        assert_eq!(peek.status, 403, "{}", peek.text);
        let foreign = gus.delete(&format!("/api/v1/sessions/{phone_id}")).await;
        assert_eq!(foreign.status, 404, "{}", foreign.text);
        assert!(signed_in(&server, &phone).await);

        // The session a browser is using is marked as its own.
        let own = phone
            .get(format!("{}/api/v1/sessions", server.url))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        let current: Vec<&Value> = own
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["current"] == true)
            .collect();
        assert_eq!(current.len(), 1);
        assert_eq!(current[0]["id"], phone_id.as_str());

        let revoked = carol.delete(&format!("/api/v1/sessions/{phone_id}")).await;
        assert_eq!(revoked.status, 204, "{}", revoked.text);
        assert!(!signed_in(&server, &phone).await);
        assert!(signed_in(&server, &laptop).await);
        let again = carol.delete(&format!("/api/v1/sessions/{phone_id}")).await;
        assert_eq!(again.status, 404);

        // An admin sees carol's remaining session and signs her out everywhere: the
        // session and every token stop working at once.
        let by_admin = admin
            .get(&format!("/api/v1/sessions?user_id={carol_id}"))
            .await;
        assert_eq!(
            by_admin.body.as_array().unwrap().len(),
            1,
            "{}",
            by_admin.text
        );
        let everything = admin
            .post(
                &format!("/api/v1/users/{carol_id}/revoke-access"),
                json!({}),
            )
            .await;
        assert_eq!(everything.status, 200, "{}", everything.text);
        assert_eq!(everything.body["sessions"], 1);
        assert!(everything.body["tokens"].as_u64().unwrap() >= 1);
        assert!(!signed_in(&server, &laptop).await);
        assert_eq!(carol.get("/api/v1/me").await.status, 401);

        // It is in the audit log, by the admin.
        let audit = admin.get("/api/v1/audit?entity=session&limit=50").await;
        assert_eq!(audit.status, 200, "{}", audit.text);
        assert!(
            audit.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "revoked"
                    && e["entity_id"].as_str() == Some(carol_id.to_string().as_str())),
            "{}",
            audit.text
        );

        // A customer cannot sign anyone else out.
        let gus_tries = gus
            .post(
                &format!("/api/v1/users/{carol_id}/revoke-access"),
                json!({}),
            )
            .await;
        assert_eq!(gus_tries.status, 403);
    }
);

dual_backend_test!(
    an_authenticator_app_guards_a_local_password,
    |backend: Backend| async move {
        let clock = ManualClock::starting_at(NOW.parse::<Timestamp>().unwrap());
        let server = TestServer::service_desk_on_clock(backend, Arc::new(clock.clone())).await;
        let carol = server.client(&server.token_for("carol@acme.example").await);
        let carol_id = server.user_id("carol@acme.example").await;

        let off = carol.get("/api/v1/me/second-factor").await;
        assert_eq!(off.body["enabled"], false, "{}", off.text);
        assert_eq!(off.body["available"], true);

        let begun = carol.post("/api/v1/me/second-factor", json!({})).await;
        assert_eq!(begun.status, 201, "{}", begun.text);
        let secret = begun.body["secret"].as_str().unwrap().to_owned();
        assert!(
            begun.body["otpauth_uri"]
                .as_str()
                .unwrap()
                .starts_with("otpauth://totp/opsdesk:carol%40acme.example?"),
            "{}",
            begun.text
        );

        // Until a code confirms it, the password alone still signs in.
        let (status, _) = api_sign_in(&server, &browser("A"), "carol@acme.example").await;
        assert_eq!(status, 200);

        let wrong = carol
            .post(
                "/api/v1/me/second-factor/confirm",
                json!({"code": "000000"}),
            )
            .await;
        assert_eq!(wrong.status, 422, "{}", wrong.text);
        assert_eq!(wrong.body["errors"][0]["field"], "code");
        let first_code = code(&secret, &clock);
        let confirmed = carol
            .post(
                "/api/v1/me/second-factor/confirm",
                json!({"code": first_code}),
            )
            .await;
        assert_eq!(confirmed.status, 200, "{}", confirmed.text);
        let recovery: Vec<String> = confirmed.body["codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(recovery.len(), 10);

        // Now a right password only earns a challenge.
        let client = browser("B");
        let (status, body) = api_sign_in(&server, &client, "carol@acme.example").await;
        assert_eq!(status, 202, "{body}");
        let challenge = body["challenge"].as_str().unwrap().to_owned();
        assert!(!signed_in(&server, &client).await);
        // The code used to confirm was spent; the same time step's code is refused.
        assert_eq!(answer(&server, &client, &challenge, &first_code).await, 422);
        clock.advance(SignedDuration::from_secs(30));
        assert_eq!(
            answer(&server, &client, &challenge, &code(&secret, &clock)).await,
            200
        );
        assert!(signed_in(&server, &client).await);
        let sessions = carol.get("/api/v1/sessions").await;
        assert!(
            sessions
                .body
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["method"] == "password+totp"),
            "{}",
            sessions.text
        );
        // The challenge is gone once met.
        assert_eq!(answer(&server, &client, &challenge, "123456").await, 401);

        // A recovery code works once, typed with any case or spacing.
        let (_, body) = api_sign_in(&server, &browser("C"), "carol@acme.example").await;
        let typed = recovery[0].to_uppercase().replace('-', " ");
        assert_eq!(
            answer(
                &server,
                &browser("C"),
                body["challenge"].as_str().unwrap(),
                &typed
            )
            .await,
            200
        );
        let (_, body) = api_sign_in(&server, &browser("D"), "carol@acme.example").await;
        assert_eq!(
            answer(
                &server,
                &browser("D"),
                body["challenge"].as_str().unwrap(),
                &recovery[0]
            )
            .await,
            422
        );
        let status = carol.get("/api/v1/me/second-factor").await;
        assert_eq!(status.body["recovery_codes_left"], 9, "{}", status.text);

        // Five wrong codes end a challenge; so do five minutes.
        let (_, body) = api_sign_in(&server, &browser("E"), "carol@acme.example").await;
        let guessed = body["challenge"].as_str().unwrap().to_owned();
        for _ in 0..5 {
            assert_eq!(
                answer(&server, &browser("E"), &guessed, "999999").await,
                422
            );
        }
        clock.advance(SignedDuration::from_secs(30));
        assert_eq!(
            answer(&server, &browser("E"), &guessed, &code(&secret, &clock)).await,
            401
        );
        let (_, body) = api_sign_in(&server, &browser("F"), "carol@acme.example").await;
        let late = body["challenge"].as_str().unwrap().to_owned();
        clock.advance(SignedDuration::from_mins(6));
        assert_eq!(
            answer(&server, &browser("F"), &late, &code(&secret, &clock)).await,
            401
        );

        // Turning it off takes a current code; an admin can do it for someone who lost it.
        let refused = carol
            .send(
                carol
                    .request(reqwest::Method::DELETE, "/api/v1/me/second-factor")
                    .json(&json!({"code": "000000"})),
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        let gus = server.client(&server.token_for("gus@globex.example").await);
        let not_yours = gus
            .delete(&format!("/api/v1/users/{carol_id}/second-factor"))
            .await;
        assert_eq!(not_yours.status, 403);
        let reset = server
            .admin()
            .delete(&format!("/api/v1/users/{carol_id}/second-factor"))
            .await;
        assert_eq!(reset.status, 204, "{}", reset.text);
        let (status, _) = api_sign_in(&server, &browser("G"), "carol@acme.example").await;
        assert_eq!(status, 200);
    }
);

dual_backend_test!(
    the_sign_in_form_asks_for_the_code,
    |backend: Backend| async move {
        let clock = ManualClock::starting_at(NOW.parse::<Timestamp>().unwrap());
        let server = TestServer::service_desk_on_clock(backend, Arc::new(clock.clone())).await;
        let (web, csrf) = server.web_session("ann@msp.example").await;
        // Adding the authenticator on the account page shows its QR code and key.
        let page = web
            .post(format!("{}/account/second-factor", server.url))
            .form(&[("csrf_token", csrf.as_str())])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("<svg"), "{page}");
        let secret = page
            .split("id=\"totp-secret\">")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .unwrap()
            .to_owned();
        let confirmed = web
            .post(format!("{}/account/second-factor/confirm", server.url))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("code", &code(&secret, &clock)),
            ])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(confirmed.matches("<li><code>").count(), 10, "{confirmed}");

        // Signing in through the form now stops at the code page.
        clock.advance(SignedDuration::from_secs(30));
        let client = browser("Form/1.0");
        let form = page_text(&client, format!("{}/login", server.url)).await;
        let asked = client
            .post(format!("{}/login", server.url))
            .form(&[
                ("email", "ann@msp.example"),
                ("password", PASSWORD),
                ("csrf_token", &page_csrf_token(&form)),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(asked.status(), 200);
        let asked = asked.text().await.unwrap();
        assert!(asked.contains("action=\"/login/second-factor\""), "{asked}");
        assert_eq!(
            client
                .get(format!("{}/tickets", server.url))
                .send()
                .await
                .unwrap()
                .status(),
            303,
            "not signed in before the code"
        );
        let wrong = client
            .post(format!("{}/login/second-factor", server.url))
            .form(&[("code", "000000"), ("csrf_token", &page_csrf_token(&asked))])
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
        let again = wrong.text().await.unwrap();
        let done = client
            .post(format!("{}/login/second-factor", server.url))
            .form(&[
                ("code", code(&secret, &clock).as_str()),
                ("csrf_token", &page_csrf_token(&again)),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), 303);
        let tickets = client
            .get(format!("{}/tickets", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(tickets.status(), 200);

        // The account page lists this browser's session as its own.
        let account = page_text(&client, format!("{}/account", server.url)).await;
        assert!(account.contains("Form/1.0"), "{account}");
        assert!(account.contains("data-current=\"true\""), "{account}");
    }
);
