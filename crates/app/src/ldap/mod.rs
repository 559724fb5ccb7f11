//! LDAP and Active Directory: the directories admins configure, signing in with a
//! directory password (a bind, never a local hash), syncing people and groups into the desk
//! ([`sync`]), and self-service password reset and unlock ([`reset`]).

mod client;
mod login;
pub mod reset;
pub mod sync;

use std::net::IpAddr;

use opsdesk_domain::account::Role;
use opsdesk_domain::directory::{DirectoryKind, DirectoryUrl, DisabledDetection, is_filter};
use opsdesk_store::directories::{self as store, DirectoryFields, DirectoryRow};
use serde::{Deserialize, Serialize};

use crate::accounts::double_option;
use crate::audit::{Entity, Event};
use crate::auth::Throttle;
use crate::change::Need;
use crate::{App, AppError, FieldError, Precondition, Principal, timestamp};

pub(crate) use client::{Connection, DirectoryError, Reach};

/// A directory group whose members join a support group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupMapping {
    /// The directory group, by DN or common name.
    pub group: String,
    /// The support group's name in opsdesk.
    pub support_group: String,
}

/// A directory group whose members get a role; the first rule that matches wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRule {
    /// The directory group, by DN or common name.
    pub group: String,
    /// `admin`, `agent` or `customer`.
    pub role: String,
}

/// A directory as admins see it. The service account's password is never shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Directory {
    pub id: i64,
    /// The organization whose customers it holds; `null` for staff.
    pub organization_id: Option<i64>,
    pub name: String,
    /// `openldap` or `active_directory`.
    pub kind: String,
    pub url: String,
    pub starttls: bool,
    /// PEM of the CA that signed the directory's certificate.
    pub ca_pem: Option<String>,
    pub bind_dn: String,
    pub user_base: String,
    pub user_filter: String,
    pub login_attribute: String,
    pub mail_attribute: String,
    pub name_attribute: String,
    pub recovery_attribute: Option<String>,
    pub manager_attribute: Option<String>,
    /// `ad_account_control`, `ppolicy_locked`, `enabled_filter` or `none`.
    pub disabled_detection: String,
    pub enabled_filter: Option<String>,
    pub group_base: Option<String>,
    pub group_filter: String,
    pub member_attribute: String,
    pub group_mappings: Vec<GroupMapping>,
    pub role_rules: Vec<RoleRule>,
    /// The role of people no rule matches.
    pub default_role: String,
    /// Whether people the directory knows get an account at their first sign-in.
    pub allow_signup: bool,
    /// Minutes between scheduled syncs; 0 syncs only on demand.
    pub sync_interval_minutes: i64,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_sync_at: Option<jiff::Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_sync_at: Option<jiff::Timestamp>,
    /// What the last sync did, or why it failed.
    #[schema(value_type = Option<Object>)]
    pub last_sync_result: Option<serde_json::Value>,
    pub active: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: jiff::Timestamp,
    #[serde(skip)]
    pub version: i64,
}

impl From<&DirectoryRow> for Directory {
    fn from(row: &DirectoryRow) -> Self {
        Self {
            id: row.id,
            organization_id: row.organization_id,
            name: row.name.clone(),
            kind: row.kind.clone(),
            url: row.url.clone(),
            starttls: row.starttls != 0,
            ca_pem: row.ca_pem.clone(),
            bind_dn: row.bind_dn.clone(),
            user_base: row.user_base.clone(),
            user_filter: row.user_filter.clone(),
            login_attribute: row.login_attribute.clone(),
            mail_attribute: row.mail_attribute.clone(),
            name_attribute: row.name_attribute.clone(),
            recovery_attribute: row.recovery_attribute.clone(),
            manager_attribute: row.manager_attribute.clone(),
            disabled_detection: row.disabled_detection.clone(),
            enabled_filter: row.enabled_filter.clone(),
            group_base: row.group_base.clone(),
            group_filter: row.group_filter.clone(),
            member_attribute: row.member_attribute.clone(),
            group_mappings: serde_json::from_str(&row.group_mappings).unwrap_or_default(),
            role_rules: serde_json::from_str(&row.role_rules).unwrap_or_default(),
            default_role: row.default_role.clone(),
            allow_signup: row.allow_signup != 0,
            sync_interval_minutes: row.sync_interval_minutes,
            next_sync_at: row.next_sync_at.map(timestamp),
            last_sync_at: row.last_sync_at.map(timestamp),
            last_sync_result: row
                .last_sync_result
                .as_deref()
                .and_then(|r| serde_json::from_str(r).ok()),
            active: row.active != 0,
            created_at: timestamp(row.created_at),
            updated_at: timestamp(row.updated_at),
            version: row.version,
        }
    }
}

