//! Host agents: an admin makes a one-time enrolment token; `opsdesk agent enrol` trades it
//! for the agent's own credential and a configuration item for its machine; each report
//! then updates that item's inventory — only the sections whose hash changed — and pings
//! the heartbeat monitor that notices when reports stop.

use std::collections::BTreeMap;

use opsdesk_domain::cmdb::{self as rules, CiClass, Lifecycle, Source};
use opsdesk_domain::inventory::{
    self as wire, Enrolled, Enrolment, Hardware, Os, Package, PendingUpdate, Report, ReportReply,
    Section,
};
use opsdesk_domain::monitor::Ping;
use opsdesk_store::cmdb::{self as cmdb_store, CiValues};
use opsdesk_store::inventory::{self as store, PackageRow, UpdateRow};
use opsdesk_store::{Batch, Conn};
use serde::{Deserialize, Serialize};

use super::{mark_source, note_twins, organization_id, source_of};
use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::clock::{random_secret, secret_hash};
use crate::monitors::{IncidentSettings, NewMonitor};
use crate::{App, AppError, FieldError, Principal, timestamp};

/// How often agents report, in seconds.
pub(crate) const REPORT_EVERY_SECONDS: u32 = 300;
/// How long an enrolment token lasts unless told otherwise, in hours.
const TOKEN_HOURS: i64 = 24;

/// A request for an enrolment token.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEnrolment {
    /// The organization whose machines enrol with it, by name.
    #[serde(default)]
    pub organization: Option<String>,
    /// Hours it stays usable: 1 to 720, 24 when absent.
    #[serde(default)]
    pub hours: Option<i64>,
}

/// An enrolment token, shown once.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EnrolmentToken {
    pub token: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: jiff::Timestamp,
    /// The command to run on the machine.
    pub command: String,
}

