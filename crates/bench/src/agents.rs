//! The host agents scenario: thousands of simulated agents enrolled over the API, each
//! sending a first full report, then the steady state at the real rate (every agent once
//! per 5 minutes, 1 % of its packages changed), with the server's CPU, memory and latency;
//! and the real `opsdesk agent` binary's own cost.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use opsdesk_domain::inventory::{
    Disk, Hardware, ListeningService, LocalUser, Nic, Os, Package, PendingUpdate, Report,
    ReportReply, Section, section_hash,
};
use opsdesk_seed::generator::SplitMix64;
use serde_json::Value;

use crate::Target;
use crate::harness::{Scratch, Server, create_admin, memory};
use crate::stats::{median, ms, percentile};

struct SimAgent {
    index: usize,
    hostname: String,
    credential: String,
}

/// Package names as on a Debian server: a few families, numbered.
fn package_name(i: usize) -> String {
    const FAMILIES: [&str; 10] = [
        "lib", "python3-", "perl-", "fonts-", "golang-", "node-", "ruby-", "linux-", "x11-",
        "gir1.2-",
    ];
    format!("{}pkg{i:04}", FAMILIES[i % FAMILIES.len()])
}

/// Whether package `i` of agent `agent` got a new version in period `period` (1 %, at
/// least one, a run of neighbours: an upgrade touches related packages).
fn upgraded(agent: usize, period: usize, i: usize, packages: usize) -> bool {
    let changed = (packages / 100).max(1);
    let start = (SplitMix64::new(((agent as u64) << 20) | period as u64).next_u64()
        % packages.max(1) as u64) as usize;
    (i + packages - start) % packages.max(1) < changed
}

/// Agent `agent`'s packages in `period` (0: its first report), sorted by name as agents
/// send them.
fn packages_of(agent: usize, period: usize, packages: usize) -> Vec<Package> {
    let mut list: Vec<Package> = (0..packages)
        .map(|i| {
            let bumps = (1..=period)
                .filter(|p| upgraded(agent, *p, i, packages))
                .count();
            Package {
                name: package_name(i),
                version: format!(
                    "{}.{}.{}-{}+deb12u{bumps}",
                    1 + i % 7,
                    i % 13,
                    i % 4,
                    1 + i % 3
                ),
                architecture: Some(if i % 9 == 0 { "all" } else { "amd64" }.to_owned()),
                manager: "dpkg".to_owned(),
            }
        })
        .collect();
    list.sort();
    list
}

/// Agent `agent`'s report for `period`: every section's hash, and in full the sections in
/// `full`.
fn report_of(agent: &SimAgent, period: usize, packages: usize, full: &[Section]) -> Report {
    let hardware = Hardware {
        vendor: Some("Dell Inc.".into()),
        model: Some("PowerEdge R650".into()),
        serial_number: Some(format!("SN{:08}", agent.index)),
        smbios_uuid: Some(format!("4c4c4544-0000-4000-8000-{:012x}", agent.index)),
        cpu_model: Some("Intel(R) Xeon(R) Silver 4314".into()),
        cpu_cores: 16,
        memory_bytes: 64 << 30,
        disks: vec![Disk {
            name: "sda".into(),
            size_bytes: 960 << 30,
            model: Some("PERC H755".into()),
        }],
        nics: vec![Nic {
            name: "eno1".into(),
            mac: Some(format!(
                "02:00:{:02x}:{:02x}:{:02x}:{:02x}",
                (agent.index >> 24) & 0xff,
                (agent.index >> 16) & 0xff,
                (agent.index >> 8) & 0xff,
                agent.index & 0xff
            )),
            addresses: vec![format!(
                "10.{}.{}.{}/16",
                agent.index >> 16,
                (agent.index >> 8) & 0xff,
                agent.index & 0xff
            )],
        }],
    };
    let os = Os {
        name: "Debian GNU/Linux 12 (bookworm)".into(),
        version: Some("12".into()),
        kernel: "6.1.0-25-amd64".into(),
        architecture: "x86_64".into(),
    };
    let packages = packages_of(agent.index, period, packages);
    let updates: Vec<PendingUpdate> = (0..3)
        .map(|i| PendingUpdate {
            name: package_name(i * 7),
            current: "1.0-1".into(),
            candidate: "1.0-2".into(),
            security: i == 0,
        })
        .collect();
    let services = vec![ListeningService {
        protocol: "tcp".into(),
        address: "0.0.0.0".into(),
        port: 22,
        process: Some("sshd".into()),
    }];
    let users = vec![LocalUser {
        name: "admin".into(),
        uid: 1000,
        home: "/home/admin".into(),
        shell: "/bin/bash".into(),
    }];
    let hashes = BTreeMap::from([
        (Section::Hardware, section_hash(&hardware)),
        (Section::Os, section_hash(&os)),
        (Section::Packages, section_hash(&packages)),
        (Section::Updates, section_hash(&updates)),
        (Section::Services, section_hash(&services)),
        (Section::Users, section_hash(&users)),
    ]);
    let send = |section: Section| full.contains(&section);
    Report {
        hostname: agent.hostname.clone(),
        uptime_seconds: 86_400 + period as u64 * 300,
        hashes,
        hardware: send(Section::Hardware).then_some(hardware),
        os: send(Section::Os).then_some(os),
        packages: send(Section::Packages).then_some(packages),
        updates: send(Section::Updates).then_some(updates),
        services: send(Section::Services).then_some(services),
        users: send(Section::Users).then_some(users),
    }
}

