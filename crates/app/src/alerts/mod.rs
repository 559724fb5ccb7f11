//! Alerts from other monitoring tools. An admin creates an integration (Alertmanager's
//! webhook, a generic JSON alert, or mail to an address) and gets a secret URL; alerts
//! posted to it, or mailed, become incidents of the integration's requester's
//! organization, one per problem: alerts of one group (by the integration's grouping
//! labels, else each alert alone) share the open incident, later alerts are noted on it,
//! and it is resolved when its last alert is.
//! Each integration's pipeline settings refine that (see [`pipeline`]).

mod pipeline;
pub mod simulate;

use opsdesk_domain::alert::{self, AlertStatus, IntegrationKind, Notice, Pipeline, Severity};
use opsdesk_store::alerts::{self as store, IntegrationRow, NewIntegration as Row};
use serde::{Deserialize, Serialize};

use crate::audit::{Entity, Event};
use crate::change::{Need, Tx};
use crate::clock::{random_secret, secret_hash};
use crate::tickets::number_of;
use crate::{App, AppError, FieldError, Precondition, Principal, timestamp};
use pipeline::{Intake, Outcome};

/// Most alerts one request may carry.
const MOST_ALERTS: usize = 1_000;
/// Longest text an alert search takes, in characters.
const MOST_SEARCH_CHARS: usize = 200;

/// Which alerts a list shows.
#[derive(Debug, Clone)]
pub struct AlertFilter {
    /// Only those still firing.
    pub firing_only: bool,
    /// Only those a silence muted (`true`) or did not (`false`).
    pub silenced: Option<bool>,
    /// Only those with this text, in any case, in their title, fingerprint, label values
    /// or integration's name; at most 200 characters.
    pub text: Option<String>,
    /// At most this many, 1 to 500.
    pub limit: i64,
}

/// An integration: where one monitoring tool sends its alerts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Integration {
    pub id: i64,
    pub name: String,
    /// `alertmanager`, `generic` or `email`.
    pub kind: String,
    /// An e-mail integration's address: mail delivered to it becomes its alerts.
    pub address: Option<String>,
    /// Its incidents are requested by this user, in their organization.
    pub requester: String,
    /// Labels whose values make alerts one problem; none: each alert is its own.
    pub group_by: Vec<String>,
    /// The escalation policy its incidents page; none: they page nobody.
    pub escalation_policy: Option<String>,
    /// A resolved alert resolves its incident only once it stayed resolved this many
    /// minutes; firing again before keeps the incident open. 0: at once.
    pub hold_back_minutes: i64,
    /// A firing alert not received again for this many minutes counts as resolved, for
    /// sources that never say so. 0: never.
    pub resolve_after_minutes: i64,
    /// A group opens its incident only once it fired `count` times within `minutes`;
    /// its alerts wait, pending, until then.
    pub open_after: OpenAfter,
    /// Beyond this many incidents opened in an hour, alerts of new problems join one
    /// "alert storm" incident of the integration. 0: no cap.
    pub max_incidents_per_hour: i64,
    /// A dead-man's switch: when the source sends nothing for this many minutes, the
    /// integration raises its own critical alert, resolved by the next request. 0: off.
    pub silent_after_minutes: i64,
    /// Changes with every update: send it back as `If-Match: "v<version>"`.
    pub version: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    /// `/alerts/<secret>`, where the tool posts: shown once, when the integration is
    /// created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_path: Option<String>,
}

/// A new integration.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIntegration {
    pub name: String,
    /// `alertmanager`, `generic` or `email`.
    pub kind: String,
    /// For an `email` integration (and only one), the address its mail is delivered to:
    /// one the desk's mailbox receives, e.g. `alerts@desk.example`.
    #[serde(default)]
    pub address: Option<String>,
    /// The e-mail address of the user its incidents are requested by.
    pub requester: String,
    #[serde(default)]
    pub group_by: Vec<String>,
    /// The name of the escalation policy its incidents page.
    #[serde(default)]
    pub escalation_policy: Option<String>,
    /// 0 when absent.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1440)]
    pub hold_back_minutes: i64,
    /// 0 (never) when absent.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 10080)]
    pub resolve_after_minutes: i64,
    /// The first firing opens the incident when absent.
    #[serde(default)]
    pub open_after: OpenAfter,
    /// 0 (no cap) when absent.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 10000)]
    pub max_incidents_per_hour: i64,
    /// 0 (no dead-man's switch) when absent.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 10080)]
    pub silent_after_minutes: i64,
}