impl App {
    /// Makes a one-time enrolment token (admin).
    pub async fn create_enrolment(
        &self,
        principal: &Principal,
        input: NewEnrolment,
    ) -> Result<EnrolmentToken, AppError> {
        let hours = input.hours.unwrap_or(TOKEN_HOURS);
        if !(1..=720).contains(&hours) {
            return Err(AppError::invalid("hours", "from 1 to 720"));
        }
        let token = random_secret()?;
        let hash = secret_hash(&token);
        let server = self.config().public_url.trim_end_matches('/').to_owned();
        let expires = self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let organization = organization_id(tx.conn, input.organization.as_deref()).await?;
                let expires_at = tx.now + hours * 3_600_000;
                // The machines' monitors name this person as their incidents' requester.
                let creator = if tx.principal.email.is_empty() {
                    tx.actor.to_owned()
                } else {
                    tx.principal.email.clone()
                };
                let id = store::insert_enrolment(tx.conn, &hash, organization, &creator, tx.now, expires_at)
                    .await?;
                tx.record(Event::created(
                    Entity::Agent,
                    id,
                    &serde_json::json!({"enrolment": id, "organization": organization, "expires_at": timestamp(expires_at)}),
                ))
                .await?;
                Ok(expires_at)
            })
        })
        .await?;
        Ok(EnrolmentToken {
            command: format!("opsdesk agent enrol --server {server} --token {token}"),
            token,
            expires_at: timestamp(expires),
        })
    }

    /// Trades an enrolment token for an agent credential (no login: the token is the
    /// credential). The machine's item is the one of its organization with its hostname
    /// and no agent, or a new server.
    pub async fn enrol_agent(&self, input: Enrolment) -> Result<Enrolled, AppError> {
        let hostname = input.hostname.trim().to_owned();
        if hostname.is_empty() || hostname.len() > 253 {
            return Err(AppError::invalid("hostname", "1 to 253 characters"));
        }
        let hash = secret_hash(input.token.trim());
        let credential = random_secret()?;
        let credential_hash = secret_hash(&credential);
        let name = hostname.clone();
        let (agent, ci, organization, creator) = self
            .system_change("agent", move |mut tx| {
                Box::pin(async move {
                    let (organization, creator) = store::use_enrolment(tx.conn, &hash, tx.now)
                        .await?
                        .ok_or_else(|| {
                            AppError::Unauthenticated(
                                "the enrolment token is unknown, used or expired; ask an admin for a new one"
                                    .to_owned(),
                            )
                        })?;
                    let ci = match machine_named(tx.conn, &name, organization).await? {
                        Some(id) => id,
                        None => {
                            let values = CiValues {
                                class: CiClass::Server.as_str().to_owned(),
                                name: name.clone(),
                                organization_id: organization,
                                lifecycle: Lifecycle::Deployed.as_str().to_owned(),
                                hostname: Some(name.clone()),
                                fields: "{}".to_owned(),
                                sources: mark_source("{}", "hostname", Source::Agent),
                                ..CiValues::default()
                            };
                            let id = cmdb_store::insert_ci(tx.conn, &values, tx.now).await?;
                            cmdb_store::insert_history(
                                tx.conn, id, tx.now, "agent", "lifecycle", None, Some("deployed"),
                            )
                            .await?;
                            id
                        }
                    };
                    let agent =
                        store::insert_agent(tx.conn, ci, &credential_hash, &name, None, tx.now).await?;
                    tx.record(Event::created(
                        Entity::Agent,
                        agent,
                        &serde_json::json!({"agent": agent, "ci": ci, "hostname": name}),
                    ))
                    .await?;
                    Ok((agent, ci, organization, creator))
                })
            })
            .await?;
        self.watch_agent(agent, ci, &hostname, organization, creator)
            .await?;
        Ok(Enrolled {
            agent,
            ci,
            credential,
            report_every_seconds: REPORT_EVERY_SECONDS,
        })
    }

    /// Gives a new agent the heartbeat monitor its reports ping, so a machine that stops
    /// reporting opens an incident like any other monitor.
    async fn watch_agent(
        &self,
        agent: i64,
        ci: i64,
        hostname: &str,
        organization: Option<i64>,
        requester: String,
    ) -> Result<(), AppError> {
        let system = Principal::system("agent");
        let every = i64::from(REPORT_EVERY_SECONDS);
        let monitor = self
            .create_monitor(
                &system,
                NewMonitor {
                    name: format!("Agent on {hostname}"),
                    kind: "heartbeat".to_owned(),
                    target: String::new(),
                    interval_s: Some(every),
                    schedule: None,
                    timezone: None,
                    timeout_s: None,
                    retries: None,
                    recover_after: None,
                    grace_s: Some(2 * every),
                    incident: Some(IncidentSettings {
                        impact: "medium".to_owned(),
                        urgency: "high".to_owned(),
                        group: None,
                        category: None,
                        requester: Some(requester),
                        resolve: true,
                    }),
                    organization_id: organization,
                    depends_on: None,
                    paused: false,
                    tags: vec!["agent".to_owned()],
                    settings: Default::default(),
                },
            )
            .await?;
        self.system_change("agent", move |tx| {
            Box::pin(async move {
                cmdb_store::set_monitor_ci(tx.conn, monitor.id, Some(ci)).await?;
                store::set_agent_monitor(tx.conn, agent, monitor.id).await?;
                Ok(())
            })
        })
        .await
    }

    /// Takes an agent's report (the credential is its login). Sections whose hash the
    /// server holds are skipped; those it does not hold and the report did not carry are
    /// asked for again. Too many reports at once get `RateLimited`, which the agent honours.
    pub async fn agent_report(
        &self,
        credential: &str,
        report: Report,
    ) -> Result<ReportReply, AppError> {
        check_report(&report)?;
        let Ok(_permit) = self.inner.agent_reports.try_acquire() else {
            return Err(AppError::RateLimited {
                retry_after_secs: 30,
            });
        };
        let hash = secret_hash(credential.trim());
        let agent = {
            let mut conn = self.db().reader().await?;
            store::reporting_agent(&mut conn, &hash)
                .await?
                .ok_or_else(|| {
                    AppError::Unauthenticated(
                        "this agent's credential is unknown or revoked; enrol it again".to_owned(),
                    )
                })?
        };
        let ci = agent.ci_id;
        // Serialised and hashed before the write, which holds the one writer.
        let carried: Vec<(Section, String, String)> = report
            .carried_json()
            .into_iter()
            .map(|(section, json)| (section, wire::json_hash(&json), json))
            .collect();
        let carried_sections: Vec<Section> = carried.iter().map(|(s, ..)| *s).collect();
        let resend = self
            .system_change("agent", move |tx| {
                Box::pin(async move {
                    // The sections a change is told against come with the hashes.
                    let diffed: Vec<&str> = carried_sections
                        .iter()
                        .filter(|s| matches!(s, Section::Packages | Section::Os))
                        .map(|s| s.as_str())
                        .collect();
                    let held: BTreeMap<String, (String, Option<String>)> =
                        store::sections(tx.conn, ci, &diffed)
                            .await?
                            .into_iter()
                            .map(|row| (row.section, (row.hash, row.data)))
                            .collect();
                    let now = tx.now;
                    // What the report changes goes in one round trip at the end; reads
                    // before it see the sections as they were.
                    let mut batch = tx.batch();
                    for (section, hash, json) in carried {
                        let before = held.get(section.as_str());
                        if before.is_some_and(|(held, _)| *held == hash) {
                            continue;
                        }
                        let before = before.map(|(_, data)| data.as_deref().unwrap_or("null"));
                        take_section(tx.conn, &mut batch, ci, section, &report, before, now)
                            .await?;
                        store::put_section(&mut batch, ci, section.as_str(), &hash, json, now);
                    }
                    store::touch_agent(&mut batch, agent.id, &report.hostname, now);
                    batch.run(tx.conn).await?;
                    Ok(report
                        .hashes
                        .iter()
                        .filter(|(section, hash)| {
                            !carried_sections.contains(section)
                                && held.get(section.as_str()).map(|(held, _)| held) != Some(*hash)
                        })
                        .map(|(section, _)| *section)
                        .collect::<Vec<_>>())
                })
            })
            .await?;
        if let Some(token) = agent.ping_token {
            self.heartbeat_ping(&token, Ping::Success, None).await?;
        }
        Ok(ReportReply {
            resend,
            report_every_seconds: REPORT_EVERY_SECONDS,
        })
    }

    /// Revokes an agent's credential (admin): its next report is refused.
    pub async fn revoke_agent(&self, principal: &Principal, agent: i64) -> Result<(), AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let row = store::agent(tx.conn, agent)
                    .await?
                    .ok_or(AppError::NotFound("agent"))?;
                super::visible(tx.conn, tx.principal, row.ci_id).await?;
                if store::revoke_agent(tx.conn, agent, tx.now).await? {
                    tx.record(Event {
                        entity: Entity::Agent,
                        entity_id: agent,
                        action: crate::audit::Action::Revoked,
                        before: None,
                        after: Some(serde_json::json!({"agent": agent, "ci": row.ci_id})),
                    })
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }
}

