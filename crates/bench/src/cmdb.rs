//! The CMDB impact scenario: a 100,000-item estate (switches, hosts, VMs, services a few
//! levels deep, software installs) written straight into the database, then
//! `GET /api/v1/cis/{id}/impact` over a mix of roots by a few concurrent clients.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::bail;
use futures::StreamExt;
use opsdesk_app::Db;
use opsdesk_seed::generator::SplitMix64;
use opsdesk_seed::{Generator, Scale};
use opsdesk_store::cmdb::{self as store, CiValues};
use serde_json::Value;

use crate::Target;
use crate::harness::{Scratch, Server, create_admin, memory};
use crate::stats::{median, ms, percentile};

/// Items written per transaction while loading the estate.
const BATCH: usize = 2_000;

/// The kinds of root the impact queries start from.
const ROOT_KINDS: [&str; 5] = [
    "core switch",
    "distribution switch",
    "host",
    "vm",
    "service",
];

/// The estate's items by role, as ids.
#[derive(Default)]
struct Estate {
    core: Vec<i64>,
    distribution: Vec<i64>,
    hosts: Vec<i64>,
    vms: Vec<i64>,
    services: Vec<i64>,
    software: usize,
    relations: usize,
}

pub(super) fn item(
    class: &str,
    name: String,
    organization: Option<i64>,
    needed: Option<i64>,
) -> CiValues {
    CiValues {
        class: class.to_owned(),
        hostname: matches!(class, "server" | "virtual_machine").then(|| name.clone()),
        name,
        organization_id: organization,
        lifecycle: "deployed".to_owned(),
        needed,
        fields: "{}".to_owned(),
        sources: "{}".to_owned(),
        ..CiValues::default()
    }
}

/// Writes `items` in transactions of [`BATCH`]; their ids, in order.
pub(super) async fn insert_items(
    db: &Db,
    items: Vec<CiValues>,
    now: i64,
) -> anyhow::Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(items.len());
    for chunk in items.chunks(BATCH) {
        let chunk = chunk.to_vec();
        let written = db
            .write(move |conn| {
                Box::pin(async move {
                    let mut ids = Vec::with_capacity(chunk.len());
                    for values in &chunk {
                        ids.push(store::insert_ci(conn, values, now).await?);
                    }
                    Ok::<_, anyhow::Error>(ids)
                })
            })
            .await?;
        ids.extend(written);
    }
    Ok(ids)
}

