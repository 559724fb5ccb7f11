//! Relations between items, and what an item's failure would take down.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use opsdesk_app::AppError;
use opsdesk_app::cmdb::{Impact, ImpactedCi, NewRelation};

use super::items::{ItemForms, item_page};
use super::{SentForm, form_errors};
use crate::AppState;
use crate::web::{Chrome, Lang, SignedForm, WebError, WebUser, render};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/cmdb/{id}/relations", post(relate))
        .route("/cmdb/{id}/relations/{relation}/remove", post(unrelate))
        .route("/cmdb/{id}/impact", get(impact))
}

async fn relate(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let target = form
        .get("target")
        .trim()
        .trim_start_matches('#')
        .parse::<i64>();
    let result = match target {
        Ok(target) => {
            let input = NewRelation {
                kind: form.get("kind").to_owned(),
                target,
            };
            state
                .app
                .add_relation(&form.principal, id, input)
                .await
                .map(|_| ())
        }
        Err(_) => Err(AppError::invalid(
            "target",
            Lang.t("cmdb.relation.target.hint"),
        )),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/cmdb/{id}#relations")).into_response()),
        Err(error) => {
            let sent = SentForm::of(&form, form_errors(error)?);
            let forms = ItemForms {
                relation: sent,
                ..ItemForms::default()
            };
            item_page(&state, &form.principal, id, forms).await
        }
    }
}

async fn unrelate(
    State(state): State<AppState>,
    Path((id, relation)): Path<(i64, i64)>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state
        .app
        .remove_relation(&form.principal, id, relation)
        .await?;
    Ok(Redirect::to(&format!("/cmdb/{id}#relations")))
}

#[derive(Template)]
#[template(path = "cmdb_impact.html")]
struct ImpactPage {
    c: Chrome,
    impact: Impact,
}

impl ImpactPage {
    /// The lists, each under its heading's key.
    fn groups(&self) -> [(&'static str, &Vec<ImpactedCi>); 2] {
        [
            ("cmdb.impact.down", &self.impact.down),
            ("cmdb.impact.degraded", &self.impact.degraded),
        ]
    }
}

async fn impact(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let impact = state.app.ci_impact(&principal, id).await?;
    let title = format!("{} {}", Lang.t("cmdb.impact.title"), impact.ci.name);
    Ok(render(&ImpactPage {
        c: Chrome::new(&principal, title),
        impact,
    }))
}
