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
    /// Give events.csv an `event_id` column; its duplicate rows (~0.1%) keep their
    /// original's id, so they are set aside as duplicates.
    #[arg(long)]
    pub event_ids: bool,
    /// Give scores.csv a `version` column and write models.csv: churn scores are
    /// version v1, every churn-scored user also gets a v2 score on the last scoring
    /// day, and models.csv switches churn from v1 to v2 that day.
    #[arg(long)]
    pub model_versions: bool,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Writes the files and says what they hold.
pub fn gen(args: GenArgs) -> anyhow::Result<()> {
    let options = GenOptions {
        event_ids: args.event_ids,
        model_versions: args.model_versions,
        ..GenOptions::new(args.users, args.events, args.seed)
    };
    let summary = generate(&options, &args.out)?;
    println!(
        "wrote {} users, {} events, {} scores, {} models rows to {} (ts {}..{})",
        summary.users,
        summary.events,
        summary.scores,
        summary.models,
        args.out.display(),
        summary.min_ts,
        summary.max_ts
    );
    Ok(())
}