/// How often a group must fire, and within how long, to open its incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenAfter {
    /// 1 to 1000; 1 opens on the first firing.
    #[schema(minimum = 1, maximum = 1000)]
    pub count: i64,
    /// 0 to 1440; at least 1 with a count above 1.
    #[schema(minimum = 0, maximum = 1440)]
    pub minutes: i64,
}

impl Default for OpenAfter {
    fn default() -> Self {
        let off = Pipeline::default();
        Self {
            count: off.open_after_count,
            minutes: off.open_after_minutes,
        }
    }
}

/// Changes to an integration's grouping, escalation and pipeline settings; absent fields
/// stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationPatch {
    /// Labels whose values make alerts one problem; `[]`: each alert is its own.
    pub group_by: Option<Vec<String>>,
    /// The name of the escalation policy its incidents page; `""`: they page nobody.
    pub escalation_policy: Option<String>,
    #[schema(minimum = 0, maximum = 1440)]
    pub hold_back_minutes: Option<i64>,
    #[schema(minimum = 0, maximum = 10080)]
    pub resolve_after_minutes: Option<i64>,
    pub open_after: Option<OpenAfter>,
    #[schema(minimum = 0, maximum = 10000)]
    pub max_incidents_per_hour: Option<i64>,
    #[schema(minimum = 0, maximum = 10080)]
    pub silent_after_minutes: Option<i64>,
}

/// What a patch makes of an integration's settings, checked as saving them would be.
pub(crate) struct Patched {
    pub group_by: Vec<String>,
    pub escalation_policy_id: Option<i64>,
    pub pipeline: Pipeline,
}

impl IntegrationPatch {
    /// Applies the patch over `integration`'s settings, naming each mistake's field.
    pub(crate) async fn apply_to(
        &self,
        conn: &mut opsdesk_store::Conn,
        integration: &IntegrationRow,
    ) -> Result<Patched, AppError> {
        let mut errors = Vec::new();
        let group_by = match &self.group_by {
            Some(labels) => checked_group_by(labels, &mut errors),
            None => serde_json::from_str(&integration.group_by).unwrap_or_default(),
        };
        let escalation_policy_id = match self.escalation_policy.as_deref().map(str::trim) {
            None => integration.escalation_policy_id,
            Some("") => None,
            Some(name) => policy_named(conn, name, &mut errors).await?,
        };
        let current = integration.pipeline();
        let open_after = self.open_after.unwrap_or(OpenAfter {
            count: current.open_after_count,
            minutes: current.open_after_minutes,
        });
        let pipeline = Pipeline {
            hold_back_minutes: self.hold_back_minutes.unwrap_or(current.hold_back_minutes),
            resolve_after_minutes: self
                .resolve_after_minutes
                .unwrap_or(current.resolve_after_minutes),
            open_after_count: open_after.count,
            open_after_minutes: open_after.minutes,
            max_incidents_per_hour: self
                .max_incidents_per_hour
                .unwrap_or(current.max_incidents_per_hour),
            silent_after_minutes: self
                .silent_after_minutes
                .unwrap_or(current.silent_after_minutes),
        };
        if let Err(AppError::Invalid(faults)) = checked(pipeline) {
            errors.extend(faults);
        }
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        Ok(Patched {
            group_by,
            escalation_policy_id,
            pipeline,
        })
    }
}

/// Grouping labels, trimmed: at most ten, none empty.
fn checked_group_by(labels: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    if labels.iter().any(|l| l.trim().is_empty()) || labels.len() > 10 {
        errors.push(FieldError::new(
            "group_by",
            "at most 10 label names, none empty",
        ));
    }
    labels.iter().map(|l| l.trim().to_owned()).collect()
}

