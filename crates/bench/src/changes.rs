//! The change-conflict scenario (`conflicts`).
//!
//! 10,000 configuration items (500 hosts, the rest application servers that each run on
//! one host) and 100,000 changes in state `scheduled` over the next year (windows of 1–4 h,
//! 1–3 items each, carried out by 200 implementers), plus a few freeze and blackout periods,
//! written straight into a fresh database. Then new changes are created in draft through
//! `POST /api/v1/changes` and `GET /api/v1/changes/{CHG-n}/conflicts` is timed for each, one
//! request at a time; then the same use case in process (`App::change_conflicts`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use opsdesk_app::accounts::NewUserInput;
use opsdesk_app::{App, Db, Principal};
use opsdesk_seed::generator::SplitMix64;
use opsdesk_seed::{Generator, Scale};
use opsdesk_store::changes::{self as change_store, NewFreeze};
use serde_json::Value;

use crate::Target;
use crate::cmdb::{insert_items, insert_relations, item};
use crate::harness::{ADMIN, Scratch, Server, create_admin, memory};
use crate::stats::{median, ms, percentile};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Changes are planned over this span from the start of the schedule.
const YEAR_MS: i64 = 365 * DAY_MS;
/// Hosts; every other item is an application server running on one of them.
const HOSTS: usize = 500;
/// Changes per multi-row `INSERT`, and statements per transaction.
const ROWS_PER_INSERT: usize = 500;
const INSERTS_PER_WRITE: usize = 10;

