//! Change management pages, one module per use, with the routes and the helpers that the new
//! change form and a change's page share for reading item ids and risk answers.

mod calendar;
mod freezes;
mod link;
mod list;
mod new;
mod show;
mod templates;

use std::collections::BTreeMap;

use axum::Router;
use axum::routing::{get, post};
use opsdesk_app::FieldError;

use super::SignedForm;
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/changes", get(list::list).post(new::create))
        .route("/changes/new", get(new::new_form))
        .route("/changes/calendar", get(calendar::calendar))
        .route("/changes/calendar.ics", get(calendar::calendar_ics))
        .route(
            "/changes/freezes",
            get(freezes::freezes).post(freezes::create_freeze),
        )
        .route("/changes/freezes/{id}/delete", post(freezes::delete_freeze))
        .route(
            "/changes/templates",
            get(templates::templates).post(templates::create_template),
        )
        .route("/changes/delegation", post(list::delegate))
        .route(
            "/changes/approve/{token}",
            get(link::by_link).post(link::vote_by_link),
        )
        .route("/changes/{number}", get(show::show).post(show::update))
        .route("/changes/{number}/state", post(show::move_state))
        .route("/changes/{number}/vote", post(show::vote))
}

/// Item ids typed as `12, 15 17`.
fn ids(form: &SignedForm, name: &str, errors: &mut Vec<FieldError>) -> Vec<i64> {
    let mut out = Vec::new();
    for part in form
        .get(name)
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
    {
        match part.parse() {
            Ok(id) => out.push(id),
            Err(_) => errors.push(FieldError::new(name, "item ids, separated by commas")),
        }
    }
    out
}

fn risk_answers(form: &SignedForm) -> BTreeMap<String, String> {
    form.fields
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("risk.")?.to_owned(), v.clone())))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}
