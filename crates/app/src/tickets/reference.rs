//! The reference data tickets use, kept by admins: support groups (tiers), categories,
//! custom fields and canned responses (macros).

use opsdesk_domain::account::Role;
use opsdesk_domain::ticket::{CustomFieldDefinition, TicketStatus};
use opsdesk_store::Conn;
use opsdesk_store::accounts::{self, UserRow};
use opsdesk_store::tickets as store;
use serde::{Deserialize, Serialize};

use super::{Comment, NewComment, find_visible, user_by_email};
use crate::audit::{Action, Entity, Event, snapshot};
use crate::change::{Need, Tx};
use crate::{App, AppError, FieldError, Principal};

/// A support group: a tier or team that tickets are routed to.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Group {
    pub id: i64,
    pub name: String,
    /// 1 for the service desk, 2 and up for the specialists behind it.
    pub tier: i64,
    pub description: String,
    /// Members' e-mail addresses.
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    pub name: String,
    #[serde(default = "first_tier")]
    pub tier: i64,
    #[serde(default)]
    pub description: String,
    /// Agents' e-mail addresses.
    #[serde(default)]
    pub members: Vec<String>,
}

fn first_tier() -> i64 {
    1
}

/// A member of a support group.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupMember {
    pub id: i64,
    pub email: String,
    pub name: String,
    /// `agent` or `admin`.
    pub role: String,
}

impl From<store::GroupMemberRow> for GroupMember {
    fn from(row: store::GroupMemberRow) -> Self {
        Self {
            id: row.id,
            email: row.email,
            name: row.name,
            role: row.role,
        }
    }
}

/// What adding a member did.
#[derive(Debug, Clone)]
pub struct Membership {
    pub member: GroupMember,
    /// `false` when they already were a member: adding is idempotent.
    pub added: bool,
}

/// A category; subcategories name their parent.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Category {
    pub id: i64,
    pub name: String,
    pub parent_id: Option<i64>,
    /// `Parent/Child`, as tickets refer to it.
    pub path: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    pub name: String,
    /// The parent's path for a subcategory.
    #[serde(default)]
    pub parent: Option<String>,
}

/// A custom field definition.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomField {
    /// How API clients name it in `custom`: lowercase letters, digits, `_`.
    pub key: String,
    /// How people see it.
    pub label: String,
    #[serde(default)]
    pub required: bool,
    /// `text`, `number`, `select` or `date`.
    pub kind: String,
    /// The choices of a `select` field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// A canned response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Macro {
    pub id: i64,
    pub name: String,
    /// Text with placeholders: `{{ticket.number}}`, `{{ticket.title}}`,
    /// `{{requester.name}}`, `{{agent.name}}`, `{{agent.email}}`.
    pub body: String,
    pub public: bool,
    /// Status the ticket moves to when the macro is applied.
    pub set_status: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMacro {
    pub name: String,
    pub body: String,
    #[serde(default = "yes")]
    pub public: bool,
    #[serde(default)]
    pub set_status: Option<String>,
}

fn yes() -> bool {
    true
}

fn check_name(field: &str, name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.contains('/') {
        return Err(AppError::invalid(
            field,
            "must be 1 to 100 characters, without `/`",
        ));
    }
    Ok(name.to_owned())
}

/// A group as the API shows it, with its members' addresses.
async fn group_view(conn: &mut Conn, row: store::GroupRow) -> Result<Group, AppError> {
    Ok(Group {
        members: store::group_members(conn, row.id)
            .await?
            .into_iter()
            .map(|member| member.email)
            .collect(),
        id: row.id,
        name: row.name,
        tier: row.tier,
        description: row.description,
    })
}

async fn existing_group(conn: &mut Conn, id: i64) -> Result<store::GroupRow, AppError> {
    store::get_group(conn, id)
        .await?
        .ok_or(AppError::NotFound("group"))
}

/// The user a path names by id or e-mail address; a mistake is reported at `user`.
async fn user_by_reference(conn: &mut Conn, reference: &str) -> Result<UserRow, AppError> {
    match reference.parse::<i64>() {
        Ok(id) => accounts::get_user(conn, id)
            .await?
            .ok_or_else(|| AppError::invalid("user", format!("no user has the id {id}"))),
        Err(_) => user_by_email(conn, "user", reference).await,
    }
}

/// Records a change of a group's members: the group before and after.
async fn record_membership(
    tx: &mut Tx<'_>,
    action: Action,
    before: Group,
    row: store::GroupRow,
) -> Result<(), AppError> {
    let after = group_view(tx.conn, row).await?;
    tx.record(Event {
        entity: Entity::Group,
        entity_id: after.id,
        action,
        before: snapshot(&before),
        after: snapshot(&after),
    })
    .await
}

fn macro_view(row: store::MacroRow) -> Macro {
    Macro {
        id: row.id,
        name: row.name,
        body: row.body,
        public: row.public != 0,
        set_status: row.set_status,
    }
}

