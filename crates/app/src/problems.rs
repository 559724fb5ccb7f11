//! Problem management: the incidents a problem caused, its root-cause analysis (five whys,
//! contributing factors) and its known error, published as a knowledge-base article; the
//! open incidents a problem resolves when it is resolved; and repeat incidents that suggest
//! a problem nobody has opened yet.
//!
//! A problem is a ticket of type `problem`; an incident is linked to it with a `caused_by`
//! link, so the ticket pages and the API's links show it too.

use std::cmp::Reverse;

use jiff::Timestamp;
use opsdesk_domain::knowledge::Audience;
use opsdesk_domain::ticket::{LinkType, ResolutionNote, TicketStatus, TicketType};
use opsdesk_store::Conn;
use opsdesk_store::problems::{self as store, AnalysisRow, Cluster, LinkedTicketRow};
use opsdesk_store::tickets::{self as tickets_store, TicketRow};
use serde::{Deserialize, Serialize};

use crate::audit::{Action, Entity, Event};
use crate::change::{Need, Tx};
use crate::knowledge::NewArticle;
use crate::tickets::{Ticket, TicketPatch, find_visible, number_of, patch_ticket, timeline};
use crate::{App, AppError, FieldError, Precondition, Principal, TicketEventKind, timestamp};

/// Most answers to "why?" an analysis keeps: five is the method, ten leaves room.
const MOST_WHYS: usize = 10;
/// Longest answer to one "why?", in characters.
const MOST_WHY_CHARS: usize = 1_000;
/// Longest contributing factors, root cause or workaround, in characters.
const MOST_TEXT_CHARS: usize = 10_000;
/// Most incidents linked in one request.
const MOST_INCIDENTS: usize = 100;
/// Incidents in the window that make an item or category a candidate problem.
const REPEAT_LEAST: usize = 3;
/// How far back repeat incidents are counted.
const REPEAT_WINDOW_MS: i64 = 30 * 86_400_000;
/// Incidents read per kind of cluster: more candidates than a page shows help nobody.
const MOST_REPEAT_ROWS: i64 = 500;
/// The title of a known error's article starts with this, before the problem's title.
const KNOWN_ERROR_TITLE: &str = "Known error: ";
/// Longest article title, in characters (the knowledge base's limit).
const MOST_ARTICLE_TITLE_CHARS: usize = 200;

/// A ticket linked to a problem as caused by it (an incident), or the problem an incident
/// is linked to.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProblemIncident {
    /// Its number, `INC-42` (or `PRB-3` for a problem).
    pub number: String,
    pub title: String,
    /// `new`, `open`, `pending`, `resolved`, `closed` or `cancelled`.
    pub status: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<LinkedTicketRow> for ProblemIncident {
    fn from(row: LinkedTicketRow) -> Self {
        Self {
            number: number_of(&row.ticket_type, row.number),
            title: row.title,
            status: row.status,
            created_at: timestamp(row.created_at),
        }
    }
}

/// A problem's root-cause analysis and known error.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProblemAnalysis {
    /// The problem's number, `PRB-3`.
    pub problem: String,
    /// The answers to "why?", in order.
    pub whys: Vec<String>,
    pub contributing_factors: String,
    pub root_cause: String,
    pub workaround: String,
    /// Whether the root cause or a workaround is known and documented.
    pub known_error: bool,
    /// The knowledge-base article the known error is published as.
    pub article_id: Option<i64>,
}

/// A problem's analysis as written; it replaces the one before.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProblemAnalysis {
    /// The answers to "why?", in order, at most 10; empty ones are left out.
    #[serde(default)]
    pub whys: Vec<String>,
    #[serde(default)]
    pub contributing_factors: String,
    #[serde(default)]
    pub root_cause: String,
    #[serde(default)]
    pub workaround: String,
    /// A known error needs its root cause or a workaround.
    #[serde(default)]
    pub known_error: bool,
    /// Publish the known error as a knowledge-base article (written anew or brought up to
    /// date): `internal` (staff only) or `public`; `none` or absent leaves any article as
    /// it is. An article approver publishes it; anyone else submits it for review.
    #[serde(default)]
    pub publish: Option<String>,
}

