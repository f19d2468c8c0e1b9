//! The library's error type. Every message names the problem and, where there is one, the fix.

use crate::activation::UnknownActivation;
use crate::data::DataError;
use crate::expr::ExprError;
use crate::model::ShapeError;
use std::path::PathBuf;

/// Anything that can go wrong in logexp.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting of a run or command is out of range.
    #[error("invalid --{field}: {message}")]
    InvalidSetting {
        /// The setting, spelled as its command-line flag.
        field: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// An activation name that does not exist.
    #[error(transparent)]
    UnknownActivation(#[from] UnknownActivation),
    /// A target expression that does not parse.
    #[error(transparent)]
    Expr(#[from] ExprError),
    /// A network shape that cannot be built.
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// Data that cannot be built or read.
    #[error(transparent)]
    Data(#[from] DataError),
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
}

impl Error {
    /// Whether the error is the user's input (a bad flag, name, expression or range) rather
    /// than the environment; command-line front ends exit with status 2 for these.
    pub fn is_usage(&self) -> bool {
        !matches!(self, Error::Io { .. } | Error::CorruptResults { .. })
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
