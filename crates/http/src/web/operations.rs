//! Working on a ticket's machines from the ticket page: diagnostics, runbook runs on a host
//! through its agent with each step's output, and remote sessions ("Connect", then a page
//! that opens the client and asks what was done). Every form goes through the same use
//! cases as the API; a mistake comes back on the ticket page next to its field.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use opsdesk_app::cmdb::TicketCi;
use opsdesk_app::diagnostics::NewDiagnostic;
use opsdesk_app::knowledge::TicketRunbook;
use opsdesk_app::remote::{Access, RemoteSession, SessionNote};
use opsdesk_app::runbooks::{NewRunbookRun, RunbookRun};
use opsdesk_app::{AppError, FieldError, Principal};
use opsdesk_domain::cmdb::remote::RemoteMethod;
use opsdesk_domain::diagnostics::DiagnosticKind;
use opsdesk_domain::knowledge::StepKind;

use super::agent::{back_to, ticket_page};
use super::cmdb::{SentForm, form_errors};
use super::knowledge::RunbookTitles;
use super::{Chrome, Lang, SignedForm, WebError, WebUser, render};
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/tickets/{number}/diagnostics", post(run_diagnostic))
        .route("/tickets/{number}/runbook-runs", post(start_run))
        .route("/tickets/{number}/connect", post(connect))
        .route("/remote-sessions/{id}", get(session))
        .route("/remote-sessions/{id}/note", post(note_session))
}

/// The ticket page's operations forms, each empty or sent back with its mistakes.
#[derive(Default)]
pub(crate) struct OperationForms {
    pub diagnostic: SentForm,
    pub run: SentForm,
    pub connect: SentForm,
    /// A security incident's runbook tick, sent back with why it was refused.
    pub checklist: SentForm,
}

impl OperationForms {
    pub(crate) fn has_errors(&self) -> bool {
        self.diagnostic.has_errors()
            || self.run.has_errors()
            || self.connect.has_errors()
            || self.checklist.has_errors()
    }
}

/// An enrolled agent of one of the ticket's items: a diagnostic can run from its host.
pub(crate) struct HostAgent {
    pub id: i64,
    pub hostname: String,
    pub item: String,
}

/// One of the ticket's items and the ways to reach it.
pub(crate) struct ItemAccess {
    pub item: String,
    pub entries: Vec<Access>,
}

/// A runbook run as the ticket page lists it, with the names of its runbook and host.
pub(crate) struct RunLine {
    pub run: RunbookRun,
    pub runbook: String,
    pub host: String,
}

/// What the ticket page offers for working on the ticket's machines (staff).
pub(crate) struct TicketOperations {
    /// The first host name among the ticket's items: the target when none is typed.
    pub default_target: String,
    pub agents: Vec<HostAgent>,
    /// The items with an enrolled agent, by id and name: where runbook scripts can run.
    pub hosts: Vec<(i64, String)>,
    /// Only items with at least one way to reach them.
    pub access: Vec<ItemAccess>,
    pub runs: Vec<RunLine>,
    pub forms: OperationForms,
}

impl TicketOperations {
    pub(crate) async fn load(
        state: &AppState,
        principal: &Principal,
        number: &str,
        cis: &[TicketCi],
        forms: OperationForms,
    ) -> Result<Self, AppError> {
        let mut agents = Vec::new();
        let mut hosts = Vec::new();
        let mut access = Vec::new();
        for item in cis {
            let ci = &item.ci;
            let enrolled: Vec<_> = state
                .app
                .ci_agents(principal, ci.id)
                .await?
                .into_iter()
                .filter(|a| !a.revoked)
                .collect();
            if !enrolled.is_empty() {
                hosts.push((ci.id, ci.name.clone()));
            }
            agents.extend(enrolled.into_iter().map(|a| HostAgent {
                id: a.id,
                hostname: a.hostname,
                item: ci.name.clone(),
            }));
            let entries = state.app.ci_access(principal, ci.id).await?;
            if !entries.is_empty() {
                access.push(ItemAccess {
                    item: ci.name.clone(),
                    entries,
                });
            }
        }
        let mut runs = Vec::new();
        let mut titles = RunbookTitles::default();
        for run in state.app.ticket_runbook_runs(principal, number).await? {
            let runbook = titles.of(state, principal, run.runbook).await;
            // The host may since have left the ticket: the run still shows, by its number.
            let host = match cis.iter().find(|item| item.ci.id == run.host) {
                Some(item) => item.ci.name.clone(),
                None => format!("#{}", run.host),
            };
            runs.push(RunLine { run, runbook, host });
        }
        Ok(Self {
            default_target: cis
                .iter()
                .find_map(|item| item.ci.hostname.clone())
                .unwrap_or_default(),
            agents,
            hosts,
            access,
            runs,
            forms,
        })
    }

    pub(crate) fn kinds(&self) -> &'static [&'static str] {
        DiagnosticKind::NAMES
    }

    /// Whether a runbook has steps the host's agent runs.
    pub(crate) fn scripted(&self, runbook: &TicketRunbook) -> bool {
        runbook
            .steps
            .iter()
            .any(|step| step.kind == StepKind::Script.as_str())
    }

    /// The mistake the "Run on host" form of `runbook` came back with.
    pub(crate) fn run_error(&self, runbook: &i64) -> Option<&str> {
        let run = &self.forms.run;
        (run.v("runbook") == runbook.to_string())
            .then(|| run.first_error())
            .flatten()
    }

    /// Whether `agent` is the one the diagnostic form came back with.
    pub(crate) fn chosen_agent(&self, agent: &i64) -> bool {
        self.forms.diagnostic.v("agent") == agent.to_string()
    }
}

