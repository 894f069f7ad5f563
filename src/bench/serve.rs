//! The service's read path under load: `segflow serve`'s API asked by an HTTP client
//! while events are ingested.
//!
//! The service runs in a thread over the same backfill as the rest of the bench, with
//! `segflow tail`'s defaults and the API on a free loopback port. Once it is ready, a
//! writer appends events to the followed file at a fixed rate (stamped with a live
//! clock, one second per second, so windows move) for the whole section, and an HTTP
//! client (reqwest on a tokio runtime of its own) asks each endpoint:
//!
//! - closed loop: one request at a time over one kept-alive connection;
//! - open loop at fixed rates: request `i` is scheduled at `i / rate` and its latency
//!   runs from that scheduled time, so a slow answer delays the count of the ones
//!   queued behind it instead of hiding them (no coordinated omission). At most 256
//!   requests are in flight, as over a client's connection pool.
//!
//! Users are drawn from the events the bench samples (real ids); pages are of 1,000
//! members after a random id, from a segment with at least that many members where
//! there is one. Last, still under ingest, a segment over a new aggregate is defined
//! (`PUT`, computed from the kept inputs, over every user) and deleted again, each
//! timed from request to answer.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;

use crate::catalog::ir::Catalog;
use crate::engine::batch::BatchInput;
use crate::engine::cluster::Workers;
use crate::serve::{serve, Access, ServeOptions};

use super::file_path::live_options;
use super::measure::{Latencies, LatencySummary};
use super::workload::{event_line, LiveClock, Workload};

/// Longest wait for the backfill.
const BACKFILL_PATIENCE: Duration = Duration::from_secs(3_600);
/// Members per page asked.
const PAGE: usize = 1_000;
/// Requests in flight at once in the open loops: a client's connection pool. A request
/// waits for a free connection; its latency still runs from its scheduled time.
const IN_FLIGHT: usize = 256;

/// How much the section asks.
#[derive(Clone, Copy, Debug)]
pub struct ServeExtent {
    /// Requests per endpoint in the closed loop.
    pub closed_requests: usize,
    /// Offered request rates of the open loops.
    pub rates: [u64; 2],
    /// How long each open loop runs.
    pub open_seconds: f64,
    /// Events appended per second meanwhile.
    pub ingest_per_second: u64,
}

/// What the section measured.
#[derive(Clone, Debug, Serialize)]
pub struct ServeFigures {
    /// From starting the service to its first answer from a complete state.
    pub backfill_seconds: f64,
    pub ingest: Ingest,
    pub runs: Vec<EndpointRun>,
    pub definition: DefinitionChange,
}

/// A segment defined and deleted at runtime, under ingest.
#[derive(Clone, Debug, Serialize)]
pub struct DefinitionChange {
    /// The definition put.
    pub body: &'static str,
    /// From sending the `PUT` to its answer: the segment's members computed from the
    /// kept inputs and the round past its time in the log.
    pub put_seconds: f64,
    /// Its members then.
    pub size: u64,
    /// From sending the `DELETE` to its answer.
    pub delete_seconds: f64,
}

/// The segment the section defines: a new aggregate with a window, which any catalog
/// accepts.
const DEFINED: &str = "segment segflow_bench_defined = count(events within 7d) >= 2";

/// The events written while the API was asked, and how many the service applied.
#[derive(Clone, Debug, Serialize)]
pub struct Ingest {
    pub offered_per_second: u64,
    /// Events written in the whole section (the definition change included).
    pub written: u64,
    pub applied: u64,
    pub seconds: f64,
    pub applied_per_second: f64,
}

/// One endpoint under one load.
#[derive(Clone, Debug, Serialize)]
pub struct EndpointRun {
    pub endpoint: &'static str,
    /// `closed loop`, or the offered rate (`1000/s`).
    pub load: String,
    pub requests: u64,
    /// Answers other than 200.
    pub errors: u64,
    /// Open loops: requests per second answered.
    pub answered_per_second: f64,
    pub latency: LatencySummary,
}

