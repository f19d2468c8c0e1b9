//! Tables of measurements from CSV files: the inputs and target a user fits a model on
//! ([`read_table`]), and the streaming row reader prediction uses ([`FeatureReader`]).
//!
//! The file needs a header row naming the columns; fields may be quoted, lines may end in CRLF,
//! a UTF-8 byte-order mark is skipped, and columns that are neither the target nor a feature are
//! ignored. Columns are found by name, never by position.
//!
//! Every cell used must be a finite number (`1.5`, `-2e3`, ` 7 `: surrounding spaces are
//! trimmed). An empty cell, a non-numeric or non-finite cell (`NaN`, `inf`), a value beyond
//! `f32` for an input, or a row with the wrong number of fields is an [`Error::Csv`] naming the
//! file, the line and the column; with [`ReadOptions::drop_invalid`] such rows are skipped and
//! counted instead.
//!
//! Memory per row is bounded: a record longer than [`ReadOptions::max_row_bytes`] (1 MiB by
//! default) is refused before more of it is buffered, so a hostile file made of one 10 GB line
//! cannot exhaust memory.

use crate::data::Dataset;
use crate::error::Error;
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Longest record accepted by default: 1 MiB, thousands of numeric columns.
pub const DEFAULT_MAX_ROW_BYTES: usize = 1 << 20;

/// How to read a table for fitting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// The target column's name.
    pub target: String,
    /// The input columns' names, in the model's order; `None` takes every numeric column but
    /// the target, in file order (a column is numeric when its cell on the first data row is a
    /// number).
    pub features: Option<Vec<String>>,
    /// Skip rows with an invalid cell or the wrong number of fields (counting them in
    /// [`Table::dropped`]) instead of refusing the file.
    pub drop_invalid: bool,
    /// Longest record accepted, in bytes.
    pub max_row_bytes: usize,
    /// Most memory the table's values may take, in bytes (counted twice, for the copy a
    /// growing buffer makes): a file, or a stream on standard input, with more rows is refused
    /// at the first row past it rather than read until memory runs out. Default: a run's
    /// default limit, or what the process can have if that is less
    /// ([`crate::experiment::machine_memory`]).
    pub max_table_bytes: u64,
}

impl ReadOptions {
    /// Options for `target` with the defaults: every numeric column a feature, invalid rows
    /// refused, records up to [`DEFAULT_MAX_ROW_BYTES`].
    pub fn new(target: &str) -> ReadOptions {
        ReadOptions {
            target: target.to_string(),
            features: None,
            drop_invalid: false,
            max_row_bytes: DEFAULT_MAX_ROW_BYTES,
            max_table_bytes: crate::experiment::Limits::default().usable_bytes(),
        }
    }
}

/// A table read for fitting: the inputs (`f32`) and target (`f64`) of every valid row.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Input columns, in the order of the dataset's features.
    pub features: Vec<String>,
    /// Target column.
    pub target: String,
    /// One row per valid data row of the file, in file order.
    pub data: Dataset,
    /// Rows skipped because [`ReadOptions::drop_invalid`] was set.
    pub dropped: usize,
    /// Why the first skipped row was skipped (for the report), if any was.
    pub first_dropped: Option<String>,
    /// Named columns left out of the default features because the first data row holds
    /// something other than a number there (text, a typo), so that a caller can say so.
    pub left_out: Vec<String>,
}

/// Counts the bytes read since the last [`Limited::reset`] and fails the read once they exceed
/// the limit. The CSV reader reads ahead by at most its buffer, so memory for one record stays
/// below the limit plus that buffer.
struct Limited<R> {
    inner: R,
    since_reset: Rc<Cell<usize>>,
    limit: usize,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.since_reset.get() > self.limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                RowTooLong(self.limit),
            ));
        }
        let n = self.inner.read(buf)?;
        self.since_reset.set(self.since_reset.get() + n);
        Ok(n)
    }
}

/// The error [`Limited`] returns, recognised when mapping errors.
#[derive(Debug)]
struct RowTooLong(usize);

impl std::fmt::Display for RowTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a row is longer than {} bytes", self.0)
    }
}

impl std::error::Error for RowTooLong {}

/// Why a cell cannot be used.
fn cell_problem(bytes: &[u8], as_input: bool) -> Result<f64, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| "the cell is not UTF-8 text".to_string())?
        .trim();
    if text.is_empty() {
        return Err("empty cell: every row needs a number here".into());
    }
    let shown: String = text.chars().take(40).collect();
    let value: f64 = text
        .parse()
        .map_err(|_| format!("'{shown}' is not a number"))?;
    if !value.is_finite() {
        return Err(format!("'{shown}' is not a finite number"));
    }
    if as_input && !(value as f32).is_finite() {
        return Err(format!(
            "'{shown}' is beyond the largest input the model can take ({:e})",
            f32::MAX
        ));
    }
    Ok(value)
}

