//! Vulnerabilities and patch compliance: advisories imported from an offline OSV feed,
//! matched against every machine's installed packages (again whenever its packages change),
//! incidents opened for new serious findings, and the compliance report per organization
//! and per host.

use std::collections::BTreeMap;

use jiff::Timestamp;
use opsdesk_domain::cmdb::vulnerability::{self as rules, Advisory, AffectedPackage, Severity};
use opsdesk_store::Conn;
use opsdesk_store::cmdb as cmdb_store;
use opsdesk_store::vulnerabilities::{self as store, AdvisoryPackage, AdvisoryRow, NewFinding};
use serde::Serialize;

use super::CiRef;
use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::tickets::{NewTicket, insert_ticket, validate_ticket};
use crate::{App, AppError, Principal, timestamp};

/// Hosts whose findings one transaction recomputes after an import.
const HOSTS_AT_ONCE: i64 = 50;
/// The most advisories one listing returns.
const MOST_ADVISORIES: i64 = 500;

/// What an import did with the records it was given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AdvisoryImport {
    /// Stored for the first time.
    pub new: usize,
    /// Stored before with another `modified`, and replaced.
    pub updated: usize,
    /// Stored before with this `modified`.
    pub unchanged: usize,
    /// Of ecosystems no machine here installs from, about packages none has.
    pub skipped: usize,
}

/// What a recomputation of every machine's findings found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FindingsRefresh {
    pub hosts: usize,
    /// Hosts with at least one finding.
    pub vulnerable_hosts: usize,
    pub findings: usize,
    /// Findings that were not there before.
    pub new: usize,
}

/// An advisory with how many machines it affects.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AdvisorySummary {
    /// `DSA-5678-1`, `CVE-2024-1234`…
    pub id: String,
    /// Its other names: CVE ids.
    pub aliases: Vec<String>,
    pub summary: String,
    /// `critical`, `high`, `medium`, `low` or `unknown`.
    pub severity: String,
    /// When the feed last changed it, as the feed wrote it.
    pub modified: String,
    /// Machines you can see with an affected version installed.
    pub affected_hosts: i64,
}

/// An affected package installed on a machine.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Finding {
    pub advisory: String,
    pub aliases: Vec<String>,
    pub summary: String,
    /// `critical`, `high`, `medium`, `low` or `unknown`.
    pub severity: String,
    pub package: String,
    /// The version installed.
    pub version: String,
    /// The version that fixes it; none when no fix is out.
    pub fixed: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub found_at: Timestamp,
    /// The incident opened for it, when one was (`INC-42`).
    pub incident: Option<String>,
}

/// Pending security updates by how long they have waited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UpdateAges {
    /// Pending for less than 7 days.
    pub under_7_days: i64,
    /// Pending for 7 to 30 days.
    pub days_7_to_30: i64,
    /// Pending for more than 30 days.
    pub over_30_days: i64,
}

/// Open findings by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FindingCounts {
    pub critical: i64,
    pub high: i64,
    pub medium: i64,
    pub low: i64,
    pub unknown: i64,
}

impl FindingCounts {
    fn add(&mut self, severity: Severity, n: i64) {
        let slot = match severity {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
            Severity::Unknown => &mut self.unknown,
        };
        *slot += n;
    }

    pub fn total(&self) -> i64 {
        self.critical + self.high + self.medium + self.low + self.unknown
    }
}

/// One machine's patch state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HostCompliance {
    pub ci: CiRef,
    pub organization: Option<String>,
    pub security_updates: UpdateAges,
    pub findings: FindingCounts,
}

/// One organization's patch state: its machines' sums.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrganizationCompliance {
    /// None for machines of no organization.
    pub organization: Option<String>,
    pub hosts: i64,
    pub security_updates: UpdateAges,
    pub findings: FindingCounts,
}

