//! LDAP and Active Directory directories: where one may be reached (never in plain text to a
//! remote server), how a disabled account shows, and what a sync changes in the desk — the
//! comparison of the directory's people with the desk's accounts, free of I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::Serialize;

use crate::account::Role;

crate::string_enum! {
    /// The directory's software, which decides how passwords are set and lockouts lifted.
    pub enum DirectoryKind as "directory kind" {
        /// OpenLDAP and other RFC 3062 servers: the password modify operation,
        /// `pwdAccountLockedTime` of the ppolicy overlay.
        OpenLdap => "openldap",
        /// Microsoft Active Directory: `unicodePwd`, `lockoutTime`, `userAccountControl`.
        ActiveDirectory => "active_directory",
    }
}

crate::string_enum! {
    /// How a disabled account shows in the directory. A person the sync no longer finds is
    /// disabled whichever is chosen.
    pub enum DisabledDetection as "disabled detection" {
        /// Active Directory's `userAccountControl` with bit 2 (ACCOUNTDISABLE) set.
        AdAccountControl => "ad_account_control",
        /// OpenLDAP ppolicy's `pwdAccountLockedTime` present.
        PpolicyLocked => "ppolicy_locked",
        /// People outside the directory's `enabled_filter` are disabled.
        EnabledFilter => "enabled_filter",
        /// Only people no longer found are disabled.
        None => "none",
    }
}

/// The `userAccountControl` bit of a disabled Active Directory account.
pub const AD_ACCOUNT_DISABLED: u64 = 0x2;

/// Whether an entry's attributes say it is disabled, for the detections that read an
/// attribute (`enabled_filter` is applied by the search itself).
pub fn disabled_by_attribute(
    detection: DisabledDetection,
    account_control: Option<&str>,
    locked_time: Option<&str>,
) -> bool {
    match detection {
        DisabledDetection::AdAccountControl => account_control
            .and_then(|value| value.trim().parse::<u64>().ok())
            .is_some_and(|flags| flags & AD_ACCOUNT_DISABLED != 0),
        DisabledDetection::PpolicyLocked => locked_time.is_some_and(|t| !t.trim().is_empty()),
        DisabledDetection::EnabledFilter | DisabledDetection::None => false,
    }
}

/// Where a directory is reached, checked: `ldaps://`, or `ldap://` with StartTLS, or plain
/// `ldap://` to a loopback address only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUrl {
    url: String,
    host: String,
    starttls: bool,
}

/// Why a directory's address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryUrlError {
    #[error("must be an `ldaps://host[:port]` or `ldap://host[:port]` address")]
    Shape,
    #[error(
        "never plain text to a remote server: use `ldaps://`, or `ldap://` with StartTLS; \
         plain `ldap://` is allowed to a loopback address only"
    )]
    PlainToRemote,
    #[error("StartTLS is for `ldap://` addresses; `ldaps://` is encrypted from the start")]
    StartTlsOnLdaps,
}

impl DirectoryUrl {
    /// Checks `url` with its StartTLS setting.
    pub fn parse(url: &str, starttls: bool) -> Result<Self, DirectoryUrlError> {
        let url = url.trim();
        let (tls, rest) = if let Some(rest) = url.strip_prefix("ldaps://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("ldap://") {
            (false, rest)
        } else {
            return Err(DirectoryUrlError::Shape);
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty()
            || authority.len() > 255
            || authority
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '?' | '#' | '@'))
        {
            return Err(DirectoryUrlError::Shape);
        }
        let host = host_of(authority).ok_or(DirectoryUrlError::Shape)?;
        if tls && starttls {
            return Err(DirectoryUrlError::StartTlsOnLdaps);
        }
        if !tls && !starttls && !is_loopback(&host) {
            return Err(DirectoryUrlError::PlainToRemote);
        }
        Ok(Self {
            url: format!("{}://{authority}", if tls { "ldaps" } else { "ldap" }),
            host,
            starttls,
        })
    }

    /// The address, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The host name or address the certificate must be for.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether the connection starts in plain text and turns to TLS with StartTLS.
    pub fn starttls(&self) -> bool {
        self.starttls
    }

    /// Whether nothing on the connection is encrypted (plain `ldap://` to loopback).
    pub fn plain(&self) -> bool {
        !self.starttls && self.url.starts_with("ldap://")
    }
}

