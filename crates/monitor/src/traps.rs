//! SNMP traps in: each trap a listener receives becomes an alert of the integration the
//! server names (see `App::receive_trap`). The listener skips what it cannot read; a
//! failure to record one trap is logged and the next is taken.

use opsdesk_app::App;
use opsdesk_app::network::ReceivedTrap;
use opsdesk_network::TrapListener;
use tokio::sync::watch;

/// Takes traps from `listener` into `integration` until `stopped` turns true.
pub async fn receive_traps(
    app: App,
    mut listener: TrapListener,
    integration: String,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let trap = tokio::select! {
            trap = listener.next() => trap,
            _ = stopped.wait_for(|stop| *stop) => return,
        };
        let trap = match trap {
            Ok(trap) => trap,
            Err(error) => {
                tracing::warn!(%error, "cannot receive SNMP traps");
                continue;
            }
        };
        tracing::info!(source = %trap.source, trap = %trap.trap_oid, "SNMP trap received");
        let received = ReceivedTrap {
            source: trap.source,
            name: trap.name.map(str::to_owned),
            trap_oid: trap.trap_oid,
            if_index: trap.if_index,
        };
        if let Err(error) = app.receive_trap(&integration, received).await {
            tracing::error!(%error, "could not record an SNMP trap");
        }
    }
}
