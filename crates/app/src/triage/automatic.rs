//! The assistant on its own: every new ticket without a category is read as soon as it is
//! written. At or above its category's threshold (set by an admin) the suggestion is applied
//! — the category, and the group when the assistant is as sure of it — and the timeline says
//! it was the assistant; below, the suggestion is only kept. Kept suggestions, and the
//! category agents chose instead (their corrections), give the weekly accuracy.

use opsdesk_store::triage as store;

use super::*;
use crate::TicketEventKind;
use crate::tickets::patch_ticket;

/// A category whose suggestions are applied automatically.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TriageThreshold {
    /// The category's path.
    pub category: String,
    /// From 0.5 to 1: applied when the assistant's confidence is at least this.
    pub threshold: f64,
}

/// Sets (or, with `null`, removes) a category's threshold.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThresholdInput {
    pub category: String,
    pub threshold: Option<f64>,
}

/// How the assistant's suggestions for new tickets fared in one week.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct WeeklyAccuracy {
    /// The Monday the week starts on (UTC).
    pub week: String,
    /// New tickets without a category it made a suggestion for.
    pub suggested: usize,
    /// Of those, applied automatically.
    pub applied: usize,
    /// Of those, where an agent then chose another category.
    pub corrected: usize,
    /// Of the suggested tickets that have a category now, the share it got right; none
    /// before any has one.
    pub accuracy: Option<f64>,
}

/// The lowest threshold an admin may set: below, more than one suggestion in two is wrong.
const LOWEST_THRESHOLD: f64 = 0.5;

const WEEK_MS: i64 = 7 * 86_400_000;

/// Counts `outcomes` by the week they were suggested in, oldest week first.
fn weekly(outcomes: &[store::OutcomeRow]) -> Vec<WeeklyAccuracy> {
    // 1970-01-01 was a Thursday: weeks start three days before each multiple of 7 days from it.
    let monday = |at: i64| (at + 3 * 86_400_000).div_euclid(WEEK_MS) * WEEK_MS - 3 * 86_400_000;
    let mut weeks: Vec<(i64, WeeklyAccuracy, usize, usize)> = Vec::new();
    for outcome in outcomes {
        let start = monday(outcome.suggested_at);
        if weeks.last().is_none_or(|(week, ..)| *week != start) {
            let label = crate::timestamp(start).strftime("%Y-%m-%d").to_string();
            weeks.push((
                start,
                WeeklyAccuracy {
                    week: label,
                    suggested: 0,
                    applied: 0,
                    corrected: 0,
                    accuracy: None,
                },
                0,
                0,
            ));
        }
        let Some((_, week, judged, right)) = weeks.last_mut() else {
            continue;
        };
        week.suggested += 1;
        week.applied += usize::from(outcome.applied == 1);
        week.corrected += usize::from(outcome.corrected == 1);
        if outcome.current_category_id.is_some() {
            *judged += 1;
            *right += usize::from(outcome.current_category_id == outcome.category_id);
        }
    }
    weeks
        .into_iter()
        .map(|(_, mut week, judged, right)| {
            week.accuracy = (judged > 0).then(|| right as f64 / judged as f64);
            week
        })
        .collect()
}

impl App {
    /// The categories whose suggestions are applied automatically (staff).
    pub async fn triage_thresholds(
        &self,
        principal: &Principal,
    ) -> Result<Vec<TriageThreshold>, AppError> {
        principal.require_staff()?;
        let paths: HashMap<i64, String> = self
            .categories()
            .await?
            .into_iter()
            .map(|c| (c.id, c.path))
            .collect();
        let mut conn = self.db().reader().await?;
        Ok(store::thresholds(&mut conn)
            .await?
            .into_iter()
            .filter_map(|(id, threshold)| {
                Some(TriageThreshold {
                    category: paths.get(&id)?.clone(),
                    threshold,
                })
            })
            .collect())
    }

