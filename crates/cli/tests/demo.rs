//! The seeded generator and the demo desk: one seed always gives the same data, and
//! `opsdesk serve --demo` starts with a populated desk that the API shows, once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::time::Duration;

use opsdesk_seed::demo::{DEMO_ADMIN, DEMO_SEED, DEMO_TICKETS};
use opsdesk_testkit::generator::{Generator, Scale};
use opsdesk_testkit::{Backend, Client, ServerProcess, TestDb, dual_backend_test, run_command};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_opsdesk");
/// The demo loads before the server listens; a busy machine may take a while.
const LOAD_TIME: Duration = Duration::from_secs(120);

#[test]
fn a_seed_always_generates_the_same_desk() {
    let mut first = Generator::new(99, Scale::DEMO);
    let mut second = Generator::new(99, Scale::DEMO);
    assert_eq!(first.directory(), second.directory());
    let tickets: Vec<_> = (0..500).map(|_| first.ticket()).collect();
    assert_eq!(
        tickets,
        (0..500).map(|_| second.ticket()).collect::<Vec<_>>()
    );

    let mut other = Generator::new(100, Scale::DEMO);
    let others: Vec<_> = (0..500).map(|_| other.ticket()).collect();
    assert_ne!(tickets, others, "another seed gives other data");

    // Realistic means varied: many distinct titles, every kind of outcome, long and short.
    let titles: HashSet<&str> = tickets.iter().map(|t| t.title.as_str()).collect();
    assert!(titles.len() > 150, "only {} distinct titles", titles.len());
    let statuses: HashSet<&str> = tickets.iter().map(|t| t.outcome.status()).collect();
    assert_eq!(statuses.len(), 6, "{statuses:?}");
    let lengths: Vec<usize> = tickets.iter().map(|t| t.description.len()).collect();
    assert!(lengths.iter().max().unwrap() > &(3 * lengths.iter().min().unwrap()));
}

/// A token for `email`, made with the CLI while the server runs.
fn token(db: &TestDb, email: &str) -> String {
    let mut args = vec![
        "token".to_owned(),
        "create".into(),
        "--email".into(),
        email.into(),
    ];
    args.extend(db.cli_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_command(BIN, &args, None).trim().to_owned()
}

async fn all_tickets(client: &Client) -> Vec<Value> {
    let reply = client.get("/api/v1/tickets?limit=500").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["items"].as_array().unwrap().clone()
}

dual_backend_test!(
    serve_demo_shows_a_populated_desk_once,
    |backend: Backend| async move {
        let db = TestDb::new(backend).await;
        let mut args = db.cli_args();
        args.push("--demo".into());
        let mut server = ServerProcess::start_within(BIN, &args, &[], LOAD_TIME).await;
        let admin = Client {
            base: server.url.clone(),
            token: Some(token(&db, DEMO_ADMIN)),
            http: reqwest::Client::new(),
        };

        let tickets = all_tickets(&admin).await;
        assert_eq!(tickets.len(), DEMO_TICKETS);
        // The desk is the seed's desk: the first ticket is the generator's first ticket.
        let mut generator = Generator::new(DEMO_SEED, Scale::DEMO);
        let first = generator.ticket();
        let oldest = tickets
            .iter()
            .find(|t| {
                t["id"]
                    == tickets
                        .iter()
                        .map(|t| t["id"].as_i64().unwrap())
                        .min()
                        .unwrap()
            })
            .unwrap();
        assert_eq!(oldest["title"], first.title.as_str());

        let statuses: HashSet<&str> = tickets
            .iter()
            .map(|t| t["status"].as_str().unwrap())
            .collect();
        for status in ["new", "open", "pending", "resolved", "closed"] {
            assert!(
                statuses.contains(status),
                "no {status} ticket in {statuses:?}"
            );
        }
        let groups: HashSet<&str> = tickets
            .iter()
            .filter_map(|t| t["group"]["name"].as_str())
            .collect();
        assert!(groups.len() >= 4, "{groups:?}");

        // Conversations are there, internal notes included for staff.
        let answered = tickets.iter().find(|t| t["status"] == "closed").unwrap();
        let timeline = admin
            .get(&format!(
                "/api/v1/tickets/{}/timeline?limit=100",
                answered["number"].as_str().unwrap()
            ))
            .await;
        assert_eq!(timeline.status, 200, "{}", timeline.text);
        let kinds: Vec<&str> = timeline.body["items"]
            .as_array()
            .or(timeline.body.as_array())
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert!(
            kinds.contains(&"created") && kinds.contains(&"comment"),
            "{kinds:?}"
        );

        // Full-text search finds generated words.
        let printers = admin.get("/api/v1/tickets?q=printer").await;
        assert_eq!(printers.status, 200, "{}", printers.text);
        assert!(!printers.body["items"].as_array().unwrap().is_empty());

        // A customer sees only their own tickets.
        let requester = oldest["requester"]["email"].as_str().unwrap().to_owned();
        let customer = Client {
            token: Some(token(&db, &requester)),
            ..admin.clone()
        };
        let own = all_tickets(&customer).await;
        assert!(!own.is_empty());
        assert!(
            own.iter()
                .all(|t| t["requester"]["email"] == requester.as_str())
        );

        // Restarting with --demo keeps the desk as it is.
        server.kill();
        let server = ServerProcess::start_within(BIN, &args, &[], LOAD_TIME).await;
        let admin = Client {
            base: server.url.clone(),
            ..admin
        };
        assert_eq!(all_tickets(&admin).await.len(), DEMO_TICKETS);
    }
);
