//! `directory-sync`: a full sync of a large LDAP directory into a fresh desk.
//!
//! The directory is the CI's own OpenLDAP (`.ci/setup.d/70-slapd.sh`), in its benchmark
//! suffix (`dc=bench,dc=test`), apart from the tests' tree: a subtree per shape of data
//! holds the people (`inetOrgPerson` with `uid`, `cn`, `mail`), the groups (`groupOfNames`,
//! each with random members) and a service account the desk binds as. It is loaded once
//! with `ldapadd`; a later run finds it complete and goes straight to the syncs.
//!
//! Each run makes a fresh desk, adds its support groups and the directory through the
//! application's use cases (mapping a handful of directory groups to support groups, as an
//! admin would), then times three syncs through `App::sync_directory`, as
//! `opsdesk directory sync` runs them, with the same kind of progress bar: the first
//! creates every account, the second finds nothing to change, and the third follows a
//! change of 1 % of the people in the directory (renamed, new address, or locked), which is
//! undone afterwards.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use opsdesk_app::ldap::sync::{SyncProgress, SyncReport};
use opsdesk_app::ldap::{DirectoryInput, GroupMapping, RoleRule};
use opsdesk_app::tickets::NewGroup;
use opsdesk_app::{App, Principal};
use opsdesk_seed::generator::SplitMix64;

use crate::harness::Scratch;
use crate::stats::median;

/// The service account's password in the benchmark's subtree.
const SERVICE_PASSWORD: &str = "opsdesk-bench-service";
/// `ldapadd` processes loading people at once: slapd commits each entry on its own, so a
/// few connections keep it busy.
const LOADERS: usize = 4;
/// One person in this many is changed before the third sync.
const CHANGED_ONE_IN: usize = 100;

const FIRST_NAMES: [&str; 24] = [
    "Ada", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kira",
    "Liam", "Maya", "Noah", "Olga", "Pavel", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera",
    "Wim", "Yara",
];
const LAST_NAMES: [&str; 24] = [
    "Archer", "Baker", "Castro", "Dubois", "Eriksen", "Fischer", "Garcia", "Hansen", "Ivanova",
    "Jansen", "Kowalski", "Larsen", "Moreau", "Nowak", "Okafor", "Petrov", "Quist", "Rossi",
    "Schmidt", "Tanaka", "Urban", "Varga", "Weber", "Young",
];
/// The directory groups mapped to support groups, with those groups' names.
const MAPPED: [(&str, &str); 5] = [
    ("it-service-desk", "Service Desk"),
    ("it-network", "Network"),
    ("it-workplace", "Workplace"),
    ("it-servers", "Servers"),
    ("it-security", "Security"),
];
/// The directory group whose members are admins.
const ADMINS_GROUP: &str = "it-admins";

/// Where the benchmark's directory is and what goes into it.
#[derive(Debug, Args, Clone)]
pub(crate) struct DirectorySync {
    /// People in the directory.
    #[arg(long, default_value_t = 50_000)]
    users: usize,
    /// Groups in the directory.
    #[arg(long, default_value_t = 2_000)]
    groups: usize,
    /// Members of each group, drawn at random.
    #[arg(long, default_value_t = 25)]
    members: usize,
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// PostgreSQL server URL: each run's desk is a database of its own on it (SQLite when
    /// absent).
    #[arg(long)]
    postgres: Option<String>,
    /// The directory, as the desk reaches it.
    #[arg(
        long,
        env = "OPSDESK_TEST_LDAP_URL",
        default_value = "ldaps://127.0.0.1:1636"
    )]
    ldap_url: String,
    /// The CA certificate of the directory's TLS certificate (PEM file).
    #[arg(
        long,
        env = "OPSDESK_TEST_LDAP_CA",
        default_value = "/var/tmp/opsdesk-slapd/tls/ca.pem"
    )]
    ldap_ca: PathBuf,
    /// The suffix the benchmark's subtree goes into.
    #[arg(
        long,
        env = "OPSDESK_TEST_LDAP_BENCH_BASE_DN",
        default_value = "dc=bench,dc=test"
    )]
    ldap_base: String,
    /// Who loads the subtree: the suffix's administrator.
    #[arg(
        long,
        env = "OPSDESK_TEST_LDAP_BENCH_BIND_DN",
        default_value = "cn=admin,dc=bench,dc=test"
    )]
    ldap_admin_dn: String,
    #[arg(
        long,
        env = "OPSDESK_TEST_LDAP_BIND_PASSWORD",
        default_value = "opsdesk-ldap-admin"
    )]
    ldap_admin_password: String,
}

