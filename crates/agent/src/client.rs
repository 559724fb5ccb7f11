//! Talking to the server: enrolment and reports over HTTPS.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use opsdesk_domain::agent_work::{WorkReply, WorkResult};
use opsdesk_domain::inventory::{Enrolled, Enrolment, Report, ReportReply};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, RETRY_AFTER};

use crate::state::{AgentState, StateDir};
use crate::{AgentError, inventory, schedule};

/// How long one request may take, sending a large first report included.
const REQUEST_TIME_LIMIT: Duration = Duration::from_secs(120);
/// How much of an error answer is kept for the message.
const MOST_DETAIL_CHARS: usize = 500;

/// `url` as a server base URL without a trailing slash. Plain `http://` carries the
/// enrolment token and the credential in the clear, so it is refused except to loopback.
pub fn check_server_url(url: &str) -> Result<String, AgentError> {
    let invalid = |reason: &str| AgentError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| invalid(&e.to_string()))?;
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("a query or fragment has no place here"));
    }
    let host = parsed.host_str().ok_or_else(|| invalid("no host"))?;
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(AgentError::InsecureUrl {
                url: url.to_owned(),
            });
        }
        _ => return Err(invalid("the scheme must be https")),
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

/// The HTTP client, trusting the system's public roots plus the CAs in `ca_file` (PEM).
fn http_client(ca_file: Option<&Path>) -> Result<reqwest::Client, AgentError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("opsdesk-agent/", env!("CARGO_PKG_VERSION")))
        .timeout(REQUEST_TIME_LIMIT)
        .connect_timeout(Duration::from_secs(30))
        // A redirect would resend the credential elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(1);
    if let Some(path) = ca_file {
        let ca_error = |reason: String| AgentError::CaFile {
            path: path.to_owned(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
        let certificates =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca_error(e.to_string()))?;
        if certificates.is_empty() {
            return Err(ca_error("it holds no PEM certificate".to_owned()));
        }
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder
        .build()
        .map_err(|e| AgentError::Client(e.to_string()))
}

/// The gist of an error answer: a problem+json `detail` (or `title`) with its field
/// errors, else the start of the body.
pub fn problem_detail(body: &str) -> String {
    let detail = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|problem| {
            let text = problem
                .get("detail")
                .or_else(|| problem.get("title"))?
                .as_str()?
                .to_owned();
            let fields: Vec<String> = problem
                .get("errors")
                .and_then(|e| e.as_array())
                .into_iter()
                .flatten()
                .filter_map(|error| {
                    let field = error.get("field")?.as_str()?;
                    let message = error.get("message")?.as_str()?;
                    Some(format!("{field}: {message}"))
                })
                .collect();
            Some(if fields.is_empty() {
                text
            } else {
                format!("{text} ({})", fields.join("; "))
            })
        })
        .unwrap_or_else(|| body.trim().to_owned());
    match detail.char_indices().nth(MOST_DETAIL_CHARS) {
        Some((cut, _)) => format!("{}…", &detail[..cut]),
        None if detail.is_empty() => "no detail given".to_owned(),
        None => detail,
    }
}

async fn detail_of(response: reqwest::Response) -> String {
    problem_detail(&response.text().await.unwrap_or_default())
}

/// Enrols this machine with `server` using the one-time `token`, and keeps the identity
/// the server gives in `state_dir/agent.json` (replacing any earlier one).
pub async fn enrol(
    server: &str,
    token: &str,
    state_dir: &Path,
    ca_file: Option<&Path>,
) -> Result<AgentState, AgentError> {
    let server = check_server_url(server)?;
    // The service reads the CA file later, from another working directory.
    let ca_file = ca_file
        .map(|path| {
            std::path::absolute(path).map_err(|e| AgentError::CaFile {
                path: path.to_owned(),
                reason: e.to_string(),
            })
        })
        .transpose()?;
    let http = http_client(ca_file.as_deref())?;
    let enrolment = Enrolment {
        token: token.trim().to_owned(),
        hostname: inventory::hostname(),
    };
    let response = http
        .post(format!("{server}/api/v1/agents/enrol"))
        .json(&enrolment)
        .send()
        .await
        .map_err(|e| AgentError::Unavailable {
            detail: opsdesk_network::error_chain(&e),
        })?;
    let status = response.status();
    if !status.is_success() {
        let detail = detail_of(response).await;
        return Err(
            if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                AgentError::Unavailable {
                    detail: format!("{status}: {detail}"),
                }
            } else {
                AgentError::EnrolmentRefused {
                    status: status.as_u16(),
                    detail,
                }
            },
        );
    }
    let enrolled: Enrolled = response.json().await.map_err(|e| AgentError::Unavailable {
        detail: format!("unexpected enrolment answer: {e}"),
    })?;
    let agent = AgentState {
        server,
        agent: enrolled.agent,
        ci: enrolled.ci,
        credential: enrolled.credential,
        report_every_seconds: enrolled.report_every_seconds,
        ca_file,
        acknowledged: Default::default(),
    };
    let state = StateDir::new(state_dir);
    state.save_agent(&agent)?;
    // A report spooled under an earlier identity is not this agent's to send.
    state.remove_spool()?;
    Ok(agent)
}

