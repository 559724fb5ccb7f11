//! Organizations and users.

use std::collections::BTreeMap;

use opsdesk_domain::account::{Email, Role, check_password};
use opsdesk_domain::ticket::PriorityMatrix;
use opsdesk_store::Conn;
use opsdesk_store::accounts::{self as store, NewUser, OrganizationRow, UserRow, UserUpdate};
use serde::{Deserialize, Serialize};

use crate::Precondition;
use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::{App, AppError, FieldError, Principal, timestamp};

/// A client company or department, as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Organization {
    pub id: i64,
    pub name: String,
    /// Mail from this domain is attributed to this organization.
    pub domain: Option<String>,
    /// A priority matrix overriding the ITIL default for this organization's tickets:
    /// `{"high/high": "P1", "high/medium": "P2", …}` (impact/urgency → priority).
    #[schema(value_type = Option<Object>)]
    pub priority_matrix: Option<serde_json::Value>,
    /// Whether its customers see all of the organization's tickets, not only their own.
    pub customers_see_all: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: jiff::Timestamp,
    #[serde(skip)]
    pub version: i64,
}

impl From<OrganizationRow> for Organization {
    fn from(row: OrganizationRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            domain: row.domain,
            priority_matrix: row
                .priority_matrix
                .and_then(|m| serde_json::from_str(&m).ok()),
            customers_see_all: row.customers_see_all != 0,
            created_at: timestamp(row.created_at),
            updated_at: timestamp(row.updated_at),
            version: row.version,
        }
    }
}

/// Fields of a new organization.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    pub name: String,
    #[serde(default)]
    pub domain: Option<String>,
    /// Overrides the ITIL priority matrix: `{"high/high": "P1", …}`, all nine cells.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub priority_matrix: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub customers_see_all: bool,
}

/// Changes to an organization; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationPatch {
    pub name: Option<String>,
    /// `null` removes the domain.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub domain: Option<Option<String>>,
    /// `null` returns to the ITIL default.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<Object>)]
    pub priority_matrix: Option<Option<BTreeMap<String, String>>>,
    pub customers_see_all: Option<bool>,
}

/// A user as the API shows it. Never carries the password hash.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    #[schema(value_type = String, example = "agent")]
    pub role: Role,
    /// The organization's name (customers belong to exactly one).
    pub organization: Option<String>,
    pub organization_id: Option<i64>,
    /// For agents: the organizations they may work for; empty means all.
    pub organizations: Vec<i64>,
    pub active: bool,
    /// An agent who may publish and archive knowledge-base articles (admins always may).
    pub approves_articles: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: jiff::Timestamp,
    #[serde(skip)]
    pub version: i64,
}

/// Fields of a new user.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserInput {
    pub email: String,
    pub name: String,
    #[schema(value_type = String, example = "customer")]
    pub role: String,
    /// Organization name or id; required for customers.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub organization: Option<OrganizationRef>,
    /// For agents: organizations (names or ids) they are limited to.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub organizations: Vec<OrganizationRef>,
    /// Without one the user cannot sign in with a password (API tokens still work).
    #[serde(default)]
    pub password: Option<String>,
}

/// Changes to a user; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub name: Option<String>,
    #[schema(value_type = Option<String>)]
    pub role: Option<String>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub organization: Option<Option<OrganizationRef>>,
    #[schema(value_type = Option<Vec<String>>)]
    pub organizations: Option<Vec<OrganizationRef>>,
    pub active: Option<bool>,
    /// Lets an agent publish and archive knowledge-base articles.
    pub approves_articles: Option<bool>,
    pub password: Option<String>,
}

/// An organization named by id or by name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum OrganizationRef {
    Id(i64),
    Name(String),
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
pub(crate) mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        T: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

/// A name trimmed, 1 to 200 characters; a mistake is added to `errors`.
pub(crate) fn check_name(field: &str, name: &str, errors: &mut Vec<FieldError>) -> String {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
    } else if trimmed.chars().count() > 200 {
        errors.push(FieldError::new(field, "must be at most 200 characters"));
    }
    trimmed.to_owned()
}

fn check_domain(domain: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    let domain = domain?.trim().to_lowercase();
    let valid = domain.contains('.')
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !valid {
        errors.push(FieldError::new(
            "domain",
            "must be a domain name like `example.com`",
        ));
    }
    Some(domain)
}

fn errors_or<T>(errors: Vec<FieldError>, value: T) -> Result<T, AppError> {
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(AppError::Invalid(errors))
    }
}

