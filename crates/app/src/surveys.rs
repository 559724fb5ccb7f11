//! Satisfaction surveys: resolving a ticket opens a survey and mails its requester five
//! one-click score links; the requester rates 1 to 5 with an optional comment from the
//! link's page or the portal, and may change the answer until the survey expires. A low
//! score mails the ticket group's lead; the answers add up to the summary reports read.

use std::ops::Range;

use jiff::Timestamp;
use opsdesk_domain::ticket::{Source, TicketStatus, TicketType};
use opsdesk_store::Conn;
use opsdesk_store::accounts as account_store;
use opsdesk_store::surveys::{
    self as store, GroupLeadRow, NewSurvey, SettingsRow, SurveyFilter, SurveyRow,
};
use opsdesk_store::tickets as ticket_store;
use serde::{Deserialize, Serialize};

use crate::audit::{Entity, Event};
use crate::change::{Need, Tx};
use crate::clock::{random_secret, secret_hash};
use crate::jobs::{self, JobError, JobKind};
use crate::mail::{PersonalMail, html_escape};
use crate::tickets::{Ticket, find_visible, number_of, timeline};
use crate::{App, AppError, FieldError, Principal, Via, timestamp};

/// How long a survey can be answered, and its answer changed, after the resolution.
pub const ANSWER_DAYS: i64 = 30;
/// Longest comment, in characters.
const MOST_COMMENT_CHARS: usize = 2_000;
/// The span a list or summary covers when the caller names none.
const DEFAULT_RANGE_DAYS: i64 = 30;

/// A score from 1 (very dissatisfied) to 5 (very satisfied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Score(i64);

impl Score {
    pub fn value(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for Score {
    type Error = FieldError;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        if (1..=5).contains(&value) {
            Ok(Score(value))
        } else {
            Err(FieldError::new("score", "a score from 1 to 5"))
        }
    }
}

impl std::str::FromStr for Score {
    type Err = FieldError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.trim()
            .parse::<i64>()
            .map_err(|_| FieldError::new("score", "a score from 1 to 5"))
            .and_then(Score::try_from)
    }
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Mail,
    Portal,
}

impl Channel {
    fn as_str(self) -> &'static str {
        match self {
            Channel::Mail => "mail",
            Channel::Portal => "portal",
        }
    }
}

/// One survey: a resolution of a ticket, and its requester's answer once given.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Survey {
    pub id: i64,
    /// The ticket's number, e.g. `INC-42`.
    pub ticket: String,
    pub title: String,
    pub organization_id: Option<i64>,
    pub group: Option<String>,
    pub assignee: Option<String>,
    pub requester: String,
    /// When the ticket was resolved and the survey offered.
    #[schema(value_type = String, format = DateTime)]
    pub sent_at: Timestamp,
    /// Until when it can be answered, or the answer changed.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    /// 1 to 5; absent while unanswered.
    pub score: Option<i64>,
    pub comment: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub answered_at: Option<Timestamp>,
    /// `mail` or `portal`: where the last answer came from.
    pub channel: Option<String>,
}

impl From<SurveyRow> for Survey {
    fn from(row: SurveyRow) -> Self {
        Survey {
            id: row.id,
            ticket: number_of(&row.ticket_type, row.ticket_number),
            title: row.ticket_title,
            organization_id: row.organization_id,
            group: row.group_name,
            assignee: row.assignee_email,
            requester: row.requester_email,
            sent_at: timestamp(row.sent_at),
            expires_at: timestamp(row.expires_at),
            score: row.score,
            comment: row.comment,
            answered_at: row.answered_at.map(timestamp),
            channel: row.channel,
        }
    }
}

/// A requester's answer.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rating {
    /// 1 (very dissatisfied) to 5 (very satisfied).
    pub score: i64,
    #[serde(default)]
    pub comment: String,
}

/// What a survey's page shows: the survey, and whether it can still be answered.
#[derive(Debug, Clone)]
pub struct SurveyForm {
    pub survey: Survey,
    pub open: bool,
}

/// Which surveys a list covers.
#[derive(Debug, Clone, Default)]
pub struct SurveyQuery {
    /// Sent at or after; 30 days before `to` when absent.
    pub from: Option<Timestamp>,
    /// Sent before; now when absent.
    pub to: Option<Timestamp>,
    pub organization: Option<i64>,
    pub score: Option<i64>,
}

