//! English, one table per part of the UI; a key's first segment says which.

mod admin;
mod changes;
mod cmdb;
mod desk;
mod knowledge;
mod monitoring;
mod operations;
mod problems;
mod reports;
mod suppliers;
mod surveys;

/// The table that holds `key`, by its first segment.
pub(super) fn table(key: &str) -> &'static [(&'static str, &'static str)] {
    match key.split('.').next().unwrap_or_default() {
        "admin" | "job_status" | "mail_status" | "role" | "template_source" => admin::TABLE,
        "change" => changes::TABLE,
        "cmdb" => cmdb::TABLE,
        "ops" => operations::TABLE,
        "problem" => problems::TABLE,
        "report" => reports::TABLE,
        "supply" => suppliers::TABLE,
        "survey" => surveys::TABLE,
        "kb" | "help" | "portal" => knowledge::TABLE,
        "monitor" | "maintenance" | "network" | "oncall" | "page" | "escalation" | "silence" => {
            monitoring::TABLE
        }
        _ => desk::TABLE,
    }
}

/// Every table, for the tests.
#[cfg(test)]
pub(super) const TABLES: [&[(&str, &str)]; 11] = [
    admin::TABLE,
    changes::TABLE,
    cmdb::TABLE,
    desk::TABLE,
    knowledge::TABLE,
    monitoring::TABLE,
    operations::TABLE,
    problems::TABLE,
    reports::TABLE,
    suppliers::TABLE,
    surveys::TABLE,
];
