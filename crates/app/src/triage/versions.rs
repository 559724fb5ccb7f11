//! Model versions: training one (in the background, or when an admin asks), keeping it with
//! the tickets it learned from, and serving the version in service on every node. Training
//! is deterministic, so a version is rebuilt from its tickets rather than stored as weights:
//! a few megabytes instead of tens, and an admin can go back to any version kept.

use opsdesk_store::triage::{self as store, ModelRow};

use super::*;

/// One ticket a version learned from: its id, category id, group id and priority rank.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Learned(i64, Option<i64>, Option<i64>, i64);

/// A kept version, its report, who trained it and whether it is in service.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TriageVersion {
    #[serde(flatten)]
    pub report: TriageReport,
    /// `system:triage` for the background training, else the admin.
    pub trained_by: String,
    pub active: bool,
}

fn version_of(row: &ModelRow) -> Result<TriageVersion, AppError> {
    let accuracy: TriageAccuracy = serde_json::from_str(&row.accuracy)
        .map_err(|e| AppError::internal("reading a triage model's report", e))?;
    Ok(TriageVersion {
        report: TriageReport {
            model: row.version.clone(),
            trained_on: usize::try_from(row.trained_on).unwrap_or_default(),
            trained_at: crate::timestamp(row.trained_at),
            accuracy,
        },
        trained_by: row.trained_by.clone(),
        active: row.active == 1,
    })
}

/// The names labels are learned under, read now: a renamed category keeps its tickets.
struct Names {
    categories: HashMap<i64, String>,
    groups: HashMap<i64, String>,
}

impl Names {
    async fn read(app: &App) -> Result<Self, AppError> {
        let categories = app
            .categories()
            .await?
            .into_iter()
            .map(|c| (c.id, c.path))
            .collect();
        let mut conn = app.db().reader().await?;
        let groups = opsdesk_store::tickets::groups(&mut conn)
            .await?
            .into_iter()
            .map(|g| (g.id, g.name))
            .collect();
        Ok(Self { categories, groups })
    }

    fn example(&self, row: &store::TrainingRow, learned: Learned) -> Example {
        Example {
            title: row.title.clone(),
            description: row.description.clone(),
            labels: [
                learned.1.and_then(|id| self.categories.get(&id).cloned()),
                learned.2.and_then(|id| self.groups.get(&id).cloned()),
                Some(priority_from_rank(learned.3).to_string()),
            ],
        }
    }
}

fn known_ticket(row: &store::TrainingRow) -> (String, String, Option<String>) {
    (
        number_of(&row.ticket_type, row.number),
        row.title.clone(),
        row.resolution_note
            .clone()
            .filter(|note| !note.trim().is_empty()),
    )
}

impl App {
    /// Trains a new version on the most recent labelled tickets (admins), after measuring a
    /// model trained on four fifths of them against the fifth held out, and puts it in
    /// service.
    pub async fn train_triage(&self, principal: &Principal) -> Result<TriageReport, AppError> {
        principal.require_admin()?;
        self.retrain_triage(principal)
            .await?
            .ok_or_else(|| AppError::Conflict {
                field: None,
                message: format!(
                    "the desk has fewer than {MINIMUM_EXAMPLES} tickets with a category or group to learn from"
                ),
            })
    }

    async fn retrain_triage(&self, by: &Principal) -> Result<Option<TriageReport>, AppError> {
        let names = Names::read(self).await?;
        let rows = {
            let mut conn = self.db().reader().await?;
            store::training_tickets(&mut conn, TRAINING_LIMIT).await?
        };
        if rows.len() < MINIMUM_EXAMPLES {
            return Ok(None);
        }
        let learned: Vec<Learned> = rows
            .iter()
            .map(|r| Learned(r.id, r.category_id, r.group_id, r.priority))
            .collect();
        let examples: Vec<Example> = rows
            .iter()
            .zip(&learned)
            .map(|(row, learned)| names.example(row, *learned))
            .collect();
        let tickets = rows.iter().map(known_ticket).collect();
        let trained_at = self.now();
        // Training is CPU work: off the async threads.
        let (model, accuracy) = tokio::task::spawn_blocking(move || {
            let options = TrainOptions::default();
            let (train, test) = engine::split(&examples, 0.2, 7);
            let measured = engine::evaluate(&Model::train(&train, &options), &train, &test);
            (Model::train(&examples, &options), measured)
        })
        .await
        .map_err(|e| AppError::internal("training the triage model", e))?;
        let mut report = TriageReport {
            model: format!("{}-{}", trained_at.as_second(), model.trained_on()),
            trained_on: model.trained_on(),
            trained_at,
            accuracy: TriageAccuracy {
                top1: accuracy.top1,
                top3: accuracy.top3,
                macro_f1: accuracy.macro_f1,
            },
        };
        let mut row = ModelRow {
            version: report.model.clone(),
            trained_at: trained_at.as_millisecond(),
            trained_on: i64::try_from(report.trained_on).unwrap_or(i64::MAX),
            trained_by: by.audit_label(),
            accuracy: serde_json::to_string(&report.accuracy)
                .map_err(|e| AppError::internal("recording a triage model", e))?,
            active: 1,
        };
        let examples = serde_json::to_string(&learned)
            .map_err(|e| AppError::internal("recording a triage model", e))?;
        let mut audited = report.clone();
        report.model = self
            .change(by, Need::Admin, move |mut tx| {
                Box::pin(async move {
                    // Two trainings in one second on the same tickets get distinct names.
                    let base = row.version.clone();
                    let mut n = 1;
                    while store::version_taken(tx.conn, &row.version).await? {
                        n += 1;
                        row.version = format!("{base}.{n}");
                    }
                    let id = store::insert_model(tx.conn, &row, &examples).await?;
                    audited.model = row.version.clone();
                    tx.record(Event::created(Entity::TriageModel, id, &audited))
                        .await?;
                    Ok(row.version)
                })
            })
            .await?;
        self.serve_triage(Trained {
            report: report.clone(),
            model,
            tickets,
        })
        .await;
        tracing::info!(model = %report.model, trained_on = report.trained_on, "triage model trained");
        Ok(Some(report))
    }

