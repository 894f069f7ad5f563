//! `segflow check`: check catalog files and print their plan.

use std::path::PathBuf;

use clap::Args;

use crate::catalog;
use crate::plan::{describe, explain, Plan};

/// The arguments of `segflow check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Catalog file(s).
    #[arg(required = true, value_name = "CATALOG")]
    pub catalogs: Vec<PathBuf>,
    /// Print the whole physical plan: every source, operand, atom and set node, and
    /// where and how the dataflow computes it.
    #[arg(long)]
    pub plan: bool,
}

/// Prints the plan of the catalog (a summary per segment, or with `--plan` the physical
/// plan), or fails with its diagnostics.
pub fn check(args: CheckArgs) -> anyhow::Result<()> {
    let catalog = catalog::load(&args.catalogs)?;
    let plan = Plan::new(&catalog);
    if args.plan {
        print!("{}", explain(&catalog, &plan));
    } else {
        print!("{}", describe(&catalog, &plan));
    }
    Ok(())
}