/// The answers of a time range added up.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SurveySummary {
    /// Surveys offered (tickets resolved) in the range.
    pub sent: i64,
    /// Of those, the answered ones.
    pub answered: i64,
    /// `answered / sent`, from 0 to 1; 0 when none was sent.
    pub response_rate: f64,
    /// The mean score of the answers; absent without answers.
    pub average: Option<f64>,
    /// How many answers gave each score, 1 to 5.
    pub distribution: [i64; 5],
    /// The share of answers scoring 4 or 5, in percent; absent without answers.
    pub csat_percent: Option<f64>,
}

impl SurveySummary {
    /// The summary of survey counts by score (`None`: unanswered).
    fn of(counts: &[(Option<i64>, i64)]) -> Self {
        let mut distribution = [0_i64; 5];
        let mut sent = 0;
        for (score, count) in counts {
            sent += count;
            if let Some(slot) = score
                .and_then(|s| usize::try_from(s - 1).ok())
                .and_then(|i| distribution.get_mut(i))
            {
                *slot += count;
            }
        }
        let answered: i64 = distribution.iter().sum();
        let points: i64 = distribution
            .iter()
            .zip(1..)
            .map(|(count, score)| count * score)
            .sum();
        let ratio = |part: i64, whole: i64| (whole > 0).then(|| part as f64 / whole as f64);
        SurveySummary {
            sent,
            answered,
            response_rate: ratio(answered, sent).unwrap_or(0.0),
            average: ratio(points, answered),
            distribution,
            csat_percent: ratio(distribution[3] + distribution[4], answered).map(|r| r * 100.0),
        }
    }
}

/// The survey settings (admins).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SurveySettings {
    /// Whether resolving a ticket offers a survey.
    pub enabled: bool,
    /// The ticket types surveyed: `incident`, `service_request`, `problem`.
    pub ticket_types: Vec<String>,
    /// A score at or below this mails the group's lead (0: never), 0 to 4.
    pub low_score_threshold: i64,
}

impl From<SettingsRow> for SurveySettings {
    fn from(row: SettingsRow) -> Self {
        SurveySettings {
            enabled: row.enabled != 0,
            ticket_types: row
                .ticket_types
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
            low_score_threshold: row.low_score_threshold,
        }
    }
}

/// A support group and its lead, who is mailed the group's low scores.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupLead {
    pub group_id: i64,
    pub group: String,
    /// The lead's e-mail address; without one, low scores go to the group's members.
    pub lead: Option<String>,
}

impl From<GroupLeadRow> for GroupLead {
    fn from(row: GroupLeadRow) -> Self {
        GroupLead {
            group_id: row.id,
            group: row.name,
            lead: row.lead,
        }
    }
}

/// Who leads a group.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroupLead {
    /// An active agent's or admin's e-mail address; null for none.
    pub lead: Option<String>,
}

/// Opens a survey for `ticket`, just resolved in `tx`, and queues the mail to its requester:
/// not for imported tickets, ticket types not surveyed, or the stand-in requester of
/// imported tickets that named none. An earlier survey of the ticket still open ends.
pub(crate) async fn offer(tx: &mut Tx<'_>, ticket: &Ticket) -> Result<(), AppError> {
    let settings = store::settings(tx.conn).await?;
    let surveyed = settings
        .ticket_types
        .split(',')
        .any(|t| t == ticket.ticket_type.as_str());
    if settings.enabled == 0 || !surveyed || tx.rule_depth.is_none() {
        return Ok(());
    }
    let Some(row) = ticket_store::get(tx.conn, ticket.id).await? else {
        return Ok(());
    };
    // The stand-in requester's address is in the reserved `.invalid` domain: nobody reads it.
    if row.source == Source::Import.as_str() || row.requester_email.ends_with(".invalid") {
        return Ok(());
    }
    let id = store::insert_survey(
        tx.conn,
        NewSurvey {
            ticket_id: row.id,
            organization_id: row.organization_id,
            group_id: row.group_id,
            assignee_id: row.assignee_id,
            requester_id: row.requester_id,
            sent_at: tx.now,
            expires_at: tx.now + ANSWER_DAYS * 86_400_000,
        },
    )
    .await?;
    let mut batch = tx.batch();
    if tx.notify {
        jobs::queue(
            &mut batch,
            JobKind::SurveyRequest,
            &serde_json::json!({"survey_id": id}),
            tx.now,
        );
    }
    let survey = store::survey(tx.conn, id)
        .await?
        .map(Survey::from)
        .ok_or(AppError::NotFound("survey"))?;
    tx.record_with(batch, Event::created(Entity::Survey, id, &survey))
        .await
}

