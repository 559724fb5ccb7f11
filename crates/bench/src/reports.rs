//! `reports`: the report (GET /api/v1/reports) over 30-day periods of a desk `load` filled
//! with a year of history, one request at a time through a real `opsdesk serve`, every other
//! one in New York's time zone.

use std::time::Duration;

use anyhow::Context;

use crate::Target;
use crate::harness::{Location, Server};
use crate::stats::{median, ms, percentile};

/// Days each report covers.
const DAYS: i64 = 30;

/// The 30-day periods asked for: ending on days spread over the loaded year, newest first,
/// the first ending today (the page's default).
fn periods(count: usize, today: jiff::civil::Date) -> anyhow::Result<Vec<(String, String)>> {
    (0..count as i64)
        .map(|n| {
            let to = today.checked_sub(jiff::Span::new().days((n * 7) % 330))?;
            let from = to.checked_sub(jiff::Span::new().days(DAYS - 1))?;
            Ok((from.to_string(), to.to_string()))
        })
        .collect()
}

async fn ask_all(server: &Server, periods: &[(String, String)]) -> anyhow::Result<Vec<Duration>> {
    // Every other report in a zone whose days are not UTC's.
    let queries = periods.iter().enumerate().map(|(n, (from, to))| {
        let zone = if n % 2 == 0 {
            "UTC"
        } else {
            "America/New_York"
        };
        [("from", from.as_str()), ("to", to.as_str()), ("tz", zone)]
    });
    server.time_gets("/api/v1/reports", queries).await
}

pub(crate) async fn reports(
    target: &Target,
    location: &Location,
    count: usize,
    runs: usize,
) -> anyhow::Result<()> {
    let server = Server::start(&target.opsdesk, location).await?;
    // The default report covers the last 30 days up to the server's today.
    let sample = server
        .http
        .get(format!("{}/api/v1/reports", server.url))
        .bearer_auth(&server.token)
        .send()
        .await?
        .json::<serde_json::Value>()
        .await?;
    let today: jiff::civil::Date = sample["to"]
        .as_str()
        .context("the report names its last day")?
        .parse()?;
    let periods = periods(count, today)?;
    println!(
        "reports: {count} reports of {DAYS} days per run, {runs} runs; the latest counts {} created, {} resolved, {} open",
        sample["created"]["value"],
        sample["resolved"]["value"],
        sample["backlog"].as_array().map_or(0, |ages| ages
            .iter()
            .filter_map(|a| a["tickets"].as_i64())
            .sum::<i64>())
    );
    // One untimed pass warms the page cache, as a server that has been up a while would be.
    ask_all(&server, &periods).await?;
    let (mut p50s, mut p99s) = (Vec::new(), Vec::new());
    for run in 1..=runs {
        let latencies = ask_all(&server, &periods).await?;
        let (p50, p99) = (
            ms(percentile(&latencies, 50.0)),
            ms(percentile(&latencies, 99.0)),
        );
        println!("  run {run}: p50 {p50:.1} ms, p99 {p99:.1} ms");
        p50s.push(p50);
        p99s.push(p99);
    }
    println!(
        "reports, median over {runs} runs of {count}: p50 {:.1} ms, p99 {:.1} ms (target p99 < 200 ms)",
        median(&mut p50s),
        median(&mut p99s)
    );
    Ok(())
}
