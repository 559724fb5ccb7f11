//! Approving changes: the board's members (or their delegates while they are away) and,
//! from the template's risk level, a named approver vote in the UI, by API or by a link in
//! the mail each is sent; every vote is recorded with its comment, and the tally decides.
//! An approval left waiting past the template's timeout reminds the members who have not
//! voted and tells the admins.

use std::collections::BTreeSet;

use jiff::Timestamp;
use opsdesk_domain::change::{
    self as rules, ApprovalRule, ApprovalStatus, ChangeState, RiskLevel, Tally,
};
use opsdesk_store::Conn;
use opsdesk_store::accounts as account_store;
use opsdesk_store::changes::{self as store, ChangeRow, MemberRow, TemplateRow};
use serde::{Deserialize, Serialize};

use super::{Change, ChangeSummary, change_number, note, summary, view, visible_change};
use crate::audit::{Action, Entity, Event};
use crate::change::{Need, Tx};
use crate::clock::{random_secret, secret_hash};
use crate::jobs::{self, JobError, JobKind};
use crate::mail::{PersonalMail, html_escape};
use crate::{App, AppError, FieldError, Principal, Via, timestamp};

/// Longest vote comment, in characters.
const MOST_COMMENT_CHARS: usize = 2_000;

/// One member's vote.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChangeVote {
    /// The member it counts for.
    pub member: String,
    /// Who cast it: the member, or their delegate.
    pub cast_by: String,
    /// `approve` or `reject`.
    pub decision: String,
    pub comment: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

/// A vote on a change.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVote {
    /// `approve` or `reject`.
    pub decision: String,
    #[serde(default)]
    pub comment: String,
}

/// What a mailed approval link shows: the change, and who it votes for.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalLink {
    pub change: Change,
    pub voter: String,
    /// Whether this person's vote is already in, or the approval is decided.
    pub done: bool,
}

/// Who votes for a person while they are away.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delegation {
    /// The delegate's e-mail address.
    pub delegate: String,
    #[schema(value_type = String, format = DateTime)]
    pub until: Timestamp,
}

pub(super) async fn votes(conn: &mut Conn, id: i64) -> Result<Vec<ChangeVote>, AppError> {
    Ok(store::votes(conn, id)
        .await?
        .into_iter()
        .map(|v| ChangeVote {
            member: v.member,
            cast_by: v.cast_by,
            decision: v.decision,
            comment: v.comment,
            at: timestamp(v.at),
        })
        .collect())
}

/// Who decides on a change: its board's members, the rule, and the named approver when
/// the change's risk asks for one.
struct Board {
    members: Vec<MemberRow>,
    rule: ApprovalRule,
    named: Option<i64>,
}

async fn board_of(conn: &mut Conn, row: &ChangeRow, now: i64) -> Result<Board, AppError> {
    let template: Option<TemplateRow> = match row.template_id {
        Some(id) => store::template(conn, id).await?,
        None => None,
    };
    let members = match template.as_ref().and_then(|t| t.board_group_id) {
        Some(group) => store::board_members(conn, group, now).await?,
        // Without a board, the admins decide.
        None => account_store::active_admins(conn)
            .await?
            .into_iter()
            .map(|(id, email)| MemberRow {
                id,
                email,
                delegate_id: None,
                delegate: None,
            })
            .collect(),
    };
    let rule = template.as_ref().map_or(
        ApprovalRule {
            quorum: 1,
            veto: true,
        },
        |t| ApprovalRule {
            quorum: u32::try_from(t.quorum).unwrap_or(1),
            veto: t.veto != 0,
        },
    );
    let risk: RiskLevel = row.risk_level.parse().unwrap_or(RiskLevel::Low);
    let named = template.as_ref().and_then(|t| {
        let from: RiskLevel = t.named_from_risk.as_deref()?.parse().ok()?;
        (risk >= from).then_some(t.named_approver_id?)
    });
    Ok(Board {
        members,
        rule,
        named,
    })
}

