//! This node's liveness. A running node renews its row every second; the others treat its
//! monitor and job leases as lapsed once the row is a few seconds old, so a node killed
//! mid-check leaves its monitors waiting seconds, not a whole check timeout.

use std::time::Duration;

use opsdesk_store::nodes as store;
use opsdesk_store::{Conn, StoreError};
use tokio::sync::watch;

use crate::{App, AppError};

/// How long a renewal keeps the node's leases; several renewals fit in it, so a slow
/// database write does not make a live node look dead.
const ALIVE_FOR_MS: i64 = 5_000;
const RENEW_EVERY: Duration = Duration::from_secs(1);

/// Renews node `name`'s row in the caller's transaction. Claims call it first, so a lease
/// never exists before its node's row does.
pub(crate) async fn renew(conn: &mut Conn, name: &str, now: i64) -> Result<(), StoreError> {
    store::beat(conn, name, now + ALIVE_FOR_MS).await
}

impl App {
    /// Registers this node and frees the leases a dead node of the same name left (node
    /// names are unique among running nodes). Call before running the scheduler and jobs.
    pub async fn join_nodes(&self) -> Result<(), AppError> {
        let name = self.config().node_name.clone();
        let now = self.now_ms();
        self.db()
            .write(move |conn| {
                Box::pin(async move {
                    renew(conn, &name, now).await?;
                    Ok::<_, AppError>(store::release_leases(conn, &name).await?)
                })
            })
            .await
    }

    /// Renews this node's row every second until `shutdown` turns true.
    pub async fn keep_node_alive(&self, mut shutdown: watch::Receiver<bool>) {
        let mut ticks = tokio::time::interval(RENEW_EVERY);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
            let name = self.config().node_name.clone();
            let now = self.now_ms();
            let renewed = self
                .db()
                .write(move |conn| {
                    Box::pin(async move { Ok::<_, AppError>(renew(conn, &name, now).await?) })
                })
                .await;
            if let Err(error) = renewed {
                tracing::warn!(%error, "could not renew this node's liveness");
            }
        }
    }
}
