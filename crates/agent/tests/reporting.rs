//! Enrolment and `run --once` against a scripted HTTP server on 127.0.0.1: what the agent
//! sends, what it keeps, and how it takes the server's answers.

use std::collections::BTreeMap;

use opsdesk_agent::state::StateDir;
use opsdesk_agent::{AgentError, RunOptions};
use opsdesk_domain::inventory::{Report, Section};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// One request the server took.
#[derive(Debug)]
struct Exchange {
    path: String,
    authorization: Option<String>,
    body: serde_json::Value,
}

/// A canned answer: status, extra headers, JSON body.
struct Answer(u16, Vec<(&'static str, &'static str)>, String);

/// Serves `answers` in order, one request per connection, and returns what it was sent.
async fn scripted_server(
    answers: Vec<Answer>,
) -> std::io::Result<(
    String,
    tokio::task::JoinHandle<std::io::Result<Vec<Exchange>>>,
)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move {
        let mut exchanges = Vec::new();
        for Answer(status, headers, body) in answers {
            let (stream, _) = listener.accept().await?;
            let mut stream = BufReader::new(stream);
            let mut request_line = String::new();
            stream.read_line(&mut request_line).await?;
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            let mut length = 0_usize;
            let mut authorization = None;
            loop {
                let mut line = String::new();
                stream.read_line(&mut line).await?;
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    match name.to_ascii_lowercase().as_str() {
                        "content-length" => length = value.trim().parse().unwrap_or(0),
                        "authorization" => authorization = Some(value.trim().to_owned()),
                        _ => {}
                    }
                }
            }
            let mut body_bytes = vec![0_u8; length];
            stream.read_exact(&mut body_bytes).await?;
            exchanges.push(Exchange {
                path,
                authorization,
                body: serde_json::from_slice(&body_bytes).unwrap_or_default(),
            });
            let mut response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (name, value) in headers {
                response.push_str(&format!("{name}: {value}\r\n"));
            }
            response.push_str("\r\n");
            response.push_str(&body);
            stream.get_mut().write_all(response.as_bytes()).await?;
            stream.get_mut().shutdown().await?;
        }
        Ok(exchanges)
    });
    Ok((url, server))
}

fn enrolled() -> Answer {
    Answer(
        201,
        vec![],
        r#"{"agent":7,"ci":42,"credential":"oda_secret","report_every_seconds":3600}"#.into(),
    )
}

fn reply(resend: &[&str]) -> Answer {
    Answer(
        200,
        vec![],
        serde_json::json!({"resend": resend, "report_every_seconds": 1800}).to_string(),
    )
}

fn no_work() -> Answer {
    Answer(200, vec![], r#"{"work":[],"poll_every_seconds":10}"#.into())
}

fn sections_in_full(body: &serde_json::Value) -> Vec<String> {
    let all = ["hardware", "os", "packages", "updates", "services", "users"];
    all.iter()
        .filter(|section| body.get(**section).is_some())
        .map(|section| (*section).to_owned())
        .collect()
}

fn once(state: &std::path::Path) -> RunOptions {
    RunOptions {
        state_dir: state.to_owned(),
        once: true,
    }
}

#[tokio::test]
async fn an_enrolled_agent_sends_only_what_changed() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (url, server) = scripted_server(vec![
        enrolled(),
        reply(&[]),
        no_work(),
        reply(&["users"]),
        reply(&[]),
        no_work(),
    ])
    .await?;
    let agent = opsdesk_agent::enrol(&url, " enrol-token\n", dir.path(), None).await?;
    assert_eq!((agent.agent, agent.ci), (7, 42));

    // The first report carries everything; the second, on an unchanged machine, nothing
    // in full, until the server asks for users again and gets them right away.
    opsdesk_agent::run(once(dir.path())).await?;
    opsdesk_agent::run(once(dir.path())).await?;
    let (work, exchanges): (Vec<_>, Vec<_>) = server
        .await??
        .into_iter()
        .partition(|e| e.path == "/api/v1/agents/work");
    // After its report, each run asks for the work waiting for it.
    assert_eq!(work.len(), 2);
    assert!(
        work.iter()
            .all(|e| e.authorization.as_deref() == Some("Bearer oda_secret"))
    );

    assert_eq!(exchanges[0].path, "/api/v1/agents/enrol");
    assert_eq!(exchanges[0].body["token"], "enrol-token");
    assert!(exchanges[0].authorization.is_none());
    for exchange in &exchanges[1..] {
        assert_eq!(exchange.path, "/api/v1/agents/report");
        assert_eq!(exchange.authorization.as_deref(), Some("Bearer oda_secret"));
        let report: Report = serde_json::from_value(exchange.body.clone())?;
        assert_eq!(report.hashes.len(), 6);
    }
    assert_eq!(sections_in_full(&exchanges[1].body).len(), 6);
    // The machine may change between two reports (a socket opens), so only what must hold
    // is asserted.
    assert!(!sections_in_full(&exchanges[2].body).contains(&"packages".to_owned()));
    assert!(sections_in_full(&exchanges[3].body).contains(&"users".to_owned()));

    let state = StateDir::new(dir.path()).load_agent()?;
    assert_eq!(state.report_every_seconds, 1800);
    let last: Report = serde_json::from_value(exchanges[3].body.clone())?;
    let expected: BTreeMap<Section, String> = last.hashes;
    assert_eq!(state.acknowledged, expected);
    Ok(())
}

