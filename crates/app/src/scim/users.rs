//! Users: the accounts a client creates, adopts, renames, deactivates and lets go.

use opsdesk_domain::account::Email;
use opsdesk_domain::scim::{self as rules, UserChanges};
use opsdesk_store::accounts as accounts_store;
use opsdesk_store::identities;
use opsdesk_store::scim::{self as store, ProvisionedUserRow};
use serde::Serialize;
use serde_json::Value;

use super::{
    LIST_SCHEMA, MAX_PAGE, ScimCaller, ScimList, ScimMeta, USER_SCHEMA, not_found, parse_filter,
    parse_id, scim_error,
};
use crate::accounts::{NewUserInput, OrganizationRef, UserPatch};
use crate::change::Need;
use crate::{App, AppError, Precondition, timestamp};

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

fn immutable_email() -> AppError {
    AppError::invalid(
        "userName",
        "opsdesk keys accounts by e-mail address, which cannot change; provision a new user",
    )
}
impl App {
    /// The client's users, optionally filtered (`userName eq "…"`), paged from
    /// `start_index` (1-based).
    pub async fn scim_users(
        &self,
        caller: &ScimCaller,
        filter: Option<&str>,
        start_index: i64,
        count: i64,
    ) -> Result<ScimList<ScimUser>, AppError> {
        let filter = parse_filter(filter)?;
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
        self.provisioned_user(caller, parse_id(id)?).await
    }

    /// The account `user_id` as a User resource, if `caller` provisions it.
    async fn provisioned_user(
        &self,
        caller: &ScimCaller,
        user_id: i64,
    ) -> Result<ScimUser, AppError> {
        let mut conn = self.db().reader().await?;
        store::provisioned_user(&mut conn, caller.client_id, user_id)
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
        self.provisioned_user(caller, user_id).await
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
}
