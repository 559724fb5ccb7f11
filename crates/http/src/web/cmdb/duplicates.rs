//! The queue of suspected duplicates, each merged or dismissed.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use opsdesk_app::cmdb::SuspectedDuplicate;

use crate::AppState;
use crate::web::{Chrome, Lang, SignedForm, WebError, WebUser, render};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/cmdb/duplicates", get(duplicates))
        .route("/cmdb/duplicates/{id}", post(settle))
}

#[derive(Template)]
#[template(path = "cmdb_duplicates.html")]
struct DuplicatesPage {
    c: Chrome,
    pairs: Vec<SuspectedDuplicate>,
}

async fn duplicates(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    let pairs = state.app.suspected_duplicates(&principal).await?;
    Ok(render(&DuplicatesPage {
        c: Chrome::new(&principal, Lang.t("cmdb.duplicates.title")),
        pairs,
    }))
}

/// Merges into the item chosen (`keep`), or dismisses the pair (`keep` empty).
async fn settle(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let keep = form.get("keep").parse::<i64>().ok();
    match state
        .app
        .settle_duplicate(&form.principal, id, keep)
        .await?
    {
        Some(kept) => Ok(Redirect::to(&format!("/cmdb/{}", kept.id))),
        None => Ok(Redirect::to("/cmdb/duplicates")),
    }
}
