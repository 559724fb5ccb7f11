//! The sessions and tokens a person has open, and ending them: one's own, anyone's for an
//! admin, and all of a person's at once when their account is disabled or compromised.

use opsdesk_domain::account::Role;
use opsdesk_store::accounts::{self as store, SessionRow};
use serde::Serialize;

use crate::audit::{Action, Entity, Event};
use crate::change::{Need, Tx};
use crate::{App, AppError, Principal, Via, timestamp};

/// A signed-in browser session as its owner (or an admin) sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    /// The id to revoke it by.
    pub id: String,
    pub user_id: i64,
    /// How the person signed in: `password`, `oidc`, `ldap`.
    pub method: String,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_seen_at: Option<jiff::Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: jiff::Timestamp,
    /// The session this request came with.
    pub current: bool,
}

fn session_info(row: SessionRow, principal: &Principal) -> SessionInfo {
    let current =
        matches!(&principal.via, Via::Session { session_id, .. } if *session_id == row.public_id);
    SessionInfo {
        id: row.public_id,
        user_id: row.user_id,
        method: row.method,
        client_ip: row.client_ip,
        user_agent: row.user_agent,
        created_at: timestamp(row.created_at),
        last_seen_at: row.last_seen_at.map(timestamp),
        expires_at: timestamp(row.expires_at),
        current,
    }
}

/// What ending all of a person's access ended.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct AccessRevoked {
    pub user_id: i64,
    pub sessions: u64,
    pub tokens: u64,
}

/// Ends every session and revokes every token of `user_id` inside the caller's change, and
/// records it. Directory syncs and SCIM call this when an account is disabled at its source.
pub(crate) async fn revoke_access_in(
    tx: &mut Tx<'_>,
    user_id: i64,
) -> Result<AccessRevoked, AppError> {
    let sessions = store::delete_user_sessions(tx.conn, user_id).await?;
    let tokens = store::revoke_user_tokens(tx.conn, user_id, tx.now).await?;
    let revoked = AccessRevoked {
        user_id,
        sessions,
        tokens,
    };
    if sessions > 0 || tokens > 0 {
        tx.record(Event {
            entity: Entity::Session,
            entity_id: user_id,
            action: Action::Revoked,
            before: None,
            after: crate::audit::snapshot(&revoked),
        })
        .await?;
    }
    Ok(revoked)
}

/// Admins act on anyone; everyone else only on themselves.
fn may_manage(principal: &Principal, user_id: i64) -> Result<(), AppError> {
    if principal.role == Role::Admin || principal.user_id == Some(user_id) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "only admins manage other people's sessions".into(),
        ))
    }
}

impl App {
    /// The unexpired sessions of `user_id` (the principal's own when `None`).
    pub async fn sessions(
        &self,
        principal: &Principal,
        user_id: Option<i64>,
    ) -> Result<Vec<SessionInfo>, AppError> {
        let user_id = user_id
            .or(principal.user_id)
            .ok_or_else(|| AppError::Unauthenticated("no user is signed in".into()))?;
        may_manage(principal, user_id)?;
        let mut conn = self.db().reader().await?;
        Ok(store::list_user_sessions(&mut conn, user_id, self.now_ms())
            .await?
            .into_iter()
            .map(|row| session_info(row, principal))
            .collect())
    }

    /// Ends one session: one's own, or anyone's for an admin. Unknown and other people's
    /// sessions look the same, so ids cannot be probed.
    pub async fn revoke_session(&self, principal: &Principal, id: &str) -> Result<(), AppError> {
        let viewer = principal.clone();
        let id = id.to_owned();
        self.change(principal, Need::Anyone, move |mut tx| {
            Box::pin(async move {
                let session = store::get_session(tx.conn, &id)
                    .await?
                    .filter(|session| may_manage(&viewer, session.user_id).is_ok())
                    .ok_or(AppError::NotFound("session"))?;
                store::delete_session_by_public_id(tx.conn, &id).await?;
                let info = session_info(session, &viewer);
                tx.record(Event {
                    entity: Entity::Session,
                    entity_id: info.user_id,
                    action: Action::Revoked,
                    before: crate::audit::snapshot(&info),
                    after: None,
                })
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Ends every session and revokes every API token of `user_id`: "sign me out
    /// everywhere", or an admin locking out a compromised account.
    pub async fn revoke_all_access(
        &self,
        principal: &Principal,
        user_id: i64,
    ) -> Result<AccessRevoked, AppError> {
        may_manage(principal, user_id)?;
        self.change(principal, Need::Anyone, move |mut tx| {
            Box::pin(async move {
                store::get_user(tx.conn, user_id)
                    .await?
                    .ok_or(AppError::NotFound("user"))?;
                revoke_access_in(&mut tx, user_id).await
            })
        })
        .await
    }
}