/// What sending one report took: the answered request's latency, the 429s before it, and
/// the sections the server asked for again.
struct Sent {
    latency: Duration,
    limited: usize,
    resend: usize,
}

/// Sends `report` as `agent`, waiting as told by `Retry-After` after a 429 (at most 10
/// times).
async fn send_report(
    http: &reqwest::Client,
    url: &str,
    agent: &SimAgent,
    report: &Report,
) -> anyhow::Result<Sent> {
    let body = serde_json::to_vec(report)?;
    let mut limited = 0;
    loop {
        let sent = Instant::now();
        let response = http
            .post(url)
            .bearer_auth(&agent.credential)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await?;
        let status = response.status();
        if status.as_u16() == 429 && limited < 10 {
            limited += 1;
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(30);
            tokio::time::sleep(Duration::from_secs(wait)).await;
            continue;
        }
        let text = response.text().await?;
        let latency = sent.elapsed();
        if !status.is_success() {
            bail!("report of {} answered {status}: {text}", agent.hostname);
        }
        let reply: ReportReply = serde_json::from_str(&text)?;
        return Ok(Sent {
            latency,
            limited,
            resend: reply.resend.len(),
        });
    }
}

/// Server CPU time so far (user + system), from /proc.
pub(crate) fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the command come state (3rd field) …; utime and stime are the 14th and 15th.
    let ticks = |n: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(n - 3)
            .context("short /proc stat")?
            .parse::<f64>()?)
    };
    Ok((ticks(14)? + ticks(15)?) / clock_ticks())
}

