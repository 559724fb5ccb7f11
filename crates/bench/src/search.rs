//! Searches over a loaded desk through the API, then the server's memory.

use std::time::Duration;

use opsdesk_seed::{Generator, Scale};

use crate::Target;
use crate::harness::{Location, Server, memory};
use crate::stats::{median, ms, percentile};

/// The two kinds of query measured: full text with a status filter, and filters only.
fn queries(seed: u64, count: usize) -> (Vec<String>, Vec<String>) {
    let mut generator = Generator::new(seed, Scale::LARGE);
    let statuses = ["open", "open,pending", "new,open", "resolved"];
    let text = (0..count)
        .map(|i| {
            let [a, b] = generator.search_words();
            format!("status:{} {a} {b}", statuses[i % statuses.len()])
        })
        .collect();
    let groups: Vec<String> = generator
        .directory()
        .groups
        .iter()
        .map(|g| g.name.clone())
        .collect();
    let filters = (0..count)
        .map(|i| match i % 3 {
            0 => format!("status:open group:\"{}\"", groups[i % groups.len()]),
            1 => format!("status:pending priority:P{}", 1 + i % 5),
            _ => format!(
                "is:unassigned status:new sort:-created group:\"{}\"",
                groups[i % groups.len()]
            ),
        })
        .collect();
    (text, filters)
}

/// Runs `queries` one after another; returns each latency.
async fn run_queries(server: &Server, queries: &[String]) -> anyhow::Result<Vec<Duration>> {
    server
        .time_gets(
            "/api/v1/tickets",
            queries.iter().map(|q| [("q", q.as_str())]),
        )
        .await
}

pub(crate) async fn search(
    target: &Target,
    location: &Location,
    count: usize,
    runs: usize,
) -> anyhow::Result<()> {
    let server = Server::start(&target.opsdesk, location).await?;
    let (text, filters) = queries(target.seed, count);
    // One untimed pass warms the page cache, as a server that has been up a while would be.
    run_queries(&server, &text).await?;
    run_queries(&server, &filters).await?;
    let mut results: Vec<(&str, Vec<f64>, Vec<f64>)> = vec![
        ("text + status", Vec::new(), Vec::new()),
        ("filters only", Vec::new(), Vec::new()),
    ];
    for run in 1..=runs {
        for (kind, list) in [(0, &text), (1, &filters)] {
            let latencies = run_queries(&server, list).await?;
            let (p50, p99) = (
                ms(percentile(&latencies, 50.0)),
                ms(percentile(&latencies, 99.0)),
            );
            println!(
                "  run {run} {}: p50 {p50:.1} ms, p99 {p99:.1} ms",
                results[kind].0
            );
            results[kind].1.push(p50);
            results[kind].2.push(p99);
        }
    }
    for (kind, p50s, p99s) in &mut results {
        println!(
            "search {kind}, median over {runs} runs of {count} queries: p50 {:.1} ms, p99 {:.1} ms (target p99 ≤ 50 ms)",
            median(p50s),
            median(p99s)
        );
    }
    let (rss, hwm) = memory(server.pid())?;
    println!(
        "memory after the search workload: VmRSS {rss:.0} MiB, VmHWM {hwm:.0} MiB (target RSS ≤ 150 MiB)"
    );
    Ok(())
}
