//! Automation rules: when a ticket event happens and every condition holds, a rule's actions
//! change the ticket (or start something beside it).
//!
//! This module reads a rule's definition with errors that name the field at fault, decides
//! whether a rule matches a ticket's [`TicketFacts`], and plans which of its actions would
//! change anything. Carrying the plan out is the application's work.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::account::Email;
use crate::string_enum;
use crate::ticket::{Impact, Priority, Source, Tag, TicketStatus, TicketType, Title, Urgency};

mod actions;
mod conditions;

/// Runs per hour a rule may make when its definition does not say.
pub const DEFAULT_MAX_RUNS_PER_HOUR: u32 = 100;
/// The most a rule may be allowed per hour.
pub const MOST_RUNS_PER_HOUR: u32 = 100_000;
/// Most conditions, and most actions, in one rule.
pub const MOST_PARTS: usize = 20;
/// Longest wait a time-based rule may name: a year.
pub const LONGEST_AFTER_HOURS: u32 = 8_760;
/// Longest rule name, in characters.
pub const MOST_NAME_CHARS: usize = 100;
/// Longest text in a condition or an action (a note, a title, a value), in characters.
pub const MOST_TEXT_CHARS: usize = 10_000;

string_enum! {
    /// What makes a rule look at a ticket.
    pub enum RuleEvent as "rule event" {
        /// A ticket was opened.
        TicketCreated => "ticket.created",
        /// A ticket's fields, status or tags changed.
        TicketUpdated => "ticket.updated",
        /// A reply or an internal note was added.
        TicketCommented => "ticket.commented",
        /// A ticket has been pending, unchanged, for the rule's `after_hours`.
        TicketPendingOver => "ticket.pending_over",
    }
}

string_enum! {
    /// A ticket field a condition compares.
    pub enum ConditionField as "condition field" {
        Type => "type",
        Priority => "priority",
        Status => "status",
        Impact => "impact",
        Urgency => "urgency",
        Category => "category",
        Group => "group",
        Assignee => "assignee",
        Organization => "organization",
        Source => "source",
        /// Any of the ticket's tags.
        Tag => "tag",
    }
}

string_enum! {
    /// How a condition compares.
    pub enum ConditionOp as "condition operator" {
        Is => "is",
        IsNot => "is_not",
        In => "in",
    }
}

string_enum! {
    /// A ticket field a `set` action changes.
    pub enum SetField as "field to set" {
        Priority => "priority",
        Impact => "impact",
        Urgency => "urgency",
        Status => "status",
        Category => "category",
        Group => "group",
    }
}

/// A definition as written: by an admin through the API or the web form, or as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDraft {
    pub name: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    pub event: String,
    /// For `ticket.pending_over`: hours pending without a change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_hours: Option<i64>,
    #[serde(default)]
    pub conditions: Vec<Value>,
    pub actions: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_runs_per_hour: Option<i64>,
}

fn enabled_by_default() -> bool {
    true
}

/// One thing wrong with a draft, named by its path in the JSON (`conditions[0].field`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RuleError {
    pub field: String,
    pub message: String,
}

impl RuleError {
    fn new(field: impl Into<String>, message: impl ToString) -> Self {
        Self {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

/// One test a ticket must pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// A field compared with one value (`is`, `is_not`) or any of several (`in`). Values are
    /// kept lowercase; tickets' values are compared lowercased.
    Field {
        field: ConditionField,
        op: ConditionOp,
        values: Vec<String>,
    },
    /// The title or description contains this text, whatever its case (kept lowercase).
    TextContains(String),
    /// The event happens inside (`true`) or outside (`false`) the business hours of the
    /// calendar the ticket's SLA counts in: "outside business hours, page on-call".
    BusinessHours(bool),
}

/// One thing a rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Sets a field to a value (checked against the field's names when it has a closed set).
    Set {
        field: SetField,
        value: String,
    },
    /// Assigns the ticket to an agent.
    Assign(Email),
    AddTag(Tag),
    /// Applies a macro (canned response) by name.
    ApplyMacro(String),
    /// Adds an internal note.
    Note(String),
    /// Pages an escalation policy, by name (incidents only).
    Page(String),
    /// POSTs the ticket as JSON to a URL, through the job outbox.
    Webhook(String),
    /// Opens a new ticket linked to this one.
    OpenLinked {
        ticket_type: TicketType,
        title: Title,
    },
}

/// A rule whose definition passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    pub enabled: bool,
    pub event: RuleEvent,
    /// For [`RuleEvent::TicketPendingOver`] only.
    pub after_hours: Option<u32>,
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
    pub max_runs_per_hour: u32,
}