/// The kernel's clock ticks per second, asked once: the real agent's cost is sampled often.
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Latency percentiles of `latencies` as "p50 … ms, p99 … ms".
fn spread(latencies: &mut [Duration]) -> String {
    latencies.sort();
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(percentile(latencies, 50.0)),
        ms(percentile(latencies, 99.0)),
        ms(latencies.last().copied().unwrap_or_default())
    )
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn agents(
    target: &Target,
    count: usize,
    packages: usize,
    window: u64,
    period_seconds: f64,
    clients: usize,
    agent_runs: usize,
    runs: usize,
) -> anyhow::Result<()> {
    let backend = if target.postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "agents: {count} agents of {packages} packages, one report each per {period_seconds:.0} s, measured for {window} s, {runs} runs, {backend}"
    );
    let mut cpu = Vec::new();
    let mut p50s = Vec::new();
    let mut p99s = Vec::new();
    for run in 1..=runs {
        let scratch = Scratch::new(target.postgres.as_deref()).await?;
        {
            let app = scratch.location.open().await?;
            create_admin(&app).await?;
            app.db().clone().close().await;
        }
        let server = Server::start(&target.opsdesk, &scratch.location).await?;
        let started = Instant::now();
        let agents = enrol_all(&server, count, clients).await?;
        println!(
            "  run {run}: {count} agents enrolled in {:.0} s ({:.0}/s)",
            started.elapsed().as_secs_f64(),
            count as f64 / started.elapsed().as_secs_f64()
        );
        let agents = Arc::new(agents);
        let url = format!("{}/api/v1/agents/report", server.url);

        // First reports: everything in full, as fast as the server takes them.
        let started = Instant::now();
        let cpu_before = cpu_seconds(server.pid())?;
        let all = [
            Section::Hardware,
            Section::Os,
            Section::Packages,
            Section::Updates,
            Section::Services,
            Section::Users,
        ];
        let sent: Vec<anyhow::Result<Sent>> = futures::stream::iter(agents.iter())
            .map(|agent| {
                let http = server.http.clone();
                let url = url.clone();
                async move {
                    let report = report_of(agent, 0, packages, &all);
                    send_report(&http, &url, agent, &report).await
                }
            })
            .buffer_unordered(4)
            .collect()
            .await;
        let first: Vec<Sent> = sent.into_iter().collect::<Result<_, _>>()?;
        let elapsed = started.elapsed().as_secs_f64();
        let mut latencies: Vec<Duration> = first.iter().map(|s| s.latency).collect();
        println!(
            "    first full reports: {count} in {elapsed:.0} s ({:.0}/s), {}, {} answered 429, server CPU {:.0} % of a core",
            count as f64 / elapsed,
            spread(&mut latencies),
            first.iter().map(|s| s.limited).sum::<usize>(),
            (cpu_seconds(server.pid())? - cpu_before) / elapsed * 100.0
        );

        // The steady state: agent k's report of period p is due at (p - 1 + k / count)
        // periods into the window.
        let interval = Duration::from_secs_f64(period_seconds / count.max(1) as f64);
        let window = Duration::from_secs(window);
        let in_flight = Arc::new(tokio::sync::Semaphore::new(256));
        let mut tasks = tokio::task::JoinSet::new();
        let mut late = 0usize;
        let started = Instant::now();
        let cpu_before = cpu_seconds(server.pid())?;
        let mut k = 0usize;
        loop {
            let due = started + interval * u32::try_from(k).unwrap_or(u32::MAX);
            if due >= started + window {
                break;
            }
            tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
            let permit = in_flight.clone().acquire_owned().await?;
            if started.elapsed() > due.duration_since(started) + Duration::from_secs(1) {
                late += 1;
            }
            let (agents, http, url) = (agents.clone(), server.http.clone(), url.clone());
            let (index, period) = (k % count.max(1), 1 + k / count.max(1));
            tasks.spawn(async move {
                let _permit = permit;
                let agent = agents.get(index).context("no such agent")?;
                let report = report_of(agent, period, packages, &[Section::Packages]);
                send_report(&http, &url, agent, &report).await
            });
            k += 1;
        }
        let mut steady = Vec::with_capacity(k);
        while let Some(done) = tasks.join_next().await {
            steady.push(done??);
        }
        let elapsed = started.elapsed().as_secs_f64();
        let used = cpu_seconds(server.pid())? - cpu_before;
        let (rss, hwm) = memory(server.pid())?;
        let mut latencies: Vec<Duration> = steady.iter().map(|s| s.latency).collect();
        latencies.sort();
        let share = used / elapsed * 100.0;
        println!(
            "    steady state: {} reports in {elapsed:.0} s ({:.1}/s), {}, {} answered 429, {} sections asked again, {late} sent over 1 s late; server CPU {used:.1} s = {share:.1} % of a core, VmRSS {rss:.0} MiB, VmHWM {hwm:.0} MiB",
            steady.len(),
            steady.len() as f64 / elapsed,
            spread(&mut latencies),
            steady.iter().map(|s| s.limited).sum::<usize>(),
            steady.iter().map(|s| s.resend).sum::<usize>(),
        );
        cpu.push(share);
        p50s.push(ms(percentile(&latencies, 50.0)));
        p99s.push(ms(percentile(&latencies, 99.0)));
        if run == 1 {
            real_agent(&server, &target.opsdesk, agent_runs).await?;
        }
        drop(server);
        scratch.remove().await?;
    }
    println!(
        "agents steady state, median over {runs} runs: server CPU {:.1} % of a core (target ≤ 25 % on SQLite), report p50 {:.1} ms, p99 {:.1} ms",
        median(&mut cpu),
        median(&mut p50s),
        median(&mut p99s)
    );
    Ok(())
}

/// Makes `count` enrolment tokens as the admin and enrols an agent with each, `clients`
/// at a time.
async fn enrol_all(server: &Server, count: usize, clients: usize) -> anyhow::Result<Vec<SimAgent>> {
    let enrolled: Vec<anyhow::Result<SimAgent>> = futures::stream::iter(0..count)
        .map(|index| async move {
            let token = server
                .post_json("/api/v1/agent-enrolments", &serde_json::json!({}))
                .await?;
            let token = token["token"]
                .as_str()
                .context("an enrolment has a token")?
                .to_owned();
            let hostname = format!("srv{index:05}.bench.example");
            let response = server
                .http
                .post(format!("{}/api/v1/agents/enrol", server.url))
                .json(&serde_json::json!({"token": token, "hostname": hostname}))
                .send()
                .await?;
            let status = response.status();
            let text = response.text().await?;
            if !status.is_success() {
                bail!("enrol answered {status}: {text}");
            }
            let answer: Value = serde_json::from_str(&text)?;
            Ok(SimAgent {
                index,
                hostname,
                credential: answer["credential"]
                    .as_str()
                    .context("an enrolment answer has a credential")?
                    .to_owned(),
            })
        })
        .buffer_unordered(clients.max(1))
        .collect()
        .await;
    let mut agents: Vec<SimAgent> = enrolled.into_iter().collect::<Result<_, _>>()?;
    agents.sort_by_key(|a| a.index);
    Ok(agents)
}

