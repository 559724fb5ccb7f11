//! Inbound mail: one path for every delivery (pipe, IMAP, LMTP) that decides on a reader
//! what the message becomes, then records the message and the ticket or comment it becomes in
//! one transaction.

use opsdesk_domain::account::Role;
use opsdesk_domain::alert::{Notice, mail as mail_alert};
use opsdesk_domain::ticket::{TicketNumber, Title};
use opsdesk_mail::{InboundMessage, ParseError};
use opsdesk_store::alerts::{self as alert_store, IntegrationRow};
use opsdesk_store::mail::{self as store, MailRow, NewMail};
use opsdesk_store::tickets::{self as ticket_store, TicketRow};
use opsdesk_store::{Conn, StoreError, accounts};
use sha2::{Digest, Sha256};

use crate::alerts::{Tally, sender_of, take_in};
use crate::audit::{Entity, Event};
use crate::auth::principal_for;
use crate::change::{Need, Tx};
use crate::tickets::{
    MailFile, MailFiles, NewComment, NewTicket, ResolvedTicket, ValidComment, ValidTicket, can_see,
    insert_comment, insert_ticket, keep_mail_files, number_of, resolve_ticket, timeline,
    validate_comment, validate_ticket, write_ticket,
};
use crate::{App, AppError, Principal, Via};

use super::{IngestOutcome, MailSettings, MailStatus};

/// Window of the per-sender rate limit.
const RATE_WINDOW_MS: i64 = 3_600_000;

/// Merges followed from a ticket to the one it was merged into.
const MAX_MERGE_HOPS: usize = 5;

/// Everything the write needs from the message, computed before it starts.
struct Delivery {
    parsed: Result<InboundMessage, ParseError>,
    raw: Vec<u8>,
    dedup_key: String,
    /// The record being re-processed (quarantine), instead of a new one.
    existing: Option<i64>,
}

/// How a message was routed, as its record says.
struct Routed {
    status: MailStatus,
    reason: Option<String>,
    ticket_id: Option<i64>,
    comment_id: Option<i64>,
    /// Set when the message joined the conversation (opened the ticket or became a
    /// comment): its files are kept on the ticket.
    conversation: Option<Conversation>,
    /// Set when it became an alert: who received it and the incidents it opened and
    /// resolved, announced once the write is done.
    alerts: Option<(Principal, Tally)>,
}

/// Who wrote a message that joined a ticket's conversation, and who may see it.
struct Conversation {
    /// Whether the requester sees the message, hence its files.
    public: bool,
    sender: Option<i64>,
    /// The sender as the audit log names them.
    actor: String,
}

impl Routed {
    fn quarantine(reason: impl Into<String>) -> Self {
        Self {
            status: MailStatus::Quarantined,
            reason: Some(reason.into()),
            ticket_id: None,
            comment_id: None,
            conversation: None,
            alerts: None,
        }
    }
}

/// What a message becomes, decided on a reader so that the single writer only adds rows.
enum Plan {
    /// Recorded with this outcome and nothing more: quarantine, rate limit, auto-reply.
    Record(Routed),
    /// A delivery report: the notification with Message-ID `bounced` is marked bounced.
    Bounce {
        bounced: Option<String>,
        report: String,
    },
    /// A comment on the ticket the message replies to.
    Comment {
        author: Author,
        ticket_id: i64,
        comment: ValidComment,
    },
    /// A new ticket.
    Ticket { author: Author, ticket: TicketDraft },
    /// An alert of the e-mail integration it was sent to.
    Alert {
        integration: Box<IntegrationRow>,
        notice: Notice,
    },
}

/// A new ticket from mail, resolved on a reader when its sender is known; a new customer's
/// ticket can only be resolved in the write that adds their account.
enum TicketDraft {
    Resolved(Box<ResolvedTicket>),
    ForNewCustomer(Box<ValidTicket>),
}

/// Who a ticket or comment from mail is written as.
struct Author {
    /// The sender; for a new customer, as they will be once their account is added.
    principal: Principal,
    /// The account to add in the same write, for a sender opsdesk does not know yet.
    new_customer: Option<NewCustomer>,
}

