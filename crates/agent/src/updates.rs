//! Pending updates, from a simulated `apt-get dist-upgrade`: the package lists the machine's
//! own apt timer refreshed, never refreshed here.

use std::time::Duration;

use opsdesk_domain::inventory::PendingUpdate;
use tokio::time::Instant;

use crate::command;

/// How long a simulation stays good: it reads every package list, the costly part of a
/// report, and the lists change only when apt refreshes them.
pub const REFRESH_EVERY: Duration = Duration::from_secs(3600);

const TIME_LIMIT: Duration = Duration::from_secs(120);

/// One `Inst` line of `apt-get -s`:
/// `Inst openssl [3.0.11-1~deb12u1] (3.0.13-1~deb12u1 Debian-Security:12/stable-security [amd64])`.
/// A package new to the machine (no installed version in brackets) is not an update.
pub fn parse_inst_line(line: &str) -> Option<PendingUpdate> {
    let rest = line.strip_prefix("Inst ")?;
    let (name, rest) = rest.split_once(' ')?;
    let rest = rest.trim_start().strip_prefix('[')?;
    let (current, rest) = rest.split_once(']')?;
    let rest = rest.trim_start().strip_prefix('(')?;
    let (candidate, origins) = rest.split_once(' ').unwrap_or((rest, ""));
    let candidate = candidate.trim_end_matches(')');
    // Multi-arch systems print `libc6:i386`; the package list names it `libc6`.
    let name = name.split(':').next().unwrap_or(name);
    if name.is_empty() || current.is_empty() || candidate.is_empty() {
        return None;
    }
    Some(PendingUpdate {
        name: name.to_owned(),
        current: current.to_owned(),
        candidate: candidate.to_owned(),
        security: origins.to_ascii_lowercase().contains("security"),
    })
}

/// Pending updates in `apt-get -s` output, sorted.
pub fn parse_apt_simulation(text: &str) -> Vec<PendingUpdate> {
    let mut updates: Vec<_> = text.lines().filter_map(parse_inst_line).collect();
    updates.sort();
    updates.dedup();
    updates
}

/// Remembers the last simulation, so that it runs at most once per [`REFRESH_EVERY`].
#[derive(Debug, Default)]
pub struct UpdatesCache {
    last: Option<(Instant, Vec<PendingUpdate>)>,
}

impl UpdatesCache {
    /// The pending updates, simulated again when the last simulation is older than
    /// [`REFRESH_EVERY`]. When the simulation fails the last result stands; with none, an
    /// empty list.
    pub async fn get(&mut self) -> Vec<PendingUpdate> {
        if let Some((taken, updates)) = &self.last
            && taken.elapsed() < REFRESH_EVERY
        {
            return updates.clone();
        }
        let args = ["-s", "-o", "Debug::NoLocking=1", "dist-upgrade"];
        match command::run("apt-get", &args, TIME_LIMIT).await {
            Ok(output) => {
                let updates = parse_apt_simulation(&output);
                self.last = Some((Instant::now(), updates.clone()));
                updates
            }
            Err(command::CommandError::Missing { .. }) => {
                self.last = Some((Instant::now(), Vec::new()));
                Vec::new()
            }
            Err(error) => {
                tracing::warn!(%error, "cannot list the pending updates");
                self.last
                    .as_ref()
                    .map(|(_, updates)| updates.clone())
                    .unwrap_or_default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(name: &str, current: &str, candidate: &str, security: bool) -> PendingUpdate {
        PendingUpdate {
            name: name.into(),
            current: current.into(),
            candidate: candidate.into(),
            security,
        }
    }

    #[test]
    fn debian_simulation_marks_security_updates() {
        // Captured on this development machine (Debian 12), plus a new dependency and a
        // multi-arch package.
        let output = "Reading package lists...\nBuilding dependency tree...\n\
            Reading state information...\nCalculating upgrade...\n\
            The following packages will be upgraded:\n  base-files bash libgcrypt20\n\
            3 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.\n\
            Inst base-files [12.4+deb12u11] (12.4+deb12u15 Debian:12.15/oldstable [amd64])\n\
            Inst libgcrypt20-dev [1.10.1-3] (1.10.1-3+deb12u1 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64]) []\n\
            Inst liblzma5 [5.4.1-1] (5.4.1-1+deb12u2 Debian-Security:12/oldstable-security [amd64])\n\
            Inst libc6:i386 [2.36-9+deb12u4] (2.36-9+deb12u7 Debian:12.6/stable [i386])\n\
            Inst linux-image-6.1.0-21-amd64 (6.1.90-1 Debian-Security:12/stable-security [amd64])\n\
            Conf liblzma5 (5.4.1-1+deb12u2 Debian-Security:12/oldstable-security [amd64])\n";
        assert_eq!(
            parse_apt_simulation(output),
            [
                update("base-files", "12.4+deb12u11", "12.4+deb12u15", false),
                update("libc6", "2.36-9+deb12u4", "2.36-9+deb12u7", false),
                update("libgcrypt20-dev", "1.10.1-3", "1.10.1-3+deb12u1", true),
                update("liblzma5", "5.4.1-1", "5.4.1-1+deb12u2", true),
            ]
        );
    }

    #[test]
    fn ubuntu_security_pocket_counts_as_security() {
        let line = "Inst libssl3 [3.0.2-0ubuntu1.10] (3.0.2-0ubuntu1.12 Ubuntu:22.04/jammy-updates, Ubuntu:22.04/jammy-security [amd64])";
        assert_eq!(
            parse_inst_line(line),
            Some(update(
                "libssl3",
                "3.0.2-0ubuntu1.10",
                "3.0.2-0ubuntu1.12",
                true
            ))
        );
        assert_eq!(parse_inst_line("Inst"), None);
        assert_eq!(parse_inst_line("Remv foo [1.0]"), None);
    }
}
