//! What a validated sign-in makes of a person: the account linked to the provider's
//! subject, else the one with the verified address, else a new one where the provider
//! allows it — decided by the domain's rules ([`ClaimMapping::decide`]) and written, with
//! the role and support groups the claims give, in one audited change.

use opsdesk_domain::account::Role;
use opsdesk_domain::oidc::{ClaimMapping, Claims, KnownAccount, Outcome, Realm, Refusal};
use opsdesk_store::Conn;
use opsdesk_store::accounts::{self as account_store, NewUser, UserRow, UserUpdate};
use opsdesk_store::identities;
use opsdesk_store::oidc::ProviderRow;
use opsdesk_store::tickets as ticket_store;

use super::IdentityProvider;
use crate::accounts::user_view;
use crate::audit::{Action, Entity, Event};
use crate::change::Tx;
use crate::{App, AppError};

/// The source name of provider links in `user_identities`.
pub(super) const SOURCE: &str = "oidc";

fn mapping_of(provider: &IdentityProvider) -> ClaimMapping {
    ClaimMapping {
        realm: provider
            .organization_id
            .map_or(Realm::Staff, Realm::Organization),
        role_rules: provider.role_rules.clone(),
        default_role: provider.default_role,
        group_mappings: provider.group_mappings.clone(),
        allow_signup: provider.allow_signup,
        require_verified_email: provider.require_verified_email,
    }
}

fn known(user: &UserRow, linked: bool) -> Result<KnownAccount, AppError> {
    Ok(KnownAccount {
        id: user.id,
        role: user
            .role
            .parse()
            .map_err(|e| AppError::internal(format!("user {}", user.id), e))?,
        organization_id: user.organization_id,
        active: user.active != 0,
        linked,
    })
}

/// Finds, creates or updates the account for `person` signing in through `provider`, in
/// one change; the account's id, or why the person may not sign in (nothing written then).
pub(super) async fn settle(
    app: &App,
    provider: &ProviderRow,
    person: Claims,
) -> Result<Result<i64, Refusal>, AppError> {
    let provider = IdentityProvider::try_from(provider.clone())?;
    app.system_change("sign-in", move |mut tx| {
        Box::pin(async move {
            let mapping = mapping_of(&provider);
            let linked =
                identities::find_identity_user(tx.conn, SOURCE, provider.id, &person.subject)
                    .await?;
            let found = match linked {
                Some(user) => Some((user, true)),
                None => match person
                    .email
                    .as_deref()
                    .map(str::trim)
                    .map(str::to_lowercase)
                {
                    Some(email) => account_store::find_user_by_email(tx.conn, &email)
                        .await?
                        .map(|user| (user, false)),
                    None => None,
                },
            };
            let known = match &found {
                Some((user, linked)) => Some(known(user, *linked)?),
                None => None,
            };
            let outcome = match mapping.decide(&person, known.as_ref()) {
                Ok(outcome) => outcome,
                Err(refusal) => return Ok(Err(refusal)),
            };
            let user_id = match outcome {
                Outcome::Existing {
                    user_id,
                    role,
                    link,
                    support_groups,
                } => {
                    if let Some((user, _)) = found
                        && user.role != role.as_str()
                    {
                        change_role(&mut tx, user, role).await?;
                    }
                    if link {
                        identities::link_identity(
                            tx.conn,
                            user_id,
                            SOURCE,
                            provider.id,
                            &person.subject,
                            tx.now,
                        )
                        .await?;
                    } else {
                        identities::touch_identity(
                            tx.conn,
                            SOURCE,
                            provider.id,
                            &person.subject,
                            tx.now,
                        )
                        .await?;
                    }
                    set_support_groups(tx.conn, user_id, &support_groups).await?;
                    user_id
                }
                Outcome::New {
                    email,
                    name,
                    role,
                    organization_id,
                    support_groups,
                } => {
                    let row = account_store::insert_user(
                        tx.conn,
                        &NewUser {
                            email: email.as_str(),
                            name: &name,
                            role: role.as_str(),
                            organization_id,
                            password_hash: None,
                        },
                        tx.now,
                    )
                    .await?;
                    let user_id = row.id;
                    let user = user_view(tx.conn, row).await?;
                    tx.record(Event::created(Entity::User, user_id, &user))
                        .await?;
                    identities::link_identity(
                        tx.conn,
                        user_id,
                        SOURCE,
                        provider.id,
                        &person.subject,
                        tx.now,
                    )
                    .await?;
                    set_support_groups(tx.conn, user_id, &support_groups).await?;
                    user_id
                }
            };
            tx.record(Event {
                entity: Entity::IdentityProvider,
                entity_id: provider.id,
                action: Action::SignedIn,
                before: None,
                after: Some(serde_json::json!({
                    "user_id": user_id,
                    "subject": person.subject,
                    "email": person.email,
                })),
            })
            .await?;
            Ok(Ok(user_id))
        })
    })
    .await
}

/// Gives an existing account the role its groups now say, audited like an admin's change.
async fn change_role(tx: &mut Tx<'_>, user: UserRow, role: Role) -> Result<(), AppError> {
    let user_id = user.id;
    let before = user_view(tx.conn, user.clone()).await?;
    let row = account_store::update_user(
        tx.conn,
        user_id,
        user.version,
        &UserUpdate {
            name: &user.name,
            role: role.as_str(),
            organization_id: user.organization_id,
            active: user.active != 0,
            approves_articles: user.approves_articles != 0,
            password_hash: None,
        },
        tx.now,
    )
    .await?
    .ok_or(AppError::Stale)?;
    let after = user_view(tx.conn, row).await?;
    tx.record(Event::updated(Entity::User, user_id, &before, &after))
        .await
}

/// Makes the account a member, or not, of each mapped support group.
async fn set_support_groups(
    conn: &mut Conn,
    user_id: i64,
    memberships: &[(i64, bool)],
) -> Result<(), AppError> {
    for (group_id, member) in memberships {
        if *member {
            ticket_store::add_group_member(conn, *group_id, user_id).await?;
        } else {
            ticket_store::remove_group_member(conn, *group_id, user_id).await?;
        }
    }
    Ok(())
}