/// The people asked to vote: each member, or their delegate while they are away, and the
/// named approver. `(user id, e-mail)`, each once.
fn voters(board: &Board, named_email: Option<&str>) -> Vec<(i64, String)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for m in &board.members {
        let (id, email) = match (m.delegate_id, &m.delegate) {
            (Some(id), Some(email)) => (id, email.clone()),
            _ => (m.id, m.email.clone()),
        };
        if seen.insert(id) {
            out.push((id, email));
        }
    }
    if let (Some(id), Some(email)) = (board.named, named_email)
        && seen.insert(id)
    {
        out.push((id, email.to_owned()));
    }
    out
}

/// Asks change `id`'s board to vote: a mail with a link to each voter, and the timeout's
/// timer when the template sets one. A change no one can approve is said so at once.
pub(super) async fn request(tx: &mut Tx<'_>, id: i64) -> Result<(), AppError> {
    let row = store::change(tx.conn, id)
        .await?
        .ok_or(AppError::NotFound("change"))?;
    let board = board_of(tx.conn, &row, tx.now).await?;
    let named_email = match board.named {
        Some(user) => account_store::get_user(tx.conn, user)
            .await?
            .map(|u| u.email),
        None => None,
    };
    let voters = voters(&board, named_email.as_deref());
    let mut batch = tx.batch();
    for (user_id, _) in &voters {
        jobs::queue(
            &mut batch,
            JobKind::ChangeApprovalRequest,
            &serde_json::json!({"change_id": id, "user_id": user_id}),
            tx.now,
        );
    }
    if let Some(template) = row.template_id {
        let timeout = store::template(tx.conn, template)
            .await?
            .and_then(|t| t.approval_timeout_h);
        if let Some(hours) = timeout {
            jobs::queue_at(
                &mut batch,
                JobKind::ChangeApprovalTimeout,
                &serde_json::json!({"change_id": id, "asked_at": tx.now}),
                tx.now + hours * 3_600_000,
                tx.now,
            );
        }
    }
    batch.run(tx.conn).await?;
    let asked: Vec<&str> = voters.iter().map(|(_, e)| e.as_str()).collect();
    note(
        tx,
        id,
        "approval_requested",
        serde_json::json!({"voters": asked, "quorum": board.rule.quorum, "veto": board.rule.veto}),
    )
    .await?;
    // A board with too few members can never reach its quorum.
    decide(tx, id).await
}

/// Counts the votes on change `id` and, once they decide, records the decision and moves
/// the change on (a normal change to scheduled or rejected).
async fn decide(tx: &mut Tx<'_>, id: i64) -> Result<(), AppError> {
    let row = store::change(tx.conn, id)
        .await?
        .ok_or(AppError::NotFound("change"))?;
    let board = board_of(tx.conn, &row, tx.now).await?;
    let votes = store::votes(tx.conn, id).await?;
    let members: BTreeSet<i64> = board.members.iter().map(|m| m.id).collect();
    let mut tally = Tally {
        eligible: u32::try_from(members.len()).unwrap_or(u32::MAX),
        named: board.named.map(|_| None),
        ..Tally::default()
    };
    for vote in &votes {
        let approve = vote.decision == "approve";
        if members.contains(&vote.member_id) {
            if approve {
                tally.approvals += 1;
            } else {
                tally.rejections += 1;
            }
        }
        if Some(vote.member_id) == board.named {
            tally.named = Some(Some(approve));
        }
    }
    let outcome = rules::decide(board.rule, tally);
    if outcome == ApprovalStatus::Pending {
        return Ok(());
    }
    let state: ChangeState = row
        .state
        .parse()
        .map_err(|e| AppError::internal("a stored change state", e))?;
    let next = rules::decided_state(state, outcome);
    store::set_state(tx.conn, id, next.as_str(), outcome.as_str(), tx.now).await?;
    note(
        tx,
        id,
        "approval_decided",
        serde_json::json!({
            "approval": outcome, "approvals": tally.approvals, "rejections": tally.rejections,
        }),
    )
    .await?;
    match next {
        ChangeState::Scheduled => super::aftermath::hold_monitors(tx, id).await?,
        ChangeState::Rejected => {
            store::release_monitors(tx.conn, id).await?;
        }
        _ => {}
    }
    Ok(())
}