    /// Rebuilds a kept version from the tickets it learned from and serves it. Tickets
    /// deleted since are left out.
    async fn rebuild_triage(&self, row: &ModelRow) -> Result<(), AppError> {
        let names = Names::read(self).await?;
        let (stored, rows) = {
            let mut conn = self.db().reader().await?;
            let Some(stored) = store::model_examples(&mut conn, &row.version).await? else {
                return Err(AppError::NotFound("triage model"));
            };
            let learned: Vec<Learned> = serde_json::from_str(&stored)
                .map_err(|e| AppError::internal("reading a triage model's tickets", e))?;
            let ids: Vec<i64> = learned.iter().map(|l| l.0).collect();
            (learned, store::tickets_by_ids(&mut conn, &ids).await?)
        };
        let by_id: HashMap<i64, &store::TrainingRow> = rows.iter().map(|r| (r.id, r)).collect();
        let (examples, tickets): (Vec<Example>, Vec<_>) = stored
            .iter()
            .filter_map(|learned| {
                let row = by_id.get(&learned.0)?;
                Some((names.example(row, *learned), known_ticket(row)))
            })
            .unzip();
        let model =
            tokio::task::spawn_blocking(move || Model::train(&examples, &TrainOptions::default()))
                .await
                .map_err(|e| AppError::internal("rebuilding the triage model", e))?;
        let report = version_of(row)?.report;
        tracing::info!(model = %report.model, "triage model version in service");
        self.serve_triage(Trained {
            report,
            model,
            tickets,
        })
        .await;
        Ok(())
    }

    async fn serve_triage(&self, trained: Trained) {
        *self.inner.triage.0.write().await = Some(Arc::new(trained));
    }

    /// The model in service and its report (staff).
    pub async fn triage_model(&self, principal: &Principal) -> Result<TriageReport, AppError> {
        principal.require_staff()?;
        self.inner
            .triage
            .0
            .read()
            .await
            .as_ref()
            .map(|trained| trained.report.clone())
            .ok_or(AppError::NotFound("triage model"))
    }

    /// The versions kept, newest first (staff).
    pub async fn triage_versions(
        &self,
        principal: &Principal,
    ) -> Result<Vec<TriageVersion>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        store::models(&mut conn)
            .await?
            .iter()
            .map(version_of)
            .collect()
    }

    /// Puts a kept version back in service (admins): on this node at once, on the others
    /// at their next housekeeping.
    pub async fn activate_triage_version(
        &self,
        principal: &Principal,
        version: &str,
    ) -> Result<TriageVersion, AppError> {
        let wanted = version.to_owned();
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let id = store::activate_model(tx.conn, &wanted)
                    .await?
                    .ok_or(AppError::NotFound("triage model"))?;
                tx.record(Event {
                    entity: Entity::TriageModel,
                    entity_id: id,
                    action: Action::Updated,
                    before: None,
                    after: Some(serde_json::json!({"version": wanted, "active": true})),
                })
                .await
            })
        })
        .await?;
        let row = {
            let mut conn = self.db().reader().await?;
            store::active_model(&mut conn)
                .await?
                .ok_or(AppError::NotFound("triage model"))?
        };
        self.rebuild_triage(&row).await?;
        version_of(&row)
    }

    /// Serves the version in service when this node has another (a restart, a rollback or
    /// a training on another node); trains the first version once the desk has enough
    /// history, and a new one when the one in service has grown old. Called by the
    /// housekeeping; the work runs in a task of its own so that the SLA sweeps go on.
    pub(crate) async fn keep_triage_fresh(&self) {
        let active = match self.db().reader().await {
            Ok(mut conn) => store::active_model(&mut conn).await,
            Err(error) => Err(error),
        };
        let active = match active {
            Ok(active) => active,
            Err(error) => {
                tracing::warn!(%error, "reading the triage model in service failed");
                return;
            }
        };
        let serving = self
            .inner
            .triage
            .0
            .read()
            .await
            .as_ref()
            .map(|trained| trained.report.model.clone());
        let now = self.now_ms();
        let last_attempt = self
            .inner
            .triage
            .2
            .load(std::sync::atomic::Ordering::Acquire);
        enum Work {
            Rebuild(ModelRow),
            Retrain,
        }
        let work = match active {
            Some(row) if serving.as_deref() != Some(row.version.as_str()) => Work::Rebuild(row),
            Some(row) if now - row.trained_at > RETRAIN_AFTER_MS => Work::Retrain,
            Some(_) => return,
            None if now - last_attempt > RETRY_WITHOUT_MODEL_MS => Work::Retrain,
            None => return,
        };
        let busy = &self.inner.triage.1;
        if busy.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        self.inner
            .triage
            .2
            .store(now, std::sync::atomic::Ordering::Release);
        let app = self.clone();
        tokio::spawn(async move {
            let done = match work {
                Work::Rebuild(row) => app.rebuild_triage(&row).await,
                Work::Retrain => app
                    .retrain_triage(&Principal::system("triage"))
                    .await
                    .map(|_| ()),
            };
            if let Err(error) = done {
                tracing::warn!(%error, "training the triage model failed");
            }
            app.inner
                .triage
                .1
                .store(false, std::sync::atomic::Ordering::Release);
        });
    }
}
