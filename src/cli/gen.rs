//! `segflow gen`: deterministic synthetic data.

use std::path::PathBuf;

use clap::Args;

use crate::gen::{generate, GenOptions};

/// The arguments of `segflow gen`.
#[derive(Args, Debug)]
pub struct GenArgs {
    /// Number of users in users.csv.
    #[arg(long, default_value_t = 1000)]
    pub users: u64,
    /// Number of rows in events.csv.
    #[arg(long, default_value_t = 20_000)]
    pub events: u64,
    /// Random seed: the same seed gives byte-identical files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Writes the files and says what they hold.
pub fn gen(args: GenArgs) -> anyhow::Result<()> {
    let summary = generate(
        &GenOptions::new(args.users, args.events, args.seed),
        &args.out,
    )?;
    println!(
        "wrote {} users, {} events, {} scores to {} (ts {}..{})",
        summary.users,
        summary.events,
        summary.scores,
        args.out.display(),
        summary.min_ts,
        summary.max_ts
    );
    Ok(())
}