impl App {
    /// Votes on a change waiting for approval (a member of its board, a member's delegate
    /// while they are away, or its named approver). Each member votes once.
    pub async fn vote_on_change(
        &self,
        principal: &Principal,
        number: &str,
        vote: NewVote,
    ) -> Result<Change, AppError> {
        let id = super::parse_change_number(number).ok_or(AppError::NotFound("change"))?;
        let voter = principal
            .user_id
            .ok_or_else(|| AppError::Forbidden("a vote is cast by a person".into()))?;
        let mut errors = Vec::new();
        if !matches!(vote.decision.as_str(), "approve" | "reject") {
            errors.push(FieldError::new("decision", "`approve` or `reject`"));
        }
        let comment = vote.comment.trim().to_owned();
        if comment.chars().count() > MOST_COMMENT_CHARS {
            errors.push(FieldError::new(
                "comment",
                format!("at most {MOST_COMMENT_CHARS} characters"),
            ));
        }
        if vote.decision == "reject" && comment.is_empty() {
            errors.push(FieldError::new("comment", "say why the change is rejected"));
        }
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let row = visible_change(tx.conn, tx.principal, id).await?;
                if row.approval != ApprovalStatus::Pending.as_str() {
                    return Err(AppError::Conflict {
                        field: None,
                        message: format!(
                            "{} is not waiting for approval (approval: {})",
                            change_number(id),
                            row.approval
                        ),
                    });
                }
                let before = view(tx.conn, row.clone()).await?;
                let board = board_of(tx.conn, &row, tx.now).await?;
                let cast: BTreeSet<i64> = store::votes(tx.conn, id)
                    .await?
                    .iter()
                    .map(|v| v.member_id)
                    .collect();
                let as_member = board
                    .members
                    .iter()
                    .find(|m| m.id == voter && !cast.contains(&m.id))
                    .or_else(|| {
                        board
                            .members
                            .iter()
                            .find(|m| m.delegate_id == Some(voter) && !cast.contains(&m.id))
                    })
                    .map(|m| m.id);
                let member = match as_member {
                    Some(member) => member,
                    None if board.named == Some(voter) && !cast.contains(&voter) => voter,
                    None if cast.contains(&voter) => {
                        return Err(AppError::Conflict {
                            field: None,
                            message: "your vote on this change is already in".into(),
                        });
                    }
                    None => {
                        return Err(AppError::Forbidden(
                            "only the change's board, their delegates and its named approver vote"
                                .into(),
                        ));
                    }
                };
                store::insert_vote(tx.conn, id, member, voter, &vote.decision, &comment, tx.now)
                    .await?;
                note(
                    &mut tx,
                    id,
                    "voted",
                    serde_json::json!({"decision": vote.decision, "comment": comment}),
                )
                .await?;
                decide(&mut tx, id).await?;
                let row = store::change(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("change"))?;
                let after = view(tx.conn, row).await?;
                tx.record(Event {
                    entity: Entity::Change,
                    entity_id: id,
                    action: if vote.decision == "approve" {
                        Action::Approved
                    } else {
                        Action::Updated
                    },
                    before: Some(serde_json::to_value(&before).unwrap_or_default()),
                    after: Some(serde_json::to_value(&after).unwrap_or_default()),
                })
                .await?;
                Ok(after)
            })
        })
        .await
    }

    /// The person a mailed approval link was sent to, signed in by its secret (as if by
    /// mail), and the change. An unknown link is not found.
    async fn approval_link_principal(
        &self,
        token: &str,
    ) -> Result<(Principal, ChangeRow), AppError> {
        let mut conn = self.db().reader().await?;
        let (change_id, user_id) = store::approval_link(&mut conn, &secret_hash(token))
            .await?
            .ok_or(AppError::NotFound("approval link"))?;
        let user = account_store::get_user(&mut conn, user_id)
            .await?
            .filter(crate::oncall::active_staff)
            .ok_or(AppError::NotFound("approval link"))?;
        let principal = crate::auth::principal_for(&mut conn, &user, Via::Mail).await?;
        let row = store::change(&mut conn, change_id)
            .await?
            .ok_or(AppError::NotFound("approval link"))?;
        Ok((principal, row))
    }

    /// What a mailed approval link shows.
    pub async fn approval_link(&self, token: &str) -> Result<ApprovalLink, AppError> {
        let (principal, row) = self.approval_link_principal(token).await?;
        let mut conn = self.db().reader().await?;
        let change = view(&mut conn, row).await?;
        let done = change.approval != ApprovalStatus::Pending.as_str()
            || change.votes.iter().any(|v| v.cast_by == principal.email);
        Ok(ApprovalLink {
            change,
            voter: principal.email,
            done,
        })
    }

    /// Votes through a mailed approval link.
    pub async fn vote_by_link(&self, token: &str, vote: NewVote) -> Result<Change, AppError> {
        let (principal, row) = self.approval_link_principal(token).await?;
        self.vote_on_change(&principal, &change_number(row.id), vote)
            .await
    }

    /// Sets (or with `None` ends) who votes for the principal while they are away.
    pub async fn set_approval_delegation(
        &self,
        principal: &Principal,
        delegation: Option<Delegation>,
    ) -> Result<Option<Delegation>, AppError> {
        let user_id = principal
            .user_id
            .ok_or_else(|| AppError::Forbidden("a delegation is a person's".into()))?;
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let target = match &delegation {
                    None => None,
                    Some(d) => {
                        let delegate =
                            account_store::find_user_by_email(tx.conn, d.delegate.trim())
                                .await?
                                .filter(crate::oncall::active_staff)
                                .ok_or_else(|| {
                                    AppError::invalid(
                                        "delegate",
                                        "no active staff member has this address",
                                    )
                                })?;
                        if delegate.id == user_id {
                            return Err(AppError::invalid("delegate", "choose someone else"));
                        }
                        if d.until.as_millisecond() <= tx.now {
                            return Err(AppError::invalid("until", "must be in the future"));
                        }
                        Some((delegate.id, d.until.as_millisecond()))
                    }
                };
                store::set_delegation(tx.conn, user_id, target).await?;
                tx.record(Event::updated(
                    Entity::User,
                    user_id,
                    &serde_json::json!({}),
                    &serde_json::json!({"approval_delegate": delegation}),
                ))
                .await?;
                Ok(delegation)
            })
        })
        .await
    }

    /// The principal's delegation in force, if any.
    pub async fn approval_delegation(
        &self,
        principal: &Principal,
    ) -> Result<Option<Delegation>, AppError> {
        principal.require_staff()?;
        let Some(user_id) = principal.user_id else {
            return Ok(None);
        };
        let mut conn = self.db().reader().await?;
        Ok(store::delegation(&mut conn, user_id, self.now_ms())
            .await?
            .map(|(delegate, until)| Delegation {
                delegate,
                until: timestamp(until),
            }))
    }

    /// Changes waiting for the principal's vote: as a member, a delegate or the named
    /// approver.
    pub async fn changes_awaiting_vote(
        &self,
        principal: &Principal,
    ) -> Result<Vec<ChangeSummary>, AppError> {
        let pending = self
            .changes(
                principal,
                &super::ChangeQuery {
                    state: None,
                    before: None,
                    limit: 500,
                },
            )
            .await?;
        let Some(me) = principal.user_id else {
            return Ok(Vec::new());
        };
        let mut conn = self.db().reader().await?;
        let mut out = Vec::new();
        for change in pending.into_iter().filter(|c| c.approval == "pending") {
            let Some(row) = store::change(&mut conn, change.id).await? else {
                continue;
            };
            let board = board_of(&mut conn, &row, self.now_ms()).await?;
            let cast: BTreeSet<i64> = store::votes(&mut conn, row.id)
                .await?
                .iter()
                .map(|v| v.member_id)
                .collect();
            let mine = board
                .members
                .iter()
                .any(|m| (m.id == me || m.delegate_id == Some(me)) && !cast.contains(&m.id))
                || (board.named == Some(me) && !cast.contains(&me));
            if mine {
                out.push(summary(&row));
            }
        }
        Ok(out)
    }

    /// Mails one voter the request to approve a change, with a fresh link to vote by (the
    /// `change.approval_request` job). A change decided since is not mailed about.
    pub(crate) async fn send_change_approval_request(
        &self,
        payload: &serde_json::Value,
    ) -> Result<(), JobError> {
        let field = |name: &str| jobs::id_in(payload, name);
        let (change_id, user_id) = (field("change_id")?, field("user_id")?);
        if !self.mails() {
            tracing::warn!("an approval request was not mailed: no mail relay is configured");
            return Ok(());
        }
        let (row, user) = {
            let mut conn = self.db().reader().await?;
            let Some(row) = store::change(&mut conn, change_id).await? else {
                return Ok(());
            };
            let Some(user) = account_store::get_user(&mut conn, user_id).await? else {
                return Ok(());
            };
            (row, user)
        };
        if row.approval != ApprovalStatus::Pending.as_str() {
            return Ok(());
        }
        let secret = random_secret()?;
        let token_hash = secret_hash(&secret);
        let key = format!("change.{change_id}.{}", &token_hash[..16]);
        self.system_change("change approval", move |tx| {
            Box::pin(async move {
                Ok(
                    store::insert_approval_link(tx.conn, &token_hash, change_id, user_id, tx.now)
                        .await?,
                )
            })
        })
        .await?;
        let link = format!("{}/changes/approve/{secret}", self.config().public_url);
        let number = change_number(change_id);
        let window = match (row.planned_start, row.planned_end) {
            (Some(start), Some(end)) => format!("{} – {}", timestamp(start), timestamp(end)),
            _ => "no window yet".to_owned(),
        };
        let text = format!(
            "{number} needs your approval: {title}\n\
             Type: {kind}, risk: {risk}, window: {window}\n\n\
             Approve or reject it here:\n{link}\n",
            title = row.title,
            kind = row.change_type,
            risk = row.risk_level,
        );
        let html = format!(
            "<p><strong>{number}</strong> needs your approval: {title}</p>\
             <p>Type: {kind}, risk: {risk}, window: {window}</p>\
             <p><a href=\"{link}\">Approve or reject it</a></p>",
            title = html_escape(&row.title),
            kind = row.change_type,
            risk = row.risk_level,
        );
        self.send_personal(PersonalMail {
            to: user.email,
            subject: format!("[{number}] Approval needed: {}", row.title),
            text,
            html,
            key,
        })
        .await?;
        Ok(())
    }

    /// Escalates an approval still waiting at its template's timeout (the
    /// `change.approval_timeout` job): the members who have not voted are asked again and
    /// the admins told. An approval decided, or asked for again since, is left.
    pub(crate) async fn change_approval_timeout(
        &self,
        payload: &serde_json::Value,
    ) -> Result<(), JobError> {
        let field = |name: &str| jobs::id_in(payload, name);
        let (change_id, asked_at) = (field("change_id")?, field("asked_at")?);
        self.system_change("change approval", move |mut tx| {
            Box::pin(async move {
                let Some(row) = store::change(tx.conn, change_id).await? else {
                    return Ok(());
                };
                if row.approval != ApprovalStatus::Pending.as_str()
                    || row.approval_requested_at != Some(asked_at)
                    || !store::mark_escalated(tx.conn, change_id, tx.now).await?
                {
                    return Ok(());
                }
                let board = board_of(tx.conn, &row, tx.now).await?;
                let cast: BTreeSet<i64> = store::votes(tx.conn, change_id)
                    .await?
                    .iter()
                    .map(|v| v.member_id)
                    .collect();
                let mut asked = BTreeSet::new();
                for m in board.members.iter().filter(|m| !cast.contains(&m.id)) {
                    asked.insert(m.delegate_id.unwrap_or(m.id));
                }
                for (admin, _) in account_store::active_admins(tx.conn).await? {
                    asked.insert(admin);
                }
                let mut batch = tx.batch();
                for user_id in &asked {
                    jobs::queue(
                        &mut batch,
                        JobKind::ChangeApprovalRequest,
                        &serde_json::json!({"change_id": change_id, "user_id": user_id}),
                        tx.now,
                    );
                }
                batch.run(tx.conn).await?;
                note(
                    &mut tx,
                    change_id,
                    "approval_overdue",
                    serde_json::json!({"reminded": asked.len()}),
                )
                .await
            })
        })
        .await?;
        Ok(())
    }
}
