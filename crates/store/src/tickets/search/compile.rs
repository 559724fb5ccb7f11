//! The query language compiled to SQL: each condition a clause with its values bound, the
//! full-text match for FTS5 or tsvector, and the visibility every statement carries.

use opsdesk_domain::query::{
    Condition, Filter, IsCondition, PersonMatch, Query, SlaCondition, TimeBound,
};
use opsdesk_domain::ticket::TicketStatus;

use super::{Asker, Visibility};
use crate::db::Backend;

pub(super) enum Bind {
    Int(i64),
    Text(String),
}

/// SQL text plus its bound values, numbered as they are added.
pub(super) struct Sql {
    pub(super) text: String,
    pub(super) binds: Vec<Bind>,
}

impl Sql {
    pub(super) fn int(&mut self, value: i64) -> String {
        self.binds.push(Bind::Int(value));
        format!("${}", self.binds.len())
    }

    pub(super) fn text(&mut self, value: impl Into<String>) -> String {
        self.binds.push(Bind::Text(value.into()));
        format!("${}", self.binds.len())
    }

    pub(super) fn list<T>(
        &mut self,
        values: &[T],
        mut bind: impl FnMut(&mut Self, &T) -> String,
    ) -> String {
        values
            .iter()
            .map(|value| bind(self, value))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(super) fn query_as<'q, T>(
        &'q self,
    ) -> sqlx::query::QueryAs<'q, sqlx::Any, T, sqlx::any::AnyArguments>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(self.text.clone()));
        for bind in &self.binds {
            query = match bind {
                Bind::Int(value) => query.bind(*value),
                Bind::Text(value) => query.bind(value.clone()),
            };
        }
        query
    }
}

pub(super) fn status_names(statuses: &[TicketStatus]) -> Vec<String> {
    statuses.iter().map(|s| s.as_str().to_owned()).collect()
}

fn time_condition(sql: &mut Sql, column: &str, bound: &TimeBound) -> String {
    match bound {
        TimeBound::Before(t) => format!("{column} < {}", sql.int(t.as_millisecond())),
        TimeBound::AtOrBefore(t) => format!("{column} <= {}", sql.int(t.as_millisecond())),
        TimeBound::After(t) => format!("{column} > {}", sql.int(t.as_millisecond())),
        TimeBound::AtOrAfter(t) => format!("{column} >= {}", sql.int(t.as_millisecond())),
        TimeBound::OnDay(date) => match TimeBound::day_range(*date) {
            Some((start, end)) => format!(
                "({column} >= {} AND {column} < {})",
                sql.int(start.as_millisecond()),
                sql.int(end.as_millisecond())
            ),
            None => "FALSE".to_owned(),
        },
    }
}

fn person_condition(
    sql: &mut Sql,
    column: &str,
    people: &[PersonMatch],
    me: Option<i64>,
) -> String {
    let alternatives: Vec<String> = people
        .iter()
        .map(|person| match person {
            PersonMatch::Me => format!("{column} = {}", sql.int(me.unwrap_or(-1))),
            PersonMatch::Nobody => format!("{column} IS NULL"),
            PersonMatch::Email(email) => format!(
                "{column} IN (SELECT id FROM users WHERE email = {})",
                sql.text(email.clone())
            ),
        })
        .collect();
    format!("({})", alternatives.join(" OR "))
}

fn names_condition(sql: &mut Sql, column: &str, table: &str, names: &[String]) -> String {
    let list = sql.list(names, |sql, name| {
        format!("lower({})", sql.text(name.clone()))
    });
    format!("{column} IN (SELECT id FROM {table} WHERE lower(name) IN ({list}))")
}

