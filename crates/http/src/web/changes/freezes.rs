//! Freeze periods: the list, creating one and deleting one.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use opsdesk_app::changes::{FreezeWindow, NewFreezeWindow};
use opsdesk_app::{AppError, FieldError, Principal};

use crate::AppState;
use crate::web::cmdb::{SentForm, text};
use crate::web::monitoring::form_time;
use crate::web::suppliers::{chrome, or_form, status_of};
use crate::web::{Chrome, SignedForm, WebError, WebUser, render};

#[derive(Template)]
#[template(path = "change_freezes.html")]
struct FreezesPage {
    c: Chrome,
    freezes: Vec<FreezeWindow>,
    form: SentForm,
}

async fn freezes_page(
    state: &AppState,
    principal: &Principal,
    form: SentForm,
) -> Result<Response, WebError> {
    let freezes = state.app.freeze_windows(principal, None).await?;
    let c = chrome(principal, "change.freezes", &form);
    Ok((status_of(&form), render(&FreezesPage { c, freezes, form })).into_response())
}

pub(super) async fn freezes(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    freezes_page(&state, &principal, SentForm::default()).await
}

pub(super) async fn create_freeze(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let mut errors = Vec::new();
    let starts_at = form_time(&form, "starts_at", &mut errors);
    let ends_at = form_time(&form, "ends_at", &mut errors);
    let ci = match text(&form, "ci").map(|v| v.trim().parse::<i64>()) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            errors.push(FieldError::new("ci", "an item id"));
            None
        }
    };
    let done = match (starts_at, ends_at) {
        (Some(starts_at), Some(ends_at)) if errors.is_empty() => {
            let input = NewFreezeWindow {
                name: form.get("name").to_owned(),
                kind: text(&form, "kind"),
                starts_at,
                ends_at,
                organization: text(&form, "organization"),
                ci,
                reason: form.get("reason").to_owned(),
            };
            state.app.create_freeze_window(&form.principal, input).await
        }
        _ => {
            for field in ["starts_at", "ends_at"] {
                if form.get(field).is_empty() {
                    errors.push(FieldError::new(field, "must be given"));
                }
            }
            Err(AppError::Invalid(errors))
        }
    };
    or_form(
        done,
        &form,
        |_| "/changes/freezes".to_owned(),
        |sent| freezes_page(&state, &form.principal, sent),
    )
    .await
}

pub(super) async fn delete_freeze(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state.app.delete_freeze_window(&form.principal, id).await?;
    Ok(Redirect::to("/changes/freezes"))
}