/// Incidents that keep happening to one item or in one category and that no problem covers
/// yet: a problem worth opening.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProblemCandidate {
    /// `item` (a configuration item) or `category`.
    pub kind: String,
    /// The item's or category's id.
    pub id: i64,
    pub name: String,
    /// Its incidents of the last 30 days that no problem covers, oldest first.
    pub incidents: Vec<String>,
}

impl App {
    /// Links incidents to a problem as caused by it (staff), with a timeline entry on both;
    /// incidents already linked are left as they are. Answers the problem's incidents.
    pub async fn link_problem_incidents(
        &self,
        principal: &Principal,
        problem: &str,
        incidents: Vec<String>,
    ) -> Result<Vec<ProblemIncident>, AppError> {
        let reference = problem.to_owned();
        let (problem, newly_linked, linked) = self
            .change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move {
                    let problem = find_problem(tx.conn, tx.principal, &reference).await?;
                    let found = find_incidents(tx.conn, tx.principal, &incidents).await?;
                    let newly_linked = link_incidents(&mut tx, &problem, &found).await?;
                    let linked = incidents_of(tx.conn, tx.principal, problem.id).await?;
                    Ok((problem, newly_linked, linked))
                })
            })
            .await?;
        let number = number_of(&problem.ticket_type, problem.number);
        if !newly_linked.is_empty() {
            self.publish(problem.id, &number, TicketEventKind::Linked, principal);
        }
        for (id, number) in &newly_linked {
            self.publish(*id, number, TicketEventKind::Linked, principal);
        }
        Ok(linked)
    }

    /// The tickets linked to a problem as caused by it (staff), oldest first.
    pub async fn problem_incidents(
        &self,
        principal: &Principal,
        problem: &str,
    ) -> Result<Vec<ProblemIncident>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let problem = find_problem(&mut conn, principal, problem).await?;
        incidents_of(&mut conn, principal, problem.id).await
    }

    /// The problems a ticket is linked to as caused by them (staff).
    pub async fn ticket_problems(
        &self,
        principal: &Principal,
        ticket: &str,
    ) -> Result<Vec<ProblemIncident>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let row = find_visible(&mut conn, principal, ticket).await?;
        Ok(store::problems_of_incident(&mut conn, row.id)
            .await?
            .into_iter()
            .filter(|problem| principal.can_see_organization(problem.organization_id))
            .map(ProblemIncident::from)
            .collect())
    }

    /// A problem's analysis (staff); empty until someone writes it.
    pub async fn problem_analysis(
        &self,
        principal: &Principal,
        problem: &str,
    ) -> Result<ProblemAnalysis, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let problem = find_problem(&mut conn, principal, problem).await?;
        let row = store::analysis(&mut conn, problem.id)
            .await?
            .unwrap_or_default();
        analysis_view(&problem, row)
    }

    /// Writes a problem's analysis (staff) and, when it is a known error to publish, its
    /// knowledge-base article, linked to the problem; all in one transaction.
    pub async fn save_problem_analysis(
        &self,
        principal: &Principal,
        problem: &str,
        input: NewProblemAnalysis,
    ) -> Result<ProblemAnalysis, AppError> {
        principal.require_staff()?;
        let (mut analysis, publish) = check_analysis(input)?;
        let categories = crate::knowledge::category_paths(self).await?;
        let reference = problem.to_owned();
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let problem = find_problem(tx.conn, tx.principal, &reference).await?;
                let before = store::analysis(tx.conn, problem.id)
                    .await?
                    .unwrap_or_default();
                analysis.article_id = before.article_id;
                let mut published = None;
                if let Some(audience) = publish {
                    let input = known_error_article(&problem, &analysis, audience);
                    let article = crate::knowledge::write_kept_article(
                        &mut tx,
                        before.article_id,
                        input,
                        &categories,
                    )
                    .await?;
                    crate::knowledge::link_to_ticket(&mut tx, &problem, &article).await?;
                    analysis.article_id = Some(article.id);
                    published = Some(article.title);
                }
                store::save_analysis(tx.conn, problem.id, &analysis, tx.now).await?;
                tickets_store::touch(tx.conn, problem.id, tx.now, None, 0).await?;
                let mut batch = tx.batch();
                timeline(
                    &mut batch,
                    problem.id,
                    tx.now,
                    tx.actor,
                    "problem_analysis",
                    false,
                    serde_json::json!({
                        "known_error": analysis.known_error != 0,
                        "published": published,
                    }),
                );
                let before = analysis_view(&problem, before)?;
                let after = analysis_view(&problem, analysis)?;
                tx.record_with(
                    batch,
                    Event::updated(Entity::Ticket, problem.id, &before, &after),
                )
                .await?;
                Ok(after)
            })
        })
        .await
    }

    /// Candidate problems (staff): the items and categories with at least three incidents
    /// in the last 30 days that no problem covers, counting only incidents `principal` may
    /// see; the most incidents first.
    pub async fn problem_candidates(
        &self,
        principal: &Principal,
    ) -> Result<Vec<ProblemCandidate>, AppError> {
        principal.require_staff()?;
        let since = self.now_ms() - REPEAT_WINDOW_MS;
        let least = i64::try_from(REPEAT_LEAST).unwrap_or(i64::MAX);
        let mut conn = self.db().reader().await?;
        let mut candidates = Vec::new();
        for (by, kind) in [(Cluster::Item, "item"), (Cluster::Category, "category")] {
            let rows = store::repeat_incidents(&mut conn, by, since, least, MOST_REPEAT_ROWS)
                .await?
                .into_iter()
                .filter(|row| principal.can_see_organization(row.organization_id));
            let mut clusters: Vec<ProblemCandidate> = Vec::new();
            // The rows come grouped by cluster.
            for row in rows {
                let number = number_of(&row.ticket_type, row.number);
                match clusters.last_mut() {
                    Some(cluster) if cluster.id == row.cluster_id => {
                        cluster.incidents.push(number);
                    }
                    _ => clusters.push(ProblemCandidate {
                        kind: kind.to_owned(),
                        id: row.cluster_id,
                        name: row.cluster_name,
                        incidents: vec![number],
                    }),
                }
            }
            candidates.extend(
                clusters
                    .into_iter()
                    .filter(|cluster| cluster.incidents.len() >= REPEAT_LEAST),
            );
        }
        // Counted again after the visibility filter, so sorted again.
        candidates.sort_by_key(|candidate| Reverse(candidate.incidents.len()));
        Ok(candidates)
    }
}

