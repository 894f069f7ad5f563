//! Using segflow as a library: check a catalog, run it over a data directory, and read
//! the members of each segment.
//!
//! ```sh
//! cargo run --release --example library -- dataflows/ecommerce.seg datasets/sample
//! ```

use std::path::PathBuf;

use segflow::engine::batch::{run_files, OnError};
use segflow::io::load::DataFiles;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let catalog_path = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "dataflows/ecommerce.seg".into()),
    );
    let data_dir = PathBuf::from(args.next().unwrap_or_else(|| "datasets/sample".into()));

    let catalog = segflow::catalog::load(&[catalog_path])?;
    let files = DataFiles::open(&data_dir, &catalog)?;
    let result = run_files(
        &catalog,
        files,
        None,
        OnError::Stop,
        timely::Config::process(2),
    )?
    .expect("a single process hosts worker 0, which gathers the result");

    println!("as of {}:", result.as_of);
    for (segment, members) in catalog.segments.iter().zip(&result.members) {
        let first: Vec<&str> = members.iter().take(3).map(String::as_str).collect();
        println!(
            "  {:<20} {:>6} members, e.g. {}",
            segment.name,
            members.len(),
            first.join(", ")
        );
    }
    Ok(())
}
