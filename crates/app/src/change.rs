//! The one way a use case writes: [`App::change`] checks what the principal needs, runs the
//! use case in one transaction with a [`Tx`] (the connection, who acts, and when), and after
//! the commit wakes the job runner for the mail and webhooks the change queued.

use opsdesk_store::{Backend, Batch, Conn, StoreError, WriteFuture};

use crate::audit::{self, Event};
use crate::{App, AppError, Principal};

/// What a principal must be to make a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    Admin,
    /// An agent or an admin.
    Staff,
    /// Anyone signed in (or the system): the use case checks what they may touch.
    Anyone,
}

impl Need {
    fn check(self, principal: &Principal) -> Result<(), AppError> {
        match self {
            Need::Admin => principal.require_admin(),
            Need::Staff => principal.require_staff(),
            Need::Anyone => Ok(()),
        }
    }
}

/// A change in progress: everything a use case writes with, inside one transaction.
pub(crate) struct Tx<'c> {
    pub conn: &'c mut Conn,
    pub backend: Backend,
    pub principal: &'c Principal,
    /// The principal as the audit log and timelines name them.
    pub actor: &'c str,
    /// The time of the change, in stored milliseconds, from the application's clock.
    pub now: i64,
    /// Whether the change may queue mail notifications (a relay is configured).
    pub notify: bool,
    /// Whether audit events queue webhook deliveries: an import's do not.
    pub webhooks: bool,
    /// How many rules deep in a chain this change is (0: not raised by a rule); `None` when
    /// the change runs no rules (an import).
    pub rule_depth: Option<u8>,
}

impl Tx<'_> {
    /// This change, carried on by `principal` (named `actor` in the audit log): mail ingest
    /// writes a message's ticket or comment as its sender.
    pub fn on_behalf_of<'p>(&'p mut self, principal: &'p Principal, actor: &'p str) -> Tx<'p> {
        Tx {
            conn: &mut *self.conn,
            backend: self.backend,
            principal,
            actor,
            now: self.now,
            notify: self.notify,
            webhooks: self.webhooks,
            rule_depth: self.rule_depth,
        }
    }

    /// A batch for rows that go to the database together with the audit entry.
    pub fn batch(&self) -> Batch {
        Batch::for_backend(self.backend)
    }

    /// Records `event` in the audit log and queues the webhook deliveries it raises.
    pub async fn record(&mut self, event: Event) -> Result<(), AppError> {
        let batch = self.batch();
        self.record_with(batch, event).await
    }

    /// [`Tx::record`], sending `batch` (the change's other rows) in the same round trip.
    pub async fn record_with(&mut self, batch: Batch, event: Event) -> Result<(), AppError> {
        let deliver = self.webhooks;
        audit::record_event(self.conn, batch, &event, self.actor, self.now, deliver).await
    }
}

impl App {
    /// Runs `work` as `principal`, who must be what `need` says, in one transaction, and
    /// returns its result once committed. An `Err` from `work` rolls back all it wrote.
    pub(crate) async fn change<T, F>(
        &self,
        principal: &Principal,
        need: Need,
        work: F,
    ) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(Tx<'c>) -> WriteFuture<'c, T, AppError> + Send + 'static,
    {
        self.change_failing_with(principal, need, work).await
    }

    /// [`App::change`] for a use case with its own error type (mail ingest tells a message
    /// seen before from a failure).
    pub(crate) async fn change_failing_with<T, E, F>(
        &self,
        principal: &Principal,
        need: Need,
        work: F,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<AppError> + From<StoreError> + Send + 'static,
        F: for<'c> FnOnce(Tx<'c>) -> WriteFuture<'c, T, E> + Send + 'static,
    {
        need.check(principal)?;
        let principal = principal.clone();
        let actor = principal.audit_label();
        let now = self.now_ms();
        let backend = self.db().backend();
        let notify = self.notifications_enabled();
        let value = self
            .db()
            .write(move |conn| {
                Box::pin(async move {
                    work(Tx {
                        conn,
                        backend,
                        principal: &principal,
                        actor: &actor,
                        now,
                        notify,
                        webhooks: true,
                        rule_depth: Some(0),
                    })
                    .await
                })
            })
            .await?;
        self.wake_jobs();
        Ok(value)
    }

    /// [`App::change`] on behalf of the system itself (`what` names it in the audit log).
    pub(crate) async fn system_change<T, F>(&self, what: &str, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(Tx<'c>) -> WriteFuture<'c, T, AppError> + Send + 'static,
    {
        self.change(&Principal::system(what), Need::Anyone, work)
            .await
    }
}
