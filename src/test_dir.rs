//! Temporary directories for the library's unit tests.
//!
//! One guard for every test that writes files, so that no test leaves anything behind: not when
//! it passes, and not when it fails either. A mutation run (DESIGN.md, "Mutation testing")
//! fails thousands of tests on purpose, and each one used to leave its folder in the temporary
//! directory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh, empty directory unique to this process and use, removed with its contents when
/// dropped, also while a failing test unwinds.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    /// Creates the directory; `tag` goes into its name so a stray one can be traced to its test.
    pub(crate) fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("logexp-unit-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_distinct_and_removed_on_drop_and_on_panic() {
        let (a, b) = (TempDir::new("same"), TempDir::new("same"));
        assert_ne!(a.to_path_buf(), b.to_path_buf());
        assert!(a.is_dir() && b.is_dir());
        std::fs::create_dir_all(a.join("sub")).unwrap();
        std::fs::write(a.join("sub/file"), "x").unwrap();
        let kept = a.to_path_buf();
        drop(a);
        assert!(!kept.exists(), "{} left behind", kept.display());

        let failing = std::panic::catch_unwind(|| {
            let dir = TempDir::new("failing");
            std::fs::write(dir.join("file"), "x").unwrap();
            let path = dir.to_path_buf();
            std::panic::panic_any(path);
        });
        let path = failing.unwrap_err().downcast::<PathBuf>().unwrap();
        assert!(
            !path.exists(),
            "{} left behind by a failing test",
            path.display()
        );
    }
}