/// The patch compliance report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Compliance {
    pub organizations: Vec<OrganizationCompliance>,
    /// Machines with pending security updates or open findings, the worst first.
    pub hosts: Vec<HostCompliance>,
}

fn aliases(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// Matches every installed package of item `ci` against the advisories and keeps its
/// findings up to date; returns how many are new.
pub(crate) async fn refresh_host(conn: &mut Conn, ci: i64, now: i64) -> Result<usize, AppError> {
    let installed = opsdesk_store::inventory::packages(conn, ci).await?;
    let installed: Vec<(&str, &str)> = installed
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str()))
        .collect();
    check_packages(conn, ci, &installed, None, now).await
}

/// [`refresh_host`] for the packages named `names` only (those a report changed), whose
/// installed versions are now `installed`: an agent's report reads no package rows back.
pub(crate) async fn recheck_packages(
    conn: &mut Conn,
    ci: i64,
    installed: &[(&str, &str)],
    names: &[String],
    now: i64,
) -> Result<usize, AppError> {
    check_packages(conn, ci, installed, Some(names), now).await
}

/// Findings of the `installed` (name, version) packages; those of packages outside
/// `within` (all when `None`) are left as they are.
async fn check_packages(
    conn: &mut Conn,
    ci: i64,
    installed: &[(&str, &str)],
    within: Option<&[String]>,
    now: i64,
) -> Result<usize, AppError> {
    let mut names: Vec<String> = installed
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    names.sort();
    names.dedup();
    let mut by_name: BTreeMap<String, Vec<store::AffectingRow>> = BTreeMap::new();
    for row in store::affecting(conn, &names).await? {
        by_name.entry(row.name.clone()).or_default().push(row);
    }
    let mut findings: Vec<NewFinding> = Vec::new();
    for (name, version) in installed {
        for row in by_name.get(*name).into_iter().flatten() {
            let Ok(affected) = serde_json::from_str::<AffectedPackage>(&row.affected) else {
                continue;
            };
            let Some(fixed) = affected.affects(version) else {
                continue;
            };
            // One finding per advisory and package, whichever ecosystem entry said so.
            if findings
                .iter()
                .any(|f| f.advisory_id == row.advisory_id && f.package == *name)
            {
                continue;
            }
            findings.push(NewFinding {
                advisory_id: row.advisory_id.clone(),
                package: (*name).to_owned(),
                version: (*version).to_owned(),
                fixed,
                severity_rank: row.severity_rank,
            });
        }
    }
    Ok(store::replace_findings(conn, ci, &findings, within, now).await?)
}

