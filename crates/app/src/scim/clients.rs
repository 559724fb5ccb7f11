//! Provisioning clients: the tokens admins hand to identity providers, and who a token is.

use opsdesk_domain::account::Role;
use opsdesk_store::scim::{self as store, ScimClientRow};
use serde::{Deserialize, Serialize};

use crate::accounts::OrganizationRef;
use crate::audit::{Action, Entity, Event};
use crate::change::Need;
use crate::clock::{random_secret, secret_hash};
use crate::{App, AppError, Principal, timestamp};

/// Prefix that makes provisioning tokens recognisable to secret scanners and people.
const TOKEN_PREFIX: &str = "odscim_";

/// A provisioning client as admins see it (never its token).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScimClient {
    pub id: i64,
    pub name: String,
    /// The organization whose customers it provisions; none for a staff client.
    pub organization_id: Option<i64>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<jiff::Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<jiff::Timestamp>,
}

impl From<ScimClientRow> for ScimClient {
    fn from(row: ScimClientRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            organization_id: row.organization_id,
            created_at: timestamp(row.created_at),
            last_used_at: row.last_used_at.map(timestamp),
            revoked_at: row.revoked_at.map(timestamp),
        }
    }
}

/// A client just created: the only time its token is visible.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedScimClient {
    #[serde(flatten)]
    pub client: ScimClient,
    /// The bearer token to enter in the identity provider. Shown once; only its hash is kept.
    pub token: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewScimClient {
    pub name: String,
    /// Organization (name or id) whose customers it provisions; leave out for staff.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub organization: Option<OrganizationRef>,
}

/// Who is calling the SCIM endpoint: an authenticated provisioning client.
#[derive(Debug, Clone)]
pub struct ScimCaller {
    pub client_id: i64,
    pub name: String,
    pub organization_id: Option<i64>,
}

impl ScimCaller {
    /// The principal its changes are made and audited as.
    pub(super) fn principal(&self) -> Principal {
        Principal::system(&format!("scim:{}", self.name))
    }

    pub(super) fn role(&self) -> Role {
        if self.organization_id.is_some() {
            Role::Customer
        } else {
            Role::Agent
        }
    }
}

impl App {
    /// The provisioning clients (admins).
    pub async fn scim_clients(&self, principal: &Principal) -> Result<Vec<ScimClient>, AppError> {
        principal.require_admin()?;
        let mut conn = self.db().reader().await?;
        Ok(store::list_clients(&mut conn)
            .await?
            .into_iter()
            .map(ScimClient::from)
            .collect())
    }

    /// Creates a provisioning client and its token (admins).
    pub async fn create_scim_client(
        &self,
        principal: &Principal,
        input: NewScimClient,
    ) -> Result<CreatedScimClient, AppError> {
        let name = input.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AppError::invalid("name", "must be 1 to 100 characters"));
        }
        let token = format!("{TOKEN_PREFIX}{}", random_secret()?);
        let hash = secret_hash(&token);
        let client = self
            .change(principal, Need::Admin, move |mut tx| {
                Box::pin(async move {
                    let organization_id = match &input.organization {
                        None => None,
                        Some(reference) => Some(
                            crate::accounts::resolve_organization(
                                tx.conn,
                                "organization",
                                reference,
                            )
                            .await?,
                        ),
                    };
                    let row = store::insert_client(tx.conn, &name, organization_id, &hash, tx.now)
                        .await?;
                    let client = ScimClient::from(row);
                    tx.record(Event::created(Entity::ScimClient, client.id, &client))
                        .await?;
                    Ok(client)
                })
            })
            .await?;
        Ok(CreatedScimClient { client, token })
    }

    /// Revokes a provisioning client's token (admins); the accounts it made stay.
    pub async fn revoke_scim_client(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<ScimClient, AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let before = store::get_client(tx.conn, id)
                    .await?
                    .map(ScimClient::from)
                    .ok_or(AppError::NotFound("provisioning client"))?;
                if !store::revoke_client(tx.conn, id, tx.now).await? {
                    return Err(AppError::Conflict {
                        field: None,
                        message: "the client is already revoked".into(),
                    });
                }
                let after = ScimClient {
                    revoked_at: Some(timestamp(tx.now)),
                    ..before.clone()
                };
                tx.record(Event {
                    entity: Entity::ScimClient,
                    entity_id: id,
                    action: Action::Revoked,
                    before: crate::audit::snapshot(&before),
                    after: crate::audit::snapshot(&after),
                })
                .await?;
                Ok(after)
            })
        })
        .await
    }

    /// Resolves a provisioning token to its client.
    pub async fn authenticate_scim(&self, token: &str) -> Result<ScimCaller, AppError> {
        let rejected = || AppError::Unauthenticated("the provisioning token is invalid".into());
        if !token.starts_with(TOKEN_PREFIX) {
            return Err(rejected());
        }
        let row = {
            let mut conn = self.db().reader().await?;
            store::find_client_by_token(&mut conn, &secret_hash(token))
                .await?
                .ok_or_else(rejected)?
        };
        if row
            .last_used_at
            .is_none_or(|used| self.now_ms() - used > 60_000)
        {
            let id = row.id;
            self.system_change("provisioning", move |tx| {
                Box::pin(async move { Ok(store::touch_client(tx.conn, id, tx.now).await?) })
            })
            .await?;
        }
        Ok(ScimCaller {
            client_id: row.id,
            name: row.name,
            organization_id: row.organization_id,
        })
    }
}