/// One person of the generated directory.
struct Person {
    uid: String,
    first: &'static str,
    last: &'static str,
    mail: String,
}

/// How a person changed before the third sync.
#[derive(Clone, Copy)]
enum Change {
    Renamed,
    NewAddress,
    Locked,
}

impl DirectorySync {
    /// The subtree of this shape of data.
    fn tree(&self) -> String {
        format!(
            "ou=sync-u{}-g{}-m{}-s{},{}",
            self.users, self.groups, self.members, self.seed, self.ldap_base
        )
    }

    fn people_base(&self) -> String {
        format!("ou=people,{}", self.tree())
    }

    fn groups_base(&self) -> String {
        format!("ou=groups,{}", self.tree())
    }

    fn service_dn(&self) -> String {
        format!("cn=opsdesk,{}", self.tree())
    }

    fn person_dn(&self, person: &Person) -> String {
        format!("uid={},{}", person.uid, self.people_base())
    }

    /// The seeded people, and the groups as (name, member indexes).
    fn generate(&self) -> (Vec<Person>, Vec<(String, Vec<usize>)>) {
        let mut rng = SplitMix64::new(self.seed);
        let people = (1..=self.users)
            .map(|n| {
                let first = rng.pick(&FIRST_NAMES);
                let last = rng.pick(&LAST_NAMES);
                Person {
                    uid: format!("u{n:06}"),
                    mail: format!(
                        "{}.{}.{n}@corp.bench.test",
                        first.to_lowercase(),
                        last.to_lowercase()
                    ),
                    first,
                    last,
                }
            })
            .collect();
        let groups = (0..self.groups)
            .map(|g| {
                let name = match g {
                    0 => ADMINS_GROUP.to_owned(),
                    g if g <= MAPPED.len() => MAPPED[g - 1].0.to_owned(),
                    g => format!("team-{g:05}"),
                };
                let mut members = Vec::with_capacity(self.members);
                while members.len() < self.members.min(self.users) {
                    let member = rng.below(self.users);
                    if !members.contains(&member) {
                        members.push(member);
                    }
                }
                (name, members)
            })
            .collect();
        (people, groups)
    }