/// A directory's settings as sent: all fields for a new one (the kind's defaults fill the
/// attributes and filters left out), only those to change for an update. Optional text
/// fields are cleared with `null` or an empty string.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectoryInput {
    /// The organization whose customers it holds; absent or `null` for staff.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub organization_id: Option<Option<i64>>,
    pub name: Option<String>,
    /// `openldap` (default) or `active_directory`; set when created.
    pub kind: Option<String>,
    /// `ldaps://host[:port]`, or `ldap://host[:port]` with `starttls`; plain `ldap://` only
    /// to a loopback address.
    pub url: Option<String>,
    pub starttls: Option<bool>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub ca_pem: Option<Option<String>>,
    pub bind_dn: Option<String>,
    /// Write-only: never shown again.
    pub bind_password: Option<String>,
    pub user_base: Option<String>,
    pub user_filter: Option<String>,
    pub login_attribute: Option<String>,
    pub mail_attribute: Option<String>,
    pub name_attribute: Option<String>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub recovery_attribute: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub manager_attribute: Option<Option<String>>,
    pub disabled_detection: Option<String>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub enabled_filter: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub group_base: Option<Option<String>>,
    pub group_filter: Option<String>,
    pub member_attribute: Option<String>,
    pub group_mappings: Option<Vec<GroupMapping>>,
    pub role_rules: Option<Vec<RoleRule>>,
    pub default_role: Option<String>,
    pub allow_signup: Option<bool>,
    #[schema(minimum = 0, maximum = 10080)]
    pub sync_interval_minutes: Option<i64>,
    pub active: Option<bool>,
}

/// What "Test connection" found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConnectionCheck {
    /// The connection was made (with TLS unless plain loopback) and the service account bound.
    pub ok: bool,
    /// What happened, for a person to read.
    pub message: String,
}

/// Rate limits of self-service password resets, per address and per client, on this node
/// (the per-account limit per hour is kept in the database, for all nodes).
pub(crate) struct ResetThrottles {
    by_address: Throttle<String>,
    by_client: Throttle<IpAddr>,
}

impl Default for ResetThrottles {
    fn default() -> Self {
        Self {
            by_address: Throttle::new(reset::REQUESTS_PER_ADDRESS_PER_MINUTE),
            by_client: Throttle::new(reset::STEPS_PER_CLIENT_PER_MINUTE),
        }
    }
}

const MAX_SYNC_INTERVAL_MINUTES: i64 = 7 * 24 * 60;

fn text(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn is_attribute(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ';')
}

/// The settings of a new directory of `kind` before the caller's fields are applied.
fn defaults(kind: DirectoryKind) -> DirectoryFields {
    let (login, name, user_filter, group_filter, detection) = match kind {
        DirectoryKind::OpenLdap => (
            "uid",
            "cn",
            "(objectClass=inetOrgPerson)",
            "(objectClass=groupOfNames)",
            DisabledDetection::PpolicyLocked,
        ),
        DirectoryKind::ActiveDirectory => (
            "sAMAccountName",
            "displayName",
            "(&(objectCategory=person)(objectClass=user))",
            "(objectClass=group)",
            DisabledDetection::AdAccountControl,
        ),
    };
    DirectoryFields {
        organization_id: None,
        name: String::new(),
        kind: kind.as_str().to_owned(),
        url: String::new(),
        starttls: false,
        ca_pem: None,
        bind_dn: String::new(),
        bind_password: String::new(),
        user_base: String::new(),
        user_filter: user_filter.to_owned(),
        login_attribute: login.to_owned(),
        mail_attribute: "mail".to_owned(),
        name_attribute: name.to_owned(),
        recovery_attribute: None,
        manager_attribute: None,
        disabled_detection: detection.as_str().to_owned(),
        enabled_filter: None,
        group_base: None,
        group_filter: group_filter.to_owned(),
        member_attribute: "member".to_owned(),
        group_mappings: "[]".to_owned(),
        role_rules: "[]".to_owned(),
        default_role: Role::Agent.as_str().to_owned(),
        allow_signup: false,
        sync_interval_minutes: 60,
        active: true,
    }
}