/// Problem `reference` (`PRB-3` or an id): a ticket of type problem `principal` may see.
async fn find_problem(
    conn: &mut Conn,
    principal: &Principal,
    reference: &str,
) -> Result<TicketRow, AppError> {
    let row = find_visible(conn, principal, reference).await?;
    if row.ticket_type != TicketType::Problem.as_str() {
        return Err(AppError::NotFound("problem"));
    }
    Ok(row)
}

/// The incidents `references` name, each a ticket of type incident `principal` may see;
/// every one that is not is named as `incidents[i]`.
async fn find_incidents(
    conn: &mut Conn,
    principal: &Principal,
    references: &[String],
) -> Result<Vec<TicketRow>, AppError> {
    if references.is_empty() || references.len() > MOST_INCIDENTS {
        return Err(AppError::invalid(
            "incidents",
            format!("name 1 to {MOST_INCIDENTS} incidents"),
        ));
    }
    let mut found = Vec::with_capacity(references.len());
    let mut errors = Vec::new();
    for (index, reference) in references.iter().enumerate() {
        let field = format!("incidents[{index}]");
        match find_visible(conn, principal, reference.trim()).await {
            Ok(row) if row.ticket_type == TicketType::Incident.as_str() => found.push(row),
            Ok(row) => errors.push(FieldError::new(
                field,
                format!(
                    "{} is not an incident",
                    number_of(&row.ticket_type, row.number)
                ),
            )),
            Err(AppError::NotFound(_)) => {
                errors.push(FieldError::new(field, format!("no incident `{reference}`")));
            }
            Err(other) => return Err(other),
        }
    }
    if errors.is_empty() {
        Ok(found)
    } else {
        Err(AppError::Invalid(errors))
    }
}

