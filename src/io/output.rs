//! Writing a batch run's results: `members/<segment>.csv`, `sizes.csv`, `rejects.csv`.
//!
//! The results are written into a fresh directory beside `OUT` and swapped in only when
//! every file is complete, so `OUT` holds the previous run's results or this run's,
//! never a mix, and a failed write (a full disk) leaves the previous results as they
//! were. `OUT` is segflow's own: a manifest lists the files a run wrote, and a run
//! replaces only a directory that holds exactly those (or nothing) — never one holding
//! files or links of the user's.

use std::collections::HashSet;
use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::catalog::ir::Catalog;
use crate::engine::batch::BatchResult;
use crate::io::error::InputError;
use crate::io::staging::Staged;

/// The file in `OUT` that lists what the run that wrote `OUT` wrote there.
pub const MANIFEST: &str = ".segflow-manifest";

const MANIFEST_HEADER: &str =
    "# written by `segflow run`: the files below; the next run replaces this directory";

/// Checks that `out` may be replaced by a run's results: it does not exist, or it is
/// an empty directory, or a run wrote it and it holds nothing else. Called before a
/// run, so that a refused directory costs no work, and again before the swap.
pub fn check_out_dir(out: &Path) -> anyhow::Result<()> {
    let meta = match fs::symlink_metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        meta => meta.with_context(|| format!("cannot read '{}'", out.display()))?,
    };
    let refuse = |what: &Path, why: &str| {
        anyhow::anyhow!(
            "refusing to replace output directory '{}': '{}' {why}; give --out a new or \
             empty directory, or one that an earlier `segflow run` wrote",
            out.display(),
            what.display()
        )
    };
    if meta.file_type().is_symlink() {
        return Err(refuse(out, "is a symbolic link"));
    }
    if !meta.is_dir() {
        return Err(refuse(out, "is not a directory"));
    }
    let found = entries(out)?;
    if found.is_empty() {
        return Ok(());
    }
    let manifest = out.join(MANIFEST);
    let written = match fs::read_to_string(&manifest) {
        Ok(text) => text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(PathBuf::from)
            .collect::<HashSet<_>>(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(refuse(
                out,
                "holds files but no manifest (.segflow-manifest) of a run that wrote them \
                 (results of a segflow before manifests can simply be removed)",
            ))
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read '{}'", manifest.display())),
    };
    for (path, kind) in found {
        let relative = path.strip_prefix(out).unwrap_or(&path);
        let ours = match kind {
            Entry::Dir => relative == Path::new("members"),
            Entry::File => relative == Path::new(MANIFEST) || written.contains(relative),
            Entry::Other => false,
        };
        if !ours {
            let why = match kind {
                Entry::Other => "is not a regular file or directory (a link?)",
                _ => "was not written by segflow",
            };
            return Err(refuse(&path, why));
        }
    }
    Ok(())
}

/// What an entry of `OUT` is, links not followed.
enum Entry {
    Dir,
    File,
    Other,
}

/// Everything under `dir`, links not followed.
fn entries(dir: &Path) -> anyhow::Result<Vec<(PathBuf, Entry)>> {
    let mut found = Vec::new();
    let list = fs::read_dir(dir).with_context(|| format!("cannot list '{}'", dir.display()))?;
    for entry in list {
        let entry = entry.with_context(|| format!("cannot list '{}'", dir.display()))?;
        let (path, kind) = (entry.path(), entry.file_type()?);
        if kind.is_dir() {
            found.extend(entries(&path)?);
            found.push((path, Entry::Dir));
        } else if kind.is_file() {
            found.push((path, Entry::File));
        } else {
            found.push((path, Entry::Other));
        }
    }
    Ok(found)
}

/// Writes the results into a directory beside `out` and swaps it in once complete.
pub fn write_results(out: &Path, catalog: &Catalog, result: &BatchResult) -> anyhow::Result<()> {
    check_out_dir(out)?;
    let staged = Staged::beside(out)?;
    write_files(staged.path(), catalog, result)?;
    staged.replace_dir(out)
}

/// Creates `dir` and writes every result file into it, the manifest last.
fn write_files(dir: &Path, catalog: &Catalog, result: &BatchResult) -> anyhow::Result<()> {
    let members_dir = dir.join("members");
    fs::create_dir_all(&members_dir)
        .with_context(|| format!("cannot create '{}'", members_dir.display()))?;
    let mut written = Vec::new();
    for (segment, members) in catalog.segments.iter().zip(&result.members) {
        let relative = Path::new("members").join(format!("{}.csv", segment.name));
        let rows = std::iter::once("user_id").chain(members.iter().map(String::as_str));
        write_csv(&dir.join(&relative), rows.map(|user| [user]))?;
        written.push(relative);
    }
    let sizes = catalog.segments.iter().zip(&result.members);
    let rows = sizes.map(|(segment, members)| [segment.name.clone(), members.len().to_string()]);
    let header = ["segment".to_string(), "size".to_string()];
    write_csv(&dir.join("sizes.csv"), std::iter::once(header).chain(rows))?;
    written.push(PathBuf::from("sizes.csv"));
    if !result.rejects.is_empty() {
        let rows = result.rejects.iter().map(reject_record);
        let header = REJECTS_HEADER.map(str::to_string);
        write_csv(
            &dir.join("rejects.csv"),
            std::iter::once(header).chain(rows),
        )?;
        written.push(PathBuf::from("rejects.csv"));
    }
    let path = dir.join(MANIFEST);
    let mut manifest = format!("{MANIFEST_HEADER}\n");
    for file in &written {
        manifest.push_str(&format!("{}\n", file.display()));
    }
    fs::write(&path, manifest).with_context(|| format!("cannot write '{}'", path.display()))
}

/// Writes `records` as a CSV file; every failure names the file.
fn write_csv<R, F>(path: &Path, records: impl Iterator<Item = R>) -> anyhow::Result<()>
where
    R: IntoIterator<Item = F>,
    F: AsRef<[u8]>,
{
    let failed = || format!("cannot write '{}'", path.display());
    let file =
        fs::File::create(path).with_context(|| format!("cannot create '{}'", path.display()))?;
    let mut writer = csv::Writer::from_writer(BufWriter::new(file));
    for record in records {
        writer.write_record(record).with_context(failed)?;
    }
    let buffered = writer
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(failed)?;
    buffered
        .into_inner()
        .map(drop)
        .map_err(|e| e.into_error())
        .with_context(failed)
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