/// The organizations a list or summary may cover for `principal`, narrowed to
/// `organization` when given: one the principal may not see is not found.
fn scope(principal: &Principal, organization: Option<i64>) -> Result<Option<Vec<i64>>, AppError> {
    match (principal.organization_filter(), organization) {
        (None, asked) => Ok(asked.map(|o| vec![o])),
        (Some(visible), None) => Ok(Some(visible)),
        (Some(visible), Some(asked)) if visible.contains(&asked) => Ok(Some(vec![asked])),
        (Some(_), Some(_)) => Err(AppError::NotFound("organization")),
    }
}

/// The stored-time range `[from, to)`, or why it is not one.
fn range_of(
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    now: i64,
) -> Result<Range<i64>, AppError> {
    let to = to.map_or(now, |t| t.as_millisecond());
    let from = from.map_or(to - DEFAULT_RANGE_DAYS * 86_400_000, |t| t.as_millisecond());
    if from >= to {
        return Err(AppError::invalid("to", "must be later than `from`"));
    }
    Ok(from..to)
}

fn check_rating(rating: &Rating) -> Result<(Score, String), AppError> {
    let mut errors = Vec::new();
    let score = Score::try_from(rating.score)
        .map_err(|e| errors.push(e))
        .ok();
    let comment = rating.comment.trim().to_owned();
    if comment.chars().count() > MOST_COMMENT_CHARS {
        errors.push(FieldError::new(
            "comment",
            format!("at most {MOST_COMMENT_CHARS} characters"),
        ));
    }
    match score {
        Some(score) if errors.is_empty() => Ok((score, comment)),
        _ => Err(AppError::Invalid(errors)),
    }
}

/// Records `rating` on survey `id` in `tx`: the answer, a staff-only timeline entry on the
/// ticket, and, when the score falls to the low-score threshold or below, a mail to the
/// group's lead.
async fn answer(
    tx: &mut Tx<'_>,
    id: i64,
    score: Score,
    comment: &str,
    channel: Channel,
) -> Result<Survey, AppError> {
    let before = store::survey(tx.conn, id)
        .await?
        .ok_or(AppError::NotFound("survey"))?;
    if tx.now >= before.expires_at {
        return Err(AppError::Conflict {
            field: None,
            message: "this survey has closed: it can no longer be answered or changed".into(),
        });
    }
    store::answer(
        tx.conn,
        id,
        score.value(),
        comment,
        channel.as_str(),
        tx.now,
    )
    .await?;
    let mut batch = tx.batch();
    timeline(
        &mut batch,
        before.ticket_id,
        tx.now,
        tx.actor,
        "rated",
        false,
        serde_json::json!({"score": score.value(), "comment": comment, "channel": channel.as_str()}),
    );
    let threshold = store::settings(tx.conn).await?.low_score_threshold;
    let was_low = before.score.is_some_and(|s| s <= threshold);
    if score.value() <= threshold && !was_low && tx.notify {
        for (user_id, _) in store::low_score_recipients(tx.conn, before.group_id).await? {
            jobs::queue(
                &mut batch,
                JobKind::SurveyLowScore,
                &serde_json::json!({"survey_id": id, "user_id": user_id}),
                tx.now,
            );
        }
    }
    let after = store::survey(tx.conn, id)
        .await?
        .map(Survey::from)
        .ok_or(AppError::NotFound("survey"))?;
    tx.record_with(
        batch,
        Event::updated(Entity::Survey, id, &Survey::from(before), &after),
    )
    .await?;
    Ok(after)
}

impl App {
    /// The requester a survey's link was mailed to, signed in by its secret (as if by mail),
    /// and the survey. An unknown link is not found.
    async fn survey_link_principal(&self, token: &str) -> Result<(Principal, SurveyRow), AppError> {
        let mut conn = self.db().reader().await?;
        let row = store::survey_by_token(&mut conn, &secret_hash(token))
            .await?
            .ok_or(AppError::NotFound("survey"))?;
        let user = account_store::get_user(&mut conn, row.requester_id)
            .await?
            .ok_or(AppError::NotFound("survey"))?;
        let principal = crate::auth::principal_for(&mut conn, &user, Via::Mail).await?;
        Ok((principal, row))
    }

    /// What a mailed survey link shows. Reading it records nothing: mail scanners follow
    /// links.
    pub async fn survey_by_link(&self, token: &str) -> Result<SurveyForm, AppError> {
        let (_, row) = self.survey_link_principal(token).await?;
        Ok(SurveyForm {
            open: self.now_ms() < row.expires_at,
            survey: Survey::from(row),
        })
    }