/// The id of the escalation policy called `name`; a mistake of `escalation_policy` when
/// there is none.
async fn policy_named(
    conn: &mut opsdesk_store::Conn,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Result<Option<i64>, AppError> {
    let policy = opsdesk_store::paging::policy_by_name(conn, name).await?;
    if policy.is_none() {
        errors.push(FieldError::new(
            "escalation_policy",
            "no policy has this name",
        ));
    }
    Ok(policy.map(|p| p.id))
}

/// An e-mail integration's address in lower case; the other kinds have none.
fn checked_address(
    kind: IntegrationKind,
    address: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let address = address.map(str::trim).filter(|a| !a.is_empty());
    match (kind, address) {
        (IntegrationKind::Email, Some(address)) => {
            let valid = address.len() <= 254
                && address.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty() && domain.contains('.') && !domain.contains('@')
                })
                && !address.contains(char::is_whitespace);
            if !valid {
                errors.push(FieldError::new("address", "not an e-mail address"));
            }
            Some(address.to_ascii_lowercase())
        }
        (IntegrationKind::Email, None) => {
            errors.push(FieldError::new(
                "address",
                "an e-mail integration needs the address its mail is delivered to",
            ));
            None
        }
        (_, Some(_)) => {
            errors.push(FieldError::new(
                "address",
                "only an e-mail integration has an address",
            ));
            None
        }
        (_, None) => None,
    }
}

/// Checks pipeline settings, naming each mistake's field.
fn checked(pipeline: Pipeline) -> Result<Pipeline, AppError> {
    let faults = pipeline.check();
    if faults.is_empty() {
        return Ok(pipeline);
    }
    Err(AppError::Invalid(
        faults
            .into_iter()
            .map(|(field, message)| FieldError::new(field, message))
            .collect(),
    ))
}

/// An alert received.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Alert {
    pub id: i64,
    pub integration: String,
    pub fingerprint: String,
    /// `firing` or `resolved`.
    pub status: String,
    pub title: String,
    pub severity: String,
    #[schema(value_type = Object)]
    pub labels: serde_json::Value,
    /// Its incident.
    pub ticket: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub first_at: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub last_at: jiff::Timestamp,
    pub occurrences: i64,
    /// Whether it fires without an incident, waiting for its group to reach the
    /// integration's threshold.
    pub pending: bool,
    /// Whether a silence muted its last notification: then it opened and joined nothing.
    pub silenced: bool,
    /// The silence that did.
    pub silence_id: Option<i64>,
}

/// What a request of alerts did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlertReceipt {
    pub alerts: usize,
    /// The incidents they opened.
    pub opened: Vec<String>,
    /// The incidents they resolved.
    pub resolved: Vec<String>,
    /// How many firing alerts a silence muted.
    pub silenced: usize,
    /// How many firing alerts wait for their group to reach the threshold.
    pub pending: usize,
}

/// What the notices of one request did.
#[derive(Default)]
pub(crate) struct Tally {
    pub opened: Vec<i64>,
    pub resolved: Vec<i64>,
    silenced: usize,
    pending: usize,
}

/// Who an integration's changes are made by, in the audit log and on timelines.
pub(crate) fn sender_of(integration: &IntegrationRow) -> Principal {
    Principal::system(&format!("integration {}", integration.name))
}

/// Runs the notices `integration` received through its pipeline, in the caller's
/// transaction. Receiving them is the source speaking: it clears a dead-man's switch that
/// fired, which resolves the switch's own alert first.
pub(crate) async fn take_in(
    tx: &mut Tx<'_>,
    integration: &IntegrationRow,
    mut notices: Vec<Notice>,
    payload: &str,
) -> Result<Tally, AppError> {
    if integration.pipeline().max_incidents_per_hour > 0 {
        store::lock_integration(tx.conn, tx.backend, integration.id).await?;
    }
    let intake = Intake::new(tx, integration).await?;
    let mut tally = Tally::default();
    if !integration.heard_lately(tx.now)
        && store::note_received(tx.conn, integration.id, tx.now).await?
    {
        notices.insert(0, silence_notice(integration, AlertStatus::Resolved));
    }
    for notice in notices {
        match pipeline::apply(tx, &intake, notice, payload).await? {
            Outcome::Opened(id) => tally.opened.push(id),
            Outcome::Resolved(id) => tally.resolved.push(id),
            Outcome::Silenced => tally.silenced += 1,
            Outcome::Pending => tally.pending += 1,
            Outcome::Nothing => {}
        }
    }
    Ok(tally)
}