/// The host of `host[:port]` or `[v6]:port`, with a valid port when one is given.
fn host_of(authority: &str) -> Option<String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if let Some(port) = port {
        port.parse::<u16>().ok().filter(|p| *p > 0)?;
    }
    let valid = !host.is_empty()
        && (host.parse::<IpAddr>().is_ok()
            || host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'));
    valid.then(|| host.to_ascii_lowercase())
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A person as the directory has them, read by a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryPerson {
    /// The directory's stable id for them (entryUUID, objectGUID).
    pub subject: String,
    pub dn: String,
    /// Lower-cased address.
    pub email: String,
    pub name: String,
    pub disabled: bool,
    /// The groups they are in, each by DN and by common name, lower-cased.
    pub groups: BTreeSet<String>,
}

/// An account of the desk a sync compares with the directory's people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskAccount {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub organization_id: Option<i64>,
    pub active: bool,
    /// The directory subject the account is linked to, if it is linked to this directory.
    pub subject: Option<String>,
    /// The support groups it is a member of, by lower-cased name.
    pub support_groups: BTreeSet<String>,
}

/// What a directory's groups make of its people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRules {
    /// The organization a customer directory serves; `None` for staff.
    pub organization_id: Option<i64>,
    pub default_role: Role,
    /// (directory group, role), first match wins.
    pub role_rules: Vec<(String, Role)>,
    /// (directory group, support group name).
    pub group_mappings: Vec<(String, String)>,
}

impl SyncRules {
    /// The role a person's groups give them. A customer directory only ever makes customers.
    pub fn role_for(&self, groups: &BTreeSet<String>) -> Role {
        if self.organization_id.is_some() {
            return Role::Customer;
        }
        self.role_rules
            .iter()
            .find(|(group, _)| groups.contains(&group.to_lowercase()))
            .map_or(self.default_role, |(_, role)| *role)
    }

    /// The support groups (lower-cased names) a person's directory groups put them in; none
    /// for customers, whom support groups do not take.
    pub fn support_groups_for(&self, groups: &BTreeSet<String>, role: Role) -> BTreeSet<String> {
        if role == Role::Customer {
            return BTreeSet::new();
        }
        self.group_mappings
            .iter()
            .filter(|(group, _)| groups.contains(&group.to_lowercase()))
            .map(|(_, support)| support.to_lowercase())
            .collect()
    }

    /// The support groups (lower-cased names) this directory manages the members of.
    pub fn managed_groups(&self) -> BTreeSet<String> {
        self.group_mappings
            .iter()
            .map(|(_, support)| support.to_lowercase())
            .collect()
    }
}

/// An account a sync creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedAccount {
    pub subject: String,
    pub dn: String,
    pub email: String,
    pub name: String,
    #[serde(serialize_with = "role_name")]
    pub role: Role,
    pub support_groups: Vec<String>,
}

/// Changes a sync makes to one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountChange {
    pub user_id: i64,
    pub email: String,
    /// The subject to link the account to, when it is not linked yet (found by address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "maybe_role_name"
    )]
    pub new_role: Option<Role>,
    /// Enabled again in the directory.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reactivate: bool,
}

/// An account a sync deactivates: disabled in the directory, or no longer found there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deactivation {
    pub user_id: i64,
    pub email: String,
    /// `disabled` or `not_found`.
    pub reason: &'static str,
}

/// One membership a sync adds or removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupChange {
    /// The account, unless it is still to be made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    /// The account's address (as the directory has it, for an account still to be made).
    pub email: String,
    pub support_group: String,
    pub add: bool,
}

/// A person the sync leaves alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub email: String,
    pub dn: String,
    pub reason: String,
}

/// Everything a sync would change: the dry run shows it, the real run carries it out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncPlan {
    pub create: Vec<PlannedAccount>,
    pub update: Vec<AccountChange>,
    pub disable: Vec<Deactivation>,
    pub groups: Vec<GroupChange>,
    pub skipped: Vec<Skipped>,
}

impl SyncPlan {
    /// Whether the sync changes nothing.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty()
            && self.update.is_empty()
            && self.disable.is_empty()
            && self.groups.is_empty()
    }
}

fn role_name<S: serde::Serializer>(role: &Role, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(role.as_str())
}