    /// Answers (or changes the answer of) a survey through its mailed link.
    pub async fn rate_by_link(&self, token: &str, rating: Rating) -> Result<Survey, AppError> {
        let (score, comment) = check_rating(&rating)?;
        let (principal, row) = self.survey_link_principal(token).await?;
        self.change(&principal, Need::Anyone, move |mut tx| {
            Box::pin(async move { answer(&mut tx, row.id, score, &comment, Channel::Mail).await })
        })
        .await
    }

    /// The latest survey of a ticket, as its requester or staff see it: `None` when the
    /// ticket has none or the principal is a customer other than its requester.
    pub async fn ticket_survey(
        &self,
        principal: &Principal,
        reference: &str,
    ) -> Result<Option<SurveyForm>, AppError> {
        let mut conn = self.db().reader().await?;
        let ticket = find_visible(&mut conn, principal, reference).await?;
        if !principal.role.is_staff() && principal.user_id != Some(ticket.requester_id) {
            return Ok(None);
        }
        let now = self.now_ms();
        Ok(store::latest_of_ticket(&mut conn, ticket.id)
            .await?
            .map(|row| SurveyForm {
                open: now < row.expires_at,
                survey: Survey::from(row),
            }))
    }

    /// Answers (or changes the answer of) the open survey of a resolved or closed ticket,
    /// as its requester signed in (the portal's form, or the API).
    pub async fn rate_ticket(
        &self,
        principal: &Principal,
        reference: &str,
        rating: Rating,
    ) -> Result<Survey, AppError> {
        let (score, comment) = check_rating(&rating)?;
        let reference = reference.to_owned();
        self.change(principal, Need::Anyone, move |mut tx| {
            Box::pin(async move {
                let ticket = find_visible(tx.conn, tx.principal, &reference).await?;
                if tx.principal.user_id != Some(ticket.requester_id) {
                    return Err(AppError::Forbidden(
                        "only the ticket's requester rates its resolution".into(),
                    ));
                }
                let done = [
                    TicketStatus::Resolved.as_str(),
                    TicketStatus::Closed.as_str(),
                ];
                let survey = match store::latest_of_ticket(tx.conn, ticket.id).await? {
                    Some(survey) if done.contains(&ticket.status.as_str()) => survey,
                    _ => {
                        return Err(AppError::Conflict {
                            field: None,
                            message: "this ticket has no survey to answer".into(),
                        });
                    }
                };
                answer(&mut tx, survey.id, score, &comment, Channel::Portal).await
            })
        })
        .await
    }

    /// Surveys sent in a time range, newest first, those with an id below `before`: staff
    /// see those of the organizations they may see, a customer their organization's.
    pub async fn surveys(
        &self,
        principal: &Principal,
        query: &SurveyQuery,
        before: i64,
        limit: i64,
    ) -> Result<Vec<Survey>, AppError> {
        let filter = self.survey_filter(principal, query)?;
        let mut conn = self.db().reader().await?;
        Ok(store::list(&mut conn, &filter, before, limit)
            .await?
            .into_iter()
            .map(Survey::from)
            .collect())
    }

    /// The surveys sent in `range` added up, for the principal's organizations (narrowed
    /// to `organization` when given): what the satisfaction report shows.
    pub async fn satisfaction_summary(
        &self,
        principal: &Principal,
        range: Range<Timestamp>,
        organization: Option<i64>,
    ) -> Result<SurveySummary, AppError> {
        let filter = self.survey_filter(
            principal,
            &SurveyQuery {
                from: Some(range.start),
                to: Some(range.end),
                organization,
                score: None,
            },
        )?;
        let mut conn = self.db().reader().await?;
        Ok(SurveySummary::of(
            &store::counts_by_score(&mut conn, &filter).await?,
        ))
    }

    fn survey_filter(
        &self,
        principal: &Principal,
        query: &SurveyQuery,
    ) -> Result<SurveyFilter, AppError> {
        let score = match query.score {
            Some(score) => Some(Score::try_from(score).map_err(|e| AppError::Invalid(vec![e]))?),
            None => None,
        };
        let range = range_of(query.from, query.to, self.now_ms())?;
        Ok(SurveyFilter {
            from: range.start,
            to: range.end,
            organizations: scope(principal, query.organization)?,
            score: score.map(Score::value),
        })
    }

