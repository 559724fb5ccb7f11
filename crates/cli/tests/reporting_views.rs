//! The read-only views offered to Grafana and BI tools: a ticket, a change and an outage as
//! the views show them, with names for ids and real times, on both databases.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use opsdesk_app::ManualClock;
use opsdesk_testkit::{Backend, TestServer, dual_backend_test, sqlx};
use serde_json::json;
use sqlx::Row;

dual_backend_test!(
    the_reporting_views_name_what_the_ids_point_at,
    |backend: Backend| async move {
        let opened: Timestamp = "2026-03-02T09:00:00Z".parse().unwrap();
        let clock = Arc::new(ManualClock::starting_at(opened));
        let server = TestServer::service_desk_on_clock(backend, clock.clone()).await;
        let admin = server.admin();
        let created = admin
            .post(
                "/api/v1/tickets",
                json!({"type": "incident", "title": "Printer jam", "impact": "high", "urgency": "high",
                       "group": "Service Desk", "category": "Printer",
                       "requester": "carol@acme.example", "assignee": "ann@msp.example"}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        clock.advance(SignedDuration::from_mins(90));
        let resolved = admin
            .patch(
                "/api/v1/tickets/INC-1",
                json!({"status": "resolved", "resolution_code": "fixed"}),
                None,
            )
            .await;
        assert_eq!(resolved.status, 200, "{}", resolved.text);

        let mut conn = server.db.connect().await;
        let created_at = match backend {
            // Grafana's SQLite source reads ISO 8601 text; PostgreSQL's reads timestamptz.
            Backend::Sqlite => "created_at",
            Backend::Postgres => {
                "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || 'Z'"
            }
        };
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT number, status, priority, organization, support_group, assignee, requester, \
             category, {created_at} AS opened, CAST(minutes_to_resolve AS DOUBLE PRECISION) AS minutes \
             FROM report_tickets"
        )))
        .fetch_one(&mut conn)
        .await
        .unwrap();
        let text = |column: &str| row.get::<Option<String>, _>(column).unwrap_or_default();
        assert_eq!(text("number"), "INC-1");
        assert_eq!(text("status"), "resolved");
        assert_eq!(text("priority"), "P1");
        assert_eq!(text("organization"), "Acme");
        assert_eq!(text("support_group"), "Service Desk");
        assert_eq!(text("assignee"), "ann@msp.example");
        assert_eq!(text("requester"), "carol@acme.example");
        assert_eq!(text("category"), "Printer");
        assert!(
            text("opened").starts_with("2026-03-02T09:00:00"),
            "{}",
            text("opened")
        );
        assert_eq!(row.get::<f64, _>("minutes"), 90.0);

        // Every view answers on this database.
        for view in ["report_outages", "report_changes", "report_satisfaction"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {view}")))
                .fetch_one(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{view}: {e}"));
        }
    }
);
