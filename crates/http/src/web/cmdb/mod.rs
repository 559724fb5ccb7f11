//! CMDB pages for staff, one module per use: the items and an item's page, remote access,
//! relations and impact, suspected duplicates, patch compliance, classes and their fields,
//! labels and stocktake, and import/export. This module holds what their forms share.

mod access;
mod classes;
mod compliance;
mod duplicates;
mod items;
mod labels;
mod relations;
mod transfer;

use std::collections::HashMap;

use axum::Router;
use opsdesk_app::{AppError, FieldError};
use opsdesk_domain::cmdb::{CiClass, Lifecycle};
use serde::Deserialize;

use super::{SignedForm, WebError};
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .merge(items::routes())
        .merge(access::routes())
        .merge(relations::routes())
        .merge(duplicates::routes())
        .merge(compliance::routes())
        .merge(classes::routes())
        .merge(labels::routes())
        .merge(transfer::routes())
}

/// Items one page lists.
const PAGE: i64 = 100;
/// Days of inventory changes an item's page shows.
const CHANGE_DAYS: i64 = 14;

/// A form sent back with its mistakes: the values as sent, and each mistake by field.
#[derive(Default)]
pub(crate) struct SentForm {
    values: HashMap<String, String>,
    errors: Vec<FieldError>,
}

impl SentForm {
    pub(crate) fn of(form: &SignedForm, errors: Vec<FieldError>) -> Self {
        Self {
            values: form.sent(),
            errors,
        }
    }

    /// A form not sent yet, filled in with `values`.
    pub(super) fn with_values(values: HashMap<String, String>) -> Self {
        Self {
            values,
            errors: Vec::new(),
        }
    }

    pub(crate) fn v(&self, field: &str) -> &str {
        self.values.get(field).map_or("", String::as_str)
    }

    pub(crate) fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field || e.field.starts_with(&format!("{field}[")))
            .map(|e| e.message.as_str())
    }

    /// The first mistake, whichever field: for a form of a single choice or button.
    pub(super) fn first_error(&self) -> Option<&str> {
        self.errors.first().map(|e| e.message.as_str())
    }

    /// Mistakes in custom fields (`fields.ram_gb`), as label-less lines.
    fn field_errors(&self) -> Vec<&FieldError> {
        self.errors
            .iter()
            .filter(|e| e.field.starts_with("fields."))
            .collect()
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Leaves a sent value out of the page again (a password).
    pub(super) fn forget(&mut self, field: &str) {
        self.values.remove(field);
    }
}

fn classes() -> &'static [&'static str] {
    CiClass::NAMES
}

fn lifecycles() -> &'static [&'static str] {
    Lifecycle::NAMES
}

#[derive(Deserialize)]
struct ListParams {
    q: Option<String>,
    after: Option<i64>,
}

pub(super) fn text(form: &SignedForm, name: &str) -> Option<String> {
    form.opt(name).filter(|v| !v.trim().is_empty())
}

/// Field mistakes go back to the form; anything else is the page's error.
pub(crate) fn form_errors(error: AppError) -> Result<Vec<FieldError>, WebError> {
    match error {
        AppError::Invalid(errors) => Ok(errors),
        AppError::Conflict {
            field: Some(field),
            message,
        } => Ok(vec![FieldError::new(field, message)]),
        AppError::Conflict {
            field: None,
            message,
        } => Ok(vec![FieldError::new("", message)]),
        other => Err(other.into()),
    }
}
