//! Helpers shared by the command-line tests.

use std::ffi::OsStr;
use std::process::{Command, Output, Stdio};

/// The `logexp` binary built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_logexp");

/// Runs the binary with `args` and returns its output. Stdin is closed so nothing can hang.
pub fn logexp<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the logexp binary runs")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("output is UTF-8")
}
