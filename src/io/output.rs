//! Writing a batch run's results: `members/<segment>.csv`, `sizes.csv`, `rejects.csv`.

use std::fs;
use std::io::BufWriter;
use std::path::Path;

use anyhow::Context;

use crate::catalog::ir::Catalog;
use crate::engine::batch::BatchResult;
use crate::io::error::InputError;

/// Writes the results into `out`. Old member files in `out/members/` are removed first
/// so the directory describes exactly this run's catalog.
pub fn write_results(out: &Path, catalog: &Catalog, result: &BatchResult) -> anyhow::Result<()> {
    let members_dir = out.join("members");
    fs::create_dir_all(&members_dir)
        .with_context(|| format!("cannot create '{}'", members_dir.display()))?;
    for entry in fs::read_dir(&members_dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "csv") {
            fs::remove_file(&path)
                .with_context(|| format!("cannot remove '{}'", path.display()))?;
        }
    }
    for (segment, members) in catalog.segments.iter().zip(&result.members) {
        let path = members_dir.join(format!("{}.csv", segment.name));
        let mut writer = csv::Writer::from_writer(create(&path)?);
        writer.write_record(["user_id"])?;
        for user in members {
            writer.write_record([user])?;
        }
        writer
            .flush()
            .with_context(|| format!("cannot write '{}'", path.display()))?;
    }
    let path = out.join("sizes.csv");
    let mut writer = csv::Writer::from_writer(create(&path)?);
    writer.write_record(["segment", "size"])?;
    for (segment, members) in catalog.segments.iter().zip(&result.members) {
        writer.write_record([segment.name.as_str(), &members.len().to_string()])?;
    }
    writer
        .flush()
        .with_context(|| format!("cannot write '{}'", path.display()))?;

    let path = out.join("rejects.csv");
    if result.rejects.is_empty() {
        if path.exists() {
            fs::remove_file(&path)?;
        }
    } else {
        let mut writer = csv::Writer::from_writer(create(&path)?);
        writer.write_record(REJECTS_HEADER)?;
        for r in &result.rejects {
            writer.write_record(reject_record(r))?;
        }
        writer
            .flush()
            .with_context(|| format!("cannot write '{}'", path.display()))?;
    }
    Ok(())
}

/// The columns of a rejects file.
pub const REJECTS_HEADER: [&str; 5] = ["file", "line", "column", "reason", "row"];

/// A rejected row as a rejects-file record.
pub fn reject_record(r: &InputError) -> [String; 5] {
    [
        r.file.clone(),
        r.line.to_string(),
        r.column.clone().unwrap_or_default(),
        r.reason.clone(),
        r.raw.clone(),
    ]
}

fn create(path: &Path) -> anyhow::Result<BufWriter<fs::File>> {
    let file =
        fs::File::create(path).with_context(|| format!("cannot create '{}'", path.display()))?;
    Ok(BufWriter::new(file))
}

/// The table of segment sizes printed after a run.
pub fn sizes_table(catalog: &Catalog, result: &BatchResult) -> String {
    let width = catalog
        .segments
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(0)
        .max(7);
    let mut table = format!("{:<width$}  {:>10}\n", "segment", "size");
    for (segment, members) in catalog.segments.iter().zip(&result.members) {
        table.push_str(&format!(
            "{:<width$}  {:>10}\n",
            segment.name,
            members.len()
        ));
    }
    table
}
