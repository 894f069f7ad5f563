//! A live run's claim on its outputs: one writer per change log, and no output read
//! back as input.
//!
//! The change log is locked (an advisory lock, `flock` on Unix) for the whole run: a
//! second run writing the same log would interleave duplicate changes and progress
//! records that no restart could make sense of, so it is refused at start. The lock
//! goes with the process, so a killed run never leaves the log locked.
//!
//! An output whose name ends in `.jsonl` in the followed directory would be read as
//! live input and grow with what it reads: that layout is refused too.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use anyhow::Context;

/// Held for the whole run: the change log's lock.
#[derive(Debug)]
pub struct Claim {
    _log: File,
}

/// Claims `changes` (and checks `rejects`) for a live run following `follow`.
pub fn claim(follow: &Path, changes: &Path, rejects: &Path) -> anyhow::Result<Claim> {
    for (what, path) in [("change log", changes), ("rejects file", rejects)] {
        if is_followed(follow, path)? {
            anyhow::bail!(
                "the {what} '{}' is in the followed directory '{}' with a `.jsonl` name, so \
                 it would be read back as live input; write it elsewhere or under another name",
                path.display(),
                follow.display()
            );
        }
    }
    if let Some(parent) = changes.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create '{}'", parent.display()))?;
    }
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(changes)
        .with_context(|| format!("cannot open '{}'", changes.display()))?;
    match log.try_lock() {
        Ok(()) => Ok(Claim { _log: log }),
        Err(TryLockError::WouldBlock) => anyhow::bail!(
            "the change log '{}' is being written by another running `segflow tail` (it \
             holds the log's lock); one log takes one writer",
            changes.display()
        ),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock '{}'", changes.display()))
        }
    }
}

/// Whether the follower would read `path` as a live file of `follow`.
fn is_followed(follow: &Path, path: &Path) -> anyhow::Result<bool> {
    if path.extension().is_none_or(|e| e != "jsonl") {
        return Ok(false);
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let (Ok(parent), Ok(follow)) = (parent.canonicalize(), follow.canonicalize()) else {
        // A directory that does not exist yet is not the followed one.
        return Ok(false);
    };
    Ok(parent == follow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_on_one_log_is_refused_until_the_first_ends() {
        let dir = tempfile::tempdir().unwrap();
        let (follow, log) = (dir.path().join("live"), dir.path().join("out/changes.csv"));
        std::fs::create_dir(&follow).unwrap();
        let rejects = dir.path().join("rejects.csv");
        let first = claim(&follow, &log, &rejects).unwrap();
        let error = claim(&follow, &log, &rejects).unwrap_err().to_string();
        assert!(error.contains("another running `segflow tail`"), "{error}");
        drop(first);
        claim(&follow, &log, &rejects).unwrap();
    }

    #[test]
    fn outputs_read_back_as_input_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let follow = dir.path().join("live");
        std::fs::create_dir(&follow).unwrap();
        let outside = dir.path().join("changes.jsonl");
        for (changes, rejects) in [
            (follow.join("changes.jsonl"), dir.path().join("r.csv")),
            (outside.clone(), follow.join("rejects.jsonl")),
            (outside.clone(), dir.path().join("live/../live/r.jsonl")),
        ] {
            let error = claim(&follow, &changes, &rejects).unwrap_err().to_string();
            assert!(
                error.contains("would be read back as live input"),
                "{error}"
            );
        }
        claim(&follow, &follow.join("changes.csv"), &follow.join("r.csv")).unwrap();
    }
}
