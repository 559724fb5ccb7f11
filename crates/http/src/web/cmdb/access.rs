//! How an item is reached (SSH, RDP, VNC, a web console): the item page lists the links that
//! open each client and has a form of several rows, saved through the same use case as
//! `PUT /api/v1/cis/{id}/access`.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use opsdesk_app::remote::{Access, NewAccess};
use opsdesk_domain::cmdb::remote::RemoteMethod;

use super::form_errors;
use super::items::{ItemForms, item_page};
use crate::AppState;
use crate::web::{SignedForm, WebError};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/cmdb/{id}/access", post(save))
}

/// Empty rows the form offers below the item's entries, to add more at once.
const EMPTY_ROWS: usize = 3;

/// One row of the remote access form, with its mistake.
pub(crate) struct AccessRow {
    pub method: String,
    pub address: String,
    pub username: String,
    pub error: Option<String>,
}

impl AccessRow {
    fn empty() -> Self {
        Self {
            method: RemoteMethod::Ssh.as_str().to_owned(),
            address: String::new(),
            username: String::new(),
            error: None,
        }
    }

    /// A spare row left as it was: no entry.
    fn is_blank(&self) -> bool {
        self.address.is_empty() && self.username.is_empty()
    }
}

/// The remote access form: its rows, and a mistake about them all (too many).
pub(crate) struct AccessForm {
    pub rows: Vec<AccessRow>,
    pub error: Option<String>,
}

impl AccessForm {
    /// The item's entries, then empty rows.
    pub(super) fn of(entries: &[Access]) -> Self {
        let rows = entries
            .iter()
            .map(|a| AccessRow {
                method: a.method.clone(),
                address: a.address.clone(),
                username: a.username.clone().unwrap_or_default(),
                error: None,
            })
            .chain(std::iter::repeat_with(AccessRow::empty).take(EMPTY_ROWS))
            .collect();
        Self { rows, error: None }
    }

    /// The rows as typed: the n-th method, address and user name sent make row n.
    fn sent(form: &SignedForm) -> Self {
        let column = |name: &str| -> Vec<String> {
            form.fields
                .iter()
                .filter(|(key, _)| key == name)
                .map(|(_, value)| value.trim().to_owned())
                .collect()
        };
        let (methods, addresses, usernames) =
            (column("method"), column("address"), column("username"));
        let count = methods.len().max(addresses.len()).max(usernames.len());
        let cell = |values: &[String], row: usize| values.get(row).cloned().unwrap_or_default();
        let rows = (0..count)
            .map(|row| AccessRow {
                method: cell(&methods, row),
                address: cell(&addresses, row),
                username: cell(&usernames, row),
                error: None,
            })
            .collect();
        Self { rows, error: None }
    }

    pub(super) fn has_errors(&self) -> bool {
        self.error.is_some() || self.rows.iter().any(|row| row.error.is_some())
    }

    pub(super) fn methods(&self) -> &'static [&'static str] {
        RemoteMethod::NAMES
    }
}

/// Replaces the item's entries with the form's filled rows; blank rows are ignored. A
/// mistake comes back next to the row it is in.
async fn save(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let mut sent = AccessForm::sent(&form);
    let filled: Vec<usize> = (0..sent.rows.len())
        .filter(|&row| !sent.rows[row].is_blank())
        .collect();
    let input = filled
        .iter()
        .map(|&row| {
            let row = &sent.rows[row];
            NewAccess {
                method: row.method.clone(),
                address: row.address.clone(),
                username: Some(row.username.clone()).filter(|u| !u.is_empty()),
            }
        })
        .collect();
    let error = match state.app.set_ci_access(&form.principal, id, input).await {
        Ok(_) => return Ok(Redirect::to(&format!("/cmdb/{id}#access")).into_response()),
        Err(error) => error,
    };
    for mistake in form_errors(error)? {
        // The use case numbers the entries it was given (`[1].address`): the filled rows.
        let row = mistake
            .field
            .strip_prefix('[')
            .and_then(|rest| rest.split_once(']'))
            .and_then(|(number, _)| number.parse::<usize>().ok())
            .and_then(|number| filled.get(number).copied());
        match row {
            Some(row) => {
                sent.rows[row].error.get_or_insert(mistake.message);
            }
            None => {
                sent.error.get_or_insert(mistake.message);
            }
        }
    }
    let forms = ItemForms {
        access: Some(sent),
        ..ItemForms::default()
    };
    item_page(&state, &form.principal, id, forms).await
}
