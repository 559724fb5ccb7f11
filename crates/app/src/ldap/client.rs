//! Talking to a directory: a connection over LDAPS or StartTLS (rustls, with the directory's
//! own CA when it has one), the service account's bind, finding people and groups, a
//! person's bind, and setting a password or lifting a lockout as the directory needs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::controls::RawControl;
use ldap3::exop::PasswordModify;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Mod, Scope, SearchEntry};
use opsdesk_domain::directory::{
    DirectoryKind, DirectoryPerson, DirectoryUrl, DisabledDetection, disabled_by_attribute,
    escape_filter_value,
};

/// How long connecting (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one operation may take; a full sync's searches are paged, each page its own.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);
/// Entries per page of a search: below Active Directory's default limit of 1,000.
const PAGE_SIZE: i32 = 500;
/// LDAP result codes (RFC 4511) that mean something to a person.
const INVALID_CREDENTIALS: u32 = 49;
const CONSTRAINT_VIOLATION: u32 = 19;
const UNWILLING_TO_PERFORM: u32 = 53;
const NO_SUCH_OBJECT: u32 = 32;
/// RFC 4515 Relax Rules control: lets the service account remove ppolicy's operational
/// `pwdAccountLockedTime`.
const RELAX_RULES_OID: &str = "1.3.6.1.4.1.4203.666.5.12";

/// Why the directory could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DirectoryError {
    #[error("the CA certificate is not PEM: {0}")]
    CaCertificate(String),
    #[error("could not reach the directory at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the directory refused the service account's bind: {0}")]
    ServiceBind(String),
    /// The directory's own password policy said no (ppolicy, AD complexity).
    #[error("{0}")]
    Policy(String),
    #[error("the directory answered with an error: {0}")]
    Operation(String),
}

/// How to reach and read one directory: everything a connection needs from its settings.
#[derive(Debug, Clone)]
pub(crate) struct Reach {
    pub kind: DirectoryKind,
    pub url: DirectoryUrl,
    pub ca_pem: Option<String>,
    pub bind_dn: String,
    pub bind_password: String,
    pub user_base: String,
    pub user_filter: String,
    pub login_attribute: String,
    pub mail_attribute: String,
    pub name_attribute: String,
    pub recovery_attribute: Option<String>,
    pub manager_attribute: Option<String>,
    pub disabled_detection: DisabledDetection,
    pub enabled_filter: Option<String>,
    pub group_base: Option<String>,
    pub group_filter: String,
    pub member_attribute: String,
}

impl Reach {
    /// The attribute holding the directory's stable id for a person.
    fn subject_attribute(&self) -> &'static str {
        match self.kind {
            DirectoryKind::OpenLdap => "entryUUID",
            DirectoryKind::ActiveDirectory => "objectGUID",
        }
    }

    fn person_attributes(&self) -> Vec<String> {
        let mut attributes = vec![
            self.subject_attribute().to_owned(),
            self.login_attribute.clone(),
            self.mail_attribute.clone(),
            self.name_attribute.clone(),
        ];
        attributes.extend(self.recovery_attribute.clone());
        attributes.extend(self.manager_attribute.clone());
        match self.disabled_detection {
            DisabledDetection::AdAccountControl => {
                attributes.push("userAccountControl".into());
            }
            DisabledDetection::PpolicyLocked => attributes.push("pwdAccountLockedTime".into()),
            DisabledDetection::EnabledFilter | DisabledDetection::None => {}
        }
        attributes
    }
}

/// One person's entry as read: what sign-in, sync and password reset need of it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub dn: String,
    pub subject: String,
    pub login: String,
    pub email: String,
    pub name: String,
    pub recovery: Option<String>,
    /// The DN the manager attribute names, when the directory has one configured and set.
    pub manager: Option<String>,
    pub disabled: bool,
}

