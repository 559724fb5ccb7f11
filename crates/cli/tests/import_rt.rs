//! `opsdesk import rt` against a real Request Tracker 5 (.ci/setup.d/60-request-tracker.sh):
//! tickets made in RT through its REST2 API come in with their correspondence, comments,
//! authors, times, files and Message-IDs, findable by their RT number; a dry run writes
//! nothing, a second run brings nothing twice, and the reconciliation finds nothing missing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use opsdesk_testkit::{Backend, TestServer, dual_backend_test, service_setting, sqlx};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_opsdesk");

/// A file with every byte value, so that any re-encoding on the way shows.
fn log_file() -> Vec<u8> {
    (0..=255u8).chain(b"end of log\n".iter().copied()).collect()
}

/// Request Tracker's REST2 API with the CI's token.
struct Rt {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl Rt {
    fn from_env() -> Option<Rt> {
        let url = service_setting("OPSDESK_TEST_RT_URL", ".ci/setup.d/60-request-tracker.sh")?;
        let token = service_setting("OPSDESK_TEST_RT_TOKEN", ".ci/setup.d/60-request-tracker.sh")?;
        Some(Rt {
            url,
            token,
            http: reqwest::Client::new(),
        })
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}/REST/2.0{path}", self.url))
            .header("Authorization", format!("token {}", self.token));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "RT {path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        self.send(reqwest::Method::GET, path, None).await
    }

