//! opsdesk's monitoring engine: the scheduler that runs each monitor's probe (HTTP(S), TCP,
//! ICMP, DNS, TLS certificates — in `opsdesk-network`) on time, with bounded concurrency, on
//! whichever node holds each check's lease.

pub mod scheduler;

pub use opsdesk_network::Prober;
pub use scheduler::{Scheduler, SchedulerConfig, SchedulerStats};