/// Links `incidents` to `problem` in the caller's change: a timeline entry on both tickets
/// for each new link, one audit entry for all. Returns the incidents newly linked (id and
/// number).
async fn link_incidents(
    tx: &mut Tx<'_>,
    problem: &TicketRow,
    incidents: &[TicketRow],
) -> Result<Vec<(i64, String)>, AppError> {
    let problem_number = number_of(&problem.ticket_type, problem.number);
    let mut batch = tx.batch();
    let mut newly_linked = Vec::new();
    for incident in incidents {
        if !store::link_incident(tx.conn, incident.id, problem.id, tx.now).await? {
            continue;
        }
        tickets_store::touch(tx.conn, incident.id, tx.now, None, 0).await?;
        let incident_number = number_of(&incident.ticket_type, incident.number);
        timeline(
            &mut batch,
            incident.id,
            tx.now,
            tx.actor,
            "linked",
            false,
            serde_json::json!({"type": LinkType::CausedBy.as_str(), "target": problem_number}),
        );
        timeline(
            &mut batch,
            problem.id,
            tx.now,
            tx.actor,
            "linked",
            false,
            serde_json::json!({"type": "causes", "target": incident_number}),
        );
        newly_linked.push((incident.id, incident_number));
    }
    if newly_linked.is_empty() {
        return Ok(newly_linked);
    }
    tickets_store::touch(tx.conn, problem.id, tx.now, None, 0).await?;
    let numbers: Vec<&str> = newly_linked.iter().map(|(_, n)| n.as_str()).collect();
    let event = Event {
        entity: Entity::Ticket,
        entity_id: problem.id,
        action: Action::Linked,
        before: None,
        after: Some(serde_json::json!({"problem": problem_number, "incidents": numbers})),
    };
    tx.record_with(batch, event).await?;
    Ok(newly_linked)
}

/// The tickets linked to problem `problem_id` that `principal` may see.
async fn incidents_of(
    conn: &mut Conn,
    principal: &Principal,
    problem_id: i64,
) -> Result<Vec<ProblemIncident>, AppError> {
    let restricted = principal.restricted_filter();
    Ok(
        store::incidents_of_problem(conn, problem_id, restricted.as_deref())
            .await?
            .into_iter()
            .filter(|incident| principal.can_see_organization(incident.organization_id))
            .map(ProblemIncident::from)
            .collect(),
    )
}

