//! Keeping the desk's accounts in step with a directory: new people get accounts, changed
//! ones are updated, disabled or vanished ones are deactivated with their sessions and
//! tokens revoked, and directory groups fill the support groups they are mapped to.
//!
//! A dry run reads both sides and returns the plan without writing. A real run writes the
//! plan in batches through [`App::change`] and audits one summary. Scheduled syncs run on
//! one node: the node that moves a directory's `next_sync_at` forward runs it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use opsdesk_domain::account::Role;
use opsdesk_domain::directory::{
    AccountChange, Deactivation, DeskAccount, GroupChange, PlannedAccount, SyncPlan, SyncRules,
    plan_sync,
};
use opsdesk_store::accounts::{self as accounts_store, NewUser};
use opsdesk_store::directories::{self as store, DirectoryRow};
use opsdesk_store::identities;
use opsdesk_store::tickets as groups_store;
use serde::Serialize;
use tokio::sync::watch;

use super::client::{Connection, people_with_groups};
use super::{GroupMapping, RoleRule, reach_of, unreachable};
use crate::audit::{Action, Entity, Event};
use crate::change::Need;
use crate::{App, AppError, Principal};

/// Changes written per transaction: large enough to be quick, small enough that other
/// writers are not held up long on SQLite's single writer.
const BATCH: usize = 500;
/// How often each node looks for directories whose scheduled sync is due.
const SCHEDULE_POLL: Duration = Duration::from_secs(30);

/// Told how a sync is getting on, for a progress bar.
pub trait SyncProgress: Send + Sync {
    /// People read from the directory so far.
    fn read(&self, _people: usize) {}
    /// The plan is made: `changes` to write.
    fn planned(&self, _changes: usize) {}
    /// Changes written so far.
    fn written(&self, _changes: usize) {}
}

/// No progress shown.
impl SyncProgress for () {}

/// What a sync found and did (or, in a dry run, would do).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SyncReport {
    pub directory_id: i64,
    pub dry_run: bool,
    /// People read from the directory.
    pub people: usize,
    /// Groups read from the directory.
    pub groups: usize,
    /// Accounts created, updated and deactivated, and memberships changed.
    pub summary: SyncSummary,
    /// Every change: `create`, `update`, `disable`, `groups`, and `skipped` people.
    #[schema(value_type = Object)]
    pub changes: SyncPlan,
}

/// How many changes of each kind.
#[derive(Debug, Clone, Copy, Default, Serialize, utoipa::ToSchema)]
pub struct SyncSummary {
    pub created: usize,
    pub updated: usize,
    pub disabled: usize,
    pub group_changes: usize,
    pub skipped: usize,
}

impl SyncSummary {
    fn of(plan: &SyncPlan) -> Self {
        Self {
            created: plan.create.len(),
            updated: plan.update.len(),
            disabled: plan.disable.len(),
            group_changes: plan.groups.len(),
            skipped: plan.skipped.len(),
        }
    }
}

/// One change of a plan, as written.
pub(super) enum Step {
    Create(PlannedAccount),
    Update(AccountChange),
    Disable(Deactivation),
    Group(GroupChange),
}

pub(super) fn rules_of(row: &DirectoryRow) -> Result<SyncRules, AppError> {
    let roles: Vec<RoleRule> = serde_json::from_str(&row.role_rules).unwrap_or_default();
    let mappings: Vec<GroupMapping> = serde_json::from_str(&row.group_mappings).unwrap_or_default();
    Ok(SyncRules {
        organization_id: row.organization_id,
        default_role: row
            .default_role
            .parse()
            .map_err(|e| AppError::internal("directory default role", e))?,
        role_rules: roles
            .into_iter()
            .filter_map(|rule| Some((rule.group, rule.role.parse::<Role>().ok()?)))
            .collect(),
        group_mappings: mappings
            .into_iter()
            .map(|mapping| (mapping.group, mapping.support_group))
            .collect(),
    })
}

impl App {
    /// Syncs directory `id` now (admins): with `dry_run`, only says what would change.
    pub async fn sync_directory(
        &self,
        principal: &Principal,
        id: i64,
        dry_run: bool,
        progress: &dyn SyncProgress,
    ) -> Result<SyncReport, AppError> {
        principal.require_admin()?;
        self.run_sync(principal, id, dry_run, progress).await
    }

    async fn run_sync(
        &self,
        principal: &Principal,
        id: i64,
        dry_run: bool,
        progress: &dyn SyncProgress,
    ) -> Result<SyncReport, AppError> {
        let row = {
            let mut conn = self.db().reader().await?;
            store::get_directory(&mut conn, id)
                .await?
                .ok_or(AppError::NotFound("directory"))?
        };
        let outcome = self.sync_row(principal, &row, dry_run, progress).await;
        if let Err(error) = &outcome
            && !dry_run
        {
            let result = serde_json::json!({ "error": error.to_string() }).to_string();
            self.system_change("directory sync", move |tx| {
                Box::pin(async move { Ok(store::record_sync(tx.conn, id, &result, tx.now).await?) })
            })
            .await?;
        }
        outcome
    }