/// Wall time, CPU time (user + system) and peak memory of one command: with the programs
/// it runs (apt-get, dpkg-query), as `/usr/bin/time` counts, and of its own process alone.
struct Cost {
    wall: f64,
    cpu: f64,
    max_rss_mib: f64,
    own_cpu: f64,
    own_hwm_mib: f64,
}

/// The first process `parent` started, if it still runs.
fn first_child(parent: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Runs `binary args` under `/usr/bin/time`; what it cost. The process's own CPU time and
/// peak memory (VmHWM) are read from /proc every 5 ms while it runs, so they miss at
/// most its last few milliseconds.
fn measure(binary: &Path, args: &[&str]) -> anyhow::Result<Cost> {
    let notes = tempfile::NamedTempFile::new()?;
    let errors = tempfile::NamedTempFile::new()?;
    let mut time = Command::new("/usr/bin/time")
        .args(["-f", "%e %U %S %M", "-o"])
        .arg(notes.path())
        .arg(binary)
        .args(args)
        .env("OPSDESK_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(errors.reopen()?)
        .spawn()
        .context("cannot run /usr/bin/time (Debian: apt install time)")?;
    let (mut own_cpu, mut own_hwm_mib) = (0.0_f64, 0.0_f64);
    let status = loop {
        if let Some(status) = time.try_wait()? {
            break status;
        }
        if let Some(pid) = first_child(time.id())
            && let (Ok(cpu), Ok((_, hwm))) = (cpu_seconds(pid), memory(pid))
        {
            own_cpu = own_cpu.max(cpu);
            own_hwm_mib = own_hwm_mib.max(hwm);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    if !status.success() {
        bail!(
            "{} {} failed: {}",
            binary.display(),
            args.join(" "),
            std::fs::read_to_string(errors.path())?
        );
    }
    let text = std::fs::read_to_string(notes.path())?;
    let numbers: Vec<f64> = text
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    let [wall, user, system, rss_kib] = numbers[..] else {
        bail!("unexpected /usr/bin/time output: {text}");
    };
    Ok(Cost {
        wall,
        cpu: user + system,
        max_rss_mib: rss_kib / 1024.0,
        own_cpu,
        own_hwm_mib,
    })
}

/// The real agent against the loaded server: `opsdesk agent enrol`, then `agent run
/// --once` twice (a first full report, then one with nothing changed), `runs` times.
async fn real_agent(server: &Server, binary: &Path, runs: usize) -> anyhow::Result<()> {
    let steps = ["enrol", "first run --once", "second run --once"];
    let mut costs: Vec<Vec<Cost>> = steps.iter().map(|_| Vec::new()).collect();
    for _ in 0..runs {
        let token = server
            .post_json("/api/v1/agent-enrolments", &serde_json::json!({}))
            .await?;
        let token = token["token"].as_str().context("no token")?.to_owned();
        let state = tempfile::tempdir()?;
        let dir = state.path().display().to_string();
        let enrol = [
            "agent",
            "enrol",
            "--server",
            &server.url,
            "--token",
            &token,
            "--state-dir",
            &dir,
        ];
        let run = ["agent", "run", "--once", "--state-dir", &dir];
        let (b, e, r) = (
            binary.to_path_buf(),
            enrol.map(str::to_owned),
            run.map(str::to_owned),
        );
        let measured = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Cost>> {
            let e: Vec<&str> = e.iter().map(String::as_str).collect();
            let r: Vec<&str> = r.iter().map(String::as_str).collect();
            Ok(vec![measure(&b, &e)?, measure(&b, &r)?, measure(&b, &r)?])
        })
        .await??;
        for (list, cost) in costs.iter_mut().zip(measured) {
            list.push(cost);
        }
    }
    println!("    the real agent (`opsdesk agent`), median of {runs}:");
    for (step, list) in steps.iter().zip(costs) {
        let mut wall: Vec<f64> = list.iter().map(|c| c.wall).collect();
        let mut cpu: Vec<f64> = list.iter().map(|c| c.cpu).collect();
        let mut rss: Vec<f64> = list.iter().map(|c| c.max_rss_mib).collect();
        let mut own_cpu: Vec<f64> = list.iter().map(|c| c.own_cpu).collect();
        let mut own_hwm: Vec<f64> = list.iter().map(|c| c.own_hwm_mib).collect();
        println!(
            "      {step:<18} wall {:.2} s, CPU {:.2} s, max RSS {:.0} MiB with the programs it runs; its own process CPU {:.2} s, VmHWM {:.1} MiB",
            median(&mut wall),
            median(&mut cpu),
            median(&mut rss),
            median(&mut own_cpu),
            median(&mut own_hwm)
        );
    }
    Ok(())
}
