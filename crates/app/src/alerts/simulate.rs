//! The rule simulator: before an admin saves a change to an integration's grouping,
//! pipeline, escalation or silences, the notifications it received in the last days are
//! replayed through the draft and through the settings as they are, beside what actually
//! happened: how many incidents, how many pages, and to whom.

use std::collections::BTreeMap;

use opsdesk_domain::alert::replay::{self, Recorded, Settings, TimedSilence};
use opsdesk_domain::alert::{AlertStatus, Notice, Severity};
use opsdesk_domain::escalation::Policy;
use opsdesk_store::Conn;
use opsdesk_store::alerts::{self as store, IntegrationRow};
use serde::{Deserialize, Serialize};

use super::IntegrationPatch;
use crate::silences::SilenceMatcher;
use crate::{App, AppError, FieldError, Principal, timestamp};

/// The days a simulation looks back by default, and at most: what is kept.
pub const KEPT_DAYS: i64 = 30;
/// Most notifications one simulation replays; beyond, the latest are left out.
const MOST_NOTIFICATIONS: i64 = 200_000;
const DAY_MS: i64 = 86_400_000;

/// Settings to try on an integration.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulationDraft {
    /// Changes to try, as `PATCH /api/v1/integrations/{id}` takes them: grouping,
    /// escalation policy, pipeline settings. Absent: the settings as they are.
    #[serde(default)]
    pub changes: Option<IntegrationPatch>,
    /// A silence to add to those there were.
    #[serde(default)]
    pub silence: Option<DraftSilence>,
    /// How many days back to replay, 1 to 30; 30 when absent.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 30)]
    pub days: Option<i64>,
}

/// A silence tried in a simulation.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftSilence {
    pub matchers: Vec<SilenceMatcher>,
    /// The start of the replay when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub starts_at: Option<jiff::Timestamp>,
    /// The end of the replay when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<jiff::Timestamp>,
}

/// What a simulation found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Simulation {
    #[schema(value_type = String, format = DateTime)]
    pub from: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: jiff::Timestamp,
    /// The notifications replayed.
    pub notifications: usize,
    /// Whether there were more than a simulation replays (the latest were left out).
    pub truncated: bool,
    /// What the integration's alerts did over those days.
    pub actual: Happened,
    /// The replay through the settings as they are now.
    pub current: Replayed,
    /// The replay through the draft.
    pub draft: Replayed,
}

/// Incidents and pages that happened.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Happened {
    pub incidents: usize,
    pub storm_incidents: usize,
    /// Who was paged first for them, and how often.
    pub paged: Vec<Paged>,
}

/// Incidents and pages a replay produced.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Replayed {
    /// Incidents opened, the storm incidents among them.
    pub incidents: usize,
    pub storm_incidents: usize,
    /// Firing notifications a silence muted.
    pub silenced: usize,
    /// Firing notifications that waited for their group's threshold.
    pub pending: usize,
    /// Incidents that would have paged someone.
    pub pages: usize,
    /// Who would have been paged first, and how often.
    pub paged: Vec<Paged>,
}

/// One person, and how many incidents paged them first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Paged {
    pub person: String,
    pub pages: usize,
}

impl App {
    /// Replays integration `id`'s recent notifications through `draft` and through its
    /// settings as they are, beside what happened (staff).
    pub async fn simulate_integration(
        &self,
        principal: &Principal,
        id: i64,
        draft: SimulationDraft,
    ) -> Result<Simulation, AppError> {
        principal.require_staff()?;
        let now = self.now_ms();
        let days = draft.days.unwrap_or(KEPT_DAYS);
        if !(1..=KEPT_DAYS).contains(&days) {
            return Err(AppError::invalid("days", "must be 1 to 30"));
        }
        let from = now - days * DAY_MS;
        let mut conn = self.db().reader().await?;
        let integration = store::integration(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound("integration"))?;
        let current = current_settings(&mut conn, &integration, from).await?;
        let (proposed, policy_id) =
            drafted(&mut conn, &integration, &current, draft, from, now).await?;
        let rows = store::notifications_since(&mut conn, id, from, MOST_NOTIFICATIONS + 1).await?;
        let truncated = rows.len() as i64 > MOST_NOTIFICATIONS;
        let recorded: Vec<Recorded> = rows
            .into_iter()
            .take(MOST_NOTIFICATIONS as usize)
            .map(|row| Recorded {
                at: row.received_at,
                notice: Notice {
                    status: row.status.parse().unwrap_or(AlertStatus::Firing),
                    severity: row.severity.parse().unwrap_or(Severity::Warning),
                    labels: serde_json::from_str(&row.labels).unwrap_or_default(),
                    fingerprint: row.fingerprint,
                    title: row.title,
                    description: String::new(),
                },
            })
            .collect();
        let current_policy = match integration.escalation_policy_id {
            Some(policy) => Some(crate::paging::policy_by_id(&mut conn, policy).await?),
            None => None,
        };
        let draft_policy = match policy_id {
            Some(policy) => Some(crate::paging::policy_by_id(&mut conn, policy).await?),
            None => None,
        };
        let current = summary(
            &mut conn,
            replay::replay(&current, &recorded, now),
            current_policy.as_ref(),
        )
        .await?;
        let draft = summary(
            &mut conn,
            replay::replay(&proposed, &recorded, now),
            draft_policy.as_ref(),
        )
        .await?;
        let opened = store::incidents_opened(&mut conn, id, from).await?;
        let actual = Happened {
            incidents: opened.len(),
            storm_incidents: opened.iter().filter(|(_, storm)| *storm).count(),
            paged: store::first_paged(&mut conn, id, from)
                .await?
                .into_iter()
                .map(|(person, pages)| Paged {
                    person,
                    pages: usize::try_from(pages).unwrap_or(0),
                })
                .collect(),
        };
        Ok(Simulation {
            from: timestamp(from),
            to: timestamp(now),
            notifications: recorded.len(),
            truncated,
            actual,
            current,
            draft,
        })
    }
}

