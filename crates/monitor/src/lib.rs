//! opsdesk's monitoring engine: the scheduler that runs each monitor's probe (HTTP(S), TCP,
//! ICMP, DNS, TLS certificates, SNMP interfaces — in `opsdesk-network`) on time, with
//! bounded concurrency, on whichever node holds each check's lease; and the SNMP trap
//! receiver.

pub mod scheduler;
pub mod traps;

pub use opsdesk_network::Prober;
pub use scheduler::{Scheduler, SchedulerConfig, SchedulerStats};
pub use traps::receive_traps;
