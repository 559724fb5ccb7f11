//! Silences: staff mute the alerts that fit some label matchers, of one integration or of
//! all, for a while — planned work, a known problem being fixed. A muted alert is still
//! recorded, but opens and joins no incident; expiring a silence ends it at once.

use jiff::Timestamp;
use opsdesk_domain::silence::{self as rules, MatchOp, Matcher};
use opsdesk_store::Conn;
use opsdesk_store::silences::{self as store, NewSilence as Row, SilenceRow};
use serde::{Deserialize, Serialize};

use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::{App, AppError, FieldError, Principal, timestamp};

/// Longest comment, in characters.
const MOST_COMMENT_CHARS: usize = 1_000;

/// One condition on an alert's labels.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceMatcher {
    /// A label's name; a label the alert lacks reads as empty.
    pub name: String,
    /// `=`, `!=`, `=~` (the whole value matches the regular expression) or `!~`.
    pub op: String,
    pub value: String,
}

/// A silence as staff see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Silence {
    pub id: i64,
    /// The integration whose alerts it mutes; every integration's when absent.
    pub integration: Option<String>,
    /// All must fit an alert's labels for it to be muted.
    pub matchers: Vec<SilenceMatcher>,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: Timestamp,
    pub comment: String,
    pub created_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// `active`, `pending` (yet to start) or `expired`.
    pub state: String,
}

/// A new silence.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    /// The name of the integration whose alerts it mutes; every integration's when absent.
    #[serde(default)]
    pub integration: Option<String>,
    pub matchers: Vec<SilenceMatcher>,
    /// Now when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub starts_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: Timestamp,
    /// Why: what the work or the known problem is.
    pub comment: String,
}

/// Reads a request's matchers, naming each one's part at fault (`matchers[1].value`).
pub(crate) fn read_matchers(
    input: &[SilenceMatcher],
    errors: &mut Vec<FieldError>,
) -> Vec<Matcher> {
    // Counted before anything compiles: each expression costs time to build.
    if input.is_empty() || input.len() > rules::MOST_MATCHERS {
        errors.push(FieldError::new("matchers", rules::MatchersError::Count));
        return Vec::new();
    }
    let mut matchers = Vec::with_capacity(input.len());
    for (index, matcher) in input.iter().enumerate() {
        let op = match matcher.op.parse::<MatchOp>() {
            Ok(op) => op,
            Err(e) => {
                errors.push(FieldError::new(format!("matchers[{index}].op"), e));
                continue;
            }
        };
        match Matcher::new(&matcher.name, op, &matcher.value) {
            Ok(matcher) => matchers.push(matcher),
            Err(e) => errors.push(FieldError::new(
                format!("matchers[{index}].{}", e.field()),
                e,
            )),
        }
    }
    if matchers.len() == input.len()
        && let Err(e) = rules::check_matchers(&matchers)
    {
        errors.push(FieldError::new("matchers", e));
    }
    matchers
}

fn written(matchers: &[Matcher]) -> Vec<SilenceMatcher> {
    matchers
        .iter()
        .map(|m| SilenceMatcher {
            name: m.name().to_owned(),
            op: m.op().as_str().to_owned(),
            value: m.value().to_owned(),
        })
        .collect()
}

/// A stored silence's matchers. They were checked when it was made; a limit tightened
/// since can make one unreadable, which then mutes nothing rather than stop alerts.
pub(crate) fn stored_matchers(row: &SilenceRow) -> Result<Vec<Matcher>, String> {
    let specs: Vec<SilenceMatcher> =
        serde_json::from_str(&row.matchers).map_err(|e| e.to_string())?;
    specs
        .iter()
        .map(|m| {
            let op = m.op.parse::<MatchOp>().map_err(|e| e.to_string())?;
            Matcher::new(&m.name, op, &m.value).map_err(|e| e.to_string())
        })
        .collect()
}

fn view(row: SilenceRow, now: i64) -> Silence {
    let matchers = serde_json::from_str(&row.matchers).unwrap_or_default();
    let state = if row.ends_at <= now {
        "expired"
    } else if row.starts_at > now {
        "pending"
    } else {
        "active"
    };
    Silence {
        id: row.id,
        integration: row.integration,
        matchers,
        starts_at: timestamp(row.starts_at),
        ends_at: timestamp(row.ends_at),
        comment: row.comment,
        created_by: row.created_by,
        created_at: timestamp(row.created_at),
        state: state.to_owned(),
    }
}

