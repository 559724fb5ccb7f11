//! SLA policies: which tickets they cover, and their targets per priority.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ticket::{Priority, TicketType};

/// Targets for one priority, in business seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Until the first public reply of an agent.
    pub response_seconds: i64,
    /// Until the ticket is resolved.
    pub resolution_seconds: i64,
}

/// Why a policy definition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("targets for {priority} must be more than zero seconds")]
    TargetNotPositive { priority: String },
    #[error("a policy needs targets for at least one priority")]
    NoTargets,
    #[error("warning thresholds must be ascending percentages between 1 and 99, got {0:?}")]
    Warnings(Vec<u8>),
    #[error("a policy name must be 1 to 100 characters")]
    Name,
    #[error(
        "`{0}` is not a status that can pause clocks; expected pending:customer, pending:third_party or pending:change"
    )]
    PauseStatus(String),
}

/// What a policy covers and promises. Criteria left empty match every ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    pub name: String,
    /// Only tickets of these organizations (ids).
    #[serde(default)]
    pub organizations: Vec<i64>,
    /// Only tickets of these types.
    #[serde(default)]
    pub ticket_types: Vec<TicketType>,
    /// Only tickets of these priorities.
    #[serde(default)]
    pub priorities: Vec<Priority>,
    /// Only tickets of these categories (ids).
    #[serde(default)]
    pub categories: Vec<i64>,
    /// Targets per priority; a priority without targets gets no SLA from this policy.
    pub targets: BTreeMap<Priority, Targets>,
    /// Warn at these percentages of a target (ascending, below 100).
    #[serde(default = "default_warnings")]
    pub warnings: Vec<u8>,
    /// Pending reasons that pause the clocks, as `pending:<reason>`.
    #[serde(default = "default_pause_on")]
    pub pause_on: Vec<String>,
}

fn default_warnings() -> Vec<u8> {
    vec![75, 90]
}

fn default_pause_on() -> Vec<String> {
    vec!["pending:customer".into(), "pending:third_party".into()]
}

const PAUSABLE: [&str; 3] = ["pending:customer", "pending:third_party", "pending:change"];

/// The ticket attributes policies match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coverage {
    pub organization: Option<i64>,
    pub ticket_type: TicketType,
    pub priority: Priority,
    pub category: Option<i64>,
}

impl PolicySpec {
    /// Checks the definition.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(PolicyError::Name);
        }
        if self.targets.is_empty() {
            return Err(PolicyError::NoTargets);
        }
        for (priority, targets) in &self.targets {
            if targets.response_seconds <= 0 || targets.resolution_seconds <= 0 {
                return Err(PolicyError::TargetNotPositive {
                    priority: priority.to_string(),
                });
            }
        }
        if let Some(unknown) = self
            .pause_on
            .iter()
            .find(|s| !PAUSABLE.contains(&s.as_str()))
        {
            return Err(PolicyError::PauseStatus(unknown.clone()));
        }
        let ascending = self.warnings.windows(2).all(|pair| pair[0] < pair[1]);
        if !ascending || self.warnings.iter().any(|w| !(1..=99).contains(w)) {
            return Err(PolicyError::Warnings(self.warnings.clone()));
        }
        Ok(())
    }

    /// Whether a ticket pending for `reason` (`customer`, `third_party`, `change`) has its
    /// clocks paused under this policy.
    pub fn pauses_for(&self, reason: &str) -> bool {
        self.pause_on
            .iter()
            .any(|s| s.strip_prefix("pending:") == Some(reason))
    }

    /// The targets this policy gives a ticket, or `None` when it does not cover it.
    pub fn targets_for(&self, ticket: &Coverage) -> Option<Targets> {
        let covers = |list: &[i64], value: Option<i64>| {
            list.is_empty() || value.is_some_and(|v| list.contains(&v))
        };
        let matches = covers(&self.organizations, ticket.organization)
            && (self.ticket_types.is_empty() || self.ticket_types.contains(&ticket.ticket_type))
            && (self.priorities.is_empty() || self.priorities.contains(&ticket.priority))
            && covers(&self.categories, ticket.category);
        if matches {
            self.targets.get(&ticket.priority).copied()
        } else {
            None
        }
    }
}

/// The first policy, in order, that covers the ticket, and its targets.
pub fn first_match<'a, P>(
    policies: &'a [(P, PolicySpec)],
    ticket: &Coverage,
) -> Option<(&'a P, Targets)> {
    policies
        .iter()
        .find_map(|(id, spec)| spec.targets_for(ticket).map(|targets| (id, targets)))
}

/// The policy a fresh install starts with: 24×7, the usual ITIL-style targets.
pub fn default_policy() -> PolicySpec {
    const MINUTE: i64 = 60;
    const HOUR: i64 = 3600;
    const DAY: i64 = 24 * HOUR;
    let targets = [
        (Priority::P1, 15 * MINUTE, 4 * HOUR),
        (Priority::P2, HOUR, 8 * HOUR),
        (Priority::P3, 4 * HOUR, 3 * DAY),
        (Priority::P4, 8 * HOUR, 5 * DAY),
        (Priority::P5, 2 * DAY, 10 * DAY),
    ]
    .into_iter()
    .map(|(priority, response_seconds, resolution_seconds)| {
        (
            priority,
            Targets {
                response_seconds,
                resolution_seconds,
            },
        )
    })
    .collect();
    PolicySpec {
        name: "Default".into(),
        organizations: Vec::new(),
        ticket_types: Vec::new(),
        priorities: Vec::new(),
        categories: Vec::new(),
        targets,
        warnings: default_warnings(),
        pause_on: default_pause_on(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coverage(priority: Priority, organization: Option<i64>) -> Coverage {
        Coverage {
            organization,
            ticket_type: TicketType::Incident,
            priority,
            category: None,
        }
    }

    #[test]
    fn the_default_policy_is_valid_and_covers_everything() {
        let policy = default_policy();
        assert_eq!(policy.validate(), Ok(()));
        assert_eq!(
            policy.targets_for(&coverage(Priority::P1, None)),
            Some(Targets {
                response_seconds: 900,
                resolution_seconds: 14_400
            })
        );
    }

    #[test]
    fn policies_match_in_order() {
        let mut vip = default_policy();
        vip.name = "VIP".into();
        vip.organizations = vec![7];
        vip.targets.insert(
            Priority::P3,
            Targets {
                response_seconds: 60,
                resolution_seconds: 600,
            },
        );
        let policies = vec![(1, vip), (2, default_policy())];
        assert_eq!(
            first_match(&policies, &coverage(Priority::P3, Some(7))).map(|(id, _)| *id),
            Some(1)
        );
        assert_eq!(
            first_match(&policies, &coverage(Priority::P3, Some(8))).map(|(id, _)| *id),
            Some(2)
        );
        assert_eq!(
            first_match(&policies, &coverage(Priority::P3, None)).map(|(id, _)| *id),
            Some(2)
        );
    }

    #[test]
    fn invalid_policies_are_refused() {
        let mut policy = default_policy();
        policy.warnings = vec![90, 75];
        assert!(matches!(policy.validate(), Err(PolicyError::Warnings(_))));
        let mut policy = default_policy();
        policy.targets.insert(
            Priority::P2,
            Targets {
                response_seconds: 0,
                resolution_seconds: 10,
            },
        );
        assert!(matches!(
            policy.validate(),
            Err(PolicyError::TargetNotPositive { .. })
        ));
    }
}
