//! The library's error type. Every message names the problem and, where there is one, the fix.
//!
//! Front ends choose their exit status from [`Error::is_usage`]: 2 for input the user can fix
//! (a flag, a name, an expression, a file that is not ours), 1 for the environment (I/O, a run
//! that cannot start). The choice is made per variant, so a new variant must pick one.

use crate::activation::UnknownActivation;
use crate::data::DataError;
use crate::expr::ExprError;
use crate::model::ShapeError;
use std::path::PathBuf;

/// Anything that can go wrong in logexp.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting of a run or command is out of range (or needs more memory or time than the
    /// documented limit allows).
    #[error("invalid --{field}: {message}")]
    InvalidSetting {
        /// The setting, spelled as its command-line flag.
        field: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A target expression given through a named flag (or an element of a list) that does not
    /// parse or cannot be used.
    #[error("invalid {flag}: {source}")]
    InvalidExpression {
        /// Where the expression came from, e.g. `--function` or `--functions (element 2)`.
        flag: String,
        /// What the parser said.
        source: ExprError,
    },
    /// An activation name that does not exist.
    #[error(transparent)]
    UnknownActivation(#[from] UnknownActivation),
    /// A target expression that does not parse (library callers; the binary names the flag
    /// through [`Error::InvalidExpression`]).
    #[error(transparent)]
    Expr(#[from] ExprError),
    /// A network shape that cannot be built.
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// Data that cannot be built or read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A file given as a results file that is not one (its first line is not a run record, it
    /// is not a regular file, or a line is longer than any record could be). Nothing in it is
    /// changed.
    #[error("{}: {message}", path.display())]
    NotResults {
        /// The file.
        path: PathBuf,
        /// Why it is not a results file, and what to do.
        message: String,
    },
    /// A results file that another process (another sweep) is writing.
    #[error(
        "{}: another logexp process holds this results file (a sweep is writing it); wait for it to finish or choose another --out",
        path.display()
    )]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// An output directory's path that names something other than a directory: a file, a
    /// FIFO, a link to nothing or a loop of links (or passes through one).
    #[error(
        "{}: cannot write files there: it is {kind}; give a directory (it is created if missing)",
        path.display()
    )]
    NotADirectory {
        /// The path.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// An output directory that another process (another report) is writing.
    #[error(
        "{}: another logexp process is writing a report into this directory; wait for it to finish or choose another --out",
        path.display()
    )]
    DirectoryLocked {
        /// The directory.
        path: PathBuf,
    },
    /// A results file with a line that is not a run record.
    #[error(
        "{}, line {line}: not a run record ({message}); fix or delete that line, the other lines are kept",
        path.display()
    )]
    CorruptResults {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What the JSON parser said.
        message: String,
    },
    /// A file that cannot be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("cannot write", …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A CSV file that cannot be used as a table: empty, no header, a missing or non-numeric
    /// column, a ragged row, an empty or non-finite cell, or a row longer than the limit.
    /// `line` is the 1-based line of the file where the offending record starts (the header is
    /// line 1); `column` the column's name (or 1-based number when it has none).
    #[error("{}{}{}: {message}", path.display(), line.map_or(String::new(), |l| format!(", line {l}")), column.as_ref().map_or(String::new(), |c| format!(", column {c}")))]
    Csv {
        /// The file (or `-` for standard input).
        path: PathBuf,
        /// 1-based line where the record starts, if the problem is in one record.
        line: Option<u64>,
        /// The column at fault, if one is.
        column: Option<String>,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A file given as a logexp model that is not one, or not one this version can read:
    /// truncated, corrupted, foreign, newer, or whose tensors do not match its model spec.
    #[error("{}: not a usable logexp model file: {message}", path.display())]
    ModelFile {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// An output path that exists but is not a regular file (a device such as `/dev/null`, a
    /// FIFO, a socket, a directory), is a read-only file, or is a symbolic link to nothing:
    /// writing the file would replace it, so nothing is written.
    #[error(
        "{}: cannot write the output there: it is {kind}; give the path of a writable regular file or of a new one",
        path.display()
    )]
    NotRegularOutput {
        /// The path given.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// An output file whose directory does not exist: refused before any work, so a long fit
    /// is not thrown away when its model cannot be saved.
    #[error(
        "{}: cannot write the output there: the directory {} does not exist; create it first, or give another path",
        path.display(),
        directory.display()
    )]
    MissingDirectory {
        /// The path given.
        path: PathBuf,
        /// Its directory, which does not exist.
        directory: PathBuf,
    },
    /// Work that could not start or finish for a reason outside the user's input (e.g. the
    /// operating system refused the worker threads).
    #[error("{0}")]
    Run(String),
}

impl Error {
    /// Whether the error is the user's input (a bad flag, name, expression, range or a file
    /// that is not a results file) rather than the environment; command-line front ends exit
    /// with status 2 for these and 1 for the rest.
    pub fn is_usage(&self) -> bool {
        match self {
            Error::InvalidSetting { .. }
            | Error::InvalidExpression { .. }
            | Error::UnknownActivation(_)
            | Error::Expr(_)
            | Error::Shape(_)
            | Error::Data(_)
            | Error::NotResults { .. }
            | Error::Locked { .. }
            | Error::DirectoryLocked { .. }
            | Error::NotADirectory { .. }
            | Error::Csv { .. }
            | Error::ModelFile { .. }
            | Error::NotRegularOutput { .. }
            | Error::MissingDirectory { .. } => true,
            Error::CorruptResults { .. } | Error::Io { .. } | Error::Run(_) => false,
        }
    }

    /// An I/O error with the file and what was being done.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_exits_1_and_the_users_input_exits_2() {
        let io = Error::io("cannot read", "f", std::io::Error::other("x"));
        assert!(!io.is_usage());
        assert!(!Error::Run("no threads".into()).is_usage());
        let corrupt = Error::CorruptResults {
            path: "f".into(),
            line: 3,
            message: "x".into(),
        };
        assert!(!corrupt.is_usage());
        assert!(Error::Locked { path: "f".into() }.is_usage());
        let device = Error::NotRegularOutput {
            path: "/dev/null".into(),
            kind: "a device",
        };
        assert!(device.is_usage());
        assert!(
            Error::NotResults {
                path: "f".into(),
                message: "x".into()
            }
            .is_usage()
        );
        assert!(
            Error::InvalidSetting {
                field: "epochs",
                message: "x".into()
            }
            .is_usage()
        );
    }
}