/// The silences in force at `now` over integration `integration_id`'s alerts, each with
/// its matchers, oldest first.
pub(crate) async fn in_force(
    conn: &mut Conn,
    integration_id: i64,
    now: i64,
) -> Result<Vec<(i64, Vec<Matcher>)>, AppError> {
    let rows = store::silences_in_force(conn, integration_id, now).await?;
    Ok(rows
        .iter()
        .filter_map(|row| match stored_matchers(row) {
            Ok(matchers) => Some((row.id, matchers)),
            Err(error) => {
                tracing::warn!(silence = row.id, %error, "a silence's matchers do not read");
                None
            }
        })
        .collect())
}

/// The first of `silences` whose matchers all fit `labels`.
pub(crate) fn muting(
    silences: &[(i64, Vec<Matcher>)],
    labels: &std::collections::BTreeMap<String, String>,
) -> Option<i64> {
    silences
        .iter()
        .find(|(_, matchers)| rules::mutes(matchers, labels))
        .map(|(id, _)| *id)
}

impl App {
    /// Creates a silence (staff). It must end after it starts, and after now.
    pub async fn create_silence(
        &self,
        principal: &Principal,
        input: NewSilence,
    ) -> Result<Silence, AppError> {
        principal.require_staff()?;
        let now = self.now();
        let mut errors = Vec::new();
        let matchers = read_matchers(&input.matchers, &mut errors);
        let comment = input.comment.trim().to_owned();
        if comment.is_empty() || comment.chars().count() > MOST_COMMENT_CHARS {
            errors.push(FieldError::new(
                "comment",
                format!("say why, in 1 to {MOST_COMMENT_CHARS} characters"),
            ));
        }
        let starts_at = input.starts_at.unwrap_or(now);
        if input.ends_at <= starts_at {
            errors.push(FieldError::new("ends_at", "must be after starts_at"));
        } else if input.ends_at <= now {
            errors.push(FieldError::new("ends_at", "must be in the future"));
        }
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let stored = serde_json::to_string(&written(&matchers))
            .map_err(|e| AppError::internal("recording a silence", e))?;
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let integration_id = match &input.integration {
                    None => None,
                    Some(name) => Some(
                        opsdesk_store::alerts::integration_by_name(tx.conn, name)
                            .await?
                            .ok_or_else(|| {
                                AppError::invalid("integration", "no integration has this name")
                            })?
                            .id,
                    ),
                };
                let created_by = if tx.principal.email.is_empty() {
                    tx.actor.to_owned()
                } else {
                    tx.principal.email.clone()
                };
                let id = store::insert_silence(
                    tx.conn,
                    &Row {
                        integration_id,
                        matchers: &stored,
                        starts_at: starts_at.as_millisecond(),
                        ends_at: input.ends_at.as_millisecond(),
                        comment: &comment,
                        created_by: &created_by,
                    },
                    tx.now,
                )
                .await?;
                let row = store::silence(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("silence"))?;
                let silence = view(row, tx.now);
                tx.record(Event::created(Entity::Silence, id, &silence))
                    .await?;
                Ok(silence)
            })
        })
        .await
    }

    /// Silences active or yet to start, or with `expired` those that ended too, the latest
    /// to start first (staff).
    pub async fn silences(
        &self,
        principal: &Principal,
        expired: bool,
        limit: i64,
    ) -> Result<Vec<Silence>, AppError> {
        principal.require_staff()?;
        let now = self.now_ms();
        let mut conn = self.db().reader().await?;
        let rows =
            store::silences(&mut conn, (!expired).then_some(now), limit.clamp(1, 500)).await?;
        Ok(rows.into_iter().map(|row| view(row, now)).collect())
    }

    /// Ends a silence now (staff): the alerts it muted open incidents again when they next
    /// arrive. Expiring one that has ended changes nothing.
    pub async fn expire_silence(&self, principal: &Principal, id: i64) -> Result<(), AppError> {
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let before = store::silence(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("silence"))?;
                if !store::expire_silence(tx.conn, id, tx.now).await? {
                    return Ok(());
                }
                let after = store::silence(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("silence"))?;
                let now = tx.now;
                tx.record(Event::updated(
                    Entity::Silence,
                    id,
                    &view(before, now),
                    &view(after, now),
                ))
                .await
            })
        })
        .await
    }
}
