//! Batch-run benchmarks: the whole run (`DataFiles::open` + `run_files`) with one and two
//! workers, and the parse step alone, so parse cost and engine cost can be told apart.
//!
//! ```sh
//! cargo bench --bench batch                 # about a minute
//! cargo bench --bench batch -- --quick      # a few seconds per benchmark
//! cargo bench --bench batch -- parse        # only the parse benchmarks
//! ```
//!
//! Data is generated once per bench process into a temporary directory with
//! `segflow::gen::generate` (seed 1) at two sizes. Throughput is reported in **events**
//! (rows of `events.csv`) for every benchmark, users and scores included in the time,
//! so the figures of the engine and parse groups compare directly.
//!
//! Groups:
//! - `run_files/<size>/w<N>`: open the data directory (maps the files into memory)
//!   and evaluate `dataflows/ecommerce.seg` with `N` timely worker threads, as
//!   `segflow run` does minus writing the output.
//! - `parse/<size>/max_ts` and `parse/<size>/read_part`: one thread over the whole
//!   input (part 0 of 1) of files opened once, outside the timing; `read_part` feeds a
//!   sink that only counts rows, so it is CSV parsing, value parsing and interning only.
//!
//! Every benchmark takes 10 samples; the slow ones get a measurement time fitted to one
//! untimed run (which also checks that every event was read), so `--measurement-time`
//! on the command line does not apply to them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use std::hint::black_box;

use segflow::catalog::ir::Catalog;
use segflow::dataflow::{Event, ModelRecord, ScoreRecord, UserKey, UserRecord};
use segflow::engine::batch::{run_files, OnError};
use segflow::gen::{generate, GenOptions};
use segflow::io::load::{DataFiles, RowSink};
use segflow::value::Text;

/// (label, users, events) of the generated data sets.
const SIZES: [(&str, u64, u64); 2] = [("20k", 2_000, 20_000), ("200k", 20_000, 200_000)];
const SEED: u64 = 1;
const WORKERS: [usize; 2] = [1, 2];

/// A generated data directory, removed when dropped.
struct Data {
    label: &'static str,
    events: u64,
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn generate_data(label: &'static str, users: u64, events: u64) -> Data {
    let dir = tempfile::Builder::new()
        .prefix("segflow-bench-")
        .tempdir()
        .expect("creating a temporary directory");
    let path = dir.path().join(label);
    let summary = generate(&GenOptions::new(users, events, SEED), &path).expect("generating data");
    assert_eq!(summary.events, events, "generated event rows");
    Data {
        label,
        events: summary.events,
        _dir: dir,
        path,
    }
}

fn load_catalog() -> Catalog {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("dataflows/ecommerce.seg");
    segflow::catalog::load(&[path]).unwrap_or_else(|e| panic!("loading the catalog: {e}"))
}

/// A sink that only counts what it is given.
#[derive(Default)]
struct Counting {
    users: u64,
    events: u64,
    scores: u64,
    names: u64,
}

impl RowSink for Counting {
    fn user(&mut self, _user: UserKey, record: UserRecord) {
        black_box(record);
        self.users += 1;
    }
    fn event(&mut self, _user: UserKey, event: Event, id: Option<Text>) {
        black_box((event, id));
        self.events += 1;
    }
    fn score(&mut self, _user: UserKey, record: ScoreRecord) {
        black_box(record);
        self.scores += 1;
    }
    fn model(&mut self, model: Text, record: ModelRecord) {
        black_box((model, record));
    }
    fn name(&mut self, _user: UserKey, id: String) {
        black_box(id);
        self.names += 1;
    }
}

fn run_once(catalog: &Catalog, dir: &Path, workers: usize) -> u64 {
    let files = DataFiles::open(dir, catalog).expect("opening the data directory");
    let result = run_files(
        catalog,
        files,
        None,
        OnError::Stop,
        timely::Config::process(workers),
    )
    .expect("batch run")
    .expect("one process hosts worker 0");
    black_box(&result.members);
    result.stats.events
}

fn benches(c: &mut Criterion) {
    let catalog = load_catalog();
    let data: Vec<Data> = SIZES
        .iter()
        .map(|&(label, users, events)| generate_data(label, users, events))
        .collect();

    {
        let mut group = c.benchmark_group("run_files");
        // A run of the larger size takes most of a second: flat sampling and a
        // measurement time fitted to one run keep it at 10 samples without a warning.
        group.sampling_mode(SamplingMode::Flat);
        for d in &data {
            group.throughput(Throughput::Elements(d.events));
            for workers in WORKERS {
                // Every run must see every event: checked once, outside the timing,
                // which also tells how long one run takes.
                let started = Instant::now();
                assert_eq!(run_once(&catalog, &d.path, workers), d.events);
                group.measurement_time(fitted(started.elapsed()));
                group.bench_function(format!("{}/w{workers}", d.label), |b| {
                    b.iter(|| run_once(&catalog, &d.path, workers))
                });
            }
        }
        group.finish();
    }

    {
        let mut group = c.benchmark_group("parse");
        group.sampling_mode(SamplingMode::Flat);
        for d in &data {
            let files = DataFiles::open(&d.path, &catalog).expect("opening the data directory");
            group.throughput(Throughput::Elements(d.events));
            group.measurement_time(MIN_MEASUREMENT);
            group.bench_function(format!("{}/max_ts", d.label), |b| {
                b.iter(|| black_box(files.max_ts(0, 1)))
            });
            let started = Instant::now();
            let mut check = Counting::default();
            assert!(files.read_part(0, 1, &mut check).is_empty());
            assert_eq!(check.events, d.events);
            group.measurement_time(fitted(started.elapsed()));
            group.bench_function(format!("{}/read_part", d.label), |b| {
                b.iter(|| {
                    let mut sink = Counting::default();
                    let rejects = files.read_part(0, 1, &mut sink);
                    black_box(rejects);
                    (sink.users, sink.events, sink.scores, sink.names)
                })
            });
        }
        group.finish();
    }
}

/// Samples per benchmark.
const SAMPLES: usize = 10;
/// Measurement time of the fast benchmarks.
const MIN_MEASUREMENT: Duration = Duration::from_secs(3);

/// A measurement time that fits [`SAMPLES`] flat samples of one iteration each that
/// takes about `one` (with some slack), and at least [`MIN_MEASUREMENT`].
fn fitted(one: Duration) -> Duration {
    (one * (SAMPLES as u32 * 3 / 2)).max(MIN_MEASUREMENT)
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(SAMPLES)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(MIN_MEASUREMENT)
        .without_plots()
}

criterion_group! {
    name = batch;
    config = config();
    targets = benches
}
criterion_main!(batch);
