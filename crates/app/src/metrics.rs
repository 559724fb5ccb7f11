//! Counters for the Prometheus endpoint. A handful of atomics: the set of series is small
//! and fixed, so a metrics library would add more than it saves.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the request-latency histogram buckets, in seconds.
const LATENCY_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Request and job counters shared across the process.
#[derive(Default)]
pub struct Metrics {
    /// Requests by (route, method, status class).
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<Histogram>,
    jobs_done: AtomicU64,
    jobs_failed: AtomicU64,
}

impl Metrics {
    /// Records one answered request.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests
                .entry((route.to_owned(), method.to_owned(), status))
                .or_default() += 1;
        }
        if let Ok(mut latency) = self.latency.lock() {
            for (bucket, bound) in latency.buckets.iter_mut().zip(LATENCY_BUCKETS) {
                if seconds <= bound {
                    *bucket += 1;
                }
            }
            latency.count += 1;
            latency.sum += seconds;
        }
    }

    pub(crate) fn job_done(&self) {
        self.jobs_done.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn job_failed(&self) {
        self.jobs_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition, with job queue depths passed in by the caller.
    pub fn render(&self, job_counts: &[(String, i64)]) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP opsdesk_http_requests_total HTTP requests answered."
        );
        let _ = writeln!(out, "# TYPE opsdesk_http_requests_total counter");
        if let Ok(requests) = self.requests.lock() {
            for ((route, method, status), count) in requests.iter() {
                let _ = writeln!(
                    out,
                    "opsdesk_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {count}",
                    route.replace('\\', "\\\\").replace('"', "\\\"")
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP opsdesk_http_request_duration_seconds Time to answer HTTP requests."
        );
        let _ = writeln!(
            out,
            "# TYPE opsdesk_http_request_duration_seconds histogram"
        );
        if let Ok(latency) = self.latency.lock() {
            for (count, bound) in latency.buckets.iter().zip(LATENCY_BUCKETS) {
                let _ = writeln!(
                    out,
                    "opsdesk_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "opsdesk_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}",
                latency.count
            );
            let _ = writeln!(
                out,
                "opsdesk_http_request_duration_seconds_sum {}",
                latency.sum
            );
            let _ = writeln!(
                out,
                "opsdesk_http_request_duration_seconds_count {}",
                latency.count
            );
        }
        let _ = writeln!(out, "# HELP opsdesk_jobs Jobs in the outbox by status.");
        let _ = writeln!(out, "# TYPE opsdesk_jobs gauge");
        for status in ["queued", "running", "done", "dead"] {
            let count = job_counts
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            let _ = writeln!(out, "opsdesk_jobs{{status=\"{status}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "# HELP opsdesk_jobs_completed_total Jobs this node completed."
        );
        let _ = writeln!(out, "# TYPE opsdesk_jobs_completed_total counter");
        let _ = writeln!(
            out,
            "opsdesk_jobs_completed_total {}",
            self.jobs_done.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP opsdesk_jobs_failed_total Job attempts on this node that failed."
        );
        let _ = writeln!(out, "# TYPE opsdesk_jobs_failed_total counter");
        let _ = writeln!(
            out,
            "opsdesk_jobs_failed_total {}",
            self.jobs_failed.load(Ordering::Relaxed)
        );
        out
    }
}
