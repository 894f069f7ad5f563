//! `segflow serve`: a live run that also answers HTTP requests from its state.
//!
//! Everything `segflow tail` does (backfill, following, the change log, restarts,
//! rejects) runs unchanged on the timely workers; after each round worker 0 publishes
//! the round's final changes into a [`Service`] ([`crate::engine::tail::Attached`]), and
//! an HTTP server on a tokio runtime of its own answers from it ([`api`]). The server
//! runs on the process of worker 0, the one that reads the live files and writes the
//! log; other processes of a cluster job only work on their share of the dataflow.
//!
//! - [`index`]: memberships now and within the history window (paging as of a time),
//! - [`service`]: what the handlers share, and the publishing side,
//! - [`api`]: routes and handlers; [`error`]: refusals as JSON,
//! - [`auth`]: loopback by default, bearer token when exposed,
//! - [`explain`]: a user's values walked through definitions,
//! - [`records`]: posted records checked and appended durably to the followed files,
//! - [`metrics`]: the Prometheus page; [`listener`]: a cap on open connections.

pub mod api;
pub mod auth;
pub mod error;
pub mod explain;
pub mod index;
pub mod listener;
pub mod metrics;
pub mod records;
pub mod service;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use crate::catalog::ir::Catalog;
use crate::engine::batch::BatchInput;
use crate::engine::cluster::Workers;
use crate::engine::tail::{run_tail, TailOptions, TailSummary};
use crate::live::definitions::Definitions;
use crate::live::frontier::TICKS_PER_SECOND;
use crate::plan::{Explain, Plan};

pub use auth::Access;
pub use service::Service;

use index::Index;
use records::RecordFile;
use service::View;

/// How the service listens and what it keeps.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The address to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// Who may ask.
    pub access: Access,
    /// How far back (in seconds of logical time) a paged read may pin its time.
    pub history: u64,
    /// The largest request body accepted, in bytes.
    pub max_body: usize,
    /// Rows the backfill is expected to hold, for its progress.
    pub backfill_estimate: u64,
}

/// Runs `catalog` live as [`run_tail`] does, serving the API on the process of worker
/// 0; `listening` is told the address once the socket is bound, before the backfill.
/// Returns the live run's summary there (`None` on other processes).
pub fn serve(
    catalog: &Catalog,
    backfill: Option<Arc<dyn BatchInput>>,
    mut tail: TailOptions,
    workers: Workers,
    options: ServeOptions,
    listening: impl FnOnce(SocketAddr),
) -> anyhow::Result<Option<TailSummary>> {
    // Every process's dataflow serves: each owns a share of the users.
    tail.serving = true;
    if workers.process() != 0 {
        return Ok(run_tail(catalog, backfill, tail, workers)?);
    }
    options.access.check_listen(options.listen)?;
    let listener = TcpListener::bind(options.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", options.listen))?;
    let address = listener.local_addr()?;
    let definitions = Definitions::new(tail.sources.clone(), catalog);
    let service = Arc::new(Service {
        plan: Plan::with(catalog, Explain::On),
        view: RwLock::new(Arc::new(View::new(&definitions))),
        index: RwLock::new(Index::new(
            catalog.segments.len(),
            options.history.saturating_mul(TICKS_PER_SECOND),
        )),
        status: Mutex::default(),
        requests: Default::default(),
        records: RecordFile::open(&tail.follow)?,
        progress: tail.progress.clone(),
        backfill_estimate: options.backfill_estimate,
        workers: (workers.threads(), workers.processes()),
        started: Instant::now(),
        questions: Mutex::default(),
        replies: Mutex::new(Some(HashMap::new())),
        next_question: AtomicU64::new(0),
        edits: Mutex::default(),
        edit_replies: Mutex::new(Some(HashMap::new())),
    });
    tail.publish = Some(service.clone());
    let router = api::router(service.clone(), options.access, options.max_body);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("segflow-http")
        .enable_all()
        .build()?;
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    listener.set_nonblocking(true)?;
    let server = std::thread::spawn(move || {
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let listener = listener::Limited::new(listener, listener::MAX_CONNECTIONS);
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    stopped.await.ok();
                })
                .await
        })
    });
    listening(address);
    let outcome = run_tail(catalog, backfill, tail, workers);
    // Questions the run will never answer end now (503), not at their time-out.
    service.abandon_questions();
    stop_server.send(()).ok();
    let served = server
        .join()
        .map_err(|_| anyhow::anyhow!("the HTTP server thread panicked"))?;
    let summary = outcome?;
    served.map_err(|e| anyhow::anyhow!("the HTTP server failed: {e}"))?;
    Ok(summary)
}
