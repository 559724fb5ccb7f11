//! Checking an import's lines before anything is written: the names they use, their
//! lifecycle and priority, and what would have to be created.

use super::*;

/// The stand-in requester of an organization's tickets that name none.
pub(super) fn placeholder_requester(organization: &str) -> String {
    let slug: String = organization
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("unknown-requester@{}.invalid", slug.trim_matches('-'))
}

/// The requester a line's ticket will have.
pub(super) fn requester_of(ticket: &ImportTicket) -> Option<String> {
    ticket
        .requester
        .clone()
        .or_else(|| ticket.organization.as_deref().map(placeholder_requester))
}

/// The lifecycle a line asks for, and when it reached it.
pub(super) fn lifecycle_for(ticket: &ImportTicket) -> Result<(Lifecycle, Option<i64>), String> {
    let status = match ticket.status.as_deref() {
        Some(status) => status.parse::<TicketStatus>().map_err(|e| e.to_string())?,
        None if ticket.resolved_at.is_some() => TicketStatus::Resolved,
        None => TicketStatus::New,
    };
    let resolution = || -> Result<(ResolutionCode, Option<ResolutionNote>), String> {
        let code = ResolutionCode::parse(ticket.resolution_code.as_deref().unwrap_or("fixed"))
            .map_err(|e| format!("resolution_code: {e}"))?;
        let note = match ticket.resolution_note.as_deref() {
            Some(note) if !note.trim().is_empty() => {
                Some(ResolutionNote::parse(note).map_err(|e| format!("resolution_note: {e}"))?)
            }
            _ => None,
        };
        Ok((code, note))
    };
    let lifecycle = Lifecycle::of(status, || Ok(PendingReason::Customer), resolution)?;
    let finished = matches!(
        status,
        TicketStatus::Resolved | TicketStatus::Closed | TicketStatus::Cancelled
    );
    if !finished && ticket.resolved_at.is_some() {
        return Err(format!(
            "resolved_at is given but the status is {}",
            status.as_str()
        ));
    }
    let created = ticket.created_at.map(Timestamp::as_millisecond);
    let resolved = ticket.resolved_at.map(Timestamp::as_millisecond);
    if let (Some(created), Some(resolved)) = (created, resolved)
        && resolved < created
    {
        return Err("resolved_at is before created_at".into());
    }
    Ok((lifecycle, finished.then_some(resolved).flatten()))
}

/// Impact and urgency giving `priority` in the ITIL table, the most balanced pair first
/// (P3 is medium × medium rather than high × low).
pub(super) fn cells_for(priority: Priority) -> (Impact, Urgency) {
    let mut cells: Vec<(Impact, Urgency)> = Impact::ALL
        .iter()
        .flat_map(|impact| Urgency::ALL.iter().map(move |urgency| (*impact, *urgency)))
        .filter(|(impact, urgency)| PriorityMatrix::ITIL.priority(*impact, *urgency) == priority)
        .collect();
    // Both lists run from high to low.
    let place = |name: &str| ["high", "medium", "low"].iter().position(|n| *n == name);
    cells.sort_by_key(|(impact, urgency)| {
        place(impact.as_str())
            .zip(place(urgency.as_str()))
            .map_or(usize::MAX, |(i, u)| i.abs_diff(u))
    });
    cells
        .first()
        .copied()
        .unwrap_or((Impact::Medium, Urgency::Medium))
}

/// Looks up, once each, the people, organizations, categories and groups a file names.
pub(super) struct Lookups<'a> {
    pub(super) catalog: &'a Catalog,
    pub(super) users: HashMap<String, Option<accounts::UserRow>>,
    pub(super) organizations: HashMap<String, bool>,
    pub(super) domains: HashMap<String, Option<String>>,
}

impl Lookups<'_> {
    async fn user(
        &mut self,
        conn: &mut Conn,
        email: &str,
    ) -> Result<Option<accounts::UserRow>, AppError> {
        let key = email.to_lowercase();
        if let Some(found) = self.users.get(&key) {
            return Ok(found.clone());
        }
        let found = accounts::find_user_by_email(conn, &key).await?;
        self.users.insert(key, found.clone());
        Ok(found)
    }

    async fn organization_exists(&mut self, conn: &mut Conn, name: &str) -> Result<bool, AppError> {
        let key = name.to_lowercase();
        if let Some(found) = self.organizations.get(&key) {
            return Ok(*found);
        }
        let found = accounts::find_organization_by_name(conn, name)
            .await?
            .is_some();
        self.organizations.insert(key, found);
        Ok(found)
    }

    /// The organization whose mail domain the address has.
    async fn organization_of_address(
        &mut self,
        conn: &mut Conn,
        email: &str,
    ) -> Result<Option<String>, AppError> {
        let Some((_, domain)) = email.rsplit_once('@') else {
            return Ok(None);
        };
        let domain = domain.to_lowercase();
        if let Some(found) = self.domains.get(&domain) {
            return Ok(found.clone());
        }
        let found = accounts::find_organization_by_domain(conn, &domain)
            .await?
            .map(|o| o.name);
        self.domains.insert(domain, found.clone());
        Ok(found)
    }
}

