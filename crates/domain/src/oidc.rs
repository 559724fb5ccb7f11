//! OpenID Connect sign-in rules: which issuers may be trusted, and what a provider's claims
//! about a person make of them in opsdesk — which account, which role, which organization
//! and which support groups — or why they are refused.
//!
//! The rule that keeps tenants apart lives here: an organization's provider only ever signs
//! in, creates or updates customers of that organization; only a staff provider (one of no
//! organization) may give the agent or admin role.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::account::{Email, Role};

/// Whom a provider signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Realm {
    /// Staff: agents and admins (a provider of no organization).
    Staff,
    /// Customers of this organization, and no one else.
    Organization(i64),
}

/// People in `group` (a value of the groups claim) get `role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRule {
    pub group: String,
    pub role: Role,
}

/// People in `group` are members of the support group `support_group_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupMapping {
    pub group: String,
    pub support_group_id: i64,
}

/// How a provider's claims become an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    pub realm: Realm,
    /// Checked in order; the first whose group the person is in gives the role.
    pub role_rules: Vec<RoleRule>,
    /// The role of a new account no rule matched; `None` refuses such people.
    pub default_role: Option<Role>,
    /// Staff providers: groups that make their people members of support groups.
    pub group_mappings: Vec<GroupMapping>,
    /// Whether a person opsdesk does not know gets an account.
    pub allow_signup: bool,
    /// Whether an address must be marked verified by the provider to find or create an
    /// account by it.
    pub require_verified_email: bool,
}

/// What a validated ID token (and the user-info answer) says about the person.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Claims {
    /// The provider's stable id of the person (`sub`).
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    pub groups: Vec<String>,
}

/// An account opsdesk already has for the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownAccount {
    pub id: i64,
    pub role: Role,
    pub organization_id: Option<i64>,
    pub active: bool,
    /// Found through its link to this provider's subject (not by its address).
    pub linked: bool,
}

/// What signing in makes of the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Sign in to an existing account, holding `role`, linked to the subject if `link`.
    Existing {
        user_id: i64,
        role: Role,
        link: bool,
        /// Membership of each mapped support group: `(support group, member)`.
        support_groups: Vec<(i64, bool)>,
    },
    /// Create the account, then sign in to it.
    New {
        email: Email,
        name: String,
        role: Role,
        organization_id: Option<i64>,
        support_groups: Vec<(i64, bool)>,
    },
}

/// Why a person is not signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the provider sent no usable e-mail address")]
    NoEmail,
    #[error("the provider has not verified the e-mail address")]
    EmailNotVerified,
    #[error("the address belongs to an account of another organization")]
    OtherOrganization,
    #[error("the address belongs to a staff account, which this provider cannot sign in")]
    StaffAccount,
    #[error("the address belongs to a customer account, which a staff provider cannot sign in")]
    CustomerAccount,
    #[error("the account is deactivated")]
    Deactivated,
    #[error("there is no account for this address and this provider does not create accounts")]
    SignupClosed,
    #[error("none of the person's groups gives a role in opsdesk")]
    NoRole,
}

impl Refusal {
    /// A short stable name for audit entries and messages.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::NoEmail => "no_email",
            Refusal::EmailNotVerified => "email_not_verified",
            Refusal::OtherOrganization => "other_organization",
            Refusal::StaffAccount => "staff_account",
            Refusal::CustomerAccount => "customer_account",
            Refusal::Deactivated => "deactivated",
            Refusal::SignupClosed => "signup_closed",
            Refusal::NoRole => "no_role",
        }
    }
}

impl ClaimMapping {
    /// The role an explicit rule gives someone in `groups`, if any.
    fn ruled_role(&self, groups: &[String]) -> Option<Role> {
        self.role_rules
            .iter()
            .find(|rule| groups.contains(&rule.group))
            .map(|rule| rule.role)
    }

    /// Membership of every mapped support group for someone in `groups`.
    fn support_groups(&self, groups: &[String]) -> Vec<(i64, bool)> {
        if self.realm != Realm::Staff {
            return Vec::new();
        }
        let mut memberships: Vec<(i64, bool)> = Vec::new();
        for mapping in &self.group_mappings {
            let member = groups.contains(&mapping.group);
            match memberships
                .iter_mut()
                .find(|(id, _)| *id == mapping.support_group_id)
            {
                Some((_, was)) => *was |= member,
                None => memberships.push((mapping.support_group_id, member)),
            }
        }
        memberships
    }

    /// Whether `role` is one this mapping's realm may give.
    fn grants(&self, role: Role) -> bool {
        match self.realm {
            Realm::Staff => role.is_staff(),
            Realm::Organization(_) => role == Role::Customer,
        }
    }