fn view(row: IntegrationRow, url_path: Option<String>) -> Integration {
    let pipeline = row.pipeline();
    Integration {
        hold_back_minutes: pipeline.hold_back_minutes,
        resolve_after_minutes: pipeline.resolve_after_minutes,
        open_after: OpenAfter {
            count: pipeline.open_after_count,
            minutes: pipeline.open_after_minutes,
        },
        max_incidents_per_hour: pipeline.max_incidents_per_hour,
        silent_after_minutes: pipeline.silent_after_minutes,
        version: row.version,
        id: row.id,
        name: row.name,
        kind: row.kind,
        address: row.address,
        requester: row.requester_email,
        group_by: serde_json::from_str(&row.group_by).unwrap_or_default(),
        escalation_policy: row.escalation_policy,
        created_at: timestamp(row.created_at),
        url_path,
    }
}

/// The alert an integration's dead-man's switch raises (firing) and its next request
/// clears (resolved).
fn silence_notice(integration: &IntegrationRow, status: AlertStatus) -> Notice {
    let minutes = integration.silent_after_minutes;
    Notice {
        fingerprint: "opsdesk-source-silent".to_owned(),
        status,
        title: format!("{} sent nothing for {minutes} minutes", integration.name),
        description: format!(
            "opsdesk received no request from {} for {minutes} minutes: the source, or the \
             path from it, may be down, so its alerts would not arrive either.",
            integration.name
        ),
        severity: Severity::Critical,
        labels: [
            ("alertname".to_owned(), "SourceSilent".to_owned()),
            ("integration".to_owned(), integration.name.clone()),
        ]
        .into_iter()
        .collect(),
    }
}

impl App {
    /// Fires the dead-man's switch of each integration silent longer than its
    /// `silent_after_minutes`: its own critical alert, through its pipeline, once per
    /// silence. Returns how many fired.
    pub async fn watch_silent_sources(&self) -> Result<usize, AppError> {
        let silent = self
            .system_change("alert pipeline", |tx| {
                Box::pin(async move { Ok(store::claim_silent(tx.conn, tx.now).await?) })
            })
            .await?;
        for integration in &silent {
            let sender = sender_of(integration);
            let row = integration.clone();
            let tally = self
                .change(&sender, Need::Anyone, move |mut tx| {
                    Box::pin(async move {
                        let intake = Intake::new(&mut tx, &row).await?;
                        let notice = silence_notice(&row, AlertStatus::Firing);
                        let payload = serde_json::json!({"silent_after_minutes":
                            row.silent_after_minutes})
                        .to_string();
                        let mut tally = Tally::default();
                        if let Outcome::Opened(id) =
                            pipeline::apply(&mut tx, &intake, notice, &payload).await?
                        {
                            tally.opened.push(id);
                        }
                        Ok(tally)
                    })
                })
                .await?;
            self.announce(&tally.opened, &tally.resolved, &sender)
                .await?;
        }
        Ok(silent.len())
    }

