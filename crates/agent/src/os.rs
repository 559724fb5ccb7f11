//! The operating system: distribution from os-release, kernel and architecture.

use std::collections::BTreeMap;
use std::path::Path;

use opsdesk_domain::inventory::Os;

use crate::read_trimmed;

/// The variables of an os-release file (`KEY=value`, values maybe quoted, with shell
/// escapes inside double quotes).
pub fn parse_os_release(text: &str) -> BTreeMap<String, String> {
    let mut variables = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        variables.insert(key.trim().to_owned(), unquote(value.trim()));
    }
    variables
}

fn unquote(value: &str) -> String {
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return inner.to_owned();
    }
    let inner = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    let mut unescaped = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                unescaped.push(next);
            }
        } else {
            unescaped.push(c);
        }
    }
    unescaped
}

/// The architecture as `uname -m` names it, for the architecture this agent was built for;
/// used when the kernel does not say.
pub fn build_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86" => "i686",
        "arm" => "armv7l",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "powerpc" => "ppc",
        other => other,
    }
}

/// The operating system, from os-release and the kernel's own files under `root`.
pub fn read(root: &Path) -> Os {
    let release = ["etc/os-release", "usr/lib/os-release"]
        .iter()
        .find_map(|path| std::fs::read_to_string(root.join(path)).ok())
        .map(|text| parse_os_release(&text))
        .unwrap_or_default();
    let name = release
        .get("PRETTY_NAME")
        .or_else(|| release.get("NAME"))
        .filter(|name| !name.is_empty())
        .cloned()
        .unwrap_or_else(|| "Linux".to_owned());
    Os {
        name,
        version: release.get("VERSION_ID").cloned(),
        kernel: read_trimmed(&root.join("proc/sys/kernel/osrelease")).unwrap_or_default(),
        // Linux 6.1 and later name it here, as `uname -m` does.
        architecture: read_trimmed(&root.join("proc/sys/kernel/arch"))
            .filter(|arch| !arch.is_empty())
            .unwrap_or_else(|| build_architecture().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_os_release_reads_with_quotes_removed() {
        let debian = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
            VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n\
            HOME_URL=\"https://www.debian.org/\"\n";
        let release = parse_os_release(debian);
        assert_eq!(release["PRETTY_NAME"], "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(release["VERSION_ID"], "12");
        assert_eq!(release["ID"], "debian");
    }

    #[test]
    fn rhel_os_release_with_comments_and_escapes() {
        let rhel = "NAME=\"Red Hat Enterprise Linux\"\nVERSION=\"9.3 (Plow)\"\nID=\"rhel\"\n\
            ID_LIKE=\"fedora\"\nVERSION_ID=\"9.3\"\n# a comment\n\
            PRETTY_NAME=\"Red Hat Enterprise Linux 9.3 (Plow)\"\nANSI_COLOR='0;31'\n\
            QUOTED=\"say \\\"hi\\\"\"\n";
        let release = parse_os_release(rhel);
        assert_eq!(
            release["PRETTY_NAME"],
            "Red Hat Enterprise Linux 9.3 (Plow)"
        );
        assert_eq!(release["VERSION_ID"], "9.3");
        assert_eq!(release["ANSI_COLOR"], "0;31");
        assert_eq!(release["QUOTED"], "say \"hi\"");
        assert!(!release.contains_key("# a comment"));
    }

    #[test]
    fn name_falls_back_to_name_then_linux() -> std::io::Result<()> {
        let root = tempfile::tempdir()?;
        std::fs::create_dir_all(root.path().join("etc"))?;
        std::fs::create_dir_all(root.path().join("proc/sys/kernel"))?;
        std::fs::write(root.path().join("etc/os-release"), "NAME=Alpine Linux\n")?;
        std::fs::write(
            root.path().join("proc/sys/kernel/osrelease"),
            "6.1.0-18-amd64\n",
        )?;
        std::fs::write(root.path().join("proc/sys/kernel/arch"), "aarch64\n")?;
        let os = read(root.path());
        assert_eq!(os.name, "Alpine Linux");
        assert_eq!(os.version, None);
        assert_eq!(os.kernel, "6.1.0-18-amd64");
        assert_eq!(os.architecture, "aarch64");
        std::fs::remove_file(root.path().join("etc/os-release"))?;
        std::fs::remove_file(root.path().join("proc/sys/kernel/arch"))?;
        let os = read(root.path());
        assert_eq!(os.name, "Linux");
        assert_eq!(os.architecture, build_architecture());
        Ok(())
    }
}
