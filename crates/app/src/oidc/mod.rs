//! OpenID Connect sign-in: the providers admins configure (for staff, or per organization so
//! that each customer company signs in with its own), and the authorization-code flow with
//! PKCE through them ([`flow`]), the providers' discovery documents and keys ([`cache`]),
//! and what a validated ID token makes of a person ([`mapping`]).

mod audit;
mod cache;
mod flow;
mod mapping;

use opsdesk_domain::account::Role;
use opsdesk_domain::oidc::{GroupMapping, RoleRule, check_issuer, parse_domains};
use opsdesk_store::Conn;
use opsdesk_store::accounts as account_store;
use opsdesk_store::oidc::{self as store, ProviderFields, ProviderRow};
use opsdesk_store::tickets as ticket_store;
use serde::{Deserialize, Serialize};

pub(crate) use cache::OidcRuntime;
pub use flow::{Callback, Redirect, SignInRefused, SignedIn, Trouble};

use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::{App, AppError, FieldError, Precondition, Principal, timestamp};

/// Where opsdesk's back-channel requests to providers go.
#[derive(Debug, Clone, Default)]
pub struct OidcSettings {
    /// An HTTP proxy for requests to providers (discovery, keys, tokens), e.g.
    /// `http://proxy.internal:3128`; none: straight out (or as `HTTPS_PROXY` says).
    pub http_proxy: Option<String>,
}

/// The path of opsdesk's one redirect URI, which every provider answers at.
pub const CALLBACK_PATH: &str = "/login/oidc/callback";

/// A provider as the API shows it. The client secret is never shown back, only whether
/// there is one.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IdentityProvider {
    pub id: i64,
    /// The organization whose customers it signs in; none: it signs in staff.
    pub organization_id: Option<i64>,
    pub organization: Option<String>,
    pub name: String,
    /// The sign-in button says "Sign in with <label>".
    pub label: String,
    pub issuer: String,
    pub client_id: String,
    pub has_client_secret: bool,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    pub email_claim: String,
    pub name_claim: String,
    pub groups_claim: String,
    /// `[{group, role}]`: the first rule whose group the person is in gives the role.
    #[schema(value_type = Vec<Object>)]
    pub role_rules: Vec<RoleRule>,
    /// The role of a new account no rule matched; none refuses such people.
    #[schema(value_type = Option<String>)]
    pub default_role: Option<Role>,
    /// `[{group, support_group_id}]` (staff providers).
    #[schema(value_type = Vec<Object>)]
    pub group_mappings: Vec<GroupMapping>,
    pub allow_signup: bool,
    pub require_verified_email: bool,
    /// Addresses in these domains are sent to this provider from the sign-in form.
    pub email_domains: Vec<String>,
    pub active: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: jiff::Timestamp,
    pub version: i64,
}

/// A new provider. Only `name`, `issuer` and `client_id` are required.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIdentityProvider {
    /// The organization whose customers it signs in; absent: it signs in staff.
    pub organization_id: Option<i64>,
    pub name: String,
    /// The button's text; the name when absent.
    pub label: Option<String>,
    /// `https://…` (plain `http://` only on loopback).
    pub issuer: String,
    pub client_id: String,
    /// Write-only; absent or empty for a public client.
    pub client_secret: Option<String>,
    /// Besides `openid`; `["email", "profile"]` when absent.
    pub scopes: Option<Vec<String>>,
    pub email_claim: Option<String>,
    pub name_claim: Option<String>,
    pub groups_claim: Option<String>,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub role_rules: Vec<RoleRule>,
    /// Absent: `customer` for an organization's provider, none (refuse) for staff.
    #[schema(value_type = Option<String>)]
    pub default_role: Option<Role>,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub group_mappings: Vec<GroupMapping>,
    #[serde(default)]
    pub allow_signup: bool,
    pub require_verified_email: Option<bool>,
    #[serde(default)]
    pub email_domains: Vec<String>,
    pub active: Option<bool>,
}

