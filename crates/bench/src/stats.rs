//! Percentiles, medians and the per-run tally the scenarios print.

use std::time::Duration;

/// The `p`-th percentile (0–100) of sorted `values`, by nearest rank.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The rate and latencies of each run of a posting benchmark, and their medians.
#[derive(Default)]
pub(crate) struct Tally {
    rates: Vec<f64>,
    p50s: Vec<f64>,
    p99s: Vec<f64>,
}

impl Tally {
    /// Records run `run`: `count` requests of `unit` in `elapsed`; prints it and returns
    /// the rate.
    pub(crate) fn record(
        &mut self,
        run: usize,
        unit: &str,
        count: usize,
        elapsed: Duration,
        mut latencies: Vec<Duration>,
    ) -> f64 {
        latencies.sort();
        let rate = count as f64 / elapsed.as_secs_f64();
        let (p50, p99) = (percentile(&latencies, 50.0), percentile(&latencies, 99.0));
        println!(
            "  run {run}: {rate:.0} {unit}/s, p50 {:.1} ms, p99 {:.1} ms",
            ms(p50),
            ms(p99)
        );
        self.rates.push(rate);
        self.p50s.push(ms(p50));
        self.p99s.push(ms(p99));
        rate
    }

    /// Prints the medians over the runs, with the scenario's `target`.
    pub(crate) fn summary(&mut self, name: &str, unit: &str, target: &str) {
        println!(
            "{name} median over {} runs: {:.0} {unit}/s, p50 {:.1} ms, p99 {:.1} ms ({target})",
            self.rates.len(),
            median(&mut self.rates),
            median(&mut self.p50s),
            median(&mut self.p99s)
        );
    }
}
