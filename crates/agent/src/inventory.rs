//! One snapshot of the machine: every section, collected together.

use std::path::{Path, PathBuf};
use std::time::Duration;

use opsdesk_domain::inventory::{
    Hardware, ListeningService, LocalUser, MOST_ITEMS, Os, Package, PendingUpdate,
};

use crate::updates::UpdatesCache;
use crate::{command, hardware, os, packages, read_trimmed, services, users};

/// Everything the agent knows about the machine at one moment, every list sorted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    pub hostname: String,
    pub uptime_seconds: u64,
    pub hardware: Hardware,
    pub os: Os,
    pub packages: Vec<Package>,
    pub updates: Vec<PendingUpdate>,
    pub services: Vec<ListeningService>,
    pub users: Vec<LocalUser>,
}

/// The seconds since boot, the first number of `/proc/uptime`.
pub fn parse_uptime(text: &str) -> Option<u64> {
    let seconds: f64 = text.split_whitespace().next()?.parse().ok()?;
    // Whole seconds suffice; the cast saturates on nonsense.
    Some(seconds.max(0.0) as u64)
}

/// This machine's name, as the kernel has it.
pub fn hostname() -> String {
    read_trimmed(Path::new("/proc/sys/kernel/hostname"))
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Collects snapshots, keeping what is costly to learn between them.
#[derive(Debug)]
pub struct Collector {
    root: PathBuf,
    updates: UpdatesCache,
    packages: packages::KnownPackages,
}

impl Default for Collector {
    fn default() -> Self {
        Self {
            root: PathBuf::from("/"),
            updates: UpdatesCache::default(),
            packages: packages::KnownPackages::new(),
        }
    }
}

impl Collector {
    /// A snapshot of the machine now. Nothing here fails: what cannot be read is left out.
    pub async fn collect(&mut self) -> Inventory {
        let ip_output = command::run("ip", &["-o", "addr"], Duration::from_secs(10))
            .await
            .inspect_err(|error| tracing::debug!(%error, "no interface addresses"))
            .ok();
        let mut packages = packages::collect(&mut self.packages).await;
        let mut updates = self.updates.get().await;
        let root = self.root.clone();
        // Scanning /proc and /sys is many small blocking reads.
        let read_files = tokio::task::spawn_blocking(move || {
            let hardware = hardware::read(&root, ip_output.as_deref());
            let os = os::read(&root);
            let services = services::read(&root.join("proc"));
            let users = users::read(&root);
            let uptime = std::fs::read_to_string(root.join("proc/uptime"))
                .ok()
                .and_then(|text| parse_uptime(&text))
                .unwrap_or(0);
            (hardware, os, services, users, uptime)
        })
        .await;
        let (hardware, os, mut services, mut users, uptime_seconds) = match read_files {
            Ok(read) => read,
            Err(error) => {
                tracing::warn!(%error, "reading /proc and /sys failed");
                Default::default()
            }
        };
        // The server takes no more items per list than this; the rest would void the report.
        for length in [
            truncate(&mut packages),
            truncate(&mut updates),
            truncate(&mut services),
            truncate(&mut users),
        ] {
            if length > MOST_ITEMS {
                tracing::warn!(length, "a list was cut to {MOST_ITEMS} items");
            }
        }
        Inventory {
            hostname: hostname(),
            uptime_seconds,
            hardware,
            os,
            packages,
            updates,
            services,
            users,
        }
    }
}

/// Cuts `list` to [`MOST_ITEMS`]; returns its length before.
fn truncate<T>(list: &mut Vec<T>) -> usize {
    let length = list.len();
    list.truncate(MOST_ITEMS);
    length
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_is_whole_seconds() {
        assert_eq!(parse_uptime("3601.97 6756.96\n"), Some(3601));
        assert_eq!(parse_uptime(""), None);
    }

    /// The real collectors on the machine running the tests (a Debian system with dpkg).
    #[tokio::test]
    async fn this_machine_is_collected() {
        let inventory = Collector::default().collect().await;
        assert!(!inventory.hostname.is_empty());
        assert!(inventory.hardware.cpu_cores >= 1);
        assert!(inventory.hardware.memory_bytes > 0);
        assert!(!inventory.os.kernel.is_empty());
        assert!(!inventory.os.architecture.is_empty());
        if command::find_program("dpkg-query").is_some() {
            assert!(
                inventory
                    .packages
                    .iter()
                    .any(|p| p.name == "dpkg" && p.manager == "dpkg"),
                "dpkg is missing from {} packages",
                inventory.packages.len()
            );
        }
        let mut sorted = inventory.packages.clone();
        sorted.sort();
        assert_eq!(sorted, inventory.packages);
        assert!(inventory.users.iter().any(|u| u.uid == 0));
    }
}