/// Changes to a provider; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityProviderPatch {
    /// `null` makes it a staff provider.
    #[serde(default, with = "crate::accounts::double_option")]
    #[schema(value_type = Option<i64>)]
    pub organization_id: Option<Option<i64>>,
    pub name: Option<String>,
    pub label: Option<String>,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    /// Write-only; an empty string removes it (a public client).
    pub client_secret: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub email_claim: Option<String>,
    pub name_claim: Option<String>,
    pub groups_claim: Option<String>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub role_rules: Option<Vec<RoleRule>>,
    /// `null`: no default role.
    #[serde(default, with = "crate::accounts::double_option")]
    #[schema(value_type = Option<String>)]
    pub default_role: Option<Option<Role>>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub group_mappings: Option<Vec<GroupMapping>>,
    pub allow_signup: Option<bool>,
    pub require_verified_email: Option<bool>,
    pub email_domains: Option<Vec<String>>,
    pub active: Option<bool>,
}

/// A provider's button on the sign-in page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInButton {
    pub id: i64,
    pub label: String,
}

/// Every setting of a provider, as created or after a patch, before it is checked.
#[derive(Debug, Clone)]
struct Draft {
    organization_id: Option<i64>,
    name: String,
    label: String,
    issuer: String,
    client_id: String,
    client_secret: String,
    scopes: Vec<String>,
    email_claim: String,
    name_claim: String,
    groups_claim: String,
    role_rules: Vec<RoleRule>,
    default_role: Option<Role>,
    group_mappings: Vec<GroupMapping>,
    allow_signup: bool,
    require_verified_email: bool,
    email_domains: Vec<String>,
    active: bool,
}

impl Draft {
    fn from_new(new: NewIdentityProvider) -> Self {
        let claim = |value: Option<String>, default: &str| value.unwrap_or_else(|| default.into());
        Draft {
            organization_id: new.organization_id,
            label: new.label.unwrap_or_else(|| new.name.clone()),
            name: new.name,
            issuer: new.issuer,
            client_id: new.client_id,
            client_secret: new.client_secret.unwrap_or_default(),
            scopes: new
                .scopes
                .unwrap_or_else(|| vec!["email".into(), "profile".into()]),
            email_claim: claim(new.email_claim, "email"),
            name_claim: claim(new.name_claim, "name"),
            groups_claim: claim(new.groups_claim, "groups"),
            role_rules: new.role_rules,
            default_role: new
                .default_role
                .or_else(|| new.organization_id.map(|_| Role::Customer)),
            group_mappings: new.group_mappings,
            allow_signup: new.allow_signup,
            require_verified_email: new.require_verified_email.unwrap_or(true),
            email_domains: new.email_domains,
            active: new.active.unwrap_or(true),
        }
    }

    fn from_row(row: &ProviderRow) -> Result<Self, AppError> {
        let provider = IdentityProvider::try_from(row.clone())?;
        Ok(Draft {
            organization_id: row.organization_id,
            name: provider.name,
            label: provider.label,
            issuer: provider.issuer,
            client_id: provider.client_id,
            client_secret: row.client_secret.clone(),
            scopes: provider.scopes,
            email_claim: provider.email_claim,
            name_claim: provider.name_claim,
            groups_claim: provider.groups_claim,
            role_rules: provider.role_rules,
            default_role: provider.default_role,
            group_mappings: provider.group_mappings,
            allow_signup: provider.allow_signup,
            require_verified_email: provider.require_verified_email,
            email_domains: provider.email_domains,
            active: provider.active,
        })
    }

    fn patched(mut self, patch: IdentityProviderPatch) -> Self {
        let IdentityProviderPatch {
            organization_id,
            name,
            label,
            issuer,
            client_id,
            client_secret,
            scopes,
            email_claim,
            name_claim,
            groups_claim,
            role_rules,
            default_role,
            group_mappings,
            allow_signup,
            require_verified_email,
            email_domains,
            active,
        } = patch;
        fn set<T>(slot: &mut T, value: Option<T>) {
            if let Some(value) = value {
                *slot = value;
            }
        }
        set(&mut self.organization_id, organization_id);
        set(&mut self.name, name);
        set(&mut self.label, label);
        set(&mut self.issuer, issuer);
        set(&mut self.client_id, client_id);
        set(&mut self.client_secret, client_secret);
        set(&mut self.scopes, scopes);
        set(&mut self.email_claim, email_claim);
        set(&mut self.name_claim, name_claim);
        set(&mut self.groups_claim, groups_claim);
        set(&mut self.role_rules, role_rules);
        set(&mut self.default_role, default_role);
        set(&mut self.group_mappings, group_mappings);
        set(&mut self.allow_signup, allow_signup);
        set(&mut self.require_verified_email, require_verified_email);
        set(&mut self.email_domains, email_domains);
        set(&mut self.active, active);
        self
    }

