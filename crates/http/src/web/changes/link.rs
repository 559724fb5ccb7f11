//! The approval page a mailed link opens without a session, and voting from it.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use opsdesk_app::AppError;
use opsdesk_app::changes::{ApprovalLink, NewVote};

use crate::AppState;
use crate::web::{Chrome, WebError, render};

#[derive(Template)]
#[template(path = "change_link.html")]
struct LinkPage {
    c: Chrome,
    link: ApprovalLink,
    action: String,
    error: Option<String>,
}

async fn link_page(
    state: &AppState,
    token: &str,
    error: Option<String>,
) -> Result<Response, WebError> {
    let link = state.app.approval_link(token).await?;
    let c = Chrome::anonymous(&format!("{} {}", link.change.number, link.change.title));
    let status = if error.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    Ok((
        status,
        render(&LinkPage {
            c,
            link,
            action: format!("/changes/approve/{token}"),
            error,
        }),
    )
        .into_response())
}

pub(super) async fn by_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    link_page(&state, &token, None).await
}

/// Votes as the person the link was mailed to. No session or CSRF token: the link's
/// secret is the credential, and another site cannot know it. A GET only shows the
/// change, so a mail scanner that follows links votes for no one.
pub(super) async fn vote_by_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let vote = NewVote {
        decision: field("decision"),
        comment: field("comment"),
    };
    match state.app.vote_by_link(&token, vote).await {
        Ok(_) => Ok(Redirect::to(&format!("/changes/approve/{token}")).into_response()),
        Err(AppError::Invalid(errors)) => {
            let message = errors
                .iter()
                .map(|e| e.message.clone())
                .collect::<Vec<_>>()
                .join("; ");
            link_page(&state, &token, Some(message)).await
        }
        Err(AppError::Conflict { message, .. }) => link_page(&state, &token, Some(message)).await,
        Err(other) => Err(other.into()),
    }
}