    async fn sync_row(
        &self,
        principal: &Principal,
        row: &DirectoryRow,
        dry_run: bool,
        progress: &dyn SyncProgress,
    ) -> Result<SyncReport, AppError> {
        let reach = reach_of(row)?;
        let rules = rules_of(row)?;
        let (entries, groups) = {
            let mut connection = Connection::service(&reach)
                .await
                .map_err(|e| unreachable(&e))?;
            let seen = |count: usize| progress.read(count);
            let entries = connection
                .people(&reach, &seen)
                .await
                .map_err(|e| unreachable(&e))?;
            let groups = connection
                .groups(&reach)
                .await
                .map_err(|e| unreachable(&e))?;
            connection.close().await;
            (entries, groups)
        };
        let people = people_with_groups(&reach, entries, &groups);
        let accounts = self.desk_accounts(row.id, &rules).await?;
        let plan = plan_sync(&people, &accounts, &rules);
        let report = SyncReport {
            directory_id: row.id,
            dry_run,
            people: people.len(),
            groups: groups.len(),
            summary: SyncSummary::of(&plan),
            changes: plan,
        };
        if !dry_run {
            self.write_plan(principal, row, &report, progress).await?;
        }
        Ok(report)
    }

    /// The desk's accounts as a sync of directory `directory_id` compares them, with their
    /// memberships of the support groups it maps.
    async fn desk_accounts(
        &self,
        directory_id: i64,
        rules: &SyncRules,
    ) -> Result<Vec<DeskAccount>, AppError> {
        let mut conn = self.db().reader().await?;
        let managed = rules.managed_groups();
        let mut memberships: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
        if !managed.is_empty() {
            for (group, user_id) in store::group_memberships(&mut conn).await? {
                if managed.contains(&group) {
                    memberships.entry(user_id).or_default().insert(group);
                }
            }
        }
        let rows = store::sync_accounts(&mut conn, directory_id).await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                Some(DeskAccount {
                    role: row.role.parse().ok()?,
                    support_groups: memberships.remove(&row.id).unwrap_or_default(),
                    user_id: row.id,
                    email: row.email,
                    name: row.name,
                    organization_id: row.organization_id,
                    active: row.active != 0,
                    subject: row.subject,
                })
            })
            .collect())
    }

    /// Writes `report`'s plan in batches, then its summary with the audit entry.
    async fn write_plan(
        &self,
        principal: &Principal,
        row: &DirectoryRow,
        report: &SyncReport,
        progress: &dyn SyncProgress,
    ) -> Result<(), AppError> {
        let plan = &report.changes;
        let created: BTreeSet<&str> = plan.create.iter().map(|c| c.email.as_str()).collect();
        let mut steps: Vec<Step> = Vec::new();
        steps.extend(plan.disable.iter().cloned().map(Step::Disable));
        steps.extend(plan.update.iter().cloned().map(Step::Update));
        steps.extend(plan.create.iter().cloned().map(Step::Create));
        // Memberships of new accounts come with their creation.
        steps.extend(
            plan.groups
                .iter()
                .filter(|g| g.user_id.is_some() || !created.contains(g.email.as_str()))
                .cloned()
                .map(Step::Group),
        );
        progress.planned(steps.len());
        let directory_id = row.id;
        let organization_id = row.organization_id;
        let group_ids = std::sync::Arc::new(self.support_group_ids().await?);
        let mut written = 0;
        let mut remaining = steps.into_iter().peekable();
        while remaining.peek().is_some() {
            let batch: Vec<Step> = remaining.by_ref().take(BATCH).collect();
            let count = batch.len();
            let group_ids = group_ids.clone();
            self.change(principal, Need::Admin, move |mut tx| {
                Box::pin(async move {
                    for step in batch {
                        let deactivated = match &step {
                            Step::Disable(d) => Some(d.user_id),
                            _ => None,
                        };
                        let now = tx.now;
                        write_step(
                            tx.conn,
                            now,
                            directory_id,
                            organization_id,
                            &group_ids,
                            step,
                        )
                        .await?;
                        // Access ends with the account: every session and token.
                        if let Some(user_id) = deactivated {
                            crate::sessions::revoke_access_in(&mut tx, user_id).await?;
                        }
                    }
                    Ok(())
                })
            })
            .await?;
            written += count;
            progress.written(written);
        }
        let summary = serde_json::json!({
            "people": report.people,
            "groups": report.groups,
            "created": report.summary.created,
            "updated": report.summary.updated,
            "disabled": report.summary.disabled,
            "group_changes": report.summary.group_changes,
            "skipped": report.summary.skipped,
        });
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                store::record_sync(tx.conn, directory_id, &summary.to_string(), tx.now).await?;
                tx.record(Event {
                    entity: Entity::Directory,
                    entity_id: directory_id,
                    action: Action::Synced,
                    before: None,
                    after: Some(summary),
                })
                .await
            })
        })
        .await
    }

    /// Every support group's id by lower-cased name.
    pub(super) async fn support_group_ids(&self) -> Result<BTreeMap<String, i64>, AppError> {
        let mut conn = self.db().reader().await?;
        Ok(groups_store::groups(&mut conn)
            .await?
            .into_iter()
            .map(|g| (g.name.to_lowercase(), g.id))
            .collect())
    }

    /// Runs the scheduled syncs until `stopped` turns true. Every node runs this; a due
    /// directory is synced by the one node whose claim moves its next time forward.
    pub async fn run_directory_syncs(&self, mut stopped: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(SCHEDULE_POLL) => {}
                _ = stopped.changed() => return,
            }
            if *stopped.borrow() {
                return;
            }
            if let Err(error) = self.run_due_syncs().await {
                tracing::warn!(%error, "scheduled directory syncs failed");
            }
        }
    }

    /// Claims and runs every directory sync due now; returns how many this node ran.
    pub async fn run_due_syncs(&self) -> Result<usize, AppError> {
        let now = self.now_ms();
        let due = {
            let mut conn = self.db().reader().await?;
            store::due_directories(&mut conn, now).await?
        };
        let mut ran = 0;
        for (id, minutes) in due {
            let next = now + minutes * 60_000;
            let claimed = self
                .db()
                .write(move |conn| {
                    Box::pin(async move {
                        Ok::<_, AppError>(store::claim_sync(conn, id, now, next).await?)
                    })
                })
                .await?;
            if !claimed {
                continue;
            }
            ran += 1;
            let system = Principal::system("directory sync");
            match self.run_sync(&system, id, false, &()).await {
                Ok(report) => tracing::info!(
                    directory = id,
                    created = report.summary.created,
                    updated = report.summary.updated,
                    disabled = report.summary.disabled,
                    "directory synced"
                ),
                Err(error) => tracing::warn!(directory = id, %error, "directory sync failed"),
            }
        }
        Ok(ran)
    }
}

