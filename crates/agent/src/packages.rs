//! Installed packages, from `dpkg-query` and `rpm`, whichever the machine has.

use std::collections::BTreeMap;
use std::time::Duration;

use opsdesk_domain::inventory::Package;

use crate::command;

/// The `dpkg-query` output format [`parse_dpkg`] reads.
pub const DPKG_FORMAT: &str = "${Package}\\t${Version}\\t${Architecture}\\t${db:Status-Abbrev}\\n";
/// The `rpm --queryformat` [`parse_rpm`] reads.
pub const RPM_FORMAT: &str = "%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\t%{ARCH}\\n";

const TIME_LIMIT: Duration = Duration::from_secs(60);

fn architecture(text: &str) -> Option<String> {
    // rpm says `(none)` for packages without one, such as imported GPG keys.
    (!text.is_empty() && text != "(none)").then(|| text.to_owned())
}

/// Installed packages from `dpkg-query -W -f` [`DPKG_FORMAT`] output. A package is
/// installed when the second letter of its status is `i` (`ii`, or `hi` when held);
/// removed packages whose configuration remains (`rc`) are not.
pub fn parse_dpkg(text: &str) -> Vec<Package> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let (name, version, arch, status) = (
                fields.next()?,
                fields.next()?,
                fields.next()?,
                fields.next()?,
            );
            let installed = status.chars().nth(1) == Some('i');
            (installed && !name.is_empty()).then(|| Package {
                name: name.to_owned(),
                version: version.to_owned(),
                architecture: architecture(arch),
                manager: "dpkg".to_owned(),
            })
        })
        .collect()
}

/// Packages from `rpm -qa --qf` [`RPM_FORMAT`] output; the default epoch `0:` is left out,
/// as rpm itself prints versions.
pub fn parse_rpm(text: &str) -> Vec<Package> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let (name, version, arch) = (fields.next()?, fields.next()?, fields.next()?);
            let version = version.strip_prefix("0:").unwrap_or(version);
            (!name.is_empty()).then(|| Package {
                name: name.to_owned(),
                version: version.to_owned(),
                architecture: architecture(arch),
                manager: "rpm".to_owned(),
            })
        })
        .collect()
}

/// A package tool: its program, its arguments and the parser of its output.
type PackageTool = (
    &'static str,
    &'static [&'static str],
    fn(&str) -> Vec<Package>,
);

/// The last list each package tool gave, by tool.
pub type KnownPackages = BTreeMap<&'static str, Vec<Package>>;

/// Every installed package the machine's package tools list, sorted. A tool that exists but
/// fails this time contributes the list it gave last, so one failure does not look like
/// every package removed.
pub async fn collect(known: &mut KnownPackages) -> Vec<Package> {
    let tools: [PackageTool; 2] = [
        ("dpkg-query", &["-W", "-f", DPKG_FORMAT], parse_dpkg),
        ("rpm", &["-qa", "--qf", RPM_FORMAT], parse_rpm),
    ];
    for (program, args, parse) in tools {
        match command::run(program, args, TIME_LIMIT).await {
            Ok(output) => {
                known.insert(program, parse(&output));
            }
            Err(command::CommandError::Missing { .. }) => {
                known.remove(program);
            }
            Err(error) => tracing::warn!(%error, "cannot list the installed packages"),
        }
    }
    let mut packages: Vec<Package> = known.values().flatten().cloned().collect();
    packages.sort();
    packages.dedup();
    packages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_keeps_installed_and_held_packages() {
        // From this development machine, plus a held package and a removed one.
        let output = "adduser\t3.134\tall\tii \n\
            amqp-tools\t0.11.0-1+deb12u3\tamd64\tii \n\
            apt\t2.6.1\tamd64\tii \n\
            linux-image-6.1.0-18-amd64\t6.1.76-1\tamd64\trc \n\
            libc6\t2.36-9+deb12u4\ti386\thi \n\
            broken\t1.0\tamd64\tiU \n\
            truncated line\n";
        let packages = parse_dpkg(output);
        let names: Vec<_> = packages
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.version.as_str(),
                    p.architecture.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("adduser", "3.134", Some("all")),
                ("amqp-tools", "0.11.0-1+deb12u3", Some("amd64")),
                ("apt", "2.6.1", Some("amd64")),
                ("libc6", "2.36-9+deb12u4", Some("i386")),
            ]
        );
        assert!(packages.iter().all(|p| p.manager == "dpkg"));
    }

    #[test]
    fn rpm_versions_drop_the_zero_epoch_only() {
        let output = "bash\t0:5.1.8-6.el9_1\tx86_64\n\
            openssl\t1:3.0.7-24.el9\tx86_64\n\
            gpg-pubkey\t0:fd431d51-4ae0493b\t(none)\n";
        let packages = parse_rpm(output);
        assert_eq!(packages.len(), 3);
        assert_eq!(packages[0].version, "5.1.8-6.el9_1");
        assert_eq!(packages[1].version, "1:3.0.7-24.el9");
        assert_eq!(packages[2].architecture, None);
        assert!(packages.iter().all(|p| p.manager == "rpm"));
    }
}