/// Writes `source kind target` relations in transactions of [`BATCH`].
pub(super) async fn insert_relations(
    db: &Db,
    relations: Vec<(i64, &'static str, i64)>,
    now: i64,
) -> anyhow::Result<usize> {
    let count = relations.len();
    for chunk in relations.chunks(BATCH) {
        let chunk = chunk.to_vec();
        db.write(move |conn| {
            Box::pin(async move {
                for (source, kind, target) in &chunk {
                    store::insert_relation(conn, *source, kind, *target, "bench", now).await?;
                }
                Ok::<_, anyhow::Error>(())
            })
        })
        .await?;
    }
    Ok(count)
}

/// Builds an estate of about `cis` items: 4 core switches and 36 distribution switches
/// (each uplinked to two cores, one enough), a fifth of the items machines (a quarter of
/// them hosts, the rest VMs on them) on those switches, a twentieth services in four tiers
/// running on 1–5 machines (half of the multi-machine ones redundant: all but one needed)
/// and depending on 1–3 services of lower tiers, and the rest software installed on the
/// machines. Machines and services belong to the desk's organizations.
async fn build_estate(
    db: &Db,
    seed: u64,
    cis: usize,
    organizations: &[i64],
    now: i64,
) -> anyhow::Result<Estate> {
    let mut rng = SplitMix64::new(seed);
    let org = |rng: &mut SplitMix64| {
        (!organizations.is_empty()).then(|| organizations[rng.below(organizations.len())])
    };
    let mut estate = Estate::default();
    let mut relations: Vec<(i64, &'static str, i64)> = Vec::new();

    estate.core = insert_items(
        db,
        (0..4)
            .map(|i| item("network_device", format!("core-sw-{i}"), None, None))
            .collect(),
        now,
    )
    .await?;
    estate.distribution = insert_items(
        db,
        (0..36)
            .map(|i| item("network_device", format!("dist-sw-{i:02}"), None, Some(1)))
            .collect(),
        now,
    )
    .await?;
    for (i, switch) in estate.distribution.iter().enumerate() {
        // A pair of cores per distribution switch: either one carries it.
        relations.push((*switch, "connects_to", estate.core[(i * 2) % 4]));
        relations.push((*switch, "connects_to", estate.core[(i * 2 + 1) % 4]));
    }

    let machines = (cis / 5).max(4);
    let host_count = (machines / 4).max(1);
    let vm_count = machines - host_count;
    let host_switch: Vec<usize> = (0..host_count)
        .map(|_| rng.below(estate.distribution.len()))
        .collect();
    let host_orgs: Vec<Option<i64>> = (0..host_count).map(|_| org(&mut rng)).collect();
    estate.hosts = insert_items(
        db,
        (0..host_count)
            .map(|i| item("server", format!("host-{i:05}"), host_orgs[i], None))
            .collect(),
        now,
    )
    .await?;
    for (i, host) in estate.hosts.iter().enumerate() {
        relations.push((*host, "connects_to", estate.distribution[host_switch[i]]));
    }
    let vm_host: Vec<usize> = (0..vm_count).map(|_| rng.below(host_count)).collect();
    estate.vms = insert_items(
        db,
        (0..vm_count)
            .map(|i| {
                item(
                    "virtual_machine",
                    format!("vm-{i:05}"),
                    host_orgs[vm_host[i]],
                    None,
                )
            })
            .collect(),
        now,
    )
    .await?;
    for (i, vm) in estate.vms.iter().enumerate() {
        let host = vm_host[i];
        relations.push((*vm, "runs_on", estate.hosts[host]));
        relations.push((*vm, "connects_to", estate.distribution[host_switch[host]]));
    }
    let all_machines: Vec<i64> = estate.hosts.iter().chain(&estate.vms).copied().collect();

    // Services in tiers: tier 0 runs only on machines; higher tiers also depend on
    // services of the tiers below.
    let service_count = (cis / 20).max(4);
    let tiers = [0.4, 0.3, 0.2, 0.1].map(|share: f64| (share * service_count as f64) as usize);
    let mut by_tier: Vec<Vec<i64>> = Vec::new();
    for (tier, size) in tiers.into_iter().enumerate() {
        let mut plans = Vec::with_capacity(size);
        let mut values = Vec::with_capacity(size);
        for i in 0..size {
            let on: Vec<i64> = (0..1 + rng.below(5))
                .map(|_| all_machines[rng.below(all_machines.len())])
                .collect();
            let lower: Vec<i64> = by_tier.iter().flatten().copied().collect();
            let needs: Vec<i64> = if lower.is_empty() {
                Vec::new()
            } else {
                (0..1 + rng.below(3))
                    .map(|_| lower[rng.below(lower.len())])
                    .collect()
            };
            let mut providers: Vec<i64> = on.iter().chain(&needs).copied().collect();
            providers.sort_unstable();
            providers.dedup();
            let needed = (on.len() >= 2 && rng.percent(50))
                .then(|| i64::try_from(providers.len()).unwrap_or(1) - 1);
            values.push(item(
                "service",
                format!("svc-t{tier}-{i:04}"),
                org(&mut rng),
                needed,
            ));
            plans.push((on, needs));
        }
        let ids = insert_items(db, values, now).await?;
        for (id, (on, needs)) in ids.iter().zip(plans) {
            let mut seen = std::collections::BTreeSet::new();
            for machine in on {
                if seen.insert(machine) {
                    relations.push((*id, "runs_on", machine));
                }
            }
            for service in needs {
                if seen.insert(service) {
                    relations.push((*id, "depends_on", service));
                }
            }
        }
        by_tier.push(ids);
    }
    estate.services = by_tier.into_iter().flatten().collect();

    let written = 40 + machines + estate.services.len();
    let software = cis.saturating_sub(written);
    const PRODUCTS: [&str; 8] = [
        "nginx",
        "postgresql",
        "openjdk",
        "redis",
        "node",
        "python",
        "tomcat",
        "haproxy",
    ];
    let mut on = Vec::with_capacity(software);
    let mut values = Vec::with_capacity(software);
    for i in 0..software {
        let machine = rng.below(all_machines.len());
        on.push(all_machines[machine]);
        values.push(item(
            "software",
            format!("{} #{i} on machine {machine}", PRODUCTS[i % PRODUCTS.len()]),
            None,
            None,
        ));
    }
    let ids = insert_items(db, values, now).await?;
    for (id, machine) in ids.iter().zip(on) {
        relations.push((*id, "installed_on", machine));
    }
    estate.software = ids.len();
    estate.relations = insert_relations(db, relations, now).await?;
    Ok(estate)
}

/// `count` roots, in a fixed mix: 1 % core switches, 9 % distribution switches, 30 %
/// hosts, 10 % VMs, 50 % services; with the index of their kind in [`ROOT_KINDS`].
fn roots(estate: &Estate, seed: u64, count: usize) -> Vec<(usize, i64)> {
    let mut rng = SplitMix64::new(seed ^ 0x5eed);
    (0..count)
        .map(|_| {
            let roll = rng.below(100);
            let kind = match roll {
                0 => 0,
                1..=9 => 1,
                10..=39 => 2,
                40..=49 => 3,
                _ => 4,
            };
            let pool = match kind {
                0 => &estate.core,
                1 => &estate.distribution,
                2 => &estate.hosts,
                3 => &estate.vms,
                _ => &estate.services,
            };
            (kind, pool[rng.below(pool.len())])
        })
        .collect()
}

/// One impact query's result: the kind of root, the latency, how many items it named.
struct Measured {
    kind: usize,
    latency: Duration,
    items: usize,
}

/// Runs the impact queries for `roots`, `clients` at a time.
async fn run_impacts(
    server: &Server,
    roots: &[(usize, i64)],
    clients: usize,
) -> anyhow::Result<(Duration, Vec<Measured>)> {
    let started = Instant::now();
    let results: Vec<anyhow::Result<Measured>> = futures::stream::iter(roots.iter().copied())
        .map(|(kind, id)| async move {
            let sent = Instant::now();
            let response = server
                .http
                .get(format!("{}/api/v1/cis/{id}/impact", server.url))
                .bearer_auth(&server.token)
                .send()
                .await?;
            let status = response.status();
            let body = response.bytes().await?;
            let latency = sent.elapsed();
            if !status.is_success() {
                bail!(
                    "impact of {id} answered {status}: {}",
                    String::from_utf8_lossy(&body)
                );
            }
            let impact: Value = serde_json::from_slice(&body)?;
            let items = impact["down"].as_array().map_or(0, Vec::len)
                + impact["degraded"].as_array().map_or(0, Vec::len);
            Ok(Measured {
                kind,
                latency,
                items,
            })
        })
        .buffer_unordered(clients.max(1))
        .collect()
        .await;
    let elapsed = started.elapsed();
    Ok((elapsed, results.into_iter().collect::<Result<_, _>>()?))
}

pub(crate) async fn impact(
    target: &Target,
    cis: usize,
    queries: usize,
    clients: usize,
    runs: usize,
) -> anyhow::Result<()> {
    let backend = if target.postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let scratch = Scratch::new(target.postgres.as_deref()).await?;
    let started = Instant::now();
    let estate = {
        let app = scratch.location.open().await?;
        create_admin(&app).await?;
        let directory = Generator::new(target.seed, Scale::DEMO).directory().clone();
        opsdesk_seed::demo::create_directory(&app, &directory).await?;
        let organizations: Vec<i64> = {
            let mut conn = app.db().reader().await?;
            sqlx::query_as::<_, (i64,)>("SELECT id FROM organizations ORDER BY id")
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .map(|(id,)| id)
                .collect()
        };
        let estate = build_estate(app.db(), target.seed, cis, &organizations, app.now_ms()).await?;
        app.db().clone().close().await;
        estate
    };
    println!(
        "impact: {} items ({} switches, {} hosts, {} VMs, {} services, {} software) and {} relations loaded in {:.0} s, {backend}",
        40 + estate.hosts.len() + estate.vms.len() + estate.services.len() + estate.software,
        estate.core.len() + estate.distribution.len(),
        estate.hosts.len(),
        estate.vms.len(),
        estate.services.len(),
        estate.software,
        estate.relations,
        started.elapsed().as_secs_f64()
    );
    let server = Server::start(&target.opsdesk, &scratch.location).await?;
    // One untimed pass over a tenth warms the caches, as on a server up for a while.
    run_impacts(
        &server,
        &roots(&estate, target.seed + 1, queries / 10),
        clients,
    )
    .await?;
    println!("  {queries} queries per run, {clients} clients, {runs} runs");
    let mut rates = Vec::new();
    let mut p50s = Vec::new();
    let mut p95s = Vec::new();
    let mut p99s = Vec::new();
    let mut by_kind: BTreeMap<usize, (Vec<Duration>, Vec<usize>)> = BTreeMap::new();
    for run in 1..=runs {
        let list = roots(&estate, target.seed + 1 + run as u64, queries);
        let (elapsed, measured) = run_impacts(&server, &list, clients).await?;
        let mut all: Vec<Duration> = measured.iter().map(|m| m.latency).collect();
        all.sort();
        let rate = measured.len() as f64 / elapsed.as_secs_f64();
        let (p50, p95, p99) = (
            ms(percentile(&all, 50.0)),
            ms(percentile(&all, 95.0)),
            ms(percentile(&all, 99.0)),
        );
        println!(
            "  run {run}: {rate:.0} queries/s, p50 {p50:.1} ms, p95 {p95:.1} ms, p99 {p99:.1} ms"
        );
        rates.push(rate);
        p50s.push(p50);
        p95s.push(p95);
        p99s.push(p99);
        for m in measured {
            let entry = by_kind.entry(m.kind).or_default();
            entry.0.push(m.latency);
            entry.1.push(m.items);
        }
    }
    println!("  by kind of root, over all runs:");
    for (kind, (mut latencies, mut items)) in by_kind {
        latencies.sort();
        items.sort_unstable();
        println!(
            "    {:<20} {:>5} queries, {:>6} items affected (median), p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            ROOT_KINDS[kind],
            latencies.len(),
            items.get(items.len() / 2).copied().unwrap_or(0),
            ms(percentile(&latencies, 50.0)),
            ms(percentile(&latencies, 99.0)),
            ms(latencies.last().copied().unwrap_or_default())
        );
    }
    let (rss, hwm) = memory(server.pid())?;
    println!(
        "impact median over {runs} runs: {:.0} queries/s, p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms (target p99 < 50 ms); server VmRSS {rss:.0} MiB, VmHWM {hwm:.0} MiB",
        median(&mut rates),
        median(&mut p50s),
        median(&mut p95s),
        median(&mut p99s)
    );
    drop(server);
    scratch.remove().await?;
    Ok(())
}