/// Writes one change of a plan; the new account's id when it made one.
pub(super) async fn write_step(
    conn: &mut opsdesk_store::Conn,
    now: i64,
    directory_id: i64,
    organization_id: Option<i64>,
    group_ids: &BTreeMap<String, i64>,
    step: Step,
) -> Result<Option<i64>, AppError> {
    match step {
        Step::Create(account) => {
            let user = accounts_store::insert_user(
                conn,
                &NewUser {
                    email: &account.email,
                    name: if account.name.is_empty() {
                        &account.email
                    } else {
                        &account.name
                    },
                    role: account.role.as_str(),
                    organization_id,
                    password_hash: None,
                },
                now,
            )
            .await?;
            identities::link_identity(conn, user.id, "ldap", directory_id, &account.subject, now)
                .await?;
            for group in &account.support_groups {
                if let Some(group_id) = group_ids.get(group) {
                    groups_store::add_group_member(conn, *group_id, user.id).await?;
                }
            }
            return Ok(Some(user.id));
        }
        Step::Update(change) => {
            let user = accounts_store::get_user(conn, change.user_id)
                .await?
                .ok_or(AppError::NotFound("user"))?;
            if let Some(subject) = &change.link {
                identities::link_identity(conn, user.id, "ldap", directory_id, subject, now)
                    .await?;
            }
            let role = change
                .new_role
                .map_or(user.role.clone(), |r| r.as_str().to_owned());
            store::sync_user(
                conn,
                user.id,
                change.new_email.as_deref().unwrap_or(&user.email),
                change.new_name.as_deref().unwrap_or(&user.name),
                &role,
                user.active != 0 || change.reactivate,
                now,
            )
            .await?;
        }
        Step::Disable(deactivation) => {
            let user = accounts_store::get_user(conn, deactivation.user_id)
                .await?
                .ok_or(AppError::NotFound("user"))?;
            store::sync_user(
                conn,
                user.id,
                &user.email,
                &user.name,
                &user.role,
                false,
                now,
            )
            .await?;
        }
        Step::Group(change) => {
            let user_id = match change.user_id {
                Some(id) => Some(id),
                None => accounts_store::find_user_by_email(conn, &change.email)
                    .await?
                    .map(|u| u.id),
            };
            if let (Some(user_id), Some(group_id)) = (user_id, group_ids.get(&change.support_group))
            {
                if change.add {
                    groups_store::add_group_member(conn, *group_id, user_id).await?;
                } else {
                    groups_store::remove_group_member(conn, *group_id, user_id).await?;
                }
            }
        }
    }
    Ok(None)
}
