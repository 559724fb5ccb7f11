//! Answering before a ticket exists. While a customer describes a problem on the portal, it
//! shows the articles that may answer it and, when many people of their organization have
//! reported something alike in the last day, says so ("the VPN is down"). A visit that
//! showed articles and ended without a ticket, followed by no ticket or mail in the next 7
//! days, counts as deflected; the report gives that per category.

use std::collections::HashMap;

use opsdesk_domain::account::Role;
use opsdesk_domain::triage::similarity;
use opsdesk_store::portal as store;
use serde::Serialize;

use crate::change::Need;
use crate::knowledge::{ArticleHit, ArticleQuery};
use crate::{App, AppError, Principal};

/// Alike open incidents, in the customer's organization and the last day, that make the
/// portal say many people report the same.
const MANY_REPORTS: usize = 3;
const REPORT_WINDOW_MS: i64 = 24 * 3600 * 1000;
/// How alike a report must be to the words typed to count (cosine of their words).
const ALIKE: f32 = 0.5;
/// A visit is judged this long after it started.
pub(crate) const DEFLECTION_WINDOW_MS: i64 = 7 * 86_400_000;

/// What the portal shows while a customer types a new ticket's summary.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PortalSuggestions {
    pub articles: Vec<ArticleHit>,
    /// Open incidents of the customer's organization, opened in the last 24 hours, alike
    /// to what they type: 0 unless there are at least 3.
    pub similar_reports: usize,
}

/// Deflection in one category over a period.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DeflectionLine {
    /// The category the customer chose on the portal; none when it was deleted since.
    pub category: Option<String>,
    /// Visits to the new-ticket form during which articles were shown.
    pub visits: i64,
    /// Of those, ended with a ticket.
    pub submitted: i64,
    /// Left without a ticket less than 7 days ago: not judged yet.
    pub waiting: i64,
    /// Left without a ticket, but sent a ticket or mail within 7 days.
    pub came_back: i64,
    /// Left without a ticket, and sent none within 7 days.
    pub deflected: i64,
    /// Deflected among the judged visits; none before any is judged.
    pub rate: Option<f64>,
}

/// A visit token as the portal form carries it.
fn valid_token(token: &str) -> bool {
    (16..=64).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl App {
    /// The articles that may answer what a customer is typing on the portal's new-ticket
    /// form, and how many alike reports their organization has open. `visit` (the form's
    /// token) is remembered with what was shown, for the deflection report.
    pub async fn portal_suggestions(
        &self,
        principal: &Principal,
        visit: Option<&str>,
        category: Option<&str>,
        text: &str,
    ) -> Result<PortalSuggestions, AppError> {
        let user_id = principal
            .user_id
            .ok_or_else(|| AppError::Unauthenticated("sign in first".into()))?;
        let articles = self
            .articles(
                principal,
                &ArticleQuery {
                    text: text.to_owned(),
                    status: Some("published".into()),
                    limit: 5,
                    ..ArticleQuery::default()
                },
            )
            .await?
            .items;
        let similar_reports = match principal.organization_id {
            Some(organization) => self.alike_reports(organization, text).await?,
            None => 0,
        };
        if let Some(token) = visit.filter(|t| valid_token(t))
            && principal.role == Role::Customer
            && !articles.is_empty()
        {
            let category_id = match category {
                Some(path) => self
                    .categories()
                    .await?
                    .into_iter()
                    .find(|c| c.path.eq_ignore_ascii_case(path))
                    .map(|c| c.id),
                None => None,
            };
            let (token, query) = (token.to_owned(), text.trim().to_owned());
            let shown = i64::try_from(articles.len()).unwrap_or(i64::MAX);
            self.change(principal, Need::Anyone, move |tx| {
                Box::pin(async move {
                    store::note_visit(tx.conn, &token, user_id, category_id, &query, shown, tx.now)
                        .await?;
                    Ok(())
                })
            })
            .await?;
        }
        Ok(PortalSuggestions {
            articles,
            similar_reports,
        })
    }

    /// Open incidents of `organization` from the last day alike to `text`, when there are
    /// many; else 0.
    async fn alike_reports(&self, organization: i64, text: &str) -> Result<usize, AppError> {
        let since = self.now_ms() - REPORT_WINDOW_MS;
        let recent = {
            let mut conn = self.db().reader().await?;
            opsdesk_store::triage::recent_open_incidents(&mut conn, since, Some(organization), 500)
                .await?
        };
        let trained = self.serving_model().await;
        let model = trained.as_ref().map(|t| &t.model);
        let alike = recent
            .iter()
            .filter(|incident| similarity(model, text, &incident.title) >= ALIKE)
            .count();
        Ok(if alike >= MANY_REPORTS { alike } else { 0 })
    }

    /// Notes that the portal visit `token` ended with a ticket.
    pub async fn portal_visit_submitted(
        &self,
        principal: &Principal,
        token: &str,
    ) -> Result<(), AppError> {
        let (Some(user_id), true) = (principal.user_id, valid_token(token)) else {
            return Ok(());
        };
        let token = token.to_owned();
        self.change(principal, Need::Anyone, move |tx| {
            Box::pin(async move {
                store::visit_submitted(tx.conn, &token, user_id, tx.now).await?;
                Ok(())
            })
        })
        .await
    }

    /// Deflection per category for visits of the last `days` days (staff), most visited
    /// first.
    pub async fn deflection_report(
        &self,
        principal: &Principal,
        days: i64,
    ) -> Result<Vec<DeflectionLine>, AppError> {
        principal.require_staff()?;
        let from = self.period_start("days", days, 366, 86_400_000)?;
        let now = self.now_ms();
        let paths: HashMap<i64, String> = self
            .categories()
            .await?
            .into_iter()
            .map(|c| (c.id, c.path))
            .collect();
        let rows = {
            let mut conn = self.db().reader().await?;
            store::deflection(&mut conn, from, now + 1, now, DEFLECTION_WINDOW_MS).await?
        };
        let mut lines: Vec<DeflectionLine> = rows
            .into_iter()
            .map(|row| {
                let deflected = row.visits - row.submitted - row.waiting - row.came_back;
                let judged = row.visits - row.waiting;
                DeflectionLine {
                    category: row.category_id.and_then(|id| paths.get(&id).cloned()),
                    visits: row.visits,
                    submitted: row.submitted,
                    waiting: row.waiting,
                    came_back: row.came_back,
                    deflected,
                    rate: (judged > 0).then(|| deflected as f64 / judged as f64),
                }
            })
            .collect();
        lines.sort_by(|a, b| b.visits.cmp(&a.visits).then(a.category.cmp(&b.category)));
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::valid_token;

    #[test]
    fn a_visit_token_is_a_short_run_of_letters_and_digits() {
        assert!(valid_token("a1b2c3d4e5f6a7b8c9d0"));
        assert!(!valid_token("short"));
        assert!(!valid_token("a1b2c3d4e5f6a7b8'; DROP"));
    }
}
