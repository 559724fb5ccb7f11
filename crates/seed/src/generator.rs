//! A seeded generator of realistic IT-support data: client organizations, agents and
//! customers, support groups (tiers), a category tree, and tickets with conversations.
//!
//! Everything comes from one [`SplitMix64`] seeded by the caller, so a seed always gives the
//! same data: benchmarks measure the same work on every run and tests can rely on it. The
//! generator does no I/O; [`crate::demo`] writes its output through the application and
//! [`crate::bulk`] straight into the tables.

use std::collections::HashSet;

use crate::vocabulary::{
    AGENT_REPLIES, CONTEXT, DAYS, FIRST_NAMES, GENERAL_TAGS, GREETINGS, GROUPS, INTERNAL_NOTES,
    LAST_NAMES, ORGANIZATIONS, PLACES, REQUESTER_REPLIES, RESOLUTION_CODES, RESOLUTIONS, SIGN_OFFS,
    SINCE, STAFF_DOMAIN, TEAMS, TOPICS, Topic,
};

/// A small, fast, well-mixed pseudo-random generator (Steele, Lea and Flood's SplitMix64).
/// Not for secrets: it exists so that generated data is reproducible.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        // Multiply-shift maps 64 random bits onto 0..n without a division.
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// `true` with probability `percent`/100.
    pub fn percent(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// A uniformly chosen element; `items` must not be empty.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// An element chosen with probability proportional to its weight.
    pub fn weighted<T: Copy>(&mut self, items: &[(T, u32)]) -> T {
        let total: u32 = items.iter().map(|(_, w)| *w).sum();
        let mut roll = self.below(total as usize) as u32;
        for (item, weight) in items {
            if roll < *weight {
                return *item;
            }
            roll -= weight;
        }
        items[items.len() - 1].0
    }
}

/// How much reference data to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// Client organizations (at most the 16 in the vocabulary).
    pub organizations: usize,
    pub agents: usize,
    pub customers_per_organization: usize,
}

impl Scale {
    /// A desk a newcomer can take in: 6 clients, 12 agents, 60 customers.
    pub const DEMO: Scale = Scale {
        organizations: 6,
        agents: 12,
        customers_per_organization: 10,
    };
    /// A large desk for benchmarks: 16 clients, 60 agents, 8,000 customers.
    pub const LARGE: Scale = Scale {
        organizations: 16,
        agents: 60,
        customers_per_organization: 500,
    };
}

/// A client company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub name: String,
    pub domain: String,
}

/// An agent or a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub first_name: String,
    pub email: String,
    /// Index into [`Directory::organizations`] (customers only).
    pub organization: Option<usize>,
}

/// A support group and its members (indexes into [`Directory::agents`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub tier: i64,
    pub description: String,
    pub members: Vec<usize>,
}

/// The people and reference data tickets refer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directory {
    pub organizations: Vec<Organization>,
    pub agents: Vec<Person>,
    pub customers: Vec<Person>,
    pub groups: Vec<Group>,
    /// Category paths, parents before children: `Hardware`, `Hardware/Printer`, …
    pub categories: Vec<String>,
}

impl Directory {
    /// Index of the group called `name`.
    pub fn group_index(&self, name: &str) -> Option<usize> {
        self.groups.iter().position(|g| g.name == name)
    }
}

/// Who wrote a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    /// The ticket's requester.
    Requester,
    /// An agent, by index into [`Directory::agents`].
    Agent(usize),
}

/// A reply or an internal note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedComment {
    pub author: Author,
    pub body: String,
    pub public: bool,
    pub time_spent_minutes: i64,
}

