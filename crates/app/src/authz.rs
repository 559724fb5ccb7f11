//! Authorization, in one place. Every use case asks here what the principal may do and
//! which organizations' records it may see; list queries take their organization filter
//! from [`Principal::organization_filter`], so no channel can forget it.

use opsdesk_domain::account::Role;

use crate::AppError;

/// How the principal proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A browser session; form posts must carry its CSRF token.
    Session {
        csrf_token: String,
        /// The id its owner sees in their list of sessions.
        session_id: String,
    },
    /// An API token.
    Token { token_id: i64 },
    /// opsdesk itself or an administrator at the command line.
    System { what: String },
    /// A message received by e-mail from the user's address.
    Mail,
}

/// Who is acting, with what they may see, resolved once per request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: Option<i64>,
    pub email: String,
    pub role: Role,
    /// The customer's organization.
    pub organization_id: Option<i64>,
    /// For an agent limited to some organizations: those. Empty: no limit.
    pub agent_organizations: Vec<i64>,
    /// The support groups a staff member belongs to: they see the restricted tickets
    /// (security incidents) of these groups.
    pub groups: Vec<i64>,
    pub via: Via,
    /// The person's own IANA time zone, as they chose it; none: not chosen (or no person).
    pub time_zone: Option<String>,
}

impl Principal {
    /// opsdesk acting on its own behalf (CLI admin commands, workers). Sees everything.
    pub fn system(what: &str) -> Self {
        Self {
            user_id: None,
            email: String::new(),
            role: Role::Admin,
            organization_id: None,
            agent_organizations: Vec::new(),
            groups: Vec::new(),
            via: Via::System {
                what: what.to_owned(),
            },
            time_zone: None,
        }
    }

    /// The actor as written into the audit log.
    pub fn audit_label(&self) -> String {
        match (&self.via, self.user_id) {
            (Via::System { what }, _) => format!("system:{what}"),
            (Via::Mail, Some(user)) => format!("user:{user} <{}> via mail", self.email),
            (Via::Token { token_id }, Some(user)) => {
                format!("user:{user} <{}> via token:{token_id}", self.email)
            }
            (_, Some(user)) => format!("user:{user} <{}>", self.email),
            (_, None) => "unknown".to_owned(),
        }
    }

    /// Refuses unless the principal is an administrator.
    pub fn require_admin(&self) -> Result<(), AppError> {
        match self.role {
            Role::Admin => Ok(()),
            _ => Err(AppError::Forbidden("this needs the admin role".to_owned())),
        }
    }

    /// Refuses unless the principal is staff (admin or agent).
    pub fn require_staff(&self) -> Result<(), AppError> {
        if self.role.is_staff() {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "this needs the agent or admin role".to_owned(),
            ))
        }
    }

    /// The organizations whose records this principal may see: `None` means all.
    pub fn organization_filter(&self) -> Option<Vec<i64>> {
        match self.role {
            Role::Admin => None,
            Role::Agent if self.agent_organizations.is_empty() => None,
            Role::Agent => Some(self.agent_organizations.clone()),
            Role::Customer => Some(self.organization_id.into_iter().collect()),
        }
    }

    /// The restricted groups whose tickets this principal may see: `None` means all
    /// (admins and opsdesk itself); agents see their groups'; customers none.
    pub fn restricted_filter(&self) -> Option<Vec<i64>> {
        match self.role {
            Role::Admin => None,
            Role::Agent => Some(self.groups.clone()),
            Role::Customer => Some(Vec::new()),
        }
    }

    /// Whether a ticket restricted to `group` (`None`: unrestricted) is visible to this
    /// principal, organizations aside.
    pub fn can_see_restricted(&self, group: Option<i64>) -> bool {
        match (group, self.restricted_filter()) {
            (None, _) | (Some(_), None) => true,
            (Some(group), Some(allowed)) => allowed.contains(&group),
        }
    }

    /// Whether records of `organization_id` are visible to this principal. Records of no
    /// organization are staff-only.
    pub fn can_see_organization(&self, organization_id: Option<i64>) -> bool {
        match (self.organization_filter(), organization_id) {
            (None, _) => true,
            (Some(_), None) => self.role.is_staff(),
            (Some(allowed), Some(id)) => allowed.contains(&id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, organization: Option<i64>, limits: Vec<i64>) -> Principal {
        Principal {
            user_id: Some(1),
            email: "a@example.com".into(),
            role,
            organization_id: organization,
            agent_organizations: limits,
            groups: vec![5],
            via: Via::Token { token_id: 1 },
            time_zone: None,
        }
    }

    #[test]
    fn customers_see_only_their_organization() {
        let customer = principal(Role::Customer, Some(7), vec![]);
        assert!(customer.can_see_organization(Some(7)));
        assert!(!customer.can_see_organization(Some(8)));
        assert!(!customer.can_see_organization(None));
        assert!(customer.require_staff().is_err());
    }

    #[test]
    fn limited_agents_see_their_organizations() {
        let agent = principal(Role::Agent, None, vec![1, 2]);
        assert!(agent.can_see_organization(Some(2)));
        assert!(!agent.can_see_organization(Some(3)));
        assert!(agent.can_see_organization(None));
        let unlimited = principal(Role::Agent, None, vec![]);
        assert!(unlimited.can_see_organization(Some(3)));
        assert!(unlimited.require_admin().is_err());
    }

    #[test]
    fn restricted_tickets_are_for_their_group_and_admins() {
        let agent = principal(Role::Agent, None, vec![]);
        assert!(agent.can_see_restricted(None));
        assert!(agent.can_see_restricted(Some(5)));
        assert!(!agent.can_see_restricted(Some(6)));
        assert!(principal(Role::Admin, None, vec![]).can_see_restricted(Some(6)));
        // A customer in group 5's list (impossible, but) still sees no restricted ticket.
        assert!(!principal(Role::Customer, Some(7), vec![]).can_see_restricted(Some(5)));
    }
}
