//! Remote assistance: how each item is reached (SSH, RDP, VNC, a web console), and
//! "connect" from a ticket, which opens the right client and records on the ticket who
//! connected to what and when, followed by their note of what was done.

use jiff::Timestamp;
use opsdesk_domain::cmdb::remote::{RemoteMethod, client_uri};
use opsdesk_store::agent_work::{self as store, AccessRow, NewSession};
use opsdesk_store::cmdb as cmdb_store;
use serde::{Deserialize, Serialize};

use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::{App, AppError, FieldError, Principal, timestamp};

/// Most ways to reach one item.
const MOST_ACCESS: usize = 20;

/// A way to reach an item, as given.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccess {
    /// `ssh`, `rdp`, `vnc` or `web`.
    pub method: String,
    /// `host[:port]`, or the console's URL for `web`.
    pub address: String,
    #[serde(default)]
    pub username: Option<String>,
}

/// A way to reach an item, with the link that opens its client.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Access {
    pub id: i64,
    pub method: String,
    pub address: String,
    pub username: Option<String>,
    /// `ssh://…`, `rdp://…`, `vnc://…` or the console's URL.
    pub uri: String,
}

fn access_view(row: AccessRow) -> Option<Access> {
    let method: RemoteMethod = row.method.parse().ok()?;
    let uri = client_uri(method, &row.address, row.username.as_deref()).ok()?;
    Some(Access {
        id: row.id,
        method: row.method,
        address: row.address,
        username: row.username,
        uri,
    })
}

/// A connection opened from a ticket.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RemoteSession {
    pub id: i64,
    pub ticket: i64,
    pub ci: i64,
    pub method: String,
    /// The link to open.
    pub uri: String,
    pub actor: String,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    /// What was done, once written.
    pub note: Option<String>,
}

fn session_view(row: store::SessionRow) -> RemoteSession {
    RemoteSession {
        id: row.id,
        ticket: row.ticket_id,
        ci: row.ci_id,
        method: row.method,
        uri: row.uri,
        actor: row.actor,
        started_at: timestamp(row.started_at),
        note: row.note,
    }
}

/// What was done during a remote session.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionNote {
    pub note: String,
}