/// Where a ticket ends up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    New,
    Open,
    /// Pending with this reason (`customer`, `third_party`, `change`).
    Pending(&'static str),
    /// Resolved with this code and note.
    Resolved(&'static str, String),
    /// Resolved, then closed.
    Closed(&'static str, String),
    Cancelled,
}

impl Outcome {
    /// The status name the ticket has at the end.
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::New => "new",
            Outcome::Open => "open",
            Outcome::Pending(_) => "pending",
            Outcome::Resolved(..) => "resolved",
            Outcome::Closed(..) => "closed",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// One ticket and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedTicket {
    pub ticket_type: &'static str,
    pub title: String,
    pub description: String,
    pub impact: &'static str,
    pub urgency: &'static str,
    pub source: &'static str,
    /// Index into [`Directory::customers`].
    pub requester: usize,
    /// Index into [`Directory::groups`].
    pub group: usize,
    /// Index into [`Directory::agents`]; a member of the group.
    pub assignee: Option<usize>,
    pub category: &'static str,
    pub tags: Vec<String>,
    pub conversation: Vec<GeneratedComment>,
    pub outcome: Outcome,
    /// How long before "now" it was opened, in milliseconds (bulk loads spread tickets
    /// over a year; the demo opens them all now).
    pub age_ms: i64,
}

const LEVELS: &[(&str, u32)] = &[("low", 55), ("medium", 35), ("high", 10)];
const URGENCIES: &[(&str, u32)] = &[("low", 45), ("medium", 40), ("high", 15)];
const SOURCES: &[(&str, u32)] = &[("email", 45), ("web", 30), ("phone", 15), ("api", 10)];
const PENDING_REASONS: &[&str] = &["customer", "third_party", "change"];
const YEAR_MS: i64 = 365 * 24 * 3600 * 1000;

/// Which state a ticket ends in, as parts per hundred.
#[derive(Debug, Clone, Copy)]
enum Fate {
    New,
    Open,
    Pending,
    Resolved,
    Closed,
    Cancelled,
}

const FATES: &[(Fate, u32)] = &[
    (Fate::New, 10),
    (Fate::Open, 20),
    (Fate::Pending, 10),
    (Fate::Resolved, 25),
    (Fate::Closed, 32),
    (Fate::Cancelled, 3),
];

/// Generates a [`Directory`] and then any number of tickets, all from one seed.
#[derive(Debug, Clone)]
pub struct Generator {
    rng: SplitMix64,
    directory: Directory,
    topics: Vec<(usize, u32)>,
    /// The device, system or site the current ticket is about, so its sentences agree.
    thing: &'static str,
}

impl Generator {
    /// A generator whose output depends on `seed` and `scale` only.
    pub fn new(seed: u64, scale: Scale) -> Self {
        let mut rng = SplitMix64::new(seed);
        let directory = directory(&mut rng, scale);
        let topics = TOPICS
            .iter()
            .enumerate()
            .map(|(i, t)| (i, t.weight))
            .collect();
        Self {
            rng,
            directory,
            topics,
            thing: "",
        }
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The next ticket.
    pub fn ticket(&mut self) -> GeneratedTicket {
        let topic = &TOPICS[self.rng.weighted(&self.topics)];
        self.thing = self.rng.pick(topic.things);
        let requester = self.rng.below(self.directory.customers.len());
        let first_name = self
            .directory
            .customers
            .get(requester)
            .map_or("there", |p| p.first_name.as_str())
            .to_owned();
        let title = self.fill_any(topic.titles, &first_name);
        let description = self.description(topic, &first_name);
        let group = self.directory.group_index(topic.group).unwrap_or(0);
        let members = &self.directory.groups[group].members;
        let fate = self.rng.weighted(FATES);
        let assignee = match fate {
            Fate::New | Fate::Cancelled => None,
            _ if members.is_empty() => None,
            _ => Some(members[self.rng.below(members.len())]),
        };
        let mut tags: Vec<String> = Vec::new();
        for _ in 0..self.rng.below(3) {
            tags.push(self.rng.pick(topic.tags).to_owned());
        }
        if self.rng.percent(10) {
            tags.push(self.rng.pick(GENERAL_TAGS).to_owned());
        }
        tags.sort();
        tags.dedup();
        let source = if topic.monitored && self.rng.percent(60) {
            "monitor"
        } else {
            self.rng.weighted(SOURCES)
        };
        let (conversation, outcome) = self.conversation(fate, assignee, &first_name);
        GeneratedTicket {
            ticket_type: topic.ticket_type,
            title,
            description,
            impact: self.rng.weighted(LEVELS),
            urgency: self.rng.weighted(URGENCIES),
            source,
            requester,
            group,
            assignee,
            category: topic.category,
            tags,
            conversation,
            outcome,
            age_ms: self.rng.below(YEAR_MS as usize) as i64,
        }
    }

    /// Two words that occur together in a title template: a realistic full-text search
    /// that matches some, but not all, tickets of one kind.
    pub fn search_words(&mut self) -> [String; 2] {
        const COMMON: &[&str] = &[
            "with", "from", "after", "does", "cannot", "every", "need", "whole",
        ];
        // Every topic has a title with at least two usable words, so this ends quickly.
        loop {
            let topic = &TOPICS[self.rng.weighted(&self.topics)];
            let template = self.rng.pick(topic.titles);
            let words: Vec<String> = template
                .split(|c: char| !c.is_ascii_alphanumeric() && c != '{' && c != '}')
                .filter(|w| w.len() >= 4 && !w.contains('{'))
                .map(str::to_lowercase)
                .filter(|w| !COMMON.contains(&w.as_str()))
                .collect();
            if words.len() >= 2 {
                let first = self.rng.below(words.len());
                let mut second = self.rng.below(words.len() - 1);
                if second >= first {
                    second += 1;
                }
                return [words[first].clone(), words[second].clone()];
            }
        }
    }

    /// Greeting, one to four symptoms, some context, sometimes an error log, a sign-off.
    fn description(&mut self, topic: &Topic, first_name: &str) -> String {
        let mut parts: Vec<String> = Vec::new();
        let greeting = self.rng.pick(GREETINGS);
        if !greeting.is_empty() {
            parts.push(greeting.to_owned());
        }
        let mut body = Vec::new();
        for _ in 0..1 + self.rng.below(4) {
            body.push(self.fill_any(topic.symptoms, first_name));
        }
        for _ in 0..self.rng.below(4) {
            body.push(self.fill_any(CONTEXT, first_name));
        }
        body.dedup();
        parts.push(body.join(" "));
        if self.rng.percent(8) {
            // The occasional pasted log makes some descriptions much longer than others.
            let thing = self.thing;
            let lines: Vec<String> = (0..3 + self.rng.below(12))
                .map(|i| {
                    format!(
                        "{:02}:{:02}:{:02} ERROR {} code={}",
                        8 + i / 60,
                        i % 60,
                        self.rng.below(60),
                        thing,
                        self.code()
                    )
                })
                .collect();
            parts.push(lines.join("\n"));
        }
        let sign_off = self.fill_any(SIGN_OFFS, first_name);
        if !sign_off.is_empty() {
            parts.push(sign_off);
        }
        parts.join("\n\n")
    }

    /// Replies and notes that lead to `fate`, and the outcome itself.
    fn conversation(
        &mut self,
        fate: Fate,
        assignee: Option<usize>,
        first_name: &str,
    ) -> (Vec<GeneratedComment>, Outcome) {
        let mut comments = Vec::new();
        if let Some(agent) = assignee {
            comments.push(GeneratedComment {
                author: Author::Agent(agent),
                body: self.fill_any(AGENT_REPLIES, first_name),
                public: true,
                time_spent_minutes: 5 * (1 + self.rng.below(6)) as i64,
            });
            if self.rng.percent(35) {
                comments.push(GeneratedComment {
                    author: Author::Agent(agent),
                    body: self.fill_any(INTERNAL_NOTES, first_name),
                    public: false,
                    time_spent_minutes: 5 * self.rng.below(4) as i64,
                });
            }
            if self.rng.percent(50) {
                comments.push(GeneratedComment {
                    author: Author::Requester,
                    body: self.fill_any(REQUESTER_REPLIES, first_name),
                    public: true,
                    time_spent_minutes: 0,
                });
            }
        }
        let outcome = match fate {
            Fate::New => Outcome::New,
            Fate::Open => Outcome::Open,
            Fate::Pending => Outcome::Pending(self.rng.pick(PENDING_REASONS)),
            Fate::Cancelled => Outcome::Cancelled,
            Fate::Resolved | Fate::Closed => {
                let note = self.rng.pick(RESOLUTIONS).to_owned();
                let code = self.rng.pick(RESOLUTION_CODES);
                if let Some(agent) = assignee {
                    comments.push(GeneratedComment {
                        author: Author::Agent(agent),
                        body: note.clone(),
                        public: true,
                        time_spent_minutes: 5 * (1 + self.rng.below(12)) as i64,
                    });
                }
                if matches!(fate, Fate::Closed) {
                    Outcome::Closed(code, note)
                } else {
                    Outcome::Resolved(code, note)
                }
            }
        };
        (comments, outcome)
    }

    fn code(&mut self) -> String {
        format!("0x{:08X}", self.rng.next_u64() as u32)
    }

    /// One of `templates`, filled in.
    fn fill_any(&mut self, templates: &[&str], first_name: &str) -> String {
        let template = self.rng.pick(templates);
        self.fill(template, first_name)
    }

    /// Replaces the placeholders of `template`.
    fn fill(&mut self, template: &str, first_name: &str) -> String {
        let mut out = String::with_capacity(template.len() + 32);
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let after = &rest[start..];
            let Some(end) = after.find('}') else {
                break;
            };
            let value = match &after[1..end] {
                "thing" => self.thing.to_owned(),
                "place" => self.rng.pick(PLACES).to_owned(),
                "since" => self.rng.pick(SINCE).to_owned(),
                "team" => self.rng.pick(TEAMS).to_owned(),
                "day" => self.rng.pick(DAYS).to_owned(),
                "count" => (2 + self.rng.below(40)).to_string(),
                "code" => self.code(),
                "person" => first_name.to_owned(),
                other => format!("{{{other}}}"),
            };
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

fn directory(rng: &mut SplitMix64, scale: Scale) -> Directory {
    let organizations: Vec<Organization> = ORGANIZATIONS
        .iter()
        .take(scale.organizations.max(1))
        .map(|(name, domain)| Organization {
            name: (*name).to_owned(),
            domain: (*domain).to_owned(),
        })
        .collect();
    let mut taken = HashSet::new();
    let agents: Vec<Person> = (0..scale.agents.max(1))
        .map(|_| person(rng, STAFF_DOMAIN, None, &mut taken))
        .collect();
    let mut customers = Vec::new();
    for (index, organization) in organizations.iter().enumerate() {
        for _ in 0..scale.customers_per_organization.max(1) {
            customers.push(person(rng, &organization.domain, Some(index), &mut taken));
        }
    }
    // Agents go to groups in proportion to the groups' shares; every group gets one.
    let mut groups: Vec<Group> = GROUPS
        .iter()
        .map(|(name, tier, description, _)| Group {
            name: (*name).to_owned(),
            tier: *tier,
            description: (*description).to_owned(),
            members: Vec::new(),
        })
        .collect();
    let shares: Vec<(usize, u32)> = GROUPS.iter().enumerate().map(|(i, g)| (i, g.3)).collect();
    for agent in 0..agents.len() {
        let group = if agent < groups.len() {
            agent
        } else {
            rng.weighted(&shares)
        };
        groups[group].members.push(agent);
    }
    let mut categories: Vec<String> = Vec::new();
    for topic in TOPICS {
        if let Some((parent, _)) = topic.category.split_once('/')
            && !categories.iter().any(|c| c == parent)
        {
            categories.push(parent.to_owned());
        }
        if !categories.iter().any(|c| c == topic.category) {
            categories.push(topic.category.to_owned());
        }
    }
    Directory {
        organizations,
        agents,
        customers,
        groups,
        categories,
    }
}

/// A person with a unique address: `first.last@domain`, numbered when the name is taken.
fn person(
    rng: &mut SplitMix64,
    domain: &str,
    organization: Option<usize>,
    taken: &mut HashSet<String>,
) -> Person {
    let first = rng.pick(FIRST_NAMES);
    let last = rng.pick(LAST_NAMES);
    let local = format!("{}.{}", first.to_lowercase(), last.to_lowercase());
    let mut email = format!("{local}@{domain}");
    let mut n = 2;
    while !taken.insert(email.clone()) {
        email = format!("{local}{n}@{domain}");
        n += 1;
    }
    Person {
        name: format!("{first} {last}"),
        first_name: first.to_owned(),
        email,
        organization,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_seed_gives_one_dataset() {
        let mut a = Generator::new(7, Scale::DEMO);
        let mut b = Generator::new(7, Scale::DEMO);
        assert_eq!(a.directory(), b.directory());
        for _ in 0..200 {
            assert_eq!(a.ticket(), b.ticket());
        }
        let mut c = Generator::new(8, Scale::DEMO);
        assert_ne!(a.ticket().title, c.ticket().title);
    }

    #[test]
    fn templates_are_filled_and_assignees_belong_to_their_group() {
        let mut generator = Generator::new(1, Scale::DEMO);
        for _ in 0..2000 {
            let ticket = generator.ticket();
            assert!(!ticket.title.contains('{'), "{}", ticket.title);
            assert!(!ticket.description.contains('{'), "{}", ticket.description);
            if let Some(agent) = ticket.assignee {
                assert!(
                    generator.directory().groups[ticket.group]
                        .members
                        .contains(&agent)
                );
            }
        }
    }
}