    /// Decides what signing in with `claims` does, given the account found for them (by
    /// their link to the provider's subject, else by their address), if any.
    pub fn decide(
        &self,
        claims: &Claims,
        known: Option<&KnownAccount>,
    ) -> Result<Outcome, Refusal> {
        // An address finds or creates an account only when the provider vouches for it; a
        // linked account is found by the subject alone.
        let uses_email = known.is_none_or(|account| !account.linked);
        if uses_email {
            let email = claims.email.as_deref().ok_or(Refusal::NoEmail)?;
            Email::parse(email).map_err(|_| Refusal::NoEmail)?;
            if self.require_verified_email && claims.email_verified != Some(true) {
                return Err(Refusal::EmailNotVerified);
            }
        }
        let ruled = self.ruled_role(&claims.groups).filter(|r| self.grants(*r));
        let support_groups = self.support_groups(&claims.groups);
        match known {
            Some(account) => {
                match self.realm {
                    Realm::Organization(organization) => {
                        if account.role.is_staff() {
                            return Err(Refusal::StaffAccount);
                        }
                        if account.organization_id != Some(organization) {
                            return Err(Refusal::OtherOrganization);
                        }
                    }
                    Realm::Staff if !account.role.is_staff() => {
                        return Err(Refusal::CustomerAccount);
                    }
                    Realm::Staff => {}
                }
                if !account.active {
                    return Err(Refusal::Deactivated);
                }
                // A rule that matches says what the account is now; without one the account
                // keeps its role (the default role is for new accounts).
                let role = ruled.unwrap_or(account.role);
                if self.realm == Realm::Staff
                    && ruled.is_none()
                    && self.default_role.is_none()
                    && !self.role_rules.is_empty()
                {
                    return Err(Refusal::NoRole);
                }
                Ok(Outcome::Existing {
                    user_id: account.id,
                    role,
                    link: !account.linked,
                    support_groups,
                })
            }
            None => {
                if !self.allow_signup {
                    return Err(Refusal::SignupClosed);
                }
                let role = ruled
                    .or(self.default_role.filter(|r| self.grants(*r)))
                    .ok_or(Refusal::NoRole)?;
                let email = claims
                    .email
                    .as_deref()
                    .and_then(|e| Email::parse(e).ok())
                    .ok_or(Refusal::NoEmail)?;
                let name = claims
                    .name
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(|n| n.chars().take(200).collect())
                    .unwrap_or_else(|| email.as_str().split('@').next().unwrap_or("").to_owned());
                let organization_id = match self.realm {
                    Realm::Staff => None,
                    Realm::Organization(id) => Some(id),
                };
                Ok(Outcome::New {
                    email,
                    name,
                    role,
                    organization_id,
                    support_groups,
                })
            }
        }
    }
}

/// Why a provider's settings are not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssuerError {
    #[error("must be an absolute http(s) URL such as https://login.example.com/realms/staff")]
    NotUrl,
    #[error(
        "must use https: plain http is accepted only for a provider on this machine (loopback)"
    )]
    NotHttps,
    #[error("must not carry a query or a fragment")]
    QueryOrFragment,
}

/// Checks an issuer URL: `https://`, or `http://` to a loopback address only (a provider
/// on the same machine, as in tests), without query or fragment. Returns it without a
/// trailing slash, as issuers compare exactly.
pub fn check_issuer(issuer: &str) -> Result<String, IssuerError> {
    let issuer = issuer.trim();
    let (scheme, rest) = issuer.split_once("://").ok_or(IssuerError::NotUrl)?;
    if issuer.contains(['?', '#']) {
        return Err(IssuerError::QueryOrFragment);
    }
    let authority = rest.split('/').next().unwrap_or_default();
    let host = host_of(authority).ok_or(IssuerError::NotUrl)?;
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" if is_loopback(host) => {}
        "http" => return Err(IssuerError::NotHttps),
        _ => return Err(IssuerError::NotUrl),
    }
    Ok(issuer.strip_suffix('/').unwrap_or(issuer).to_owned())
}

