//! English, one table per part of the UI; a key's first segment says which.

mod account;
mod admin;
mod changes;
mod cmdb;
mod desk;
mod knowledge;
mod ldap;
mod monitoring;
mod oidc;
mod operations;
mod problems;
mod provisioning;
mod reports;
mod security;
mod suppliers;
mod surveys;

/// The table that holds `key`, by its first segment.
pub(super) fn table(key: &str) -> &'static [(&'static str, &'static str)] {
    match key.split('.').next().unwrap_or_default() {
        "account" => account::TABLE,
        "admin" | "job_status" | "mail_status" | "role" | "template_source" => admin::TABLE,
        "change" => changes::TABLE,
        "cmdb" => cmdb::TABLE,
        "oidc" => oidc::TABLE,
        "ops" => operations::TABLE,
        "problem" => problems::TABLE,
        "provisioning" => provisioning::TABLE,
        "report" => reports::TABLE,
        "security" => security::TABLE,
        "supply" => suppliers::TABLE,
        "survey" => surveys::TABLE,
        "kb" | "help" | "portal" => knowledge::TABLE,
        "ldap" => ldap::TABLE,
        "monitor" | "maintenance" | "network" | "oncall" | "page" | "escalation" | "silence" => {
            monitoring::TABLE
        }
        _ => desk::TABLE,
    }
}

/// Every table, for the tests.
#[cfg(test)]
pub(super) const TABLES: [&[(&str, &str)]; 16] = [
    account::TABLE,
    admin::TABLE,
    changes::TABLE,
    cmdb::TABLE,
    desk::TABLE,
    knowledge::TABLE,
    ldap::TABLE,
    monitoring::TABLE,
    oidc::TABLE,
    operations::TABLE,
    problems::TABLE,
    provisioning::TABLE,
    reports::TABLE,
    security::TABLE,
    suppliers::TABLE,
    surveys::TABLE,
];