/// The integration's settings as they are, with the silences there were since `from`.
async fn current_settings(
    conn: &mut Conn,
    integration: &IntegrationRow,
    from: i64,
) -> Result<Settings, AppError> {
    let silences = opsdesk_store::silences::silences_since(conn, integration.id, from)
        .await?
        .iter()
        .filter_map(|row| {
            let matchers = crate::silences::stored_matchers(row).ok()?;
            Some(TimedSilence {
                starts_at: row.starts_at,
                ends_at: row.ends_at,
                matchers,
            })
        })
        .collect();
    Ok(Settings {
        group_by: serde_json::from_str(&integration.group_by).unwrap_or_default(),
        pipeline: integration.pipeline(),
        silences,
    })
}

/// The draft's settings over `current`, checked as saving them would be, and the policy it
/// pages.
async fn drafted(
    conn: &mut Conn,
    integration: &IntegrationRow,
    current: &Settings,
    draft: SimulationDraft,
    from: i64,
    now: i64,
) -> Result<(Settings, Option<i64>), AppError> {
    let mut errors = Vec::new();
    let mut settings = current.clone();
    let mut policy = integration.escalation_policy_id;
    if let Some(changes) = draft.changes {
        match changes.apply_to(conn, integration).await {
            Ok(patched) => {
                settings.group_by = patched.group_by;
                settings.pipeline = patched.pipeline;
                policy = patched.escalation_policy_id;
            }
            Err(AppError::Invalid(faults)) => errors.extend(
                faults
                    .into_iter()
                    .map(|f| FieldError::new(format!("changes.{}", f.field), f.message)),
            ),
            Err(other) => return Err(other),
        }
    }
    if let Some(silence) = draft.silence {
        let mut faults = Vec::new();
        let matchers = crate::silences::read_matchers(&silence.matchers, &mut faults);
        errors.extend(
            faults
                .into_iter()
                .map(|f| FieldError::new(format!("silence.{}", f.field), f.message)),
        );
        let ms = |t: jiff::Timestamp| t.as_millisecond();
        let (starts_at, ends_at) = (
            silence.starts_at.map_or(from, ms),
            silence.ends_at.map_or(now, ms),
        );
        if ends_at <= starts_at {
            errors.push(FieldError::new(
                "silence.ends_at",
                "must be after it starts",
            ));
        }
        settings.silences.push(TimedSilence {
            starts_at,
            ends_at,
            matchers,
        });
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    Ok((settings, policy))
}

/// A replay's counts, with who its incidents would have paged first under `policy`.
async fn summary(
    conn: &mut Conn,
    replayed: replay::Replayed,
    policy: Option<&Policy>,
) -> Result<Replayed, AppError> {
    let mut paged: BTreeMap<String, usize> = BTreeMap::new();
    let mut pages = 0;
    if let Some(policy) = policy {
        for (ordinal, incident) in (0u64..).zip(&replayed.incidents) {
            let people =
                crate::paging::first_paged_at(conn, policy, incident.opened_at, ordinal).await?;
            if !people.is_empty() {
                pages += 1;
            }
            for person in people {
                *paged.entry(person).or_default() += 1;
            }
        }
    }
    let mut paged: Vec<Paged> = paged
        .into_iter()
        .map(|(person, pages)| Paged { person, pages })
        .collect();
    paged.sort_by(|a, b| b.pages.cmp(&a.pages).then(a.person.cmp(&b.person)));
    Ok(Replayed {
        incidents: replayed.incidents.len(),
        storm_incidents: replayed.incidents.iter().filter(|i| i.storm).count(),
        silenced: replayed.silenced,
        pending: replayed.pending,
        pages,
        paged,
    })
}