impl Author {
    /// The principal to write as, adding the sender's account first when it is new.
    async fn principal(self, tx: &mut Tx<'_>) -> Result<Principal, AppError> {
        match self.new_customer {
            Some(customer) => {
                let user = add_customer(tx, &customer).await?;
                principal_for(tx.conn, &user, Via::Mail).await
            }
            None => Ok(self.principal),
        }
    }
}

/// An unknown sender from a domain mapped to an organization, who becomes its customer.
struct NewCustomer {
    email: String,
    name: String,
    organization_id: i64,
}

impl NewCustomer {
    /// The customer as a principal before the account exists: what they may see is decided
    /// by their organization alone, since no ticket names them yet.
    fn principal(&self) -> Principal {
        Principal {
            user_id: None,
            email: self.email.clone(),
            role: Role::Customer,
            organization_id: Some(self.organization_id),
            agent_organizations: Vec::new(),
            groups: Vec::new(),
            via: Via::Mail,
            time_zone: None,
        }
    }
}

/// Who sent a message, as far as opsdesk knows.
enum Sender {
    Known(accounts::UserRow),
    New(NewCustomer),
    /// Unknown and not let in, for this reason.
    Refused(String),
}

/// Why an ingest was not written.
enum IngestFailure {
    /// The message was recorded before, possibly by a delivery running at the same time:
    /// its unique dedup key is the final guard.
    AlreadyIngested,
    Failed(AppError),
}

impl From<AppError> for IngestFailure {
    fn from(error: AppError) -> Self {
        IngestFailure::Failed(error)
    }
}

impl From<StoreError> for IngestFailure {
    fn from(error: StoreError) -> Self {
        IngestFailure::Failed(error.into())
    }
}

