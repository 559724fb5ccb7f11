//! The gap finder: questions the desk answers again and again without an article. Resolved
//! tickets no article is linked to are grouped by alike titles; a group of three or more is
//! a gap, shown with its tickets and how each was resolved, and turned into a draft article
//! in one step.

use opsdesk_domain::triage::{clusters, words};

use super::*;

/// Fewer alike tickets than this are not a pattern yet.
const SMALLEST_GAP: usize = 3;
/// Most resolved tickets looked at, the most recently resolved.
const LOOKED_AT: i64 = 5_000;
/// How alike a title must be to a group's centre to join it (cosine of their words).
const ALIKE: f32 = 0.4;

/// One ticket of a gap.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GapTicket {
    pub number: String,
    pub title: String,
    pub resolution: Option<String>,
}

/// A question answered again and again without an article.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KnowledgeGap {
    /// The words its tickets share most, most shared first.
    pub words: Vec<String>,
    /// The category most of them have.
    pub category: Option<String>,
    /// How many tickets asked it in the period.
    pub count: usize,
    /// The tickets, most recently resolved first.
    pub tickets: Vec<GapTicket>,
}

/// The words most of `titles` share, at most three.
fn shared_words(titles: &[&str]) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for title in titles {
        let mut seen: Vec<String> = words(title);
        seen.sort();
        seen.dedup();
        for word in seen {
            *counts.entry(word).or_default() += 1;
        }
    }
    let mut ranked: Vec<(String, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.into_iter().take(3).map(|(word, _)| word).collect()
}

/// The value most of `values` have.
fn most_common<T: Eq + std::hash::Hash + Clone>(values: impl Iterator<Item = T>) -> Option<T> {
    let mut counts: HashMap<T, usize> = HashMap::new();
    for value in values {
        *counts.entry(value).or_default() += 1;
    }
    counts.into_iter().max_by_key(|(_, n)| *n).map(|(v, _)| v)
}

impl App {
    /// The gaps among tickets resolved in the last `days` days, largest first (staff).
    pub async fn knowledge_gaps(
        &self,
        principal: &Principal,
        days: i64,
    ) -> Result<Vec<KnowledgeGap>, AppError> {
        principal.require_staff()?;
        let since = self.period_start("days", days, 366, 86_400_000)?;
        let rows = {
            let mut conn = self.db().reader().await?;
            store::resolved_without_article(&mut conn, since, LOOKED_AT).await?
        };
        let paths = category_paths(self).await?;
        let trained = self.serving_model().await;
        let titles: Vec<&str> = rows.iter().map(|r| r.title.as_str()).collect();
        // Grouping compares each title with each group's first: off the async threads.
        let groups = {
            let titles: Vec<String> = titles.iter().map(|t| (*t).to_owned()).collect();
            tokio::task::spawn_blocking(move || {
                let titles: Vec<&str> = titles.iter().map(String::as_str).collect();
                clusters(&titles, trained.as_ref().map(|t| &t.model), ALIKE)
            })
            .await
            .map_err(|e| AppError::internal("finding knowledge gaps", e))?
        };
        Ok(groups
            .into_iter()
            .take_while(|group| group.len() >= SMALLEST_GAP)
            .map(|group| {
                let members: Vec<&store::UnansweredRow> = group.iter().map(|&i| &rows[i]).collect();
                let member_titles: Vec<&str> = members.iter().map(|r| r.title.as_str()).collect();
                KnowledgeGap {
                    words: shared_words(&member_titles),
                    category: most_common(members.iter().filter_map(|r| r.category_id))
                        .and_then(|id| paths.get(&id).cloned()),
                    count: members.len(),
                    tickets: members
                        .iter()
                        .map(|r| GapTicket {
                            number: number_of(&r.ticket_type, r.number),
                            title: r.title.clone(),
                            resolution: r
                                .resolution_note
                                .clone()
                                .filter(|note| !note.trim().is_empty()),
                        })
                        .collect(),
                }
            })
            .collect())
    }

    /// A draft article answering a gap (staff): titled after its most recent ticket, the
    /// problem as its tickets put it, every distinct resolution, in their most common
    /// category; the tickets are linked to it, so the gap closes.
    pub async fn draft_article_from_gap(
        &self,
        principal: &Principal,
        tickets: &[String],
    ) -> Result<Article, AppError> {
        principal.require_staff()?;
        if tickets.len() < 2 {
            return Err(AppError::invalid("tickets", "name the tickets of the gap"));
        }
        let mut found = Vec::with_capacity(tickets.len());
        for number in tickets {
            found.push(self.ticket(principal, number).await?);
        }
        let paths = category_paths(self).await?;
        let mut body = String::from("## Problem\n\n");
        for ticket in &found {
            body.push_str(&format!("- {} ({})\n", ticket.title, ticket.number));
        }
        body.push_str("\n## Solution\n\n");
        let mut resolutions: Vec<&str> = Vec::new();
        for note in found.iter().filter_map(|t| t.resolution_note.as_deref()) {
            let note = note.trim();
            if !note.is_empty() && !resolutions.contains(&note) {
                resolutions.push(note);
            }
        }
        for note in &resolutions {
            body.push_str(&format!("- {note}\n"));
        }
        let created = self
            .create_article(
                principal,
                NewArticle {
                    title: found[0].title.clone(),
                    body: body.trim_end().to_owned(),
                    category: most_common(
                        found
                            .iter()
                            .filter_map(|t| t.category.as_ref().map(|c| c.id)),
                    )
                    .and_then(|id| paths.get(&id).cloned()),
                    ..NewArticle::default()
                },
            )
            .await?;
        for ticket in &found {
            self.link_article(principal, &ticket.number, created.id)
                .await?;
        }
        Ok(created)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gap_is_named_by_the_words_its_tickets_share() {
        assert_eq!(
            shared_words(&["VPN is down", "vpn down again", "VPN down for everyone"]),
            ["down", "vpn", "everyone"]
        );
        assert_eq!(most_common([2, 1, 2].into_iter()), Some(2));
    }
}
