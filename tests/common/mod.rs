//! Helpers shared by the command-line tests.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The `logexp` binary built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_logexp");

/// Runs the binary with `args`, which must succeed and print one JSON record, and parses it.
pub fn record(args: &[&str]) -> serde_json::Value {
    let out = logexp(args);
    assert!(
        out.status.success(),
        "logexp {args:?}: {}",
        text(&out.stderr)
    );
    serde_json::from_str(text(&out.stdout).trim()).expect("one JSON record")
}

/// Runs the binary with `args` and returns its output. Stdin is closed so nothing can hang.
pub fn logexp<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the logexp binary runs")
}

/// The arguments of `fit --data DATA --target y --out MODEL`, then `extra`.
#[allow(dead_code)] // not every test crate fits a model
pub fn fit_args<'a>(
    data: &'a std::path::Path,
    model: &'a std::path::Path,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "fit",
        "--data",
        data.to_str().expect("a UTF-8 path"),
        "--target",
        "y",
        "--out",
        model.to_str().expect("a UTF-8 path"),
    ];
    args.extend_from_slice(extra);
    args
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("output is UTF-8")
}

/// Runs `logexp ARGS` and requires a clean refusal: exit status `code`, nothing on stdout, no
/// panic, and exactly one `error:` line, first, naming the problem (each of `needles`,
/// case-insensitively). Besides that line, stderr may only hold clap's usage and help hints.
pub fn assert_refused<S: AsRef<OsStr> + std::fmt::Debug>(args: &[S], code: i32, needles: &[&str]) {
    let out = logexp(args);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "logexp {args:?}: expected exit status {code}\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stdout.is_empty(),
        "logexp {args:?}: stdout not empty: {stdout}"
    );
    assert!(
        !stderr.contains("panicked"),
        "logexp {args:?} panicked: {stderr}"
    );
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(
        errors.len(),
        1,
        "logexp {args:?}: expected one error line, stderr: {stderr}"
    );
    assert_eq!(
        stderr.lines().next(),
        Some(errors[0]),
        "logexp {args:?}: the error must come first: {stderr}"
    );
    let mut in_usage = false;
    for line in stderr.lines().skip(1) {
        in_usage |= line.starts_with("Usage:");
        let allowed = line.trim().is_empty()
            || line.starts_with("For more information")
            || in_usage
            // clap lists missing required arguments indented under the error line
            || line.starts_with("  --");
        assert!(
            allowed,
            "logexp {args:?}: unexpected stderr line {line:?} in:\n{stderr}"
        );
    }
    let lower = errors[0].to_lowercase();
    for needle in needles {
        assert!(
            lower.contains(&needle.to_lowercase()),
            "logexp {args:?}: the error line should mention {needle:?}: {}",
            errors[0]
        );
    }
}

/// A temporary directory unique to this process, tag and use, removed when dropped, also when
/// the test fails: a failing test reports what it saw in its assertion message, and leaves
/// nothing behind.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh, empty directory whose name contains `tag`.
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("logexp-test-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }

    /// A path inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
