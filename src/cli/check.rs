//! `segflow check`: check catalog files and print their plan.

use std::path::PathBuf;

use clap::Args;

use crate::catalog;
use crate::plan::{describe, Plan};

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Catalog file(s).
    #[arg(required = true, value_name = "CATALOG")]
    pub catalogs: Vec<PathBuf>,
}

/// Prints the plan of the catalog, or fails with its diagnostics.
pub fn check(args: CheckArgs) -> anyhow::Result<()> {
    let catalog = catalog::load(&args.catalogs)?;
    print!("{}", describe(&catalog, &Plan::new(&catalog)));
    Ok(())
}
