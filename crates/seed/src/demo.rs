//! Generated data written through the application's use cases, exactly as people using
//! the API would write it: every change validated, on the timeline and in the audit log.
//! This is what `opsdesk serve --demo` loads, and what tests use for realistic data.

use std::collections::HashMap;

use opsdesk_app::accounts::{NewOrganization, NewUserInput, OrganizationRef};
use opsdesk_app::tickets::{NewCategory, NewComment, NewGroup, NewTicket, TicketPatch};
use opsdesk_app::{App, AppError, Principal};

use crate::generator::{Author, Directory, GeneratedTicket, Generator, Outcome, Scale};

/// The demo's administrator.
pub const DEMO_ADMIN: &str = "admin@demo.example";
/// The seed of `opsdesk serve --demo`: every demo desk is the same, so the docs match it.
pub const DEMO_SEED: u64 = 2026;
/// Tickets in the demo desk: enough to fill queues and searches, quick to load.
pub const DEMO_TICKETS: usize = 300;

/// What `--demo` loaded.
#[derive(Debug, Clone)]
pub struct DemoDesk {
    pub admin_email: String,
    /// The admin's password, chosen at random when the demo data is loaded.
    pub admin_password: String,
    pub tickets: usize,
    pub agents: usize,
    pub customers: usize,
}

/// Creates the organizations, people, groups and categories of `directory`.
pub async fn create_directory(app: &App, directory: &Directory) -> Result<(), AppError> {
    let system = Principal::system("seed");
    for organization in &directory.organizations {
        app.create_organization(
            &system,
            NewOrganization {
                name: organization.name.clone(),
                domain: Some(organization.domain.clone()),
                ..NewOrganization::default()
            },
        )
        .await?;
    }
    for (role, people) in [
        ("agent", &directory.agents),
        ("customer", &directory.customers),
    ] {
        for person in people {
            app.create_user(
                &system,
                NewUserInput {
                    email: person.email.clone(),
                    name: person.name.clone(),
                    role: role.to_owned(),
                    organization: person
                        .organization
                        .map(|i| OrganizationRef::Name(directory.organizations[i].name.clone())),
                    organizations: Vec::new(),
                    password: None,
                },
            )
            .await?;
        }
    }
    for group in &directory.groups {
        app.create_group(
            &system,
            NewGroup {
                name: group.name.clone(),
                tier: group.tier,
                description: group.description.clone(),
                members: group
                    .members
                    .iter()
                    .map(|&agent| directory.agents[agent].email.clone())
                    .collect(),
            },
        )
        .await?;
    }
    // Parents come before their children in the list.
    for path in &directory.categories {
        let (parent, name) = match path.rsplit_once('/') {
            Some((parent, name)) => (Some(parent.to_owned()), name.to_owned()),
            None => (None, path.clone()),
        };
        app.create_category(&system, NewCategory { name, parent })
            .await?;
    }
    Ok(())
}

/// Loads a demo desk from `seed` with `tickets` tickets, unless the database already has
/// tickets (then `None`: a restart keeps what is there).
pub async fn load_demo(app: &App, seed: u64, tickets: usize) -> Result<Option<DemoDesk>, AppError> {
    let system = Principal::system("demo");
    if !app
        .search_tickets(&system, "", None, 1)
        .await?
        .items
        .is_empty()
    {
        return Ok(None);
    }
    let mut generator = Generator::new(seed, Scale::DEMO);
    let directory = generator.directory().clone();
    let admin_password = random_password()?;
    app.create_user(
        &system,
        NewUserInput {
            email: DEMO_ADMIN.to_owned(),
            name: "Demo Admin".to_owned(),
            role: "admin".to_owned(),
            organization: None,
            organizations: Vec::new(),
            password: Some(admin_password.clone()),
        },
    )
    .await?;
    create_directory(app, &directory).await?;
    let mut actors = Actors::default();
    let result = async {
        for index in 0..tickets {
            let ticket = generator.ticket();
            write_ticket(app, &directory, &mut actors, index, ticket).await?;
        }
        Ok::<_, AppError>(())
    }
    .await;
    // The tokens existed only to act as each person; none outlives the load.
    actors.revoke(app).await?;
    result?;
    Ok(Some(DemoDesk {
        admin_email: DEMO_ADMIN.to_owned(),
        admin_password,
        tickets,
        agents: directory.agents.len(),
        customers: directory.customers.len(),
    }))
}

/// 12 random bytes as hex: the demo admin's password.
fn random_password() -> Result<String, AppError> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppError::internal("no randomness for the demo password", e.to_string()))?;
    Ok(hex::encode(bytes))
}

