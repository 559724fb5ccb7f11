//! The scheduler: claims due checks from the database (leased to this node), runs them with
//! bounded concurrency, and records their results in batches. Several nodes may run it
//! against one PostgreSQL database: the leases give each check to exactly one of them, and a
//! dead node's checks are taken over once its leases lapse.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opsdesk_app::monitors::{CheckResult, DueCheck};
use opsdesk_app::{App, Clock};
use opsdesk_domain::monitor::{MonitorKind, ProbeOutcome};
use opsdesk_domain::network::{InterfaceRates, InterfaceSample, evaluate};
use opsdesk_network::{Prober, SnmpClient};
use tokio::sync::{OnceCell, Semaphore, mpsc, watch};

/// How the scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Checks running at once on this node.
    pub concurrency: usize,
    /// How often the database is asked for due checks.
    pub tick: Duration,
    /// Days raw results are kept before they are rolled up into hourly figures.
    pub raw_retention_days: i64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            concurrency: 512,
            tick: Duration::from_millis(250),
            raw_retention_days: 30,
        }
    }
}

/// Lags kept for percentiles.
const LAG_SAMPLES: usize = 100_000;
/// Results recorded per transaction at most.
const RECORD_BATCH: usize = 512;
/// Checks claimed per round at most.
const CLAIM_BATCH: usize = 1000;
/// How often old raw results are rolled up.
const ROLL_UP_EVERY: Duration = Duration::from_secs(3600);

/// What the scheduler has done, for metrics and benchmarks.
#[derive(Debug, Default)]
pub struct SchedulerStats {
    /// Checks finished and handed to the recorder.
    pub checks: AtomicU64,
    /// Results the database accepted.
    pub recorded: AtomicU64,
    /// Milliseconds between when a check was due and when it was claimed, newest last.
    lags: Mutex<VecDeque<i64>>,
}

impl SchedulerStats {
    fn lag(&self, lag_ms: i64) {
        if let Ok(mut lags) = self.lags.lock() {
            if lags.len() == LAG_SAMPLES {
                lags.pop_front();
            }
            lags.push_back(lag_ms.max(0));
        }
    }

    /// The `p`-th percentile (0-100) of recent scheduling lags in milliseconds.
    pub fn lag_percentile(&self, p: f64) -> Option<i64> {
        let mut lags: Vec<i64> = self.lags.lock().ok()?.iter().copied().collect();
        if lags.is_empty() {
            return None;
        }
        lags.sort_unstable();
        let rank = ((p / 100.0) * (lags.len() - 1) as f64).round() as usize;
        lags.get(rank.min(lags.len() - 1)).copied()
    }

    /// Forgets the lags measured so far (benchmarks skip the warm-up).
    pub fn reset_lags(&self) {
        if let Ok(mut lags) = self.lags.lock() {
            lags.clear();
        }
    }
}

/// Runs this node's share of the checks.
pub struct Scheduler {
    app: App,
    prober: Prober,
    snmp: Arc<SnmpPoller>,
    config: SchedulerConfig,
    stats: Arc<SchedulerStats>,
}

impl Scheduler {
    /// A scheduler for `app`.
    pub fn new(app: App, config: SchedulerConfig) -> Result<Self, String> {
        Ok(Self {
            snmp: Arc::new(SnmpPoller {
                client: OnceCell::new(),
                previous: Mutex::new(HashMap::new()),
                clock: app.clock(),
            }),
            app,
            prober: Prober::new()?,
            config,
            stats: Arc::new(SchedulerStats::default()),
        })
    }

    /// Counters and lags, shared with the running scheduler.
    pub fn stats(&self) -> Arc<SchedulerStats> {
        self.stats.clone()
    }

    /// Runs until `shutdown` turns true; checks already running finish and are recorded.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let concurrency = self.config.concurrency.max(1);
        let permits = Arc::new(Semaphore::new(concurrency));
        let (results, incoming) = mpsc::channel::<CheckResult>(concurrency * 2);
        let recorder = tokio::spawn(record(self.app.clone(), incoming, self.stats.clone()));
        let mut last_roll_up = tokio::time::Instant::now();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let claimed = self.round(&permits, &results).await;
            if last_roll_up.elapsed() >= ROLL_UP_EVERY {
                last_roll_up = tokio::time::Instant::now();
                if let Err(error) = self
                    .app
                    .roll_up_monitor_results(self.config.raw_retention_days)
                    .await
                {
                    tracing::warn!(%error, "could not roll up monitor results");
                }
            }
            if claimed == CLAIM_BATCH {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.tick) => {}
                _ = shutdown.changed() => {}
            }
        }
        // Wait for running checks, then let the recorder drain.
        let _ = permits.acquire_many(concurrency as u32).await;
        drop(results);
        let _ = recorder.await;
    }

    /// Claims what is due and free capacity allows, and starts it; returns how many.
    async fn round(&self, permits: &Arc<Semaphore>, results: &mpsc::Sender<CheckResult>) -> usize {
        let free = permits.available_permits().min(CLAIM_BATCH);
        if free == 0 {
            return 0;
        }
        match self.app.next_monitor_due().await {
            Ok(Some(due)) if due <= self.app.now_ms() => {}
            Ok(_) => return 0,
            Err(error) => {
                tracing::warn!(%error, "cannot read the monitor schedule");
                return 0;
            }
        }
        let checks = match self.app.claim_monitor_checks(free as i64).await {
            Ok(checks) => checks,
            Err(error) => {
                tracing::warn!(%error, "cannot claim monitor checks");
                return 0;
            }
        };
        let claimed_at = self.app.now_ms();
        let count = checks.len();
        for check in checks {
            self.stats.lag(claimed_at - check.due_at);
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let prober = self.prober.clone();
            let snmp = self.snmp.clone();
            let results = results.clone();
            let stats = self.stats.clone();
            let clock = self.app.clock();
            tokio::spawn(async move {
                let result = run_check(&prober, &snmp, check, clock.as_ref()).await;
                stats.checks.fetch_add(1, Ordering::Relaxed);
                // The recorder only stops after every sender is gone.
                let _ = results.send(result).await;
                drop(permit);
            });
        }
        count
    }
}