/// What a rule looks at in a ticket. Names are as people see them (group and organization
/// names, the assignee's address, the category's name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketFacts {
    pub ticket_type: TicketType,
    pub priority: Priority,
    pub status: TicketStatus,
    pub impact: Impact,
    pub urgency: Urgency,
    pub category: Option<String>,
    pub group: Option<String>,
    pub assignee: Option<String>,
    pub organization: Option<String>,
    pub source: Source,
    pub tags: Vec<String>,
    pub title: String,
    pub description: String,
    /// Whether an escalation policy already pages for this ticket.
    pub paged: bool,
    /// Whether the event happens within the business hours of the ticket's SLA calendar.
    pub in_business_hours: bool,
}

impl TicketFacts {
    /// The ticket's values for `field`: none, one, or (tags) several.
    fn values_of(&self, field: ConditionField) -> Vec<&str> {
        let one = |value: &'static str| vec![value];
        match field {
            ConditionField::Type => one(self.ticket_type.as_str()),
            ConditionField::Priority => one(self.priority.as_str()),
            ConditionField::Status => one(self.status.as_str()),
            ConditionField::Impact => one(self.impact.as_str()),
            ConditionField::Urgency => one(self.urgency.as_str()),
            ConditionField::Source => one(self.source.as_str()),
            ConditionField::Category => self.category.iter().map(String::as_str).collect(),
            ConditionField::Group => self.group.iter().map(String::as_str).collect(),
            ConditionField::Assignee => self.assignee.iter().map(String::as_str).collect(),
            ConditionField::Organization => self.organization.iter().map(String::as_str).collect(),
            ConditionField::Tag => self.tags.iter().map(String::as_str).collect(),
        }
    }

    fn has(&self, field: ConditionField, value: &str) -> bool {
        self.values_of(field)
            .iter()
            .any(|have| have.to_lowercase() == value)
    }
}
fn parse_name<T>(value: &str) -> Result<String, String>
where
    T: std::str::FromStr + std::fmt::Display,
    T::Err: std::fmt::Display,
{
    value
        .trim()
        .parse::<T>()
        .map(|parsed| parsed.to_string())
        .map_err(|e| e.to_string())
}

fn parse_named<T>(at: &str, raw: Option<&Value>) -> Result<T, RuleError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let text = match raw {
        Some(raw) => text_of(at, raw)?,
        None => return Err(RuleError::new(at, "is required")),
    };
    text.parse::<T>().map_err(|e| RuleError::new(at, e))
}