/// The people tickets are written as, each through an API token of their own.
#[derive(Default)]
struct Actors {
    principals: HashMap<String, Principal>,
    tokens: Vec<i64>,
}

impl Actors {
    async fn get(&mut self, app: &App, email: &str) -> Result<Principal, AppError> {
        if let Some(principal) = self.principals.get(email) {
            return Ok(principal.clone());
        }
        let token = app
            .create_token(&Principal::system("demo"), email, "demo data")
            .await?;
        self.tokens.push(token.token.id);
        let principal = app.authenticate_token(&token.secret).await?;
        self.principals.insert(email.to_owned(), principal.clone());
        Ok(principal)
    }

    async fn revoke(&self, app: &App) -> Result<(), AppError> {
        for &id in &self.tokens {
            app.revoke_token(&Principal::system("demo"), id).await?;
        }
        Ok(())
    }
}

/// Opens `ticket` as a first-line agent on the requester's behalf, then plays its
/// conversation and status changes as the people involved.
async fn write_ticket(
    app: &App,
    directory: &Directory,
    actors: &mut Actors,
    index: usize,
    ticket: GeneratedTicket,
) -> Result<(), AppError> {
    let requester = &directory.customers[ticket.requester];
    let first_line = &directory.groups[0].members;
    let opener = match ticket.assignee {
        Some(agent) => agent,
        None => first_line[index % first_line.len().max(1)],
    };
    let opener = actors.get(app, &directory.agents[opener].email).await?;
    let created = app
        .create_ticket(
            &opener,
            NewTicket {
                ticket_type: ticket.ticket_type.to_owned(),
                title: ticket.title,
                description: ticket.description,
                impact: ticket.impact.to_owned(),
                urgency: ticket.urgency.to_owned(),
                requester: Some(requester.email.clone()),
                group: Some(directory.groups[ticket.group].name.clone()),
                assignee: ticket.assignee.map(|a| directory.agents[a].email.clone()),
                category: Some(ticket.category.to_owned()),
                tags: ticket.tags,
                watchers: Vec::new(),
                custom: Default::default(),
                source: Some(ticket.source.to_owned()),
                parent: None,
            },
        )
        .await?;
    let number = created.number;
    if let Some(agent) = ticket.assignee {
        let agent = actors.get(app, &directory.agents[agent].email).await?;
        if !matches!(ticket.outcome, Outcome::New) {
            status(app, &agent, &number, "open", |_| {}).await?;
        }
        for comment in ticket.conversation {
            let author = match comment.author {
                Author::Requester => actors.get(app, &requester.email).await?,
                Author::Agent(a) => actors.get(app, &directory.agents[a].email).await?,
            };
            app.add_comment(
                &author,
                &number,
                NewComment {
                    body: comment.body,
                    public: comment.public,
                    time_spent_minutes: Some(comment.time_spent_minutes),
                },
            )
            .await?;
        }
        finish(app, &agent, &number, ticket.outcome).await?;
    } else {
        finish(app, &opener, &number, ticket.outcome).await?;
    }
    Ok(())
}

async fn status(
    app: &App,
    agent: &Principal,
    number: &str,
    to: &str,
    more: impl FnOnce(&mut TicketPatch),
) -> Result<(), AppError> {
    // A requester's reply may already have reopened the ticket; that is not an error here.
    let current = app.ticket(agent, number).await?;
    if current.status.as_str() == to {
        return Ok(());
    }
    let mut patch = TicketPatch {
        status: Some(to.to_owned()),
        ..TicketPatch::default()
    };
    more(&mut patch);
    app.update_ticket(agent, number, None, patch).await?;
    Ok(())
}

async fn finish(
    app: &App,
    agent: &Principal,
    number: &str,
    outcome: Outcome,
) -> Result<(), AppError> {
    let close = matches!(outcome, Outcome::Closed(..));
    match outcome {
        Outcome::New | Outcome::Open => Ok(()),
        Outcome::Pending(reason) => {
            status(app, agent, number, "pending", |p| {
                p.pending_reason = Some(reason.to_owned());
            })
            .await
        }
        Outcome::Cancelled => status(app, agent, number, "cancelled", |_| {}).await,
        Outcome::Resolved(code, note) | Outcome::Closed(code, note) => {
            status(app, agent, number, "resolved", |p| {
                p.resolution_code = Some(code.to_owned());
                p.resolution_note = Some(note);
            })
            .await?;
            if close {
                status(app, agent, number, "closed", |_| {}).await?;
            }
            Ok(())
        }
    }
}