    /// Runs an OpenLDAP client tool as the suffix's administrator with `ldif` on its input;
    /// with `-c` it goes on past entries that fail (already there, attribute absent).
    fn ldap_tool(&self, tool: &str, extra: &[&str], ldif: &str) -> anyhow::Result<()> {
        let mut child = self.spawn_tool(tool, extra)?;
        child
            .stdin
            .take()
            .context("ldap tool input")?
            .write_all(ldif.as_bytes())?;
        let output = child.wait_with_output()?;
        if !output.status.success() && !extra.contains(&"-c") {
            bail!("{tool} failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(())
    }

    fn spawn_tool(&self, tool: &str, extra: &[&str]) -> anyhow::Result<std::process::Child> {
        Command::new(tool)
            .args(["-x", "-H", &self.ldap_url, "-D", &self.ldap_admin_dn])
            .args(["-w", &self.ldap_admin_password])
            .args(extra)
            .env("LDAPTLS_CACERT", &self.ldap_ca)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {tool} (Debian: apt install ldap-utils)"))
    }

    /// The DNs `ldapsearch` finds under `base` with `filter`.
    fn search_dns(&self, base: &str, scope: &str, filter: &str) -> anyhow::Result<Vec<String>> {
        let output = Command::new("ldapsearch")
            .args(["-x", "-LLL", "-o", "ldif-wrap=no", "-H", &self.ldap_url])
            .args(["-D", &self.ldap_admin_dn, "-w", &self.ldap_admin_password])
            .args(["-b", base, "-s", scope, filter, "1.1"])
            .env("LDAPTLS_CACERT", &self.ldap_ca)
            .output()
            .context("cannot run ldapsearch (Debian: apt install ldap-utils)")?;
        // 32: no such object — the subtree is not there yet.
        if output.status.code() == Some(32) {
            return Ok(Vec::new());
        }
        if !output.status.success() {
            bail!(
                "ldapsearch failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.strip_prefix("dn: "))
            .map(str::to_owned)
            .collect())
    }

    /// Loads the subtree unless an earlier run completed it (its top entry then says so).
    fn ensure_loaded(
        &self,
        people: &[Person],
        groups: &[(String, Vec<usize>)],
    ) -> anyhow::Result<()> {
        let tree = self.tree();
        if !self
            .search_dns(&tree, "base", "(description=complete)")?
            .is_empty()
        {
            println!("  directory {tree}: loaded by an earlier run");
            return Ok(());
        }
        let started = Instant::now();
        let mut top = String::new();
        for (dn, ou) in [
            (
                tree.as_str(),
                tree.split([',', '=']).nth(1).unwrap_or("sync"),
            ),
            (&self.people_base(), "people"),
            (&self.groups_base(), "groups"),
        ] {
            writeln!(top, "dn: {dn}\nobjectClass: organizationalUnit\nou: {ou}\n")?;
        }
        writeln!(
            top,
            "dn: {}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n\
             cn: opsdesk\nuserPassword: {SERVICE_PASSWORD}\n",
            self.service_dn()
        )?;
        self.ldap_tool("ldapadd", &["-c"], &top)?;
        let mut chunks = vec![String::new(); LOADERS];
        for (n, person) in people.iter().enumerate() {
            writeln!(
                chunks[n % LOADERS],
                "dn: {}\nobjectClass: inetOrgPerson\nuid: {}\ncn: {} {}\ngivenName: {}\nsn: {}\n\
                 mail: {}\n",
                self.person_dn(person),
                person.uid,
                person.first,
                person.last,
                person.first,
                person.last,
                person.mail
            )?;
        }
        for (n, (name, members)) in groups.iter().enumerate() {
            let chunk = &mut chunks[n % LOADERS];
            writeln!(
                chunk,
                "dn: cn={name},{}\nobjectClass: groupOfNames\ncn: {name}",
                self.groups_base()
            )?;
            for member in members {
                writeln!(chunk, "member: {}", self.person_dn(&people[*member]))?;
            }
            writeln!(chunk)?;
        }
        std::thread::scope(|scope| {
            let loaders: Vec<_> = chunks
                .iter()
                .map(|chunk| scope.spawn(|| self.ldap_tool("ldapadd", &["-c"], chunk)))
                .collect();
            loaders.into_iter().try_for_each(|loader| {
                loader
                    .join()
                    .map_err(|_| anyhow::anyhow!("loader panicked"))?
            })
        })?;
        let found_people = self
            .search_dns(&self.people_base(), "one", "(objectClass=*)")?
            .len();
        let found_groups = self
            .search_dns(&self.groups_base(), "one", "(objectClass=*)")?
            .len();
        if found_people != people.len() || found_groups != groups.len() {
            bail!(
                "the directory holds {found_people} people and {found_groups} groups after \
                 loading {} and {}",
                people.len(),
                groups.len()
            );
        }
        self.ldap_tool(
            "ldapmodify",
            &[],
            &format!(
                "dn: {tree}\nchangetype: modify\nreplace: description\ndescription: complete\n"
            ),
        )?;
        println!(
            "  directory {tree}: {} people and {} groups loaded in {:.1} s",
            people.len(),
            groups.len(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// The people changed before the third sync, and how.
    fn changed<'a>(&self, people: &'a [Person]) -> Vec<(&'a Person, Change)> {
        people
            .iter()
            .enumerate()
            .filter(|(n, _)| n % CHANGED_ONE_IN == CHANGED_ONE_IN / 2)
            .map(|(n, person)| {
                let change = match (n / CHANGED_ONE_IN) % 3 {
                    0 => Change::Renamed,
                    1 => Change::NewAddress,
                    _ => Change::Locked,
                };
                (person, change)
            })
            .collect()
    }

    /// Applies the third sync's changes to the directory, or (`undo`) restores the people
    /// as generated. Locking sets ppolicy's operational `pwdAccountLockedTime`, which takes
    /// the Relax Rules control.
    fn change_people(&self, people: &[Person], undo: bool) -> anyhow::Result<()> {
        let mut ldif = String::new();
        for (person, change) in self.changed(people) {
            let dn = self.person_dn(person);
            let modification = match (change, undo) {
                (Change::Renamed, false) => format!(
                    "replace: cn\ncn: {} Lindqvist\n-\nreplace: sn\nsn: Lindqvist",
                    person.first
                ),
                (Change::Renamed, true) => format!(
                    "replace: cn\ncn: {} {}\n-\nreplace: sn\nsn: {}",
                    person.first, person.last, person.last
                ),
                (Change::NewAddress, false) => {
                    format!("replace: mail\nmail: moved.{}", person.mail)
                }
                (Change::NewAddress, true) => format!("replace: mail\nmail: {}", person.mail),
                (Change::Locked, false) => {
                    "replace: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z".to_owned()
                }
                (Change::Locked, true) => "delete: pwdAccountLockedTime".to_owned(),
            };
            writeln!(ldif, "dn: {dn}\nchangetype: modify\n{modification}\n")?;
        }
        self.ldap_tool("ldapmodify", &["-c", "-e", "relax"], &ldif)
    }

    /// The directory as an admin would add it: staff (agents by default; customers need an
    /// organization), one group's members admins, five groups filling support groups.
    fn input(&self) -> anyhow::Result<DirectoryInput> {
        let ca = std::fs::read_to_string(&self.ldap_ca)
            .with_context(|| format!("cannot read {}", self.ldap_ca.display()))?;
        Ok(DirectoryInput {
            name: Some("Corporate directory".into()),
            url: Some(self.ldap_url.clone()),
            ca_pem: Some(Some(ca)),
            bind_dn: Some(self.service_dn()),
            bind_password: Some(SERVICE_PASSWORD.into()),
            user_base: Some(self.people_base()),
            group_base: Some(Some(self.groups_base())),
            group_mappings: Some(
                MAPPED
                    .iter()
                    .map(|(group, support_group)| GroupMapping {
                        group: format!("cn={group},{}", self.groups_base()),
                        support_group: (*support_group).into(),
                    })
                    .collect(),
            ),
            role_rules: Some(vec![RoleRule {
                group: ADMINS_GROUP.into(),
                role: "admin".into(),
            }]),
            sync_interval_minutes: Some(0),
            ..DirectoryInput::default()
        })
    }
}

/// A progress bar like `opsdesk directory sync`'s, which also notes when each phase ended.
struct Bar {
    bar: ProgressBar,
    started: Instant,
    marks: Mutex<Marks>,
}

/// When the phases of one sync ended, from its start.
#[derive(Default, Clone)]
struct Marks {
    people_read: Duration,
    planned: Duration,
    /// The longest write of one batch.
    slowest_batch: Duration,
    last_written: Duration,
}

impl Bar {
    fn new() -> anyhow::Result<Self> {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{bar:40}] {pos}/{len} ({elapsed})")
                .context("progress bar template")?,
        );
        Ok(Self {
            bar,
            started: Instant::now(),
            marks: Mutex::new(Marks::default()),
        })
    }

    fn marks(&self) -> Marks {
        self.marks.lock().map(|m| m.clone()).unwrap_or_default()
    }

    fn mark(&self, note: impl FnOnce(&mut Marks, Duration)) {
        if let Ok(mut marks) = self.marks.lock() {
            note(&mut marks, self.started.elapsed());
        }
    }
}

impl SyncProgress for Bar {
    fn read(&self, people: usize) {
        self.bar
            .set_message(format!("reading the directory: {people} people"));
        self.bar.tick();
        self.mark(|marks, now| marks.people_read = now);
    }

    fn planned(&self, changes: usize) {
        self.bar.set_length(changes as u64);
        self.bar.set_position(0);
        self.bar.set_message("writing changes".to_owned());
        self.mark(|marks, now| {
            marks.planned = now;
            marks.last_written = now;
        });
    }

    fn written(&self, changes: usize) {
        self.bar.set_position(changes as u64);
        self.mark(|marks, now| {
            marks.slowest_batch = marks.slowest_batch.max(now - marks.last_written);
            marks.last_written = now;
        });
    }
}

/// One timed sync: its report, wall time and phases.
async fn timed_sync(app: &App, id: i64) -> anyhow::Result<(SyncReport, Duration, Marks)> {
    let bar = Bar::new()?;
    let report = app
        .sync_directory(&Principal::system("bench"), id, false, &bar)
        .await;
    let took = bar.started.elapsed();
    bar.bar.finish_and_clear();
    Ok((report?, took, bar.marks()))
}

fn print_sync(run: usize, what: &str, report: &SyncReport, took: Duration, marks: &Marks) {
    let s = &report.summary;
    let secs = took.as_secs_f64();
    println!(
        "  run {run} {what}: {secs:.1} s, {:.0} people/s; {} created, {} updated, {} deactivated, \
         {} group changes; reading people {:.1} s, groups and comparing {:.1} s, writing {:.1} s \
         (slowest batch {:.0} ms)",
        report.people as f64 / secs,
        s.created,
        s.updated,
        s.disabled,
        s.group_changes,
        marks.people_read.as_secs_f64(),
        (marks.planned.saturating_sub(marks.people_read)).as_secs_f64(),
        (took.saturating_sub(marks.planned)).as_secs_f64(),
        marks.slowest_batch.as_secs_f64() * 1000.0,
    );
}

pub(crate) async fn directory_sync(options: &DirectorySync) -> anyhow::Result<()> {
    let backend = if options.postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "directory-sync: {} people, {} groups of {} members, {} runs, {backend}",
        options.users, options.groups, options.members, options.runs
    );
    let (people, groups) = options.generate();
    options.ensure_loaded(&people, &groups)?;
    // An interrupted run may have left its changes in the directory.
    options.change_people(&people, true)?;
    let changed = options.changed(&people);
    let expect_locked = changed
        .iter()
        .filter(|(_, c)| matches!(c, Change::Locked))
        .count();
    let principal = Principal::system("bench");
    let mut firsts = Vec::new();
    let mut seconds = Vec::new();
    let mut thirds = Vec::new();
    for run in 1..=options.runs {
        let scratch = Scratch::new(options.postgres.as_deref()).await?;
        let app = scratch.location.open().await?;
        for (_, support_group) in MAPPED {
            app.create_group(
                &principal,
                NewGroup {
                    name: support_group.into(),
                    tier: 1,
                    description: String::new(),
                    members: Vec::new(),
                },
            )
            .await?;
        }
        let directory = app.create_directory(&principal, options.input()?).await?;

        let (report, took, marks) = timed_sync(&app, directory.id).await?;
        print_sync(run, "first sync", &report, took, &marks);
        if report.summary.created != options.users {
            bail!(
                "the first sync created {} accounts of {}",
                report.summary.created,
                options.users
            );
        }
        firsts.push(took.as_secs_f64());

        let (report, took, marks) = timed_sync(&app, directory.id).await?;
        print_sync(run, "unchanged", &report, took, &marks);
        let s = report.summary;
        if s.created + s.updated + s.disabled + s.group_changes != 0 {
            bail!("the second sync changed something: {s:?}");
        }
        seconds.push(took.as_secs_f64());

        options.change_people(&people, false)?;
        let outcome = timed_sync(&app, directory.id).await;
        options.change_people(&people, true)?;
        let (report, took, marks) = outcome?;
        print_sync(run, "1 % changed", &report, took, &marks);
        let s = report.summary;
        if s.disabled != expect_locked || s.updated != changed.len() - expect_locked {
            bail!(
                "the third sync should update {} and deactivate {expect_locked}: {s:?}",
                changed.len() - expect_locked
            );
        }
        thirds.push(took.as_secs_f64());

        app.db().clone().close().await;
        scratch.remove().await?;
    }
    let first = median(&mut firsts);
    println!(
        "directory-sync, median over {} runs: first sync {first:.1} s ({:.0} people/s, target \
         < 60 s on 2 cores), unchanged {:.1} s, 1 % changed {:.1} s",
        options.runs,
        options.users as f64 / first,
        median(&mut seconds),
        median(&mut thirds)
    );
    Ok(())
}