/// A CSV reader over any byte source, with the header read and checked.
pub struct CsvSource<R: Read> {
    reader: csv::Reader<Limited<R>>,
    since_reset: Rc<Cell<usize>>,
    path: PathBuf,
    header: Vec<String>,
    /// Column of each name in `header`: a header may have a hundred thousand names, and a
    /// model as many features to find among them.
    index: HashMap<String, usize>,
    record: csv::ByteRecord,
}

impl<R: Read> CsvSource<R> {
    /// Reads the header of `input` (named `path` in errors), refusing an empty file, a header
    /// that looks like data (a numeric column name) and duplicate names.
    pub fn new(input: R, path: &Path, max_row_bytes: usize) -> Result<CsvSource<R>, Error> {
        let since_reset = Rc::new(Cell::new(0));
        let limited = Limited {
            inner: input,
            since_reset: Rc::clone(&since_reset),
            limit: max_row_bytes,
        };
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(limited);
        let mut source = CsvSource {
            reader,
            since_reset,
            path: path.to_path_buf(),
            header: Vec::new(),
            index: HashMap::new(),
            record: csv::ByteRecord::new(),
        };
        if !source.next_record()? {
            return Err(source.error(None, None, "the file is empty: it needs a header row naming the columns, then one row per measurement"));
        }
        let mut header = Vec::with_capacity(source.record.len());
        let mut index = HashMap::with_capacity(source.record.len());
        for (i, name) in source.record.iter().enumerate() {
            let mut name = std::str::from_utf8(name).map_err(|_| {
                source.error(
                    Some(1),
                    Some(format!("{}", i + 1)),
                    "the header is not UTF-8 text",
                )
            })?;
            if i == 0 {
                // csv strips a byte-order mark only in its own header handling.
                name = name.strip_prefix('\u{feff}').unwrap_or(name);
            }
            let name = name.trim().to_string();
            if name.parse::<f64>().is_ok() {
                return Err(source.error(
                    Some(1),
                    Some(format!("{}", i + 1)),
                    &format!("the first row looks like data ('{name}' is a number): the file needs a header row naming the columns"),
                ));
            }
            if index.insert(name.clone(), i).is_some() {
                return Err(source.error(
                    Some(1),
                    Some(name.clone()),
                    "two columns have this name: rename one",
                ));
            }
            header.push(name);
        }
        source.header = header;
        source.index = index;
        Ok(source)
    }

    /// The column names, in file order.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The index of the column `name`, or a usage error naming it and the columns there are.
    pub fn column(&self, name: &str, role: &str) -> Result<usize, Error> {
        if name.trim().is_empty() {
            // Formulas and predictions name columns; an empty name would print as nothing.
            return Err(self.error(
                Some(1),
                None,
                &format!(
                    "the {role} needs a column with a name: give it one in the header, and here"
                ),
            ));
        }
        self.index.get(name).copied().ok_or_else(|| {
            self.error(
                Some(1),
                Some(name.to_string()),
                &format!(
                    "no such column for the {role}; the header has: {}",
                    header_excerpt(&self.header)
                ),
            )
        })
    }

    /// An [`Error::Csv`] about this file.
    fn error(&self, line: Option<u64>, column: Option<String>, message: &str) -> Error {
        Error::Csv {
            path: self.path.clone(),
            line,
            column,
            message: message.to_string(),
        }
    }

    /// Reads the next record into `self.record`; `false` at the end of the file.
    fn next_record(&mut self) -> Result<bool, Error> {
        self.since_reset.set(0);
        let start = self.reader.position().line();
        match self.reader.read_byte_record(&mut self.record) {
            Ok(more) => Ok(more),
            Err(e) => {
                let line = Some(e.position().unwrap_or(self.reader.position()).line());
                let message = match e.kind() {
                    csv::ErrorKind::Io(io)
                        if io.get_ref().is_some_and(|inner| inner.is::<RowTooLong>()) =>
                    {
                        let now = self.reader.position().line();
                        if now > start {
                            // Only a quoted field spans lines: one never closed swallows the
                            // rest of the file, so name where it opened.
                            return Err(self.error(
                                Some(start),
                                None,
                                &format!(
                                    "this row runs on to line {now}, longer than a row may be ({io}): does a field on line {start} open a quote that is never closed?"
                                ),
                            ));
                        }
                        format!("{io}: is this a CSV file of measurements?")
                    }
                    csv::ErrorKind::Io(_) => match e.into_kind() {
                        // The environment, not the file's content: exit status 1.
                        csv::ErrorKind::Io(io) => {
                            return Err(Error::io("cannot read", self.path.clone(), io));
                        }
                        _ => unreachable!("the kind was Io"),
                    },
                    _ => e.to_string(),
                };
                Err(self.error(line, None, &message))
            }
        }
    }