async fn run_check(
    prober: &Prober,
    snmp: &SnmpPoller,
    check: DueCheck,
    clock: &dyn Clock,
) -> CheckResult {
    let timeout = Duration::from_millis(u64::try_from(check.timeout_ms).unwrap_or(10_000));
    let (outcome, rates) = match check.kind {
        // A heartbeat's status comes from its pings; the app works it out when recording.
        MonitorKind::Heartbeat => (None, None),
        MonitorKind::SnmpInterface => {
            let (outcome, rates) = snmp.check(&check, timeout).await;
            (Some(outcome), rates)
        }
        kind => (
            Some(
                prober
                    .check(kind, &check.target, &check.settings, timeout)
                    .await,
            ),
            None,
        ),
    };
    CheckResult {
        monitor_id: check.monitor_id,
        state_version: check.state_version,
        at: clock.now().as_millisecond(),
        outcome,
        rates,
    }
}

/// Checks network devices' interfaces: one SNMP client (one socket, the v3 engines and keys
/// it learnt) for every device, and each interface's previous sample, for its rates.
struct SnmpPoller {
    client: OnceCell<Result<SnmpClient, String>>,
    previous: Mutex<HashMap<i64, InterfaceSample>>,
    clock: opsdesk_app::SharedClock,
}

impl SnmpPoller {
    async fn check(
        &self,
        check: &DueCheck,
        timeout: Duration,
    ) -> (ProbeOutcome, Option<InterfaceRates>) {
        let started = std::time::Instant::now();
        let failed = |error: String| ProbeOutcome {
            ok: false,
            latency_ms: Some(i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)),
            error: Some(error),
        };
        let (Some(interface), Some((address, credentials))) =
            (check.settings.interface, &check.snmp)
        else {
            return (
                failed("the monitor's network device is gone".to_owned()),
                None,
            );
        };
        let client = self
            .client
            .get_or_init(|| async {
                let clock = self.clock.clone();
                SnmpClient::new()
                    .await
                    .map(|client| client.with_clock(move || clock.now().as_millisecond()))
                    .map_err(|e| e.to_string())
            })
            .await;
        let client = match client {
            Ok(client) => client,
            Err(error) => return (failed(error.clone()), None),
        };
        let polled = client
            .poll(address, credentials, &[interface.if_index], timeout)
            .await;
        let sample = match polled {
            Ok(samples) => match samples
                .into_iter()
                .find(|(index, _)| *index == interface.if_index)
            {
                Some((_, sample)) => sample,
                None => {
                    return (
                        failed(format!(
                            "the device has no interface {}",
                            interface.if_index
                        )),
                        None,
                    );
                }
            },
            Err(error) => return (failed(error.to_string()), None),
        };
        let previous = self
            .previous
            .lock()
            .ok()
            .and_then(|mut previous| previous.insert(check.monitor_id, sample));
        let verdict = evaluate(
            &interface.thresholds,
            previous.as_ref(),
            &sample,
            interface.speed_bps,
        );
        let failing = verdict.is_failure();
        let outcome = ProbeOutcome {
            ok: !failing,
            latency_ms: Some(i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)),
            error: verdict.reason.filter(|_| failing),
        };
        (outcome, verdict.rates)
    }
}

/// Writes results in batches: one transaction for everything that finished meanwhile.
async fn record(app: App, mut incoming: mpsc::Receiver<CheckResult>, stats: Arc<SchedulerStats>) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while incoming.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        let results = std::mem::take(&mut batch);
        match app.record_checks(results).await {
            Ok(recorded) => {
                stats.recorded.fetch_add(recorded as u64, Ordering::Relaxed);
            }
            Err(error) => tracing::error!(%error, "could not record check results"),
        }
    }
}