/// A freeze to write: name, kind, start, end, organization, item.
type FreezeSpec = (String, &'static str, i64, i64, Option<i64>, Option<i64>);

/// The seeded estate and schedule, as the candidates need it.
struct Schedule {
    /// Hosts first, then application servers.
    cis: Vec<i64>,
    /// `(change id, start, end, items)` of every scheduled change.
    changes: Vec<(i64, i64, i64, Vec<i64>)>,
    implementers: Vec<String>,
    /// Everyone's freezes and blackouts: `(start, end)`.
    global_freezes: Vec<(i64, i64)>,
    /// Freeze and blackout periods of every kind.
    freezes: usize,
    start: i64,
}

/// A change's window: a quarter-hour start within the year, 1–4 hours long.
fn window(rng: &mut SplitMix64, start: i64) -> (i64, i64) {
    let quarters = (YEAR_MS / (HOUR_MS / 4)) as usize;
    let from = start + rng.below(quarters) as i64 * (HOUR_MS / 4);
    let hours = 1 + rng.below(4) as i64;
    (from, from + hours * HOUR_MS)
}

/// 1–3 distinct items among `cis`.
fn some_cis(rng: &mut SplitMix64, cis: &[i64]) -> Vec<i64> {
    let mut picked: Vec<i64> = Vec::new();
    let wanted = 1 + rng.below(3);
    while picked.len() < wanted {
        let ci = cis[rng.below(cis.len())];
        if !picked.contains(&ci) {
            picked.push(ci);
        }
    }
    picked
}

/// Writes the estate, the implementers, the scheduled changes and the freezes.
async fn seed_schedule(
    app: &App,
    seed: u64,
    cis: usize,
    changes: usize,
    implementers: usize,
) -> anyhow::Result<Schedule> {
    let db = app.db().clone();
    let now = app.now_ms();
    let mut rng = SplitMix64::new(seed ^ 0x0c4a_96e5);
    let organizations: Vec<i64> = {
        let mut conn = db.reader().await?;
        sqlx::query_as::<_, (i64,)>("SELECT id FROM organizations ORDER BY id")
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|(id,)| id)
            .collect()
    };
    let (admin_id,): (i64,) = {
        let mut conn = db.reader().await?;
        sqlx::query_as("SELECT id FROM users WHERE email = $1")
            .bind(ADMIN)
            .fetch_one(&mut *conn)
            .await?
    };

    // The estate: hosts of the desk's organizations, application servers running on them.
    let hosts = HOSTS.min(cis / 2).max(1);
    let host_orgs: Vec<Option<i64>> = (0..hosts)
        .map(|_| (!organizations.is_empty()).then(|| organizations[rng.below(organizations.len())]))
        .collect();
    let host_ids = insert_items(
        &db,
        (0..hosts)
            .map(|i| item("server", format!("host-{i:03}"), host_orgs[i], None))
            .collect(),
        now,
    )
    .await?;
    let apps = cis.saturating_sub(hosts);
    let app_host: Vec<usize> = (0..apps).map(|_| rng.below(hosts)).collect();
    let app_ids = insert_items(
        &db,
        (0..apps)
            .map(|i| {
                item(
                    "virtual_machine",
                    format!("app-{i:05}"),
                    host_orgs[app_host[i]],
                    None,
                )
            })
            .collect(),
        now,
    )
    .await?;
    let relations = app_ids
        .iter()
        .zip(&app_host)
        .map(|(app, host)| (*app, "runs_on", host_ids[*host]))
        .collect();
    insert_relations(&db, relations, now).await?;
    let all_cis: Vec<i64> = host_ids.iter().chain(&app_ids).copied().collect();

    // The implementers: agents.
    let mut people = Vec::with_capacity(implementers);
    let mut emails = Vec::with_capacity(implementers);
    for i in 0..implementers {
        let email = format!("implementer-{i:03}@bench.example");
        let user = app
            .create_user(
                &Principal::system("bench"),
                NewUserInput {
                    email: email.clone(),
                    name: format!("Implementer {i}"),
                    role: "agent".into(),
                    organization: None,
                    organizations: Vec::new(),
                    password: None,
                },
            )
            .await?;
        people.push(user.id);
        emails.push(email);
    }

    // The schedule, from the next midnight (UTC) on for a year.
    let start = (now / DAY_MS + 1) * DAY_MS;
    let planned: Vec<(i64, i64, Vec<i64>, i64)> = (0..changes)
        .map(|_| {
            let (from, until) = window(&mut rng, start);
            let items = some_cis(&mut rng, &all_cis);
            let person = people[rng.below(people.len())];
            (from, until, items, person)
        })
        .collect();
    let mut scheduled = Vec::with_capacity(changes);
    for (w, write) in planned
        .chunks(ROWS_PER_INSERT * INSERTS_PER_WRITE)
        .enumerate()
    {
        let first = w * ROWS_PER_INSERT * INSERTS_PER_WRITE;
        let write = write.to_vec();
        let written = db
            .write(move |conn| {
                Box::pin(async move {
                    let mut written = Vec::with_capacity(write.len());
                    for (s, statement) in write.chunks(ROWS_PER_INSERT).enumerate() {
                        let base = first + s * ROWS_PER_INSERT;
                        let mut sql = String::from(
                            "INSERT INTO changes (title, change_type, state, approval, \
                             requester_id, implementer_id, risk_level, planned_start, \
                             planned_end, created_at, updated_at) VALUES ",
                        );
                        for (i, (from, until, _, person)) in statement.iter().enumerate() {
                            if i > 0 {
                                sql.push_str(", ");
                            }
                            write!(
                                sql,
                                "('Scheduled change {}', 'normal', 'scheduled', 'approved', \
                                 {admin_id}, {person}, 'low', {from}, {until}, {now}, {now})",
                                base + i
                            )?;
                        }
                        sql.push_str(" RETURNING id, title");
                        let rows: Vec<(i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                            .fetch_all(&mut *conn)
                            .await?;
                        // Ids by the number in each title: RETURNING promises no order.
                        let mut ids = vec![0; statement.len()];
                        for (id, title) in rows {
                            let n: usize = title
                                .rsplit(' ')
                                .next()
                                .and_then(|n| n.parse().ok())
                                .context("a seeded change's title ends in its number")?;
                            ids[n - base] = id;
                        }
                        let mut links =
                            String::from("INSERT INTO change_cis (change_id, ci_id) VALUES ");
                        let mut first_link = true;
                        for ((_, _, items, _), id) in statement.iter().zip(&ids) {
                            for ci in items {
                                if !first_link {
                                    links.push_str(", ");
                                }
                                first_link = false;
                                write!(links, "({id}, {ci})")?;
                            }
                        }
                        sqlx::query(sqlx::AssertSqlSafe(links))
                            .execute(&mut *conn)
                            .await?;
                        written.extend(ids);
                    }
                    Ok::<_, anyhow::Error>(written)
                })
            })
            .await?;
        scheduled.extend(written);
    }
    let changes = scheduled
        .into_iter()
        .zip(planned)
        .map(|(id, (from, until, items, _))| (id, from, until, items))
        .collect();

    // Freezes: three over everyone (two days each), two over an organization (a week),
    // ten over one host (a day), some of them blackouts.
    let mut freezes: Vec<FreezeSpec> = Vec::new();
    let mut global_freezes = Vec::new();
    for i in 0..3 {
        let from = start + (30 + 120 * i) * DAY_MS;
        let kind = if i == 2 { "blackout" } else { "freeze" };
        freezes.push((
            format!("Release freeze {i}"),
            kind,
            from,
            from + 2 * DAY_MS,
            None,
            None,
        ));
        global_freezes.push((from, from + 2 * DAY_MS));
    }
    for (i, org) in organizations.iter().take(2).enumerate() {
        let from = start + (60 + 150 * i as i64) * DAY_MS;
        freezes.push((
            format!("Quarter close {i}"),
            "freeze",
            from,
            from + 7 * DAY_MS,
            Some(*org),
            None,
        ));
    }
    for i in 0..10 {
        let from = start + rng.below(364) as i64 * DAY_MS;
        let host = host_ids[rng.below(host_ids.len())];
        let kind = if i % 3 == 0 { "blackout" } else { "freeze" };
        freezes.push((
            format!("Host maintenance {i}"),
            kind,
            from,
            from + DAY_MS,
            None,
            Some(host),
        ));
    }
    let freeze_count = freezes.len();
    db.write(move |conn| {
        Box::pin(async move {
            for (name, kind, from, until, organization_id, ci_id) in &freezes {
                change_store::insert_freeze(
                    conn,
                    &NewFreeze {
                        name,
                        kind,
                        starts_at: *from,
                        ends_at: *until,
                        organization_id: *organization_id,
                        ci_id: *ci_id,
                        reason: "benchmark",
                        created_by: "bench",
                    },
                    now,
                )
                .await?;
            }
            Ok::<_, anyhow::Error>(())
        })
    })
    .await?;
    Ok(Schedule {
        cis: all_cis,
        changes,
        implementers: emails,
        global_freezes,
        freezes: freeze_count,
        start,
    })
}

/// What a candidate is made to collide with, to check the answers.
#[derive(Debug, Clone, Copy)]
enum Planted {
    /// Nothing on purpose: a window, items and implementer at random.
    Nothing,
    /// One of this scheduled change's items, in an overlapping window.
    SameCi(i64),
    /// A window inside an everyone's freeze.
    Freeze,
}

/// The candidates' bodies for `POST /api/v1/changes`: a quarter share an item and the time
/// of a scheduled change, a tenth fall inside a freeze, the rest are random.
fn candidates(schedule: &Schedule, seed: u64, count: usize) -> Vec<(Value, Planted)> {
    let mut rng = SplitMix64::new(seed ^ 0x000c_a9d1_da7e);
    (0..count)
        .map(|i| {
            let mut items = some_cis(&mut rng, &schedule.cis);
            let (mut from, mut until) = window(&mut rng, schedule.start);
            let planted = if i % 4 == 0 {
                let (id, other_from, other_until, other_items) =
                    &schedule.changes[rng.below(schedule.changes.len())];
                let shared = other_items[rng.below(other_items.len())];
                if !items.contains(&shared) {
                    items[0] = shared;
                }
                // Starts up to an hour before the middle of the other's window and lasts
                // at least an hour, so the two overlap.
                let middle = other_from + (other_until - other_from) / 2;
                from = middle - rng.below(5) as i64 * (HOUR_MS / 4);
                until = from + (1 + rng.below(4) as i64) * HOUR_MS;
                Planted::SameCi(*id)
            } else if i % 10 == 1 && !schedule.global_freezes.is_empty() {
                let (freeze_from, _) =
                    schedule.global_freezes[rng.below(schedule.global_freezes.len())];
                from = freeze_from + rng.below(40) as i64 * HOUR_MS;
                until = from + HOUR_MS;
                Planted::Freeze
            } else {
                Planted::Nothing
            };
            let implementer = &schedule.implementers[rng.below(schedule.implementers.len())];
            let body = serde_json::json!({
                "title": format!("Candidate change {i}"),
                "type": "normal",
                "implementer": implementer,
                "cis": items,
                "planned_start": opsdesk_app::timestamp(from).to_string(),
                "planned_end": opsdesk_app::timestamp(until).to_string(),
            });
            (body, planted)
        })
        .collect()
}

/// The conflicts of one candidate: `(kind, with)` pairs.
type Found = Vec<(String, String)>;

fn found_in(answer: &Value) -> anyhow::Result<Found> {
    answer
        .as_array()
        .context("conflicts are a JSON list")?
        .iter()
        .map(|c| {
            Ok((
                c["kind"].as_str().context("a conflict's kind")?.to_owned(),
                c["with"]
                    .as_str()
                    .context("what a conflict is with")?
                    .to_owned(),
            ))
        })
        .collect()
}

/// Asks for every candidate's conflicts in turn; each latency and answer.
async fn ask_all(
    server: &Server,
    numbers: &[String],
) -> anyhow::Result<(Vec<Duration>, Vec<Found>)> {
    let mut latencies = Vec::with_capacity(numbers.len());
    let mut answers = Vec::with_capacity(numbers.len());
    for number in numbers {
        let sent = Instant::now();
        let response = server
            .http
            .get(format!("{}/api/v1/changes/{number}/conflicts", server.url))
            .bearer_auth(&server.token)
            .send()
            .await?;
        let status = response.status();
        let body = response.bytes().await?;
        let latency = sent.elapsed();
        if !status.is_success() {
            bail!(
                "conflicts of {number} answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        latencies.push(latency);
        answers.push(found_in(&serde_json::from_slice(&body)?)?);
    }
    Ok((latencies, answers))
}

/// p50, p95, p99 and mean of `latencies`, in ms.
fn stats(mut latencies: Vec<Duration>) -> [f64; 4] {
    latencies.sort();
    let mean = latencies.iter().map(|d| ms(*d)).sum::<f64>() / latencies.len().max(1) as f64;
    [
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 95.0)),
        ms(percentile(&latencies, 99.0)),
        mean,
    ]
}

/// Medians over the runs of each of [`stats`]' figures.
fn medians(runs: &[[f64; 4]]) -> [f64; 4] {
    let mut out = [0.0; 4];
    for (k, slot) in out.iter_mut().enumerate() {
        let mut column: Vec<f64> = runs.iter().map(|r| r[k]).collect();
        *slot = median(&mut column);
    }
    out
}

/// Checks the answers are what the schedule makes them: every planted collision found,
/// and each kind of conflict met somewhere.
fn check(answers: &[Found], planted: &[Planted], numbers: &[String]) -> anyhow::Result<()> {
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for found in answers {
        for (kind, _) in found {
            *kinds.entry(kind.as_str()).or_default() += 1;
        }
    }
    for ((found, planted), number) in answers.iter().zip(planted).zip(numbers) {
        match planted {
            Planted::SameCi(id) => {
                let with = format!("CHG-{id}");
                if !found
                    .iter()
                    .any(|(kind, w)| kind == "same_ci" && *w == with)
                {
                    bail!(
                        "{number} shares an item and the time with {with}, but its conflicts are {found:?}"
                    );
                }
            }
            Planted::Freeze => {
                if !found.iter().any(|(kind, _)| kind == "freeze") {
                    bail!("{number} falls inside a freeze, but its conflicts are {found:?}");
                }
            }
            Planted::Nothing => {}
        }
    }
    for kind in ["same_ci", "related_ci", "implementer", "freeze"] {
        if !kinds.contains_key(kind) {
            bail!("no candidate found a {kind} conflict: {kinds:?}");
        }
    }
    let with_any = answers.iter().filter(|f| !f.is_empty()).count();
    let total: usize = answers.iter().map(Vec::len).sum();
    println!(
        "  answers checked: {with_any} of {} candidates have conflicts ({total} in all: {})",
        answers.len(),
        kinds
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

pub(crate) async fn conflicts(
    target: &Target,
    cis: usize,
    changes: usize,
    implementers: usize,
    count: usize,
    runs: usize,
) -> anyhow::Result<()> {
    let backend = if target.postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let scratch = Scratch::new(target.postgres.as_deref()).await?;
    let started = Instant::now();
    let schedule = {
        let app = scratch.location.open().await?;
        create_admin(&app).await?;
        let directory = Generator::new(target.seed, Scale::DEMO).directory().clone();
        opsdesk_seed::demo::create_directory(&app, &directory).await?;
        let schedule = seed_schedule(&app, target.seed, cis, changes, implementers).await?;
        analyze(app.db()).await?;
        app.db().clone().close().await;
        schedule
    };
    let links: usize = schedule.changes.iter().map(|c| c.3.len()).sum();
    println!(
        "conflicts: {} items ({HOSTS} hosts), {} scheduled changes touching {links} items, {implementers} implementers, {} freeze periods ({} over everyone) loaded in {:.0} s, {backend}",
        schedule.cis.len(),
        schedule.changes.len(),
        schedule.freezes,
        schedule.global_freezes.len(),
        started.elapsed().as_secs_f64()
    );

    let server = Server::start(&target.opsdesk, &scratch.location).await?;
    let mut numbers = Vec::with_capacity(count);
    let mut planted = Vec::with_capacity(count);
    for (body, plan) in candidates(&schedule, target.seed, count) {
        let created = server.post_json("/api/v1/changes", &body).await?;
        numbers.push(
            created["number"]
                .as_str()
                .context("a created change has a number")?
                .to_owned(),
        );
        planted.push(plan);
    }
    // One untimed pass warms the caches, as on a server up for a while.
    let (_, answers) = ask_all(&server, &numbers).await?;
    check(&answers, &planted, &numbers)?;
    println!("  {count} candidates per run, one request at a time, {runs} runs");
    let mut over_http = Vec::new();
    for run in 1..=runs {
        let (latencies, again) = ask_all(&server, &numbers).await?;
        if again != answers {
            bail!("run {run} answered differently from the first pass");
        }
        let [p50, p95, p99, mean] = stats(latencies);
        println!(
            "  run {run} over HTTP: p50 {p50:.2} ms, p95 {p95:.2} ms, p99 {p99:.2} ms, mean {mean:.2} ms"
        );
        over_http.push([p50, p95, p99, mean]);
    }
    let (rss, hwm) = memory(server.pid())?;
    drop(server);

    // The same use case in process, on the stopped server's database.
    let app = scratch.location.open().await?;
    let principal = Principal::system("bench");
    for number in &numbers {
        app.change_conflicts(&principal, number).await?;
    }
    let mut in_process = Vec::new();
    for run in 1..=runs {
        let mut latencies = Vec::with_capacity(numbers.len());
        for (number, expected) in numbers.iter().zip(&answers) {
            let started = Instant::now();
            let found = app.change_conflicts(&principal, number).await?;
            latencies.push(started.elapsed());
            if found.len() != expected.len() {
                bail!("{number} in process: {found:?}, over HTTP: {expected:?}");
            }
        }
        let [p50, p95, p99, mean] = stats(latencies);
        println!(
            "  run {run} in process: p50 {p50:.2} ms, p95 {p95:.2} ms, p99 {p99:.2} ms, mean {mean:.2} ms"
        );
        in_process.push([p50, p95, p99, mean]);
    }
    app.db().clone().close().await;

    let [p50, p95, p99, mean] = medians(&over_http);
    println!(
        "conflicts over HTTP, median over {runs} runs of {count}: p50 {p50:.2} ms, p95 {p95:.2} ms, p99 {p99:.2} ms, mean {mean:.2} ms (target p99 < 20 ms); server VmRSS {rss:.0} MiB, VmHWM {hwm:.0} MiB"
    );
    let [p50, p95, p99, mean] = medians(&in_process);
    println!(
        "conflicts in process, median over {runs} runs of {count}: p50 {p50:.2} ms, p95 {p95:.2} ms, p99 {p99:.2} ms, mean {mean:.2} ms"
    );
    scratch.remove().await?;
    Ok(())
}

/// Fresh planner statistics on PostgreSQL, as autovacuum would gather after such a load;
/// SQLite is left as a server leaves it (opsdesk does not run `ANALYZE` on its own).
async fn analyze(db: &Db) -> anyhow::Result<()> {
    if db.backend() == opsdesk_app::Backend::Postgres {
        db.write(|conn| {
            Box::pin(async move {
                sqlx::query("ANALYZE").execute(&mut *conn).await?;
                Ok::<_, anyhow::Error>(())
            })
        })
        .await?;
    }
    Ok(())
}
