//! Classes and their custom fields.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use opsdesk_app::cmdb::{CiClassFields, CiField};
use opsdesk_app::{AppError, FieldError};

use super::{SentForm, form_errors};
use crate::AppState;
use crate::web::{Chrome, Lang, SignedForm, WebError, WebUser, render};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/cmdb/classes", get(class_list))
        .route("/cmdb/classes/{class}/fields", post(add_class_field))
        .route(
            "/cmdb/classes/{class}/fields/{name}/remove",
            post(remove_class_field),
        )
}

#[derive(Template)]
#[template(path = "cmdb_classes.html")]
struct ClassesPage {
    c: Chrome,
    classes: Vec<CiClassFields>,
    /// The class whose form came back with mistakes, and them.
    failed: Option<(String, SentForm)>,
}

impl ClassesPage {
    fn kinds(&self) -> &'static [&'static str] {
        opsdesk_domain::cmdb::fields::FieldKind::NAMES
    }
    fn error(&self, class: &str, field: &str) -> Option<&str> {
        match &self.failed {
            Some((failed, form)) if failed == class => form.error(field),
            _ => None,
        }
    }
    fn sent(&self, class: &str, field: &str) -> &str {
        match &self.failed {
            Some((failed, form)) if failed == class => form.v(field),
            _ => "",
        }
    }
}

async fn classes_page(
    state: &AppState,
    principal: &opsdesk_app::Principal,
    failed: Option<(String, SentForm)>,
) -> Result<Response, WebError> {
    let classes = state.app.ci_classes(principal).await?;
    let status = if failed.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = ClassesPage {
        c: Chrome::new(principal, Lang.t("cmdb.classes.title")),
        classes,
        failed,
    };
    Ok((status, render(&page)).into_response())
}

async fn class_list(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    classes_page(&state, &principal, None).await
}

/// The class's fields as they are, for a change of one.
async fn fields_of(
    state: &AppState,
    principal: &opsdesk_app::Principal,
    class: &str,
) -> Result<Vec<CiField>, WebError> {
    Ok(state
        .app
        .ci_classes(principal)
        .await?
        .into_iter()
        .find(|c| c.class == class)
        .map(|c| c.fields)
        .ok_or(AppError::NotFound("class"))?)
}

/// Adds one field to a class (admins), through the same use case as the API's PUT.
async fn add_class_field(
    State(state): State<AppState>,
    Path(class): Path<String>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let mut fields = fields_of(&state, &form.principal, &class).await?;
    let index = fields.len();
    fields.push(CiField {
        name: form.get("name").trim().to_owned(),
        label: form.get("label").trim().to_owned(),
        kind: form.get("kind").to_owned(),
        required: form.get("required") == "on",
    });
    match state
        .app
        .set_class_fields(&form.principal, &class, fields)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/cmdb/classes#class-{class}")).into_response()),
        Err(error) => {
            let prefix = format!("fields[{index}].");
            let errors = form_errors(error)?
                .into_iter()
                .map(|e| match e.field.strip_prefix(&prefix) {
                    Some(field) => FieldError::new(field, e.message),
                    None => FieldError::new("", format!("{}: {}", e.field, e.message)),
                })
                .collect();
            let sent = SentForm::of(&form, errors);
            classes_page(&state, &form.principal, Some((class, sent))).await
        }
    }
}

async fn remove_class_field(
    State(state): State<AppState>,
    Path((class, name)): Path<(String, String)>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let fields = fields_of(&state, &form.principal, &class)
        .await?
        .into_iter()
        .filter(|f| f.name != name)
        .collect();
    state
        .app
        .set_class_fields(&form.principal, &class, fields)
        .await?;
    Ok(Redirect::to(&format!("/cmdb/classes#class-{class}")))
}
