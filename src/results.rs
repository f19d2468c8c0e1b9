//! Results files: one [`RunRecord`] per line (JSON Lines), read by `report` and resumed by
//! sweeps.
//!
//! # What a results file is, and what may be changed in one
//!
//! A sweep appends each record as one line in one `write`, so a killed or failed write can leave
//! at most one *unterminated* last line. Reading applies these rules, line by line (blank lines
//! are skipped everywhere):
//!
//! - The first non-blank line must be a run record, or the file is not a results file:
//!   [`Error::NotResults`] (exit 2), and nothing in it is changed. This is what protects notes,
//!   binary files and anything else given as `--out` by mistake.
//! - Every later newline-terminated line must be a record too, or reading stops with
//!   [`Error::CorruptResults`] naming the file and 1-based line; nothing is appended after it.
//! - A record must have a supported [`SUPPORTED_SCHEMAS`] layout and a `function` that parses;
//!   otherwise [`Error::CorruptResults`] with file and line.
//! - No line may be longer than [`MAX_LINE_BYTES`]; past it the file is refused
//!   ([`Error::NotResults`]) after reading at most that many bytes of the line.
//! - The unterminated last line, if any, is one of three things ([`Tail`]):
//!   - a complete, valid record whose newline is missing (say, saved by hand from
//!     `train --json`): it is a record like any other and is **kept**; a writer first completes
//!     the line with `\n` ([`Tail::Unterminated`]; a blank tail is treated alike);
//!   - a **torn record of ours** ([`Tail::Torn`]): the text starts with `{"schema":` (or is a
//!     non-empty beginning of those ten bytes, for a write cut very early) *and* the JSON
//!     parser runs out of input before the record ends (serde_json's end-of-input category: it
//!     is a beginning of a JSON document, not malformed text). Only this may be cut, and only
//!     by a sweep holding the file's lock; readers skip it, since a sweep may be writing it
//!     right now. A file holding nothing but such a line is cut to empty;
//!   - anything else: refused like any other non-record line ([`Error::NotResults`] if no
//!     record precedes it, [`Error::CorruptResults`] otherwise), file untouched.
//!
//! A sweep ([`ResultsWriter`]) holds an exclusive advisory lock on the file for its whole life,
//! taken before the file is read, so two sweeps never interleave records or cut each other's
//! lines: the second fails at once with [`Error::Locked`]. Inputs that are not regular files
//! (directories, devices such as `/dev/null` or `/dev/stdout`, FIFOs, sockets) are refused
//! before they are opened, as opening a FIFO would block and a device may never end.

use crate::error::Error;
use crate::experiment::{Limits, RECORD_SCHEMA, RunRecord};
use crate::expr::parse_outputs;
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The record layouts ([`RunRecord::schema`]) this version reads. A record of another schema is
/// refused with its file and line rather than misread.
pub const SUPPORTED_SCHEMAS: &[u32] = &[1, RECORD_SCHEMA];

/// The longest line (newline included) read from a results file: 64 MiB. A record's size is
/// dominated by its loss history, about 20 bytes per epoch, so a run of 100,000 epochs writes
/// about 2 MB and the bound leaves a factor of 30; yet a file that is not line-structured
/// (`/dev/zero` copied to disk, a binary) costs at most this much memory before it is refused.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// How every record line begins: `RunRecord` serialises `schema` first.
const RECORD_PREFIX: &[u8] = br#"{"schema":"#;

/// What ends a results file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tail {
    /// The file is empty or ends with a newline.
    #[default]
    Terminated,
    /// The last line is a complete record (or blank) without its newline. It is kept; a writer
    /// adds the newline before appending.
    Unterminated,
    /// The last line is a record cut short by an interrupted write, starting at byte `at`. A
    /// writer cuts the file back to `at`; readers ignore the line.
    Torn {
        /// Byte offset of the torn line (the length of everything kept).
        at: u64,
        /// Length of the torn line in bytes.
        len: u64,
    },
}

/// The records of a results file.
#[derive(Debug, Clone, Default)]
pub struct Results {
    /// Every record, in file order (a complete unterminated last record included).
    pub records: Vec<RunRecord>,
    /// How the file ends.
    pub tail: Tail,
}