/// Starts the service over `backfill` and measures its endpoints under `extent`.
pub fn measure(
    catalog: &Catalog,
    sources: Vec<(String, Vec<u8>)>,
    backfill: Arc<dyn BatchInput>,
    workload: &mut Workload,
    extent: ServeExtent,
    workers: Workers,
) -> anyhow::Result<ServeFigures> {
    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let stop = Arc::new(AtomicBool::new(false));
    let (mut tail, live) = live_options(scratch.path(), stop.clone())?;
    tail.sources = sources;
    let options = ServeOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        access: Access::from_file(None)?,
        history: 900,
        max_body: 16 << 20,
        backfill_estimate: 0,
    };
    let started = Instant::now();
    let (address_in, address_out) = std::sync::mpsc::channel();
    let owned = catalog.clone();
    let service = std::thread::spawn(move || {
        serve(
            &owned,
            Some(backfill),
            tail,
            workers,
            options,
            move |address| {
                address_in.send(address).ok();
            },
        )
    });
    let address = match address_out.recv_timeout(Duration::from_secs(60)) {
        Ok(address) => address,
        Err(_) => {
            return Err(match service.join() {
                Ok(Err(error)) => error,
                _ => anyhow::anyhow!("the service did not start listening"),
            })
        }
    };
    let base = format!("http://{address}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;

    let outcome = runtime.block_on(async {
        let first = wait_ready(&client, &base, &service).await?;
        let backfill_seconds = started.elapsed().as_secs_f64();
        let users = user_ids(workload);
        let segment = page_segment(&client, &base).await?;
        let clock = LiveClock::start(first + 1);
        let writer = Writer::start(catalog, workload, &live, clock, extent.ingest_per_second)?;
        let applied_before = records_applied(&client, &base).await?;
        let ingest_started = Instant::now();
        let mut runs = Vec::new();
        let endpoints: [(&'static str, Asker); 2] = [
            (
                "GET /v1/users/{id}/segments",
                Arc::new({
                    let (base, users) = (base.clone(), users.clone());
                    move |i: u64| {
                        format!(
                            "{base}/v1/users/{}/segments",
                            users[i as usize % users.len()]
                        )
                    }
                }),
            ),
            (
                "GET /v1/segments/{name}/members?limit=1000",
                Arc::new({
                    let (base, users) = (base.clone(), users.clone());
                    move |i: u64| {
                        let after = &users[(i as usize * 7919) % users.len()];
                        format!("{base}/v1/segments/{segment}/members?limit={PAGE}&after={after}")
                    }
                }),
            ),
        ];
        for (endpoint, ask) in &endpoints {
            runs.push(closed_loop(&client, endpoint, ask, extent.closed_requests).await);
            for rate in extent.rates {
                runs.push(open_loop(&client, endpoint, ask, rate, extent.open_seconds).await);
            }
        }
        let seconds = ingest_started.elapsed().as_secs_f64();
        let applied = records_applied(&client, &base).await? - applied_before;
        // Ingest pauses while a new definition is computed: measured apart.
        let definition = define_and_delete(&client, &base).await?;
        let written = writer.stop()?;
        Ok::<_, anyhow::Error>(ServeFigures {
            backfill_seconds,
            ingest: Ingest {
                offered_per_second: extent.ingest_per_second,
                written,
                applied,
                seconds,
                applied_per_second: applied as f64 / seconds,
            },
            runs,
            definition,
        })
    });
    stop.store(true, Ordering::Relaxed);
    let ended = service
        .join()
        .map_err(|_| anyhow::anyhow!("the service's thread panicked"))?;
    // A service that failed explains why its API stopped answering.
    let ended = ended.context("the service failed");
    match outcome {
        Ok(figures) => ended.map(|_| figures),
        Err(error) => Err(ended.err().unwrap_or(error)),
    }
}

/// Puts [`DEFINED`], reads its size, and deletes it.
async fn define_and_delete(
    client: &reqwest::Client,
    base: &str,
) -> anyhow::Result<DefinitionChange> {
    let url = format!("{base}/v1/segments/segflow_bench_defined");
    let sent = Instant::now();
    let put = client.put(&url).body(DEFINED).send().await?;
    let put_seconds = sent.elapsed().as_secs_f64();
    if !put.status().is_success() {
        bail!("PUT {url}: {}: {}", put.status(), put.text().await?);
    }
    let info: serde_json::Value = client.get(&url).send().await?.json().await?;
    let size = info["size"]
        .as_u64()
        .context("the new segment has no size")?;
    let sent = Instant::now();
    let deleted = client.delete(&url).send().await?;
    let delete_seconds = sent.elapsed().as_secs_f64();
    if !deleted.status().is_success() {
        bail!("DELETE {url}: {}", deleted.status());
    }
    Ok(DefinitionChange {
        body: DEFINED,
        put_seconds,
        size,
        delete_seconds,
    })
}

/// Builds the URL of request `i`.
type Asker = Arc<dyn Fn(u64) -> String + Send + Sync>;

/// Waits until the service answers from a complete state; returns its latest second.
async fn wait_ready<T>(
    client: &reqwest::Client,
    base: &str,
    service: &std::thread::JoinHandle<T>,
) -> anyhow::Result<u64> {
    let deadline = Instant::now() + BACKFILL_PATIENCE;
    loop {
        if service.is_finished() {
            bail!("the service stopped during its backfill");
        }
        if let Ok(response) = client.get(format!("{base}/v1/health")).send().await {
            let health: serde_json::Value = response.json().await?;
            if let Some(as_of) = health["as_of"].as_str() {
                let second = as_of.split('.').next().unwrap_or(as_of);
                return Ok(second.parse()?);
            }
        }
        if Instant::now() > deadline {
            bail!("the service was not ready within {BACKFILL_PATIENCE:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn records_applied(client: &reqwest::Client, base: &str) -> anyhow::Result<u64> {
    let health: serde_json::Value = client
        .get(format!("{base}/v1/health"))
        .send()
        .await?
        .json()
        .await?;
    health["records"]
        .as_u64()
        .context("the health check has no record count")
}

/// A segment with at least a page of members, or the largest one.
async fn page_segment(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let list: serde_json::Value = client
        .get(format!("{base}/v1/segments"))
        .send()
        .await?
        .json()
        .await?;
    let segments = list["segments"].as_array().context("no segment list")?;
    let sized = segments
        .iter()
        .filter_map(|s| Some((s["size"].as_u64()?, s["name"].as_str()?.to_owned())));
    let chosen = sized
        .clone()
        .find(|(size, _)| *size >= PAGE as u64)
        .or_else(|| sized.max());
    chosen
        .map(|(_, name)| name)
        .context("the catalog has no segment")
}

/// Distinct user ids of the sampled events, in a fixed order.
fn user_ids(workload: &mut Workload) -> Arc<Vec<String>> {
    let mut ids: Vec<String> = (0..20_000)
        .map(|_| workload.row().user_id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    // A fixed shuffle, so that consecutive requests ask different parts of the id space.
    let n = ids.len();
    let shuffled = (0..n).map(|i| ids[(i * 7_919) % n].clone()).collect();
    Arc::new(shuffled)
}

async fn closed_loop(
    client: &reqwest::Client,
    endpoint: &'static str,
    ask: &Asker,
    requests: usize,
) -> EndpointRun {
    let mut latencies = Latencies::default();
    let mut errors = 0;
    for i in 0..requests as u64 {
        let sent = Instant::now();
        errors += u64::from(!fetch(client, &ask(i)).await);
        latencies.record(sent.elapsed());
    }
    EndpointRun {
        endpoint,
        load: "closed loop".into(),
        requests: requests as u64,
        errors,
        answered_per_second: 0.0,
        latency: latencies.summary(),
    }
}

async fn open_loop(
    client: &reqwest::Client,
    endpoint: &'static str,
    ask: &Asker,
    rate: u64,
    seconds: f64,
) -> EndpointRun {
    let total = (rate as f64 * seconds) as u64;
    let latencies = Arc::new(Mutex::new(Latencies::default()));
    let errors = Arc::new(AtomicU64::new(0));
    let pool = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = start + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(scheduled).await;
        let (client, url) = (client.clone(), ask(i));
        let (latencies, errors, pool) = (latencies.clone(), errors.clone(), pool.clone());
        tasks.push(tokio::spawn(async move {
            // Never closed.
            let _connection = pool.acquire_owned().await;
            if !fetch(&client, &url).await {
                errors.fetch_add(1, Ordering::Relaxed);
            }
            let latency = scheduled.elapsed();
            latencies
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .record(latency);
        }));
    }
    for task in tasks {
        task.await.ok();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let summary = latencies
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .summary();
    EndpointRun {
        endpoint,
        load: format!("{rate}/s"),
        requests: total,
        errors: errors.load(Ordering::Relaxed),
        answered_per_second: total as f64 / elapsed,
        latency: summary,
    }
}

/// Asks `url` and reads the whole answer; whether it was a 200.
async fn fetch(client: &reqwest::Client, url: &str) -> bool {
    match client.get(url).send().await {
        Ok(response) => {
            let ok = response.status() == reqwest::StatusCode::OK;
            response.bytes().await.is_ok() && ok
        }
        Err(_) => false,
    }
}

/// The thread appending events to the followed file at a fixed rate.
struct Writer {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<anyhow::Result<u64>>,
}

impl Writer {
    /// Appends `per_second` events a second, in batches every 10 ms, from `workload`'s
    /// rows (drawn now: the thread owns its lines' templates).
    fn start(
        catalog: &Catalog,
        workload: &mut Workload,
        live: &std::path::Path,
        clock: LiveClock,
        per_second: u64,
    ) -> anyhow::Result<Writer> {
        let rows: Vec<_> = (0..50_000).map(|_| workload.row().clone()).collect();
        let catalog = catalog.clone();
        let mut file = OpenOptions::new().append(true).open(live)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut written: u64 = 0;
            let mut buffer = String::new();
            while !stopped.load(Ordering::Relaxed) {
                let due = (started.elapsed().as_secs_f64() * per_second as f64) as u64;
                buffer.clear();
                let second = clock.second();
                while written < due {
                    let row = &rows[written as usize % rows.len()];
                    buffer.push_str(&event_line(&catalog, row, &row.user_id, second));
                    written += 1;
                }
                file.write_all(buffer.as_bytes())?;
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(written)
        });
        Ok(Writer { stop, thread })
    }

    /// Stops the writer; returns the events it wrote.
    fn stop(self) -> anyhow::Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the writer's thread panicked"))?
    }
}