pub(crate) async fn resolve_organization(
    conn: &mut Conn,
    field: &str,
    reference: &OrganizationRef,
) -> Result<i64, AppError> {
    let found = match reference {
        OrganizationRef::Id(id) => store::get_organization(conn, *id).await?,
        OrganizationRef::Name(name) => store::find_organization_by_name(conn, name).await?,
    };
    found
        .map(|org| org.id)
        .ok_or_else(|| AppError::invalid(field, "no such organization"))
}

async fn hash_password(password: Option<String>) -> Result<Option<String>, AppError> {
    let Some(password) = password else {
        return Ok(None);
    };
    check_password(&password).map_err(|e| AppError::invalid("password", e))?;
    let hash = tokio::task::spawn_blocking(move || crate::auth::hash_password(&password))
        .await
        .map_err(|e| AppError::internal("password hashing stopped", e))??;
    Ok(Some(hash))
}

pub(crate) async fn user_view(conn: &mut Conn, row: UserRow) -> Result<User, AppError> {
    let organization = match row.organization_id {
        Some(id) => store::get_organization(conn, id).await?.map(|org| org.name),
        None => None,
    };
    let organizations = store::agent_organizations(conn, row.id).await?;
    let role = row
        .role
        .parse()
        .map_err(|e| AppError::internal(format!("user {}", row.id), e))?;
    Ok(User {
        id: row.id,
        email: row.email,
        name: row.name,
        role,
        organization,
        organization_id: row.organization_id,
        organizations,
        active: row.active != 0,
        approves_articles: row.approves_articles != 0,
        created_at: timestamp(row.created_at),
        updated_at: timestamp(row.updated_at),
        version: row.version,
    })
}

/// A customer must belong to an organization; staff may too (an MSP's own staff usually don't).
fn check_role_organization(role: Role, organization: Option<i64>) -> Result<(), AppError> {
    if role == Role::Customer && organization.is_none() {
        return Err(AppError::invalid(
            "organization",
            "a customer must belong to an organization",
        ));
    }
    Ok(())
}

impl App {
    pub async fn create_organization(
        &self,
        principal: &Principal,
        input: NewOrganization,
    ) -> Result<Organization, AppError> {
        principal.require_admin()?;
        let mut errors = Vec::new();
        let name = check_name("name", &input.name, &mut errors);
        let domain = check_domain(input.domain.as_deref(), &mut errors);
        errors_or(errors, ())?;
        let matrix = check_matrix(input.priority_matrix.as_ref())?;
        let customers_see_all = input.customers_see_all;
        let organization = self
            .change(principal, Need::Admin, move |mut tx| {
                Box::pin(async move {
                    let row = store::insert_organization(tx.conn, &name, domain.as_deref(), tx.now)
                        .await?;
                    store::set_organization_settings(
                        tx.conn,
                        row.id,
                        matrix.as_deref(),
                        customers_see_all,
                    )
                    .await?;
                    let row = store::get_organization(tx.conn, row.id)
                        .await?
                        .ok_or(AppError::NotFound("organization"))?;
                    let organization = Organization::from(row);
                    tx.record(Event::created(
                        Entity::Organization,
                        organization.id,
                        &organization,
                    ))
                    .await?;
                    Ok::<_, AppError>(organization)
                })
            })
            .await?;
        Ok(organization)
    }