impl Results {
    /// Keys ([`crate::experiment::RunSpec::key`]) of the runs present.
    pub fn keys(&self) -> HashSet<String> {
        self.records.iter().map(|r| r.spec.key()).collect()
    }
}

/// Refuses a path that exists but is not a regular file, without opening it. A missing path is
/// left to the caller (a sweep creates it, a report refuses it).
fn refuse_non_regular(path: &Path, what_to_do: &str) -> Result<(), Error> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => Err(Error::NotResults {
            path: path.to_path_buf(),
            message: format!(
                "not a regular file (it is {}); {what_to_do}",
                crate::output::kind_of(&meta)
            ),
        }),
        _ => Ok(()),
    }
}

/// What a scan of a file found, besides the records it handed over.
struct Scan {
    tail: Tail,
}

/// Whether a JSON value is all JSON whitespace (a blank line).
fn is_blank(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// Whether an unterminated last line is a record of ours cut short (see the module docs).
fn is_torn(line: &[u8], error: &serde_json::Error) -> bool {
    let ours = if line.len() >= RECORD_PREFIX.len() {
        line.starts_with(RECORD_PREFIX)
    } else {
        !line.is_empty() && RECORD_PREFIX.starts_with(line)
    };
    ours && error.classify() == serde_json::error::Category::Eof
}

/// At most this many characters of a field are quoted in an error.
const QUOTE_CHARS: usize = 60;

/// `text` quoted for an error message: control characters escaped, shortened with an ellipsis.
fn quote(text: &str) -> String {
    if text.chars().count() <= QUOTE_CHARS {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(QUOTE_CHARS).collect();
        format!("{head:?}…")
    }
}

/// Parses one line into a record, checking what serde cannot: the schema and the function.
/// `Err(Ok(e))` is a JSON or layout error (the line is no record), `Err(Err(m))` a record that
/// cannot be used.
fn parse_record(line: &[u8]) -> Result<RunRecord, Result<serde_json::Error, String>> {
    let unsupported = |schema: &serde_json::Value| {
        format!(
            "record schema {schema}, but this logexp reads schema {}; use the logexp version that wrote it",
            SUPPORTED_SCHEMAS
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let record: RunRecord = match serde_json::from_slice(line) {
        Ok(record) => record,
        Err(e) => {
            // A record of another layout need not deserialise at all: say so rather than
            // naming some missing field.
            #[derive(serde::Deserialize)]
            struct Versioned {
                schema: serde_json::Value,
            }
            if let Ok(v) = serde_json::from_slice::<Versioned>(line) {
                let known = v
                    .schema
                    .as_u64()
                    .is_some_and(|s| SUPPORTED_SCHEMAS.iter().any(|&k| u64::from(k) == s));
                if !known {
                    return Err(Err(unsupported(&v.schema)));
                }
            }
            return Err(Ok(e));
        }
    };
    if !SUPPORTED_SCHEMAS.contains(&record.schema) {
        return Err(Err(unsupported(&record.schema.into())));
    }
    let outputs = match parse_outputs(&record.spec.function) {
        Ok(outputs) => outputs,
        Err(e) => {
            return Err(Err(format!(
                "its function {} does not parse: {}",
                quote(&record.spec.function),
                e.message
            )));
        }
    };
    // What a reader derives from a record must be computable: the inputs follow from the
    // function (as `run` builds them), and a data set of the record's size must be countable.
    let n_inputs = crate::expr::n_inputs(&outputs);
    if record.n_inputs != n_inputs {
        return Err(Err(format!(
            "n_inputs is {} but its function {} has {n_inputs}",
            record.n_inputs,
            quote(&record.spec.function)
        )));
    }
    let s = &record.spec;
    if s.n_train
        .checked_add(s.n_test)
        .and_then(|rows| rows.checked_mul(n_inputs))
        .is_none()
    {
        return Err(Err(format!(
            "its data sizes overflow ({} inputs × ({} + {} rows))",
            n_inputs, s.n_train, s.n_test
        )));
    }
    Ok(record)
}

/// Reads `reader` (the content of `path`) line by line under the rules of the module docs,
/// handing each record to `on_record`.
fn scan(
    reader: impl Read,
    path: &Path,
    on_record: &mut dyn FnMut(RunRecord) -> Result<(), Error>,
) -> Result<Scan, Error> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let mut line = Vec::new();
    let mut offset: u64 = 0;
    let mut line_no = 0usize;
    let mut seen_record = false;
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io("cannot read", path, e))?;
        if n == 0 {
            return Ok(Scan {
                tail: Tail::Terminated,
            });
        }
        line_no += 1;
        if n > MAX_LINE_BYTES {
            return Err(Error::NotResults {
                path: path.to_path_buf(),
                message: format!(
                    "line {line_no} is longer than {} MiB, longer than any run record; not a results file",
                    MAX_LINE_BYTES >> 20
                ),
            });
        }
        let terminated = line.last() == Some(&b'\n');
        if terminated {
            line.pop();
        }
        // Editors on Windows may save the file with a UTF-8 byte-order mark.
        if line_no == 1 && line.starts_with(b"\xef\xbb\xbf") {
            line.drain(..3);
        }
        if is_blank(&line) {
            offset += n as u64;
            if terminated {
                continue;
            }
            return Ok(Scan {
                tail: Tail::Unterminated,
            });
        }
        match parse_record(&line) {
            Ok(record) => {
                seen_record = true;
                on_record(record)?;
                offset += n as u64;
                if !terminated {
                    return Ok(Scan {
                        tail: Tail::Unterminated,
                    });
                }
            }
            Err(Ok(json)) if !terminated && is_torn(&line, &json) => {
                return Ok(Scan {
                    tail: Tail::Torn {
                        at: offset,
                        len: n as u64,
                    },
                });
            }
            Err(Ok(json)) if !seen_record => {
                return Err(Error::NotResults {
                    path: path.to_path_buf(),
                    message: format!(
                        "line {line_no} is not a run record ({json}), so this is not a results file; it was left as it is (give a file written by `logexp sweep`; a sweep also starts a new one at a new path)"
                    ),
                });
            }
            Err(problem) => {
                return Err(Error::CorruptResults {
                    path: path.to_path_buf(),
                    line: line_no,
                    message: match problem {
                        Ok(json) => json.to_string(),
                        Err(message) => message,
                    },
                });
            }
        }
    }
}

