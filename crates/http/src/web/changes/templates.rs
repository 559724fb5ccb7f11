//! Change templates: the list with their risk questions and approval rules, and creating one.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use opsdesk_app::changes::{ChangeTemplate, NewChangeTemplate};
use opsdesk_app::{AppError, FieldError, Principal};
use opsdesk_domain::change::{ChangeType, RiskOption, RiskQuestion};

use crate::AppState;
use crate::web::cmdb::{SentForm, text};
use crate::web::suppliers::{chrome, or_form, status_of};
use crate::web::{Chrome, SignedForm, WebError, WebUser, render};

#[derive(Template)]
#[template(path = "change_templates.html")]
struct TemplatesPage {
    c: Chrome,
    templates: Vec<ChangeTemplate>,
    groups: Vec<String>,
    form: SentForm,
}

impl TemplatesPage {
    fn types(&self) -> &'static [&'static str] {
        ChangeType::NAMES
    }

    fn written(&self, questions: &[RiskQuestion]) -> String {
        questions
            .iter()
            .map(|q| {
                let options: Vec<String> = q
                    .options
                    .iter()
                    .map(|o| format!("{}={}", o.label, o.score))
                    .collect();
                format!("{} | {} | {}", q.key, q.text, options.join("; "))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Questions written one per line: `key | Question? | label=score; label=score`.
fn questions(text: &str, errors: &mut Vec<FieldError>) -> Vec<RiskQuestion> {
    let mut out = Vec::new();
    for (n, line) in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        let [key, question, options] = parts[..] else {
            errors.push(FieldError::new(
                "questions",
                format!(
                    "line {}: write key | question | label=score; label=score",
                    n + 1
                ),
            ));
            continue;
        };
        let mut parsed = Vec::new();
        for option in options.split(';').map(str::trim).filter(|o| !o.is_empty()) {
            match option
                .rsplit_once('=')
                .map(|(l, s)| (l.trim(), s.trim().parse::<u32>()))
            {
                Some((label, Ok(score))) => parsed.push(RiskOption {
                    label: label.to_owned(),
                    score,
                }),
                _ => errors.push(FieldError::new(
                    "questions",
                    format!("line {}: `{option}` is not label=score", n + 1),
                )),
            }
        }
        out.push(RiskQuestion {
            key: key.to_owned(),
            text: question.to_owned(),
            options: parsed,
        });
    }
    out
}

async fn templates_page(
    state: &AppState,
    principal: &Principal,
    form: SentForm,
) -> Result<Response, WebError> {
    let templates = state.app.change_templates(principal).await?;
    let groups = state
        .app
        .groups(principal)
        .await?
        .into_iter()
        .map(|g| g.name)
        .collect();
    let c = chrome(principal, "change.templates", &form);
    Ok((
        status_of(&form),
        render(&TemplatesPage {
            c,
            templates,
            groups,
            form,
        }),
    )
        .into_response())
}

pub(super) async fn templates(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    templates_page(&state, &principal, SentForm::default()).await
}

pub(super) async fn create_template(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let mut errors = Vec::new();
    let number = |name: &str, errors: &mut Vec<FieldError>| match text(&form, name) {
        None => None,
        Some(v) => v.trim().parse::<i64>().map(Some).unwrap_or_else(|_| {
            errors.push(FieldError::new(name, "a whole number"));
            None
        }),
    };
    let quorum = number("quorum", &mut errors).unwrap_or(1);
    let approval_timeout_h = number("approval_timeout_h", &mut errors);
    let watch_hours = number("watch_hours", &mut errors);
    let questions = questions(form.get("questions"), &mut errors);
    let done = if errors.is_empty() {
        let input = NewChangeTemplate {
            name: form.get("name").to_owned(),
            change_type: form.get("type").to_owned(),
            description: form.get("description").to_owned(),
            questions,
            board: text(&form, "board"),
            quorum,
            veto: form.get("veto") == "on",
            named_approver: text(&form, "named_approver"),
            named_from_risk: text(&form, "named_from_risk"),
            approval_timeout_h,
            implementation_plan: form.get("implementation_plan").to_owned(),
            test_plan: form.get("test_plan").to_owned(),
            backout_plan: form.get("backout_plan").to_owned(),
            watch_hours,
        };
        state
            .app
            .create_change_template(&form.principal, input)
            .await
    } else {
        Err(AppError::Invalid(errors))
    };
    or_form(
        done,
        &form,
        |_| "/changes/templates".to_owned(),
        |sent| templates_page(&state, &form.principal, sent),
    )
    .await
}