fn condition(sql: &mut Sql, condition: &Condition, asker: Asker) -> String {
    let me = asker.me;
    match condition {
        Condition::Status(statuses) => {
            let list = sql.list(&status_names(statuses), |sql, s| sql.text(s.clone()));
            format!("t.status IN ({list})")
        }
        Condition::Type(types) => {
            let list = sql.list(types, |sql, t| sql.text(t.as_str()));
            format!("t.ticket_type IN ({list})")
        }
        Condition::Priority(priorities) => {
            let list = sql.list(priorities, |sql, p| sql.int(i64::from(p.rank())));
            format!("t.priority IN ({list})")
        }
        Condition::Impact(values) => {
            let list = sql.list(values, |sql, v| sql.text(v.as_str()));
            format!("t.impact IN ({list})")
        }
        Condition::Urgency(values) => {
            let list = sql.list(values, |sql, v| sql.text(v.as_str()));
            format!("t.urgency IN ({list})")
        }
        Condition::Source(values) => {
            let list = sql.list(values, |sql, v| sql.text(v.as_str()));
            format!("t.source IN ({list})")
        }
        Condition::Group(names) => names_condition(sql, "t.group_id", "groups", names),
        Condition::Organization(names) => {
            names_condition(sql, "t.organization_id", "organizations", names)
        }
        Condition::Category(names) => {
            let list = sql.list(names, |sql, name| {
                format!("lower({})", sql.text(name.clone()))
            });
            // A category matches its subcategories too.
            format!(
                "t.category_id IN (SELECT id FROM categories WHERE lower(name) IN ({list}) \
                 OR parent_id IN (SELECT id FROM categories WHERE lower(name) IN ({list})))"
            )
        }
        Condition::Assignee(people) => person_condition(sql, "t.assignee_id", people, me),
        Condition::Requester(people) => person_condition(sql, "t.requester_id", people, me),
        Condition::Tag(tags) => {
            let list = sql.list(tags, |sql, tag| sql.text(tag.as_str()));
            format!("t.id IN (SELECT ticket_id FROM ticket_tags WHERE tag IN ({list}))")
        }
        Condition::Number(numbers) => {
            let alternatives: Vec<String> = numbers
                .iter()
                .map(|n| {
                    let number = i64::try_from(n.sequence()).unwrap_or(i64::MAX);
                    format!(
                        "(t.ticket_type = {} AND t.number = {})",
                        sql.text(n.ticket_type().as_str()),
                        sql.int(number)
                    )
                })
                .collect();
            format!("({})", alternatives.join(" OR "))
        }
        Condition::Created(bounds) => {
            let alternatives: Vec<String> = bounds
                .iter()
                .map(|b| time_condition(sql, "t.created_at", b))
                .collect();
            format!("({})", alternatives.join(" OR "))
        }
        Condition::Updated(bounds) => {
            let alternatives: Vec<String> = bounds
                .iter()
                .map(|b| time_condition(sql, "t.updated_at", b))
                .collect();
            format!("({})", alternatives.join(" OR "))
        }
        Condition::Is(conditions) => {
            let alternatives: Vec<String> = conditions
                .iter()
                .map(|c| match c {
                    IsCondition::Open => "t.status IN ('new', 'open', 'pending')".to_owned(),
                    IsCondition::Unassigned => "t.assignee_id IS NULL".to_owned(),
                })
                .collect();
            format!("({})", alternatives.join(" OR "))
        }
        Condition::Sla(conditions) => {
            let alternatives: Vec<String> = conditions
                .iter()
                .map(|c| match c {
                    SlaCondition::Breached => {
                        "t.id IN (SELECT ticket_id FROM ticket_sla WHERE response_breached = 1 OR resolution_breached = 1)"
                            .to_owned()
                    }
                    SlaCondition::DueWithin(seconds) => {
                        let limit = sql.int(asker.now + seconds * 1000);
                        format!(
                            "t.id IN (SELECT ticket_id FROM ticket_sla WHERE response_due_at < {limit} \
                             UNION SELECT ticket_id FROM ticket_sla WHERE resolution_due_at < {limit})"
                        )
                    }
                })
                .collect();
            format!("({})", alternatives.join(" OR "))
        }
    }
}

fn filter_clause(sql: &mut Sql, filter: &Filter, asker: Asker) -> String {
    let clause = condition(sql, &filter.condition, asker);
    if filter.negated {
        // NULL columns must count as "does not match", so a negation includes them.
        format!("NOT COALESCE(({clause}), FALSE)")
    } else {
        clause
    }
}

fn visibility_clause(sql: &mut Sql, visibility: &Visibility) -> Vec<String> {
    let mut clauses = Vec::new();
    if let Some(organizations) = &visibility.organizations {
        if organizations.is_empty() {
            clauses.push("FALSE".to_owned());
        } else {
            let list = sql.list(organizations, |sql, id| sql.int(*id));
            clauses.push(format!("t.organization_id IN ({list})"));
        }
    }
    match visibility.restricted_groups.as_deref() {
        None => {}
        Some([]) => clauses.push("t.restricted_group_id IS NULL".to_owned()),
        Some(groups) => {
            let list = sql.list(groups, |sql, id| sql.int(*id));
            clauses.push(format!(
                "(t.restricted_group_id IS NULL OR t.restricted_group_id IN ({list}))"
            ));
        }
    }
    if let Some(customer) = visibility.customer {
        let me = sql.int(customer);
        let organization = sql.int(visibility.customer_organization.unwrap_or(-1));
        clauses.push(format!(
            "(t.requester_id = {me} OR t.id IN (SELECT ticket_id FROM ticket_watchers WHERE user_id = {me}) \
             OR t.organization_id IN (SELECT id FROM organizations WHERE id = {organization} AND customers_see_all = 1))"
        ));
    }
    clauses
}