    pub async fn organization(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<Organization, AppError> {
        if !principal.can_see_organization(Some(id)) {
            return Err(AppError::NotFound("organization"));
        }
        let mut conn = self.db().reader().await?;
        store::get_organization(&mut conn, id)
            .await?
            .map(Organization::from)
            .ok_or(AppError::NotFound("organization"))
    }

    pub async fn organizations(
        &self,
        principal: &Principal,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Organization>, AppError> {
        let filter = principal.organization_filter();
        let mut conn = self.db().reader().await?;
        let rows = store::list_organizations(&mut conn, after, limit, filter.as_deref()).await?;
        Ok(rows.into_iter().map(Organization::from).collect())
    }

    pub async fn update_organization(
        &self,
        principal: &Principal,
        id: i64,
        expected_version: impl Into<Precondition>,
        patch: OrganizationPatch,
    ) -> Result<Organization, AppError> {
        principal.require_admin()?;
        let expected_version: Precondition = expected_version.into();
        let mut errors = Vec::new();
        let name = patch
            .name
            .as_deref()
            .map(|name| check_name("name", name, &mut errors));
        let domain = patch
            .domain
            .map(|domain| check_domain(domain.as_deref(), &mut errors));
        errors_or(errors, ())?;
        let matrix = match &patch.priority_matrix {
            Some(matrix) => Some(check_matrix(matrix.as_ref())?),
            None => None,
        };
        let customers_see_all = patch.customers_see_all;
        let updated = self
            .change(principal, Need::Admin, move |mut tx| {
                Box::pin(async move {
                    let before = store::get_organization(tx.conn, id)
                        .await?
                        .map(Organization::from)
                        .ok_or(AppError::NotFound("organization"))?;
                    let version = expected_version.check(before.version)?;
                    let name = name.unwrap_or_else(|| before.name.clone());
                    let domain = domain.unwrap_or_else(|| before.domain.clone());
                    let row = store::update_organization(
                        tx.conn,
                        id,
                        version,
                        &name,
                        domain.as_deref(),
                        tx.now,
                    )
                    .await?
                    .ok_or(AppError::Stale)?;
                    let matrix = matrix.unwrap_or_else(|| row.priority_matrix.clone());
                    let see_all = customers_see_all.unwrap_or(before.customers_see_all);
                    store::set_organization_settings(tx.conn, id, matrix.as_deref(), see_all)
                        .await?;
                    let row = store::get_organization(tx.conn, id)
                        .await?
                        .ok_or(AppError::NotFound("organization"))?;
                    let after = Organization::from(row);
                    tx.record(Event::updated(Entity::Organization, id, &before, &after))
                        .await?;
                    Ok::<_, AppError>(after)
                })
            })
            .await?;
        Ok(updated)
    }

    pub async fn create_user(
        &self,
        principal: &Principal,
        input: NewUserInput,
    ) -> Result<User, AppError> {
        principal.require_admin()?;
        let mut errors = Vec::new();
        let email = Email::parse(&input.email)
            .map_err(|e| errors.push(FieldError::new("email", e)))
            .ok();
        let name = check_name("name", &input.name, &mut errors);
        let role = input
            .role
            .parse::<Role>()
            .map_err(|e| errors.push(FieldError::new("role", e)))
            .ok();
        if role.is_some_and(|role| role != Role::Agent) && !input.organizations.is_empty() {
            errors.push(FieldError::new(
                "organizations",
                "only agents are limited to organizations",
            ));
        }
        let (Some(email), Some(role)) = (email, role) else {
            return Err(AppError::Invalid(errors));
        };
        errors_or(errors, ())?;
        let password_hash = hash_password(input.password).await?;
        let user = self
            .change(principal, Need::Admin, move |mut tx| {
                Box::pin(async move {
                    let organization_id = match &input.organization {
                        Some(reference) => {
                            Some(resolve_organization(tx.conn, "organization", reference).await?)
                        }
                        None => None,
                    };
                    check_role_organization(role, organization_id)?;
                    let mut limits = Vec::new();
                    for (index, reference) in input.organizations.iter().enumerate() {
                        limits.push(
                            resolve_organization(
                                tx.conn,
                                &format!("organizations[{index}]"),
                                reference,
                            )
                            .await?,
                        );
                    }
                    let row = store::insert_user(
                        tx.conn,
                        &NewUser {
                            email: email.as_str(),
                            name: &name,
                            role: role.as_str(),
                            organization_id,
                            password_hash: password_hash.as_deref(),
                        },
                        tx.now,
                    )
                    .await?;
                    store::set_agent_organizations(tx.conn, row.id, &limits).await?;
                    let user = user_view(tx.conn, row).await?;
                    tx.record(Event::created(Entity::User, user.id, &user))
                        .await?;
                    Ok::<_, AppError>(user)
                })
            })
            .await?;
        Ok(user)
    }

    /// A user by id: admins see all; agents see users of organizations they may work for;
    /// customers see themselves only.
    pub async fn user(&self, principal: &Principal, id: i64) -> Result<User, AppError> {
        let mut conn = self.db().reader().await?;
        let row = store::get_user(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound("user"))?;
        let visible = principal.user_id == Some(row.id)
            || (principal.role.is_staff() && principal.can_see_organization(row.organization_id));
        if !visible {
            return Err(AppError::NotFound("user"));
        }
        user_view(&mut conn, row).await
    }

    /// Users after `after`: every user for admins, those of their organizations for agents.
    pub async fn users(
        &self,
        principal: &Principal,
        after: i64,
        limit: i64,
    ) -> Result<Vec<User>, AppError> {
        principal.require_staff()?;
        let filter = principal.organization_filter();
        let mut conn = self.db().reader().await?;
        let rows = store::list_users(&mut conn, after, limit, filter.as_deref()).await?;
        let mut users = Vec::with_capacity(rows.len());
        for row in rows {
            users.push(user_view(&mut conn, row).await?);
        }
        Ok(users)
    }

    pub async fn update_user(
        &self,
        principal: &Principal,
        id: i64,
        expected_version: impl Into<Precondition>,
        patch: UserPatch,
    ) -> Result<User, AppError> {
        principal.require_admin()?;
        let expected_version: Precondition = expected_version.into();
        let mut errors = Vec::new();
        let name = patch
            .name
            .as_deref()
            .map(|name| check_name("name", name, &mut errors));
        let role = match patch.role.as_deref().map(str::parse::<Role>) {
            Some(Err(e)) => {
                errors.push(FieldError::new("role", e));
                None
            }
            Some(Ok(role)) => Some(role),
            None => None,
        };
        errors_or(errors, ())?;
        let password_hash = hash_password(patch.password).await?;
        let own_id = principal.user_id;
        let updated = self
            .change(principal, Need::Admin, move |mut tx| {
                Box::pin(async move {
                    let row = store::get_user(tx.conn, id)
                        .await?
                        .ok_or(AppError::NotFound("user"))?;
                    let before = user_view(tx.conn, row).await?;
                    let version = expected_version.check(before.version)?;
                    let role = role.unwrap_or(before.role);
                    let active = patch.active.unwrap_or(before.active);
                    if own_id == Some(id) && (role != Role::Admin || !active) {
                        return Err(AppError::Conflict {
                            field: Some("role".into()),
                            message: "you cannot demote or deactivate yourself; ask another admin"
                                .into(),
                        });
                    }
                    let organization_id = match &patch.organization {
                        Some(Some(reference)) => {
                            Some(resolve_organization(tx.conn, "organization", reference).await?)
                        }
                        Some(None) => None,
                        None => before.organization_id,
                    };
                    check_role_organization(role, organization_id)?;
                    let limits = match &patch.organizations {
                        Some(references) => {
                            let mut ids = Vec::new();
                            for (index, reference) in references.iter().enumerate() {
                                ids.push(
                                    resolve_organization(
                                        tx.conn,
                                        &format!("organizations[{index}]"),
                                        reference,
                                    )
                                    .await?,
                                );
                            }
                            ids
                        }
                        None => before.organizations.clone(),
                    };
                    if role != Role::Agent && !limits.is_empty() {
                        return Err(AppError::invalid(
                            "organizations",
                            "only agents are limited to organizations",
                        ));
                    }
                    let approves_articles =
                        patch.approves_articles.unwrap_or(before.approves_articles);
                    if approves_articles && role == Role::Customer {
                        return Err(AppError::invalid(
                            "approves_articles",
                            "customers do not approve articles",
                        ));
                    }
                    let name = name.unwrap_or_else(|| before.name.clone());
                    let row = store::update_user(
                        tx.conn,
                        id,
                        version,
                        &UserUpdate {
                            name: &name,
                            role: role.as_str(),
                            organization_id,
                            active,
                            approves_articles,
                            password_hash: password_hash.as_deref(),
                        },
                        tx.now,
                    )
                    .await?
                    .ok_or(AppError::Stale)?;
                    store::set_agent_organizations(tx.conn, id, &limits).await?;
                    if password_hash.is_some() || !active {
                        store::delete_user_sessions(tx.conn, id).await?;
                    }
                    let after = user_view(tx.conn, row).await?;
                    tx.record(Event::updated(Entity::User, id, &before, &after))
                        .await?;
                    Ok(after)
                })
            })
            .await?;
        Ok(updated)
    }

    /// The signed-in user.
    pub async fn me(&self, principal: &Principal) -> Result<User, AppError> {
        let id = principal
            .user_id
            .ok_or_else(|| AppError::Unauthenticated("no user is signed in".into()))?;
        self.user(principal, id).await
    }

    /// How many users exist; zero means the first admin is still to be created.
    pub async fn user_count(&self) -> Result<i64, AppError> {
        let mut conn = self.db().reader().await?;
        Ok(store::count_users(&mut conn).await?)
    }
}

/// Validates a priority matrix override and returns its stored JSON.
fn check_matrix(matrix: Option<&BTreeMap<String, String>>) -> Result<Option<String>, AppError> {
    let Some(cells) = matrix else { return Ok(None) };
    let parsed = PriorityMatrix::try_from(cells.clone())
        .map_err(|e| AppError::invalid("priority_matrix", e))?;
    let json = serde_json::to_string(&BTreeMap::from(parsed))
        .map_err(|e| AppError::internal("serialising a priority matrix", e))?;
    Ok(Some(json))
}