/// A non-empty string of at most [`MOST_TEXT_CHARS`] characters, trimmed.
fn text_of(at: &str, raw: &Value) -> Result<String, RuleError> {
    let Some(text) = raw.as_str() else {
        return Err(RuleError::new(at, "must be a string"));
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(RuleError::new(at, "must not be empty"));
    }
    if text.chars().count() > MOST_TEXT_CHARS {
        return Err(RuleError::new(
            at,
            format!("must be at most {MOST_TEXT_CHARS} characters"),
        ));
    }
    Ok(text.to_owned())
}
impl RuleDraft {
    /// Checks every part of the draft, collecting every error with the field it names.
    pub fn validate(&self) -> Result<Rule, Vec<RuleError>> {
        let mut errors = Vec::new();
        let name = self.name.trim();
        if name.is_empty() {
            errors.push(RuleError::new("name", "must not be empty"));
        } else if name.chars().count() > MOST_NAME_CHARS || name.contains(char::is_control) {
            errors.push(RuleError::new(
                "name",
                format!("must be one line of at most {MOST_NAME_CHARS} characters"),
            ));
        }
        let event = self
            .event
            .parse::<RuleEvent>()
            .map_err(|e| errors.push(RuleError::new("event", e)))
            .ok();
        let after_hours = match (event, self.after_hours) {
            (Some(RuleEvent::TicketPendingOver), Some(hours)) => {
                match u32::try_from(hours)
                    .ok()
                    .filter(|h| (1..=LONGEST_AFTER_HOURS).contains(h))
                {
                    Some(hours) => Some(hours),
                    None => {
                        errors.push(RuleError::new(
                            "after_hours",
                            format!("must be 1 to {LONGEST_AFTER_HOURS}"),
                        ));
                        None
                    }
                }
            }
            (Some(RuleEvent::TicketPendingOver), None) => {
                errors.push(RuleError::new(
                    "after_hours",
                    "ticket.pending_over needs the hours a ticket is pending before the rule runs",
                ));
                None
            }
            (_, Some(_)) => {
                errors.push(RuleError::new(
                    "after_hours",
                    "only ticket.pending_over waits",
                ));
                None
            }
            (_, None) => None,
        };
        let max_runs_per_hour = match self.max_runs_per_hour {
            None => DEFAULT_MAX_RUNS_PER_HOUR,
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| (1..=MOST_RUNS_PER_HOUR).contains(n))
                .unwrap_or_else(|| {
                    errors.push(RuleError::new(
                        "max_runs_per_hour",
                        format!("must be 1 to {MOST_RUNS_PER_HOUR}"),
                    ));
                    DEFAULT_MAX_RUNS_PER_HOUR
                }),
        };
        if self.conditions.len() > MOST_PARTS {
            errors.push(RuleError::new(
                "conditions",
                format!("at most {MOST_PARTS} conditions"),
            ));
        }
        if self.actions.is_empty() || self.actions.len() > MOST_PARTS {
            errors.push(RuleError::new(
                "actions",
                format!("give 1 to {MOST_PARTS} actions"),
            ));
        }
        let mut conditions = Vec::new();
        for (index, raw) in self.conditions.iter().enumerate() {
            match Condition::parse(&format!("conditions[{index}]"), raw) {
                Ok(condition) => conditions.push(condition),
                Err(found) => errors.extend(found),
            }
        }
        let mut actions = Vec::new();
        for (index, raw) in self.actions.iter().enumerate() {
            match Action::parse(&format!("actions[{index}]"), raw) {
                Ok(parsed) => actions.extend(parsed),
                Err(found) => errors.extend(found),
            }
        }
        match event {
            Some(event) if errors.is_empty() => Ok(Rule {
                name: name.to_owned(),
                enabled: self.enabled,
                event,
                after_hours,
                conditions,
                actions,
                max_runs_per_hour,
            }),
            _ => Err(errors),
        }
    }
}

impl Rule {
    /// Whether every condition holds for the ticket.
    pub fn matches(&self, facts: &TicketFacts) -> bool {
        self.conditions.iter().all(|c| c.holds(facts))
    }

    /// The actions that would change the ticket, in order; empty when the rule does not
    /// match or its work is already done.
    pub fn plan(&self, facts: &TicketFacts) -> Vec<Action> {
        if !self.matches(facts) {
            return Vec::new();
        }
        self.actions
            .iter()
            .filter(|action| action.changes(facts))
            .cloned()
            .collect()
    }

    /// The definition in its canonical form, as stored and shown.
    pub fn to_draft(&self) -> RuleDraft {
        RuleDraft {
            name: self.name.clone(),
            enabled: self.enabled,
            event: self.event.as_str().to_owned(),
            after_hours: self.after_hours.map(i64::from),
            conditions: self.conditions.iter().map(Condition::to_json).collect(),
            actions: self.actions.iter().map(Action::to_json).collect(),
            max_runs_per_hour: Some(i64::from(self.max_runs_per_hour)),
        }
    }
}