    /// Sets or removes a category's threshold (admins).
    pub async fn set_triage_threshold(
        &self,
        principal: &Principal,
        input: ThresholdInput,
    ) -> Result<(), AppError> {
        if let Some(threshold) = input.threshold
            && !(LOWEST_THRESHOLD..=1.0).contains(&threshold)
        {
            return Err(AppError::invalid(
                "threshold",
                format!("must be between {LOWEST_THRESHOLD} and 1, or null to stop applying"),
            ));
        }
        let category = self
            .categories()
            .await?
            .into_iter()
            .find(|c| c.path.eq_ignore_ascii_case(input.category.trim()))
            .ok_or_else(|| {
                AppError::invalid("category", format!("no category `{}`", input.category))
            })?;
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                store::set_threshold(tx.conn, category.id, input.threshold).await?;
                tx.record(Event {
                    entity: Entity::Category,
                    entity_id: category.id,
                    action: Action::Updated,
                    before: None,
                    after: Some(serde_json::json!({
                        "path": category.path, "triage_threshold": input.threshold,
                    })),
                })
                .await
            })
        })
        .await
    }

    /// How the assistant's suggestions fared, week by week, over the last `weeks` weeks
    /// (staff).
    pub async fn triage_accuracy(
        &self,
        principal: &Principal,
        weeks: i64,
    ) -> Result<Vec<WeeklyAccuracy>, AppError> {
        principal.require_staff()?;
        let since = self.period_start("weeks", weeks, 52, WEEK_MS)?;
        let mut conn = self.db().reader().await?;
        Ok(weekly(&store::outcomes_since(&mut conn, since).await?))
    }

    /// Triages the tickets opened on this node as they commit, until `stopped`. Under a
    /// burst it falls behind and skips what the channel dropped: those tickets wait for an
    /// agent, as they would without the assistant.
    pub async fn run_triage(&self, mut stopped: tokio::sync::watch::Receiver<bool>) {
        let mut events = self.ticket_events();
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(event) if event.kind == TicketEventKind::Created => {
                        if let Err(error) = self.triage_new_ticket(event.ticket_id).await {
                            tracing::warn!(%error, ticket = %event.number, "automatic triage failed");
                        }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "automatic triage fell behind; tickets skipped");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                _ = stopped.changed() => return,
            }
        }
    }

    /// Suggests a category for a new ticket that has none, keeps the suggestion, and applies
    /// it when it reaches its category's threshold.
    pub(crate) async fn triage_new_ticket(&self, ticket_id: i64) -> Result<(), AppError> {
        let Some(trained) = self.inner.triage.0.read().await.clone() else {
            return Ok(());
        };
        let (row, thresholds) = {
            let mut conn = self.db().reader().await?;
            let Some(row) = opsdesk_store::tickets::get(&mut conn, ticket_id).await? else {
                return Ok(());
            };
            (row, store::thresholds(&mut conn).await?)
        };
        // Security incidents are routed by their restricted group's members, not by a model
        // that could hand them to another group.
        if row.category_id.is_some()
            || row.merged_into_id.is_some()
            || row.restricted_group_id.is_some()
        {
            return Ok(());
        }
        let suggestion = trained.model.suggest(&row.title, &row.description, 1, 0);
        let [categories, groups, _] = &suggestion.families;
        let Some(best) = categories.first() else {
            return Ok(()); // It declines: nothing to keep.
        };
        let category = self
            .categories()
            .await?
            .into_iter()
            .find(|c| c.path == best.label);
        let threshold = category.as_ref().and_then(|c| {
            thresholds
                .iter()
                .find(|(id, _)| *id == c.id)
                .map(|(_, t)| *t)
        });
        let confidence = f64::from(best.score);
        let apply = threshold.is_some_and(|t| confidence >= t);
        let group = groups
            .first()
            .filter(|g| threshold.is_some_and(|t| f64::from(g.score) >= t))
            .map(|g| g.label.clone());
        let model = trained.report.model.clone();
        let category_id = category.as_ref().map(|c| c.id);
        let path = category.map(|c| c.path);
        let assistant = Principal::system("triage assistant");
        let number = number_of(&row.ticket_type, row.number);
        let applied = self
            .change(&assistant, Need::Anyone, move |mut tx| {
                Box::pin(async move {
                    let mut batch = tx.batch();
                    store::insert_outcome(
                        &mut batch,
                        row.id,
                        &model,
                        category_id,
                        confidence,
                        apply,
                        tx.now,
                    );
                    batch.run(tx.conn).await?;
                    if !apply {
                        return Ok(false);
                    }
                    // Read again: an agent may have set a category since.
                    let current = opsdesk_store::tickets::get(tx.conn, row.id)
                        .await?
                        .ok_or(AppError::NotFound("ticket"))?;
                    if current.category_id.is_some() {
                        return Ok(false);
                    }
                    let ticket_id = current.id;
                    let group_changes = group.is_some() && current.group_id.is_none();
                    let patch = TicketPatch {
                        category: path.clone().map(Some),
                        group: group.clone().filter(|_| group_changes).map(Some),
                        escalation_reason: group_changes
                            .then(|| "set by the triage assistant".to_owned()),
                        ..TicketPatch::default()
                    };
                    patch_ticket(&mut tx, current, Precondition::Any, patch).await?;
                    let mut batch = tx.batch();
                    crate::tickets::timeline(
                        &mut batch,
                        ticket_id,
                        tx.now,
                        tx.actor,
                        "triage_applied",
                        false,
                        serde_json::json!({
                            "model": model, "category": path,
                            "group": group.filter(|_| group_changes),
                            "confidence": confidence, "threshold": threshold,
                            "automatic": true,
                        }),
                    );
                    batch.run(tx.conn).await?;
                    Ok(true)
                })
            })
            .await?;
        if applied {
            self.publish(ticket_id, &number, TicketEventKind::Updated, &assistant);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(day: i64, suggested: i64, now: Option<i64>, applied: bool) -> store::OutcomeRow {
        store::OutcomeRow {
            // 2026-11-30 is a Monday.
            suggested_at: 1_795_996_800_000 + day * 86_400_000,
            category_id: Some(suggested),
            applied: i64::from(applied),
            corrected: i64::from(now.is_some_and(|n| n != suggested)),
            current_category_id: now,
        }
    }

    #[test]
    fn weeks_start_on_monday_and_count_what_agents_kept() {
        let weeks = weekly(&[
            outcome(0, 1, Some(1), true),
            outcome(6, 1, Some(2), false),
            outcome(6, 2, None, false),
            outcome(7, 3, Some(3), true),
        ]);
        assert_eq!(
            weeks,
            vec![
                WeeklyAccuracy {
                    week: "2026-11-30".into(),
                    suggested: 3,
                    applied: 1,
                    corrected: 1,
                    accuracy: Some(0.5),
                },
                WeeklyAccuracy {
                    week: "2026-12-07".into(),
                    suggested: 1,
                    applied: 1,
                    corrected: 0,
                    accuracy: Some(1.0),
                },
            ]
        );
    }
}
