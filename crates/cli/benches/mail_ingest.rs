//! Messages ingested per second on SQLite: `cargo bench -p opsdesk --bench mail_ingest`.
//!
//! Each run ingests the same generated mix into a fresh database: new tickets from many
//! senders of one organization, and replies that thread by In-Reply-To. Messages arrive one
//! at a time (a pipe delivery) and 32 at a time (IMAP/LMTP with several mailboxes or
//! connections, where the SQLite writer commits concurrent ingests together).
//! Prints the median of five runs for each.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use futures::StreamExt;
use opsdesk_app::accounts::NewOrganization;
use opsdesk_app::mail::MailSettings;
use opsdesk_app::{App, AppConfig, Db, DbOptions, Principal};

const MESSAGES: usize = 2_000;
const RUNS: usize = 5;

/// The n-th message of the mix: every fourth one replies to the message before it.
fn message(run: usize, n: usize) -> Vec<u8> {
    let sender = n % 97;
    let body = "The shared drive is slow since this morning; opening a 2 MB file takes a minute.\r\n\
                Thanks,\r\nUser\r\n";
    let reply = if n % 4 == 3 {
        format!("In-Reply-To: <bench-{run}-{}@acme.example>\r\n", n - 1)
    } else {
        String::new()
    };
    format!(
        "Message-ID: <bench-{run}-{n}@acme.example>\r\n{reply}From: User {sender} <user{sender}@acme.example>\r\n\
         To: support@desk.example\r\nSubject: Shared drive slow ({n})\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    )
    .into_bytes()
}

async fn run(run: usize, concurrency: usize) -> f64 {
    let folder = tempfile::tempdir().unwrap();
    let db = Db::open(None, folder.path(), &DbOptions::default())
        .await
        .unwrap();
    let config = AppConfig {
        mail: MailSettings {
            max_per_sender_per_hour: i64::MAX,
            ..MailSettings::default()
        },
        ..AppConfig::default()
    };
    let app = App::new(db, config).unwrap();
    app.create_organization(
        &Principal::system("bench"),
        NewOrganization {
            name: "Acme".into(),
            domain: Some("acme.example".into()),
            ..NewOrganization::default()
        },
    )
    .await
    .unwrap();
    let messages: Vec<Vec<u8>> = (0..MESSAGES).map(|n| message(run, n)).collect();
    let started = Instant::now();
    let outcomes: Vec<_> = futures::stream::iter(messages)
        .map(|raw| {
            let app = app.clone();
            async move { app.ingest_mail(raw).await.unwrap() }
        })
        .buffered(concurrency)
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        outcomes
            .iter()
            .all(|o| o.status == "ticket" || o.status == "comment")
    );
    app.db().clone().close().await;
    MESSAGES as f64 / seconds
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for concurrency in [1, 32] {
        let mut rates: Vec<f64> = (0..RUNS)
            .map(|n| runtime.block_on(run(n, concurrency)))
            .collect();
        rates.sort_by(f64::total_cmp);
        println!(
            "mail ingest, SQLite, {MESSAGES} messages, {concurrency} at a time: median {:.0} messages/s (runs: {})",
            rates[RUNS / 2],
            rates
                .iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}