/// The item of `organization` with hostname `name`, of a hardware class, with no agent:
/// a machine recorded by hand before its agent came.
async fn machine_named(
    conn: &mut Conn,
    name: &str,
    organization: Option<i64>,
) -> Result<Option<i64>, AppError> {
    let classes: Vec<&str> = CiClass::ALL
        .iter()
        .filter(|c| c.is_hardware())
        .map(|c| c.as_str())
        .collect();
    let mut found = None;
    for id in cmdb_store::ids_identified_by(conn, "hostname", name, &classes).await? {
        let Some(row) = cmdb_store::ci(conn, id).await? else {
            continue;
        };
        let has_agent = store::agents_of(conn, id)
            .await?
            .iter()
            .any(|a| a.revoked_at.is_none());
        if row.organization_id == organization && !has_agent {
            if found.is_some() {
                // Two candidates: guessing would merge machines; make a new item instead.
                return Ok(None);
            }
            found = Some(id);
        }
    }
    Ok(found)
}

fn check_report(report: &Report) -> Result<(), AppError> {
    let mut errors = Vec::new();
    if report.hostname.trim().is_empty() || report.hostname.len() > 253 {
        errors.push(FieldError::new("hostname", "1 to 253 characters"));
    }
    let mut count = |field: &str, n: Option<usize>| {
        if n.is_some_and(|n| n > wire::MOST_ITEMS) {
            errors.push(FieldError::new(
                field,
                format!("at most {} entries", wire::MOST_ITEMS),
            ));
        }
    };
    count("packages", report.packages.as_ref().map(Vec::len));
    count("updates", report.updates.as_ref().map(Vec::len));
    count("services", report.services.as_ref().map(Vec::len));
    count("users", report.users.as_ref().map(Vec::len));
    if let Some(packages) = &report.packages
        && packages
            .iter()
            .any(|p| p.name.is_empty() || p.name.len() > 200 || p.version.len() > 200)
    {
        errors.push(FieldError::new(
            "packages",
            "each needs a name and version of at most 200 characters",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Invalid(errors))
    }
}

/// Applies one changed section to the item: packages and updates to their tables,
/// identifiers from the hardware to the item, and a line of history for what changed.
/// `before` is the JSON of the section an earlier report had (the first is no "change");
/// it is read only for packages and the operating system.
async fn take_section(
    conn: &mut Conn,
    batch: &mut Batch,
    ci: i64,
    section: Section,
    report: &Report,
    before: Option<&str>,
    now: i64,
) -> Result<(), AppError> {
    match section {
        Section::Packages => {
            if let Some(packages) = &report.packages {
                take_packages(conn, batch, ci, packages, before, now).await?;
            }
        }
        Section::Updates => {
            if let Some(updates) = &report.updates {
                take_updates(conn, ci, updates, now).await?;
            }
        }
        Section::Hardware => {
            if let Some(hardware) = &report.hardware {
                take_hardware(conn, ci, hardware, now).await?;
            }
        }
        Section::Os => {
            if let (Some(os), Some(before)) = (&report.os, before) {
                take_os(batch, ci, os, before, now);
            }
        }
        Section::Services | Section::Users if before.is_some() => {
            let what = if section == Section::Services {
                "listening services changed"
            } else {
                "local users changed"
            };
            store::insert_changes(batch, ci, now, section.as_str(), &[what.to_owned()]);
        }
        Section::Services | Section::Users => {}
    }
    Ok(())
}

async fn take_packages(
    conn: &mut Conn,
    batch: &mut Batch,
    ci: i64,
    packages: &[Package],
    before: Option<&str>,
    now: i64,
) -> Result<(), AppError> {
    // The last packages section is what the rows were written from: one value to read
    // instead of every package's row.
    let stored: Vec<Package> = before
        .and_then(|data| serde_json::from_str::<Option<Vec<Package>>>(data).ok())
        .flatten()
        .unwrap_or_default();
    let changes = wire::package_changes(&stored, packages);
    let mut written = Vec::new();
    let mut removed = Vec::new();
    for change in &changes {
        match change {
            wire::PackageChange::Installed(p) | wire::PackageChange::Changed { after: p, .. } => {
                written.push(package_row(p));
            }
            wire::PackageChange::Removed(p) => removed.push(store::PackageKey {
                name: &p.name,
                architecture: p.architecture.as_deref().unwrap_or(""),
            }),
        }
    }
    store::delete_packages(batch, ci, &removed);
    store::upsert_packages(batch, ci, &written);
    if !changes.is_empty() {
        let mut names: Vec<String> = changes.iter().map(|c| c.name().to_owned()).collect();
        names.sort();
        names.dedup();
        let installed: Vec<(&str, &str)> = packages
            .iter()
            .filter(|p| names.binary_search(&p.name).is_ok())
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        super::vulnerabilities::recheck_packages(conn, ci, &installed, &names, now).await?;
    }
    if before.is_some() {
        // A distribution upgrade changes thousands: one line says so instead.
        let lines: Vec<String> = if changes.len() > 50 {
            vec![format!("{} packages changed", changes.len())]
        } else {
            changes.iter().map(wire::PackageChange::describe).collect()
        };
        store::insert_changes(batch, ci, now, "packages", &lines);
    }
    Ok(())
}

fn package_row(p: &Package) -> PackageRow {
    PackageRow {
        name: p.name.clone(),
        architecture: p.architecture.clone().unwrap_or_default(),
        version: p.version.clone(),
        manager: p.manager.clone(),
    }
}

async fn take_updates(
    conn: &mut Conn,
    ci: i64,
    updates: &[PendingUpdate],
    now: i64,
) -> Result<(), AppError> {
    let rows: Vec<UpdateRow> = updates
        .iter()
        .map(|u| UpdateRow {
            name: u.name.clone(),
            current_version: u.current.clone(),
            candidate: u.candidate.clone(),
            security: i64::from(u.security),
            first_seen_at: now,
        })
        .collect();
    store::replace_updates(conn, ci, &rows).await?;
    Ok(())
}

/// Writes the identifiers a machine reports about itself onto its item where the agent
/// may (it outranks people on serials, not on names), and notes twins.
async fn take_hardware(
    conn: &mut Conn,
    ci: i64,
    hardware: &Hardware,
    now: i64,
) -> Result<(), AppError> {
    let row = cmdb_store::ci(conn, ci)
        .await?
        .ok_or(AppError::NotFound("ci"))?;
    let before = CiValues::from(&row);
    let mut after = before.clone();
    let set = |attribute: &str,
               slot: &mut Option<String>,
               value: Option<String>,
               sources: &mut String| {
        let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        if value.is_some()
            && *slot != value
            && rules::may_overwrite(attribute, Source::Agent, source_of(sources, attribute))
        {
            *slot = value;
            *sources = mark_source(sources, attribute, Source::Agent);
        }
    };
    let mut sources = after.sources.clone();
    set(
        "serial_number",
        &mut after.serial_number,
        hardware.serial_number.clone(),
        &mut sources,
    );
    set(
        "smbios_uuid",
        &mut after.smbios_uuid,
        hardware.smbios_uuid.as_ref().map(|u| u.to_lowercase()),
        &mut sources,
    );
    after.sources = sources;
    if after != before {
        cmdb_store::update_ci(conn, ci, row.version, &after, now).await?;
        super::record_history(conn, ci, &before, &after, "agent", now).await?;
    }
    let mut macs: Vec<String> = hardware
        .nics
        .iter()
        .filter_map(|nic| nic.mac.as_deref().and_then(rules::normal_mac))
        .collect();
    macs.sort();
    macs.dedup();
    let old = cmdb_store::macs(conn, ci).await?;
    if old != macs && rules::may_overwrite("macs", Source::Agent, source_of(&after.sources, "macs"))
    {
        cmdb_store::set_macs(conn, ci, &macs).await?;
    }
    let class = row.class.parse::<CiClass>().unwrap_or(CiClass::Server);
    note_twins(conn, ci, class, &after, &macs, now).await
}

fn take_os(batch: &mut Batch, ci: i64, os: &Os, before: &str, now: i64) {
    let Ok(Some(old)) = serde_json::from_str::<Option<Os>>(before) else {
        return;
    };
    let mut lines = Vec::new();
    if old.kernel != os.kernel {
        lines.push(format!("kernel {} → {}", old.kernel, os.kernel));
    }
    if old.name != os.name || old.version != os.version {
        lines.push(format!("{} → {}", old.name, os.name));
    }
    store::insert_changes(batch, ci, now, "os", &lines);
}

/// What a machine's agent last reported.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Inventory {
    /// The agents reporting for it, the latest enrolled first.
    pub agents: Vec<AgentStatus>,
    #[schema(value_type = Option<Object>)]
    pub hardware: Option<Hardware>,
    #[schema(value_type = Option<Object>)]
    pub os: Option<Os>,
    pub packages: Vec<InstalledPackage>,
    pub updates: Vec<Update>,
    #[schema(value_type = Vec<Object>)]
    pub services: Vec<wire::ListeningService>,
    #[schema(value_type = Vec<Object>)]
    pub users: Vec<wire::LocalUser>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentStatus {
    pub id: i64,
    pub hostname: String,
    #[schema(value_type = String, format = DateTime)]
    pub enrolled_at: jiff::Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_report_at: Option<jiff::Timestamp>,
    pub revoked: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InstalledPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub manager: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Update {
    pub name: String,
    pub current: String,
    pub candidate: String,
    pub security: bool,
    /// When a report first listed it.
    #[schema(value_type = String, format = DateTime)]
    pub pending_since: jiff::Timestamp,
}

/// The agents of item `id`, the latest enrolled first.
async fn agents_of(conn: &mut Conn, id: i64) -> Result<Vec<AgentStatus>, AppError> {
    Ok(store::agents_of(conn, id)
        .await?
        .into_iter()
        .map(|a| AgentStatus {
            id: a.id,
            hostname: a.hostname,
            enrolled_at: timestamp(a.enrolled_at),
            last_report_at: a.last_report_at.map(timestamp),
            revoked: a.revoked_at.is_some(),
        })
        .collect())
}

impl App {
    /// The agents of item `id`, without the rest of its inventory (staff): who can run a
    /// diagnostic or a runbook's scripts on it.
    pub async fn ci_agents(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<Vec<AgentStatus>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        super::visible(&mut conn, principal, id).await?;
        agents_of(&mut conn, id).await
    }

    /// What the agents of item `id` last reported (staff).
    pub async fn ci_inventory(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<Inventory, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        super::visible(&mut conn, principal, id).await?;
        let section =
            async |conn: &mut Conn, section: Section| -> Result<Option<String>, AppError> {
                Ok(store::section(conn, id, section.as_str())
                    .await?
                    .map(|(data, _)| data))
            };
        fn read<T: serde::de::DeserializeOwned>(data: Option<String>) -> Option<T> {
            data.and_then(|d| serde_json::from_str(&d).ok())
        }
        let hardware: Option<Option<Hardware>> = read(section(&mut conn, Section::Hardware).await?);
        let os: Option<Option<Os>> = read(section(&mut conn, Section::Os).await?);
        let services: Option<Option<Vec<wire::ListeningService>>> =
            read(section(&mut conn, Section::Services).await?);
        let users: Option<Option<Vec<wire::LocalUser>>> =
            read(section(&mut conn, Section::Users).await?);
        Ok(Inventory {
            agents: agents_of(&mut conn, id).await?,
            hardware: hardware.flatten(),
            os: os.flatten(),
            packages: store::packages(&mut conn, id)
                .await?
                .into_iter()
                .map(|p| InstalledPackage {
                    name: p.name,
                    version: p.version,
                    architecture: p.architecture,
                    manager: p.manager,
                })
                .collect(),
            updates: store::updates(&mut conn, id)
                .await?
                .into_iter()
                .map(|u| Update {
                    name: u.name,
                    current: u.current_version,
                    candidate: u.candidate,
                    security: u.security != 0,
                    pending_since: timestamp(u.first_seen_at),
                })
                .collect(),
            services: services.flatten().unwrap_or_default(),
            users: users.flatten().unwrap_or_default(),
        })
    }
}
