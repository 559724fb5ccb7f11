//! Patch campaigns: a change whose affected items are the machines an advisory affects, so
//! the patching is planned, approved, kept out of freezes and followed up like any change.

use jiff::Timestamp;
use opsdesk_store::vulnerabilities as vulnerability_store;
use serde::Deserialize;

use super::{Change, NewChange};
use crate::{App, AppError, Principal};

/// A patch campaign to plan.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPatchCampaign {
    /// The advisory's id or an alias: `DSA-5621-1`, `CVE-2024-0727`.
    pub advisory: String,
    /// A change template by name; a normal change without one.
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub implementer: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub planned_start: Option<Timestamp>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub planned_end: Option<Timestamp>,
}

impl App {
    /// The machines with an open finding of `advisory` the principal may see (staff).
    pub async fn patch_campaign_hosts(
        &self,
        principal: &Principal,
        advisory: &str,
    ) -> Result<Vec<i64>, AppError> {
        principal.require_staff()?;
        let advisory = advisory.trim();
        if advisory.is_empty() || advisory.chars().count() > 200 {
            return Err(AppError::invalid("advisory", "an advisory's id or alias"));
        }
        let mut conn = self.db().reader().await?;
        let mut hosts = Vec::new();
        for ci in vulnerability_store::ids_vulnerable(&mut conn, 0, Some(advisory), &[]).await? {
            if crate::cmdb::visible(&mut conn, principal, ci).await.is_ok() {
                hosts.push(ci);
            }
        }
        Ok(hosts)
    }

    /// Plans a patch campaign (staff): a change in draft whose affected items are the
    /// machines the advisory affects.
    pub async fn plan_patch_campaign(
        &self,
        principal: &Principal,
        input: NewPatchCampaign,
    ) -> Result<Change, AppError> {
        let hosts = self
            .patch_campaign_hosts(principal, &input.advisory)
            .await?;
        if hosts.is_empty() {
            return Err(AppError::invalid(
                "advisory",
                "no machine you can see has an open finding of this advisory",
            ));
        }
        let advisory = input.advisory.trim();
        self.create_change(
            principal,
            NewChange {
                title: format!("Patch campaign: {advisory}"),
                description: format!(
                    "Patch the {} machines with an open finding of {advisory}.",
                    hosts.len()
                ),
                template: input.template,
                implementer: input.implementer,
                cis: hosts,
                planned_start: input.planned_start,
                planned_end: input.planned_end,
                ..NewChange::default()
            },
        )
        .await
    }
}
