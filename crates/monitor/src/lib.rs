//! opsdesk's monitoring engine: probes that check targets over the network (HTTP(S), TCP,
//! ICMP, DNS, TLS certificates) and the scheduler that runs them on time, with bounded
//! concurrency, on whichever node holds each check's lease.

pub mod probe;
pub mod scheduler;

pub use probe::Prober;
pub use scheduler::{Scheduler, SchedulerConfig, SchedulerStats};
