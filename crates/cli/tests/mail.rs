//! The mail channel on SQLite and PostgreSQL: the corpus becomes the tickets and comments it
//! should, each message exactly once (redelivery, failure mid-ingest), loops are recorded and
//! not answered, unroutable mail waits in quarantine, and `opsdesk mail ingest` speaks sysexits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};

use opsdesk_app::accounts::NewOrganization;
use opsdesk_app::mail::{IngestOutcome, MailSettings};
use opsdesk_app::tickets::AttachmentSource;
use opsdesk_app::{AppConfig, Principal};
use opsdesk_testkit::{Backend, TestDb, TestServer, dual_backend_test};

fn corpus(name: &str) -> Vec<u8> {
    let path = format!("{}/../mail/tests/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(path).unwrap()
}

async fn desk(backend: Backend, mail: MailSettings) -> TestServer {
    let server = TestServer::start_with(
        TestDb::new(backend).await,
        opsdesk_http::HttpConfig::default(),
        AppConfig {
            mail,
            ..AppConfig::default()
        },
    )
    .await;
    organization(&server, "Acme", "acme.example").await;
    server
}

async fn organization(server: &TestServer, name: &str, domain: &str) {
    server
        .app
        .create_organization(
            &Principal::system("test"),
            NewOrganization {
                name: name.into(),
                domain: Some(domain.into()),
                ..NewOrganization::default()
            },
        )
        .await
        .unwrap();
}

async fn ingest(server: &TestServer, name: &str) -> IngestOutcome {
    server.app.ingest_mail(corpus(name)).await.unwrap()
}

async fn ticket_count(server: &TestServer) -> usize {
    server
        .app
        .search_tickets(&Principal::system("test"), "", None, 500)
        .await
        .unwrap()
        .items
        .len()
}

async fn comments(server: &TestServer, number: &str) -> Vec<String> {
    server
        .app
        .ticket_timeline(&Principal::system("test"), number, 0, 500)
        .await
        .unwrap()
        .into_iter()
        .filter(|entry| entry.kind == "comment")
        .map(|entry| entry.data["body"].as_str().unwrap().to_owned())
        .collect()
}

dual_backend_test!(
    corpus_becomes_tickets_and_comments,
    |backend: Backend| async move {
        let server = desk(backend, MailSettings::default()).await;
        let system = Principal::system("test");

        let first = ingest(&server, "gmail_new.eml").await;
        assert_eq!(
            (first.status.as_str(), first.duplicate),
            ("ticket", false),
            "{first:?}"
        );
        let number = first.ticket.clone().unwrap();
        assert_eq!(number, "INC-1", "the corpus's Outlook reply names INC-1");
        let ticket = server.app.ticket(&system, &number).await.unwrap();
        assert_eq!(ticket.title, "Printer on floor 3 is jammed");
        assert!(ticket.description.contains("paper jam in tray 2"));
        assert_eq!(ticket.requester.email, "carol@acme.example");
        assert_eq!(ticket.requester.name, "Carol Smith");
        assert_eq!(ticket.organization.as_ref().unwrap().name, "Acme");
        assert_eq!(ticket.source.as_str(), "email");

        // By In-Reply-To, trimmed of the quote.
        let reply = ingest(&server, "gmail_reply.eml").await;
        assert_eq!(
            (reply.status.as_str(), reply.ticket.as_deref()),
            ("comment", Some("INC-1"))
        );
        // By the number in the subject; Dan is a new customer of Acme, by his domain.
        let outlook = ingest(&server, "outlook_reply.eml").await;
        assert_eq!(
            outlook.status, "ticket",
            "Dan is not party to INC-1: {outlook:?}"
        );
        assert_eq!(
            comments(&server, "INC-1").await,
            ["Still broken after a restart."]
        );

        let expected = [
            (
                "apple_mail_inline_image.eml",
                "VPN drops every ten minutes",
                "The VPN client disconnects every ten minutes. Screenshot attached.",
            ),
            (
                "thunderbird_attachment.eml",
                "Invoice scanner saves blank pages",
                "The scanner in room 12 saves every page blank. A sample is attached.",
            ),
            (
                "forwarded.eml",
                "Password expiry warning",
                "Your password expires in 2 days but the change page gives error 500.",
            ),
            (
                "iso_8859_1.eml",
                "Drucker fällt aus",
                "Grüße aus München,\nder Drucker im 2. Stock fällt ständig aus.",
            ),
            (
                "shift_jis.eml",
                "プリンター故障",
                "プリンターが動きません。至急対応をお願いします。",
            ),
            (
                "malformed_headers.eml",
                "Monitor flickers",
                "The monitor on desk 4 flickers.",
            ),
            (
                "no_message_id.eml",
                "Keyboard missing keys",
                "The keyboard at reception is missing the Q key.",
            ),
            (
                "html_only.eml",
                "Teams camera",
                "The camera does not work in Teams.\nx",
            ),
        ];
        for (file, title, description) in expected {
            let outcome = ingest(&server, file).await;
            assert_eq!(outcome.status, "ticket", "{file}: {outcome:?}");
            let ticket = server
                .app
                .ticket(&system, outcome.ticket.as_deref().unwrap())
                .await
                .unwrap();
            assert_eq!(ticket.title, title, "{file}");
            assert_eq!(ticket.description.trim(), description, "{file}");
        }

        let apple = server
            .app
            .search_tickets(&system, "VPN", None, 10)
            .await
            .unwrap();
        let apple_number = apple.items[0].ticket.number.clone();
        let files = server
            .app
            .attachments(&system, &apple_number)
            .await
            .unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(
            (files[0].filename.as_str(), files[0].inline),
            ("screenshot.png", true)
        );
        assert_eq!(
            files[0].content_id.as_deref(),
            Some("screenshot-1@acme.example")
        );
        let (_, bytes) = server.app.attachment(&system, files[0].id).await.unwrap();
        assert!(bytes.starts_with(b"\x89PNG"));

        // Automatic mail is recorded, joins the ticket it concerns, and opens nothing.
        let before = ticket_count(&server).await;
        let ooo = ingest(&server, "auto_reply.eml").await;
        assert_eq!(
            (ooo.status.as_str(), ooo.ticket.as_deref()),
            ("auto_reply", Some("INC-1"))
        );
        assert_eq!(
            ingest(&server, "bulk_newsletter.eml").await.status,
            "auto_reply"
        );
        let bounce = ingest(&server, "bounce.eml").await;
        assert_eq!(bounce.status, "bounce");
        assert_eq!(ticket_count(&server).await, before);
        assert_eq!(comments(&server, "INC-1").await.len(), 1);

        // Redelivery of every message, with or without a Message-ID, writes nothing.
        for file in [
            "gmail_new.eml",
            "gmail_reply.eml",
            "no_message_id.eml",
            "auto_reply.eml",
        ] {
            let again = ingest(&server, file).await;
            assert!(again.duplicate, "{file}: {again:?}");
        }
        assert_eq!(ticket_count(&server).await, before);
        assert_eq!(comments(&server, "INC-1").await.len(), 1);

        // The original stays downloadable.
        let original = server
            .app
            .mail_original(&system, first.mail_id)
            .await
            .unwrap();
        assert_eq!(original, corpus("gmail_new.eml"));
    }
);

dual_backend_test!(
    a_failure_mid_ingest_loses_and_duplicates_nothing,
    |backend: Backend| async move {
        let server = desk(backend, MailSettings::default()).await;
        let mut conn = server.db.connect().await;
        // The last write of the ingest (the attachment) fails, as a crash there would.
        let (install, remove) = match backend {
            Backend::Sqlite => (
                "CREATE TRIGGER fail_attachment BEFORE INSERT ON attachments \
             BEGIN SELECT RAISE(ABORT, 'disk on fire'); END",
                "DROP TRIGGER fail_attachment",
            ),
            Backend::Postgres => (
                "CREATE FUNCTION fail_attachment() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$; \
             CREATE TRIGGER fail_attachment BEFORE INSERT ON attachments \
             FOR EACH ROW EXECUTE FUNCTION fail_attachment()",
                "DROP TRIGGER fail_attachment ON attachments",
            ),
        };
        sqlx::raw_sql(install).execute(&mut conn).await.unwrap();
        let failed = server
            .app
            .ingest_mail(corpus("thunderbird_attachment.eml"))
            .await;
        assert!(failed.is_err(), "{failed:?}");
        assert_eq!(ticket_count(&server).await, 0);
        let (records,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM mail_messages")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let (users,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM users WHERE email = 'frank@acme.example'")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!((records, users), (0, 0));

        sqlx::raw_sql(remove).execute(&mut conn).await.unwrap();
        let retried = ingest(&server, "thunderbird_attachment.eml").await;
        assert_eq!(
            (retried.status.as_str(), retried.duplicate),
            ("ticket", false)
        );
        let again = ingest(&server, "thunderbird_attachment.eml").await;
        assert!(again.duplicate);
        assert_eq!(ticket_count(&server).await, 1);
        let files = server
            .app
            .attachments(
                &Principal::system("test"),
                retried.ticket.as_deref().unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(files.len(), 1);
    }
);

dual_backend_test!(
    quarantine_keeps_unroutable_mail_for_reprocessing,
    |backend: Backend| async move {
        let server = desk(backend, MailSettings::default()).await;
        let admin = Principal::system("test");
        let stranger = ingest(&server, "unknown_sender.eml").await;
        assert_eq!(stranger.status, "quarantined");
        assert!(
            stranger
                .reason
                .as_deref()
                .unwrap()
                .contains("elsewhere.example"),
            "{stranger:?}"
        );
        let nobody = ingest(&server, "no_from.eml").await;
        assert_eq!(nobody.status, "quarantined");
        assert!(
            nobody.reason.as_deref().unwrap().contains("From"),
            "{nobody:?}"
        );

        let held = server
            .app
            .quarantined_mail(&admin, i64::MAX, 50)
            .await
            .unwrap();
        assert_eq!(held.len(), 2);
        assert_eq!(held[1].address, "someone@elsewhere.example");

        // Once the domain belongs to an organization, the message can be filed.
        organization(&server, "Elsewhere", "elsewhere.example").await;
        let filed = server
            .app
            .reprocess_mail(&admin, stranger.mail_id)
            .await
            .unwrap();
        assert_eq!(
            (filed.status.as_str(), filed.mail_id),
            ("ticket", stranger.mail_id)
        );
        let ticket = server
            .app
            .ticket(&admin, filed.ticket.as_deref().unwrap())
            .await
            .unwrap();
        assert_eq!(ticket.title, "Please help");
        assert_eq!(
            server
                .app
                .quarantined_mail(&admin, i64::MAX, 50)
                .await
                .unwrap()
                .len(),
            1
        );
        let twice = server.app.reprocess_mail(&admin, stranger.mail_id).await;
        assert!(twice.is_err(), "{twice:?}");

        // Customers cannot see the quarantine.
        let refuse = MailSettings {
            accept_unknown_senders: false,
            ..MailSettings::default()
        };
        let strict = desk(backend, refuse).await;
        assert_eq!(ingest(&strict, "gmail_new.eml").await.status, "quarantined");
    }
);

dual_backend_test!(
    a_mail_storm_is_rate_limited,
    |backend: Backend| async move {
        let limits = MailSettings {
            max_per_sender_per_hour: 3,
            ..MailSettings::default()
        };
        let server = desk(backend, limits).await;
        let mut statuses = Vec::new();
        for i in 0..5 {
            let raw = format!(
                "Message-ID: <storm-{i}@acme.example>\r\nFrom: loop@acme.example\r\nSubject: Alert {i}\r\n\r\nDisk full\r\n"
            );
            statuses.push(
                server
                    .app
                    .ingest_mail(raw.into_bytes())
                    .await
                    .unwrap()
                    .status,
            );
        }
        assert_eq!(
            statuses,
            ["ticket", "ticket", "ticket", "rate_limited", "rate_limited"]
        );
        assert_eq!(ticket_count(&server).await, 3);
    }
);

/// A message with an attachment of `size` bytes, built here rather than kept in the corpus.
fn message_with_attachment(size: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
    mail_with_file(
        "Message-ID: <big-1@acme.example>\r\nFrom: Carol <carol@acme.example>\r\nSubject: Crash dump\r\n",
        "The dump is attached.",
        "core.dmp",
        &data,
    )
}

/// A message with `headers` (From, Subject, threading), a text part and one attached file.
fn mail_with_file(headers: &str, text: &str, filename: &str, data: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut encoded = Vec::with_capacity(data.len() * 4 / 3 + data.len() / 38 + 8);
    for (n, chunk) in data.chunks(3).enumerate() {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                encoded.push(ALPHABET[((v >> (18 - 6 * k)) & 63) as usize]);
            } else {
                encoded.push(b'=');
            }
        }
        if n % 19 == 18 {
            encoded.extend_from_slice(b"\r\n");
        }
    }
    let mut raw = format!(
        "{headers}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\n{text}\r\n--b\r\n\
Content-Type: application/octet-stream; name=\"{filename}\"\r\n\
Content-Disposition: attachment; filename=\"{filename}\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    raw.extend_from_slice(&encoded);
    raw.extend_from_slice(b"\r\n--b--\r\n");
    raw
}

fn pipe(args: &[String], stdin: &[u8]) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_opsdesk"))
        .args(["mail", "ingest"])
        .args(args)
        .env_remove("OPSDESK_CONFIG")
        // Files up to 32 MiB are kept as attachments (the upload limit), so that a large
        // mailed file is seen whole.
        .env("OPSDESK_MAX_BODY_BYTES", (32 * 1024 * 1024).to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

dual_backend_test!(
    pipe_delivery_speaks_sysexits,
    |backend: Backend| async move {
        let server = desk(backend, MailSettings::default()).await;
        let args = server.db.cli_args();

        let (code, out, err) = pipe(&args, &corpus("gmail_new.eml"));
        assert_eq!(code, 0, "{err}");
        let outcome: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            (outcome["status"].as_str(), outcome["ticket"].as_str()),
            (Some("ticket"), Some("INC-1"))
        );
        let (code, out, _) = pipe(&args, &corpus("gmail_new.eml"));
        assert_eq!(code, 0);
        assert!(out.contains("\"duplicate\":true"), "{out}");

        // A 20 MiB attachment goes through the pipe whole.
        let size = 20 * 1024 * 1024;
        let (code, out, err) = pipe(&args, &message_with_attachment(size));
        assert_eq!(code, 0, "{err}");
        let outcome: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(outcome["status"], "ticket", "{out}");
        let files = server
            .app
            .attachments(
                &Principal::system("test"),
                outcome["ticket"].as_str().unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(
            (files[0].filename.as_str(), files[0].size),
            ("core.dmp", size as i64)
        );
        let (_, bytes) = server
            .app
            .attachment(&Principal::system("test"), files[0].id)
            .await
            .unwrap();
        assert!(
            bytes
                .iter()
                .enumerate()
                .all(|(i, b)| *b == (i * 7 % 251) as u8)
        );

        // Nothing to read: bounce it (EX_DATAERR); database down: retry later (EX_TEMPFAIL).
        assert_eq!(pipe(&args, b"").0, 65);
        let down = [
            "--database-url".to_owned(),
            "postgres://opsdesk@127.0.0.1:1/opsdesk".to_owned(),
        ];
        let (code, _, err) = pipe(&down, &corpus("gmail_new.eml"));
        assert_eq!(code, 75, "{err}");
        assert!(err.contains("deliver it again later"), "{err}");
    }
);

/// A service from `.ci/setup.d/20-mail.sh`, or `None` to skip (failing when services are
/// required).
fn service(variable: &str) -> Option<String> {
    opsdesk_testkit::service_setting(variable, ".ci/setup.d/20-mail.sh")
}

/// Messages the test SMTP server received for `address`, oldest first.
fn received(maildir: &str, address: &str) -> Vec<(Vec<u8>, opsdesk_mail::InboundMessage)> {
    let mut files: Vec<_> = std::fs::read_dir(format!("{maildir}/new"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort_by_key(|path| std::fs::metadata(path).unwrap().modified().unwrap());
    files
        .into_iter()
        .map(|path| std::fs::read(path).unwrap())
        .filter(|raw| String::from_utf8_lossy(raw).contains(&format!("<{address}>")))
        .map(|raw| {
            let parsed = opsdesk_mail::parse(&raw).unwrap();
            (raw, parsed)
        })
        .collect()
}

async fn wait_for_mail(
    maildir: &str,
    address: &str,
    count: usize,
) -> Vec<(Vec<u8>, opsdesk_mail::InboundMessage)> {
    let found = opsdesk_testkit::eventually(std::time::Duration::from_secs(30), || async {
        received(maildir, address).len() >= count
    })
    .await;
    assert!(found, "{count} messages for {address} did not arrive");
    received(maildir, address)
}

dual_backend_test!(
    notifications_are_sent_and_replies_thread,
    |backend: Backend| async move {
        let (Some(smtp_url), Some(maildir)) = (
            service("OPSDESK_TEST_SMTP_URL"),
            service("OPSDESK_TEST_SMTP_MAILDIR"),
        ) else {
            return;
        };
        let domain = format!("{}.example", uuid::Uuid::new_v4().simple());
        let carol = format!("carol@{domain}");
        let settings = MailSettings {
            smtp_url: Some(smtp_url),
            from: "Service desk <support@desk.test>".into(),
            ..MailSettings::default()
        };
        let server = TestServer::start_with(
            TestDb::new(backend).await,
            opsdesk_http::HttpConfig::default(),
            AppConfig {
                mail: settings,
                ..AppConfig::default()
            },
        )
        .await;
        organization(&server, "Acme", &domain).await;
        let first_id = format!("first-{domain}");
        let raw = format!(
            "Message-ID: <{first_id}>\r\nFrom: Carol <{carol}>\r\nTo: support@desk.test\r\nSubject: Wi-Fi down\r\n\r\nNo Wi-Fi on floor 2.\r\n"
        );
        let opened = server.app.ingest_mail(raw.into_bytes()).await.unwrap();
        let number = opened.ticket.unwrap();

        let mail = wait_for_mail(&maildir, &carol, 1).await;
        let (raw_ack, ack) = &mail[0];
        let headers = String::from_utf8_lossy(raw_ack);
        assert_eq!(ack.subject, format!("[{number}] Wi-Fi down"));
        assert_eq!(ack.in_reply_to, std::slice::from_ref(&first_id));
        assert!(
            headers.contains("Auto-Submitted: auto-replied"),
            "{headers}"
        );
        assert!(headers.contains("multipart/alternative"), "{headers}");
        assert!(ack.text.contains(&number) && ack.html.as_deref().unwrap().contains(&number));
        let ack_id = ack.message_id.clone().unwrap();
        assert!(ack_id.ends_with("@desk.test"), "{ack_id}");
        let marked_sent =
            opsdesk_testkit::eventually(std::time::Duration::from_secs(10), || async {
                let (status,): (String,) =
                    sqlx::query_as("SELECT status FROM mail_messages WHERE message_id = $1")
                        .bind(&ack_id)
                        .fetch_one(&mut server.db.connect().await)
                        .await
                        .unwrap();
                status == "sent"
            })
            .await;
        assert!(
            marked_sent,
            "the acknowledgement is marked sent once the relay took it"
        );

        // Carol answers the acknowledgement; her client keeps our Message-ID, not the subject tag.
        let answer = format!(
            "Message-ID: <second-{domain}>\r\nIn-Reply-To: <{ack_id}>\r\nReferences: <{first_id}> <{ack_id}>\r\nFrom: {carol}\r\nSubject: Re: Wi-Fi\r\n\r\nIt is also down on floor 3.\r\n"
        );
        let joined = server.app.ingest_mail(answer.into_bytes()).await.unwrap();
        assert_eq!(
            (joined.status.as_str(), joined.ticket.as_deref()),
            ("comment", Some(number.as_str()))
        );

        // An agent's public reply and the resolution reach her, threaded.
        let agent = server.user("ann@desk.test", "agent", None, &[]).await;
        let ann = server.app.authenticate_token(&agent).await.unwrap();
        server
            .app
            .add_comment(
                &ann,
                &number,
                opsdesk_app::tickets::NewComment {
                    body: "Restarting the access point now.".into(),
                    public: true,
                    time_spent_minutes: None,
                },
            )
            .await
            .unwrap();
        server
            .app
            .update_ticket(
                &ann,
                &number,
                None,
                opsdesk_app::tickets::TicketPatch {
                    status: Some("resolved".into()),
                    resolution_code: Some("fixed".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let mail = wait_for_mail(&maildir, &carol, 3).await;
        // The reply and the resolution are sent concurrently: find each by what it says.
        let reply = &mail
            .iter()
            .find(|(_, m)| m.text.starts_with("Restarting"))
            .expect("the agent's reply")
            .1;
        assert!(
            reply.text.starts_with("Restarting the access point now."),
            "{}",
            reply.text
        );
        assert_eq!(reply.in_reply_to, [format!("second-{domain}")]);
        assert!(reply.references.contains(&ack_id) && reply.references.contains(&first_id));
        let resolution = &mail
            .iter()
            .find(|(_, m)| m.subject.contains("resolved"))
            .expect("the resolution")
            .1;
        assert!(resolution.text.contains("fixed"), "{}", resolution.text);

        // A bounce of the resolution is matched to it and to the ticket.
        let bounced_id = resolution.message_id.clone().unwrap();
        let dsn = format!(
            "Message-ID: <dsn-{domain}>\r\nFrom: MAILER-DAEMON@{domain}\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\r\n\r\n--r\r\nContent-Type: text/plain\r\n\r\nfailed\r\n\
--r\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; {carol}\r\nAction: failed\r\n\r\n\
--r\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{bounced_id}>\r\nSubject: x\r\n\r\n--r--\r\n"
        );
        let bounce = server.app.ingest_mail(dsn.into_bytes()).await.unwrap();
        assert_eq!(
            (bounce.status.as_str(), bounce.ticket.as_deref()),
            ("bounce", Some(number.as_str()))
        );
        assert!(bounce.reason.unwrap().contains(&carol));
        // Automatic mail is never answered: still three notifications.
        assert_eq!(received(&maildir, &carol).len(), 3);
    }
);

dual_backend_test!(
    an_smtp_outage_delays_mail_but_loses_none,
    |backend: Backend| async move {
        let (Some(smtp_url), Some(maildir)) = (
            service("OPSDESK_TEST_SMTP_URL"),
            service("OPSDESK_TEST_SMTP_MAILDIR"),
        ) else {
            return;
        };
        let relay = smtp_url.trim_start_matches("smtp://").to_owned();
        // A port where nothing listens yet: the relay is down.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let domain = format!("{}.example", uuid::Uuid::new_v4().simple());
        let carol = format!("carol@{domain}");
        let server = TestServer::start_with(
            TestDb::new(backend).await,
            opsdesk_http::HttpConfig::default(),
            AppConfig {
                mail: MailSettings {
                    smtp_url: Some(format!("smtp://127.0.0.1:{port}")),
                    from: "Service desk <support@desk.test>".into(),
                    ..MailSettings::default()
                },
                job_retry_base_ms: 200,
                ..AppConfig::default()
            },
        )
        .await;
        organization(&server, "Acme", &domain).await;
        let raw = format!(
            "Message-ID: <outage-{domain}>\r\nFrom: {carol}\r\nSubject: Printer\r\n\r\nJammed.\r\n"
        );
        server.app.ingest_mail(raw.into_bytes()).await.unwrap();
        let admin = Principal::system("test");
        let failed = opsdesk_testkit::eventually(std::time::Duration::from_secs(20), || async {
            server
                .app
                .jobs(&admin, Some("queued"), i64::MAX, 10)
                .await
                .unwrap()
                .iter()
                .any(|job| {
                    job.kind == "mail.notification" && job.attempts >= 1 && job.last_error.is_some()
                })
        })
        .await;
        assert!(
            failed,
            "the notification should have failed and been queued for a retry"
        );
        assert!(received(&maildir, &carol).is_empty());
        // Its Message-ID was recorded before the first attempt to send it, so a reply or a
        // bounce finds it however soon it comes.
        let outbound = || async {
            let row: (String, String) = sqlx::query_as(
                "SELECT message_id, status FROM mail_messages WHERE direction = 'out'",
            )
            .fetch_one(&mut server.db.connect().await)
            .await
            .unwrap();
            row
        };
        let (queued_id, status) = outbound().await;
        assert_eq!(status, "queued");
        // A bounce ingested before the sender marks the message sent (a relay can reject it
        // at once) is matched to it, and stays recorded once the message is marked.
        let dsn = format!(
            "Message-ID: <dsn-{domain}>\r\nFrom: MAILER-DAEMON@{domain}\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\r\n\r\n--r\r\nContent-Type: message/delivery-status\r\n\r\n\
Final-Recipient: rfc822; {carol}\r\nAction: failed\r\n\r\n--r\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{queued_id}>\r\n\r\n--r--\r\n"
        );
        let bounce = server.app.ingest_mail(dsn.into_bytes()).await.unwrap();
        assert_eq!(bounce.status, "bounce");
        assert!(bounce.ticket.is_some(), "{bounce:?}");

        // The relay comes back: a forwarder on that port to the real SMTP server.
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let relay = relay.clone();
                tokio::spawn(async move {
                    let mut outbound = tokio::net::TcpStream::connect(relay).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
            }
        });
        let mail = wait_for_mail(&maildir, &carol, 1).await;
        assert_eq!(mail.len(), 1);
        assert!(mail[0].1.subject.ends_with("Printer"));
        assert_eq!(mail[0].1.message_id.as_deref(), Some(queued_id.as_str()));
        let done = opsdesk_testkit::eventually(std::time::Duration::from_secs(10), || async {
            server
                .app
                .jobs(&admin, Some("done"), i64::MAX, 10)
                .await
                .unwrap()
                .iter()
                .any(|job| job.kind == "mail.notification")
        })
        .await;
        assert!(done);
        assert_eq!(outbound().await.1, "bounced");
    }
);

/// A database for an `opsdesk serve` process of the test's own, an application on it to look
/// at the results, and the domain of its one organization (unique to the test, since the
/// mail servers are shared).
async fn database_for_serve(backend: Backend) -> (TestDb, opsdesk_app::App, String) {
    let db = TestDb::new(backend).await;
    let app = opsdesk_app::App::new(db.open().await, AppConfig::default()).unwrap();
    let domain = format!("{}.example", uuid::Uuid::new_v4().simple());
    app.create_organization(
        &Principal::system("test"),
        NewOrganization {
            name: "Acme".into(),
            domain: Some(domain.clone()),
            ..NewOrganization::default()
        },
    )
    .await
    .unwrap();
    (db, app, domain)
}

dual_backend_test!(
    serve_reads_imap_mailboxes_and_lmtp,
    |backend: Backend| async move {
        let Some(imap_url) = service("OPSDESK_TEST_IMAP_URL") else {
            return;
        };
        let (db, app, domain) = database_for_serve(backend).await;

        // A folder of this test's own in the shared test mailbox, with two messages waiting.
        let folder = format!("t{}", uuid::Uuid::new_v4().simple());
        let done = format!("{folder}-done");
        let mut imap = opsdesk_mail::imap::Mailbox::from_url(&imap_url, Some(folder.clone()))
            .unwrap()
            .connect()
            .await
            .unwrap();
        for n in 1..=2 {
            let raw = format!(
                "Message-ID: <imap-{n}-{domain}>\r\nFrom: Carol <carol@{domain}>\r\nSubject: IMAP issue {n}\r\n\r\nBody {n}\r\n"
            );
            imap.append(&folder, None, None, raw.as_bytes())
                .await
                .unwrap();
        }

        let lmtp_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = db.data_dir.with_file_name("opsdesk.toml");
        std::fs::write(
            &config,
            format!(
                "[mail]\nimap_poll_secs = 1\nlmtp_listen = \"127.0.0.1:{lmtp_port}\"\n\
             [[mail.imap]]\nurl = \"{imap_url}/{folder}\"\nprocessed_folder = \"{done}\"\n"
            ),
        )
        .unwrap();
        let mut args = db.cli_args();
        args.extend(["--config".to_owned(), config.display().to_string()]);
        let _server =
            opsdesk_testkit::ServerProcess::start(env!("CARGO_BIN_EXE_opsdesk"), &args).await;

        let system = Principal::system("test");
        let titles = || async {
            let mut titles: Vec<String> = app
                .search_tickets(&system, "", None, 50)
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|hit| hit.ticket.title)
                .collect();
            titles.sort();
            titles
        };
        let filed = opsdesk_testkit::eventually(std::time::Duration::from_secs(30), || async {
            titles().await.len() == 2
        })
        .await;
        assert!(
            filed,
            "the IMAP messages were not filed: {:?}",
            titles().await
        );
        assert_eq!(titles().await, ["IMAP issue 1", "IMAP issue 2"]);
        let imap = tokio::sync::Mutex::new(imap);
        let moved = opsdesk_testkit::eventually(std::time::Duration::from_secs(10), || async {
            imap.lock().await.select(&done).await.unwrap().exists == 2
        })
        .await;
        assert!(moved, "processed mail is moved to {done}");
        let mut imap = imap.into_inner();
        assert_eq!(imap.select(&folder).await.unwrap().exists, 0);

        // New mail arriving while the poller waits (IDLE) is filed too.
        let raw = format!(
            "Message-ID: <imap-3-{domain}>\r\nFrom: carol@{domain}\r\nSubject: IMAP issue 3\r\n\r\nLater\r\n"
        );
        imap.append(&folder, None, None, raw.as_bytes())
            .await
            .unwrap();
        let later = opsdesk_testkit::eventually(std::time::Duration::from_secs(30), || async {
            titles().await.len() == 3
        })
        .await;
        assert!(later, "mail arriving later was not filed");

        // LMTP: one reply per recipient, the message filed once.
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", lmtp_port))
            .await
            .unwrap();
        let (read, mut write) = stream.into_split();
        let message = format!(
            "LHLO mx.test\r\nMAIL FROM:<carol@{domain}>\r\nRCPT TO:<support@desk.test>\r\nRCPT TO:<help@desk.test>\r\nDATA\r\n\
Message-ID: <lmtp-1-{domain}>\r\nFrom: carol@{domain}\r\nSubject: Via LMTP\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n"
        );
        write.write_all(message.as_bytes()).await.unwrap();
        let mut lines = tokio::io::BufReader::new(read).lines();
        let mut replies = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            replies.push(line);
        }
        assert_eq!(
            replies
                .iter()
                .filter(|l| l.starts_with("250 2.0.0 filed"))
                .count(),
            2,
            "{replies:?}"
        );
        let titles = titles().await;
        assert_eq!(titles.len(), 4, "{titles:?}");
        assert!(titles.contains(&"Via LMTP".to_owned()));
        let hit = app.search_tickets(&system, "LMTP", None, 5).await.unwrap();
        assert_eq!(hit.items[0].ticket.description, ".leading dot");
    }
);

dual_backend_test!(
    a_new_senders_simultaneous_messages_all_become_tickets,
    |backend: Backend| async move {
        let server = desk(backend, MailSettings::default()).await;
        let deliveries = (0..8).map(|n| {
            let app = server.app.clone();
            let raw = format!(
                "Message-ID: <burst-{n}@acme.example>\r\nFrom: New <new.person@acme.example>\r\nSubject: Burst {n}\r\n\r\nBody\r\n"
            );
            tokio::spawn(async move { app.ingest_mail(raw.into_bytes()).await })
        });
        for delivery in futures::future::join_all(deliveries).await {
            let outcome = delivery.unwrap().unwrap();
            assert!(outcome.ticket.is_some(), "{outcome:?}");
        }
        let users = server.admin().get("/api/v1/users?limit=100").await;
        let senders = users.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["email"] == "new.person@acme.example")
            .count();
        assert_eq!(senders, 1, "{}", users.text);
    }
);

dual_backend_test!(
    serve_reads_and_sends_mail_over_tls,
    |backend: Backend| async move {
        let (Some(imap_url), Some(imaps_url), Some(smtp_tls_url), Some(maildir), Some(ca)) = (
            service("OPSDESK_TEST_IMAP_URL"),
            service("OPSDESK_TEST_IMAPS_URL"),
            service("OPSDESK_TEST_SMTP_TLS_URL"),
            service("OPSDESK_TEST_SMTP_MAILDIR"),
            service("OPSDESK_TEST_TLS_CA"),
        ) else {
            return;
        };
        // The test CA is not trusted by this process, so a TLS mailbox must be refused.
        let Err(untrusted) = opsdesk_mail::imap::Mailbox::from_url(&imaps_url, None)
            .unwrap()
            .connect()
            .await
        else {
            panic!("a server certificate from an unknown CA was accepted");
        };
        assert!(untrusted.to_string().contains("certificate"), "{untrusted}");

        let (db, app, domain) = database_for_serve(backend).await;
        let carol = format!("carol@{domain}");
        let implicit = format!("t{}", uuid::Uuid::new_v4().simple());
        let starttls = format!("t{}", uuid::Uuid::new_v4().simple());
        let mut imap = opsdesk_mail::imap::Mailbox::from_url(&imap_url, None)
            .unwrap()
            .connect()
            .await
            .unwrap();
        for (folder, subject) in [(&implicit, "Over IMAPS"), (&starttls, "Over STARTTLS")] {
            let raw = format!(
                "Message-ID: <{folder}-{domain}>\r\nFrom: Carol <{carol}>\r\nSubject: {subject}\r\n\r\nBody\r\n"
            );
            imap.create(folder).await.unwrap();
            imap.append(folder, None, None, raw.as_bytes())
                .await
                .unwrap();
        }

        // The server trusts the test CA the standard way (SSL_CERT_FILE); notifications go
        // through a relay that requires STARTTLS and authentication.
        let config = db.data_dir.with_file_name("opsdesk.toml");
        std::fs::write(
            &config,
            format!(
                "[mail]\nimap_poll_secs = 1\nsmtp_url = \"{smtp_tls_url}\"\nfrom = \"Desk <support@desk.test>\"\n\
             [[mail.imap]]\nurl = \"{imaps_url}/{implicit}\"\n\
             [[mail.imap]]\nurl = \"{imap_url}/{starttls}?tls=starttls\"\n"
            ),
        )
        .unwrap();
        let mut args = db.cli_args();
        args.extend(["--config".to_owned(), config.display().to_string()]);
        let _server = opsdesk_testkit::ServerProcess::start_with_env(
            env!("CARGO_BIN_EXE_opsdesk"),
            &args,
            &[("SSL_CERT_FILE", ca.as_str())],
        )
        .await;

        let system = Principal::system("test");
        let filed = opsdesk_testkit::eventually(std::time::Duration::from_secs(30), || async {
            app.search_tickets(&system, "", None, 10)
                .await
                .unwrap()
                .items
                .len()
                == 2
        })
        .await;
        assert!(filed, "the mail was not read from both mailboxes");
        let admin = Principal::system("test");
        let found = opsdesk_testkit::eventually(std::time::Duration::from_secs(30), || async {
            received(&maildir, &carol).len() >= 2
        })
        .await;
        assert!(
            found,
            "{:?}",
            app.jobs(&admin, None, i64::MAX, 10).await.unwrap()
        );
        let mail = wait_for_mail(&maildir, &carol, 2).await;
        let mut subjects: Vec<&str> = mail
            .iter()
            .filter_map(|(_, m)| m.subject.split_once("] ").map(|(_, title)| title))
            .collect();
        subjects.sort();
        assert_eq!(subjects, ["Over IMAPS", "Over STARTTLS"]);
    }
);

dual_backend_test!(
    the_mail_api_guards_what_it_shows,
    |backend: Backend| async move {
        let server = desk(backend, MailSettings::default()).await;
        let admin = server.admin();
        let stranger = ingest(&server, "unknown_sender.eml").await;
        let apple = ingest(&server, "apple_mail_inline_image.eml").await;
        let number = apple.ticket.unwrap();

        let held = admin.get("/api/v1/mail/quarantine?limit=10").await;
        assert_eq!(held.status, 200, "{}", held.text);
        assert_eq!(
            held.body["items"][0]["address"],
            "someone@elsewhere.example"
        );
        assert!(
            held.body["items"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("unknown sender")
        );

        // Erin, who sent the mail, sees her attachment; a customer of another organization and
        // agents' lists of other customers do not.
        let erin = server
            .app
            .authenticate_token(
                &server
                    .app
                    .create_token(&Principal::system("test"), "erin@acme.example", "t")
                    .await
                    .unwrap()
                    .secret,
            )
            .await
            .unwrap();
        let files = server.app.attachments(&erin, &number).await.unwrap();
        assert_eq!(files.len(), 1);
        let globex = server.organization("Globex").await;
        let outsider = server.client(
            &server
                .user("olga@globex.example", "customer", Some(globex), &[])
                .await,
        );
        let hidden = outsider
            .get(&format!("/api/v1/attachments/{}", files[0].id))
            .await;
        assert_eq!(hidden.status, 404);
        assert_eq!(outsider.get("/api/v1/mail/quarantine").await.status, 403);
        assert_eq!(
            outsider
                .get(&format!("/api/v1/mail/{}/original", apple.mail_id))
                .await
                .status,
            403
        );

        let listed = admin
            .get(&format!("/api/v1/tickets/{number}/attachments"))
            .await;
        assert_eq!(listed.status, 200, "{}", listed.text);
        assert_eq!(listed.body[0]["filename"], "screenshot.png");
        assert_eq!(listed.body[0]["source"], "mail");
        assert_eq!(listed.body[0]["content_id"], "screenshot-1@acme.example");
        assert_eq!(
            admin
                .get(&format!("/api/v1/tickets/{number}/mail-attachments"))
                .await
                .status,
            404,
            "one list for every file"
        );
        let file = admin
            .get(&format!("/api/v1/attachments/{}", files[0].id))
            .await;
        assert_eq!(file.status, 200);
        assert_eq!(file.header("content-type"), Some("image/png"));
        assert_eq!(
            file.header("content-disposition"),
            Some("attachment; filename=\"screenshot.png\"; filename*=UTF-8''screenshot.png")
        );
        assert_eq!(file.header("x-content-type-options"), Some("nosniff"));
        let eml = admin
            .get(&format!("/api/v1/mail/{}/original", apple.mail_id))
            .await;
        assert_eq!(eml.status, 200);
        assert_eq!(eml.header("content-type"), Some("message/rfc822"));
        assert!(eml.text.contains("Apple-Mail=_A1B2C3D4"));

        organization(&server, "Elsewhere", "elsewhere.example").await;
        let done = admin
            .post(
                &format!("/api/v1/mail/quarantine/{}/reprocess", stranger.mail_id),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(done.status, 200, "{}", done.text);
        assert_eq!(done.body["status"], "ticket");
        let again = admin
            .post(
                &format!("/api/v1/mail/quarantine/{}/reprocess", stranger.mail_id),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(again.status, 409);
    }
);

async fn put(
    client: &opsdesk_testkit::Client,
    path: &str,
    body: serde_json::Value,
) -> opsdesk_testkit::Reply {
    client
        .send(client.request(reqwest::Method::PUT, path).json(&body))
        .await
}

/// The admins' acknowledgement used by the template tests.
fn custom_acknowledgement() -> serde_json::Value {
    serde_json::json!({
        "subject": "We got it: [{{number}}] {{title}}",
        "text": "Dear {{requester}},\r\nticket {{number}} is open.\r\n",
        "html": "<h1>{{title}}</h1><p>Dear {{requester}}, ticket {{number}} is open.</p>",
    })
}

dual_backend_test!(
    admins_edit_notification_templates_and_nobody_else,
    |backend: Backend| async move {
        // The server's folder replaces the resolution's subject only.
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(
            folder.path().join("resolution.subject"),
            "Done: [{{number}}]",
        )
        .unwrap();
        let server = desk(
            backend,
            MailSettings {
                templates_dir: Some(folder.path().to_owned()),
                ..MailSettings::default()
            },
        )
        .await;
        let admin = server.admin();
        let path = "/api/v1/mail/templates/acknowledgement";

        let listed = admin.get("/api/v1/mail/templates").await;
        assert_eq!(listed.status, 200, "{}", listed.text);
        let sources: Vec<(&str, &str)> = listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["notice"].as_str().unwrap(), t["source"].as_str().unwrap()))
            .collect();
        assert_eq!(
            sources,
            [
                ("acknowledgement", "built_in"),
                ("reply", "built_in"),
                ("resolution", "templates_dir")
            ]
        );
        assert_eq!(listed.body[2]["subject"], "Done: [{{number}}]");
        assert!(
            listed.body[2]["text"]
                .as_str()
                .unwrap()
                .contains("is resolved")
        );
        let built_in = admin.get(path).await.body;
        assert!(
            built_in["text"]
                .as_str()
                .unwrap()
                .starts_with("Hello {{requester}}")
        );

        // Mistakes are refused, each named by its part; nothing is stored.
        let refused = put(
            &admin,
            path,
            serde_json::json!({
                "subject": "[{{number}}] {{title}}",
                "text": "Hello {{nope}}",
                "html": "<p>{{title</p>",
            }),
        )
        .await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert_eq!(
            refused.header("content-type"),
            Some("application/problem+json")
        );
        let errors = refused.body["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0]["field"], "text");
        assert!(
            errors[0]["message"]
                .as_str()
                .unwrap()
                .contains("`{{nope}}`")
        );
        assert_eq!(errors[1]["field"], "html");
        assert!(
            errors[1]["message"]
                .as_str()
                .unwrap()
                .contains("unbalanced braces")
        );
        assert_eq!(admin.get(path).await.body["source"], "built_in");

        // Agents and customers can neither read nor change templates.
        let agent = server.client(&server.user("ann@desk.test", "agent", None, &[]).await);
        assert_eq!(
            put(&agent, path, custom_acknowledgement()).await.status,
            403
        );
        assert_eq!(agent.delete(path).await.status, 403);
        assert_eq!(agent.get("/api/v1/mail/templates").await.status, 403);
        let initech = server.organization("Initech").await;
        let customer = server.client(
            &server
                .user("cid@initech.example", "customer", Some(initech), &[])
                .await,
        );
        assert_eq!(
            put(&customer, path, custom_acknowledgement()).await.status,
            403
        );
        assert_eq!(
            put(
                &admin,
                "/api/v1/mail/templates/welcome",
                custom_acknowledgement()
            )
            .await
            .status,
            404
        );

        let saved = put(&admin, path, custom_acknowledgement()).await;
        assert_eq!(saved.status, 200, "{}", saved.text);
        assert_eq!(saved.body["source"], "custom");
        assert_eq!(
            saved.body["text"], "Dear {{requester}},\nticket {{number}} is open.\n",
            "a browser's CRLF is stored as LF"
        );
        assert!(
            saved.body["updated_by"]
                .as_str()
                .unwrap()
                .contains("admin@example.com")
        );

        // A preview renders the draft or the saved template, escaping values in HTML.
        let preview = admin
            .post(&format!("{path}/preview"), serde_json::json!({}))
            .await;
        assert_eq!(preview.status, 200, "{}", preview.text);
        assert_eq!(
            preview.body["subject"],
            "We got it: [INC-1042] Printer on floor 3 is jammed"
        );
        let ticket = server
            .app
            .ingest_mail(
                b"Message-ID: <tpl-1@acme.example>\r\nFrom: Carol <carol@acme.example>\r\nSubject: Fish & <chips>\r\n\r\nHungry\r\n"
                    .to_vec(),
            )
            .await
            .unwrap()
            .ticket
            .unwrap();
        let draft = admin
            .post(
                &format!("{path}/preview"),
                serde_json::json!({
                    "ticket": ticket,
                    "draft": {"subject": "[{{number}}]", "text": "{{title}}", "html": "<i>{{title}}</i>"},
                }),
            )
            .await;
        assert_eq!(draft.status, 200, "{}", draft.text);
        assert_eq!(draft.body["subject"], format!("[{ticket}]"));
        assert_eq!(draft.body["text"], "Fish & <chips>");
        assert_eq!(draft.body["html"], "<i>Fish &amp; &lt;chips&gt;</i>");
        let bad_draft = admin
            .post(
                &format!("{path}/preview"),
                serde_json::json!({"draft": {"subject": "}}", "text": "x", "html": "x"}}),
            )
            .await;
        assert_eq!(bad_draft.status, 422);
        assert_eq!(bad_draft.body["errors"][0]["field"], "subject");

        // A saved template beats the server's folder; reverting brings the folder back.
        let resolution = "/api/v1/mail/templates/resolution";
        let mut custom = custom_acknowledgement();
        custom["subject"] = "Closed: [{{number}}]".into();
        assert_eq!(
            put(&admin, resolution, custom).await.body["source"],
            "custom"
        );
        assert_eq!(admin.delete(resolution).await.status, 204);
        let back = admin.get(resolution).await.body;
        assert_eq!(
            (back["source"].as_str(), back["subject"].as_str()),
            (Some("templates_dir"), Some("Done: [{{number}}]"))
        );

        // Reverting restores the built-in text, and every change is audited.
        assert_eq!(admin.delete(path).await.status, 204);
        assert_eq!(admin.get(path).await.body, built_in);
        assert_eq!(
            admin.delete(path).await.status,
            204,
            "reverting twice is harmless"
        );
        let audit = server
            .app
            .audit_entries(
                &Principal::system("test"),
                0,
                500,
                Some("mail_template"),
                None,
            )
            .await
            .unwrap();
        let actions: Vec<(&str, &str)> = audit
            .iter()
            .map(|e| {
                let notice = e.after.as_ref().or(e.before.as_ref()).unwrap()["notice"]
                    .as_str()
                    .unwrap();
                (notice, e.action.as_str())
            })
            .collect();
        assert_eq!(
            actions,
            [
                ("acknowledgement", "created"),
                ("resolution", "created"),
                ("resolution", "deleted"),
                ("acknowledgement", "deleted"),
            ]
        );
        assert!(audit[0].actor.contains("admin@example.com"));
        assert_eq!(
            audit[3].before.as_ref().unwrap()["subject"],
            "We got it: [{{number}}] {{title}}"
        );

        let openapi = server.anonymous().get("/api/v1/openapi.json").await.body;
        let paths = &openapi["paths"];
        assert!(paths["/api/v1/mail/templates"]["get"].is_object());
        for method in ["get", "put", "delete"] {
            assert!(
                paths["/api/v1/mail/templates/{notice}"][method].is_object(),
                "{method}"
            );
        }
        assert!(paths["/api/v1/mail/templates/{notice}/preview"]["post"].is_object());
    }
);

dual_backend_test!(
    notifications_use_the_admins_template_until_reverted,
    |backend: Backend| async move {
        let (Some(smtp_url), Some(maildir)) = (
            service("OPSDESK_TEST_SMTP_URL"),
            service("OPSDESK_TEST_SMTP_MAILDIR"),
        ) else {
            return;
        };
        let domain = format!("{}.example", uuid::Uuid::new_v4().simple());
        let carol = format!("carol@{domain}");
        let server = desk(
            backend,
            MailSettings {
                smtp_url: Some(smtp_url),
                from: "Service desk <support@desk.test>".into(),
                ..MailSettings::default()
            },
        )
        .await;
        organization(&server, "Carol's", &domain).await;
        let admin = server.admin();
        let path = "/api/v1/mail/templates/acknowledgement";
        assert_eq!(
            put(&admin, path, custom_acknowledgement()).await.status,
            200
        );

        let raw = format!(
            "Message-ID: <custom-{domain}>\r\nFrom: Carol <{carol}>\r\nSubject: Wi-Fi <down> & out\r\n\r\nNo Wi-Fi.\r\n"
        );
        let number = server
            .app
            .ingest_mail(raw.into_bytes())
            .await
            .unwrap()
            .ticket
            .unwrap();
        let mail = wait_for_mail(&maildir, &carol, 1).await;
        let ack = &mail[0].1;
        assert_eq!(
            ack.subject,
            format!("We got it: [{number}] Wi-Fi <down> & out")
        );
        assert_eq!(
            ack.text.replace("\r\n", "\n").trim_end(),
            format!("Dear Carol,\nticket {number} is open.")
        );
        assert_eq!(
            ack.html.as_deref().unwrap().trim(),
            format!(
                "<h1>Wi-Fi &lt;down&gt; &amp; out</h1><p>Dear Carol, ticket {number} is open.</p>"
            )
        );

        // Reverted: the next ticket is acknowledged with the built-in text.
        assert_eq!(admin.delete(path).await.status, 204);
        let raw = format!(
            "Message-ID: <builtin-{domain}>\r\nFrom: Carol <{carol}>\r\nSubject: Printer\r\n\r\nJammed.\r\n"
        );
        let second = server
            .app
            .ingest_mail(raw.into_bytes())
            .await
            .unwrap()
            .ticket
            .unwrap();
        let mail = wait_for_mail(&maildir, &carol, 2).await;
        let ack = &mail
            .iter()
            .find(|(_, m)| m.subject.contains(&second))
            .expect("the second acknowledgement")
            .1;
        assert_eq!(ack.subject, format!("[{second}] Printer"));
        assert!(
            ack.text.starts_with("Hello Carol,")
                && ack.text.contains("we have received your request"),
            "{}",
            ack.text
        );
    }
);

/// A desk whose Acme customer Frank (who signs in) writes in by mail, and an admin, Ann, who
/// works in the web console; both are signed-in browsers as well as API clients.
async fn desk_with_frank(backend: Backend, max_attachment_bytes: usize) -> TestServer {
    let server = TestServer::start_with(
        TestDb::new(backend).await,
        opsdesk_http::HttpConfig {
            max_body_bytes: max_attachment_bytes,
            ..opsdesk_http::HttpConfig::default()
        },
        AppConfig {
            max_attachment_bytes,
            ..AppConfig::default()
        },
    )
    .await;
    let acme = server
        .app
        .create_organization(
            &Principal::system("test"),
            NewOrganization {
                name: "Acme".into(),
                domain: Some("acme.example".into()),
                ..NewOrganization::default()
            },
        )
        .await
        .unwrap()
        .id;
    server
        .user("frank@acme.example", "customer", Some(acme), &[])
        .await;
    server.user("ann@desk.example", "admin", None, &[]).await;
    server
}

async fn upload(
    client: &opsdesk_testkit::Client,
    path: &str,
    body: Vec<u8>,
) -> opsdesk_testkit::Reply {
    let request = client
        .request(reqwest::Method::POST, path)
        .header("content-type", "application/octet-stream")
        .body(body);
    client.send(request).await
}

fn names(list: &serde_json::Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|file| file["filename"].as_str().unwrap())
        .collect()
}

dual_backend_test!(
    mailed_files_are_listed_with_uploads_next_to_their_messages,
    |backend: Backend| async move {
        let server = desk_with_frank(backend, 10 * 1024 * 1024).await;
        let ann = server.client(&server.token_for("ann@desk.example").await);
        let frank = server.client(&server.token_for("frank@acme.example").await);

        // Frank opens INC-1 by mail with a scan, and replies by mail with a log.
        let opened = ingest(&server, "thunderbird_attachment.eml").await;
        assert_eq!(opened.ticket.as_deref(), Some("INC-1"), "{opened:?}");
        let reply = server
            .app
            .ingest_mail(mail_with_file(
                "Message-ID: <reply-1@acme.example>\r\nFrom: Frank Miller <frank@acme.example>\r\n\
                 Subject: Re: Invoice scanner saves blank pages\r\n\
                 In-Reply-To: <8c1d2e3f-aaaa-bbbb-cccc-0123456789ab@acme.example>\r\n",
                "Here is the scanner's log.",
                "scanner.log",
                b"page 1: blank\npage 2: blank\n",
            ))
            .await
            .unwrap();
        assert_eq!(reply.status, "comment", "{reply:?}");
        let reply_comment = reply.comment_id.unwrap();

        // Ann uploads a driver for Frank, and a quote on an internal note, asking for it to be
        // public: a note's file is staff-only all the same.
        let driver = upload(
            &ann,
            "/api/v1/tickets/INC-1/attachments?filename=driver.zip",
            b"PK driver".to_vec(),
        )
        .await;
        assert_eq!(driver.status, 201, "{}", driver.text);
        let note = ann
            .post(
                "/api/v1/tickets/INC-1/comments",
                serde_json::json!({"body": "Vendor quotes 400 EUR for a new scanner.", "public": false}),
            )
            .await;
        assert_eq!(note.status, 201, "{}", note.text);
        let note_id = note.body["id"].as_i64().unwrap();
        let quote = upload(
            &ann,
            &format!(
                "/api/v1/tickets/INC-1/attachments?filename=quote.pdf&public=true&comment={note_id}"
            ),
            b"%PDF quote".to_vec(),
        )
        .await;
        assert_eq!(quote.status, 201, "{}", quote.text);
        assert_eq!(quote.body["public"], false, "{}", quote.text);

        // One list, in arrival order, each file with where it came from and its message.
        let listed = ann.get("/api/v1/tickets/INC-1/attachments").await;
        assert_eq!(listed.status, 200, "{}", listed.text);
        assert_eq!(
            names(&listed.body),
            ["sample scan.pdf", "scanner.log", "driver.zip", "quote.pdf"]
        );
        let files = listed.body.as_array().unwrap();
        let origins: Vec<(&str, Option<i64>, Option<i64>)> = files
            .iter()
            .map(|f| {
                (
                    f["source"].as_str().unwrap(),
                    f["comment_id"].as_i64(),
                    f["mail_id"].as_i64(),
                )
            })
            .collect();
        assert_eq!(
            origins,
            [
                ("mail", None, Some(opened.mail_id)),
                ("mail", Some(reply_comment), Some(reply.mail_id)),
                ("upload", None, None),
                ("upload", Some(note_id), None),
            ]
        );

        // The timeline shows each file next to the message that brought it.
        let timeline = ann.get("/api/v1/tickets/INC-1/timeline").await;
        assert_eq!(timeline.status, 200, "{}", timeline.text);
        let beside: Vec<(String, Vec<&str>)> = timeline.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|entry| !entry["attachments"].as_array().unwrap().is_empty())
            .map(|entry| {
                (
                    entry["kind"].as_str().unwrap().to_owned(),
                    names(&entry["attachments"]),
                )
            })
            .collect();
        assert_eq!(
            beside,
            [
                ("created".to_owned(), vec!["sample scan.pdf"]),
                ("comment".to_owned(), vec!["scanner.log"]),
                ("attachment".to_owned(), vec!["driver.zip"]),
                ("note".to_owned(), vec!["quote.pdf"]),
            ]
        );

        // Frank sees every file but the note's, by no route.
        let his = frank.get("/api/v1/tickets/INC-1/attachments").await;
        assert_eq!(
            names(&his.body),
            ["sample scan.pdf", "scanner.log", "driver.zip"]
        );
        let quote_url = format!("/api/v1/attachments/{}", quote.body["id"]);
        assert_eq!(frank.get(&quote_url).await.status, 404);
        assert_eq!(ann.get(&quote_url).await.status, 200);
        let his_timeline = frank.get("/api/v1/tickets/INC-1/timeline").await;
        assert!(
            !his_timeline.text.contains("quote.pdf"),
            "{}",
            his_timeline.text
        );
        let log = frank
            .get(&format!("/api/v1/attachments/{}", files[1]["id"]))
            .await;
        assert_eq!(log.status, 200);
        assert_eq!(log.text, "page 1: blank\npage 2: blank\n");
        assert_eq!(log.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(
            log.header("content-security-policy"),
            Some("sandbox; default-src 'none'")
        );
        assert!(
            log.header("content-disposition")
                .unwrap()
                .starts_with("attachment;")
        );

        // The pages: Ann's console and Frank's portal link the files beside their messages.
        let password = "correct horse battery staple";
        let console = opsdesk_testkit::page_text(
            &server.signed_in_client("ann@desk.example", password).await,
            format!("{}/tickets/INC-1", server.url),
        )
        .await;
        let scanner_log = format!("href=\"/api/v1/attachments/{}\"", files[1]["id"]);
        let quote_link = format!("href=\"{quote_url}\"");
        assert!(console.contains(&scanner_log), "{console}");
        assert!(console.contains(&quote_link), "{console}");
        assert!(
            console.contains("scanner.log</a> <span class=\"size\">(28 B)</span>"),
            "{console}"
        );
        let portal = opsdesk_testkit::page_text(
            &server
                .signed_in_client("frank@acme.example", password)
                .await,
            format!("{}/portal/tickets/INC-1", server.url),
        )
        .await;
        assert!(portal.contains(&scanner_log), "{portal}");
        assert!(!portal.contains("quote.pdf"), "{portal}");
    }
);

dual_backend_test!(
    a_mailed_file_over_the_upload_limit_stays_in_the_original,
    |backend: Backend| async move {
        let server = desk_with_frank(backend, 1024).await;
        let ann = server.client(&server.token_for("ann@desk.example").await);
        let frank = server.client(&server.token_for("frank@acme.example").await);
        let big = vec![b'x'; 2048];
        let raw = mail_with_file(
            "Message-ID: <big-2@acme.example>\r\nFrom: Frank Miller <frank@acme.example>\r\n\
             Subject: Crash dump\r\n",
            "The dump is attached.",
            "core.dmp",
            &big,
        );
        let opened = server.app.ingest_mail(raw.clone()).await.unwrap();
        assert_eq!(opened.status, "ticket", "{opened:?}");
        let number = opened.ticket.unwrap();

        // The same limit as an upload: the file is not kept, the message is.
        let listed = ann
            .get(&format!("/api/v1/tickets/{number}/attachments"))
            .await;
        assert_eq!(listed.body, serde_json::json!([]));
        let refused = upload(
            &ann,
            &format!("/api/v1/tickets/{number}/attachments?filename=core.dmp"),
            big.clone(),
        )
        .await;
        assert_eq!(refused.status, 413, "{}", refused.text);
        let timeline = ann.get(&format!("/api/v1/tickets/{number}/timeline")).await;
        let skipped: Vec<&serde_json::Value> = timeline.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|entry| entry["kind"] == "attachment_skipped")
            .collect();
        assert_eq!(skipped.len(), 1, "{}", timeline.text);
        assert_eq!(
            (
                &skipped[0]["data"]["filename"],
                &skipped[0]["data"]["size"],
                &skipped[0]["data"]["limit"],
                &skipped[0]["public"],
            ),
            (
                &serde_json::json!("core.dmp"),
                &serde_json::json!(2048),
                &serde_json::json!(1024),
                &serde_json::json!(false),
            )
        );
        let his = frank
            .get(&format!("/api/v1/tickets/{number}/timeline"))
            .await;
        assert!(!his.text.contains("attachment_skipped"), "{}", his.text);
        // Staff still have it, in the message as received.
        let original = ann
            .get(&format!("/api/v1/mail/{}/original", opened.mail_id))
            .await;
        assert_eq!(original.text.as_bytes(), raw.as_slice());
    }
);

dual_backend_test!(
    a_quarantined_messages_files_are_filed_when_it_is_reprocessed,
    |backend: Backend| async move {
        let server = desk_with_frank(backend, 10 * 1024 * 1024).await;
        let ann = server.client(&server.token_for("ann@desk.example").await);
        let held = server
            .app
            .ingest_mail(mail_with_file(
                "Message-ID: <stranger-1@globex.example>\r\nFrom: Gil <gil@globex.example>\r\n\
                 Subject: Badge reader\r\n",
                "The reader rejects my badge.",
                "badge.jpg",
                b"not really a jpeg",
            ))
            .await
            .unwrap();
        assert_eq!(held.status, "quarantined", "{held:?}");
        organization(&server, "Globex", "globex.example").await;
        let done = ann
            .post(
                &format!("/api/v1/mail/quarantine/{}/reprocess", held.mail_id),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(done.body["status"], "ticket", "{}", done.text);
        let number = done.body["ticket"].as_str().unwrap();
        let listed = ann
            .get(&format!("/api/v1/tickets/{number}/attachments"))
            .await;
        assert_eq!(names(&listed.body), ["badge.jpg"]);
        assert_eq!(listed.body[0]["mail_id"], held.mail_id);
    }
);

dual_backend_test!(
    migration_0022_moves_mail_attachments_into_the_one_store,
    |backend: Backend| async move {
        // A database as release 0021 left it, with mail files in `mail_attachments`.
        let db = TestDb::new(backend).await;
        if backend == Backend::Sqlite {
            std::fs::create_dir_all(&db.data_dir).unwrap();
            std::fs::File::create(db.data_dir.join("opsdesk.db")).unwrap();
        }
        let mut conn = db.connect().await;
        opsdesk_store::migrate_to(&mut conn, opsdesk_store::Backend::from(backend), 21)
            .await
            .unwrap();
        let scan = b"%PDF-1.4 blank page".to_vec();
        sqlx::raw_sql(
            // Ids of people well above those the new release hands out (PostgreSQL's identity
            // sequences do not see explicit ids).
            "INSERT INTO organizations (id, name, domain, created_at, updated_at) \
                 VALUES (1001, 'Acme', 'acme.example', 0, 0);
             INSERT INTO users (id, email, name, role, organization_id, created_at, updated_at) \
                 VALUES (1001, 'frank@acme.example', 'Frank', 'customer', 1001, 0, 0);
             INSERT INTO tickets (id, ticket_type, number, title, description, status, impact, \
                 urgency, priority, requester_id, organization_id, source, created_at, updated_at) \
                 VALUES (1, 'incident', 1, 'Scanner', 'Blank pages', 'open', 'medium', 'medium', \
                 3, 1001, 1001, 'email', 0, 0);
             INSERT INTO comments (id, ticket_id, author_id, body, public, created_at) \
                 VALUES (1, 1, 1001, 'The log', 1, 10), (2, 1, NULL, 'Vendor quote', 0, 20);
             INSERT INTO mail_messages (id, direction, dedup_key, ticket_id, comment_id, address, \
                 subject, status, created_at, updated_at) VALUES \
                 (1, 'in', 'mid:1', 1, NULL, 'frank@acme.example', 'Scanner', 'ticket', 5, 5), \
                 (2, 'in', 'mid:2', 1, 1, 'frank@acme.example', 'Re: Scanner', 'comment', 10, 10), \
                 (3, 'in', 'mid:3', 1, 2, 'vendor@supplier.example', 'Quote', 'comment', 20, 20), \
                 (4, 'in', 'mid:4', NULL, NULL, 'gil@globex.example', 'Badge', 'quarantined', 30, 30);",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        let files = [
            (1, Some(1), "scan.pdf", scan.as_slice(), None, 0),
            (2, Some(1), "scanner.log", &b"page 1: blank"[..], None, 0),
            (
                2,
                Some(1),
                "again.pdf",
                scan.as_slice(),
                Some("again@acme.example"),
                1,
            ),
            (3, Some(1), "quote.pdf", &b"%PDF quote"[..], None, 0),
            (4, None, "badge.jpg", &b"not a jpeg"[..], None, 0),
        ];
        for (mail_id, ticket_id, filename, data, content_id, inline) in files {
            sqlx::query(
                "INSERT INTO mail_attachments (mail_id, ticket_id, filename, content_type, \
                 content_id, inline, size, data) VALUES ($1, $2, $3, 'application/pdf', $4, $5, $6, $7)",
            )
            .bind(mail_id)
            .bind(ticket_id)
            .bind(filename)
            .bind(content_id)
            .bind(inline)
            .bind(data.len() as i64)
            .bind(data.to_vec())
            .execute(&mut conn)
            .await
            .unwrap();
        }
        drop(conn);

        // The new release opens it.
        let server = TestServer::start_on(db, opsdesk_http::HttpConfig::default()).await;
        let staff = Principal::system("test");
        let moved = server.app.attachments(&staff, "INC-1").await.unwrap();
        let summary: Vec<_> = moved
            .iter()
            .map(|f| {
                (
                    f.filename.as_str(),
                    f.public,
                    f.comment_id,
                    f.mail_id,
                    f.content_id.as_deref(),
                    f.inline,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("scan.pdf", true, None, Some(1), None, false),
                ("scanner.log", true, Some(1), Some(2), None, false),
                (
                    "again.pdf",
                    true,
                    Some(1),
                    Some(2),
                    Some("again@acme.example"),
                    true
                ),
                ("quote.pdf", false, Some(2), Some(3), None, false),
            ],
            "the quarantined message's file stays in its original until re-processed"
        );
        assert!(moved.iter().all(|f| f.source == AttachmentSource::Mail));
        assert_eq!(moved[1].size, 13);
        let (_, bytes) = server.app.attachment(&staff, moved[1].id).await.unwrap();
        assert_eq!(bytes, b"page 1: blank");

        // Keyed by content like an upload: the same bytes uploaded now are the same blob.
        let uploaded = server
            .app
            .add_attachment(&staff, "INC-1", "scan.pdf", None, scan.clone(), true, None)
            .await
            .unwrap();
        assert_eq!(moved[0].sha256, uploaded.sha256);
        assert_eq!(moved[2].sha256, uploaded.sha256);
        let mut conn = server.db.connect().await;
        let (blobs,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM attachment_blobs")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(blobs, 3, "scan, log and quote, each once");
        assert!(
            sqlx::query("SELECT 1 FROM mail_attachments")
                .fetch_optional(&mut conn)
                .await
                .is_err(),
            "the old table is gone"
        );

        // Frank sees the files of his messages, not those of the internal note.
        let frank = server.client(&server.token_for("frank@acme.example").await);
        let his = frank.get("/api/v1/tickets/INC-1/attachments").await;
        assert_eq!(his.status, 200, "{}", his.text);
        assert_eq!(
            names(&his.body),
            ["scan.pdf", "scanner.log", "again.pdf", "scan.pdf"]
        );
        let quote = format!("/api/v1/attachments/{}", moved[3].id);
        assert_eq!(frank.get(&quote).await.status, 404);
        assert_eq!(server.admin().get(&quote).await.text, "%PDF quote");
    }
);