    /// RT's transactions of a ticket that are messages: (type, time, Message-ID).
    async fn messages(&self, id: &str) -> Vec<(String, String, String)> {
        let history = self
            .get(&format!(
                "/ticket/{id}/history?fields=Type,Created&per_page=100"
            ))
            .await;
        let attachments = self
            .get(&format!(
                "/ticket/{id}/attachments?fields=TransactionId,MessageId&per_page=100"
            ))
            .await;
        history["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| ["Create", "Correspond", "Comment"].contains(&t["Type"].as_str().unwrap()))
            .map(|t| {
                let message_id = attachments["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|a| a["TransactionId"] == t["id"] && a["MessageId"] != "")
                    .map(|a| a["MessageId"].as_str().unwrap().to_owned())
                    .unwrap();
                (
                    t["Type"].as_str().unwrap().to_owned(),
                    t["Created"].as_str().unwrap().to_owned(),
                    message_id,
                )
            })
            .collect()
    }
}

async fn import(server: &TestServer, rt: &Rt, flags: &[&str]) -> (bool, String) {
    let mut args = vec!["import", "rt", "--url", &rt.url, "--token", &rt.token];
    args.extend(flags);
    server.run_cli(BIN, &args).await
}

async fn count(server: &TestServer, sql: &'static str) -> i64 {
    let mut conn = server.db.connect().await;
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut conn).await.unwrap();
    n
}

dual_backend_test!(
    request_tracker_tickets_come_in_complete_once_and_reconcile,
    |backend: Backend| async move {
        let Some(rt) = Rt::from_env() else { return };
        // A queue of this test's own: other runs share the RT.
        let queue = format!("Import {backend:?} {}", uuid::Uuid::new_v4().simple());
        rt.post("/queue", json!({"Name": queue})).await;
        let vpn = rt
            .post(
                "/ticket",
                json!({"Queue": queue, "Subject": "VPN drops every hour",
                       "Requestor": "carol@acme.example",
                       "Content": "The tunnel falls over at ten past each hour.",
                       "ContentType": "text/plain"}),
            )
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let log = log_file();
        rt.post(
            &format!("/ticket/{vpn}/correspond"),
            json!({"Content": "Here is the concentrator's log.", "ContentType": "text/plain",
                   "Attachments": [{"FileName": "vpn.log", "FileType": "application/octet-stream",
                                    "FileContent": base64(&log)}]}),
        )
        .await;
        rt.post(
            &format!("/ticket/{vpn}/comment"),
            json!({"Content": "Idle timeout is 60 minutes on the concentrator",
                   "ContentType": "text/plain"}),
        )
        .await;
        rt.send(
            reqwest::Method::PUT,
            &format!("/ticket/{vpn}"),
            Some(json!({"Status": "resolved"})),
        )
        .await;
        let laptop = rt
            .post(
                "/ticket",
                json!({"Queue": queue, "Subject": "Laptop for a new starter",
                       "Requestor": "dora@initech.example", "Content": "Needed by Monday.",
                       "ContentType": "text/plain", "Status": "open", "Priority": 70}),
            )
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let rt_vpn = rt.get(&format!("/ticket/{vpn}")).await;
        let rt_messages = rt.messages(&vpn).await;
        assert_eq!(rt_messages.len(), 3, "{rt_messages:?}");

        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let tickets = "SELECT count(*) FROM tickets";
        let before = count(&server, tickets).await;
        let only_ours = ["--queue", queue.as_str()];

        let (ok, text) = import(&server, &rt, &[&only_ours[..], &["--dry-run"]].concat()).await;
        assert!(!ok, "people who do not exist are refused: {text}");
        assert!(
            text.contains("does not exist (--create-missing creates it)"),
            "{text}"
        );
        let (ok, text) = import(
            &server,
            &rt,
            &[&only_ours[..], &["--dry-run", "--create-missing"]].concat(),
        )
        .await;
        assert!(ok, "{text}");
        assert!(
            text.contains("2 tickets, 0 imported before, 2 to import"),
            "{text}"
        );
        assert!(text.contains("dry run: nothing was written"), "{text}");
        assert_eq!(count(&server, tickets).await, before);

        let folder = tempfile::tempdir().unwrap();
        let report_file = folder.path().join("report.json");
        let report_path = report_file.to_str().unwrap();
        let (ok, text) = import(
            &server,
            &rt,
            &[
                &only_ours[..],
                &["--create-missing", "--report", report_path],
            ]
            .concat(),
        )
        .await;
        assert!(ok, "{text}");
        assert!(text.contains("imported 2 tickets"), "{text}");
        assert!(text.contains("nothing missing"), "{text}");
        assert_eq!(count(&server, tickets).await, before + 2);
        assert_eq!(
            count(&server, "SELECT count(*) FROM jobs").await,
            0,
            "an import queues no mail and no webhook"
        );
        let report: Value = serde_json::from_slice(&std::fs::read(&report_file).unwrap()).unwrap();
        assert_eq!(report["nothing_missing"], true, "{report}");
        assert_eq!(report["rt_totals"]["tickets"], 2, "{report}");
        assert_eq!(report["rt_totals"]["attachments"], 1, "{report}");
        assert_eq!(report["rt_totals"], report["opsdesk_totals"], "{report}");
        for ticket in report["tickets"].as_array().unwrap() {
            assert_eq!(ticket["rt"], ticket["opsdesk"], "{ticket}");
        }

        // The RT number is an alias the search language finds.
        let found = admin.get(&format!("/api/v1/tickets?q=tag:rt-{vpn}")).await;
        assert_eq!(found.status, 200, "{}", found.text);
        assert_eq!(
            found.body["items"].as_array().unwrap().len(),
            1,
            "{}",
            found.text
        );
        let number = found.body["items"][0]["number"]
            .as_str()
            .unwrap()
            .to_owned();
        let ticket = admin.get(&format!("/api/v1/tickets/{number}")).await.body;
        assert_eq!(ticket["title"], "VPN drops every hour");
        assert_eq!(
            ticket["description"],
            "The tunnel falls over at ten past each hour."
        );
        assert_eq!(ticket["status"], "resolved");
        assert_eq!(ticket["source"], "import");
        assert_eq!(ticket["group"]["name"], queue.as_str());
        assert_eq!(ticket["requester"]["email"], "carol@acme.example");
        assert_eq!(ticket["created_at"], rt_vpn["Created"]);
        assert_eq!(ticket["resolved_at"], rt_vpn["Resolved"]);

        let timeline = admin
            .get(&format!("/api/v1/tickets/{number}/timeline?limit=100"))
            .await;
        let entries = timeline.body["items"].as_array().unwrap();
        let reply = entries.iter().find(|e| e["kind"] == "comment").unwrap();
        assert_eq!(reply["data"]["body"], "Here is the concentrator's log.");
        assert_eq!(reply["data"]["author"], "root@rt.opsdesk.test");
        assert_eq!(reply["at"], rt_messages[1].1.as_str());
        let note = entries.iter().find(|e| e["kind"] == "note").unwrap();
        assert_eq!(
            note["data"]["body"],
            "Idle timeout is 60 minutes on the concentrator"
        );
        assert_eq!(note["public"], false);
        assert_eq!(note["at"], rt_messages[2].1.as_str());

        let files = admin
            .get(&format!("/api/v1/tickets/{number}/attachments"))
            .await;
        assert_eq!(files.status, 200, "{}", files.text);
        let file = &files.body[0];
        assert_eq!(file["filename"], "vpn.log");
        let bytes = admin
            .http
            .get(format!("{}/api/v1/attachments/{}", admin.base, file["id"]))
            .bearer_auth(admin.token.as_deref().unwrap())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(
            bytes.as_ref(),
            log.as_slice(),
            "the file comes in byte for byte"
        );

        // Replies to RT's mail thread into the ticket: its Message-IDs are known.
        let mut conn = server.db.connect().await;
        for (_, _, message_id) in &rt_messages {
            let (threaded,): (i64,) = sqlx::query_as(
                "SELECT count(*) FROM mail_messages m JOIN tickets t ON t.id = m.ticket_id \
                 WHERE m.message_id = $1 AND t.title = 'VPN drops every hour'",
            )
            .bind(message_id)
            .fetch_one(&mut conn)
            .await
            .unwrap();
            assert_eq!(threaded, 1, "{message_id}");
        }

        let laptop_found = admin
            .get(&format!("/api/v1/tickets?q=tag:rt-{laptop}"))
            .await;
        let laptop_ticket = &laptop_found.body["items"][0];
        assert_eq!(laptop_ticket["status"], "open", "{}", laptop_found.text);
        assert_eq!(laptop_ticket["priority"], "P2", "{}", laptop_found.text);

        let (ok, text) = import(&server, &rt, &only_ours).await;
        assert!(ok, "{text}");
        assert!(
            text.contains("2 tickets, 2 imported before, 0 to import"),
            "{text}"
        );
        assert!(text.contains("imported 0 tickets"), "{text}");
        assert!(text.contains("nothing missing"), "{text}");
        assert_eq!(count(&server, tickets).await, before + 2);
    }
);

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