    /// Checks everything that needs no database; trims and normalises as it goes.
    fn check(mut self) -> Result<Self, AppError> {
        let mut errors = Vec::new();
        let mut text = |field: &str, value: &str, most: usize| {
            let value = value.trim();
            if value.is_empty() || value.chars().count() > most {
                errors.push(FieldError::new(
                    field,
                    format!("must be 1 to {most} characters"),
                ));
            }
            value.to_owned()
        };
        self.name = text("name", &self.name, 100);
        self.label = text("label", &self.label, 100);
        self.client_id = text("client_id", &self.client_id, 500);
        self.email_claim = text("email_claim", &self.email_claim, 100);
        self.name_claim = text("name_claim", &self.name_claim, 100);
        self.groups_claim = text("groups_claim", &self.groups_claim, 100);
        self.client_secret = self.client_secret.trim().to_owned();
        if self.client_secret.chars().count() > 1_000 {
            errors.push(FieldError::new(
                "client_secret",
                "must be at most 1000 characters",
            ));
        }
        match check_issuer(&self.issuer) {
            Ok(issuer) => self.issuer = issuer,
            Err(e) => errors.push(FieldError::new("issuer", e)),
        }
        let mut scopes: Vec<String> = Vec::new();
        for (index, scope) in self.scopes.iter().enumerate() {
            let scope = scope.trim();
            let valid = !scope.is_empty()
                && scope.len() <= 100
                && scope
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\\'));
            if !valid {
                errors.push(FieldError::new(
                    format!("scopes[{index}]"),
                    "a scope is one word of visible ASCII characters",
                ));
            } else if scope != "openid" && !scopes.iter().any(|s| s == scope) {
                scopes.push(scope.to_owned());
            }
        }
        self.scopes = scopes;
        let organization = self.organization_id.is_some();
        for (index, rule) in self.role_rules.iter_mut().enumerate() {
            rule.group = rule.group.trim().to_owned();
            if rule.group.is_empty() {
                errors.push(FieldError::new(
                    format!("role_rules[{index}].group"),
                    "must not be empty",
                ));
            }
            if organization && rule.role != Role::Customer {
                errors.push(FieldError::new(
                    format!("role_rules[{index}].role"),
                    "an organization's provider only signs in customers of that organization",
                ));
            }
        }
        match self.default_role {
            Some(role) if organization && role != Role::Customer => errors.push(FieldError::new(
                "default_role",
                "an organization's provider only signs in customers of that organization",
            )),
            Some(Role::Customer) if !organization => errors.push(FieldError::new(
                "default_role",
                "a staff provider (of no organization) signs in agents and admins only",
            )),
            _ => {}
        }
        if organization && !self.group_mappings.is_empty() {
            errors.push(FieldError::new(
                "group_mappings",
                "support groups are for staff: only a provider of no organization maps them",
            ));
        }
        for (index, mapping) in self.group_mappings.iter_mut().enumerate() {
            mapping.group = mapping.group.trim().to_owned();
            if mapping.group.is_empty() {
                errors.push(FieldError::new(
                    format!("group_mappings[{index}].group"),
                    "must not be empty",
                ));
            }
        }
        match parse_domains(&self.email_domains.join(",")) {
            Ok(domains) => self.email_domains = domains,
            Err(bad) => errors.push(FieldError::new(
                "email_domains",
                format!("`{bad}` is not a domain like `example.com`"),
            )),
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(AppError::Invalid(errors))
        }
    }