/// The host of a URL's authority (`user@host:port`, `[::1]:8080`), if it has one.
fn host_of(authority: &str) -> Option<&str> {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split(']').next()?
    } else {
        authority.split(':').next()?
    };
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    valid.then_some(host)
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The e-mail domains a sign-in form sends to a provider: lower-cased, without `@`,
/// deduplicated; `Err` names the first that is no domain.
pub fn parse_domains(list: &str) -> Result<Vec<String>, String> {
    let mut domains: Vec<String> = Vec::new();
    for domain in list
        .split([',', ' ', '\n'])
        .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
    {
        let valid = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
        if !valid {
            return Err(domain);
        }
        if !domains.contains(&domain) {
            domains.push(domain);
        }
    }
    Ok(domains)
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::panic)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn claims(email: &str, verified: bool, groups: &[&str]) -> Claims {
        Claims {
            subject: "sub-1".into(),
            email: Some(email.into()),
            email_verified: Some(verified),
            name: Some("Pat Doe".into()),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }

    fn organization(id: i64) -> ClaimMapping {
        ClaimMapping {
            realm: Realm::Organization(id),
            role_rules: Vec::new(),
            default_role: Some(Role::Customer),
            group_mappings: Vec::new(),
            allow_signup: true,
            require_verified_email: true,
        }
    }

    fn staff() -> ClaimMapping {
        ClaimMapping {
            realm: Realm::Staff,
            role_rules: vec![
                RoleRule {
                    group: "desk-admins".into(),
                    role: Role::Admin,
                },
                RoleRule {
                    group: "desk".into(),
                    role: Role::Agent,
                },
            ],
            default_role: None,
            group_mappings: vec![
                GroupMapping {
                    group: "desk".into(),
                    support_group_id: 7,
                },
                GroupMapping {
                    group: "network".into(),
                    support_group_id: 8,
                },
            ],
            allow_signup: true,
            require_verified_email: true,
        }
    }

    fn account(role: Role, organization_id: Option<i64>, linked: bool) -> KnownAccount {
        KnownAccount {
            id: 42,
            role,
            organization_id,
            active: true,
            linked,
        }
    }

    #[test]
    fn an_organization_provider_creates_customers_of_its_organization() {
        let outcome = organization(3).decide(&claims("Pat@Acme.example", true, &[]), None);
        let Ok(Outcome::New {
            email,
            role,
            organization_id,
            name,
            ..
        }) = outcome
        else {
            panic!("expected a new account: {outcome:?}");
        };
        assert_eq!(email.as_str(), "pat@acme.example");
        assert_eq!((role, organization_id), (Role::Customer, Some(3)));
        assert_eq!(name, "Pat Doe");
    }

    #[test]
    fn refusals_by_example() {
        let cases: Vec<(ClaimMapping, Claims, Option<KnownAccount>, Refusal)> = vec![
            (
                organization(3),
                claims("pat@acme.example", false, &[]),
                None,
                Refusal::EmailNotVerified,
            ),
            (
                organization(3),
                Claims {
                    email: None,
                    ..claims("x@y.example", true, &[])
                },
                None,
                Refusal::NoEmail,
            ),
            (
                organization(3),
                claims("pat@acme.example", true, &[]),
                Some(account(Role::Customer, Some(4), false)),
                Refusal::OtherOrganization,
            ),
            (
                organization(3),
                claims("pat@acme.example", true, &[]),
                Some(account(Role::Admin, None, false)),
                Refusal::StaffAccount,
            ),
            (
                staff(),
                claims("pat@acme.example", true, &["desk"]),
                Some(account(Role::Customer, Some(3), false)),
                Refusal::CustomerAccount,
            ),
            (
                ClaimMapping {
                    allow_signup: false,
                    ..organization(3)
                },
                claims("pat@acme.example", true, &[]),
                None,
                Refusal::SignupClosed,
            ),
            (
                staff(),
                claims("pat@msp.example", true, &["sales"]),
                None,
                Refusal::NoRole,
            ),
            (
                organization(3),
                claims("pat@acme.example", true, &[]),
                Some(KnownAccount {
                    active: false,
                    ..account(Role::Customer, Some(3), true)
                }),
                Refusal::Deactivated,
            ),
        ];
        for (mapping, claims, known, refusal) in cases {
            assert_eq!(
                mapping.decide(&claims, known.as_ref()),
                Err(refusal),
                "{claims:?} {known:?}"
            );
        }
    }

    #[test]
    fn a_linked_account_is_found_by_its_subject_without_a_verified_address() {
        let outcome = organization(3).decide(
            &Claims {
                email: None,
                email_verified: None,
                ..claims("", false, &[])
            },
            Some(&account(Role::Customer, Some(3), true)),
        );
        assert_eq!(
            outcome,
            Ok(Outcome::Existing {
                user_id: 42,
                role: Role::Customer,
                link: false,
                support_groups: Vec::new(),
            })
        );
    }

    #[test]
    fn staff_roles_and_support_groups_follow_the_groups_claim() {
        let outcome = staff().decide(
            &claims("ann@msp.example", true, &["desk", "desk-admins"]),
            None,
        );
        let Ok(Outcome::New {
            role,
            organization_id,
            support_groups,
            ..
        }) = outcome
        else {
            panic!("expected a new account: {outcome:?}");
        };
        assert_eq!((role, organization_id), (Role::Admin, None));
        assert_eq!(support_groups, vec![(7, true), (8, false)]);
        let demoted = staff().decide(
            &claims("ann@msp.example", true, &["desk"]),
            Some(&account(Role::Admin, None, true)),
        );
        assert!(matches!(
            demoted,
            Ok(Outcome::Existing {
                role: Role::Agent,
                ..
            })
        ));
    }

    #[test]
    fn an_organization_rule_cannot_grant_staff_roles() {
        let mapping = ClaimMapping {
            role_rules: vec![RoleRule {
                group: "it".into(),
                role: Role::Admin,
            }],
            default_role: None,
            ..organization(3)
        };
        assert_eq!(
            mapping.decide(&claims("pat@acme.example", true, &["it"]), None),
            Err(Refusal::NoRole)
        );
    }

    fn any_role() -> impl Strategy<Value = Role> {
        prop_oneof![Just(Role::Admin), Just(Role::Agent), Just(Role::Customer)]
    }

    proptest! {
        /// Whatever the rules, claims and existing account, an organization's provider only
        /// ever signs in or creates customers of that organization.
        #[test]
        fn an_organization_provider_only_ever_yields_its_own_customers(
            rules in proptest::collection::vec(("[a-c]", any_role()), 0..4),
            default_role in proptest::option::of(any_role()),
            groups in proptest::collection::vec("[a-c]", 0..3),
            known in proptest::option::of((any_role(), proptest::option::of(1_i64..4), any::<bool>(), any::<bool>())),
            verified in any::<bool>(),
            signup in any::<bool>(),
        ) {
            let mapping = ClaimMapping {
                realm: Realm::Organization(2),
                role_rules: rules.into_iter().map(|(group, role)| RoleRule { group, role }).collect(),
                default_role,
                group_mappings: vec![GroupMapping { group: "a".into(), support_group_id: 1 }],
                allow_signup: signup,
                require_verified_email: true,
            };
            let known = known.map(|(role, organization_id, active, linked)| KnownAccount {
                id: 9, role, organization_id, active, linked,
            });
            let claims = Claims {
                subject: "s".into(),
                email: Some("p@acme.example".into()),
                email_verified: Some(verified),
                name: None,
                groups,
            };
            match mapping.decide(&claims, known.as_ref()) {
                Ok(Outcome::New { role, organization_id, support_groups, .. }) => {
                    prop_assert_eq!(role, Role::Customer);
                    prop_assert_eq!(organization_id, Some(2));
                    prop_assert!(support_groups.is_empty());
                }
                Ok(Outcome::Existing { role, support_groups, .. }) => {
                    let known = known.expect("an existing account was known");
                    prop_assert_eq!(role, Role::Customer);
                    prop_assert_eq!(known.role, Role::Customer);
                    prop_assert_eq!(known.organization_id, Some(2));
                    prop_assert!(known.active);
                    prop_assert!(support_groups.is_empty());
                }
                Err(_) => {}
            }
        }
    }

    #[test]
    fn issuers_need_https_unless_on_this_machine() {
        assert_eq!(
            check_issuer("https://login.example.com/realms/a/").as_deref(),
            Ok("https://login.example.com/realms/a")
        );
        assert!(check_issuer("http://127.0.0.1:9400").is_ok());
        assert!(check_issuer("http://[::1]:9400/x").is_ok());
        assert!(check_issuer("http://localhost:9400").is_ok());
        assert_eq!(
            check_issuer("http://login.example.com"),
            Err(IssuerError::NotHttps)
        );
        assert_eq!(
            check_issuer("http://127.0.0.1.example.com"),
            Err(IssuerError::NotHttps)
        );
        assert_eq!(check_issuer("http://10.0.0.1"), Err(IssuerError::NotHttps));
        assert_eq!(check_issuer("ftp://x.example"), Err(IssuerError::NotUrl));
        assert_eq!(check_issuer("login.example.com"), Err(IssuerError::NotUrl));
        assert_eq!(
            check_issuer("https://x.example/?a=b"),
            Err(IssuerError::QueryOrFragment)
        );
    }

    #[test]
    fn domains_are_normalised_and_checked() {
        assert_eq!(
            parse_domains(" @Acme.example, acme.example\nsub.acme.example "),
            Ok(vec![
                "acme.example".to_owned(),
                "sub.acme.example".to_owned()
            ])
        );
        assert_eq!(parse_domains("localhost"), Err("localhost".to_owned()));
        assert_eq!(parse_domains(""), Ok(Vec::new()));
    }
}
