//! OpenID Connect providers and the sign-ins under way with them.

use sqlx::AnyConnection;

use crate::error::StoreError;

/// A provider as stored, its client secret included: only the application reads this.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ProviderRow {
    pub id: i64,
    pub organization_id: Option<i64>,
    pub name: String,
    pub label: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: String,
    pub email_claim: String,
    pub name_claim: String,
    pub groups_claim: String,
    /// JSON list of `{group, role}`.
    pub role_rules: String,
    pub default_role: Option<String>,
    /// JSON list of `{group, support_group_id}`.
    pub group_mappings: String,
    pub allow_signup: i64,
    pub require_verified_email: i64,
    /// Comma-separated.
    pub email_domains: String,
    pub active: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

const PROVIDER_COLUMNS: &str = "id, organization_id, name, label, issuer, client_id, \
     client_secret, scopes, email_claim, name_claim, groups_claim, role_rules, default_role, \
     group_mappings, allow_signup, require_verified_email, email_domains, active, created_at, \
     updated_at, version";

/// A provider's settings, as written on creation and on every change.
#[derive(Debug, Clone)]
pub struct ProviderFields<'a> {
    pub organization_id: Option<i64>,
    pub name: &'a str,
    pub label: &'a str,
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub scopes: &'a str,
    pub email_claim: &'a str,
    pub name_claim: &'a str,
    pub groups_claim: &'a str,
    pub role_rules: &'a str,
    pub default_role: Option<&'a str>,
    pub group_mappings: &'a str,
    pub allow_signup: bool,
    pub require_verified_email: bool,
    pub email_domains: &'a str,
    pub active: bool,
}

pub async fn insert_provider(
    conn: &mut AnyConnection,
    fields: &ProviderFields<'_>,
    now: i64,
) -> Result<ProviderRow, StoreError> {
    Ok(sqlx::query_as(sql!(
        "INSERT INTO identity_providers (organization_id, name, label, issuer, client_id, \
         client_secret, scopes, email_claim, name_claim, groups_claim, role_rules, default_role, \
         group_mappings, allow_signup, require_verified_email, email_domains, active, \
         created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18) \
         RETURNING {PROVIDER_COLUMNS}"
    ))
    .bind(fields.organization_id)
    .bind(fields.name)
    .bind(fields.label)
    .bind(fields.issuer)
    .bind(fields.client_id)
    .bind(fields.client_secret)
    .bind(fields.scopes)
    .bind(fields.email_claim)
    .bind(fields.name_claim)
    .bind(fields.groups_claim)
    .bind(fields.role_rules)
    .bind(fields.default_role)
    .bind(fields.group_mappings)
    .bind(i64::from(fields.allow_signup))
    .bind(i64::from(fields.require_verified_email))
    .bind(fields.email_domains)
    .bind(i64::from(fields.active))
    .bind(now)
    .fetch_one(conn)
    .await?)
}

/// Replaces a provider's settings if it is still at `version`; `None` when it is not (or
/// is gone).
pub async fn update_provider(
    conn: &mut AnyConnection,
    id: i64,
    version: i64,
    fields: &ProviderFields<'_>,
    now: i64,
) -> Result<Option<ProviderRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "UPDATE identity_providers SET organization_id = $3, name = $4, label = $5, \
         issuer = $6, client_id = $7, client_secret = $8, scopes = $9, email_claim = $10, \
         name_claim = $11, groups_claim = $12, role_rules = $13, default_role = $14, \
         group_mappings = $15, allow_signup = $16, require_verified_email = $17, \
         email_domains = $18, active = $19, updated_at = $20, version = version + 1 \
         WHERE id = $1 AND version = $2 RETURNING {PROVIDER_COLUMNS}"
    ))
    .bind(id)
    .bind(version)
    .bind(fields.organization_id)
    .bind(fields.name)
    .bind(fields.label)
    .bind(fields.issuer)
    .bind(fields.client_id)
    .bind(fields.client_secret)
    .bind(fields.scopes)
    .bind(fields.email_claim)
    .bind(fields.name_claim)
    .bind(fields.groups_claim)
    .bind(fields.role_rules)
    .bind(fields.default_role)
    .bind(fields.group_mappings)
    .bind(i64::from(fields.allow_signup))
    .bind(i64::from(fields.require_verified_email))
    .bind(fields.email_domains)
    .bind(i64::from(fields.active))
    .bind(now)
    .fetch_optional(conn)
    .await?)
}

pub async fn get_provider(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<ProviderRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {PROVIDER_COLUMNS} FROM identity_providers WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Providers with an id above `after`, by id.
pub async fn list_providers(
    conn: &mut AnyConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<ProviderRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {PROVIDER_COLUMNS} FROM identity_providers WHERE id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// The active providers, staff's first, then by label: the sign-in page's buttons.
pub async fn active_providers(conn: &mut AnyConnection) -> Result<Vec<ProviderRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {PROVIDER_COLUMNS} FROM identity_providers WHERE active = 1 \
         ORDER BY organization_id IS NOT NULL, label, id"
    ))
    .fetch_all(conn)
    .await?)
}

/// Removes a provider with the links of accounts to it and its sign-ins under way; the
/// accounts stay. Whether there was one.
pub async fn delete_provider(conn: &mut AnyConnection, id: i64) -> Result<bool, StoreError> {
    sqlx::query("DELETE FROM user_identities WHERE source = 'oidc' AND source_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let deleted = sqlx::query("DELETE FROM identity_providers WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(deleted.rows_affected() > 0)
}

/// A sign-in sent to a provider, waiting for its answer.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AttemptRow {
    pub state_hash: String,
    pub provider_id: i64,
    pub nonce: String,
    pub pkce_verifier: String,
    pub redirect_uri: String,
    pub return_to: String,
    pub created_at: i64,
    pub expires_at: i64,
}

pub async fn insert_attempt(
    conn: &mut AnyConnection,
    attempt: &AttemptRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO oidc_login_attempts (state_hash, provider_id, nonce, pkce_verifier, \
         redirect_uri, return_to, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&attempt.state_hash)
    .bind(attempt.provider_id)
    .bind(&attempt.nonce)
    .bind(&attempt.pkce_verifier)
    .bind(&attempt.redirect_uri)
    .bind(&attempt.return_to)
    .bind(attempt.created_at)
    .bind(attempt.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes the sign-in whose state has this hash: deleted as it is read, so that only one
/// answer (the first) ever finds it.
pub async fn take_attempt(
    conn: &mut AnyConnection,
    state_hash: &str,
) -> Result<Option<AttemptRow>, StoreError> {
    Ok(sqlx::query_as(
        "DELETE FROM oidc_login_attempts WHERE state_hash = $1 RETURNING state_hash, \
         provider_id, nonce, pkce_verifier, redirect_uri, return_to, created_at, expires_at",
    )
    .bind(state_hash)
    .fetch_optional(conn)
    .await?)
}

/// Forgets sign-ins that expired before `now`; how many.
pub async fn prune_attempts(conn: &mut AnyConnection, now: i64) -> Result<u64, StoreError> {
    Ok(
        sqlx::query("DELETE FROM oidc_login_attempts WHERE expires_at < $1")
            .bind(now)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}