    /// The survey settings (admins).
    pub async fn survey_settings(&self, principal: &Principal) -> Result<SurveySettings, AppError> {
        principal.require_admin()?;
        let mut conn = self.db().reader().await?;
        Ok(store::settings(&mut conn).await?.into())
    }

    /// Replaces the survey settings (admins).
    pub async fn set_survey_settings(
        &self,
        principal: &Principal,
        settings: SurveySettings,
    ) -> Result<SurveySettings, AppError> {
        let mut errors = Vec::new();
        let mut types: Vec<&str> = Vec::new();
        for (index, kind) in settings.ticket_types.iter().enumerate() {
            match kind.parse::<TicketType>() {
                Ok(kind) if !types.contains(&kind.as_str()) => types.push(kind.as_str()),
                Ok(_) => {}
                Err(_) => errors.push(FieldError::new(
                    format!("ticket_types[{index}]"),
                    "`incident`, `service_request` or `problem`",
                )),
            }
        }
        if !(0..=4).contains(&settings.low_score_threshold) {
            errors.push(FieldError::new("low_score_threshold", "from 0 to 4"));
        }
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let row = SettingsRow {
            enabled: i64::from(settings.enabled),
            ticket_types: types.join(","),
            low_score_threshold: settings.low_score_threshold,
        };
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let before = SurveySettings::from(store::settings(tx.conn).await?);
                store::save_settings(tx.conn, &row, tx.now).await?;
                let after = SurveySettings::from(row);
                tx.record(Event::updated(Entity::SurveySettings, 1, &before, &after))
                    .await?;
                Ok(after)
            })
        })
        .await
    }

    /// Every group with its lead (staff).
    pub async fn group_leads(&self, principal: &Principal) -> Result<Vec<GroupLead>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        Ok(store::group_leads(&mut conn)
            .await?
            .into_iter()
            .map(GroupLead::from)
            .collect())
    }

    /// Sets (or with `None` clears) the lead of group `group_id` (admins): an active agent
    /// or admin.
    pub async fn set_group_lead(
        &self,
        principal: &Principal,
        group_id: i64,
        lead: Option<String>,
    ) -> Result<GroupLead, AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let lead_id = match lead.as_deref().map(str::trim) {
                    None | Some("") => None,
                    Some(email) => Some(lead_user(tx.conn, email).await?.ok_or_else(|| {
                        AppError::invalid("lead", "no active agent or admin has this address")
                    })?),
                };
                let before = group_lead(tx.conn, group_id).await?;
                if !store::set_group_lead(tx.conn, group_id, lead_id, tx.now).await? {
                    return Err(AppError::NotFound("group"));
                }
                let after = group_lead(tx.conn, group_id).await?;
                tx.record(Event::updated(Entity::Group, group_id, &before, &after))
                    .await?;
                Ok(after)
            })
        })
        .await
    }

    /// Mails a survey's requester its five score links, with a fresh secret (the
    /// `survey.request` job). A survey answered or closed since is not mailed about.
    pub(crate) async fn send_survey_request(
        &self,
        payload: &serde_json::Value,
    ) -> Result<(), JobError> {
        let survey_id = jobs::id_in(payload, "survey_id")?;
        let row = {
            let mut conn = self.db().reader().await?;
            store::survey(&mut conn, survey_id).await?
        };
        let Some(row) = row.filter(|r| r.answered_at.is_none() && self.now_ms() < r.expires_at)
        else {
            return Ok(());
        };
        let secret = random_secret()?;
        let token_hash = secret_hash(&secret);
        let key = format!("survey.{survey_id}.{}", &token_hash[..16]);
        self.system_change("satisfaction survey", move |tx| {
            Box::pin(async move { Ok(store::set_token(tx.conn, survey_id, &token_hash).await?) })
        })
        .await?;
        let number = number_of(&row.ticket_type, row.ticket_number);
        let link = format!("{}/survey/{secret}", self.config().public_url);
        let links: Vec<(i64, String)> = (1..=5).map(|n| (n, format!("{link}?score={n}"))).collect();
        let text = format!(
            "{number} is resolved: {title}\n\n\
             How satisfied are you with how it was handled? Choose a score, from 1 (not at all)\n\
             to 5 (very), and add a comment if you like:\n\n{choices}\n\
             You can change your answer until {until}.\n",
            title = row.ticket_title,
            choices = links
                .iter()
                .map(|(n, url)| format!("{n}: {url}\n"))
                .collect::<String>(),
            until = timestamp(row.expires_at).strftime("%Y-%m-%d"),
        );
        let html = format!(
            "<p><strong>{number}</strong> is resolved: {title}</p>\
             <p>How satisfied are you with how it was handled? Choose a score, from 1 (not at \
             all) to 5 (very), and add a comment if you like:</p><p>{choices}</p>",
            title = html_escape(&row.ticket_title),
            choices = links
                .iter()
                .map(|(n, url)| format!("<a href=\"{url}\">{n}</a> "))
                .collect::<String>(),
        );
        self.send_personal(PersonalMail {
            to: row.requester_email,
            subject: format!("[{number}] How did we do? {}", row.ticket_title),
            text,
            html,
            key,
        })
        .await?;
        Ok(())
    }

    /// Mails one person (the group's lead) a low score with its comment and a link to the
    /// ticket (the `survey.low_score` job).
    pub(crate) async fn send_low_score(&self, payload: &serde_json::Value) -> Result<(), JobError> {
        let field = |name: &str| jobs::id_in(payload, name);
        let (survey_id, user_id) = (field("survey_id")?, field("user_id")?);
        let (row, user) = {
            let mut conn = self.db().reader().await?;
            let Some(row) = store::survey(&mut conn, survey_id).await? else {
                return Ok(());
            };
            let Some(user) = account_store::get_user(&mut conn, user_id).await? else {
                return Ok(());
            };
            (row, user)
        };
        let Some(score) = row.score else {
            return Ok(());
        };
        let number = number_of(&row.ticket_type, row.ticket_number);
        let link = format!("{}/tickets/{number}", self.config().public_url);
        let comment = if row.comment.is_empty() {
            "(no comment)".to_owned()
        } else {
            row.comment.clone()
        };
        let text = format!(
            "{requester} rated the resolution of {number} ({title}) {score} out of 5.\n\n\
             Comment: {comment}\n\nThe ticket: {link}\n",
            requester = row.requester_email,
            title = row.ticket_title,
        );
        let html = format!(
            "<p>{requester} rated the resolution of <strong>{number}</strong> ({title}) \
             <strong>{score} out of 5</strong>.</p><blockquote>{comment}</blockquote>\
             <p><a href=\"{link}\">Open {number}</a></p>",
            requester = html_escape(&row.requester_email),
            title = html_escape(&row.ticket_title),
            comment = html_escape(&comment),
        );
        self.send_personal(PersonalMail {
            to: user.email,
            subject: format!(
                "[{number}] Low satisfaction score {score}/5: {}",
                row.ticket_title
            ),
            text,
            html,
            key: format!(
                "survey.{survey_id}.low.{user_id}.{}",
                row.answered_at.unwrap_or(0)
            ),
        })
        .await?;
        Ok(())
    }
}

