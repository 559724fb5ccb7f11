//! The catalog tickets are checked against — groups, categories, custom fields,
//! organizations' priority matrices, SLA policies and their calendars — held in memory.
//!
//! Creating or changing a ticket consults most of it, and reading each part from the database
//! cost a statement per part on every request. The database keeps a version that every change
//! to those tables replaces with a new random value (migration 0019), so one small read tells
//! whether the copy here is current; a change made on any node, or rolled back, is seen by the
//! next use on every node. The copy is process-wide: versions are random, so copies of two
//! databases in one process cannot be mistaken for each other.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use opsdesk_domain::automation::{Rule, RuleDraft, RuleEvent};
use opsdesk_domain::sla::{BusinessCalendar, CalendarSpec, PolicySpec};
use opsdesk_domain::ticket::{CustomFieldDefinition, PriorityMatrix};
use opsdesk_store::tickets::{CategoryRow, GroupRow};
use opsdesk_store::{Conn, automation, catalog, sla, tickets};

use crate::AppError;

static CURRENT: Mutex<Option<Arc<Catalog>>> = Mutex::new(None);

/// One consistent copy of the catalog.
pub(crate) struct Catalog {
    version: i64,
    groups: Vec<GroupRow>,
    categories: Vec<CategoryRow>,
    custom_fields: Vec<CustomFieldDefinition>,
    matrices: HashMap<i64, PriorityMatrix>,
    /// In the order they are tried: `((policy id, calendar id), definition)`.
    policies: Vec<((i64, i64), PolicySpec)>,
    calendars: HashMap<i64, BusinessCalendar>,
    /// The enabled automation rules, by name: `(rule id, rule)`.
    rules: Vec<(i64, Rule)>,
}

/// The catalog as `conn` sees the database now.
pub(crate) async fn current(conn: &mut Conn) -> Result<Arc<Catalog>, AppError> {
    let version = catalog::version(conn).await?;
    let cached = CURRENT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .filter(|copy| copy.version == version)
        .cloned();
    if let Some(copy) = cached {
        return Ok(copy);
    }
    let loaded = Arc::new(Catalog::load(conn, version).await?);
    *CURRENT.lock().unwrap_or_else(PoisonError::into_inner) = Some(loaded.clone());
    Ok(loaded)
}

impl Catalog {
    async fn load(conn: &mut Conn, version: i64) -> Result<Self, AppError> {
        let custom_fields = tickets::custom_fields(conn)
            .await?
            .into_iter()
            .filter_map(|(id, json)| parsed(&json, "custom field", id))
            .collect();
        let matrices = catalog::priority_matrices(conn)
            .await?
            .into_iter()
            .filter_map(|(id, json)| {
                let cells: BTreeMap<String, String> = parsed(&json, "priority matrix", id)?;
                Some((id, PriorityMatrix::try_from(cells).ok()?))
            })
            .collect();
        let policies = sla::policies(conn)
            .await?
            .into_iter()
            .filter_map(|row| {
                let spec = parsed(&row.spec, "SLA policy", row.id)?;
                Some(((row.id, row.calendar_id), spec))
            })
            .collect();
        let calendars = sla::calendars(conn)
            .await?
            .into_iter()
            .filter_map(|row| {
                let spec: CalendarSpec = parsed(&row.spec, "calendar", row.id)?;
                match BusinessCalendar::try_from(spec) {
                    Ok(calendar) => Some((row.id, calendar)),
                    Err(error) => {
                        tracing::error!(calendar = row.id, %error, "unusable calendar skipped");
                        None
                    }
                }
            })
            .collect();
        let rules = automation::enabled_rules(conn)
            .await?
            .into_iter()
            .filter_map(|(id, json)| {
                let draft: RuleDraft = parsed(&json, "automation rule", id)?;
                match draft.validate() {
                    Ok(rule) => Some((id, rule)),
                    Err(errors) => {
                        tracing::error!(rule = id, ?errors, "unusable automation rule skipped");
                        None
                    }
                }
            })
            .collect();
        Ok(Self {
            version,
            rules,
            groups: tickets::groups(conn).await?,
            categories: tickets::categories(conn).await?,
            custom_fields,
            matrices,
            policies,
            calendars,
        })
    }

    /// The group called `name`, whatever its case.
    pub(crate) fn group(&self, name: &str) -> Option<&GroupRow> {
        let name = name.to_lowercase();
        self.groups.iter().find(|g| g.name.to_lowercase() == name)
    }

    /// Every category, oldest first.
    pub(crate) fn categories(&self) -> &[CategoryRow] {
        &self.categories
    }

    pub(crate) fn custom_fields(&self) -> &[CustomFieldDefinition] {
        &self.custom_fields
    }

    /// The priority matrix of an organization: its own, or the ITIL default.
    pub(crate) fn matrix(&self, organization: Option<i64>) -> PriorityMatrix {
        organization
            .and_then(|id| self.matrices.get(&id))
            .cloned()
            .unwrap_or(PriorityMatrix::ITIL)
    }

    /// The SLA policies in the order they are tried.
    pub(crate) fn policies(&self) -> &[((i64, i64), PolicySpec)] {
        &self.policies
    }

    pub(crate) fn policy(&self, id: i64) -> Option<&PolicySpec> {
        self.policies
            .iter()
            .find(|((policy, _), _)| *policy == id)
            .map(|(_, spec)| spec)
    }

    /// The enabled rules that `event` runs, by name.
    pub(crate) fn rules_for(&self, event: RuleEvent) -> Vec<(i64, Rule)> {
        self.rules
            .iter()
            .filter(|(_, rule)| rule.event == event)
            .cloned()
            .collect()
    }

    pub(crate) fn calendar(&self, id: i64) -> Result<&BusinessCalendar, AppError> {
        self.calendars
            .get(&id)
            .ok_or(AppError::NotFound("calendar"))
    }
}

/// A stored definition, or `None` (logged) when it cannot be read: one bad row must not stop
/// every ticket from being checked against the rest.
fn parsed<T: serde::de::DeserializeOwned>(json: &str, what: &str, id: i64) -> Option<T> {
    match serde_json::from_str(json) {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::error!(id, %error, "unreadable {what} skipped");
            None
        }
    }
}