impl App {
    /// Stores advisories (admin), skipping those stored before with the same `modified`
    /// and those about packages no machine could have: advisories of Debian and Ubuntu
    /// are kept, others only when a machine has a package of that name installed.
    /// Findings are not recomputed: call [`App::refresh_vulnerabilities`] after the last
    /// batch.
    pub async fn import_advisories(
        &self,
        principal: &Principal,
        advisories: Vec<Advisory>,
    ) -> Result<AdvisoryImport, AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let mut counts = AdvisoryImport::default();
                for advisory in advisories {
                    let mut relevant = Vec::new();
                    for package in &advisory.affected {
                        if package.is_dpkg() || store::is_installed(tx.conn, &package.name).await? {
                            relevant.push(package);
                        }
                    }
                    if relevant.is_empty() {
                        counts.skipped += 1;
                        continue;
                    }
                    let held = store::advisory_modified(tx.conn, &advisory.id).await?;
                    match held {
                        Some(modified) if modified == advisory.modified => {
                            counts.unchanged += 1;
                            continue;
                        }
                        Some(_) => counts.updated += 1,
                        None => counts.new += 1,
                    }
                    let packages: Vec<AdvisoryPackage> = relevant
                        .iter()
                        .map(|p| AdvisoryPackage {
                            ecosystem: p.ecosystem.clone(),
                            name: p.name.clone(),
                            affected: serde_json::to_string(p).unwrap_or_else(|_| "{}".into()),
                        })
                        .collect();
                    let row = AdvisoryRow {
                        id: advisory.id.clone(),
                        modified: advisory.modified.clone(),
                        aliases: advisory.aliases.join(" "),
                        summary: advisory.summary.clone(),
                        details: advisory.details.clone(),
                        severity: advisory.severity.as_str().to_owned(),
                        severity_rank: advisory.severity.rank(),
                    };
                    store::put_advisory(tx.conn, &row, &packages, tx.now).await?;
                }
                if counts.new + counts.updated > 0 {
                    tx.record(Event::created(Entity::Advisory, 0, &counts))
                        .await?;
                }
                Ok(counts)
            })
        })
        .await
    }

    /// Recomputes every machine's findings (admin), a few machines per transaction so a
    /// server sharing the database keeps answering.
    pub async fn refresh_vulnerabilities(
        &self,
        principal: &Principal,
    ) -> Result<FindingsRefresh, AppError> {
        principal.require_admin()?;
        let mut total = FindingsRefresh::default();
        let mut after = 0;
        loop {
            let hosts = {
                let mut conn = self.db().reader().await?;
                store::hosts_with_packages(&mut conn, after, HOSTS_AT_ONCE).await?
            };
            let Some(last) = hosts.last().copied() else {
                break;
            };
            after = last;
            let batch = self
                .change(principal, Need::Admin, move |tx| {
                    Box::pin(async move {
                        let mut batch = FindingsRefresh::default();
                        for ci in hosts {
                            batch.new += refresh_host(tx.conn, ci, tx.now).await?;
                            let found = store::findings_of(tx.conn, ci).await?.len();
                            batch.hosts += 1;
                            batch.findings += found;
                            batch.vulnerable_hosts += usize::from(found > 0);
                        }
                        Ok(batch)
                    })
                })
                .await?;
            total.hosts += batch.hosts;
            total.vulnerable_hosts += batch.vulnerable_hosts;
            total.findings += batch.findings;
            total.new += batch.new;
        }
        Ok(total)
    }

    /// Refuses a requester for vulnerability incidents that is no user, before an import
    /// writes anything.
    pub async fn check_incident_requester(&self, requester: &str) -> Result<(), AppError> {
        let mut conn = self.db().reader().await?;
        match opsdesk_store::accounts::find_user_by_email(&mut conn, requester.trim()).await? {
            Some(_) => Ok(()),
            None => Err(AppError::invalid(
                "requester",
                "no user has this e-mail address",
            )),
        }
    }

    /// Opens one incident per machine for its findings of at least `at_least` that no
    /// incident was opened for yet (admin), requested by `requester` and linked to the
    /// machine's item. Returns the incidents' numbers. Running it again opens none for
    /// the same findings.
    pub async fn open_vulnerability_incidents(
        &self,
        principal: &Principal,
        at_least: Severity,
        requester: &str,
    ) -> Result<Vec<String>, AppError> {
        principal.require_admin()?;
        let requester = requester.trim().to_owned();
        self.check_incident_requester(&requester).await?;
        let pending = {
            let mut conn = self.db().reader().await?;
            store::findings_without_incident(&mut conn, at_least.rank()).await?
        };
        let mut by_host: BTreeMap<i64, Vec<store::FindingRow>> = BTreeMap::new();
        for finding in pending {
            by_host.entry(finding.ci_id).or_default().push(finding);
        }
        let mut opened = Vec::new();
        for (ci, findings) in by_host {
            let requester = requester.clone();
            let made = self
                .change(principal, Need::Admin, move |mut tx| {
                    Box::pin(async move {
                        let Some(item) = cmdb_store::ci(tx.conn, ci).await? else {
                            return Ok(None);
                        };
                        let mut advisories: Vec<&store::FindingRow> = Vec::new();
                        for f in &findings {
                            if !advisories.iter().any(|a| a.advisory_id == f.advisory_id) {
                                advisories.push(f);
                            }
                        }
                        let names: Vec<String> = advisories
                            .iter()
                            .map(|a| name_with_alias(&a.advisory_id, &a.aliases))
                            .collect();
                        let title = format!(
                            "{} on {}: {}",
                            if names.len() == 1 {
                                "Vulnerability"
                            } else {
                                "Vulnerabilities"
                            },
                            item.name,
                            names.join(", ")
                        );
                        let mut description = format!(
                            "The installed packages of {} are affected by these advisories:\n",
                            item.name
                        );
                        for f in &findings {
                            description.push_str(&format!(
                                "\n- {} ({}): {} {} — {}{}",
                                name_with_alias(&f.advisory_id, &f.aliases),
                                f.severity,
                                f.package,
                                f.version,
                                match &f.fixed {
                                    Some(fixed) => format!("fixed in {fixed}"),
                                    None => "no fix yet".to_owned(),
                                },
                                if f.summary.is_empty() {
                                    String::new()
                                } else {
                                    format!(". {}", f.summary)
                                }
                            ));
                        }
                        let valid = validate_ticket(
                            tx.principal,
                            NewTicket {
                                ticket_type: "incident".into(),
                                title: title.chars().take(200).collect(),
                                description,
                                impact: "medium".into(),
                                urgency: "high".into(),
                                requester: Some(requester),
                                group: None,
                                assignee: None,
                                category: None,
                                tags: vec!["vulnerability".into()],
                                watchers: Vec::new(),
                                custom: Default::default(),
                                source: Some("monitor".into()),
                                parent: None,
                            },
                        )?;
                        let ticket = insert_ticket(&mut tx, valid).await?;
                        cmdb_store::link_ticket(tx.conn, ticket, ci).await?;
                        for a in &advisories {
                            store::insert_incident(tx.conn, ci, &a.advisory_id, ticket, tx.now)
                                .await?;
                        }
                        let row = opsdesk_store::tickets::get(tx.conn, ticket)
                            .await?
                            .ok_or(AppError::NotFound("ticket"))?;
                        Ok(Some((
                            ticket,
                            crate::tickets::number_of(&row.ticket_type, row.number),
                        )))
                    })
                })
                .await?;
            if let Some((id, number)) = made {
                self.publish(id, &number, crate::TicketEventKind::Created, principal);
                opened.push(number);
            }
        }
        Ok(opened)
    }

    /// Advisories of at least `severity` whose id, aliases or summary contain `q`, the
    /// ones affecting most machines first (staff; the counts cover the machines they may
    /// see). With `affecting`, only advisories affecting at least one.
    pub async fn vulnerabilities(
        &self,
        principal: &Principal,
        severity: Option<&str>,
        q: &str,
        affecting: bool,
        limit: i64,
    ) -> Result<Vec<AdvisorySummary>, AppError> {
        principal.require_staff()?;
        let at_least = match severity.map(str::trim).filter(|s| !s.is_empty()) {
            None => Severity::Unknown,
            Some(text) => text
                .parse::<Severity>()
                .map_err(|e| AppError::invalid("severity", e))?,
        };
        if q.chars().count() > 200 {
            return Err(AppError::invalid("q", "at most 200 characters"));
        }
        let visible = principal.organization_filter();
        let mut conn = self.db().reader().await?;
        let rows = store::advisories(
            &mut conn,
            at_least.rank(),
            q.trim(),
            affecting,
            visible.as_deref(),
            principal.role.is_staff(),
            limit.clamp(1, MOST_ADVISORIES),
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| AdvisorySummary {
                aliases: aliases(&r.aliases),
                id: r.id,
                summary: r.summary,
                severity: r.severity,
                modified: r.modified,
                affected_hosts: r.hosts,
            })
            .collect())
    }

    /// The findings of item `id`, the worst first (staff).
    pub async fn ci_vulnerabilities(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<Vec<Finding>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        super::visible(&mut conn, principal, id).await?;
        let rows = store::findings_of(&mut conn, id).await?;
        let mut list = Vec::with_capacity(rows.len());
        for r in rows {
            let incident = match r.ticket_id {
                Some(ticket) => opsdesk_store::tickets::get(&mut conn, ticket)
                    .await?
                    .map(|t| crate::tickets::number_of(&t.ticket_type, t.number)),
                None => None,
            };
            list.push(Finding {
                advisory: r.advisory_id,
                aliases: aliases(&r.aliases),
                summary: r.summary,
                severity: r.severity,
                package: r.package,
                version: r.version,
                fixed: r.fixed,
                found_at: timestamp(r.found_at),
                incident,
            });
        }
        Ok(list)
    }

    /// Pending security updates by age and open findings by severity, per organization
    /// and per machine (staff; of the organizations they may see).
    pub async fn compliance(&self, principal: &Principal) -> Result<Compliance, AppError> {
        principal.require_staff()?;
        let now = self.now_ms();
        let mut conn = self.db().reader().await?;
        let mut hosts: BTreeMap<i64, (UpdateAges, FindingCounts)> = BTreeMap::new();
        for (ci, under_week, under_month, over_month) in
            store::security_update_ages(&mut conn, now - rules::WEEK_MS, now - rules::MONTH_MS)
                .await?
        {
            // The buckets' edges are the domain's (`rules::waiting`): the query counts by them.
            let ages = &mut hosts.entry(ci).or_default().0;
            ages.under_7_days += under_week;
            ages.days_7_to_30 += under_month;
            ages.over_30_days += over_month;
        }
        for (ci, rank, n) in store::finding_counts(&mut conn).await? {
            hosts
                .entry(ci)
                .or_default()
                .1
                .add(Severity::from_rank(rank), n);
        }
        let ids: Vec<i64> = hosts.keys().copied().collect();
        let rows = cmdb_store::cis_by_ids(&mut conn, &ids).await?;
        let mut list = Vec::new();
        let mut organizations: BTreeMap<Option<String>, OrganizationCompliance> = BTreeMap::new();
        for row in rows {
            if !principal.can_see_organization(row.organization_id) {
                continue;
            }
            let Some((ages, counts)) = hosts.get(&row.id).copied() else {
                continue;
            };
            let org = organizations
                .entry(row.organization.clone())
                .or_insert_with(|| OrganizationCompliance {
                    organization: row.organization.clone(),
                    hosts: 0,
                    security_updates: UpdateAges::default(),
                    findings: FindingCounts::default(),
                });
            org.hosts += 1;
            org.security_updates.under_7_days += ages.under_7_days;
            org.security_updates.days_7_to_30 += ages.days_7_to_30;
            org.security_updates.over_30_days += ages.over_30_days;
            org.findings.critical += counts.critical;
            org.findings.high += counts.high;
            org.findings.medium += counts.medium;
            org.findings.low += counts.low;
            org.findings.unknown += counts.unknown;
            list.push(HostCompliance {
                ci: CiRef {
                    id: row.id,
                    name: row.name,
                    class: row.class,
                },
                organization: row.organization,
                security_updates: ages,
                findings: counts,
            });
        }
        list.sort_by_key(|h| {
            std::cmp::Reverse((
                h.findings.critical,
                h.findings.high,
                h.security_updates.over_30_days,
                h.findings.total(),
            ))
        });
        Ok(Compliance {
            organizations: organizations.into_values().collect(),
            hosts: list,
        })
    }
}

/// `DSA-5678-1 (CVE-2024-0727)`: an advisory with its first alias.
fn name_with_alias(id: &str, aliases: &str) -> String {
    match aliases.split_whitespace().next() {
        Some(alias) => format!("{id} ({alias})"),
        None => id.to_owned(),
    }
}