/// The active agent or admin with this address.
async fn lead_user(conn: &mut Conn, email: &str) -> Result<Option<i64>, AppError> {
    Ok(account_store::find_user_by_email(conn, email)
        .await?
        .filter(crate::oncall::active_staff)
        .map(|u| u.id))
}

async fn group_lead(conn: &mut Conn, group_id: i64) -> Result<GroupLead, AppError> {
    store::group_leads(conn)
        .await?
        .into_iter()
        .find(|g| g.id == group_id)
        .map(GroupLead::from)
        .ok_or(AppError::NotFound("group"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_one_to_five() {
        for (text, ok) in [
            ("0", false),
            ("1", true),
            ("5", true),
            ("6", false),
            ("x", false),
        ] {
            assert_eq!(text.parse::<Score>().is_ok(), ok, "{text}");
        }
    }

    #[test]
    fn the_summary_adds_up_the_answers() {
        // 6 sent, 4 answered: 5, 4, 2, 1 → mean 3, half of them 4 or 5.
        let summary = SurveySummary::of(&[
            (None, 2),
            (Some(5), 1),
            (Some(4), 1),
            (Some(2), 1),
            (Some(1), 1),
        ]);
        assert_eq!(summary.sent, 6);
        assert_eq!(summary.answered, 4);
        assert_eq!(summary.distribution, [1, 1, 0, 1, 1]);
        assert_eq!(summary.average, Some(3.0));
        assert_eq!(summary.csat_percent, Some(50.0));
        assert!((summary.response_rate - 4.0 / 6.0).abs() < 1e-9);
        let none = SurveySummary::of(&[]);
        assert_eq!(
            (none.response_rate, none.average, none.csat_percent),
            (0.0, None, None)
        );
    }
}
