//! `segflow cluster`: one job as several processes on this machine.
//!
//! Starts the current executable once per process with timely's flags
//! (`-n N -p I -w W -h HOSTFILE`) added to the given command, over a temporary hostfile
//! of free local ports. Output of process 0 passes through unchanged (it is what a
//! single process prints); lines of the others are prefixed with `[pI]`. When a process
//! fails the others are killed and the error names it.
//!
//! Stopping the launcher stops the job: on SIGINT, SIGTERM or SIGHUP it passes SIGTERM
//! on to every process (a live run then stops cleanly, as on Ctrl-C) and kills those
//! still running after [`STOP_GRACE`]. Should the launcher itself die without a word
//! (SIGKILL), each process notices that its parent is gone and exits
//! ([`watch_launcher`]): no process of a stopped job lives on to write its output.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;

/// Exit code of a process that could not listen on its hostfile port because it was
/// taken: the same job with other ports may succeed (EX_TEMPFAIL in sysexits.h).
pub const PORT_TAKEN: u8 = 75;
/// Attempts with fresh ports before giving up on ports taken by others.
const ATTEMPTS: usize = 3;
/// How often the processes are checked for exit.
const POLL: Duration = Duration::from_millis(20);
/// How long, after a first process failed, the others may take to end before the
/// culprit is named (see [`wait`]).
const GRACE: Duration = Duration::from_millis(500);
/// How long the processes of a stopped job may take to stop cleanly before they are
/// killed.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// Names the launcher's process id to the processes it starts.
const LAUNCHER_PID: &str = "SEGFLOW_LAUNCHER_PID";
/// How often a process checks that its launcher is alive.
const WATCH: Duration = Duration::from_millis(100);

/// The arguments of `segflow cluster`.
#[derive(Args, Debug)]
pub struct LaunchArgs {
    /// Number of processes to start.
    #[arg(short = 'n', long, default_value_t = 2, value_name = "N")]
    pub processes: usize,
    /// Worker threads per process.
    #[arg(short = 'w', long, default_value_t = 1, value_name = "N")]
    pub workers: usize,
    /// The command each process runs, after `--`: `-- run --catalog C --data D`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// How one attempt at the job ended.
enum Outcome {
    Done,
    PortTaken,
    Failed(String),
}

/// Runs the job; fails naming the first process that failed.
pub fn launch(args: &LaunchArgs) -> anyhow::Result<()> {
    if args.processes == 0 {
        bail!("--processes must be at least 1");
    }
    if args.workers == 0 {
        bail!("--workers must be at least 1");
    }
    let exe = std::env::current_exe().context("cannot find the segflow executable")?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))
        .context("cannot handle stop signals")?;
    for attempt in 1..=ATTEMPTS {
        let hostfile = Hostfile::create(args.processes)?;
        match run_processes(&exe, args, &hostfile.path, &stop)? {
            Outcome::Done => return Ok(()),
            Outcome::Failed(message) => bail!(message),
            Outcome::PortTaken if attempt < ATTEMPTS => {
                eprintln!("a port was taken meanwhile; starting again with other ports")
            }
            Outcome::PortTaken => {}
        }
    }
    bail!("ports kept being taken by other programs in {ATTEMPTS} attempts")
}