fn maybe_role_name<S: serde::Serializer>(role: &Option<Role>, s: S) -> Result<S::Ok, S::Error> {
    match role {
        Some(role) => s.serialize_str(role.as_str()),
        None => s.serialize_none(),
    }
}

/// Compares the directory's `people` with the desk's `accounts` (those linked to this
/// directory, and any whose address a person has) and plans the changes.
///
/// A person is matched by subject first, then by address; an account matched by address is
/// linked, unless it belongs elsewhere (a staff account for a customer directory, another
/// organization's customer), which is skipped. Linked accounts whose person is gone or
/// disabled are deactivated. Memberships change only in the support groups the directory
/// maps, and only for accounts linked to it.
pub fn plan_sync(
    people: &[DirectoryPerson],
    accounts: &[DeskAccount],
    rules: &SyncRules,
) -> SyncPlan {
    let by_subject: BTreeMap<&str, &DeskAccount> = accounts
        .iter()
        .filter_map(|a| a.subject.as_deref().map(|s| (s, a)))
        .collect();
    let by_email: BTreeMap<&str, &DeskAccount> =
        accounts.iter().map(|a| (a.email.as_str(), a)).collect();
    let managed = rules.managed_groups();
    let mut plan = SyncPlan::default();
    let mut seen: BTreeSet<i64> = BTreeSet::new();
    let mut taken_emails: BTreeSet<&str> = BTreeSet::new();
    for person in people {
        if person.email.is_empty() {
            plan.skipped.push(Skipped {
                email: String::new(),
                dn: person.dn.clone(),
                reason: "no e-mail address in the directory".into(),
            });
            continue;
        }
        let role = rules.role_for(&person.groups);
        let wanted = rules.support_groups_for(&person.groups, role);
        let (account, link) = match by_subject.get(person.subject.as_str()) {
            Some(account) => (Some(*account), None),
            None => match by_email.get(person.email.as_str()) {
                Some(account) if account.subject.is_some() => {
                    plan.skipped.push(Skipped {
                        email: person.email.clone(),
                        dn: person.dn.clone(),
                        reason: "the address belongs to an account linked to another entry".into(),
                    });
                    continue;
                }
                Some(account) if !belongs(account, rules) => {
                    plan.skipped.push(Skipped {
                        email: person.email.clone(),
                        dn: person.dn.clone(),
                        reason: "the address belongs to an account outside this directory's \
                                 organization"
                            .into(),
                    });
                    continue;
                }
                Some(account) => (Some(*account), Some(person.subject.clone())),
                None => (None, None),
            },
        };
        let Some(account) = account else {
            if person.disabled || !taken_emails.insert(person.email.as_str()) {
                continue;
            }
            plan.groups.extend(wanted.iter().map(|group| GroupChange {
                user_id: None,
                email: person.email.clone(),
                support_group: group.clone(),
                add: true,
            }));
            plan.create.push(PlannedAccount {
                subject: person.subject.clone(),
                dn: person.dn.clone(),
                email: person.email.clone(),
                name: person.name.clone(),
                role,
                support_groups: wanted.into_iter().collect(),
            });
            continue;
        };
        seen.insert(account.user_id);
        if person.disabled {
            if account.active {
                plan.disable.push(Deactivation {
                    user_id: account.user_id,
                    email: account.email.clone(),
                    reason: "disabled",
                });
            }
            continue;
        }
        let new_email = (account.email != person.email
            && !by_email.contains_key(person.email.as_str()))
        .then(|| person.email.clone());
        let change = AccountChange {
            user_id: account.user_id,
            email: account.email.clone(),
            link,
            new_email,
            new_name: (!person.name.is_empty() && account.name != person.name)
                .then(|| person.name.clone()),
            new_role: (account.role != role).then_some(role),
            reactivate: !account.active,
        };
        if change.link.is_some()
            || change.new_email.is_some()
            || change.new_name.is_some()
            || change.new_role.is_some()
            || change.reactivate
        {
            plan.update.push(change);
        }
        for group in &managed {
            let has = account.support_groups.contains(group);
            let should = wanted.contains(group);
            if has != should {
                plan.groups.push(GroupChange {
                    user_id: Some(account.user_id),
                    email: account.email.clone(),
                    support_group: group.clone(),
                    add: should,
                });
            }
        }
    }
    for account in accounts {
        if account.subject.is_some() && account.active && !seen.contains(&account.user_id) {
            plan.disable.push(Deactivation {
                user_id: account.user_id,
                email: account.email.clone(),
                reason: "not_found",
            });
        }
    }
    plan
}