    /// The 1-based line where the current record starts.
    fn line(&self) -> u64 {
        self.record.position().map_or(0, |p| p.line())
    }

    /// Reads the next data row's cells `columns` into `values` (`Ok(None)` at the end).
    /// `Ok(Some(Err(e)))` is a row with an invalid cell or the wrong number of fields, which
    /// callers either skip or return.
    fn next_row(
        &mut self,
        columns: &[usize],
        inputs: usize,
        values: &mut Vec<f64>,
    ) -> Result<Option<Result<(), Error>>, Error> {
        if !self.next_record()? {
            return Ok(None);
        }
        Ok(Some(self.parse_current(columns, inputs, values)))
    }

    /// The raw fields of the current record (what prediction copies to its output).
    pub fn record(&self) -> &csv::ByteRecord {
        &self.record
    }
}

/// Reads the table in `path` for fitting, as `options` say; `-` reads standard input
/// ([`open_data`]).
pub fn read_table(path: &Path, options: &ReadOptions) -> Result<Table, Error> {
    let (input, name) = open_data(path)?;
    read_table_from(input, &name, options)
}

/// Opens a data file for reading, buffered, with the name to give it in messages. The path
/// `-` means standard input (named "standard input"), as in most command-line tools; a file
/// called `-` is `./-`.
pub fn open_data(path: &Path) -> Result<(Box<dyn Read>, PathBuf), Error> {
    if path.as_os_str() == "-" {
        return Ok((
            Box::new(std::io::stdin().lock()),
            PathBuf::from("standard input"),
        ));
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
    Ok((Box::new(std::io::BufReader::new(file)), path.to_path_buf()))
}

/// Like [`read_table`], from any byte source (`path` names it in errors).
///
/// ```
/// use logexp::table::{read_table_from, ReadOptions};
/// let csv = "\u{feff}a,note,y\r\n2,\"x, y\",6\r\n3,z,9\r\n";
/// let t = read_table_from(csv.as_bytes(), "m.csv".as_ref(), &ReadOptions::new("y")).unwrap();
/// assert_eq!(t.features, ["a"]); // `note` is not numeric
/// assert_eq!(t.data.targets(), [6.0, 9.0]);
/// ```
pub fn read_table_from<R: Read>(
    input: R,
    path: &Path,
    options: &ReadOptions,
) -> Result<Table, Error> {
    let mut source = CsvSource::new(input, path, options.max_row_bytes)?;
    let target = source.column(&options.target, "target")?;
    let mut values = Vec::new();
    let mut pending_first: Option<Result<(), Error>> = None;
    let mut left_out = Vec::new();
    // (column, its row-1 cell, whether a later row held a number there)
    let mut typo_suspects: Vec<(usize, String, bool)> = Vec::new();
    let mut first_row_line = 2;
    let features: Vec<usize> = match &options.features {
        Some(names) => {
            let mut columns = Vec::with_capacity(names.len());
            let mut listed = HashSet::with_capacity(names.len());
            for name in names {
                let c = source.column(name, "features")?;
                if c == target {
                    return Err(source.error(
                        None,
                        Some(name.clone()),
                        "the target cannot also be a feature",
                    ));
                }
                if !listed.insert(c) {
                    return Err(source.error(None, Some(name.clone()), "feature listed twice"));
                }
                columns.push(c);
            }
            columns
        }
        None => {
            // The first data row decides which columns are numeric.
            let all: Vec<usize> = (0..source.header.len()).collect();
            if !source.next_record()? {
                return Err(source.error(None, None, "the file has a header but no data rows"));
            }
            // A row of the wrong length cannot say which columns are numeric.
            source.check_row_length()?;
            // A column without a name (e.g. after a trailing comma) is not an input. An empty
            // cell says nothing about its column: it stays an input, and the row is refused
            // (or dropped) like any row with an empty cell.
            let candidates = all
                .iter()
                .copied()
                .filter(|&c| c != target && !source.header[c].is_empty());
            let (numeric, text): (Vec<usize>, Vec<usize>) = candidates.partition(|&c| {
                source.record.get(c).is_some_and(|cell| {
                    std::str::from_utf8(cell).is_ok_and(|t| {
                        let t = t.trim();
                        t.is_empty() || t.parse::<f64>().is_ok()
                    })
                })
            });
            left_out = text.iter().map(|&c| source.header[c].clone()).collect();
            // Whether a left-out column holds numbers in every later row: then its first cell
            // is a typo, not a sign of a text column.
            first_row_line = source.line();
            typo_suspects = text
                .iter()
                .map(|&c| {
                    let cell = source.record.get(c).unwrap_or_default();
                    (c, String::from_utf8_lossy(cell).into_owned(), false)
                })
                .collect();
            // Re-parse that first row below with the chosen columns.
            pending_first = Some(Ok(()));
            numeric
        }
    };
    if features.is_empty() {
        return Err(source.error(
            None,
            None,
            &format!(
                "no numeric column besides the target '{}': name the inputs with --features",
                options.target
            ),
        ));
    }
    let mut columns = features.clone();
    columns.push(target);
    let inputs = features.len();
    let (mut records, mut targets) = (Vec::new(), Vec::new());
    let (mut dropped, mut first_dropped) = (0usize, None);
    loop {
        let row = match pending_first.take() {
            Some(_) => Some(source.parse_current(&columns, inputs, &mut values)),
            None => {
                let row = source.next_row(&columns, inputs, &mut values)?;
                if row.as_ref().is_some_and(Result::is_ok) && !typo_suspects.is_empty() {
                    let record = &source.record;
                    // An empty cell says nothing either way (as in row 1), so it keeps the
                    // suspicion; only text clears it.
                    typo_suspects.retain_mut(|(c, _, numbers)| {
                        let cell = record.get(*c).unwrap_or_default();
                        if cell.trim_ascii().is_empty() {
                            return true;
                        }
                        *numbers = cell_problem(cell, true).is_ok();
                        *numbers
                    });
                }
                row
            }
        };
        match row {
            None => break,
            Some(Ok(())) => {
                records.extend(values[..inputs].iter().map(|&v| v as f32));
                targets.push(values[inputs]);
                let held = (records.len() * std::mem::size_of::<f32>()
                    + targets.len() * std::mem::size_of::<f64>()) as u64;
                if held.saturating_mul(2) > options.max_table_bytes {
                    let (needed, limit) = crate::experiment::format_bytes_beside(
                        held.saturating_mul(2),
                        options.max_table_bytes,
                    );
                    return Err(source.error(
                        Some(source.line()),
                        None,
                        &format!(
                            "the table's rows up to here already need {needed} of memory, more than the limit of {limit} (the run limit, or what this process may have if less): give fewer rows (fit can raise its limit with --max-memory)",
                        ),
                    ));
                }
            }
            Some(Err(e)) if options.drop_invalid => {
                dropped += 1;
                first_dropped.get_or_insert_with(|| e.to_string());
            }
            Some(Err(e)) => return Err(e),
        }
    }
    if let Some((c, cell, _)) = typo_suspects.iter().find(|(_, _, numbers)| *numbers) {
        return Err(source.error(
            Some(first_row_line),
            Some(source.header[*c].clone()),
            &format!(
                "data row 1 holds '{}', but every other row a number: a typo? Fix the cell, or name the inputs with --features",
                crate::report::printable(cell, 40)
            ),
        ));
    }
    if targets.is_empty() {
        let message = if dropped > 0 {
            format!(
                "every data row is invalid ({dropped} dropped); the first: {}",
                first_dropped.unwrap_or_default()
            )
        } else {
            "the file has a header but no data rows".to_string()
        };
        return Err(source.error(None, None, &message));
    }
    Ok(Table {
        left_out,
        features: features.iter().map(|&c| source.header[c].clone()).collect(),
        target: source.header[target].clone(),
        data: Dataset::new(inputs, records, targets),
        dropped,
        first_dropped,
    })
}

impl<R: Read> CsvSource<R> {
    /// Refuses a record whose number of fields is not the header's.
    fn check_row_length(&self) -> Result<(), Error> {
        if self.record.len() == self.header.len() {
            return Ok(());
        }
        let line = self.line();
        Err(self.error(
            Some(line),
            None,
            &format!(
                "the row has {} fields but the header has {}{}",
                self.record.len(),
                self.header.len(),
                open_quote_hint(&self.record, line)
            ),
        ))
    }

    /// [`CsvSource::next_row`]'s checks on the record already read.
    fn parse_current(
        &mut self,
        columns: &[usize],
        inputs: usize,
        values: &mut Vec<f64>,
    ) -> Result<(), Error> {
        let line = self.line();
        self.check_row_length()?;
        values.clear();
        for (k, &c) in columns.iter().enumerate() {
            let v = cell_problem(&self.record[c], k < inputs)
                .map_err(|m| self.error(Some(line), Some(self.header[c].clone()), &m))?;
            values.push(v);
        }
        Ok(())
    }
}

/// Reads the input columns a model needs, by name, chunk by chunk: what prediction streams.
pub struct FeatureReader<R: Read> {
    source: CsvSource<R>,
    columns: Vec<usize>,
    values: Vec<f64>,
}

impl<R: Read> FeatureReader<R> {
    /// Opens `input` (named `path` in errors) and finds every one of `features` in its header;
    /// a missing one is a usage error naming it.
    pub fn new(input: R, path: &Path, features: &[String]) -> Result<FeatureReader<R>, Error> {
        let source = CsvSource::new(input, path, DEFAULT_MAX_ROW_BYTES)?;
        let columns = features
            .iter()
            .map(|name| source.column(name, "model's features"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FeatureReader {
            source,
            columns,
            values: Vec::new(),
        })
    }

    /// The file's column names.
    pub fn header(&self) -> &[String] {
        self.source.header()
    }

    /// Reads the next row's inputs (appended to `inputs`, as `f32`) and returns its raw fields,
    /// or `None` at the end. An invalid row is an error with its line and column.
    pub fn next_row(&mut self, inputs: &mut Vec<f32>) -> Result<Option<&csv::ByteRecord>, Error> {
        let n = self.columns.len();
        match self.source.next_row(&self.columns, n, &mut self.values)? {
            None => Ok(None),
            Some(Err(e)) => Err(e),
            Some(Ok(())) => {
                inputs.extend(self.values.iter().map(|&v| v as f32));
                Ok(Some(self.source.record()))
            }
        }
    }
}

/// For a row of the wrong length: where a field holds a line break, the likely cause, a
/// quote opened and not closed, so that the row ran on into the lines after it.
fn open_quote_hint(record: &csv::ByteRecord, line: u64) -> String {
    let Some(k) = record.iter().position(|f| f.contains(&b'\n')) else {
        return String::new();
    };
    // A line break ending the last field is the file's last newline, not a line of its own.
    let breaks = record
        .iter()
        .map(|f| f.trim_ascii_end().iter().filter(|&&b| b == b'\n').count())
        .sum::<usize>();
    format!(
        " (field {} opens a quote that runs on to line {}: is a closing quote missing?)",
        k + 1,
        line + breaks as u64
    )
}

/// The names of a header for an error line: at most [`HEADER_NAMES_SHOWN`] names of at most
/// [`HEADER_NAME_CHARS`] characters each, so a wide table (or a file that is not a table at
/// all) still gives a line a person can read.
fn header_excerpt(header: &[String]) -> String {
    let mut shown: Vec<String> = header
        .iter()
        .take(HEADER_NAMES_SHOWN)
        .map(|name| crate::report::printable(name, HEADER_NAME_CHARS))
        .collect();
    if header.len() > HEADER_NAMES_SHOWN {
        shown.push(format!("… and {} more", header.len() - HEADER_NAMES_SHOWN));
    }
    shown.join(", ")
}

/// How many of a header's names an error shows.
const HEADER_NAMES_SHOWN: usize = 20;
/// How many characters of a header's name an error shows.
const HEADER_NAME_CHARS: usize = 40;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_without_a_name_is_never_an_input_or_the_target() {
        let csv = "a,,y\n1,2,3\n2,3,4\n";
        let t =
            read_table_from(csv.as_bytes(), Path::new("t.csv"), &ReadOptions::new("y")).unwrap();
        assert_eq!(t.features, ["a"]);
        for (options, role) in [
            (ReadOptions::new(""), "target"),
            (
                ReadOptions {
                    features: Some(vec!["a".into(), " ".into()]),
                    ..ReadOptions::new("y")
                },
                "features",
            ),
        ] {
            let e = read_table_from(csv.as_bytes(), Path::new("t.csv"), &options).unwrap_err();
            assert!(e.is_usage(), "{e}");
            assert!(
                e.to_string()
                    .contains(&format!("the {role} needs a column with a name")),
                "{e}"
            );
        }
    }

    #[test]
    fn a_row_that_runs_on_from_an_unclosed_quote_says_so() {
        let e = read("a,b,y\n1,2,3\n\"4,5,6\n7,8,9\n", &opts("y"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3"), "{e}");
        assert!(
            e.contains("field 1 opens a quote that runs on to line 4"),
            "{e}"
        );
        assert!(e.contains("closing quote missing"), "{e}");
        // Also when the first row, which picks the default features, is the one.
        let e = read("a,b,y\n\"1,2,3\n2,3,6\n", &opts("y"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2") && e.contains("closing quote missing"),
            "{e}"
        );
        // A short row without a line break in it gets no such hint.
        let e = read("a,b,y\n1,2\n", &opts("y")).unwrap_err().to_string();
        assert!(
            e.contains("the row has 2 fields") && !e.contains("quote"),
            "{e}"
        );
    }

    #[test]
    fn a_table_past_its_memory_limit_is_refused_at_the_row_that_passes_it() {
        let mut csv = String::from("a,b,y\n");
        for r in 0..1000 {
            csv += &format!("{r},{r},{r}\n");
        }
        // A row holds 2 × 4 + 8 = 16 bytes, counted twice: 100 rows fit in 3,200 bytes.
        let options = ReadOptions {
            max_table_bytes: 3_200,
            ..opts("y")
        };
        let e = read(&csv, &options).unwrap_err().to_string();
        assert!(e.contains("line 102") && e.contains("--max-memory"), "{e}");
        let roomy = ReadOptions {
            max_table_bytes: 32_000,
            ..opts("y")
        };
        assert_eq!(read(&csv, &roomy).unwrap().data.len(), 1000);
    }

    #[test]
    fn a_bad_first_row_cell_never_silently_drops_its_column() {
        // An empty cell keeps its column an input and the row is refused, naming it.
        let e = read("a,b,y\n1,,2\n2,3,6\n", &opts("y"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2") && e.contains("column b") && e.contains("empty"),
            "{e}"
        );
        // Text leaves the column out, and the table says which.
        let t = read("a,b,note,y\n1,2x,hi,2\n2,n/a,ho,6\n", &opts("y")).unwrap();
        assert_eq!(t.features, ["a"]);
        assert_eq!(t.left_out, ["b", "note"]);
        // Unless every other row holds a number there: then row 1's text is a typo (before,
        // the column was dropped and the fit went on without it).
        let e = read("a,b,note,y\n1,2x,hi,2\n2,3,ho,6\n3,4,hu,12\n", &opts("y"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2") && e.contains("column b") && e.contains("'2x'"),
            "{e}"
        );
        assert!(e.contains("a typo?") && e.contains("--features"), "{e}");
        // An empty cell in a later row does not hide it.
        let e = read("a,b,y\n1,oops,2\n2,,6\n3,4,12\n", &opts("y"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("'oops'") && e.contains("a typo?"), "{e}");
        // Nor does a column empty below row 1, or a single data row.
        let t = read("a,b,y\n1,note,2\n2,,6\n3,,12\n", &opts("y")).unwrap();
        assert_eq!(t.left_out, ["b"]);
        let t = read("a,b,y\n1,2x,2\n", &opts("y")).unwrap();
        assert_eq!(t.left_out, ["b"]);
        let t = read("a,b,y\n1,2,2\n", &opts("y")).unwrap();
        assert!(t.left_out.is_empty());
    }

    #[test]
    fn a_wide_header_finds_every_column_by_name_and_its_last_duplicate() {
        // benches/table.rs times this width; here, that every name maps to its own column.
        let names: Vec<String> = (0..100_000).map(|i| format!("c{i}")).collect();
        let csv = names.join(",") + "\n";
        let source = CsvSource::new(csv.as_bytes(), Path::new("w.csv"), 1 << 20).unwrap();
        for (i, name) in names.iter().enumerate().step_by(997) {
            assert_eq!(source.column(name, "features").unwrap(), i);
        }
        assert_eq!(source.column("c99999", "features").unwrap(), 99_999);
        assert!(source.column("c100000", "features").is_err());
        // A repeat of the very first name, as the last column.
        let csv = names.join(",") + ",c0\n";
        let e = CsvSource::new(csv.as_bytes(), Path::new("w.csv"), 1 << 20)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("column c0") && e.contains("two columns"), "{e}");
        // --features naming a column twice, far apart in the list.
        let mut listed: Vec<String> = names[..5000].to_vec();
        listed.push("c1".into());
        let e = read(
            &format!(
                "{},y\n{}\n",
                names[..5000].join(","),
                vec!["1"; 5001].join(",")
            ),
            &ReadOptions {
                features: Some(listed),
                ..opts("y")
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("column c1") && e.contains("listed twice"), "{e}");
    }

    #[test]
    fn a_missing_column_lists_a_bounded_excerpt_of_the_header() {
        let names: Vec<String> = (0..100)
            .map(|i| format!("c{i}{}", "x".repeat(100)))
            .collect();
        let csv = format!("{}\n{}\n", names.join(","), vec!["1"; 100].join(","));
        let e = read(&csv, &opts("y")).unwrap_err().to_string();
        assert!(
            e.contains("no such column") && e.contains("… and 80 more"),
            "{e}"
        );
        assert!(e.contains(&format!("c0{}…", "x".repeat(38))), "{e}");
        assert!(!e.contains("c20x"), "{e}");
        assert!(
            e.chars().count() < 20 * 45 + 200,
            "{} chars",
            e.chars().count()
        );
        let e = read("a,b\n1,2\n", &opts("y")).unwrap_err().to_string();
        assert!(e.ends_with("the header has: a, b"), "{e}");
    }
    use proptest::prelude::*;

    fn read(text: &str, options: &ReadOptions) -> Result<Table, Error> {
        read_table_from(text.as_bytes(), Path::new("t.csv"), options)
    }

    fn opts(target: &str) -> ReadOptions {
        ReadOptions::new(target)
    }

    fn err(text: &str, options: &ReadOptions) -> (Option<u64>, Option<String>, String) {
        match read(text, options).unwrap_err() {
            Error::Csv {
                line,
                column,
                message,
                ..
            } => (line, column, message),
            other => panic!("not a CSV error: {other}"),
        }
    }

    #[test]
    fn quoted_fields_crlf_bom_and_unused_columns_read() {
        let text = "\u{feff}\"a\",b,\"comment\",y\r\n1.5,2,\"one, two\",3\r\n\"4\",5e1,\"\"\"q\"\"\",6\r\n";
        let t = read(text, &opts("y")).unwrap();
        assert_eq!(t.features, ["a", "b"]);
        assert_eq!(t.target, "y");
        assert_eq!(t.data.records(), [1.5, 2.0, 4.0, 50.0]);
        assert_eq!(t.data.targets(), [3.0, 6.0]);
        assert_eq!(t.dropped, 0);
        // Named features in another order than the file's.
        let t = read(
            text,
            &ReadOptions {
                features: Some(vec!["b".into(), "a".into()]),
                ..opts("y")
            },
        )
        .unwrap();
        assert_eq!(t.data.records(), [2.0, 1.5, 50.0, 4.0]);
    }

    #[test]
    fn every_bad_file_names_file_line_and_column() {
        let o = opts("y");
        let (line, _, m) = err("", &o);
        assert_eq!(line, None);
        assert!(m.contains("empty"), "{m}");
        let (line, column, m) = err("1,2\n3,4\n", &o);
        assert_eq!((line, column.as_deref()), (Some(1), Some("1")));
        assert!(m.contains("header"), "{m}");
        let (_, column, m) = err("a,b\n1,2\n", &o);
        assert_eq!(column.as_deref(), Some("y"));
        assert!(m.contains("a, b"), "{m}");
        let (line, column, m) = err("a,y\n1,2\n3,x\n", &o);
        assert_eq!((line, column.as_deref()), (Some(3), Some("y")));
        assert!(m.contains("not a number"), "{m}");
        let (line, column, _) = err("a,b,y\n1,2,3\n4,,6\n", &o);
        assert_eq!((line, column.as_deref()), (Some(3), Some("b")));
        let (line, column, m) = err("a,y\n1,2\nNaN,3\n", &o);
        assert_eq!((line, column.as_deref()), (Some(3), Some("a")));
        assert!(m.contains("finite"), "{m}");
        let (line, _, m) = err("a,y\n1,2\n3,inf\n", &o);
        assert_eq!(line, Some(3));
        assert!(m.contains("finite"), "{m}");
        let (line, column, m) = err("a,y\n1,2\n3,4,5\n", &o);
        assert_eq!((line, column), (Some(3), None));
        assert!(m.contains("3 fields"), "{m}");
        let (_, _, m) = err("a,y\n", &o);
        assert!(m.contains("no data rows"), "{m}");
        let (line, column, m) = err("a,y\n1e39,2\n", &o);
        assert_eq!((line, column.as_deref()), (Some(2), Some("a")));
        assert!(m.contains("largest"), "{m}");
        let (_, column, _) = err(
            "a,y\n1,2\n",
            &ReadOptions {
                features: Some(vec!["z".into()]),
                ..o.clone()
            },
        );
        assert_eq!(column.as_deref(), Some("z"));
        let (_, _, m) = err("s,y\nx,2\n", &o);
        assert!(m.contains("--features"), "{m}");
        // The message shows all three.
        let shown = read("a,y\n1,2\n3,x\n", &o).unwrap_err().to_string();
        assert_eq!(shown, "t.csv, line 3, column y: 'x' is not a number");
        assert!(read("a,y\n1,2\n3,x\n", &o).unwrap_err().is_usage());
    }

    #[test]
    fn invalid_rows_can_be_dropped_and_are_counted() {
        let text = "a,y\nx,1\n1,2\n,3\n4,5,6\n7,NaN\n8,9\n";
        let o = ReadOptions {
            features: Some(vec!["a".into()]),
            drop_invalid: true,
            ..opts("y")
        };
        let t = read(text, &o).unwrap();
        assert_eq!(t.data.records(), [1.0, 8.0]);
        assert_eq!(t.data.targets(), [2.0, 9.0]);
        assert_eq!(t.dropped, 4);
        assert!(t.first_dropped.unwrap().contains("line 2"));
        let (_, _, m) = err("a,y\nx,1\n", &o);
        assert!(m.contains("1 dropped"), "{m}");
    }

    #[test]
    fn a_huge_line_is_refused_without_buffering_it() {
        // An endless stream of 'x' with no newline: the limit must stop the read.
        let endless = std::io::repeat(b'x');
        let o = ReadOptions {
            max_row_bytes: 1 << 16,
            ..opts("y")
        };
        let e = read_table_from(endless, Path::new("big.csv"), &o).unwrap_err();
        assert!(e.to_string().contains("longer than 65536 bytes"), "{e}");
        // Also in a data row.
        let data = "a,y\n1,".bytes().chain(std::iter::repeat(b'9'));
        struct Iter<I>(I);
        impl<I: Iterator<Item = u8>> Read for Iter<I> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let mut n = 0;
                for slot in buf.iter_mut() {
                    *slot = self.0.next().unwrap();
                    n += 1;
                }
                Ok(n)
            }
        }
        let e = read_table_from(Iter(data), Path::new("big.csv"), &o).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        // A quote opened on line 2 and never closed: named there, not where the limit ran out.
        let mut runaway = String::from("a,y\n1,\"2\n");
        for _ in 0..20_000 {
            runaway += "3,4\n";
        }
        let e = read_table_from(runaway.as_bytes(), Path::new("q.csv"), &o)
            .unwrap_err()
            .to_string();
        assert!(e.contains("q.csv, line 2:"), "{e}");
        assert!(
            e.contains("does a field on line 2 open a quote that is never closed?"),
            "{e}"
        );
    }

    /// A read that fails for a reason outside the file (a disk error) is an I/O error, exit 1.
    #[test]
    fn a_failing_reader_is_an_environment_error() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk on fire"))
            }
        }
        let e = read_table_from(Failing, Path::new("t.csv"), &opts("y")).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        assert!(!e.is_usage());
        assert!(e.to_string().contains("disk on fire"), "{e}");
    }

    #[test]
    fn feature_reader_matches_columns_by_name() {
        let text = "y,b,a\n0,2,1\n0,4,3\n";
        let names = ["a".to_string(), "b".to_string()];
        let mut r = FeatureReader::new(text.as_bytes(), Path::new("p.csv"), &names).unwrap();
        let mut inputs = Vec::new();
        let first = r.next_row(&mut inputs).unwrap().unwrap().clone();
        assert_eq!(&first[1], b"2");
        assert!(r.next_row(&mut inputs).unwrap().is_some());
        assert!(r.next_row(&mut inputs).unwrap().is_none());
        assert_eq!(inputs, [1.0, 2.0, 3.0, 4.0]);
        let missing = ["a".to_string(), "c".to_string()];
        let e = FeatureReader::new(text.as_bytes(), Path::new("p.csv"), &missing)
            .err()
            .unwrap();
        assert!(e.is_usage());
        assert!(e.to_string().contains("column c"), "{e}");
    }

    fn write_csv(names: &[String], rows: &[Vec<f64>]) -> Vec<u8> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(names).unwrap();
        for row in rows {
            w.write_record(row.iter().map(|v| format!("{v:?}")))
                .unwrap();
        }
        w.into_inner().unwrap()
    }

    proptest! {
        /// Any table of finite values we write reads back to the same values: names with
        /// commas, quotes and spaces inside, inputs exact in f32, any f64 target.
        #[test]
        fn written_tables_round_trip(
            names in proptest::collection::hash_set("[a-z][a-z ,\"]{0,6}[a-z]", 2..5),
            rows in proptest::collection::vec(proptest::collection::vec(-1e30f32..1e30, 5), 1..20),
            targets in proptest::collection::vec(-1e300f64..1e300, 20),
        ) {
            let names: Vec<String> = names.into_iter().collect();
            let k = names.len();
            let table: Vec<Vec<f64>> = rows.iter().zip(&targets).map(|(r, &y)| {
                let mut row: Vec<f64> = r[..k - 1].iter().map(|&v| f64::from(v)).collect();
                row.push(y);
                row
            }).collect();
            let bytes = write_csv(&names, &table);
            let t = read_table_from(&bytes[..], Path::new("p.csv"), &ReadOptions::new(&names[k - 1])).unwrap();
            prop_assert_eq!(&t.features[..], &names[..k - 1]);
            let expected: Vec<f32> = rows.iter().flat_map(|r| r[..k - 1].to_vec()).collect();
            prop_assert_eq!(t.data.records(), &expected[..]);
            prop_assert_eq!(t.data.targets(), &targets[..rows.len()]);
        }

        /// Arbitrary bytes are read or refused, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let o = ReadOptions { max_row_bytes: 64, ..ReadOptions::new("y") };
            let _ = read_table_from(&bytes[..], Path::new("p.csv"), &o);
            let o = ReadOptions { drop_invalid: true, ..ReadOptions::new("y") };
            let _ = read_table_from(&bytes[..], Path::new("p.csv"), &o);
            let mut prefixed = b"a,y\n".to_vec();
            prefixed.extend(&bytes);
            let _ = read_table_from(&prefixed[..], Path::new("p.csv"), &o);
        }
    }
}
