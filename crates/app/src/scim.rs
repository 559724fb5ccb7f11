//! SCIM 2.0 provisioning (RFC 7643/7644): identity providers (Entra ID, Okta, Authentik,
//! Keycloak plug-ins) push the accounts and groups they manage. Each client has its own
//! token and scope: an organization's client creates and updates only that organization's
//! customers; a staff client (no organization) manages agents and the support groups it
//! creates or adopts. Admin accounts are never provisioned, so a directory can never lock out
//! the local break-glass admin.

use std::collections::HashMap;

use opsdesk_domain::account::{Email, Role};
use opsdesk_domain::scim::{self as rules, ScimError, UserChanges};
use opsdesk_store::accounts as accounts_store;
use opsdesk_store::identities;
use opsdesk_store::scim::{self as store, ManagedGroupRow, ProvisionedUserRow, ScimClientRow};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::accounts::{NewUserInput, OrganizationRef, UserPatch};
use crate::audit::{Action, Entity, Event};
use crate::change::Need;
use crate::clock::{random_secret, secret_hash};
use crate::tickets::NewGroup;
use crate::{App, AppError, Precondition, Principal, timestamp};

/// Prefix that makes provisioning tokens recognisable to secret scanners and people.
const TOKEN_PREFIX: &str = "odscim_";
/// The largest page a list answers, whatever `count` asks for.
pub const MAX_PAGE: i64 = 200;

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
    fn principal(&self) -> Principal {
        Principal::system(&format!("scim:{}", self.name))
    }

    fn role(&self) -> Role {
        if self.organization_id.is_some() {
            Role::Customer
        } else {
            Role::Agent
        }
    }
}

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimMeta {
    pub resource_type: String,
    #[schema(value_type = String, format = DateTime)]
    pub created: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub last_modified: jiff::Timestamp,
    pub location: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimName {
    pub formatted: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScimEmail {
    pub value: String,
    pub primary: bool,
    #[serde(rename = "type")]
    pub kind: String,
}

/// A User resource.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimUser {
    pub schemas: Vec<String>,
    pub id: String,
    pub external_id: String,
    pub user_name: String,
    pub name: ScimName,
    pub display_name: String,
    pub emails: Vec<ScimEmail>,
    pub active: bool,
    pub meta: ScimMeta,
}

impl From<ProvisionedUserRow> for ScimUser {
    fn from(row: ProvisionedUserRow) -> Self {
        Self {
            schemas: vec![USER_SCHEMA.into()],
            id: row.id.to_string(),
            external_id: row.external_id,
            user_name: row.email.clone(),
            name: ScimName {
                formatted: row.name.clone(),
            },
            display_name: row.name,
            emails: vec![ScimEmail {
                value: row.email,
                primary: true,
                kind: "work".into(),
            }],
            active: row.active != 0,
            meta: ScimMeta {
                resource_type: "User".into(),
                created: timestamp(row.created_at),
                last_modified: timestamp(row.updated_at),
                location: format!("/scim/v2/Users/{}", row.id),
                version: format!("W/\"{}\"", row.version),
            },
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScimMember {
    pub value: String,
    pub display: String,
}

/// A Group resource: a support group.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimGroup {
    pub schemas: Vec<String>,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub display_name: String,
    pub members: Vec<ScimMember>,
    pub meta: ScimMeta,
}

/// A page of resources.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimList<T> {
    pub schemas: Vec<String>,
    pub total_results: i64,
    pub start_index: i64,
    pub items_per_page: i64,
    #[serde(rename = "Resources")]
    pub resources: Vec<T>,
}

fn scim_error(error: ScimError) -> AppError {
    let field = match error {
        ScimError::InvalidFilter(_) => "filter",
        ScimError::InvalidPath(_) => "path",
        ScimError::InvalidValue(_) => "value",
    };
    AppError::invalid(field, error)
}

fn not_found() -> AppError {
    AppError::NotFound("resource")
}

fn parse_id(id: &str) -> Result<i64, AppError> {
    id.parse().map_err(|_| not_found())
}

/// A User resource as a client sends it on create or replace.
struct UserInput {
    email: Email,
    name: String,
    external_id: String,
    active: bool,
}

fn user_input(body: &Value) -> Result<UserInput, AppError> {
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    let user_name =
        text("userName").ok_or_else(|| AppError::invalid("userName", "a user needs a userName"))?;
    // opsdesk keys accounts by e-mail: the userName when it is an address (Entra's UPN
    // usually is), else the primary e-mail.
    let email = Email::parse(&user_name)
        .ok()
        .or_else(|| {
            body.get("emails")
                .and_then(rules::primary_email)
                .and_then(|e| Email::parse(&e).ok())
        })
        .ok_or_else(|| {
            AppError::invalid(
                "emails",
                "a user needs an e-mail address as userName or in emails",
            )
        })?;
    let mut changes = UserChanges::default();
    if let Some(name) = body.get("name").and_then(Value::as_object) {
        let part = |key: &str| name.get(key).and_then(Value::as_str).map(str::to_owned);
        changes.display_name = part("formatted");
        changes.given_name = part("givenName");
        changes.family_name = part("familyName");
    }
    if let Some(display) = text("displayName") {
        changes.display_name = Some(display);
    }
    let active = match body.get("active") {
        Some(value) => rules::boolean(value).map_err(scim_error)?,
        None => true,
    };
    Ok(UserInput {
        name: full_name(&changes).unwrap_or_else(|| user_name.clone()),
        external_id: text("externalId").unwrap_or(user_name),
        email,
        active,
    })
}

/// The name to show: the display name, else given and family name.
fn full_name(changes: &UserChanges) -> Option<String> {
    changes.display_name.clone().or_else(|| {
        let parts: Vec<&str> = [&changes.given_name, &changes.family_name]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .filter(|part| !part.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    })
}

/// A managed group as SCIM shows it.
fn group_view(row: ManagedGroupRow, members: Vec<ScimMember>) -> ScimGroup {
    ScimGroup {
        schemas: vec![GROUP_SCHEMA.into()],
        id: row.id.to_string(),
        external_id: row.external_id,
        display_name: row.name,
        members,
        meta: ScimMeta {
            resource_type: "Group".into(),
            created: timestamp(row.created_at),
            last_modified: timestamp(row.updated_at),
            location: format!("/scim/v2/Groups/{}", row.id),
            version: format!("W/\"{}\"", row.updated_at),
        },
    }
}

fn immutable_email() -> AppError {
    AppError::invalid(
        "userName",
        "opsdesk keys accounts by e-mail address, which cannot change; provision a new user",
    )
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

    /// The client's users, optionally filtered (`userName eq "…"`), paged from
    /// `start_index` (1-based).
    pub async fn scim_users(
        &self,
        caller: &ScimCaller,
        filter: Option<&str>,
        start_index: i64,
        count: i64,
    ) -> Result<ScimList<ScimUser>, AppError> {
        let filter = filter
            .filter(|f| !f.trim().is_empty())
            .map(rules::parse_filter)
            .transpose()
            .map_err(scim_error)?;
        let mut value = filter.as_ref().map(|f| f.value.clone()).unwrap_or_default();
        let column = match filter.as_ref().map(|f| f.attribute.as_str()) {
            Some("username" | "emails.value") => {
                value = value.to_lowercase();
                Some("email")
            }
            Some("externalid") => Some("external_id"),
            Some("displayname") => Some("name"),
            Some(_) => Some("id"),
            None => None,
        };
        let start_index = start_index.max(1);
        let count = count.clamp(0, MAX_PAGE);
        let mut conn = self.db().reader().await?;
        let (total, rows) = store::provisioned_users(
            &mut conn,
            caller.client_id,
            column.map(|c| (c, value.as_str())),
            start_index - 1,
            count,
        )
        .await?;
        let resources: Vec<ScimUser> = rows.into_iter().map(ScimUser::from).collect();
        Ok(ScimList {
            schemas: vec![LIST_SCHEMA.into()],
            total_results: total,
            start_index,
            items_per_page: i64::try_from(resources.len()).unwrap_or_default(),
            resources,
        })
    }

    pub async fn scim_user(&self, caller: &ScimCaller, id: &str) -> Result<ScimUser, AppError> {
        let mut conn = self.db().reader().await?;
        store::provisioned_user(&mut conn, caller.client_id, parse_id(id)?)
            .await?
            .map(ScimUser::from)
            .ok_or_else(not_found)
    }

    /// Creates a user, or adopts an existing account in the client's scope with the same
    /// address (so switching provisioning on for a running desk keeps people's tickets).
    pub async fn scim_create_user(
        &self,
        caller: &ScimCaller,
        body: &Value,
    ) -> Result<ScimUser, AppError> {
        let input = user_input(body)?;
        let existing = {
            let mut conn = self.db().reader().await?;
            // Checked before any account is made, so that a refused request leaves none
            // behind: the link would not move to a second account.
            let holder = identities::find_identity_user(
                &mut conn,
                "scim",
                caller.client_id,
                &input.external_id,
            )
            .await?;
            if holder.is_some() {
                return Err(AppError::Conflict {
                    field: Some("externalId".into()),
                    message: "a user is already provisioned with this externalId".into(),
                });
            }
            accounts_store::find_user_by_email(&mut conn, input.email.as_str()).await?
        };
        let principal = caller.principal();
        let user_id = match existing {
            Some(user) => {
                let in_scope = user.role == caller.role().as_str()
                    && (caller.organization_id.is_none()
                        || user.organization_id == caller.organization_id);
                if !in_scope {
                    return Err(AppError::Conflict {
                        field: Some("userName".into()),
                        message: "the address belongs to an account this client does not manage"
                            .into(),
                    });
                }
                let mut conn = self.db().reader().await?;
                if store::provisioned_user(&mut conn, caller.client_id, user.id)
                    .await?
                    .is_some()
                {
                    return Err(AppError::Conflict {
                        field: Some("userName".into()),
                        message: "the user is already provisioned".into(),
                    });
                }
                user.id
            }
            None => {
                self.create_user(
                    &principal,
                    NewUserInput {
                        email: input.email.to_string(),
                        name: input.name.clone(),
                        role: caller.role().as_str().into(),
                        organization: caller.organization_id.map(OrganizationRef::Id),
                        organizations: Vec::new(),
                        password: None,
                    },
                )
                .await?
                .id
            }
        };
        let (client_id, external_id) = (caller.client_id, input.external_id.clone());
        self.change(&principal, Need::Anyone, move |tx| {
            Box::pin(async move {
                identities::link_identity(tx.conn, user_id, "scim", client_id, &external_id, tx.now)
                    .await
                    .map_err(|e| AppError::from(e.on_unique("externalId")))
            })
        })
        .await?;
        self.apply_user(caller, user_id, Some(input.name), Some(input.active))
            .await
    }

    /// Sets a provisioned user's name and active flag; deactivating also ends every
    /// session and token at once.
    async fn apply_user(
        &self,
        caller: &ScimCaller,
        user_id: i64,
        name: Option<String>,
        active: Option<bool>,
    ) -> Result<ScimUser, AppError> {
        let principal = caller.principal();
        let user = self.user(&principal, user_id).await?;
        let renamed = name.filter(|n| *n != user.name);
        let toggled = active.filter(|a| *a != user.active);
        if renamed.is_some() || toggled.is_some() {
            self.update_user(
                &principal,
                user_id,
                Precondition::Any,
                UserPatch {
                    name: renamed,
                    active: toggled,
                    ..UserPatch::default()
                },
            )
            .await?;
        }
        if toggled == Some(false) {
            self.revoke_all_access(&principal, user_id).await?;
        }
        let mut conn = self.db().reader().await?;
        store::provisioned_user(&mut conn, caller.client_id, user_id)
            .await?
            .map(ScimUser::from)
            .ok_or_else(not_found)
    }

    /// PUT: the resource as sent replaces the one kept.
    pub async fn scim_replace_user(
        &self,
        caller: &ScimCaller,
        id: &str,
        body: &Value,
    ) -> Result<ScimUser, AppError> {
        let current = self.scim_user(caller, id).await?;
        let input = user_input(body)?;
        if input.email.as_str() != current.user_name {
            return Err(immutable_email());
        }
        let user_id = parse_id(id)?;
        self.set_external_id(caller, user_id, &input.external_id)
            .await?;
        self.apply_user(caller, user_id, Some(input.name), Some(input.active))
            .await
    }

    /// PATCH: the operations' changes.
    pub async fn scim_patch_user(
        &self,
        caller: &ScimCaller,
        id: &str,
        body: &Value,
    ) -> Result<ScimUser, AppError> {
        let current = self.scim_user(caller, id).await?;
        let operations = rules::patch_operations(body).map_err(scim_error)?;
        let changes = rules::user_changes(&operations).map_err(scim_error)?;
        for address in [&changes.user_name, &changes.email].into_iter().flatten() {
            if Email::parse(address).map(|e| e.to_string()).ok().as_deref()
                != Some(current.user_name.as_str())
            {
                return Err(immutable_email());
            }
        }
        let user_id = parse_id(id)?;
        if let Some(external_id) = &changes.external_id {
            self.set_external_id(caller, user_id, external_id).await?;
        }
        self.apply_user(caller, user_id, full_name(&changes), changes.active)
            .await
    }

    async fn set_external_id(
        &self,
        caller: &ScimCaller,
        user_id: i64,
        external_id: &str,
    ) -> Result<(), AppError> {
        let (client_id, external_id) = (caller.client_id, external_id.to_owned());
        self.change(&caller.principal(), Need::Anyone, move |tx| {
            Box::pin(async move {
                Ok(store::set_external_id(tx.conn, client_id, user_id, &external_id).await?)
            })
        })
        .await
    }

    /// DELETE: the account is deactivated (its tickets and history stay) and no longer
    /// provisioned by this client.
    pub async fn scim_delete_user(&self, caller: &ScimCaller, id: &str) -> Result<(), AppError> {
        self.scim_user(caller, id).await?;
        let user_id = parse_id(id)?;
        self.apply_user(caller, user_id, None, Some(false)).await?;
        let client_id = caller.client_id;
        self.change(&caller.principal(), Need::Anyone, move |tx| {
            Box::pin(async move {
                store::unlink_user(tx.conn, client_id, user_id).await?;
                Ok(())
            })
        })
        .await
    }

    fn staff_client(caller: &ScimCaller) -> Result<(), AppError> {
        if caller.organization_id.is_some() {
            return Err(AppError::Forbidden(
                "groups are support groups of staff; only a staff provisioning client (one \
                 without an organization) manages them"
                    .into(),
            ));
        }
        Ok(())
    }

    async fn scim_group_view(&self, row: ManagedGroupRow) -> Result<ScimGroup, AppError> {
        let members = self
            .group_members(&Principal::system("scim"), row.id)
            .await?
            .into_iter()
            .map(|m| ScimMember {
                value: m.id.to_string(),
                display: m.email,
            })
            .collect();
        Ok(group_view(row, members))
    }
    /// The support groups the client manages (none for an organization's client).
    pub async fn scim_groups(
        &self,
        caller: &ScimCaller,
        filter: Option<&str>,
    ) -> Result<ScimList<ScimGroup>, AppError> {
        let filter = filter
            .filter(|f| !f.trim().is_empty())
            .map(rules::parse_filter)
            .transpose()
            .map_err(scim_error)?;
        let name = match &filter {
            Some(f) if f.attribute == "displayname" => Some(f.value.clone()),
            Some(_) => {
                return Err(AppError::invalid(
                    "filter",
                    "groups are filtered by displayName",
                ));
            }
            None => None,
        };
        let (rows, memberships) = if caller.organization_id.is_some() {
            (Vec::new(), Vec::new())
        } else {
            let mut conn = self.db().reader().await?;
            let name = name.as_deref();
            (
                store::managed_groups(&mut conn, caller.client_id, name).await?,
                store::managed_group_members(&mut conn, caller.client_id, name).await?,
            )
        };
        let mut members: HashMap<i64, Vec<ScimMember>> = HashMap::new();
        for (group_id, user_id, email) in memberships {
            members.entry(group_id).or_default().push(ScimMember {
                value: user_id.to_string(),
                display: email,
            });
        }
        let resources: Vec<ScimGroup> = rows
            .into_iter()
            .map(|row| {
                let of_group = members.remove(&row.id).unwrap_or_default();
                group_view(row, of_group)
            })
            .collect();
        let total = i64::try_from(resources.len()).unwrap_or_default();
        Ok(ScimList {
            schemas: vec![LIST_SCHEMA.into()],
            total_results: total,
            start_index: 1,
            items_per_page: total,
            resources,
        })
    }

    pub async fn scim_group(&self, caller: &ScimCaller, id: &str) -> Result<ScimGroup, AppError> {
        Self::staff_client(caller)?;
        let row = {
            let mut conn = self.db().reader().await?;
            store::managed_group(&mut conn, caller.client_id, parse_id(id)?)
                .await?
                .ok_or_else(not_found)?
        };
        self.scim_group_view(row).await
    }

    /// Creates a support group (tier 1), or adopts the existing one of that name.
    pub async fn scim_create_group(
        &self,
        caller: &ScimCaller,
        body: &Value,
    ) -> Result<ScimGroup, AppError> {
        Self::staff_client(caller)?;
        let name = body
            .get("displayName")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| AppError::invalid("displayName", "a group needs a displayName"))?
            .to_owned();
        let principal = caller.principal();
        let existing = self
            .groups(&principal)
            .await?
            .into_iter()
            .find(|g| g.name.eq_ignore_ascii_case(&name));
        let group_id = match existing {
            Some(group) => group.id,
            None => {
                self.create_group(
                    &principal,
                    NewGroup {
                        name,
                        tier: 1,
                        description: format!("Provisioned by {}", caller.name),
                        members: Vec::new(),
                    },
                )
                .await?
                .id
            }
        };
        let external_id = body
            .get("externalId")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let client_id = caller.client_id;
        self.change(&principal, Need::Anyone, move |tx| {
            Box::pin(async move {
                Ok(store::manage_group(
                    tx.conn,
                    client_id,
                    group_id,
                    external_id.as_deref(),
                    tx.now,
                )
                .await?)
            })
        })
        .await?;
        if let Some(members) = body.get("members") {
            let ids = rules::member_ids(members).map_err(scim_error)?;
            self.set_scim_members(caller, group_id, None, &ids, &[])
                .await?;
        }
        self.scim_group(caller, &group_id.to_string()).await
    }

    /// Applies member changes: `replace` (when given) sets the whole list, else `add` and
    /// `remove`. Members must be accounts this client provisioned.
    async fn set_scim_members(
        &self,
        caller: &ScimCaller,
        group_id: i64,
        replace: Option<&[String]>,
        add: &[String],
        remove: &[String],
    ) -> Result<(), AppError> {
        let principal = caller.principal();
        let current: Vec<i64> = self
            .group_members(&principal, group_id)
            .await?
            .into_iter()
            .map(|m| m.id)
            .collect();
        let ids = |list: &[String]| -> Result<Vec<i64>, AppError> {
            list.iter()
                .map(|id| {
                    id.parse::<i64>()
                        .map_err(|_| AppError::invalid("members", format!("no user `{id}`")))
                })
                .collect()
        };
        let (add, remove) = match replace {
            Some(wanted) => {
                let wanted = ids(wanted)?;
                let remove: Vec<i64> = current
                    .iter()
                    .copied()
                    .filter(|id| !wanted.contains(id))
                    .collect();
                (wanted, remove)
            }
            None => (ids(add)?, ids(remove)?),
        };
        for user_id in add {
            let provisioned = {
                let mut conn = self.db().reader().await?;
                store::provisioned_user(&mut conn, caller.client_id, user_id)
                    .await?
                    .is_some()
            };
            if !provisioned {
                return Err(AppError::invalid(
                    "members",
                    format!("user {user_id} is not provisioned by this client"),
                ));
            }
            if !current.contains(&user_id) {
                self.add_group_member(&principal, group_id, &user_id.to_string())
                    .await?;
            }
        }
        for user_id in remove {
            if current.contains(&user_id) {
                self.remove_group_member(&principal, group_id, &user_id.to_string())
                    .await?;
            }
        }
        Ok(())
    }

    /// PATCH a group: member additions and removals. A new displayName is refused:
    /// support groups are renamed in opsdesk, where tickets and rules name them.
    pub async fn scim_patch_group(
        &self,
        caller: &ScimCaller,
        id: &str,
        body: &Value,
    ) -> Result<ScimGroup, AppError> {
        let group = self.scim_group(caller, id).await?;
        let operations = rules::patch_operations(body).map_err(scim_error)?;
        let changes = rules::group_changes(&operations).map_err(scim_error)?;
        if changes
            .display_name
            .as_ref()
            .is_some_and(|name| *name != group.display_name)
        {
            return Err(AppError::invalid(
                "displayName",
                "support groups are renamed in opsdesk, not by provisioning",
            ));
        }
        let group_id = parse_id(id)?;
        self.set_scim_members(
            caller,
            group_id,
            changes.replace.as_deref(),
            &changes.add,
            &changes.remove,
        )
        .await?;
        self.scim_group(caller, id).await
    }

    /// PUT a group: its members become exactly those sent.
    pub async fn scim_replace_group(
        &self,
        caller: &ScimCaller,
        id: &str,
        body: &Value,
    ) -> Result<ScimGroup, AppError> {
        let group = self.scim_group(caller, id).await?;
        if body
            .get("displayName")
            .and_then(Value::as_str)
            .is_some_and(|name| name != group.display_name)
        {
            return Err(AppError::invalid(
                "displayName",
                "support groups are renamed in opsdesk, not by provisioning",
            ));
        }
        let members = match body.get("members") {
            Some(members) => rules::member_ids(members).map_err(scim_error)?,
            None => Vec::new(),
        };
        self.set_scim_members(caller, parse_id(id)?, Some(&members), &[], &[])
            .await?;
        self.scim_group(caller, id).await
    }

    /// DELETE a group: the client stops managing it; the support group and its tickets
    /// stay, without the members the client put in.
    pub async fn scim_delete_group(&self, caller: &ScimCaller, id: &str) -> Result<(), AppError> {
        self.scim_group(caller, id).await?;
        let group_id = parse_id(id)?;
        self.set_scim_members(caller, group_id, Some(&[]), &[], &[])
            .await?;
        let client_id = caller.client_id;
        self.change(&caller.principal(), Need::Anyone, move |tx| {
            Box::pin(async move {
                store::release_group(tx.conn, client_id, group_id).await?;
                Ok(())
            })
        })
        .await
    }
}