/// FTS5 query text: every word and phrase quoted (so user input is never FTS syntax), all
/// required, in the text columns (customers' only in the public ones); then each group of
/// `statuses` as alternatives on the status token (see [`status_groups`]).
pub(super) fn fts5_query(
    text: &[String],
    customer: bool,
    statuses: &[Vec<TicketStatus>],
) -> String {
    let terms: Vec<String> = text
        .iter()
        .map(|term| format!("\"{}\"", term.replace('"', "\"\"")))
        .collect();
    let columns = if customer {
        "title description conversation"
    } else {
        "title description conversation notes"
    };
    let mut query = format!("{{{columns}}} : ({})", terms.join(" AND "));
    for group in statuses {
        let tokens: Vec<String> = group
            .iter()
            .map(|status| format!("status{}", status.as_str()))
            .collect();
        query.push_str(&format!(" AND {{facets}} : ({})", tokens.join(" OR ")));
    }
    query
}

/// The status sets a query requires, one per filter: `status:` lists and `is:open`. The
/// full-text index can answer them itself; the same filters stay on the joined `tickets` row
/// as well, so the result never depends on the index alone.
pub(super) fn status_groups(query: &Query) -> Vec<Vec<TicketStatus>> {
    query
        .filters
        .iter()
        .filter(|filter| !filter.negated)
        .filter_map(|filter| match &filter.condition {
            Condition::Status(statuses) => Some(statuses.clone()),
            Condition::Is(conditions) if conditions.iter().all(|c| *c == IsCondition::Open) => {
                Some(
                    TicketStatus::ALL
                        .iter()
                        .copied()
                        .filter(|s| s.is_active())
                        .collect(),
                )
            }
            _ => None,
        })
        .collect()
}

/// `websearch_to_tsquery` input: words as they are, phrases in double quotes.
pub(super) fn websearch_query(text: &[String]) -> String {
    text.iter()
        .map(|term| {
            let clean = term.replace('"', " ");
            if clean.contains(char::is_whitespace) {
                format!("\"{clean}\"")
            } else {
                clean
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Builds the FROM/WHERE shared by searches and counts. Returns the text-rank expression
/// when the query has free text.
pub(super) fn from_where(
    sql: &mut Sql,
    backend: Backend,
    query: &Query,
    visibility: &Visibility,
    asker: Asker,
) -> Option<String> {
    let mut clauses = visibility_clause(sql, visibility);
    let customer = visibility.customer.is_some();
    let rank = if query.text.is_empty() {
        sql.text.push_str(" FROM tickets t");
        None
    } else {
        match backend {
            Backend::Sqlite => {
                let matched = sql.text(fts5_query(&query.text, customer, &status_groups(query)));
                sql.text
                    .push_str(" FROM ticket_search s JOIN tickets t ON t.id = s.rowid");
                clauses.push(format!("ticket_search MATCH {matched}"));
                Some(rank_expression(customer))
            }
            Backend::Postgres => {
                let text = sql.text(websearch_query(&query.text));
                let document = if customer {
                    "s.public_doc"
                } else {
                    "s.staff_doc"
                };
                sql.text
                    .push_str(" FROM ticket_search s JOIN tickets t ON t.id = s.ticket_id");
                clauses.push(format!(
                    "{document} @@ websearch_to_tsquery('english', {text})"
                ));
                Some(format!(
                    "-ts_rank({document}, websearch_to_tsquery('english', {text}))"
                ))
            }
        }
    };
    for filter in &query.filters {
        clauses.push(filter_clause(sql, filter, asker));
    }
    if !clauses.is_empty() {
        sql.text.push_str(" WHERE ");
        sql.text.push_str(&clauses.join(" AND "));
    }
    rank
}

/// The relevance of a full-text match on SQLite (lower is better): bm25, with the documents
/// holding each phrase counted once in a while rather than at every query (see `rank.rs`).
/// Staff and customers match their words in different columns, so they keep apart counts.
pub(super) fn rank_expression(customer: bool) -> String {
    let scope = if customer { "customer" } else { "staff" };
    format!("opsdesk_rank(ticket_search, '{scope}')")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts_terms_are_quoted_and_customers_confined() {
        assert_eq!(
            fts5_query(&["printer".into(), "jam\"x".into()], false, &[]),
            "{title description conversation notes} : (\"printer\" AND \"jam\"\"x\")"
        );
        assert_eq!(
            fts5_query(&["vpn".into()], true, &[]),
            "{title description conversation} : (\"vpn\")"
        );
        assert_eq!(
            websearch_query(&["paper tray".into(), "jam".into()]),
            "\"paper tray\" jam"
        );
    }

    #[test]
    fn status_filters_become_status_tokens() -> Result<(), opsdesk_domain::query::QueryError> {
        let query =
            opsdesk_domain::query::parse("status:open,pending -status:new is:open printer")?;
        let groups = status_groups(&query);
        assert_eq!(
            fts5_query(&query.text, false, &groups),
            "{title description conversation notes} : (\"printer\") \
             AND {facets} : (statusopen OR statuspending) \
             AND {facets} : (statusnew OR statusopen OR statuspending)"
        );
        Ok(())
    }
}
