//! `segflow sql`: print the query of a catalog, or the tables it reads.

use std::path::PathBuf;

use clap::Args;

use crate::catalog;
use crate::sql::{compile, create_tables, AsOf, DEPTH_SETTING};

/// The arguments of `segflow sql`.
#[derive(Args, Debug)]
pub struct SqlArgs {
    /// Catalog file(s).
    #[arg(required = true, value_name = "CATALOG")]
    pub catalogs: Vec<PathBuf>,
    /// Write this as-of time (seconds since the Unix epoch) into the query instead of
    /// the parameter `$as_of`.
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u64).range(..=crate::value::MAX_TIME))]
    pub as_of: Option<u64>,
    /// Print CREATE TABLE statements for the input tables instead of the query.
    #[arg(long, conflicts_with = "as_of")]
    pub tables: bool,
}

/// Prints the query (or the input tables) for the catalog.
pub fn sql(args: SqlArgs) -> anyhow::Result<()> {
    let catalog = catalog::load(&args.catalogs)?;
    let text = if args.tables {
        create_tables(&catalog)?
    } else {
        compile(&catalog, args.as_of.map_or(AsOf::Param, AsOf::At))?
    };
    if let Some(line) = text.lines().find(|l| l.starts_with(DEPTH_SETTING)) {
        eprintln!(
            "note: this catalog's query nests deeper than DuckDB allows by default; run `{}` first",
            line.trim_start_matches("-- DuckDB: ")
        );
    }
    print!("{text}");
    Ok(())
}