    /// Checks that the organization and support groups it names exist.
    async fn check_references(&self, conn: &mut Conn) -> Result<(), AppError> {
        if let Some(id) = self.organization_id
            && account_store::get_organization(conn, id).await?.is_none()
        {
            return Err(AppError::invalid("organization_id", "no such organization"));
        }
        for (index, mapping) in self.group_mappings.iter().enumerate() {
            if ticket_store::get_group(conn, mapping.support_group_id)
                .await?
                .is_none()
            {
                return Err(AppError::invalid(
                    format!("group_mappings[{index}].support_group_id"),
                    "no such support group",
                ));
            }
        }
        Ok(())
    }

    async fn write(
        &self,
        conn: &mut Conn,
        update: Option<(i64, i64)>,
        now: i64,
    ) -> Result<ProviderRow, AppError> {
        let role_rules = json(&self.role_rules)?;
        let group_mappings = json(&self.group_mappings)?;
        let scopes = self.scopes.join(" ");
        let email_domains = self.email_domains.join(",");
        let fields = ProviderFields {
            organization_id: self.organization_id,
            name: &self.name,
            label: &self.label,
            issuer: &self.issuer,
            client_id: &self.client_id,
            client_secret: &self.client_secret,
            scopes: &scopes,
            email_claim: &self.email_claim,
            name_claim: &self.name_claim,
            groups_claim: &self.groups_claim,
            role_rules: &role_rules,
            default_role: self.default_role.map(Role::as_str),
            group_mappings: &group_mappings,
            allow_signup: self.allow_signup,
            require_verified_email: self.require_verified_email,
            email_domains: &email_domains,
            active: self.active,
        };
        let row = match update {
            None => store::insert_provider(conn, &fields, now)
                .await
                .map_err(|e| e.on_unique("name"))?,
            Some((id, version)) => store::update_provider(conn, id, version, &fields, now)
                .await
                .map_err(|e| e.on_unique("name"))?
                .ok_or(AppError::Stale)?,
        };
        Ok(row)
    }
}

fn json(value: &impl Serialize) -> Result<String, AppError> {
    serde_json::to_string(value).map_err(|e| AppError::internal("provider settings", e))
}

impl TryFrom<ProviderRow> for IdentityProvider {
    type Error = AppError;

