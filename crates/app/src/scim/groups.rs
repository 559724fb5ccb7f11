//! Groups: the support groups a staff client creates or adopts, and their members.

use std::collections::HashMap;

use opsdesk_domain::scim as rules;
use opsdesk_store::scim::{self as store, ManagedGroupRow};
use serde::Serialize;
use serde_json::Value;

use super::{
    GROUP_SCHEMA, LIST_SCHEMA, ScimCaller, ScimList, ScimMeta, not_found, parse_filter, parse_id,
    scim_error,
};
use crate::change::Need;
use crate::tickets::NewGroup;
use crate::{App, AppError, Principal, timestamp};

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

/// Support groups are renamed in opsdesk, where tickets and rules name them.
fn renamed_in_opsdesk() -> AppError {
    AppError::invalid(
        "displayName",
        "support groups are renamed in opsdesk, not by provisioning",
    )
}

impl App {
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
        let filter = parse_filter(filter)?;
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
            return Err(renamed_in_opsdesk());
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
            return Err(renamed_in_opsdesk());
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