impl App {
    /// Runs a quarantined message through routing again, e.g. after its sender's domain was
    /// given to an organization (admins only).
    pub async fn reprocess_mail(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<IngestOutcome, AppError> {
        principal.require_admin()?;
        let (row, raw) = {
            let mut conn = self.db().reader().await?;
            let row = store::get(&mut conn, id)
                .await?
                .ok_or(AppError::NotFound("mail"))?;
            (row, store::raw(&mut conn, id).await?.unwrap_or_default())
        };
        if row.status != MailStatus::Quarantined.as_str() {
            return Err(AppError::Conflict {
                field: None,
                message: format!(
                    "only quarantined mail can be re-processed; this one is {}",
                    row.status
                ),
            });
        }
        let delivery = tokio::task::spawn_blocking(move || Delivery {
            parsed: opsdesk_mail::parse(&raw),
            raw,
            dedup_key: row.dedup_key,
            existing: Some(row.id),
        })
        .await
        .map_err(|e| AppError::internal("mail parser stopped", e))?;
        self.deliver(delivery).await
    }

    /// Receives one raw RFC 5322 message from any inbound path. Redelivering a message that
    /// was already received writes nothing and reports `duplicate`. An `Err` is a temporary
    /// failure (the database is unreachable): the message was not recorded and the sender
    /// should deliver it again.
    pub async fn ingest_mail(&self, raw: Vec<u8>) -> Result<IngestOutcome, AppError> {
        let delivery = tokio::task::spawn_blocking(move || {
            let parsed = opsdesk_mail::parse(&raw);
            let dedup_key = match &parsed {
                Ok(message) => message.dedup_key.clone(),
                Err(_) => format!("sha256:{}", hex::encode(Sha256::digest(&raw))),
            };
            Delivery {
                parsed,
                raw,
                dedup_key,
                existing: None,
            }
        })
        .await
        .map_err(|e| AppError::internal("mail parser stopped", e))?;
        self.deliver(delivery).await
    }

    async fn deliver(&self, delivery: Delivery) -> Result<IngestOutcome, AppError> {
        let delivery = std::sync::Arc::new(delivery);
        let now = self.now_ms();
        let mut attempt = self.plan_and_write(&delivery, now).await;
        if matches!(
            attempt,
            Err(IngestFailure::Failed(AppError::Conflict { .. }))
        ) {
            // A delivery running at the same time added what this one planned to add (the
            // account of a new sender who sent two messages at once): plan again.
            attempt = self.plan_and_write(&delivery, now).await;
        }
        let attempt = match attempt {
            // The message cannot become a ticket or comment (a rule refused it); keep it in
            // quarantine with the reason rather than losing it or retrying forever.
            Err(IngestFailure::Failed(refused))
                if !matches!(refused, AppError::Store(_) | AppError::Internal { .. }) =>
            {
                let quarantine = Plan::Record(Routed::quarantine(refused.to_string()));
                self.write_delivery(&delivery, quarantine).await
            }
            other => other,
        };
        if let Ok((_, Some((sender, tally)))) = &attempt {
            self.announce(&tally.opened, &tally.resolved, sender)
                .await?;
        }
        let mut conn = self.db().reader().await?;
        let (row, duplicate) = match attempt {
            Ok((mail_id, _)) => (store::get(&mut conn, mail_id).await?, false),
            Err(IngestFailure::AlreadyIngested) => (
                store::find_by_key(&mut conn, &delivery.dedup_key).await?,
                true,
            ),
            Err(IngestFailure::Failed(error)) => return Err(error),
        };
        let row = row.ok_or(AppError::NotFound("mail"))?;
        let outcome = outcome_of(&mut conn, &row, duplicate).await?;
        // A new ticket is announced like one opened on the web (the triage assistant and
        // open pages listen).
        if let (false, Some(id), Some(number)) = (duplicate, row.ticket_id, &outcome.ticket)
            && row.status == MailStatus::Ticket.as_str()
        {
            let mail = crate::Principal::system("mail");
            self.publish(id, number, crate::TicketEventKind::Created, &mail);
        }
        Ok(outcome)
    }

    /// Plans a delivery on a reader, then writes it; returns the record's id, and for an
    /// alert what it did.
    async fn plan_and_write(
        &self,
        delivery: &std::sync::Arc<Delivery>,
        now: i64,
    ) -> Result<Written, IngestFailure> {
        let plan = {
            let mut conn = self.db().reader().await?;
            plan(&mut conn, delivery, &self.config().mail, now).await?
        };
        self.write_delivery(delivery, plan).await
    }

    /// Writes what a plan adds and the message's record in one transaction.
    async fn write_delivery(
        &self,
        delivery: &std::sync::Arc<Delivery>,
        plan: Plan,
    ) -> Result<Written, IngestFailure> {
        let delivery = delivery.clone();
        let limit = self.config().max_attachment_bytes;
        self.change_failing_with(&Principal::system("mail"), Need::Anyone, move |mut tx| {
            Box::pin(async move {
                let mut routed = carry_out(&mut tx, plan).await?;
                let id = record_delivery(tx.conn, &delivery, &routed, limit, tx.now).await?;
                Ok((id, routed.alerts.take()))
            })
        })
        .await
    }
}

/// A delivery written: its record's id and, for an alert, who made it and what it did.
type Written = (i64, Option<(Principal, Tally)>);

/// Decides what a delivery becomes, reading only.
async fn plan(
    conn: &mut Conn,
    delivery: &Delivery,
    settings: &MailSettings,
    now: i64,
) -> Result<Plan, IngestFailure> {
    if delivery.existing.is_none()
        && store::find_by_key(conn, &delivery.dedup_key)
            .await?
            .is_some()
    {
        return Err(IngestFailure::AlreadyIngested);
    }
    match &delivery.parsed {
        Ok(message) => Ok(route(conn, message, settings, now).await?),
        Err(error) => Ok(Plan::Record(Routed::quarantine(format!(
            "cannot be parsed: {error}"
        )))),
    }
}

/// Writes what a plan adds (a ticket, a comment, a bounce on a ticket's timeline, an
/// alert).
async fn carry_out(tx: &mut Tx<'_>, plan: Plan) -> Result<Routed, AppError> {
    match plan {
        Plan::Record(routed) => Ok(routed),
        Plan::Alert {
            integration,
            notice,
        } => {
            let sender = sender_of(&integration);
            let actor = sender.audit_label();
            let fingerprint = notice.fingerprint.clone();
            let payload = serde_json::json!({
                "from": notice.labels.get("from"),
                "subject": notice.title,
                "text": notice.description,
            })
            .to_string();
            let tally = take_in(
                &mut tx.on_behalf_of(&sender, &actor),
                &integration,
                vec![notice],
                &payload,
            )
            .await?;
            // The incident its alert belongs to, whether it opened, joined or resolved it.
            let incident = alert_store::alert_by_fingerprint(tx.conn, integration.id, &fingerprint)
                .await?
                .and_then(|alert| alert.ticket_id);
            Ok(Routed {
                status: MailStatus::Alert,
                reason: None,
                ticket_id: incident,
                comment_id: None,
                conversation: None,
                alerts: Some((sender, tally)),
            })
        }
        Plan::Bounce { bounced, report } => record_bounce(tx, bounced.as_deref(), &report).await,
        Plan::Comment {
            author,
            ticket_id,
            comment,
        } => {
            let principal = author.principal(tx).await?;
            // Read again inside the write: since planning, the ticket may have been resolved
            // (a customer's reply reopens it) or merged (the comment is refused).
            let row = ticket_store::get(tx.conn, ticket_id)
                .await?
                .ok_or(AppError::NotFound("ticket"))?;
            let actor = principal.audit_label();
            let comment =
                insert_comment(&mut tx.on_behalf_of(&principal, &actor), row, comment).await?;
            Ok(Routed {
                status: MailStatus::Comment,
                reason: None,
                ticket_id: Some(ticket_id),
                comment_id: Some(comment.id),
                conversation: Some(Conversation {
                    public: comment.public,
                    sender: principal.user_id,
                    actor,
                }),
                alerts: None,
            })
        }
        Plan::Ticket { author, ticket } => {
            let principal = author.principal(tx).await?;
            let actor = principal.audit_label();
            let mut sender = tx.on_behalf_of(&principal, &actor);
            let ticket_id = match ticket {
                TicketDraft::Resolved(resolved) => write_ticket(&mut sender, *resolved).await?,
                TicketDraft::ForNewCustomer(valid) => insert_ticket(&mut sender, *valid).await?,
            };
            Ok(Routed {
                status: MailStatus::Ticket,
                reason: None,
                ticket_id: Some(ticket_id),
                comment_id: None,
                conversation: Some(Conversation {
                    public: true,
                    sender: principal.user_id,
                    actor,
                }),
                alerts: None,
            })
        }
    }
}

/// Records a delivery with its outcome (and attachments); returns the record's id.
async fn record_delivery(
    conn: &mut Conn,
    delivery: &Delivery,
    routed: &Routed,
    limit: usize,
    now: i64,
) -> Result<i64, IngestFailure> {
    if let Some(id) = delivery.existing {
        store::set_outcome(
            conn,
            id,
            routed.status.as_str(),
            routed.reason.as_deref(),
            routed.ticket_id,
            routed.comment_id,
            now,
        )
        .await?;
        // A quarantined message kept no files: they are filed now that it has a ticket.
        keep_files(conn, delivery, routed, id, limit, now).await?;
        return Ok(id);
    }
    let (address, subject, message_id, html) = match &delivery.parsed {
        Ok(m) => (
            m.from.address.as_str(),
            m.subject.as_str(),
            m.message_id.as_deref(),
            m.html.as_deref(),
        ),
        Err(_) => ("", "", None, None),
    };
    let record = NewMail {
        direction: "in",
        dedup_key: &delivery.dedup_key,
        message_id,
        ticket_id: routed.ticket_id,
        comment_id: routed.comment_id,
        address,
        subject,
        status: routed.status.as_str(),
        reason: routed.reason.as_deref(),
        html,
        raw: Some(&delivery.raw),
    };
    let id = match store::insert(conn, &record, now).await {
        Ok(id) => id,
        // Rolls back the ticket or comment written for it just before.
        Err(StoreError::Duplicate(_)) => return Err(IngestFailure::AlreadyIngested),
        Err(other) => return Err(other.into()),
    };
    keep_files(conn, delivery, routed, id, limit, now).await?;
    Ok(id)
}

/// Files the attachments of a message that joined a ticket's conversation with the ticket's
/// other attachments, next to the comment it became. Auto-replies, bounces and quarantined
/// mail keep theirs in the original message only.
async fn keep_files(
    conn: &mut Conn,
    delivery: &Delivery,
    routed: &Routed,
    mail_id: i64,
    limit: usize,
    now: i64,
) -> Result<(), AppError> {
    let (Ok(message), Some(ticket_id), Some(conversation)) =
        (&delivery.parsed, routed.ticket_id, &routed.conversation)
    else {
        return Ok(());
    };
    let files: Vec<MailFile<'_>> = message
        .attachments
        .iter()
        .map(|file| MailFile {
            filename: &file.filename,
            content_type: &file.content_type,
            content_id: file.content_id.as_deref(),
            inline: file.inline,
            data: &file.data,
        })
        .collect();
    let target = MailFiles {
        ticket_id,
        mail_id,
        comment_id: routed.comment_id,
        public: conversation.public,
        sender: conversation.sender,
    };
    let kept = keep_mail_files(conn, &target, &files, limit, now).await?;
    // A security incident's files are evidence: their upload starts the chain of custody.
    let actor = &conversation.actor;
    crate::security::record_mail_files(conn, ticket_id, &kept, conversation.sender, actor, now)
        .await
}

async fn outcome_of(
    conn: &mut Conn,
    row: &MailRow,
    duplicate: bool,
) -> Result<IngestOutcome, AppError> {
    let ticket = match row.ticket_id {
        Some(id) => ticket_store::get(conn, id)
            .await?
            .map(|t| number_of(&t.ticket_type, t.number)),
        None => None,
    };
    Ok(IngestOutcome {
        mail_id: row.id,
        status: row.status.clone(),
        duplicate,
        ticket,
        comment_id: row.comment_id,
        reason: row.reason.clone(),
    })
}

/// Decides what a parsed message becomes, looking up its sender and its thread.
async fn route(
    conn: &mut Conn,
    message: &InboundMessage,
    settings: &MailSettings,
    now: i64,
) -> Result<Plan, AppError> {
    // Monitoring tools send in bursts and mark their mail auto-generated: mail to an
    // e-mail integration is an alert before any sender limit or auto-reply check applies.
    for address in &message.recipients {
        if let Some(integration) = alert_store::integration_by_address(conn, address).await? {
            let notice = mail_alert::read(&message.from.address, &message.subject, &message.text);
            return Ok(Plan::Alert {
                integration: Box::new(integration),
                notice,
            });
        }
    }
    let recorded_as = |routed| Ok(Plan::Record(routed));
    let sent = store::count_from(conn, &message.from.address, now - RATE_WINDOW_MS).await?;
    if sent >= settings.max_per_sender_per_hour {
        return recorded_as(Routed {
            status: MailStatus::RateLimited,
            reason: Some(format!(
                "more than {} messages from this sender in an hour",
                settings.max_per_sender_per_hour
            )),
            ticket_id: None,
            comment_id: None,
            conversation: None,
            alerts: None,
        });
    }
    // Auto-replies and bounces: recorded against the ticket they concern, never answered.
    match message.auto_reply {
        Some(opsdesk_mail::AutoReply::Bounce) => {
            return Ok(Plan::Bounce {
                bounced: message.bounced_message_id.clone(),
                report: message.subject.clone(),
            });
        }
        Some(kind) => {
            return recorded_as(Routed {
                status: MailStatus::AutoReply,
                reason: Some(kind.as_str().to_owned()),
                ticket_id: thread_ticket(conn, message).await?.map(|row| row.id),
                comment_id: None,
                conversation: None,
                alerts: None,
            });
        }
        None => {}
    }
    let author = match sender(conn, message, settings).await? {
        Sender::Known(user) if user.active == 0 => {
            return recorded_as(Routed::quarantine("the sender's account is deactivated"));
        }
        Sender::Known(user) => Author {
            principal: principal_for(conn, &user, Via::Mail).await?,
            new_customer: None,
        },
        Sender::New(customer) => Author {
            principal: customer.principal(),
            new_customer: Some(customer),
        },
        Sender::Refused(reason) => return recorded_as(Routed::quarantine(reason)),
    };
    let principal = &author.principal;
    let body = if message.text.trim().is_empty() {
        "(no text)".to_owned()
    } else {
        fit_body(&message.text)
    };
    if let Some(row) = thread_ticket(conn, message).await?
        && can_see(conn, principal, &row).await?
    {
        let comment = validate_comment(
            principal,
            NewComment {
                body,
                public: true,
                time_spent_minutes: None,
            },
        )?;
        return Ok(Plan::Comment {
            author,
            ticket_id: row.id,
            comment,
        });
    }
    let title: String = strip_reply_prefixes(&message.subject)
        .chars()
        .take(Title::MAX_CHARS)
        .collect();
    let ticket = validate_ticket(
        principal,
        NewTicket {
            ticket_type: "incident".to_owned(),
            title: if title.is_empty() {
                "(no subject)".to_owned()
            } else {
                title
            },
            description: body,
            impact: "medium".to_owned(),
            urgency: "medium".to_owned(),
            requester: None,
            group: None,
            assignee: None,
            category: None,
            tags: Vec::new(),
            watchers: Vec::new(),
            custom: Default::default(),
            source: Some("email".to_owned()),
            parent: None,
        },
    )?;
    let draft = if author.new_customer.is_some() {
        TicketDraft::ForNewCustomer(Box::new(ticket))
    } else {
        TicketDraft::Resolved(Box::new(
            resolve_ticket(conn, principal, ticket, now).await?,
        ))
    };
    Ok(Plan::Ticket {
        author,
        ticket: draft,
    })
}

/// Marks the notification a delivery report concerns as bounced, on its ticket's timeline.
async fn record_bounce(
    tx: &mut Tx<'_>,
    bounced_message_id: Option<&str>,
    report: &str,
) -> Result<Routed, AppError> {
    let bounced = match bounced_message_id {
        Some(id) => {
            store::set_outbound_status(tx.conn, id, "bounced", Some(report), tx.now).await?
        }
        None => None,
    };
    let ticket_id = bounced.as_ref().and_then(|row| row.ticket_id);
    if let (Some(ticket_id), Some(row)) = (ticket_id, &bounced) {
        let mut batch = tx.batch();
        timeline(
            &mut batch,
            ticket_id,
            tx.now,
            tx.actor,
            "mail_bounced",
            false,
            serde_json::json!({
                "recipient": row.address, "message_id": row.message_id, "report": report,
            }),
        );
        batch.run(tx.conn).await?;
    }
    Ok(Routed {
        status: MailStatus::Bounce,
        reason: Some(match &bounced {
            Some(row) => format!("bounce of the notification to {}", row.address),
            None => "bounce of a message opsdesk did not send".to_owned(),
        }),
        ticket_id,
        comment_id: None,
        conversation: None,
        alerts: None,
    })
}

/// The sender's account, or whether an unknown sender may become a customer of the
/// organization their domain is mapped to.
async fn sender(
    conn: &mut Conn,
    message: &InboundMessage,
    settings: &MailSettings,
) -> Result<Sender, AppError> {
    if let Some(user) = accounts::find_user_by_email(conn, &message.from.address).await? {
        return Ok(Sender::Known(user));
    }
    if !settings.accept_unknown_senders {
        return Ok(Sender::Refused(
            "unknown sender: mail from unknown senders is refused".to_owned(),
        ));
    }
    let Some(organization) =
        accounts::find_organization_by_domain(conn, message.from.domain()).await?
    else {
        return Ok(Sender::Refused(format!(
            "unknown sender: no organization has the domain `{}`",
            message.from.domain()
        )));
    };
    let name = message.from.name.clone().unwrap_or_else(|| {
        message
            .from
            .address
            .split('@')
            .next()
            .unwrap_or("")
            .to_owned()
    });
    Ok(Sender::New(NewCustomer {
        email: message.from.address.clone(),
        name,
        organization_id: organization.id,
    }))
}

/// Adds the account of a customer whose first message arrived, unless a delivery running at
/// the same time added it first; returns the account.
async fn add_customer(
    tx: &mut Tx<'_>,
    customer: &NewCustomer,
) -> Result<accounts::UserRow, AppError> {
    if let Some(user) = accounts::find_user_by_email(tx.conn, &customer.email).await? {
        return Ok(user);
    }
    let user = accounts::insert_user(
        tx.conn,
        &accounts::NewUser {
            email: &customer.email,
            name: &customer.name,
            role: Role::Customer.as_str(),
            organization_id: Some(customer.organization_id),
            password_hash: None,
        },
        tx.now,
    )
    .await?;
    let added = serde_json::json!({
        "email": user.email, "name": user.name, "role": user.role,
        "organization_id": user.organization_id, "because": "first message from this address",
    });
    tx.record(Event::created(Entity::User, user.id, &added))
        .await?;
    Ok(user)
}

/// The ticket a message replies to: by In-Reply-To/References against the Message-IDs
/// opsdesk sent or received, else by a `[INC-1042]` tag in the subject. Merged tickets lead
/// to the ticket they were merged into.
async fn thread_ticket(
    conn: &mut Conn,
    message: &InboundMessage,
) -> Result<Option<TicketRow>, AppError> {
    let mut ids = message.in_reply_to.clone();
    ids.extend(message.references.iter().cloned());
    let mut ticket_id = store::ticket_of_message_ids(conn, &ids).await?;
    if ticket_id.is_none() {
        for number in subject_numbers(&message.subject) {
            let sequence = i64::try_from(number.sequence()).unwrap_or(i64::MAX);
            if let Some(id) =
                ticket_store::find_by_number(conn, number.ticket_type().as_str(), sequence).await?
            {
                ticket_id = Some(id);
                break;
            }
        }
    }
    let Some(mut id) = ticket_id else {
        return Ok(None);
    };
    for _ in 0..MAX_MERGE_HOPS {
        let Some(row) = ticket_store::get(conn, id).await? else {
            return Ok(None);
        };
        match row.merged_into_id {
            Some(target) => id = target,
            None => return Ok(Some(row)),
        }
    }
    Ok(None)
}

/// Longest comment or description, in bytes (the tickets' own limit).
const MAX_BODY_BYTES: usize = 100_000;

/// The text cut to fit a comment, saying so; the whole message stays in the original.
fn fit_body(text: &str) -> String {
    const NOTE: &str = "\n\n[cut: the full text is in the original message]";
    if text.len() <= MAX_BODY_BYTES {
        return text.to_owned();
    }
    let mut end = MAX_BODY_BYTES - NOTE.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{NOTE}", &text[..end])
}

/// Ticket numbers written in brackets in a subject: `Re: [INC-1042] Printer`.
fn subject_numbers(subject: &str) -> Vec<TicketNumber> {
    subject
        .split('[')
        .skip(1)
        .filter_map(|rest| rest.split_once(']'))
        .filter_map(|(inside, _)| inside.trim().parse::<TicketNumber>().ok())
        .collect()
}

/// A subject without the `Re:`/`Fwd:` prefixes clients add, for a ticket's title.
fn strip_reply_prefixes(subject: &str) -> String {
    let mut rest = subject.trim();
    loop {
        let lower = rest.to_lowercase();
        let prefix = ["re:", "fw:", "fwd:", "aw:", "wg:", "tr:", "sv:", "antw:"]
            .iter()
            .find(|p| lower.starts_with(*p));
        match prefix {
            Some(p) => rest = rest[p.len()..].trim_start(),
            None => return rest.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects() {
        assert_eq!(strip_reply_prefixes("Re: FW: Printer"), "Printer");
        assert_eq!(strip_reply_prefixes("AW: Re:Drucker"), "Drucker");
        let numbers: Vec<String> = subject_numbers("Re: [INC-1042] Printer [x] [REQ-7]")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(numbers, ["INC-1042", "REQ-7"]);
        let long = "é".repeat(60_000);
        let fitted = fit_body(&long);
        assert!(fitted.len() <= MAX_BODY_BYTES && fitted.ends_with("original message]"));
        assert_eq!(fit_body("short"), "short");
    }
}
