//! Runbook scripts and their approvals: every version, those waiting first, with the
//! runbook and step it came from. Admins approve or withdraw one exact version; agents see
//! the list, to know what waits before a runbook can run.

use opsdesk_app::runbooks::Script;

use super::*;
use crate::web::knowledge::RunbookTitles;

/// A script version as the page lists it, with its runbook's id and title.
pub(super) struct ScriptLine {
    pub script: Script,
    pub runbook: Option<(i64, String)>,
}

pub(super) async fn scripts(
    State(state): State<AppState>,
    WebUser(p): WebUser,
) -> Result<Response, WebError> {
    p.require_staff()?;
    let mut titles = RunbookTitles::default();
    let mut lines = Vec::new();
    for script in state.app.scripts(&p).await? {
        let runbook = match script.runbook {
            Some(id) => Some((id, titles.of(&state, &p, id).await)),
            None => None,
        };
        lines.push(ScriptLine { script, runbook });
    }
    let page = AdminPage {
        c: Chrome::new(&p, Lang.label("admin", "scripts")),
        tab: "scripts",
        section: Section::Scripts(lines),
    };
    Ok(render(&page))
}

pub(super) async fn approve(
    State(state): State<AppState>,
    Path(hash): Path<String>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state.app.approve_script(&form.principal, &hash).await?;
    Ok(Redirect::to("/admin/scripts"))
}

pub(super) async fn withdraw(
    State(state): State<AppState>,
    Path(hash): Path<String>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state.app.withdraw_script(&form.principal, &hash).await?;
    Ok(Redirect::to("/admin/scripts"))
}
