//! How long the web UI's pages take with many tickets: a seeded desk of
//! `OPSDESK_BENCH_TICKETS` tickets (1,000,000 by default) on SQLite, each page fetched over
//! real HTTP with a signed-in session, medians of repeated runs.
//!
//! `cargo bench -p opsdesk --bench web_pages` (set `OPSDESK_BENCH_TICKETS=100000` for a
//! quicker run).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use opsdesk_app::Principal;
use opsdesk_testkit::{Backend, TestServer};

const PASSWORD: &str = "correct horse battery staple";
const RUNS: usize = 15;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let tickets: i64 = std::env::var("OPSDESK_BENCH_TICKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let server = TestServer::service_desk(Backend::Sqlite).await;
    let admin = server.admin();
    let id_named = |list: &serde_json::Value, name: &str| {
        // Lists are either bare arrays or pages with `items`.
        list.get("items")
            .unwrap_or(list)
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["name"] == name)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let organizations = admin.get("/api/v1/organizations").await.body;
    let (acme, globex) = (
        id_named(&organizations, "Acme"),
        id_named(&organizations, "Globex"),
    );
    let group_id = id_named(&admin.get("/api/v1/groups").await.body, "Service Desk");
    let users = server
        .app
        .users(&Principal::system("bench"), 0, 100)
        .await
        .unwrap();
    let id_of = |email: &str| users.iter().find(|u| u.email == email).unwrap().id;
    let (ann, carol, gus) = (
        id_of("ann@msp.example"),
        id_of("carol@acme.example"),
        id_of("gus@globex.example"),
    );

    let started = Instant::now();
    seed(
        &server,
        tickets,
        [acme, globex],
        [carol, gus],
        ann,
        group_id,
    )
    .await;
    println!(
        "seeded {tickets} tickets in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let agent = server.signed_in_client("ann@msp.example", PASSWORD).await;
    let customer = server
        .signed_in_client("carol@acme.example", PASSWORD)
        .await;
    let admin = server.signed_in_client("root@msp.example", PASSWORD).await;
    // Even numbers belong to Acme, so the customer may open this one.
    let middle = (tickets / 2) & !1;
    let pages: Vec<(&reqwest::Client, String)> = vec![
        (&agent, "/tickets".into()),
        (&agent, "/tickets?q=is:open&sort=priority".into()),
        (
            &agent,
            "/tickets?q=assignee:me+is:open&sort=-created".into(),
        ),
        (&agent, "/tickets?q=status:pending+priority:P1,P2".into()),
        (&agent, format!("/tickets/INC-{middle}")),
        (&customer, "/portal".into()),
        (&customer, format!("/portal/tickets/INC-{middle}")),
        (&customer, "/portal/new".into()),
        (&agent, "/dashboard".into()),
        (&agent, "/monitors".into()),
        (&admin, "/admin/users".into()),
        (&admin, "/admin/audit".into()),
        (&admin, "/admin/organizations".into()),
        (&admin, "/admin/sla".into()),
        (&admin, "/admin/quarantine".into()),
        (&admin, "/admin/jobs".into()),
        (&admin, "/admin/webhooks".into()),
    ];
    println!("| page | median | slowest of {RUNS} |");
    println!("|---|---|---|");
    for (client, path) in pages {
        let url = format!("{}{path}", server.url);
        let mut times = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let begun = Instant::now();
            let response = client.get(&url).send().await.unwrap();
            let status = response.status();
            let body = response.text().await.unwrap();
            times.push(begun.elapsed());
            assert!(status.is_success(), "{path}: {status} {body}");
        }
        times.sort();
        println!(
            "| `{path}` | {} | {} |",
            ms(times[RUNS / 2]),
            ms(times[RUNS - 1])
        );
    }
    server.stop();
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// Inserts the tickets in one statement per 100,000, straight into the table: going through
/// the application would measure ticket creation, not the pages.
async fn seed(
    server: &TestServer,
    tickets: i64,
    organizations: [i64; 2],
    requesters: [i64; 2],
    agent: i64,
    group: i64,
) {
    let mut conn = server.db.connect().await;
    const BATCH: i64 = 100_000;
    let mut first = 1;
    while first <= tickets {
        let last = (first + BATCH - 1).min(tickets);
        let sql = format!(
            "WITH RECURSIVE n(i) AS (SELECT {first} UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
             INSERT INTO tickets (ticket_type, number, title, description, status, impact, urgency, \
               priority, requester_id, organization_id, group_id, assignee_id, custom, source, \
               created_at, updated_at) \
             SELECT 'incident', i, 'Printer ' || i || ' jams on the third floor', '', \
               CASE i % 6 WHEN 0 THEN 'new' WHEN 1 THEN 'open' WHEN 2 THEN 'pending' \
                 WHEN 3 THEN 'resolved' WHEN 4 THEN 'closed' ELSE 'open' END, \
               'medium', 'medium', 1 + i % 5, \
               CASE i % 2 WHEN 0 THEN {} ELSE {} END, CASE i % 2 WHEN 0 THEN {} ELSE {} END, \
               CASE WHEN i % 3 = 0 THEN {group} END, CASE WHEN i % 10 = 0 THEN {agent} END, \
               '{{}}', 'email', 1700000000000 + i * 1000, 1700000000000 + i * 1000 FROM n",
            requesters[0], requesters[1], organizations[0], organizations[1],
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap();
        first = last + 1;
    }
    sqlx::query("UPDATE ticket_counters SET last_number = $1 WHERE ticket_type = 'incident'")
        .bind(tickets)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("ANALYZE").execute(&mut conn).await.unwrap();
}