impl Entry {
    fn read(reach: &Reach, entry: SearchEntry) -> Option<Self> {
        let first = |name: &str| {
            entry
                .attrs
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .and_then(|(_, values)| values.first().cloned())
        };
        let subject = match reach.kind {
            DirectoryKind::OpenLdap => first("entryUUID"),
            // objectGUID is 16 raw bytes; kept as hex.
            DirectoryKind::ActiveDirectory => entry
                .bin_attrs
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case("objectGUID"))
                .and_then(|(_, values)| values.first().map(hex::encode))
                .or_else(|| first("objectGUID")),
        }?;
        let disabled = disabled_by_attribute(
            reach.disabled_detection,
            first("userAccountControl").as_deref(),
            first("pwdAccountLockedTime").as_deref(),
        );
        let email = first(&reach.mail_attribute)
            .unwrap_or_default()
            .trim()
            .to_lowercase();
        let recovery = reach
            .recovery_attribute
            .as_deref()
            .and_then(first)
            .map(|r| r.trim().to_lowercase())
            .filter(|r| !r.is_empty());
        let manager = reach
            .manager_attribute
            .as_deref()
            .and_then(first)
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty());
        Some(Self {
            login: first(&reach.login_attribute).unwrap_or_default(),
            name: first(&reach.name_attribute).unwrap_or_default(),
            dn: entry.dn,
            subject,
            email,
            recovery,
            manager,
            disabled,
        })
    }
}

/// A group as a sync reads it: its DN, common name and members (DNs, or logins for
/// `memberUid`).
#[derive(Debug, Clone)]
pub(crate) struct DirectoryGroup {
    pub dn: String,
    pub cn: String,
    pub members: Vec<String>,
}