    fn try_from(row: ProviderRow) -> Result<Self, AppError> {
        let broken = |what: &str, e: &dyn std::fmt::Display| {
            AppError::broken(format!("identity provider {}: {what}: {e}", row.id))
        };
        let role_rules =
            serde_json::from_str(&row.role_rules).map_err(|e| broken("role_rules", &e))?;
        let group_mappings =
            serde_json::from_str(&row.group_mappings).map_err(|e| broken("group_mappings", &e))?;
        let default_role = match row.default_role.as_deref() {
            Some(role) => Some(role.parse().map_err(|e| broken("default_role", &e))?),
            None => None,
        };
        let split = |text: &str, by: char| {
            text.split(by)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        Ok(IdentityProvider {
            id: row.id,
            organization_id: row.organization_id,
            organization: None,
            scopes: split(&row.scopes, ' '),
            email_domains: split(&row.email_domains, ','),
            name: row.name,
            label: row.label,
            issuer: row.issuer,
            client_id: row.client_id,
            has_client_secret: !row.client_secret.is_empty(),
            email_claim: row.email_claim,
            name_claim: row.name_claim,
            groups_claim: row.groups_claim,
            role_rules,
            default_role,
            group_mappings,
            allow_signup: row.allow_signup != 0,
            require_verified_email: row.require_verified_email != 0,
            active: row.active != 0,
            created_at: timestamp(row.created_at),
            updated_at: timestamp(row.updated_at),
            version: row.version,
        })
    }
}

/// A provider as shown, with its organization's name.
async fn view(conn: &mut Conn, row: ProviderRow) -> Result<IdentityProvider, AppError> {
    let organization = match row.organization_id {
        Some(id) => account_store::get_organization(conn, id)
            .await?
            .map(|o| o.name),
        None => None,
    };
    Ok(IdentityProvider {
        organization,
        ..IdentityProvider::try_from(row)?
    })
}

impl App {
    /// Adds a provider (admins). Its issuer must be `https://` unless it is on this
    /// machine; an organization's provider only ever gives the customer role.
    pub async fn create_identity_provider(
        &self,
        principal: &Principal,
        input: NewIdentityProvider,
    ) -> Result<IdentityProvider, AppError> {
        principal.require_admin()?;
        let draft = Draft::from_new(input).check()?;
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                draft.check_references(tx.conn).await?;
                let row = draft.write(tx.conn, None, tx.now).await?;
                let provider = view(tx.conn, row).await?;
                tx.record(Event::created(
                    Entity::IdentityProvider,
                    provider.id,
                    &provider,
                ))
                .await?;
                Ok::<_, AppError>(provider)
            })
        })
        .await
    }

    /// The providers with an id above `after`, by id (admins).
    pub async fn identity_providers(
        &self,
        principal: &Principal,
        after: i64,
        limit: i64,
    ) -> Result<Vec<IdentityProvider>, AppError> {
        principal.require_admin()?;
        let mut conn = self.db().reader().await?;
        let mut providers = Vec::new();
        for row in store::list_providers(&mut conn, after, limit).await? {
            providers.push(view(&mut conn, row).await?);
        }
        Ok(providers)
    }

    /// One provider (admins).
    pub async fn identity_provider(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<IdentityProvider, AppError> {
        principal.require_admin()?;
        let mut conn = self.db().reader().await?;
        let row = store::get_provider(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound("identity provider"))?;
        view(&mut conn, row).await
    }

    /// Changes a provider (admins), if it is still at a version `expected` accepts.
    pub async fn update_identity_provider(
        &self,
        principal: &Principal,
        id: i64,
        expected: impl Into<Precondition>,
        patch: IdentityProviderPatch,
    ) -> Result<IdentityProvider, AppError> {
        principal.require_admin()?;
        let expected: Precondition = expected.into();
        let updated = self
            .change(principal, Need::Admin, move |mut tx| {
                Box::pin(async move {
                    let row = store::get_provider(tx.conn, id)
                        .await?
                        .ok_or(AppError::NotFound("identity provider"))?;
                    let version = expected.check(row.version)?;
                    let draft = Draft::from_row(&row)?.patched(patch).check()?;
                    draft.check_references(tx.conn).await?;
                    let before = view(tx.conn, row).await?;
                    let row = draft.write(tx.conn, Some((id, version)), tx.now).await?;
                    let after = view(tx.conn, row).await?;
                    tx.record(Event::updated(
                        Entity::IdentityProvider,
                        id,
                        &before,
                        &after,
                    ))
                    .await?;
                    Ok::<_, AppError>(after)
                })
            })
            .await?;
        self.inner.oidc.forget(id);
        Ok(updated)
    }

    /// Removes a provider (admins): the accounts it created stay, unlinked.
    pub async fn delete_identity_provider(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<(), AppError> {
        principal.require_admin()?;
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let row = store::get_provider(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("identity provider"))?;
                let before = view(tx.conn, row).await?;
                store::delete_provider(tx.conn, id).await?;
                tx.record(Event::deleted(Entity::IdentityProvider, id, &before))
                    .await?;
                Ok::<_, AppError>(())
            })
        })
        .await?;
        self.inner.oidc.forget(id);
        Ok(())
    }

    /// The active providers' buttons for the sign-in page, staff's first. A database that
    /// does not answer shows no buttons rather than no sign-in page.
    pub async fn sign_in_buttons(&self) -> Vec<SignInButton> {
        let rows = match self.db().reader().await {
            Ok(mut conn) => store::active_providers(&mut conn).await,
            Err(e) => Err(e),
        };
        match rows {
            Ok(rows) => rows
                .into_iter()
                .map(|row| SignInButton {
                    id: row.id,
                    label: row.label,
                })
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "sign-in providers could not be read");
                Vec::new()
            }
        }
    }

    /// The active provider an address's domain signs in with (home-realm discovery), if any.
    pub async fn provider_for_address(
        &self,
        email: &str,
    ) -> Result<Option<SignInButton>, AppError> {
        let Some((_, domain)) = email.trim().rsplit_once('@') else {
            return Ok(None);
        };
        let domain = domain.to_ascii_lowercase();
        let mut conn = self.db().reader().await?;
        Ok(store::active_providers(&mut conn)
            .await?
            .into_iter()
            .find(|row| row.email_domains.split(',').any(|d| d == domain))
            .map(|row| SignInButton {
                id: row.id,
                label: row.label,
            }))
    }
}