/// Whether an unlinked account may be linked to a person of this directory: a customer
/// directory's accounts are customers of its organization; a staff directory's are staff.
fn belongs(account: &DeskAccount, rules: &SyncRules) -> bool {
    match rules.organization_id {
        Some(organization) => {
            account.role == Role::Customer && account.organization_id == Some(organization)
        }
        None => account.role != Role::Customer,
    }
}

/// An LDAP filter value with the characters RFC 4515 reserves escaped.
pub fn escape_filter_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '*' => escaped.push_str("\\2a"),
            '(' => escaped.push_str("\\28"),
            ')' => escaped.push_str("\\29"),
            '\\' => escaped.push_str("\\5c"),
            '\0' => escaped.push_str("\\00"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Whether `filter` looks like an LDAP filter: wrapped in parentheses that balance.
pub fn is_filter(filter: &str) -> bool {
    let filter = filter.trim();
    if !(filter.starts_with('(') && filter.ends_with(')')) {
        return false;
    }
    let mut depth = 0_i64;
    for c in filter.chars() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_text_goes_only_to_loopback() {
        let cases = [
            (
                "ldaps://dc1.corp.example",
                false,
                Ok("ldaps://dc1.corp.example"),
            ),
            (
                "ldap://dc1.corp.example:389",
                true,
                Ok("ldap://dc1.corp.example:389"),
            ),
            ("ldap://127.0.0.1:1389/", false, Ok("ldap://127.0.0.1:1389")),
            ("ldap://localhost", false, Ok("ldap://localhost")),
            ("ldap://[::1]:389", false, Ok("ldap://[::1]:389")),
            (
                "ldap://dc1.corp.example",
                false,
                Err(DirectoryUrlError::PlainToRemote),
            ),
            (
                "ldap://10.0.0.5",
                false,
                Err(DirectoryUrlError::PlainToRemote),
            ),
            (
                "ldaps://dc1.corp.example",
                true,
                Err(DirectoryUrlError::StartTlsOnLdaps),
            ),
            (
                "http://dc1.corp.example",
                false,
                Err(DirectoryUrlError::Shape),
            ),
            ("ldaps://", false, Err(DirectoryUrlError::Shape)),
            ("ldaps://user@host", false, Err(DirectoryUrlError::Shape)),
            ("ldaps://host:99999", false, Err(DirectoryUrlError::Shape)),
        ];
        for (url, starttls, expected) in cases {
            let parsed = DirectoryUrl::parse(url, starttls);
            assert_eq!(
                parsed
                    .as_ref()
                    .map(DirectoryUrl::as_str)
                    .map_err(Clone::clone),
                expected,
                "{url} starttls={starttls}"
            );
        }
    }

    proptest! {
        #[test]
        fn no_remote_host_is_reached_in_plain_text(host in "[a-z][a-z0-9-]{0,20}(\\.[a-z]{2,5}){1,2}") {
            prop_assume!(host != "localhost" && !host.ends_with(".localhost"));
            let url = format!("ldap://{host}:389");
            prop_assert_eq!(DirectoryUrl::parse(&url, false), Err(DirectoryUrlError::PlainToRemote));
            prop_assert!(DirectoryUrl::parse(&url, true).is_ok());
        }
    }

    #[test]
    fn disabled_accounts_are_read_from_their_attributes() {
        use DisabledDetection::{AdAccountControl, PpolicyLocked};
        assert!(disabled_by_attribute(AdAccountControl, Some("514"), None));
        assert!(!disabled_by_attribute(AdAccountControl, Some("512"), None));
        assert!(!disabled_by_attribute(AdAccountControl, None, None));
        assert!(disabled_by_attribute(
            PpolicyLocked,
            None,
            Some("20260101000000Z")
        ));
        assert!(!disabled_by_attribute(PpolicyLocked, Some("514"), None));
        assert!(!disabled_by_attribute(
            DisabledDetection::None,
            Some("514"),
            Some("x")
        ));
    }

    fn person(subject: &str, email: &str, groups: &[&str]) -> DirectoryPerson {
        DirectoryPerson {
            subject: subject.into(),
            dn: format!("uid={subject},ou=people,dc=x"),
            email: email.into(),
            name: subject.to_uppercase(),
            disabled: false,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn account(id: i64, email: &str, subject: Option<&str>) -> DeskAccount {
        DeskAccount {
            user_id: id,
            email: email.into(),
            name: subject.unwrap_or("x").to_uppercase(),
            role: Role::Agent,
            organization_id: None,
            active: true,
            subject: subject.map(str::to_owned),
            support_groups: BTreeSet::new(),
        }
    }

    fn staff_rules() -> SyncRules {
        SyncRules {
            organization_id: None,
            default_role: Role::Agent,
            role_rules: vec![("admins".into(), Role::Admin)],
            group_mappings: vec![("helpdesk".into(), "Service Desk".into())],
        }
    }

    #[test]
    fn a_sync_creates_links_updates_and_disables() {
        let mut gone = account(3, "gone@corp.test", Some("s-gone"));
        gone.support_groups.insert("service desk".into());
        let mut disabled = person("s-dis", "dis@corp.test", &[]);
        disabled.disabled = true;
        let people = vec![
            person("s-new", "new@corp.test", &["helpdesk"]),
            person("s-local", "local@corp.test", &["admins"]),
            person("s-linked", "renamed@corp.test", &[]),
            disabled,
        ];
        let accounts = vec![
            account(1, "local@corp.test", None),
            account(2, "linked@corp.test", Some("s-linked")),
            gone,
            account(4, "dis@corp.test", Some("s-dis")),
        ];
        let plan = plan_sync(&people, &accounts, &staff_rules());
        assert_eq!(plan.create.len(), 1);
        assert_eq!(plan.create[0].email, "new@corp.test");
        assert_eq!(
            plan.create[0].support_groups,
            vec!["service desk".to_owned()]
        );
        let linked = plan.update.iter().find(|u| u.user_id == 1).unwrap();
        assert_eq!(linked.link.as_deref(), Some("s-local"));
        assert_eq!(linked.new_role, Some(Role::Admin));
        let renamed = plan.update.iter().find(|u| u.user_id == 2).unwrap();
        assert_eq!(renamed.new_email.as_deref(), Some("renamed@corp.test"));
        let disabled: Vec<(i64, &str)> =
            plan.disable.iter().map(|d| (d.user_id, d.reason)).collect();
        assert_eq!(disabled, vec![(4, "disabled"), (3, "not_found")]);
        assert!(plan.groups.contains(&GroupChange {
            user_id: None,
            email: "new@corp.test".into(),
            support_group: "service desk".into(),
            add: true
        }));
    }

    #[test]
    fn a_customer_directory_makes_only_customers_of_its_organization() {
        let rules = SyncRules {
            organization_id: Some(7),
            ..staff_rules()
        };
        let people = vec![
            person("s-a", "a@acme.test", &["admins", "helpdesk"]),
            person("s-b", "staff@msp.test", &[]),
        ];
        let accounts = vec![account(9, "staff@msp.test", None)];
        let plan = plan_sync(&people, &accounts, &rules);
        assert_eq!(plan.create.len(), 1);
        assert_eq!(plan.create[0].role, Role::Customer);
        assert!(plan.create[0].support_groups.is_empty());
        assert!(plan.groups.is_empty());
        assert_eq!(
            plan.skipped.len(),
            1,
            "a staff account is never linked to a customer directory"
        );
    }

    #[test]
    fn a_second_sync_of_the_same_directory_changes_nothing() {
        let people = vec![person("s-a", "a@corp.test", &["helpdesk"])];
        let mut synced = account(1, "a@corp.test", Some("s-a"));
        synced.name = "S-A".into();
        synced.support_groups.insert("service desk".into());
        let plan = plan_sync(&people, &[synced], &staff_rules());
        assert!(plan.is_empty(), "{plan:?}");
    }

    #[test]
    fn filter_values_are_escaped() {
        assert_eq!(escape_filter_value("a*b(c)\\"), "a\\2ab\\28c\\29\\5c");
        assert!(is_filter("(&(objectClass=person)(uid=*))"));
        assert!(!is_filter("objectClass=person"));
        assert!(!is_filter("(a))("));
    }
}