/// Starts every process, forwards their output and waits for them.
fn run_processes(
    exe: &Path,
    args: &LaunchArgs,
    hostfile: &Path,
    stop_requested: &AtomicBool,
) -> anyhow::Result<Outcome> {
    let mut children = Vec::with_capacity(args.processes);
    let mut forwarders = Vec::new();
    for process in 0..args.processes {
        let started = Command::new(exe)
            .args(&args.command)
            .arg("-n")
            .arg(args.processes.to_string())
            .arg("-p")
            .arg(process.to_string())
            .arg("-w")
            .arg(args.workers.to_string())
            .arg("-h")
            .arg(hostfile)
            .env(LAUNCHER_PID, std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match started {
            Ok(child) => child,
            Err(error) => {
                stop(&mut children);
                return Err(error).context(format!("cannot start process {process}"));
            }
        };
        let prefix = (process > 0).then(|| format!("[p{process}] "));
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        forwarders.extend(stdout.map(|out| forward(out, std::io::stdout, prefix.clone())));
        forwarders.extend(stderr.map(|err| forward(err, std::io::stderr, prefix.clone())));
        children.push(Some(child));
    }
    let outcome = wait(&mut children, stop_requested);
    for forwarder in forwarders {
        // A forwarder only stops at the end of its stream; its errors are moot.
        let _ = forwarder.join();
    }
    outcome
}

/// Waits until every process succeeded or one failed; then stops the others. A stop
/// request passes SIGTERM on to every process, and kills them after [`STOP_GRACE`].
fn wait(children: &mut [Option<Child>], stop_requested: &AtomicBool) -> anyhow::Result<Outcome> {
    let mut failed: Vec<(usize, ExitStatus)> = Vec::new();
    let mut first_failure: Option<Instant> = None;
    let mut stopping: Option<Instant> = None;
    loop {
        if stop_requested.load(Ordering::Relaxed) {
            let since = *stopping.get_or_insert_with(|| {
                terminate(children);
                Instant::now()
            });
            for slot in children.iter_mut() {
                if slot
                    .as_mut()
                    .map(Child::try_wait)
                    .transpose()?
                    .flatten()
                    .is_some()
                {
                    *slot = None;
                }
            }
            if since.elapsed() >= STOP_GRACE {
                stop(children);
            }
            if children.iter().all(Option::is_none) {
                return Ok(Outcome::Failed(
                    "stopped by a signal; the processes were stopped".to_owned(),
                ));
            }
            thread::sleep(POLL);
            continue;
        }
        for (process, slot) in children.iter_mut().enumerate() {
            if let Some(child) = slot {
                if let Some(status) = child.try_wait()? {
                    *slot = None;
                    if !status.success() {
                        failed.push((process, status));
                        first_failure.get_or_insert_with(Instant::now);
                    }
                }
            }
        }
        let running = children.iter().any(Option::is_some);
        // Processes that fail together are usually one culprit and its peers, which
        // exit with an error when it disconnects: a process killed by a signal is the
        // likelier culprit. A killed process can still be tearing down its memory
        // when its peers have already seen the connection drop and exited, so the
        // others get a moment to show how they ended before one is named.
        let settled = first_failure.is_some_and(|at| {
            !running || failed.iter().any(|(_, s)| s.code().is_none()) || at.elapsed() >= GRACE
        });
        if settled {
            failed.sort_by_key(|(process, status)| (status.code().is_some(), *process));
            let (process, status) = failed[0];
            stop(children);
            if status.code() == Some(i32::from(PORT_TAKEN)) {
                return Ok(Outcome::PortTaken);
            }
            return Ok(Outcome::Failed(format!(
                "process {process} failed ({status}); stopped the other processes"
            )));
        }
        if !running {
            return Ok(Outcome::Done);
        }
        thread::sleep(POLL);
    }
}

/// Asks every process still running to stop cleanly (SIGTERM).
fn terminate(children: &[Option<Child>]) {
    for child in children.iter().flatten() {
        // A process that exited meanwhile is reaped by the caller.
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: kill(2) with a process id this launcher started and has not yet
            // reaped, so the id cannot have been reused.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }
}

/// In a process started by `segflow cluster`, exits as soon as the launcher is gone
/// (its parent changed): a launcher killed outright cannot stop its processes itself.
pub fn watch_launcher() {
    let Some(launcher) = std::env::var(LAUNCHER_PID)
        .ok()
        .and_then(|pid| pid.parse::<u32>().ok())
    else {
        return;
    };
    thread::spawn(move || loop {
        if std::os::unix::process::parent_id() != launcher {
            // The launcher read this process's output: nobody may be reading now.
            let _ = writeln!(
                std::io::stderr(),
                "the segflow cluster launcher is gone; stopping"
            );
            std::process::exit(1);
        }
        thread::sleep(WATCH);
    });
}

/// Kills and reaps every process still running.
fn stop(children: &mut [Option<Child>]) {
    for mut child in children.iter_mut().filter_map(Option::take) {
        // Failing to kill means it has exited already; waiting reaps it either way.
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Copies a child's output to ours line by line, with `prefix` before each line.
fn forward<R, W, S>(from: R, to: S, prefix: Option<String>) -> JoinHandle<()>
where
    R: Read + Send + 'static,
    W: Write,
    S: Fn() -> W + Send + 'static,
{
    thread::spawn(move || {
        let mut from = BufReader::new(from);
        // Prefix and line go out in one write, so lines of processes never interleave.
        let mut line = prefix.unwrap_or_default().into_bytes();
        let start = line.len();
        while from.read_until(b'\n', &mut line).is_ok_and(|read| read > 0) {
            let mut to = to();
            // Our own output closed (e.g. a pipe to `head`): keep draining the child.
            let _ = to.write_all(&line).and_then(|()| to.flush());
            line.truncate(start);
        }
    })
}

/// A hostfile of free local ports, removed when dropped.
struct Hostfile {
    path: PathBuf,
}

impl Hostfile {
    /// Asks the system for `processes` distinct free ports. They are released before
    /// the processes bind them, so another program may take one meanwhile: the process
    /// then exits with [`PORT_TAKEN`] and the job starts again.
    fn create(processes: usize) -> anyhow::Result<Hostfile> {
        let listeners = (0..processes)
            .map(|_| TcpListener::bind("127.0.0.1:0"))
            .collect::<Result<Vec<_>, _>>()
            .context("cannot find free local ports")?;
        let mut text = String::new();
        for listener in &listeners {
            text.push_str(&format!("{}\n", listener.local_addr()?));
        }
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let path =
            std::env::temp_dir().join(format!("segflow-hosts-{}-{unique}.txt", std::process::id()));
        std::fs::write(&path, text)
            .with_context(|| format!("cannot write hostfile '{}'", path.display()))?;
        Ok(Hostfile { path })
    }
}

impl Drop for Hostfile {
    fn drop(&mut self) {
        // A leftover file in the temp directory is harmless.
        let _ = std::fs::remove_file(&self.path);
    }
}
