//! Local accounts that can log in, from `/etc/passwd`.

use std::path::Path;

use opsdesk_domain::inventory::LocalUser;

/// Shells that refuse a login.
fn is_login_shell(shell: &str) -> bool {
    !shell.is_empty() && !shell.ends_with("nologin") && !shell.ends_with("false")
}

/// Accounts in `/etc/passwd` text with a login shell, and every uid 0 account whatever its
/// shell (a second root is worth seeing), sorted.
pub fn parse_passwd(text: &str) -> Vec<LocalUser> {
    let mut users: Vec<LocalUser> = text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.starts_with('+') && !line.starts_with('-'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let [name, _password, uid, _gid, _gecos, home, shell] = fields.as_slice() else {
                return None;
            };
            let uid: u32 = uid.parse().ok()?;
            (uid == 0 || is_login_shell(shell)).then(|| LocalUser {
                name: (*name).to_owned(),
                uid,
                home: (*home).to_owned(),
                shell: (*shell).to_owned(),
            })
        })
        .collect();
    users.sort();
    users
}

/// The login accounts of the machine whose `/etc` is under `root`.
pub fn read(root: &Path) -> Vec<LocalUser> {
    std::fs::read_to_string(root.join("etc/passwd"))
        .map(|text| parse_passwd(&text))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_accounts_that_can_log_in_and_root() {
        // The head of this development machine's /etc/passwd, plus a person, a
        // /bin/false account, a second uid 0 and an NIS include line.
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
            daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
            bin:x:2:2:bin:/bin:/usr/sbin/nologin\n\
            sync:x:4:65534:sync:/bin:/bin/sync\n\
            prometheus:x:110:113:Prometheus daemon,,,:/var/lib/prometheus:/usr/sbin/nologin\n\
            alice:x:1000:1000:Alice,,,:/home/alice:/usr/bin/zsh\n\
            git:x:998:998::/var/lib/git:/bin/false\n\
            toor:x:0:0:backdoor:/root:/sbin/nologin\n\
            +@netgroup::::::\n\
            broken line\n";
        let users = parse_passwd(passwd);
        let names: Vec<_> = users.iter().map(|u| (u.name.as_str(), u.uid)).collect();
        assert_eq!(
            names,
            [("alice", 1000), ("root", 0), ("sync", 4), ("toor", 0)]
        );
        assert_eq!(users[0].home, "/home/alice");
        assert_eq!(users[0].shell, "/usr/bin/zsh");
    }
}