/// Applies `input` over `fields` and checks the result; every mistake names its field.
/// Support groups named by mappings are checked by the caller, in its transaction.
fn apply(mut fields: DirectoryFields, input: DirectoryInput) -> Result<DirectoryFields, AppError> {
    let mut errors = Vec::new();
    let (role_given, organization_given) = (
        input.default_role.is_some(),
        input.organization_id.is_some(),
    );
    if let Some(organization) = input.organization_id {
        fields.organization_id = organization;
    }
    if let Some(name) = input.name {
        fields.name = crate::accounts::check_name("name", &name, &mut errors);
    }
    for (value, target) in [
        (input.url, &mut fields.url),
        (input.bind_dn, &mut fields.bind_dn),
        (input.user_base, &mut fields.user_base),
        (input.user_filter, &mut fields.user_filter),
        (input.login_attribute, &mut fields.login_attribute),
        (input.mail_attribute, &mut fields.mail_attribute),
        (input.name_attribute, &mut fields.name_attribute),
        (input.group_filter, &mut fields.group_filter),
        (input.member_attribute, &mut fields.member_attribute),
    ] {
        if let Some(value) = value {
            *target = value.trim().to_owned();
        }
    }
    if let Some(password) = input.bind_password {
        fields.bind_password = password;
    }
    if let Some(starttls) = input.starttls {
        fields.starttls = starttls;
    }
    for (value, target) in [
        (input.ca_pem, &mut fields.ca_pem),
        (input.recovery_attribute, &mut fields.recovery_attribute),
        (input.manager_attribute, &mut fields.manager_attribute),
        (input.enabled_filter, &mut fields.enabled_filter),
        (input.group_base, &mut fields.group_base),
    ] {
        if let Some(value) = value {
            *target = text(value);
        }
    }
    if let Some(detection) = input.disabled_detection {
        fields.disabled_detection = detection.trim().to_owned();
    }
    if let Some(role) = input.default_role {
        fields.default_role = role.trim().to_owned();
    }
    if let Some(signup) = input.allow_signup {
        fields.allow_signup = signup;
    }
    if let Some(minutes) = input.sync_interval_minutes {
        fields.sync_interval_minutes = minutes;
    }
    if let Some(active) = input.active {
        fields.active = active;
    }
    match DirectoryUrl::parse(&fields.url, fields.starttls) {
        Ok(url) => fields.url = url.as_str().to_owned(),
        Err(e) => errors.push(FieldError::new("url", e)),
    }
    if let Some(pem) = &fields.ca_pem
        && let Err(e) = client::check_ca_pem(pem)
    {
        errors.push(FieldError::new("ca_pem", e));
    }
    for (field, value) in [
        ("bind_dn", &fields.bind_dn),
        ("bind_password", &fields.bind_password),
        ("user_base", &fields.user_base),
    ] {
        if value.trim().is_empty() {
            errors.push(FieldError::new(field, "must not be empty"));
        } else if value.chars().count() > 1000 {
            errors.push(FieldError::new(field, "must be at most 1000 characters"));
        }
    }
    for (field, value) in [
        ("user_filter", Some(&fields.user_filter)),
        ("group_filter", Some(&fields.group_filter)),
        ("enabled_filter", fields.enabled_filter.as_ref()),
    ] {
        if let Some(filter) = value
            && (!is_filter(filter) || filter.len() > 2000)
        {
            errors.push(FieldError::new(
                field,
                "must be an LDAP filter in parentheses, like `(objectClass=person)`",
            ));
        }
    }
    for (field, value) in [
        ("login_attribute", Some(&fields.login_attribute)),
        ("mail_attribute", Some(&fields.mail_attribute)),
        ("name_attribute", Some(&fields.name_attribute)),
        ("member_attribute", Some(&fields.member_attribute)),
        ("recovery_attribute", fields.recovery_attribute.as_ref()),
        ("manager_attribute", fields.manager_attribute.as_ref()),
    ] {
        if let Some(value) = value
            && !is_attribute(value)
        {
            errors.push(FieldError::new(
                field,
                "must be an attribute name, like `mail`",
            ));
        }
    }
    match fields.disabled_detection.parse::<DisabledDetection>() {
        Ok(DisabledDetection::EnabledFilter) if fields.enabled_filter.is_none() => {
            errors.push(FieldError::new(
                "enabled_filter",
                "is needed when disabled accounts are told by a filter",
            ));
        }
        Ok(_) => {}
        Err(e) => errors.push(FieldError::new("disabled_detection", e)),
    }
    let customer_directory = fields.organization_id.is_some();
    match fields.default_role.parse::<Role>() {
        Ok(role) if customer_directory && role != Role::Customer => {
            if !role_given && organization_given {
                // A directory moved to an organization makes customers from then on.
                fields.default_role = Role::Customer.as_str().to_owned();
            } else {
                errors.push(FieldError::new(
                    "default_role",
                    "an organization's directory only ever makes customers",
                ));
            }
        }
        // Customers belong to an organization; a staff directory has none to give them.
        Ok(Role::Customer) if !customer_directory => errors.push(FieldError::new(
            "default_role",
            "a staff directory makes agents or admins; choose an organization for customers",
        )),
        Ok(_) => {}
        Err(e) => errors.push(FieldError::new("default_role", e)),
    }
    if let Some(rules) = input.role_rules {
        for (index, rule) in rules.iter().enumerate() {
            match rule.role.parse::<Role>() {
                Ok(role) if customer_directory && role != Role::Customer => {
                    errors.push(FieldError::new(
                        format!("role_rules[{index}].role"),
                        "an organization's directory only ever makes customers",
                    ));
                }
                Ok(Role::Customer) if !customer_directory => {
                    errors.push(FieldError::new(
                        format!("role_rules[{index}].role"),
                        "a staff directory makes agents or admins",
                    ));
                }
                Ok(_) => {}
                Err(e) => errors.push(FieldError::new(format!("role_rules[{index}].role"), e)),
            }
            if rule.group.trim().is_empty() {
                errors.push(FieldError::new(
                    format!("role_rules[{index}].group"),
                    "must not be empty",
                ));
            }
        }
        fields.role_rules = serde_json::to_string(&rules).unwrap_or_else(|_| "[]".into());
    }
    if let Some(mappings) = input.group_mappings {
        for (index, mapping) in mappings.iter().enumerate() {
            if mapping.group.trim().is_empty() {
                errors.push(FieldError::new(
                    format!("group_mappings[{index}].group"),
                    "must not be empty",
                ));
            }
        }
        fields.group_mappings = serde_json::to_string(&mappings).unwrap_or_else(|_| "[]".into());
    }
    if !(0..=MAX_SYNC_INTERVAL_MINUTES).contains(&fields.sync_interval_minutes) {
        errors.push(FieldError::new(
            "sync_interval_minutes",
            format!("must be 0 to {MAX_SYNC_INTERVAL_MINUTES}"),
        ));
    }
    if errors.is_empty() {
        Ok(fields)
    } else {
        Err(AppError::Invalid(errors))
    }
}

