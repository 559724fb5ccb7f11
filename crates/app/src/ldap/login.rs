//! Signing in with a directory password: the service account finds the person (by login or
//! mail attribute), then opsdesk binds as their DN with the password given. A directory
//! account's password is never checked against a local hash; wrong ones count towards the
//! same limits and lockout as local ones.

use opsdesk_domain::account::Email;
use opsdesk_domain::directory::plan_sync;
use opsdesk_store::accounts::{self as accounts_store, UserRow};
use opsdesk_store::directories as store;
use opsdesk_store::identities;

use super::client::{Connection, Entry, Reach, people_with_groups};
use super::sync::{Step, rules_of, write_step};
use super::{reach_of, unreachable};
use crate::audit::{Entity, Event};
use crate::auth::{ClientInfo, SignIn, invalid_credentials};
use crate::{App, AppError, Principal};

/// Finds the person `login` names and binds as them with `password`; their entry when the
/// directory took the password, `None` when it did not, the person is not found (or not
/// the one `subject` names), or the directory marks them disabled.
async fn bind_person(
    reach: &Reach,
    login: &str,
    subject: Option<&str>,
    password: &str,
) -> Result<Option<(Entry, Connection)>, AppError> {
    let mut connection = Connection::service(reach)
        .await
        .map_err(|e| unreachable(&e))?;
    let entry = connection
        .find_person(reach, login)
        .await
        .map_err(|e| unreachable(&e))?
        .filter(|entry| subject.is_none_or(|s| s == entry.subject) && !entry.disabled);
    let Some(entry) = entry else {
        connection.close().await;
        return Ok(None);
    };
    if !connection
        .bind(&entry.dn, password)
        .await
        .map_err(|e| unreachable(&e))?
    {
        connection.close().await;
        return Ok(None);
    }
    // Back to the service account, which may read the person's groups.
    if !connection
        .bind(&reach.bind_dn, &reach.bind_password)
        .await
        .map_err(|e| unreachable(&e))?
    {
        connection.close().await;
        return Err(unreachable(&super::DirectoryError::ServiceBind(
            "invalid credentials".into(),
        )));
    }
    Ok(Some((entry, connection)))
}

impl App {
    /// The sign-in of an account linked to an active directory, checked by a bind; `None`
    /// for accounts that are not (their local password is checked instead).
    pub(crate) async fn directory_login(
        &self,
        user: &UserRow,
        password: &str,
        client: &ClientInfo,
    ) -> Result<Option<SignIn>, AppError> {
        let linked = {
            let mut conn = self.db().reader().await?;
            store::directory_of_user(&mut conn, user.id).await?
        };
        let Some((row, subject)) = linked.filter(|(row, _)| row.active != 0) else {
            return Ok(None);
        };
        let reach = reach_of(&row)?;
        let bound = bind_person(&reach, &user.email, Some(&subject), password).await?;
        let Some((_, connection)) = bound.filter(|_| user.active != 0) else {
            self.record_login_failure(user, client.ip).await?;
            return Err(invalid_credentials());
        };
        connection.close().await;
        let (user_id, directory_id) = (user.id, row.id);
        self.system_change("sign-in", move |tx| {
            Box::pin(async move {
                accounts_store::clear_login_failures(tx.conn, user_id).await?;
                identities::touch_identity(tx.conn, "ldap", directory_id, &subject, tx.now).await?;
                Ok(())
            })
        })
        .await?;
        Ok(Some(SignIn::Session(
            self.open_session(user_id, "ldap", client).await?,
        )))
    }

    /// The first sign-in of an address the desk does not know: a directory that allows
    /// sign-up and finds the person binds as them, and on success the account is made (role
    /// and support groups from their directory groups) and signed in. `None` when no such
    /// directory knows the address.
    pub(crate) async fn directory_sign_up(
        &self,
        email: &Email,
        password: &str,
        client: &ClientInfo,
    ) -> Result<Option<SignIn>, AppError> {
        let directories = {
            let mut conn = self.db().reader().await?;
            store::active_directories(&mut conn).await?
        };
        for row in directories.into_iter().filter(|row| row.allow_signup != 0) {
            let reach = reach_of(&row)?;
            let mut lookup = match Connection::service(&reach).await {
                Ok(connection) => connection,
                Err(error) => {
                    tracing::warn!(directory = row.id, %error, "directory unreachable at sign-in");
                    continue;
                }
            };
            let found = lookup.find_person(&reach, email.as_str()).await;
            lookup.close().await;
            if !matches!(found, Ok(Some(_))) {
                continue;
            }
            let Some((entry, mut connection)) =
                bind_person(&reach, email.as_str(), None, password).await?
            else {
                self.inner.login_throttle.record(client.ip, self.now_ms());
                return Err(invalid_credentials());
            };
            let groups = connection
                .groups_of(&reach, &entry)
                .await
                .map_err(|e| unreachable(&e))?;
            connection.close().await;
            let person = people_with_groups(&reach, vec![entry], &groups);
            let plan = plan_sync(&person, &[], &rules_of(&row)?);
            let Some(account) = plan.create.into_iter().next() else {
                continue;
            };
            let group_ids = self.support_group_ids().await?;
            let (directory_id, organization_id) = (row.id, row.organization_id);
            let principal = Principal::system("directory sign-up");
            let user_id = self
                .change(&principal, crate::change::Need::Anyone, move |mut tx| {
                    Box::pin(async move {
                        let now = tx.now;
                        let step = Step::Create(account);
                        let created = write_step(
                            tx.conn,
                            now,
                            directory_id,
                            organization_id,
                            &group_ids,
                            step,
                        )
                        .await?
                        .ok_or_else(|| AppError::broken("sign-up created no account"))?;
                        let user = accounts_store::get_user(tx.conn, created)
                            .await?
                            .ok_or(AppError::NotFound("user"))?;
                        let view = serde_json::json!({
                            "id": user.id, "email": user.email, "name": user.name,
                            "role": user.role, "organization_id": user.organization_id,
                            "active": true, "directory_id": directory_id,
                        });
                        tx.record(Event::created(Entity::User, created, &view))
                            .await?;
                        Ok(created)
                    })
                })
                .await?;
            return Ok(Some(SignIn::Session(
                self.open_session(user_id, "ldap", client).await?,
            )));
        }
        Ok(None)
    }
}