/// Why a report was not taken.
#[derive(Debug)]
pub enum SendError {
    /// 401: the credential is revoked or unknown.
    CredentialRefused,
    /// The server will not take this report as it is (4xx).
    Rejected { status: u16, detail: String },
    /// Unreachable or busy; worth trying again, after `retry_after` when the server says.
    Unavailable {
        detail: String,
        retry_after: Option<Duration>,
    },
}

/// Talks to the server as one enrolled agent: reports, and the work it polls for.
#[derive(Debug, Clone)]
pub struct ServerClient {
    http: reqwest::Client,
    server: String,
    credential: String,
}

impl ServerClient {
    pub fn new(agent: &AgentState) -> Result<Self, AgentError> {
        Ok(Self {
            http: http_client(agent.ca_file.as_deref())?,
            server: check_server_url(&agent.server)?,
            credential: agent.credential.clone(),
        })
    }

    pub async fn send(&self, report: &Report) -> Result<ReportReply, SendError> {
        let response = self.post("/api/v1/agents/report", Some(report)).await?;
        response.json().await.map_err(|e| SendError::Unavailable {
            detail: format!("unexpected report answer: {e}"),
            retry_after: None,
        })
    }

    /// Asks for this agent's work.
    pub async fn fetch_work(&self) -> Result<WorkReply, SendError> {
        let response = self.post::<()>("/api/v1/agents/work", None).await?;
        response.json().await.map_err(|e| SendError::Unavailable {
            detail: format!("unexpected work answer: {e}"),
            retry_after: None,
        })
    }

    /// Answers one piece of work.
    pub async fn answer(&self, id: i64, result: &WorkResult) -> Result<(), SendError> {
        self.post(&format!("/api/v1/agents/work/{id}"), Some(result))
            .await
            .map(drop)
    }

    /// POSTs `body` to `path` with the credential; a success answer, or why not.
    async fn post<T: serde::Serialize>(
        &self,
        path: &str,
        body: Option<&T>,
    ) -> Result<reqwest::Response, SendError> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.server))
            .header(AUTHORIZATION, format!("Bearer {}", self.credential));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| SendError::Unavailable {
            detail: opsdesk_network::error_chain(&e),
            retry_after: None,
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(SendError::CredentialRefused);
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(schedule::parse_retry_after);
        let detail = detail_of(response).await;
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            Err(SendError::Unavailable {
                detail: format!("{status}: {detail}"),
                retry_after,
            })
        } else {
            Err(SendError::Rejected {
                status: status.as_u16(),
                detail,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_required_except_to_loopback() -> Result<(), AgentError> {
        assert_eq!(
            check_server_url("https://desk.example.com/")?,
            "https://desk.example.com"
        );
        assert_eq!(
            check_server_url("https://desk.example.com:8443/opsdesk/")?,
            "https://desk.example.com:8443/opsdesk"
        );
        assert_eq!(
            check_server_url("http://127.0.0.1:8080")?,
            "http://127.0.0.1:8080"
        );
        assert_eq!(check_server_url("http://[::1]:8080")?, "http://[::1]:8080");
        assert_eq!(
            check_server_url("http://localhost:8080")?,
            "http://localhost:8080"
        );
        assert!(matches!(
            check_server_url("http://desk.example.com"),
            Err(AgentError::InsecureUrl { .. })
        ));
        assert!(matches!(
            check_server_url("http://192.0.2.10"),
            Err(AgentError::InsecureUrl { .. })
        ));
        assert!(matches!(
            check_server_url("ftp://desk.example.com"),
            Err(AgentError::InvalidUrl { .. })
        ));
        assert!(matches!(
            check_server_url("desk.example.com"),
            Err(AgentError::InvalidUrl { .. })
        ));
        Ok(())
    }

    #[test]
    fn problem_details_name_the_fields() {
        let problem = r#"{"type":"about:blank","title":"Invalid value","status":422,
            "detail":"the report is invalid",
            "errors":[{"field":"packages","message":"more than 50000 items"}]}"#;
        assert_eq!(
            problem_detail(problem),
            "the report is invalid (packages: more than 50000 items)"
        );
        assert_eq!(
            problem_detail(r#"{"title":"Unauthorized"}"#),
            "Unauthorized"
        );
        assert_eq!(
            problem_detail("<html>Bad Gateway</html>\n"),
            "<html>Bad Gateway</html>"
        );
        assert_eq!(problem_detail(""), "no detail given");
        assert_eq!(problem_detail(&"x".repeat(600)).chars().count(), 501);
    }
}