/// Reads a results file (see the module docs for what is accepted). A missing file is an empty
/// result; a torn last line is skipped (a sweep may be writing it) and reported in
/// [`Results::tail`].
pub fn read_results(path: &Path) -> Result<Results, Error> {
    refuse_non_regular(path, "give a results file written by `logexp sweep`")?;
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Results::default()),
        Err(e) => return Err(Error::io("cannot read", path, e)),
    };
    let mut records = Vec::new();
    let scan = scan(file, path, &mut |r| {
        records.push(r);
        Ok(())
    })?;
    Ok(Results {
        records,
        tail: scan.tail,
    })
}

/// Reads and merges several results files for a report, dropping exact duplicate runs (same
/// spec; the first copy wins). Every file must exist and be a regular file; files that hold no
/// record at all between them are refused ([`Error::NotResults`], "no run records"), since a
/// report of nothing is a mistake (a wrong path, a sweep not yet run).
pub fn read_all_results(paths: &[PathBuf]) -> Result<Vec<RunRecord>, Error> {
    read_all_results_within(paths, &Limits::default())
}

/// The records a report reads, with what it left out of them.
#[derive(Debug, Clone, Default)]
pub struct ReportRecords {
    /// One record per run, the first copy of each, in file order.
    pub records: Vec<RunRecord>,
    /// Files whose last line is a torn record (a sweep may still be writing it), left out.
    pub torn: Vec<PathBuf>,
    /// Records left out because an earlier one (in the same or an earlier file) has the same
    /// spec.
    pub duplicates: usize,
}

impl ReportRecords {
    /// One sentence per kind of record left out, for people (empty when nothing was).
    pub fn notes(&self) -> Vec<String> {
        let mut notes: Vec<String> = self
            .torn
            .iter()
            .map(|path| {
                format!(
                    "{}: its last line is a record cut short (a sweep may still be writing it), left out",
                    path.display()
                )
            })
            .collect();
        if self.duplicates > 0 {
            notes.push(format!(
                "{} record{} left out: an earlier record has the same run (function, model, seed and settings); the first copy of each run is used",
                self.duplicates,
                if self.duplicates == 1 { "" } else { "s" }
            ));
        }
        notes
    }
}