/// Checks an analysis as written: the row to store (its article still to be set) and where
/// to publish the known error, if anywhere.
fn check_analysis(input: NewProblemAnalysis) -> Result<(AnalysisRow, Option<Audience>), AppError> {
    let mut errors = Vec::new();
    let whys: Vec<String> = input
        .whys
        .iter()
        .map(|why| why.trim())
        .filter(|why| !why.is_empty())
        .map(str::to_owned)
        .collect();
    if whys.len() > MOST_WHYS {
        errors.push(FieldError::new(
            "whys",
            format!("at most {MOST_WHYS} answers to \"why?\""),
        ));
    }
    for (index, why) in whys.iter().enumerate() {
        if why.chars().count() > MOST_WHY_CHARS {
            errors.push(FieldError::new(
                format!("whys[{index}]"),
                format!("at most {MOST_WHY_CHARS} characters"),
            ));
        }
    }
    let mut text = |field: &str, value: &str| {
        let value = value.trim();
        if value.chars().count() > MOST_TEXT_CHARS {
            errors.push(FieldError::new(
                field,
                format!("at most {MOST_TEXT_CHARS} characters"),
            ));
        }
        value.to_owned()
    };
    let contributing_factors = text("contributing_factors", &input.contributing_factors);
    let root_cause = text("root_cause", &input.root_cause);
    let workaround = text("workaround", &input.workaround);
    if input.known_error && root_cause.is_empty() && workaround.is_empty() {
        errors.push(FieldError::new(
            "workaround",
            "a known error needs its root cause or a workaround",
        ));
    }
    let publish = match input.publish.as_deref().map(str::trim) {
        None | Some("" | "none") => None,
        Some("internal") => Some(Audience::Internal),
        Some("public") => Some(Audience::Public),
        Some(_) => {
            errors.push(FieldError::new(
                "publish",
                "must be `none`, `internal` or `public`",
            ));
            None
        }
    };
    if publish.is_some() && !input.known_error {
        errors.push(FieldError::new(
            "publish",
            "only a known error is published",
        ));
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let whys = serde_json::to_string(&whys)
        .map_err(|e| AppError::internal("writing a problem's whys", e))?;
    let row = AnalysisRow {
        whys,
        contributing_factors,
        root_cause,
        workaround,
        known_error: i64::from(input.known_error),
        article_id: None,
    };
    Ok((row, publish))
}

fn analysis_view(problem: &TicketRow, row: AnalysisRow) -> Result<ProblemAnalysis, AppError> {
    let whys = serde_json::from_str(&row.whys)
        .map_err(|e| AppError::internal(format!("the whys of problem {}", problem.id), e))?;
    Ok(ProblemAnalysis {
        problem: number_of(&problem.ticket_type, problem.number),
        whys,
        contributing_factors: row.contributing_factors,
        root_cause: row.root_cause,
        workaround: row.workaround,
        known_error: row.known_error != 0,
        article_id: row.article_id,
    })
}

/// The article a known error is published as: "Known error: <the problem's title>", its
/// root cause and workaround in Markdown.
fn known_error_article(
    problem: &TicketRow,
    analysis: &AnalysisRow,
    audience: Audience,
) -> NewArticle {
    let room = MOST_ARTICLE_TITLE_CHARS - KNOWN_ERROR_TITLE.chars().count();
    let title: String = problem.title.chars().take(room).collect();
    let mut body = String::new();
    for (heading, text) in [
        ("Root cause", &analysis.root_cause),
        ("Workaround", &analysis.workaround),
    ] {
        if !text.is_empty() {
            body.push_str(&format!("## {heading}\n\n{text}\n\n"));
        }
    }
    body.push_str(&format!(
        "Known error of problem {}.",
        number_of(&problem.ticket_type, problem.number)
    ));
    NewArticle {
        title: format!("{KNOWN_ERROR_TITLE}{}", title.trim()),
        body,
        audience: Some(audience.as_str().to_owned()),
        tags: vec!["known-error".to_owned()],
        ..NewArticle::default()
    }
}

/// Resolving (or closing) problem `problem` resolves the incidents it caused that are still
/// open, each with a note that names the problem and its fix: the root cause, else the
/// workaround, else the problem's own resolution note.
pub(crate) async fn resolve_incidents_of(
    tx: &mut Tx<'_>,
    problem: &Ticket,
) -> Result<(), AppError> {
    let analysis = store::analysis(tx.conn, problem.id)
        .await?
        .unwrap_or_default();
    let fix = [analysis.root_cause, analysis.workaround]
        .into_iter()
        .chain(problem.resolution_note.clone())
        .find(|text| !text.trim().is_empty());
    let note = match fix {
        Some(fix) => format!("Resolved with problem {}: {}", problem.number, fix.trim()),
        None => format!("Resolved with problem {}.", problem.number),
    };
    let note: String = note.chars().take(ResolutionNote::MAX_CHARS).collect();
    // Every incident the problem caused is resolved with it, restricted ones included.
    for incident in store::incidents_of_problem(tx.conn, problem.id, None).await? {
        let active = incident
            .status
            .parse::<TicketStatus>()
            .is_ok_and(TicketStatus::is_active);
        if !active {
            continue;
        }
        let Some(row) = tickets_store::get(tx.conn, incident.id).await? else {
            continue;
        };
        let patch = TicketPatch {
            status: Some(TicketStatus::Resolved.as_str().to_owned()),
            resolution_code: Some("fixed".to_owned()),
            resolution_note: Some(note.clone()),
            ..TicketPatch::default()
        };
        Box::pin(patch_ticket(tx, row, Precondition::Any, patch)).await?;
    }
    Ok(())
}