/// The ticket page again with one of its operations forms sent back, when `error` is a
/// mistake in it; any other error is the page's.
pub(crate) async fn sent_back(
    state: &AppState,
    form: &SignedForm,
    number: &str,
    error: AppError,
    place: impl FnOnce(&mut OperationForms, SentForm),
) -> Result<Response, WebError> {
    let errors = match error {
        // Too many diagnostics in a minute is a mistake to wait out, not a broken page.
        AppError::RateLimited { .. } => {
            vec![FieldError::new("", Lang.t("error.rate_limited"))]
        }
        other => form_errors(other)?,
    };
    let mut forms = OperationForms::default();
    place(&mut forms, SentForm::of(form, errors));
    ticket_page(state, &form.principal, number, forms).await
}

/// Runs a diagnostic through the same use case as `POST /api/v1/tickets/{id}/diagnostics`;
/// its result lands on the timeline as an internal note.
async fn run_diagnostic(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let agent = match form.opt("agent").map(|a| a.parse::<i64>()) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            let error = AppError::invalid("agent", "choose the server or an agent");
            return sent_back(&state, &form, &number, error, |f, s| f.diagnostic = s).await;
        }
    };
    let input = NewDiagnostic {
        kind: form.get("kind").to_owned(),
        target: form.opt("target"),
        agent,
    };
    match state
        .app
        .run_diagnostic(&form.principal, &number, input)
        .await
    {
        Ok(_) => Ok(back_to(&number, "timeline").into_response()),
        Err(error) => sent_back(&state, &form, &number, error, |f, s| f.diagnostic = s).await,
    }
}

/// Starts a runbook's script steps on the chosen host, through the same use case as
/// `POST /api/v1/runbook-runs`.
async fn start_run(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let started = match (form.number("runbook"), form.number("host")) {
        (Ok(runbook), Ok(host)) => {
            let input = NewRunbookRun {
                runbook,
                ticket: number.clone(),
                host,
            };
            state.app.start_runbook_run(&form.principal, input).await
        }
        (Err(error), _) | (_, Err(error)) => Err(error),
    };
    match started {
        Ok(_) => Ok(back_to(&number, "runbook-runs").into_response()),
        Err(error) => sent_back(&state, &form, &number, error, |f, s| f.run = s).await,
    }
}

/// Records the session on the ticket, then shows the page that opens its client: a
/// redirect to `ssh://` from a form post may be blocked by the browser.
async fn connect(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let connected = match form.number("access") {
        Ok(access) => state.app.connect(&form.principal, &number, access).await,
        Err(error) => Err(error),
    };
    match connected {
        Ok(session) => {
            Ok(Redirect::to(&format!("/remote-sessions/{}", session.id)).into_response())
        }
        Err(error) => sent_back(&state, &form, &number, error, |f, s| f.connect = s).await,
    }
}

#[derive(Template)]
#[template(path = "remote_session.html")]
struct SessionPage {
    c: Chrome,
    s: RemoteSession,
    /// The ticket's number and the item's name.
    number: String,
    item: String,
    /// Whether the page opens the client itself: a desktop client opens beside the page,
    /// but a web console would replace it, so that one opens in a new tab when clicked.
    opens_itself: bool,
    form: SentForm,
}

async fn session_page(
    state: &AppState,
    principal: &Principal,
    id: i64,
    form: SentForm,
) -> Result<Response, WebError> {
    let s = state.app.remote_session(principal, id).await?;
    let number = state
        .app
        .ticket(principal, &s.ticket.to_string())
        .await?
        .number;
    // The item may since have been deleted; the session still names it, by its number.
    let item = match state.app.ci(principal, s.ci).await {
        Ok(ci) => ci.name,
        Err(_) => format!("#{}", s.ci),
    };
    let opens_itself =
        s.note.is_none() && !form.has_errors() && s.method != RemoteMethod::Web.as_str();
    let status = if form.has_errors() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut c = Chrome::new(
        principal,
        format!("{} · {item}", Lang.t("ops.session.title")),
    );
    if form.has_errors() {
        c.notice = Some(Lang.t("form.fix_errors").to_owned());
    }
    let page = SessionPage {
        c,
        s,
        number,
        item,
        opens_itself,
        form,
    };
    Ok((status, render(&page)).into_response())
}

async fn session(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    session_page(&state, &principal, id, SentForm::default()).await
}

/// Writes what was done, through the same use case as `POST /api/v1/remote-sessions/{id}/note`,
/// and goes back to the ticket, where it is an internal note.
async fn note_session(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let note = SessionNote {
        note: form.get("note").to_owned(),
    };
    match state
        .app
        .note_remote_session(&form.principal, id, note)
        .await
    {
        Ok(session) => {
            let ticket = state
                .app
                .ticket(&form.principal, &session.ticket.to_string())
                .await?;
            Ok(back_to(&ticket.number, "timeline").into_response())
        }
        Err(error) => {
            let sent = SentForm::of(&form, form_errors(error)?);
            session_page(&state, &form.principal, id, sent).await
        }
    }
}
