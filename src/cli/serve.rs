//! `segflow serve`: `segflow tail` plus an HTTP/JSON API over the live state.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::catalog;
use crate::serve::{serve as run_service, Access, ServeOptions};

use super::TailArgs;

/// The arguments of `segflow serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Everything `segflow tail` takes.
    #[command(flatten)]
    pub tail: TailArgs,
    /// The address the API listens on (`127.0.0.1:0` picks a free port). An address
    /// beyond loopback needs `--token-file`.
    #[arg(long, default_value = "127.0.0.1:7878", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// A file holding the bearer token every request but `/v1/health` must present.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// How far back a read may pin its time (`as_of`), in logical time (`15m`, `1h`).
    #[arg(long, default_value = "15m", value_parser = parse_history, value_name = "DURATION")]
    pub history: u64,
    /// The largest request body accepted, in MiB.
    #[arg(long, default_value_t = 16, value_name = "MIB")]
    pub max_body_mib: usize,
}

fn parse_history(text: &str) -> Result<u64, String> {
    if text == "0" {
        return Ok(0);
    }
    catalog::parse_duration(text).map_err(|reason| format!("bad duration `{text}`: {reason}"))
}

pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let access = Access::from_file(args.token_file.as_deref())?;
    access.check_listen(args.listen)?;
    let live = args.tail.prepare()?;
    let options = ServeOptions {
        listen: args.listen,
        access,
        history: args.history,
        max_body: args.max_body_mib.saturating_mul(1 << 20),
        backfill_estimate: live.estimate,
    };
    let quiet = args.tail.quiet;
    let follow = args.tail.follow.display().to_string();
    let outcome = run_service(
        &live.catalog,
        live.backfill.clone(),
        live.options.clone(),
        live.workers.clone(),
        options,
        |address| {
            // Always printed: scripts and tests read the address from it.
            eprintln!("listening on http://{address}");
            if !quiet {
                eprintln!("following {follow} (Ctrl-C stops cleanly)");
            }
        },
    );
    live.finish(&args.tail, outcome)
}