/// The JSON object of one planned action, for dry runs and the timeline.
pub fn describe(actions: &[Action]) -> Vec<Value> {
    actions.iter().map(Action::to_json).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use proptest::prelude::*;

    use super::*;

    fn facts() -> TicketFacts {
        TicketFacts {
            ticket_type: TicketType::Incident,
            priority: Priority::P3,
            status: TicketStatus::New,
            impact: Impact::Medium,
            urgency: Urgency::Medium,
            category: Some("Network".into()),
            group: None,
            assignee: None,
            organization: Some("Acme".into()),
            source: Source::Email,
            tags: vec!["vpn".into()],
            title: "VPN drops every hour".into(),
            description: "Since Monday.".into(),
            paged: false,
            in_business_hours: true,
        }
    }

    #[test]
    fn business_hours_conditions_tell_inside_from_outside() {
        let after_hours = draft(
            json!([{"business_hours": false}]),
            json!([{"add_tag": "after-hours"}]),
        )
        .validate()
        .unwrap();
        assert!(after_hours.plan(&facts()).is_empty());
        let night = TicketFacts {
            in_business_hours: false,
            ..facts()
        };
        assert_eq!(
            describe(&after_hours.plan(&night)),
            [json!({"add_tag": "after-hours"})]
        );
        assert_eq!(
            after_hours.conditions[0].to_json(),
            json!({"business_hours": false})
        );
        let errors = draft(
            json!([{"business_hours": "nights"}, {"business_hours": true, "field": "type"}]),
            json!([{"add_tag": "x"}]),
        )
        .validate()
        .unwrap_err();
        assert_eq!(
            fields(errors),
            ["conditions[0].business_hours", "conditions[1]"]
        );
    }

    fn draft(conditions: Value, actions: Value) -> RuleDraft {
        serde_json::from_value(json!({
            "name": "Network to L2", "event": "ticket.created",
            "conditions": conditions, "actions": actions,
        }))
        .unwrap()
    }

    fn fields(errors: Vec<RuleError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_rule_matches_and_plans_what_changes() {
        let rule = draft(
            json!([{"field": "category", "op": "is", "value": "network"},
                   {"text_contains": "vpn"}]),
            json!([{"set": {"priority": "p2", "group": "Network"}}, {"add_tag": "vpn"},
                   {"add_tag": "network"}]),
        )
        .validate()
        .unwrap();
        assert_eq!(
            describe(&rule.plan(&facts())),
            vec![
                json!({"set": {"group": "Network"}}),
                json!({"set": {"priority": "P2"}}),
                json!({"add_tag": "network"}),
            ]
        );
        let elsewhere = TicketFacts {
            category: Some("Printers".into()),
            ..facts()
        };
        assert!(rule.plan(&elsewhere).is_empty());
    }

    #[test]
    fn errors_name_the_field_at_fault() {
        let errors = draft(
            json!([{"field": "colour", "op": "is", "value": "red"},
                   {"field": "priority", "op": "in", "values": ["P9"]}]),
            json!([{"set": {"status": "resolved"}}, {"assign": "nobody"}, {"explode": true}]),
        )
        .validate()
        .unwrap_err();
        assert_eq!(
            fields(errors),
            [
                "conditions[0].field",
                "conditions[1].values[0]",
                "actions[0].set.status",
                "actions[1].assign",
                "actions[2]",
            ]
        );
        let timed = RuleDraft {
            event: "ticket.pending_over".into(),
            ..draft(json!([]), json!([{"note": "Still waiting?"}]))
        };
        assert_eq!(fields(timed.validate().unwrap_err()), ["after_hours"]);
        let nothing = RuleDraft {
            name: " ".into(),
            event: "ticket.deleted".into(),
            ..draft(json!([]), json!([]))
        };
        assert_eq!(
            fields(nothing.validate().unwrap_err()),
            ["name", "event", "actions"]
        );
    }

    #[test]
    fn work_already_done_is_left_out() {
        let rule = draft(
            json!([]),
            json!([{"add_tag": "vpn"}, {"set": {"priority": "P3"}}, {"page": "Network"}]),
        )
        .validate()
        .unwrap();
        assert_eq!(
            describe(&rule.plan(&facts())),
            vec![json!({"page": "Network"})]
        );
        let request = TicketFacts {
            ticket_type: TicketType::ServiceRequest,
            ..facts()
        };
        assert!(rule.plan(&request).is_empty(), "only incidents are paged");
    }

    #[test]
    fn the_canonical_draft_reads_back_the_same() {
        let rule = draft(
            json!([{"field": "tag", "op": "in", "values": ["VPN", "wifi"]}]),
            json!([{"open_linked": {"type": "problem", "title": "Recurring  VPN drops"}},
                   {"webhook": "https://hooks.example.com/x"}]),
        )
        .validate()
        .unwrap();
        assert_eq!(rule.to_draft().validate().unwrap(), rule);
    }

    fn field() -> impl Strategy<Value = ConditionField> {
        prop::sample::select(ConditionField::ALL)
    }

    fn any_facts() -> impl Strategy<Value = TicketFacts> {
        (
            prop::sample::select(TicketType::ALL),
            prop::sample::select(Priority::ALL),
            prop::sample::select(TicketStatus::ALL),
            prop::option::of(prop::sample::select(vec!["Network", "Printers"])),
            prop::option::of(prop::sample::select(vec!["L1", "L2"])),
            prop::collection::vec(prop::sample::select(vec!["vpn", "wifi", "vip"]), 0..3),
        )
            .prop_map(|(ticket_type, priority, status, category, group, tags)| {
                TicketFacts {
                    ticket_type,
                    priority,
                    status,
                    category: category.map(str::to_owned),
                    group: group.map(str::to_owned),
                    tags: tags.into_iter().map(str::to_owned).collect(),
                    ..facts()
                }
            })
    }

    fn value_for(field: ConditionField, pick: usize) -> String {
        let names: Vec<&str> = match field {
            ConditionField::Type => TicketType::NAMES.to_vec(),
            ConditionField::Priority => Priority::NAMES.to_vec(),
            ConditionField::Status => TicketStatus::NAMES.to_vec(),
            ConditionField::Impact => Impact::NAMES.to_vec(),
            ConditionField::Urgency => Urgency::NAMES.to_vec(),
            ConditionField::Source => Source::NAMES.to_vec(),
            ConditionField::Tag => vec!["vpn", "wifi", "vip"],
            _ => vec!["Network", "Printers", "L1", "L2", "Acme"],
        };
        names[pick % names.len()].to_owned()
    }

    fn condition(field: ConditionField, op: &str, value: &str) -> Condition {
        let raw = if op == "in" {
            json!({"field": field, "op": op, "values": [value]})
        } else {
            json!({"field": field, "op": op, "value": value})
        };
        Condition::parse("c", &raw).unwrap()
    }

    proptest! {
        /// For every field and value, exactly one of `is` and `is_not` holds.
        #[test]
        fn is_and_is_not_are_complements(facts in any_facts(), field in field(), pick in 0usize..10) {
            let value = value_for(field, pick);
            let is = condition(field, "is", &value).holds(&facts);
            let is_not = condition(field, "is_not", &value).holds(&facts);
            prop_assert_ne!(is, is_not);
        }

        /// Exactly one of inside and outside business hours holds.
        #[test]
        fn inside_and_outside_business_hours_are_complements(facts in any_facts(), inside in any::<bool>()) {
            let facts = TicketFacts { in_business_hours: inside, ..facts };
            prop_assert_ne!(
                Condition::BusinessHours(true).holds(&facts),
                Condition::BusinessHours(false).holds(&facts)
            );
        }

        /// `in` with one value is `is` with that value.
        #[test]
        fn in_of_one_value_is_is(facts in any_facts(), field in field(), pick in 0usize..10) {
            let value = value_for(field, pick);
            prop_assert_eq!(
                condition(field, "in", &value).holds(&facts),
                condition(field, "is", &value).holds(&facts)
            );
        }

        /// Carrying out a plan's `add_tag` and `set` actions leaves nothing more to do: a rule
        /// that has done its work does not trigger itself again.
        #[test]
        fn a_plan_carried_out_leaves_nothing_to_plan(facts in any_facts(), pick in 0usize..3) {
            let tag = ["vpn", "wifi", "vip"][pick];
            let rule = draft(
                json!([]),
                json!([{"add_tag": tag}, {"set": {"priority": "P1", "group": "L2"}}]),
            )
            .validate()
            .unwrap();
            let mut after = facts.clone();
            for action in rule.plan(&facts) {
                match action {
                    Action::AddTag(tag) => after.tags.push(tag.to_string()),
                    Action::Set { field: SetField::Priority, .. } => after.priority = Priority::P1,
                    Action::Set { field: SetField::Group, value } => after.group = Some(value),
                    other => prop_assert!(false, "unexpected {other:?}"),
                }
            }
            prop_assert!(rule.plan(&after).is_empty());
        }
    }
}