/// Collects what a plan finds, each missing thing once.
#[derive(Default)]
pub(super) struct Findings {
    pub(super) missing: Vec<Missing>,
    seen: HashSet<String>,
    pub(super) problems: Vec<LineProblem>,
}

impl Findings {
    fn missing(&mut self, missing: Missing) {
        if self.seen.insert(missing.key()) {
            self.missing.push(missing);
        }
    }

    pub(super) fn problem(&mut self, line: usize, message: impl Into<String>) {
        self.problems.push(LineProblem {
            line,
            message: message.into(),
        });
    }
}

/// Checks one line and notes what it names that does not exist.
pub(super) async fn check_line(
    conn: &mut Conn,
    lookups: &mut Lookups<'_>,
    findings: &mut Findings,
    ImportLine { line, ticket }: &ImportLine,
) -> Result<(), AppError> {
    let line = *line;
    if let Err(e) = ticket.ticket_type.parse::<TicketType>() {
        findings.problem(line, format!("type: {e}"));
    }
    if let Err(e) = Title::parse(&ticket.title) {
        findings.problem(line, format!("title: {e}"));
    }
    if let Some(Err(e)) = ticket.priority.as_deref().map(str::parse::<Priority>) {
        findings.problem(line, format!("priority: {e}"));
    }
    if let Err(message) = lifecycle_for(ticket) {
        findings.problem(line, message);
    }
    if let Some(path) = &ticket.category
        && category_by_path(lookups.catalog, path).is_err()
    {
        let path = path.split('/').map(str::trim).collect::<Vec<_>>().join("/");
        if path.split('/').any(str::is_empty) {
            findings.problem(line, format!("category: `{path}` has an empty part"));
        } else {
            findings.missing(Missing::Category { path, line });
        }
    }
    if let Some(name) = &ticket.group
        && lookups.catalog.group(name).is_none()
    {
        findings.missing(Missing::Group {
            name: name.trim().to_owned(),
            line,
        });
    }
    if let Some(name) = &ticket.organization
        && !lookups.organization_exists(conn, name).await?
    {
        findings.missing(Missing::Organization {
            name: name.trim().to_owned(),
            line,
        });
    }
    let Some(requester) = requester_of(ticket) else {
        findings.problem(
            line,
            "name the requester, or the organization whose placeholder requester stands in",
        );
        return Ok(());
    };
    if let Err(e) = Email::parse(&requester) {
        findings.problem(line, format!("requester: {e}"));
    } else if lookups.user(conn, &requester).await?.is_none() {
        let organization = match &ticket.organization {
            Some(name) => Some(name.trim().to_owned()),
            None => lookups.organization_of_address(conn, &requester).await?,
        };
        if organization.is_none() {
            findings.problem(
                line,
                format!(
                    "requester {requester} is not a user here, and the line names no organization for them"
                ),
            );
        } else {
            findings.missing(Missing::Person {
                email: requester.clone(),
                role: Role::Customer,
                organization,
                line,
                named: ticket.requester.is_some(),
            });
        }
    }
    for (index, comment) in ticket.comments.iter().enumerate() {
        // A message may be only its files.
        if comment.body.trim().is_empty() && comment.files.is_empty() {
            findings.problem(line, format!("comments[{index}].body is empty"));
        }
        let Some(author) = &comment.author else {
            continue;
        };
        if let Err(e) = Email::parse(author) {
            findings.problem(line, format!("comments[{index}].author: {e}"));
        } else if !author.eq_ignore_ascii_case(&requester)
            && lookups.user(conn, author).await?.is_none()
        {
            // Someone of a customer organization (by their address) is a customer; anyone
            // else wrote as support staff.
            let organization = lookups.organization_of_address(conn, author).await?;
            let role = if organization.is_some() {
                Role::Customer
            } else {
                Role::Agent
            };
            findings.missing(Missing::Person {
                email: author.clone(),
                role,
                organization,
                line,
                named: true,
            });
        }
    }
    Ok(())
}

/// "jane.doe" → "Jane Doe": a name for a person known only by their address.
pub(super) fn name_from_address(email: &str) -> String {
    let local = email.split('@').next().unwrap_or(email);
    let words: Vec<String> = local
        .split(['.', '_', '-', '+'])
        .filter(|w| !w.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect();
    if words.is_empty() {
        email.to_owned()
    } else {
        words.join(" ")
    }
}

/// Names the line an error came from.
pub(super) fn on_line(line: usize, error: AppError) -> AppError {
    match error {
        AppError::Invalid(errors) => AppError::Invalid(
            errors
                .into_iter()
                .map(|e| FieldError::new(format!("line {line}: {}", e.field), e.message))
                .collect(),
        ),
        AppError::Conflict { field, message } => AppError::Conflict {
            field,
            message: format!("line {line}: {message}"),
        },
        other => other,
    }
}