/// Memory a report needs per byte its records hold: the records, plus what it builds from
/// them. Measured: 1.1 (a report of 100 records of a million epochs, 800 MB of loss values,
/// peaked at 889 MB); 2 leaves room for the figures' copies of the curves.
pub const REPORT_BYTES_PER_RECORD_BYTE: u64 = 2;

/// [`read_all_results`], refusing, as soon as it is read, a set of records that a report
/// could not hold within `limits` ([`record_bytes`] × [`REPORT_BYTES_PER_RECORD_BYTE`]):
/// loss curves of a million epochs take 8 MB each.
pub fn read_all_results_within(
    paths: &[PathBuf],
    limits: &Limits,
) -> Result<Vec<RunRecord>, Error> {
    Ok(read_report_records(paths, limits)?.records)
}

/// [`read_all_results_within`], saying also which records it left out: torn last lines and
/// repeated runs.
pub fn read_report_records(paths: &[PathBuf], limits: &Limits) -> Result<ReportRecords, Error> {
    let mut seen = HashSet::new();
    let mut records = Vec::new();
    let mut torn = Vec::new();
    let mut duplicates = 0usize;
    let mut held: u64 = 0;
    for path in paths {
        refuse_non_regular(path, "give a results file written by `logexp sweep`")?;
        let file = File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
        let scanned = scan(file, path, &mut |record| {
            if !seen.insert(record.spec.key()) {
                duplicates += 1;
            } else {
                held = held.saturating_add(record_bytes(&record));
                let needed = held.saturating_mul(REPORT_BYTES_PER_RECORD_BYTE);
                if needed > limits.max_run_bytes {
                    let (needed, limit) =
                        crate::experiment::format_bytes_beside(needed, limits.max_run_bytes);
                    return Err(Error::InvalidSetting {
                        field: "max-memory",
                        message: format!(
                            "the first {} records (up to {}) already need {needed} of memory for a report, more than the limit of {limit}: report fewer records (split the results file), or raise the limit",
                            records.len() + 1,
                            path.display(),
                        ),
                    });
                }
                limits.check_machine(needed, "a report of these records")?;
                records.push(record);
            }
            Ok(())
        })?;
        if matches!(scanned.tail, Tail::Torn { .. }) {
            torn.push(path.clone());
        }
    }
    if records.is_empty() {
        let (first, others) = match paths.split_first() {
            Some(split) => split,
            None => {
                return Err(Error::InvalidSetting {
                    field: "results",
                    message: "no results files given".into(),
                });
            }
        };
        let others = if others.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = others.iter().map(|p| p.display().to_string()).collect();
            format!(", nor do {}", names.join(", "))
        };
        return Err(Error::NotResults {
            path: first.clone(),
            message: format!(
                "holds no run records{others}; a report needs at least one (run `logexp sweep ... --out FILE` first)"
            ),
        });
    }
    Ok(ReportRecords {
        records,
        torn,
        duplicates,
    })
}

/// About how many bytes `record` holds in memory: the struct, its loss curve and its other
/// lists and strings.
pub fn record_bytes(record: &RunRecord) -> u64 {
    let lists = record.train_loss.len() * std::mem::size_of::<f64>()
        + record.reinit_epochs.len() * std::mem::size_of::<usize>()
        + record
            .outputs
            .iter()
            .map(|o| std::mem::size_of_val(o) + o.function.len())
            .sum::<usize>();
    let strings = record.spec.function.len() + record.logexp_version.len();
    (std::mem::size_of::<RunRecord>() + lists + strings) as u64
}

/// A results file opened by a sweep: locked for the writer's whole life, repaired, and
/// appended to one whole line at a time.
#[derive(Debug)]
pub struct ResultsWriter {
    file: Mutex<File>,
    path: PathBuf,
    keys: HashSet<String>,
    tail: Tail,
}