/// Checks, in the change's transaction, that the organization and the support groups the
/// settings name exist.
async fn check_references(
    conn: &mut opsdesk_store::Conn,
    fields: &DirectoryFields,
) -> Result<(), AppError> {
    if let Some(organization) = fields.organization_id
        && opsdesk_store::accounts::get_organization(conn, organization)
            .await?
            .is_none()
    {
        return Err(AppError::invalid("organization_id", "no such organization"));
    }
    let mappings: Vec<GroupMapping> =
        serde_json::from_str(&fields.group_mappings).unwrap_or_default();
    if mappings.is_empty() {
        return Ok(());
    }
    let catalog = crate::catalog::current(conn).await?;
    let mut errors = Vec::new();
    for (index, mapping) in mappings.iter().enumerate() {
        if catalog.group(&mapping.support_group).is_none() {
            errors.push(FieldError::new(
                format!("group_mappings[{index}].support_group"),
                "no support group has this name",
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Invalid(errors))
    }
}

/// How to reach the directory of `row`.
pub(crate) fn reach_of(row: &DirectoryRow) -> Result<Reach, AppError> {
    let broken =
        |what: &str| AppError::broken(format!("directory {}: stored {what} is invalid", row.id));
    Ok(Reach {
        kind: row.kind.parse().map_err(|_| broken("kind"))?,
        url: DirectoryUrl::parse(&row.url, row.starttls != 0).map_err(|_| broken("url"))?,
        ca_pem: row.ca_pem.clone(),
        bind_dn: row.bind_dn.clone(),
        bind_password: row.bind_password.clone(),
        user_base: row.user_base.clone(),
        user_filter: row.user_filter.clone(),
        login_attribute: row.login_attribute.clone(),
        mail_attribute: row.mail_attribute.clone(),
        name_attribute: row.name_attribute.clone(),
        recovery_attribute: row.recovery_attribute.clone(),
        manager_attribute: row.manager_attribute.clone(),
        disabled_detection: row
            .disabled_detection
            .parse()
            .map_err(|_| broken("disabled detection"))?,
        enabled_filter: row.enabled_filter.clone(),
        group_base: row.group_base.clone(),
        group_filter: row.group_filter.clone(),
        member_attribute: row.member_attribute.clone(),
    })
}

/// A directory that could not be reached or refused, as an error a person can act on.
pub(crate) fn unreachable(error: &DirectoryError) -> AppError {
    AppError::Conflict {
        field: None,
        message: format!("the directory did not answer as expected: {error}"),
    }
}

impl App {
    /// Every directory (admins).
    pub async fn directories(&self, principal: &Principal) -> Result<Vec<Directory>, AppError> {
        principal.require_admin()?;
        let mut conn = self.db().reader().await?;
        Ok(store::list_directories(&mut conn)
            .await?
            .iter()
            .map(Directory::from)
            .collect())
    }

    /// One directory (admins).
    pub async fn directory(&self, principal: &Principal, id: i64) -> Result<Directory, AppError> {
        principal.require_admin()?;
        let mut conn = self.db().reader().await?;
        store::get_directory(&mut conn, id)
            .await?
            .as_ref()
            .map(Directory::from)
            .ok_or(AppError::NotFound("directory"))
    }

    /// Adds a directory (admins). A plain `ldap://` address to anything but loopback is
    /// refused, naming `url`: never plain text to a remote server.
    pub async fn create_directory(
        &self,
        principal: &Principal,
        input: DirectoryInput,
    ) -> Result<Directory, AppError> {
        principal.require_admin()?;
        let kind = match input.kind.as_deref() {
            Some(kind) => kind
                .parse::<DirectoryKind>()
                .map_err(|e| AppError::invalid("kind", e))?,
            None => DirectoryKind::OpenLdap,
        };
        let mut base = defaults(kind);
        if input.organization_id.flatten().is_some() && input.default_role.is_none() {
            base.default_role = Role::Customer.as_str().to_owned();
        }
        let mut missing = Vec::new();
        for (field, present) in [
            ("name", input.name.is_some()),
            ("url", input.url.is_some()),
            ("bind_dn", input.bind_dn.is_some()),
            ("bind_password", input.bind_password.is_some()),
            ("user_base", input.user_base.is_some()),
        ] {
            if !present {
                missing.push(FieldError::new(field, "is required"));
            }
        }
        if !missing.is_empty() {
            return Err(AppError::Invalid(missing));
        }
        let fields = apply(base, input)?;
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                check_references(tx.conn, &fields).await?;
                let row = store::insert_directory(tx.conn, &fields, tx.now).await?;
                let directory = Directory::from(&row);
                tx.record(Event::created(Entity::Directory, directory.id, &directory))
                    .await?;
                Ok(directory)
            })
        })
        .await
    }

    /// Changes a directory's settings (admins); absent fields stay as they are.
    pub async fn update_directory(
        &self,
        principal: &Principal,
        id: i64,
        expected_version: impl Into<Precondition>,
        input: DirectoryInput,
    ) -> Result<Directory, AppError> {
        principal.require_admin()?;
        if input.kind.is_some() {
            return Err(AppError::invalid(
                "kind",
                "is set when the directory is added",
            ));
        }
        let expected_version: Precondition = expected_version.into();
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let row = store::get_directory(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("directory"))?;
                let version = expected_version.check(row.version)?;
                let fields = apply(DirectoryFields::from(&row), input)?;
                check_references(tx.conn, &fields).await?;
                let updated = store::update_directory(tx.conn, id, version, &fields, tx.now)
                    .await?
                    .ok_or(AppError::Stale)?;
                let (before, after) = (Directory::from(&row), Directory::from(&updated));
                tx.record(Event::updated(Entity::Directory, id, &before, &after))
                    .await?;
                Ok(after)
            })
        })
        .await
    }

    /// Removes a directory (admins). Its accounts stay, unlinked, as they are.
    pub async fn delete_directory(&self, principal: &Principal, id: i64) -> Result<(), AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let row = store::get_directory(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("directory"))?;
                store::delete_directory(tx.conn, id).await?;
                tx.record(Event::deleted(
                    Entity::Directory,
                    id,
                    &Directory::from(&row),
                ))
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Connects to a directory and binds as its service account (admins): "Test connection".
    pub async fn check_directory(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<ConnectionCheck, AppError> {
        principal.require_admin()?;
        let row = {
            let mut conn = self.db().reader().await?;
            store::get_directory(&mut conn, id)
                .await?
                .ok_or(AppError::NotFound("directory"))?
        };
        let reach = reach_of(&row)?;
        Ok(match Connection::service(&reach).await {
            Ok(connection) => {
                connection.close().await;
                ConnectionCheck {
                    ok: true,
                    message: format!(
                        "connected to {}{} and bound as {}",
                        reach.url.as_str(),
                        if reach.url.starttls() {
                            " with StartTLS"
                        } else {
                            ""
                        },
                        reach.bind_dn
                    ),
                }
            }
            Err(error) => ConnectionCheck {
                ok: false,
                message: error.to_string(),
            },
        })
    }
}