impl App {
    /// How an item is reached (staff who may see it).
    pub async fn ci_access(&self, principal: &Principal, ci: i64) -> Result<Vec<Access>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        crate::cmdb::visible(&mut conn, principal, ci).await?;
        Ok(store::access_of(&mut conn, ci)
            .await?
            .into_iter()
            .filter_map(access_view)
            .collect())
    }

    /// Replaces how an item is reached (staff).
    pub async fn set_ci_access(
        &self,
        principal: &Principal,
        ci: i64,
        input: Vec<NewAccess>,
    ) -> Result<Vec<Access>, AppError> {
        if input.len() > MOST_ACCESS {
            return Err(AppError::invalid(
                "access",
                format!("at most {MOST_ACCESS} entries"),
            ));
        }
        let mut errors = Vec::new();
        let mut entries = Vec::new();
        for (index, entry) in input.iter().enumerate() {
            let field = |name: &str| format!("[{index}].{name}");
            let Ok(method) = entry.method.parse::<RemoteMethod>() else {
                errors.push(FieldError::new(field("method"), "ssh, rdp, vnc or web"));
                continue;
            };
            let username = entry
                .username
                .as_deref()
                .map(str::trim)
                .filter(|u| !u.is_empty());
            match client_uri(method, &entry.address, username) {
                Ok(_) => entries.push((
                    method.as_str().to_owned(),
                    entry.address.trim().to_owned(),
                    username.map(str::to_owned),
                )),
                Err(e) => errors.push(FieldError::new(field("address"), e.to_string())),
            }
        }
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                crate::cmdb::visible(tx.conn, tx.principal, ci).await?;
                let before: Vec<String> = store::access_of(tx.conn, ci)
                    .await?
                    .into_iter()
                    .map(|a| format!("{} {}", a.method, a.address))
                    .collect();
                store::set_access(tx.conn, ci, &entries).await?;
                let after: Vec<String> =
                    entries.iter().map(|(m, a, _)| format!("{m} {a}")).collect();
                tx.record(Event::updated(
                    Entity::Ci,
                    ci,
                    &serde_json::json!({"access": before}),
                    &serde_json::json!({"access": after}),
                ))
                .await?;
                Ok(())
            })
        })
        .await?;
        self.ci_access(principal, ci).await
    }

    /// Opens a connection to one of a ticket's items (staff): records who connected to
    /// what and when, on the ticket, and gives the link to open.
    pub async fn connect(
        &self,
        principal: &Principal,
        reference: &str,
        access: i64,
    ) -> Result<RemoteSession, AppError> {
        let reference = reference.to_owned();
        let id = self
            .change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move {
                    let ticket = crate::tickets::find_visible(tx.conn, tx.principal, &reference).await?;
                    let cis = cmdb_store::ticket_ci_ids(tx.conn, ticket.id).await?;
                    let mut found = None;
                    for ci in &cis {
                        if let Some(row) = store::access_of(tx.conn, *ci)
                            .await?
                            .into_iter()
                            .find(|a| a.id == access)
                        {
                            found = Some(row);
                        }
                    }
                    let row = found.ok_or_else(|| {
                        AppError::invalid("access", "not a way to reach one of this ticket's items")
                    })?;
                    let ci_row = crate::cmdb::visible(tx.conn, tx.principal, row.ci_id).await?;
                    let method = row.method.clone();
                    let view = access_view(row).ok_or_else(|| AppError::broken("unreadable access entry"))?;
                    let actor = if tx.principal.email.is_empty() {
                        tx.actor.to_owned()
                    } else {
                        tx.principal.email.clone()
                    };
                    let id = store::insert_session(
                        tx.conn,
                        &NewSession {
                            ticket_id: ticket.id,
                            ci_id: ci_row.id,
                            method: &method,
                            uri: &view.uri,
                            user_id: tx.principal.user_id,
                            actor: &actor,
                        },
                        tx.now,
                    )
                    .await?;
                    let note = format!(
                        "**Remote session:** {actor} connected to {} by {} ({}) at {}.",
                        ci_row.name,
                        method.to_ascii_uppercase(),
                        view.uri,
                        timestamp(tx.now)
                    );
                    crate::tickets::add_note(&mut tx, ticket.id, note).await?;
                    tx.record(Event::created(
                        Entity::RemoteSession,
                        id,
                        &serde_json::json!({"ticket": ticket.id, "ci": ci_row.id, "method": method, "uri": view.uri}),
                    ))
                    .await?;
                    Ok(id)
                })
            })
            .await?;
        let mut conn = self.db().reader().await?;
        let row = store::session(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound("remote session"))?;
        Ok(session_view(row))
    }

    /// A remote session (staff who may see its ticket): the page that opens its client and
    /// asks what was done.
    pub async fn remote_session(
        &self,
        principal: &Principal,
        session: i64,
    ) -> Result<RemoteSession, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let row = store::session(&mut conn, session)
            .await?
            .ok_or(AppError::NotFound("remote session"))?;
        crate::tickets::find_visible(&mut conn, principal, &row.ticket_id.to_string())
            .await
            .map_err(|_| AppError::NotFound("remote session"))?;
        Ok(session_view(row))
    }

    /// Writes what was done during a remote session, as an internal note on its ticket (the
    /// person who connected, or an admin).
    pub async fn note_remote_session(
        &self,
        principal: &Principal,
        session: i64,
        input: SessionNote,
    ) -> Result<RemoteSession, AppError> {
        let note = input.note.trim().to_owned();
        if note.is_empty() {
            return Err(AppError::invalid("note", "must not be empty"));
        }
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let row = store::session(tx.conn, session)
                    .await?
                    .ok_or(AppError::NotFound("remote session"))?;
                crate::tickets::find_visible(tx.conn, tx.principal, &row.ticket_id.to_string())
                    .await
                    .map_err(|_| AppError::NotFound("remote session"))?;
                if row.actor != tx.principal.email && tx.principal.require_admin().is_err() {
                    return Err(AppError::Forbidden(
                        "only the person who connected (or an admin) writes what was done"
                            .to_owned(),
                    ));
                }
                store::note_session(tx.conn, session, &note, tx.now).await?;
                crate::tickets::add_note(
                    &mut tx,
                    row.ticket_id,
                    format!(
                        "**Remote session of {} ({} at {}):** {note}",
                        row.actor,
                        row.method.to_ascii_uppercase(),
                        timestamp(row.started_at)
                    ),
                )
                .await?;
                let after = store::session(tx.conn, session)
                    .await?
                    .ok_or(AppError::NotFound("remote session"))?;
                tx.record(Event::updated(
                    Entity::RemoteSession,
                    session,
                    &serde_json::json!({"note": row.note}),
                    &serde_json::json!({"note": after.note}),
                ))
                .await?;
                Ok(session_view(after))
            })
        })
        .await
    }
}