impl ResultsWriter {
    /// Opens (creating it and its directory if needed) and locks `path`, reads the keys of the
    /// runs it holds, then makes it ready to append: a complete last line without its newline
    /// gets one, a torn record of ours is cut (see the module docs). A path that is not a
    /// regular file, or not a results file, is refused and left untouched; a file another
    /// process holds is refused with [`Error::Locked`].
    pub fn open(path: &Path) -> Result<ResultsWriter, Error> {
        let advice = "--out must be a regular file (or a new path), since a sweep reads, repairs and appends to it";
        refuse_non_regular(path, advice)?;
        let open = || {
            OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(path)
        };
        // Directories are created only when missing, so any other failure names the file.
        let mut file = match open() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| Error::io("cannot create directory", dir, e))?;
                }
                open()
            }
            opened => opened,
        }
        .map_err(|e| Error::io("cannot write", path, e))?;
        // The path may have changed between the check and the open.
        let meta = file
            .metadata()
            .map_err(|e| Error::io("cannot read", path, e))?;
        if !meta.is_file() {
            return Err(Error::NotResults {
                path: path.to_path_buf(),
                message: format!(
                    "not a regular file (it is {}); {advice}",
                    crate::output::kind_of(&meta)
                ),
            });
        }
        // Locked before reading, so what is read (and cut) is what no one else is writing.
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    path: path.to_path_buf(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("cannot lock", path, e)),
        }
        let mut keys = HashSet::new();
        let scan = scan(&mut file, path, &mut |record| {
            keys.insert(record.spec.key());
            Ok(())
        })?;
        match scan.tail {
            Tail::Terminated => {}
            Tail::Unterminated => file
                .write_all(b"\n")
                .map_err(|e| Error::io("cannot write", path, e))?,
            Tail::Torn { at, .. } => {
                file.set_len(at)
                    .map_err(|e| Error::io("cannot repair", path, e))?;
                file.seek(SeekFrom::End(0))
                    .map_err(|e| Error::io("cannot repair", path, e))?;
            }
        }
        Ok(ResultsWriter {
            file: Mutex::new(file),
            path: path.to_path_buf(),
            keys,
            tail: scan.tail,
        })
    }

    /// Keys ([`crate::experiment::RunSpec::key`]) of the runs the file held when opened.
    pub fn keys(&self) -> &HashSet<String> {
        &self.keys
    }

    /// How the file ended when opened, before it was repaired.
    pub fn tail(&self) -> Tail {
        self.tail
    }

    /// Appends one record as one line, in one write (so a kill can tear at most this line).
    /// A record longer than [`MAX_LINE_BYTES`] is refused rather than written, since it could
    /// not be read back.
    pub fn append(&self, record: &RunRecord) -> Result<(), Error> {
        let mut line = serde_json::to_string(record)
            .map_err(|e| Error::Run(format!("cannot serialise a record: {e}")))?;
        line.push('\n');
        if line.len() > MAX_LINE_BYTES {
            return Err(Error::Run(format!(
                "the record of {} is {} bytes, more than the {} MiB a results line may hold; use fewer epochs",
                quote(&record.spec.function),
                line.len(),
                MAX_LINE_BYTES >> 20
            )));
        }
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(line.as_bytes())
            .map_err(|e| Error::io("cannot write", &self.path, e))
    }

    /// Flushes the file to disk and releases the lock.
    pub fn finish(self) -> Result<(), Error> {
        let file = self.file.into_inner().unwrap_or_else(|p| p.into_inner());
        file.sync_all()
            .map_err(|e| Error::io("cannot write", &self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::{Pair, RunSpec, run};

    fn record() -> RunRecord {
        run(&RunSpec {
            epochs: 3,
            n_train: 64,
            n_test: 16,
            ..RunSpec::paper("x1*x2/10", Pair::lg())
        })
        .unwrap()
    }

    #[test]
    fn a_byte_order_mark_before_the_first_record_is_read_past() {
        let dir = crate::test_dir::TempDir::new("results-bom");
        let path = dir.join("bom.jsonl");
        let line = serde_json::to_string(&record()).unwrap();
        std::fs::write(&path, format!("\u{feff}{line}\n{line}\n")).unwrap();
        let read = read_results(&path).unwrap();
        assert_eq!(read.records.len(), 2);
        assert_eq!(read.tail, Tail::Terminated);
        // Only at the start of the file: elsewhere it is a corrupt line.
        std::fs::write(&path, format!("{line}\n\u{feff}{line}\n")).unwrap();
        assert!(read_results(&path).is_err());
    }

    #[test]
    fn a_report_says_which_records_it_left_out() {
        let dir = crate::test_dir::TempDir::new("results-left-out");
        let mut first = record();
        let line = |r: &RunRecord| serde_json::to_string(r).unwrap() + "\n";
        let one = line(&first);
        first.spec.seed = 1;
        let two = line(&first);
        // a.jsonl: seed 0 twice, then seed 1 cut short; b.jsonl: seed 0 again, then seed 1.
        let a = dir.join("a.jsonl");
        std::fs::write(&a, format!("{one}{one}{}", &two[..two.len() / 2])).unwrap();
        let b = dir.join("b.jsonl");
        std::fs::write(&b, format!("{one}{two}")).unwrap();
        let read = read_report_records(&[a.clone(), b.clone()], &Limits::default()).unwrap();
        let seeds: Vec<u64> = read.records.iter().map(|r| r.spec.seed).collect();
        assert_eq!(seeds, vec![0, 1]);
        assert_eq!(read.torn, vec![a.clone()]);
        assert_eq!(read.duplicates, 2);
        let notes = read.notes();
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("a.jsonl") && notes[0].contains("cut short"));
        assert!(notes[1].starts_with("2 records left out"), "{notes:?}");
        // A clean read has nothing to say.
        let clean = read_report_records(&[b], &Limits::default()).unwrap();
        assert!(clean.notes().is_empty());
    }

    #[test]
    fn a_report_stops_reading_records_at_its_memory_limit() {
        let dir = crate::test_dir::TempDir::new("results-limit");
        let mut long = record();
        long.train_loss = vec![1.0; 100_000];
        let bytes = record_bytes(&long);
        // 800 KB of loss values, and the struct and strings beside them.
        assert!((800_000..801_000).contains(&bytes), "{bytes}");
        let mut lines = String::new();
        for seed in 0..3 {
            long.spec.seed = seed;
            lines += &(serde_json::to_string(&long).unwrap() + "\n");
        }
        let path = dir.join("long.jsonl");
        std::fs::write(&path, lines).unwrap();
        let paths = [path.clone()];
        // Room for two records in a report (2 × 2 × bytes), not three.
        let limits = Limits {
            max_run_bytes: 4 * bytes + 1000,
            machine_bytes: None,
        };
        let err = read_all_results_within(&paths, &limits).unwrap_err();
        assert!(err.is_usage(), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("--max-memory") && text.contains("first 3 records"),
            "{text}"
        );
        let roomy = Limits {
            max_run_bytes: 6 * bytes + 1000,
            ..limits
        };
        assert_eq!(read_all_results_within(&paths, &roomy).unwrap().len(), 3);
        let small_machine = Limits {
            machine_bytes: Some(1 << 20),
            ..roomy
        };
        let err = read_all_results_within(&paths, &small_machine).unwrap_err();
        assert!(
            err.to_string().contains("this machine has 1.0 MiB"),
            "{err}"
        );
    }

    fn read(bytes: &[u8]) -> Result<(Vec<RunRecord>, Tail), Error> {
        let mut records = Vec::new();
        let scan = scan(bytes, Path::new("f.jsonl"), &mut |r| {
            records.push(r);
            Ok(())
        })?;
        Ok((records, scan.tail))
    }

    #[test]
    fn every_cut_of_a_record_is_a_torn_record_and_only_the_whole_is_kept() {
        let line = serde_json::to_string(&record()).unwrap();
        let bytes = line.as_bytes();
        for cut in 1..bytes.len() {
            let (records, tail) = read(&bytes[..cut])
                .unwrap_or_else(|e| panic!("cut at {cut} of {}: {e}", bytes.len()));
            assert!(records.is_empty());
            assert_eq!(
                tail,
                Tail::Torn {
                    at: 0,
                    len: cut as u64
                },
                "cut at {cut}"
            );
            // After a complete record, with its offset.
            let after = format!("{line}\n{}", &line[..cut]);
            let (records, tail) = read(after.as_bytes()).unwrap();
            assert_eq!(records.len(), 1);
            let at = line.len() as u64 + 1;
            assert_eq!(
                tail,
                Tail::Torn {
                    at,
                    len: cut as u64
                }
            );
        }
        let (records, tail) = read(bytes).unwrap();
        assert_eq!((records.len(), tail), (1, Tail::Unterminated));
        let (records, tail) = read(format!("{line}\r\n\n  \n{line}").as_bytes()).unwrap();
        assert_eq!((records.len(), tail), (2, Tail::Unterminated));
    }

    #[test]
    fn text_that_is_not_a_record_is_not_results_and_later_garbage_is_corrupt() {
        let line = serde_json::to_string(&record()).unwrap();
        for first in [
            "my notes",
            "{\"schema\":1}",
            "{\"hello\":1}\n",
            "\u{0}\u{0}",
        ] {
            let err = read(first.as_bytes()).map(|_| ()).unwrap_err();
            assert!(matches!(err, Error::NotResults { .. }), "{first:?}: {err}");
        }
        // A beginning of `{"schema":` alone is a torn record of ours, not a refusal.
        assert_eq!(read(b"{\"schem").unwrap().1, Tail::Torn { at: 0, len: 7 });
        for tail in [
            "my notes",
            "\u{0}\u{0}\u{0}",
            "{\"schema\":1}",
            "{\"schema\":1,\"x\":[1,2}",
        ] {
            let err = read(format!("{line}\n{tail}").as_bytes())
                .map(|_| ())
                .unwrap_err();
            match err {
                Error::CorruptResults { line, .. } => assert_eq!(line, 2, "{tail:?}"),
                other => panic!("{tail:?}: {other}"),
            }
        }
    }

    #[test]
    fn unknown_schemas_bad_functions_and_overflowing_sizes_are_refused_with_their_line() {
        let good = serde_json::to_string(&record()).unwrap();
        let edits = [
            ("\"schema\":2", "\"schema\":3", "schema 3"),
            ("\"schema\":2", "\"schema\":\"one\"", "schema \"one\""),
            (
                "\"function\":\"x1*x2/10\"",
                "\"function\":\"x1*\"",
                "does not parse",
            ),
            (
                "\"function\":\"x1*x2/10\"",
                "\"function\":\"x1*x3/10\"",
                "n_inputs",
            ),
            (
                "\"function\":\"x1*x2/10\"",
                "\"function\":\"x18446744073709551616\"",
                "does not parse",
            ),
            (
                "\"n_train\":64",
                "\"n_train\":18446744073709551615",
                "overflow",
            ),
            (
                "\"seed\":0",
                "\"seed\":18446744073709551616",
                "expected u64",
            ),
        ];
        for (from, to, needle) in edits {
            assert!(good.contains(from), "{from}");
            let bad = good.replacen(from, to, 1);
            let text = format!("{good}\n{bad}\n");
            match read(text.as_bytes()).map(|_| ()).unwrap_err() {
                Error::CorruptResults { line, message, .. } => {
                    assert_eq!(line, 2, "{to}");
                    assert!(message.contains(needle), "{to}: {message}");
                }
                other => panic!("{to}: {other}"),
            }
        }
        // A schema-3 record that does not deserialise as schema 2 says so, not "missing field".
        let future = "{\"schema\":3,\"everything\":\"else\"}\n";
        let text = format!("{good}\n{future}");
        let err = read(text.as_bytes()).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("schema 3") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn a_line_longer_than_the_bound_is_refused_after_reading_the_bound() {
        // An endless source: the reader must stop at the bound, not run out of memory.
        let endless = std::io::repeat(b'a');
        let err = scan(endless, Path::new("zero"), &mut |_| Ok(()))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1") && err.contains("64 MiB"), "{err}");
        // One byte under the bound, newline included, is still read (and found not a record).
        let mut short = vec![b' '; MAX_LINE_BYTES - 1];
        short.push(b'\n');
        assert_eq!(read(&short).unwrap().1, Tail::Terminated);
    }

    #[test]
    fn quotes_escape_control_characters_and_shorten() {
        assert_eq!(quote("a\u{1b}[31m"), "\"a\\u{1b}[31m\"");
        let long = "x1*".repeat(100);
        let q = quote(&long);
        assert!(q.ends_with('…') && q.chars().count() < 70, "{q}");
    }
}