/// The TLS settings for a directory: its own CA when given (private CAs are the rule for
/// in-house directories), else the well-known public ones.
fn tls_config(ca_pem: Option<&str>) -> Result<rustls::ClientConfig, DirectoryError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_pem.filter(|pem| !pem.trim().is_empty()) {
        Some(pem) => {
            let mut added = 0;
            for certificate in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let certificate =
                    certificate.map_err(|e| DirectoryError::CaCertificate(e.to_string()))?;
                roots
                    .add(certificate)
                    .map_err(|e| DirectoryError::CaCertificate(e.to_string()))?;
                added += 1;
            }
            if added == 0 {
                return Err(DirectoryError::CaCertificate(
                    "no CERTIFICATE block found".into(),
                ));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DirectoryError::CaCertificate(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Checks a CA certificate's PEM before it is saved.
pub(crate) fn check_ca_pem(pem: &str) -> Result<(), DirectoryError> {
    tls_config(Some(pem)).map(|_| ())
}

fn operation_error(error: LdapError) -> DirectoryError {
    match error {
        LdapError::LdapResult { result }
            if matches!(result.rc, CONSTRAINT_VIOLATION | UNWILLING_TO_PERFORM) =>
        {
            DirectoryError::Policy(policy_message(&result.text))
        }
        LdapError::LdapResult { result } => DirectoryError::Operation(format!(
            "result code {}{}",
            result.rc,
            if result.text.is_empty() {
                String::new()
            } else {
                format!(": {}", result.text)
            }
        )),
        other => DirectoryError::Operation(other.to_string()),
    }
}

/// The directory's reason for refusing a password, for the person choosing it.
fn policy_message(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        "the directory's password policy refused this password".into()
    } else {
        format!("the directory's password policy refused this password: {text}")
    }
}

/// An open, encrypted (or loopback) connection to a directory.
pub(crate) struct Connection {
    ldap: Ldap,
}

impl Connection {
    /// Connects to the directory, turning to TLS with StartTLS when its address says so. No
    /// bind yet.
    pub(crate) async fn open(reach: &Reach) -> Result<Self, DirectoryError> {
        let url = reach.url.as_str().to_owned();
        let unreachable = |reason: String| DirectoryError::Unreachable {
            url: url.clone(),
            reason,
        };
        let mut settings = LdapConnSettings::new().set_conn_timeout(CONNECT_TIMEOUT);
        if !reach.url.plain() {
            settings = settings
                .set_config(Arc::new(tls_config(reach.ca_pem.as_deref())?))
                .set_starttls(reach.url.starttls());
        }
        let connected = tokio::time::timeout(
            CONNECT_TIMEOUT * 2,
            LdapConnAsync::with_settings(settings, &url),
        )
        .await
        .map_err(|_| unreachable("timed out".into()))?;
        let (driver, mut ldap) = connected.map_err(|e| unreachable(e.to_string()))?;
        tokio::spawn(async move {
            if let Err(error) = driver.drive().await {
                tracing::debug!(%error, "directory connection ended");
            }
        });
        ldap.with_timeout(OPERATION_TIMEOUT);
        Ok(Self { ldap })
    }

    /// Connects and binds as the directory's service account.
    pub(crate) async fn service(reach: &Reach) -> Result<Self, DirectoryError> {
        let mut connection = Self::open(reach).await?;
        if !connection
            .bind(&reach.bind_dn, &reach.bind_password)
            .await?
        {
            return Err(DirectoryError::ServiceBind("invalid credentials".into()));
        }
        Ok(connection)
    }

    /// Binds as `dn` with `password`: `false` when the directory says the credentials are
    /// wrong (or the account is locked). An empty password is never sent: to LDAP it means
    /// an anonymous bind, which succeeds.
    pub(crate) async fn bind(&mut self, dn: &str, password: &str) -> Result<bool, DirectoryError> {
        if password.is_empty() || dn.is_empty() {
            return Ok(false);
        }
        let result = self
            .ldap
            .simple_bind(dn, password)
            .await
            .map_err(operation_error)?;
        match result.rc {
            0 => Ok(true),
            INVALID_CREDENTIALS => Ok(false),
            _ => Err(operation_error(LdapError::LdapResult { result })),
        }
    }

    /// Ends the connection politely.
    pub(crate) async fn close(mut self) {
        let _ = self.ldap.unbind().await;
    }

    /// The person whose login or mail attribute is `login`, within the user filter; `None`
    /// when there is none or more than one.
    pub(crate) async fn find_person(
        &mut self,
        reach: &Reach,
        login: &str,
    ) -> Result<Option<Entry>, DirectoryError> {
        let value = escape_filter_value(login.trim());
        let filter = format!(
            "(&{}(|({}={value})({}={value})))",
            reach.user_filter, reach.login_attribute, reach.mail_attribute
        );
        let (entries, _) = self
            .ldap
            .search(
                &reach.user_base,
                Scope::Subtree,
                &filter,
                reach.person_attributes(),
            )
            .await
            .map_err(operation_error)?
            .success()
            .map_err(operation_error)?;
        if entries.len() != 1 {
            return Ok(None);
        }
        Ok(entries
            .into_iter()
            .next()
            .and_then(|entry| Entry::read(reach, SearchEntry::construct(entry))))
    }

    /// The person whose entry is at `dn`, within the user filter; `None` when there is none.
    pub(crate) async fn person_at(
        &mut self,
        reach: &Reach,
        dn: &str,
    ) -> Result<Option<Entry>, DirectoryError> {
        let found = self
            .ldap
            .search(
                dn,
                Scope::Base,
                &reach.user_filter,
                reach.person_attributes(),
            )
            .await
            .map_err(operation_error)?;
        // An entry that is not there is an answer, not a failure.
        if found.1.rc == NO_SUCH_OBJECT {
            return Ok(None);
        }
        let (entries, _) = found.success().map_err(operation_error)?;
        Ok(entries
            .into_iter()
            .next()
            .and_then(|entry| Entry::read(reach, SearchEntry::construct(entry))))
    }

    /// Every person within the user filter (paged), with `seen` told the count as pages
    /// arrive. With the `enabled_filter` detection, those outside it are marked disabled.
    pub(crate) async fn people(
        &mut self,
        reach: &Reach,
        seen: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<Vec<Entry>, DirectoryError> {
        let mut people = self
            .search_all(
                reach,
                &reach.user_base,
                &reach.user_filter,
                reach.person_attributes(),
                seen,
            )
            .await?
            .into_iter()
            .filter_map(|entry| Entry::read(reach, entry))
            .collect::<Vec<_>>();
        if reach.disabled_detection == DisabledDetection::EnabledFilter
            && let Some(enabled) = reach.enabled_filter.as_deref()
        {
            let filter = format!("(&{}{enabled})", reach.user_filter);
            let enabled: BTreeSet<String> = self
                .search_all(
                    reach,
                    &reach.user_base,
                    &filter,
                    vec!["1.1".to_owned()],
                    &|_| {},
                )
                .await?
                .into_iter()
                .map(|entry| entry.dn.to_lowercase())
                .collect();
            for person in &mut people {
                person.disabled = person.disabled || !enabled.contains(&person.dn.to_lowercase());
            }
        }
        Ok(people)
    }

    /// Every group within the group filter, with its members.
    pub(crate) async fn groups(
        &mut self,
        reach: &Reach,
    ) -> Result<Vec<DirectoryGroup>, DirectoryError> {
        let filter = reach.group_filter.clone();
        self.groups_matching(reach, &filter).await
    }

    async fn groups_matching(
        &mut self,
        reach: &Reach,
        filter: &str,
    ) -> Result<Vec<DirectoryGroup>, DirectoryError> {
        let base = reach
            .group_base
            .clone()
            .unwrap_or_else(|| reach.user_base.clone());
        let attributes = vec!["cn".to_owned(), reach.member_attribute.clone()];
        let entries = self
            .search_all(reach, &base, filter, attributes, &|_| {})
            .await?;
        Ok(entries
            .into_iter()
            .map(|entry| {
                let values = |name: &str| {
                    entry
                        .attrs
                        .iter()
                        .find(|(key, _)| key.eq_ignore_ascii_case(name))
                        .map(|(_, values)| values.clone())
                        .unwrap_or_default()
                };
                DirectoryGroup {
                    cn: values("cn").into_iter().next().unwrap_or_default(),
                    members: values(&reach.member_attribute),
                    dn: entry.dn.clone(),
                }
            })
            .collect())
    }

    /// The groups `entry` is a member of.
    pub(crate) async fn groups_of(
        &mut self,
        reach: &Reach,
        entry: &Entry,
    ) -> Result<Vec<DirectoryGroup>, DirectoryError> {
        let member = if reach.member_attribute.eq_ignore_ascii_case("memberUid") {
            &entry.login
        } else {
            &entry.dn
        };
        let filter = format!(
            "(&{}({}={}))",
            reach.group_filter,
            reach.member_attribute,
            escape_filter_value(member)
        );
        self.groups_matching(reach, &filter).await
    }

    async fn search_all(
        &mut self,
        _reach: &Reach,
        base: &str,
        filter: &str,
        attributes: Vec<String>,
        seen: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<Vec<SearchEntry>, DirectoryError> {
        let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(PAGE_SIZE)),
        ];
        let mut stream = self
            .ldap
            .streaming_search_with(adapters, base, Scope::Subtree, filter, attributes)
            .await
            .map_err(operation_error)?;
        let mut entries = Vec::new();
        while let Some(entry) = stream.next().await.map_err(operation_error)? {
            entries.push(SearchEntry::construct(entry));
            if entries.len() % PAGE_SIZE as usize == 0 {
                seen(entries.len());
            }
        }
        stream.finish().await.success().map_err(operation_error)?;
        seen(entries.len());
        Ok(entries)
    }

    /// Sets `dn`'s password as the directory needs: the password modify operation (RFC
    /// 3062) on OpenLDAP, a replace of `unicodePwd` on Active Directory. A refusal by the
    /// directory's password policy is [`DirectoryError::Policy`].
    pub(crate) async fn set_password(
        &mut self,
        kind: DirectoryKind,
        dn: &str,
        password: &str,
    ) -> Result<(), DirectoryError> {
        match kind {
            DirectoryKind::OpenLdap => {
                self.ldap
                    .extended(PasswordModify {
                        user_id: Some(dn),
                        old_pass: None,
                        new_pass: Some(password),
                    })
                    .await
                    .map_err(operation_error)?
                    .success()
                    .map_err(operation_error)?;
            }
            DirectoryKind::ActiveDirectory => {
                // AD takes the password quoted, in UTF-16LE, and only over an encrypted
                // connection.
                let quoted: Vec<u8> = format!("\"{password}\"")
                    .encode_utf16()
                    .flat_map(u16::to_le_bytes)
                    .collect();
                let values: std::collections::HashSet<Vec<u8>> = [quoted].into_iter().collect();
                self.ldap
                    .modify(dn, vec![Mod::Replace(b"unicodePwd".to_vec(), values)])
                    .await
                    .map_err(operation_error)?
                    .success()
                    .map_err(operation_error)?;
            }
        }
        Ok(())
    }

    /// Lifts the directory's lockout of `dn`: removes ppolicy's `pwdAccountLockedTime` and
    /// failure times on OpenLDAP, sets `lockoutTime` to 0 on Active Directory.
    pub(crate) async fn unlock(
        &mut self,
        kind: DirectoryKind,
        dn: &str,
    ) -> Result<(), DirectoryError> {
        match kind {
            DirectoryKind::OpenLdap => {
                for attribute in ["pwdAccountLockedTime", "pwdFailureTime"] {
                    let result = self
                        .ldap
                        .with_controls(RawControl {
                            ctype: RELAX_RULES_OID.to_owned(),
                            crit: true,
                            val: None,
                        })
                        .modify(
                            dn,
                            vec![Mod::Delete(
                                attribute.as_bytes().to_vec(),
                                std::collections::HashSet::<Vec<u8>>::new(),
                            )],
                        )
                        .await
                        .map_err(operation_error)?;
                    // 16: no such attribute — the account was not locked.
                    if result.rc != 0 && result.rc != 16 {
                        return Err(operation_error(LdapError::LdapResult { result }));
                    }
                }
            }
            DirectoryKind::ActiveDirectory => {
                let values: std::collections::HashSet<Vec<u8>> =
                    [b"0".to_vec()].into_iter().collect();
                self.ldap
                    .modify(dn, vec![Mod::Replace(b"lockoutTime".to_vec(), values)])
                    .await
                    .map_err(operation_error)?
                    .success()
                    .map_err(operation_error)?;
            }
        }
        Ok(())
    }
}

/// Joins people with the groups they are in: each person's groups by DN and common name,
/// lower-cased, matched on member DNs (or logins, for `memberUid`).
pub(crate) fn people_with_groups(
    reach: &Reach,
    people: Vec<Entry>,
    groups: &[DirectoryGroup],
) -> Vec<DirectoryPerson> {
    let by_login = reach.member_attribute.eq_ignore_ascii_case("memberUid");
    let mut memberships: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for group in groups {
        for member in &group.members {
            let entry = memberships.entry(member.to_lowercase()).or_default();
            entry.insert(group.dn.to_lowercase());
            if !group.cn.is_empty() {
                entry.insert(group.cn.to_lowercase());
            }
        }
    }
    people
        .into_iter()
        .map(|entry| {
            let key = if by_login {
                entry.login.to_lowercase()
            } else {
                entry.dn.to_lowercase()
            };
            DirectoryPerson {
                groups: memberships.get(&key).cloned().unwrap_or_default(),
                subject: entry.subject,
                dn: entry.dn,
                email: entry.email,
                name: entry.name,
                disabled: entry.disabled,
            }
        })
        .collect()
}
