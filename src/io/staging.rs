//! Writing a file or directory beside its final place, then renaming it there whole.
//!
//! What is staged lives in a fresh hidden directory next to its target (same file
//! system, so a rename moves it), under the target's own name: it is created like any
//! file or directory, with the user's usual permissions, and the hidden directory is
//! removed with whatever is left in it when the staging ends, written or not. So a
//! write that fails half-way (a full disk) leaves the target as it was.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tempfile::TempDir;

/// A place beside a target to write its replacement.
pub struct Staged {
    /// The hidden directory holding it, removed on drop.
    _dir: TempDir,
    path: PathBuf,
}

impl Staged {
    /// A place beside `target`, whose parent directory is created if need be.
    pub fn beside(target: &Path) -> anyhow::Result<Staged> {
        let name = target
            .file_name()
            .with_context(|| format!("'{}' names no file or directory", target.display()))?;
        let parent = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create '{}'", parent.display()))?;
        let dir = tempfile::Builder::new()
            .prefix(&format!(".{}.segflow-", name.to_string_lossy()))
            .tempdir_in(parent)
            .with_context(|| format!("cannot create a directory in '{}'", parent.display()))?;
        let path = dir.path().join(name);
        Ok(Staged { _dir: dir, path })
    }

    /// Where to write the replacement.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the staged file over `target`, at once.
    pub fn replace_file(self, target: &Path) -> anyhow::Result<()> {
        rename(&self.path, target)
    }

    /// Renames the staged directory to `target`; an existing `target` is first moved
    /// aside, and removed once the new one is in place (a reader sees the old one or
    /// the new one, and between the two renames neither).
    pub fn replace_dir(self, target: &Path) -> anyhow::Result<()> {
        if fs::symlink_metadata(target).is_err() {
            return rename(&self.path, target);
        }
        let aside = Staged::beside(target)?;
        rename(target, &aside.path)?;
        if let Err(error) = rename(&self.path, target) {
            rename(&aside.path, target)?;
            return Err(error);
        }
        let old = aside.path.clone();
        aside
            ._dir
            .close()
            .with_context(|| format!("cannot remove the previous '{}'", old.display()))
    }
}

fn rename(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::rename(from, to)
        .with_context(|| format!("cannot move '{}' to '{}'", from.display(), to.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staged_directory_replaces_its_target_and_leaves_nothing_beside() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("old.csv"), "old").unwrap();
        let staged = Staged::beside(&target).unwrap();
        fs::create_dir(staged.path()).unwrap();
        fs::write(staged.path().join("new.csv"), "new").unwrap();
        staged.replace_dir(&target).unwrap();
        assert_eq!(fs::read_to_string(target.join("new.csv")).unwrap(), "new");
        assert!(!target.join("old.csv").exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);

        // Staging that ends unused leaves the target as it was.
        let unused = Staged::beside(&target).unwrap();
        fs::create_dir(unused.path()).unwrap();
        drop(unused);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(target.join("new.csv").exists());
    }
}