    /// Creates an integration (admins); the answer carries its secret URL path, once.
    pub async fn create_integration(
        &self,
        principal: &Principal,
        input: NewIntegration,
    ) -> Result<Integration, AppError> {
        let mut errors = Vec::new();
        let name = crate::accounts::check_name("name", &input.name, &mut errors);
        let address = match input.kind.parse::<IntegrationKind>() {
            Err(e) => {
                errors.push(crate::FieldError::new("kind", e));
                None
            }
            Ok(kind) => checked_address(kind, input.address.as_deref(), &mut errors),
        };
        let group_by = checked_group_by(&input.group_by, &mut errors);
        let pipeline = Pipeline {
            hold_back_minutes: input.hold_back_minutes,
            resolve_after_minutes: input.resolve_after_minutes,
            open_after_count: input.open_after.count,
            open_after_minutes: input.open_after.minutes,
            max_incidents_per_hour: input.max_incidents_per_hour,
            silent_after_minutes: input.silent_after_minutes,
        };
        if let Err(AppError::Invalid(faults)) = checked(pipeline) {
            errors.extend(faults);
        }
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let secret = random_secret()?;
        let token_hash = secret_hash(&secret);
        let group_by = serde_json::to_string(&group_by)
            .map_err(|e| AppError::internal("recording an integration", e))?;
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let requester = opsdesk_store::accounts::find_user_by_email(
                    tx.conn,
                    &input.requester.to_lowercase(),
                )
                .await?
                .ok_or_else(|| AppError::invalid("requester", "no user has this address"))?;
                let mut errors = Vec::new();
                let escalation_policy_id = match &input.escalation_policy {
                    Some(name) => policy_named(tx.conn, name, &mut errors).await?,
                    None => None,
                };
                if !errors.is_empty() {
                    return Err(AppError::Invalid(errors));
                }
                if let Some(address) = &address
                    && store::integration_by_address(tx.conn, address)
                        .await?
                        .is_some()
                {
                    return Err(AppError::Conflict {
                        field: Some("address".to_owned()),
                        message: "another integration receives this address".to_owned(),
                    });
                }
                let id = store::insert_integration(
                    tx.conn,
                    &Row {
                        name: &name,
                        kind: &input.kind,
                        requester_id: requester.id,
                        token_hash: &token_hash,
                        group_by: &group_by,
                        escalation_policy_id,
                        pipeline,
                        address: address.as_deref(),
                    },
                    tx.now,
                )
                .await?;
                let row = store::integration(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("integration"))?;
                let integration = view(row, None);
                tx.record(Event::created(Entity::Integration, id, &integration))
                    .await?;
                Ok(Integration {
                    url_path: Some(format!("/alerts/{secret}")),
                    ..integration
                })
            })
        })
        .await
    }

    /// Changes an integration's grouping, escalation policy and pipeline settings (admins),
    /// from the version `precondition` accepts. Turning the resolve timeout on starts it for the alerts firing already.
    pub async fn update_integration(
        &self,
        principal: &Principal,
        id: i64,
        precondition: Precondition,
        patch: IntegrationPatch,
    ) -> Result<Integration, AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let before = store::integration(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("integration"))?;
                let version = precondition.check(before.version)?;
                let current = before.pipeline();
                let Patched {
                    group_by,
                    escalation_policy_id,
                    pipeline,
                } = patch.apply_to(tx.conn, &before).await?;
                let settings = store::IntegrationSettings {
                    group_by: &serde_json::to_string(&group_by)
                        .map_err(|e| AppError::internal("recording an integration", e))?,
                    escalation_policy_id,
                    pipeline,
                };
                if !store::update_settings(tx.conn, id, version, &settings).await? {
                    return Err(AppError::Stale);
                }
                if current.resolve_after_minutes == 0 && pipeline.resolve_after_minutes > 0 {
                    for (alert_id, last_at) in store::firing_alerts(tx.conn, id).await? {
                        let due = last_at + pipeline.resolve_after_ms();
                        pipeline::queue_timeout(&mut tx, alert_id, due).await?;
                    }
                }
                let after = store::integration(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("integration"))?;
                let (before, after) = (view(before, None), view(after, None));
                tx.record(Event::updated(Entity::Integration, id, &before, &after))
                    .await?;
                Ok(after)
            })
        })
        .await
    }

    /// Every integration (staff), without their secrets.
    pub async fn integrations(&self, principal: &Principal) -> Result<Vec<Integration>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        Ok(store::integrations(&mut conn)
            .await?
            .into_iter()
            .map(|row| view(row, None))
            .collect())
    }

    /// Deletes an integration with its alerts (admins); its incidents stay.
    pub async fn delete_integration(&self, principal: &Principal, id: i64) -> Result<(), AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let row = store::integration(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("integration"))?;
                store::delete_integration(tx.conn, id).await?;
                tx.record(Event::deleted(Entity::Integration, id, &view(row, None)))
                    .await
            })
        })
        .await
    }

    /// The most recent alerts that `filter` asks for, newest first (staff).
    pub async fn alerts(
        &self,
        principal: &Principal,
        filter: &AlertFilter,
    ) -> Result<Vec<Alert>, AppError> {
        principal.require_staff()?;
        if filter
            .text
            .as_ref()
            .is_some_and(|t| t.chars().count() > MOST_SEARCH_CHARS)
        {
            return Err(AppError::invalid(
                "q",
                format!("at most {MOST_SEARCH_CHARS} characters"),
            ));
        }
        let text = filter
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_lowercase);
        let query = store::AlertQuery {
            firing_only: filter.firing_only,
            silenced: filter.silenced,
            text: text.as_deref(),
            limit: filter.limit.clamp(1, 500),
        };
        let mut conn = self.db().reader().await?;
        let rows = store::alerts(&mut conn, &query).await?;
        let ids: Vec<i64> = rows.iter().filter_map(|r| r.ticket_id).collect();
        let numbers = opsdesk_store::tickets::numbers_many(&mut conn, &ids).await?;
        Ok(rows
            .into_iter()
            .map(|row| Alert {
                pending: row.status == "firing"
                    && row.ticket_id.is_none()
                    && row.silence_id.is_none(),
                id: row.id,
                integration: row.integration,
                fingerprint: row.fingerprint,
                status: row.status,
                title: row.title,
                severity: row.severity,
                labels: serde_json::from_str(&row.labels).unwrap_or_default(),
                // An incident the viewer may not see (a security incident of another
                // group) is not named, as if the alert had none.
                ticket: row
                    .ticket_id
                    .and_then(|id| numbers.get(&id))
                    .filter(|other| principal.can_see_restricted(other.restricted_group_id))
                    .map(|other| number_of(&other.ticket_type, other.number)),
                first_at: timestamp(row.first_at),
                last_at: timestamp(row.last_at),
                occurrences: row.occurrences,
                silenced: row.silence_id.is_some(),
                silence_id: row.silence_id,
            })
            .collect())
    }

    /// Receives alerts posted to an integration's secret URL: each opens or joins its
    /// group's incident, or resolves it with the group's last alert. An unknown secret is
    /// not found; a payload that does not read is invalid, and nothing of it is kept.
    pub async fn receive_alerts(
        &self,
        token: &str,
        body: Vec<u8>,
    ) -> Result<AlertReceipt, AppError> {
        let integration = {
            let mut conn = self.db().reader().await?;
            store::integration_by_token(&mut conn, &secret_hash(token))
                .await?
                .ok_or(AppError::NotFound("integration"))?
        };
        let kind: IntegrationKind = integration
            .kind
            .parse()
            .map_err(|e| AppError::internal("reading an integration", e))?;
        let notices = alert::read(kind, &body).map_err(|e| AppError::invalid("body", e))?;
        if notices.len() > MOST_ALERTS {
            return Err(AppError::invalid(
                "body",
                format!("at most {MOST_ALERTS} alerts in one request"),
            ));
        }
        let count = notices.len();
        let payload = String::from_utf8_lossy(&body).into_owned();
        let sender = sender_of(&integration);
        let tally = self
            .change(&sender, Need::Anyone, move |mut tx| {
                Box::pin(async move { take_in(&mut tx, &integration, notices, &payload).await })
            })
            .await?;
        let (opened, resolved) = self
            .announce(&tally.opened, &tally.resolved, &sender)
            .await?;
        Ok(AlertReceipt {
            alerts: count,
            opened,
            resolved,
            silenced: tally.silenced,
            pending: tally.pending,
        })
    }
}