fn category_views(rows: Vec<store::CategoryRow>) -> Vec<Category> {
    let path_of = |row: &store::CategoryRow| {
        let mut parts = vec![row.name.clone()];
        let mut parent = row.parent_id;
        // Bounded: a category tree is shallow, and a cycle cannot be created through the API.
        for _ in 0..16 {
            let Some(id) = parent else { break };
            let Some(up) = rows.iter().find(|r| r.id == id) else {
                break;
            };
            parts.push(up.name.clone());
            parent = up.parent_id;
        }
        parts.reverse();
        parts.join("/")
    };
    rows.iter()
        .map(|row| Category {
            id: row.id,
            name: row.name.clone(),
            parent_id: row.parent_id,
            path: path_of(row),
        })
        .collect()
}

impl App {
    pub async fn create_group(
        &self,
        principal: &Principal,
        input: NewGroup,
    ) -> Result<Group, AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let name = check_name("name", &input.name)?;
                if !(1..=9).contains(&input.tier) {
                    return Err(AppError::invalid("tier", "must be between 1 and 9"));
                }
                let mut members = Vec::new();
                for (index, email) in input.members.iter().enumerate() {
                    let user = user_by_email(tx.conn, &format!("members[{index}]"), email).await?;
                    if user.role == Role::Customer.as_str() {
                        return Err(AppError::invalid(
                            format!("members[{index}]"),
                            "groups are made of agents",
                        ));
                    }
                    members.push(user.id);
                }
                let description = input.description.trim();
                let row =
                    store::insert_group(tx.conn, &name, input.tier, description, tx.now).await?;
                store::set_group_members(tx.conn, row.id, &members).await?;
                let group = group_view(tx.conn, row).await?;
                tx.record(Event::created(Entity::Group, group.id, &group))
                    .await?;
                Ok(group)
            })
        })
        .await
    }

    /// Groups by tier (staff).
    pub async fn groups(&self, principal: &Principal) -> Result<Vec<Group>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let mut groups = Vec::new();
        for row in store::groups(&mut conn).await? {
            groups.push(group_view(&mut conn, row).await?);
        }
        Ok(groups)
    }

    /// A group's members (staff, who already see them in the list of groups).
    pub async fn group_members(
        &self,
        principal: &Principal,
        group_id: i64,
    ) -> Result<Vec<GroupMember>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        existing_group(&mut conn, group_id).await?;
        Ok(store::group_members(&mut conn, group_id)
            .await?
            .into_iter()
            .map(GroupMember::from)
            .collect())
    }

    /// Adds an agent or admin, named by id or e-mail address, to a group (admins). Adding
    /// a member again changes nothing and records nothing.
    pub async fn add_group_member(
        &self,
        principal: &Principal,
        group_id: i64,
        user: &str,
    ) -> Result<Membership, AppError> {
        let user = user.to_owned();
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let row = existing_group(tx.conn, group_id).await?;
                let user = user_by_reference(tx.conn, &user).await?;
                if user.role == Role::Customer.as_str() {
                    return Err(AppError::invalid("user", "groups are made of agents"));
                }
                let before = group_view(tx.conn, row.clone()).await?;
                let added = store::add_group_member(tx.conn, group_id, user.id).await?;
                if added {
                    record_membership(&mut tx, Action::MemberAdded, before, row).await?;
                }
                Ok(Membership {
                    member: GroupMember {
                        id: user.id,
                        email: user.email,
                        name: user.name,
                        role: user.role,
                    },
                    added,
                })
            })
        })
        .await
    }

    /// Removes a member, named by id or e-mail address, from a group (admins); removing
    /// someone who is not a member changes nothing and records nothing. Open tickets of the
    /// group assigned to them stay assigned, as in Zammad and RT: the assignee is only checked
    /// against the group when it is set or the ticket changes group, so whoever took a ticket
    /// can finish it or hand it on.
    pub async fn remove_group_member(
        &self,
        principal: &Principal,
        group_id: i64,
        user: &str,
    ) -> Result<(), AppError> {
        let user = user.to_owned();
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let row = existing_group(tx.conn, group_id).await?;
                let user = user_by_reference(tx.conn, &user).await?;
                let before = group_view(tx.conn, row.clone()).await?;
                let removed = store::remove_group_member(tx.conn, group_id, user.id).await?;
                if removed {
                    record_membership(&mut tx, Action::MemberRemoved, before, row).await?;
                }
                Ok(())
            })
        })
        .await
    }

    pub async fn create_category(
        &self,
        principal: &Principal,
        input: NewCategory,
    ) -> Result<Category, AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let name = check_name("name", &input.name)?;
                let parent = match &input.parent {
                    Some(path) => {
                        let catalog = crate::catalog::current(tx.conn).await?;
                        Some(super::category_by_path(&catalog, path).map_err(|_| {
                            AppError::invalid("parent", format!("no category `{path}`"))
                        })?)
                    }
                    None => None,
                };
                let row = store::insert_category(tx.conn, &name, parent, tx.now).await?;
                let all = category_views(store::categories(tx.conn).await?);
                let category = all
                    .into_iter()
                    .find(|c| c.id == row.id)
                    .ok_or(AppError::NotFound("category"))?;
                tx.record(Event::created(Entity::Category, category.id, &category))
                    .await?;
                Ok(category)
            })
        })
        .await
    }

    /// The category tree, as a flat list with paths (everyone signed in).
    pub async fn categories(&self) -> Result<Vec<Category>, AppError> {
        let mut conn = self.db().reader().await?;
        Ok(category_views(store::categories(&mut conn).await?))
    }

    pub async fn create_custom_field(
        &self,
        principal: &Principal,
        input: NewCustomField,
    ) -> Result<serde_json::Value, AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let raw = serde_json::to_value(&input)
                    .map_err(|e| AppError::internal("serialising a custom field", e))?;
                let definition: CustomFieldDefinition =
                    serde_json::from_value(raw).map_err(|e| AppError::invalid("kind", e))?;
                let json = serde_json::to_value(&definition)
                    .map_err(|e| AppError::internal("serialising a custom field", e))?;
                let key = definition.key().as_str();
                let id =
                    store::insert_custom_field(tx.conn, key, &json.to_string(), tx.now).await?;
                tx.record(Event::created(Entity::CustomField, id, &json))
                    .await?;
                Ok(json)
            })
        })
        .await
    }

    /// Custom field definitions (everyone signed in: forms need them).
    pub async fn custom_fields(&self) -> Result<Vec<serde_json::Value>, AppError> {
        let mut conn = self.db().reader().await?;
        Ok(store::custom_fields(&mut conn)
            .await?
            .into_iter()
            .filter_map(|(_, json)| serde_json::from_str(&json).ok())
            .collect())
    }

    pub async fn create_macro(
        &self,
        principal: &Principal,
        input: NewMacro,
    ) -> Result<Macro, AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let name = check_name("name", &input.name)?;
                if input.body.trim().is_empty() {
                    return Err(AppError::invalid("body", "must not be empty"));
                }
                if let Some(status) = &input.set_status
                    && !matches!(
                        status.parse::<TicketStatus>(),
                        Ok(TicketStatus::Open | TicketStatus::Closed | TicketStatus::Cancelled)
                    )
                {
                    return Err(AppError::Invalid(vec![FieldError::new(
                        "set_status",
                        "a macro may set open, closed or cancelled (pending and resolved need a reason or code)",
                    )]));
                }
                let row = store::insert_macro(
                    tx.conn,
                    &name,
                    input.body.trim(),
                    input.public,
                    input.set_status.as_deref(),
                    tx.now,
                )
                .await?;
                let created = macro_view(row);
                tx.record(Event::created(Entity::Macro, created.id, &created))
                    .await?;
                Ok(created)
            })
        })
        .await
    }

    pub async fn macros(&self, principal: &Principal) -> Result<Vec<Macro>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        Ok(store::macros(&mut conn)
            .await?
            .into_iter()
            .map(macro_view)
            .collect())
    }

    /// Applies a canned response: its text, placeholders filled, becomes a comment; then the
    /// ticket moves to the macro's status, if it names one.
    pub async fn apply_macro(
        &self,
        principal: &Principal,
        reference: &str,
        macro_id: i64,
    ) -> Result<Comment, AppError> {
        principal.require_staff()?;
        let (canned, ticket) = {
            let mut conn = self.db().reader().await?;
            let canned = store::get_macro(&mut conn, macro_id)
                .await?
                .ok_or(AppError::NotFound("macro"))?;
            let row = find_visible(&mut conn, principal, reference).await?;
            (
                canned,
                super::view(&mut conn, principal, row, self.now_ms()).await?,
            )
        };
        let agent_name = {
            let mut conn = self.db().reader().await?;
            match principal.user_id {
                Some(id) => opsdesk_store::accounts::get_user(&mut conn, id)
                    .await?
                    .map(|u| u.name)
                    .unwrap_or_default(),
                None => String::new(),
            }
        };
        let body = fill_macro(&canned.body, &ticket, &agent_name, &principal.email);
        let comment = self
            .add_comment(
                principal,
                &ticket.number,
                NewComment {
                    body,
                    public: canned.public != 0,
                    time_spent_minutes: None,
                },
            )
            .await?;
        if let Some(status) = canned.set_status {
            self.update_ticket(
                principal,
                &ticket.number,
                None,
                super::TicketPatch {
                    status: Some(status),
                    ..Default::default()
                },
            )
            .await?;
        }
        Ok(comment)
    }
}

/// A macro's text with its placeholders filled for `ticket`, applied by the agent named.
pub(super) fn fill_macro(
    body: &str,
    ticket: &super::Ticket,
    agent_name: &str,
    agent_email: &str,
) -> String {
    body.replace("{{ticket.number}}", &ticket.number)
        .replace("{{ticket.title}}", &ticket.title)
        .replace("{{requester.name}}", &ticket.requester.name)
        .replace("{{agent.name}}", agent_name)
        .replace("{{agent.email}}", agent_email)
}