#[tokio::test]
async fn a_busy_server_leaves_the_report_in_the_spool() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (url, server) = scripted_server(vec![
        enrolled(),
        Answer(
            503,
            vec![("retry-after", "120")],
            r#"{"title":"Service Unavailable","status":503,"detail":"busy"}"#.into(),
        ),
    ])
    .await?;
    opsdesk_agent::enrol(&url, "enrol-token", dir.path(), None).await?;
    let outcome = opsdesk_agent::run(once(dir.path())).await;
    assert!(
        matches!(&outcome, Err(AgentError::Unavailable { detail }) if detail.contains("busy")),
        "{outcome:?}"
    );
    let exchanges = server.await??;
    let spooled = StateDir::new(dir.path()).load_spool();
    let sent: Report = serde_json::from_value(exchanges[1].body.clone())?;
    assert_eq!(spooled, Some(sent));
    // Nothing was acknowledged, so the next report carries everything again.
    assert!(
        StateDir::new(dir.path())
            .load_agent()?
            .acknowledged
            .is_empty()
    );
    Ok(())
}

#[tokio::test]
async fn a_revoked_credential_asks_for_a_new_enrolment() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (url, server) = scripted_server(vec![
        enrolled(),
        Answer(
            401,
            vec![],
            r#"{"title":"Unauthorized","status":401}"#.into(),
        ),
    ])
    .await?;
    opsdesk_agent::enrol(&url, "enrol-token", dir.path(), None).await?;
    let outcome = opsdesk_agent::run(once(dir.path())).await;
    server.await??;
    match outcome {
        Err(error) => {
            assert!(error.needs_enrolment());
            assert!(error.to_string().contains("opsdesk agent enrol"));
        }
        Ok(()) => return Err("a refused credential was taken for a delivery".into()),
    }
    Ok(())
}

#[tokio::test]
async fn a_refused_token_is_explained() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (url, server) = scripted_server(vec![Answer(
        422,
        vec![],
        r#"{"title":"Invalid","status":422,"detail":"the enrolment token is unknown or used"}"#
            .into(),
    )])
    .await?;
    let outcome = opsdesk_agent::enrol(&url, "wrong", dir.path(), None).await;
    server.await??;
    match outcome {
        Err(AgentError::EnrolmentRefused { status, detail }) => {
            assert_eq!(status, 422);
            assert_eq!(detail, "the enrolment token is unknown or used");
        }
        other => return Err(format!("{other:?}").into()),
    }
    assert!(!StateDir::new(dir.path()).agent_path().exists());
    Ok(())
}

#[tokio::test]
async fn plain_http_to_another_machine_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let outcome = opsdesk_agent::enrol("http://desk.example.com", "t", dir.path(), None).await;
    assert!(matches!(outcome, Err(AgentError::InsecureUrl { .. })));
    Ok(())
}
