//! Integration tests of the `logexp sweep`, `report` and `reproduce` command lines: they run the
//! built binary as a user would (including killing it with SIGKILL mid-sweep) and check the
//! results file, the report files, the exit status and stderr.

mod common;

use common::{BIN, TempDir, logexp, text};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The eleven Keras activations of the paper's grid.
const KERAS: [&str; 11] = [
    "elu",
    "hard_sigmoid",
    "linear",
    "relu",
    "selu",
    "sigmoid",
    "softmax",
    "softplus",
    "softsign",
    "swish",
    "tanh",
];

/// The paper's seven Table I functions, in its order.
const PAPER_FUNCTIONS: [&str; 7] = [
    "x1*x2",
    "x1*x2/10",
    "x1*x2*x3",
    "x1*x2*x3/100",
    "x1*x2*x3*x4",
    "x1*x2*x3*x4/1000",
    "x1*(x2+x3)+x4",
];

/// A protocol that makes a run take about a millisecond.
const TINY: [&str; 6] = ["--epochs", "3", "--n-train", "200", "--n-test", "50"];

/// A small grid (2 functions × 4 pairs × 2 seeds = 16 runs, not a multiple of 3).
const SMALL_GRID: [&str; 6] = [
    "--functions",
    "x1*x2,x1+x2",
    "--pairs",
    "lg;relu,linear;tanh,tanh;elu,selu",
    "--seeds",
    "2",
];
const SMALL_GRID_RUNS: usize = 16;

/// `logexp ARGS`, which must succeed without a panic; returns its stderr.
fn succeed<S: AsRef<OsStr>>(args: &[S]) -> String {
    let out = logexp(args);
    let stderr = text(&out.stderr);
    let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    assert!(
        out.status.success(),
        "logexp {shown:?} failed with {:?}\nstderr: {stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    stderr
}

fn s(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// `sweep` with `grid` (and any other flags), the given protocol, writing `out`.
fn sweep_args(grid: &[&str], protocol: &[&str], out: &Path) -> Vec<String> {
    let mut args = vec!["sweep".to_string()];
    args.extend(grid.iter().map(|a| a.to_string()));
    args.extend(protocol.iter().map(|a| a.to_string()));
    args.extend(["--out".to_string(), s(out).to_string()]);
    args
}

/// The summary line a sweep prints last on stderr.
#[derive(Debug, PartialEq)]
struct Summary {
    planned: usize,
    skipped: usize,
    ran: usize,
    repaired: bool,
}

/// Reads "P runs planned: S already in FILE, R run now (D diverged) in T s[ (… cut away …)]".
fn summary(stderr: &str) -> Summary {
    let line = stderr
        .lines()
        .find(|l| l.contains(" runs planned: "))
        .unwrap_or_else(|| panic!("no summary line on stderr: {stderr}"));
    let number = |s: &str| -> usize {
        s.parse()
            .unwrap_or_else(|_| panic!("cannot read {s:?} in summary line {line:?}"))
    };
    let (planned, rest) = line.split_once(" runs planned: ").unwrap();
    let skipped = rest.split(' ').next().unwrap();
    let (before, _) = line
        .split_once(" run now")
        .unwrap_or_else(|| panic!("no 'run now' in summary line {line:?}"));
    let ran = before.rsplit(' ').next().unwrap();
    Summary {
        planned: number(planned),
        skipped: number(skipped),
        ran: number(ran),
        repaired: line.contains("cut away"),
    }
}

/// The lines of a results file, which must be complete (end in '\n') and each a JSON object.
fn records(path: &Path) -> Vec<Value> {
    let content = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(
        content.is_empty() || content.ends_with('\n'),
        "{} does not end with a newline",
        path.display()
    );
    content
        .lines()
        .enumerate()
        .map(|(i, line)| match serde_json::from_str::<Value>(line) {
            Ok(v @ Value::Object(_)) => v,
            Ok(other) => panic!("{}:{}: not an object: {other}", path.display(), i + 1),
            Err(e) => panic!("{}:{}: not JSON ({e}): {line}", path.display(), i + 1),
        })
        .collect()
}

/// (function, pair, seed) of a record.
type Cell = (String, String, u64);

fn cell(record: &Value) -> Cell {
    let field = |k: &str| {
        record[k]
            .as_str()
            .unwrap_or_else(|| panic!("{k} is not a string in {record}"))
            .to_string()
    };
    let seed = record["seed"]
        .as_u64()
        .unwrap_or_else(|| panic!("seed is not an integer in {record}"));
    (field("function"), field("pair"), seed)
}

/// The cells of `records`, asserting that none appears twice.
fn unique_cells(records: &[Value], what: &str) -> BTreeSet<Cell> {
    let mut cells = BTreeSet::new();
    for r in records {
        let c = cell(r);
        assert!(cells.insert(c.clone()), "{what}: {c:?} appears twice");
    }
    cells
}

/// The record without its wall-clock time, the one field allowed to differ between reruns.
fn without_wall_time(record: &Value) -> Value {
    let mut record = record.clone();
    let map = record.as_object_mut().expect("records are objects");
    assert!(map.remove("wall_seconds").is_some(), "no wall_seconds");
    record
}

/// lg and the 121 Keras pairs, as records name them.
fn all_pairs() -> Vec<String> {
    let mut pairs = vec!["symlog,symexp".to_string()];
    for a in KERAS {
        for b in KERAS {
            pairs.push(format!("{a},{b}"));
        }
    }
    pairs
}

fn grid_cells(functions: &[&str], pairs: &[String], seeds: u64) -> BTreeSet<Cell> {
    let mut cells = BTreeSet::new();
    for f in functions {
        for p in pairs {
            for seed in 0..seeds {
                cells.insert((f.to_string(), p.clone(), seed));
            }
        }
    }
    cells
}

fn count_newlines(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// 1. Kill -9 and resume; a torn last line.

#[test]
fn a_sweep_killed_with_sigkill_resumes_to_exactly_the_grid() {
    let dir = TempDir::new("kill");
    let out = dir.join("results.jsonl");
    let functions = ["x1*x2", "x1+x2", "x1*x2*x3"];
    let grid = [
        "--functions",
        "x1*x2,x1+x2,x1*x2*x3",
        "--pairs",
        "all",
        "--seeds",
        "2",
    ];
    // About 1.5 s in release on 2 cores: long enough to be killed half-way.
    let protocol = ["--epochs", "6", "--n-train", "2000", "--n-test", "100"];
    let args = sweep_args(&grid, &protocol, &out);
    let expected = grid_cells(&functions, &all_pairs(), 2);
    let total = expected.len();
    assert_eq!(total, 3 * 122 * 2);

    let mut child = Command::new(BIN)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the logexp binary starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    while count_newlines(&out) < 20 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the sweep ended ({status}) before it could be killed");
        }
        assert!(Instant::now() < deadline, "no records after 120 s");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "{status}");
    }
    assert!(!status.success());

    // What the kill left: whole lines, each a record, and at most an unterminated tail.
    let bytes = std::fs::read(&out).unwrap();
    let complete_len = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let torn = complete_len < bytes.len();
    let head = std::str::from_utf8(&bytes[..complete_len]).expect("complete lines are UTF-8");
    let killed_lines: Vec<&str> = head.lines().collect();
    for (i, line) in killed_lines.iter().enumerate() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("line {} after the kill is not JSON ({e})", i + 1));
        assert!(expected.contains(&cell(&v)));
    }
    let done_before = killed_lines.len();
    assert!(
        done_before >= 20 && done_before < total,
        "{done_before} of {total} runs done when killed: the kill did not interrupt the sweep"
    );

    // Resume.
    let stderr = succeed(&args);
    assert_eq!(
        summary(&stderr),
        Summary {
            planned: total,
            skipped: done_before,
            ran: total - done_before,
            repaired: torn,
        },
        "stderr: {stderr}"
    );
    let all = records(&out);
    assert_eq!(all.len(), total);
    assert_eq!(unique_cells(&all, "after resuming"), expected);
    // The runs done before the kill were kept as they were, not redone.
    let resumed = std::fs::read_to_string(&out).unwrap();
    assert!(resumed.as_bytes().starts_with(&bytes[..complete_len]));
    for r in &all {
        assert_eq!(r["epochs"], 6);
        assert_eq!(r["n_train"], 2000);
        assert_eq!(r["data_seed"], r["seed"]);
    }

    // A torn last line: drop the last record and append the first half of it, unterminated, as
    // a kill in the middle of a write would. Resuming cuts it and redoes that one run.
    let torn_file = dir.join("torn.jsonl");
    let lines: Vec<&str> = resumed.lines().collect();
    let (last, kept) = lines.split_last().unwrap();
    let kept_text: String = kept.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(
        &torn_file,
        format!("{kept_text}{}", &last[..last.len() / 2]),
    )
    .unwrap();
    let stderr = succeed(&sweep_args(&grid, &protocol, &torn_file));
    assert_eq!(
        summary(&stderr),
        Summary {
            planned: total,
            skipped: total - 1,
            ran: 1,
            repaired: true,
        },
        "stderr: {stderr}"
    );
    let repaired = std::fs::read_to_string(&torn_file).unwrap();
    assert!(repaired.ends_with('\n'));
    assert!(repaired.starts_with(&kept_text));
    let repaired_records = records(&torn_file);
    assert_eq!(repaired_records.len(), total);
    assert_eq!(unique_cells(&repaired_records, "after repair"), expected);
    let last: Value = serde_json::from_str(last).unwrap();
    assert_eq!(
        without_wall_time(repaired_records.last().unwrap()),
        without_wall_time(&last),
        "the redone run differs from the original"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Shards and determinism.

#[test]
fn shards_are_disjoint_cover_the_grid_and_match_an_unsharded_run() {
    let dir = TempDir::new("shards");
    let whole = dir.join("whole.jsonl");
    let mut whole_args = SMALL_GRID.to_vec();
    whole_args.extend(["--threads", "1"]);
    succeed(&sweep_args(&whole_args, &TINY, &whole));
    let whole_records = records(&whole);
    let whole_cells = unique_cells(&whole_records, "unsharded");
    let pairs: Vec<String> = ["symlog,symexp", "relu,linear", "tanh,tanh", "elu,selu"]
        .map(String::from)
        .to_vec();
    assert_eq!(whole_cells, grid_cells(&["x1*x2", "x1+x2"], &pairs, 2));

    let reference: BTreeMap<Cell, Value> = whole_records
        .iter()
        .map(|r| (cell(r), without_wall_time(r)))
        .collect();
    let mut union = BTreeSet::new();
    let mut sizes = Vec::new();
    for k in 1..=3 {
        let out = dir.join(&format!("shard{k}.jsonl"));
        let shard = format!("{k}/3");
        let mut args = SMALL_GRID.to_vec();
        args.extend(["--shard", &shard, "--threads", "2"]);
        let stderr = succeed(&sweep_args(&args, &TINY, &out));
        let shard_records = records(&out);
        let cells = unique_cells(&shard_records, &shard);
        let s = summary(&stderr);
        assert_eq!((s.planned, s.skipped, s.ran), (cells.len(), 0, cells.len()));
        sizes.push(cells.len());
        for r in &shard_records {
            let c = cell(r);
            assert!(union.insert(c.clone()), "{c:?} is in two shards");
            assert_eq!(
                without_wall_time(r),
                reference[&c],
                "{c:?}: the sharded record (2 threads) differs from the unsharded one (1 thread)"
            );
        }
    }
    assert_eq!(union, whole_cells, "the shards do not cover the grid");
    assert_eq!(sizes.iter().sum::<usize>(), SMALL_GRID_RUNS);
    let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
    assert!(
        max - min <= 1,
        "round-robin shards are unbalanced: {sizes:?}"
    );

    // A sweep record is the record `train --json` gives for the same settings.
    let mut train = vec![
        "train",
        "--function",
        "x1+x2",
        "--pair",
        "tanh,tanh",
        "--seed",
        "1",
        "--json",
    ];
    train.extend(TINY);
    let out = logexp(&train);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let trained: Value = serde_json::from_slice(&out.stdout).expect("train --json prints JSON");
    let key = ("x1+x2".to_string(), "tanh,tanh".to_string(), 1);
    assert_eq!(without_wall_time(&trained), reference[&key]);
}

// ---------------------------------------------------------------------------------------------
// 3. Resuming a finished sweep.

#[test]
fn rerunning_a_finished_sweep_runs_nothing_and_leaves_the_file_as_it_was() {
    let dir = TempDir::new("resume");
    let out = dir.join("results.jsonl");
    let args = sweep_args(&SMALL_GRID, &TINY, &out);
    let first = summary(&succeed(&args));
    assert_eq!(
        (first.planned, first.skipped, first.ran),
        (SMALL_GRID_RUNS, 0, SMALL_GRID_RUNS)
    );
    let before = std::fs::read(&out).unwrap();
    assert_eq!(records(&out).len(), SMALL_GRID_RUNS);

    let stderr = succeed(&args);
    assert_eq!(
        summary(&stderr),
        Summary {
            planned: SMALL_GRID_RUNS,
            skipped: SMALL_GRID_RUNS,
            ran: 0,
            repaired: false,
        }
    );
    assert!(stderr.contains(" 0 run now"), "stderr: {stderr}");
    assert_eq!(std::fs::read(&out).unwrap(), before, "the file changed");

    // A sub-grid with another thread count is all done too.
    let stderr = succeed(&sweep_args(
        &[
            "--functions",
            "x1+x2",
            "--pairs",
            "tanh,tanh",
            "--seeds",
            "2",
            "--threads",
            "1",
        ],
        &TINY,
        &out,
    ));
    assert_eq!(summary(&stderr).ran, 0, "stderr: {stderr}");
    assert_eq!(std::fs::read(&out).unwrap(), before, "the file changed");

    // One more seed runs exactly the new seed's runs and only appends.
    let mut three = SMALL_GRID.to_vec();
    three[5] = "3";
    let s = summary(&succeed(&sweep_args(&three, &TINY, &out)));
    let per_seed = SMALL_GRID_RUNS / 2;
    assert_eq!(
        (s.planned, s.skipped, s.ran),
        (3 * per_seed, SMALL_GRID_RUNS, per_seed)
    );
    let after = std::fs::read(&out).unwrap();
    assert!(after.starts_with(&before), "earlier lines were rewritten");
    let all = records(&out);
    assert_eq!(unique_cells(&all, "three seeds").len(), 3 * per_seed);
    assert!(all[SMALL_GRID_RUNS..].iter().all(|r| r["seed"] == 2));

    // A different protocol is a different run: nothing is skipped.
    let s = summary(&succeed(&sweep_args(
        &["--functions", "x1*x2", "--pairs", "lg"],
        &["--epochs", "2", "--n-train", "200", "--n-test", "50"],
        &out,
    )));
    assert_eq!((s.skipped, s.ran), (0, 1));
}

// ---------------------------------------------------------------------------------------------
// 4. Bad input to sweep.

/// See [`common::assert_refused`].
fn refused(args: &[String], code: i32, needles: &[&str]) {
    common::assert_refused(args, code, needles);
}

#[test]
fn bad_sweep_arguments_are_refused_by_name_and_touch_no_file() {
    let dir = TempDir::new("bad-args");
    let out = dir.join("results.jsonl");
    let base = ["--functions", "x1*x2", "--pairs", "lg;relu,linear"];
    succeed(&sweep_args(&base, &TINY, &out));
    let before = std::fs::read(&out).unwrap();
    assert_eq!(records(&out).len(), 2);
    let fresh = dir.join("never-written.jsonl");

    // (flag overrides, exit status, what the error must mention)
    let cases: [(&[&str], i32, &[&str]); 9] = [
        (
            &["--functions", "x1*x2;x1+x2"],
            2,
            &["--functions", "x1*x2;x1+x2", "separate functions with ','"],
        ),
        (&["--functions", "x1*"], 2, &["x1*", "missing operand"]),
        (
            &["--pairs", "relu,gelu"],
            2,
            &["gelu", "valid names", "tanh"],
        ),
        (&["--pairs", ";"], 2, &["--pairs", "no pairs"]),
        (&["--seeds", "0"], 2, &["--seeds", "at least 1"]),
        (&["--shard", "4/3"], 2, &["--shard", "4/3", "K/N"]),
        (&["--shard", "x"], 2, &["--shard", "'x'", "K/N"]),
        (&["--shard", "0/3"], 2, &["--shard", "0/3"]),
        (&["--threads", "0"], 2, &["--threads", "at least 1"]),
    ];
    for (overrides, code, needles) in cases {
        for target in [&out, &fresh] {
            // Later flags override `base` where they repeat it (clap refuses repeats of
            // --functions, so build the list without the overridden ones).
            let mut grid: Vec<&str> = Vec::new();
            for pair in base.chunks(2) {
                if !overrides.contains(&pair[0]) {
                    grid.extend(pair);
                }
            }
            grid.extend(overrides.iter());
            refused(&sweep_args(&grid, &TINY, target), code, needles);
        }
        assert_eq!(
            std::fs::read(&out).unwrap(),
            before,
            "{overrides:?} changed the results file"
        );
        assert!(!fresh.exists(), "{overrides:?} created {}", fresh.display());
    }

    // An --out inside a regular file cannot be written.
    let regular = dir.join("regular");
    std::fs::write(&regular, "not a directory\n").unwrap();
    for inside in [
        regular.join("results.jsonl"),
        regular.join("sub/results.jsonl"),
    ] {
        refused(&sweep_args(&base, &TINY, &inside), 1, &[s(&inside)]);
    }
    assert_eq!(std::fs::read(&regular).unwrap(), b"not a directory\n");
    // --out a directory: not a regular file, refused up front as the user's input (exit 2).
    refused(&sweep_args(&base, &TINY, &dir.0), 2, &[s(&dir.0)]);
}

#[test]
fn a_corrupt_complete_line_stops_the_sweep_with_file_and_line_and_keeps_the_file() {
    let dir = TempDir::new("corrupt");
    let good = dir.join("good.jsonl");
    let grid = [
        "--functions",
        "x1*x2",
        "--pairs",
        "lg;relu,linear;tanh,tanh",
    ];
    succeed(&sweep_args(&grid, &TINY, &good));
    let content = std::fs::read_to_string(&good).unwrap();
    let lines: Vec<&str> = content.lines().collect();
    assert_eq!(lines.len(), 3);

    let corruptions = [
        r#"{"schema":1,"function":"x1*x2","pa"#,
        r#"{"hello":"world"}"#,
        "not json at all",
    ];
    for (i, bad) in corruptions.iter().enumerate() {
        let out = dir.join(&format!("corrupt{i}.jsonl"));
        // Good, good, corrupt (line 3), good; and a torn tail, which must not matter.
        let text = format!(
            "{}\n{}\n{bad}\n{}\n{{\"schema\":1,",
            lines[0], lines[1], lines[2]
        );
        std::fs::write(&out, &text).unwrap();
        // More seeds, so the sweep has work it must refuse to append.
        let mut args = grid.to_vec();
        args.extend(["--seeds", "2"]);
        refused(
            &sweep_args(&args, &TINY, &out),
            1,
            &[s(&out), "line 3", "not a run record"],
        );
        assert_eq!(std::fs::read_to_string(&out).unwrap(), text, "{bad}");
    }
}

// ---------------------------------------------------------------------------------------------
// 5. report.

/// Splits a CSV line into fields (double-quoted fields may hold commas and "" escapes).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// A CSV file as header → column index and rows of fields.
fn read_csv(path: &Path) -> (BTreeMap<String, usize>, Vec<Vec<String>>) {
    let content = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = content.lines();
    let header: BTreeMap<String, usize> = csv_fields(lines.next().expect("a header"))
        .into_iter()
        .enumerate()
        .map(|(i, name)| (name, i))
        .collect();
    let rows: Vec<Vec<String>> = lines.map(csv_fields).collect();
    for row in &rows {
        assert_eq!(row.len(), header.len(), "{}: {row:?}", path.display());
    }
    (header, rows)
}

/// The documented statistic: median over seeds, missing scores counting as +∞, the mean of the
/// two middle values for an even count (+∞ if either is).
fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    assert!(n > 0);
    if n % 2 == 1 {
        v[n / 2]
    } else if v[n / 2 - 1].is_infinite() || v[n / 2].is_infinite() {
        f64::INFINITY
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[test]
fn report_ranks_pairs_by_median_test_error_and_merges_split_files() {
    let dir = TempDir::new("report");
    let results = dir.join("results.jsonl");
    let functions = ["x1*x2", "x1*x2/10"];
    let grid = [
        "--functions",
        "x1*x2,x1*x2/10",
        "--pairs",
        "lg;relu,linear;tanh,tanh",
        "--seeds",
        "2",
    ];
    succeed(&sweep_args(&grid, &TINY, &results));
    let all = records(&results);
    assert_eq!(all.len(), 12);

    let report_dir = dir.join("report");
    let stderr = succeed(&["report", s(&results), "--out", s(&report_dir)]);
    assert!(stderr.contains("report of 12 runs"), "stderr: {stderr}");
    let md = std::fs::read_to_string(report_dir.join("report.md")).expect("report.md");
    for f in functions {
        assert!(
            md.contains(&format!("`{f}`")),
            "report.md does not mention {f}"
        );
    }

    // Every ranking: three pairs, ordered by the median test % error computed here from the
    // records, ties broken by the pair's name.
    for (f, slug) in functions.iter().zip(["x1_x2", "x1_x2_div10"]) {
        let mut errors: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for r in all.iter().filter(|r| r["function"] == *f) {
            let err = r["test_pct_err"].as_f64().unwrap_or(f64::INFINITY);
            errors
                .entry(r["pair"].as_str().unwrap().to_string())
                .or_default()
                .push(err);
        }
        let mut expected: Vec<(f64, String)> =
            errors.iter().map(|(p, e)| (median(e), p.clone())).collect();
        expected.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));

        let csv = report_dir.join(format!("rankings/{slug}.csv"));
        let (header, rows) = read_csv(&csv);
        assert_eq!(rows.len(), 3, "{}", csv.display());
        let col = |name: &str| {
            *header
                .get(name)
                .unwrap_or_else(|| panic!("{} has no column {name}", csv.display()))
        };
        let got: Vec<&str> = rows.iter().map(|r| r[col("pair")].as_str()).collect();
        let want: Vec<&str> = expected.iter().map(|(_, p)| p.as_str()).collect();
        assert_eq!(got, want, "{}: order of pairs", csv.display());
        for (i, (row, (med, _))) in rows.iter().zip(&expected).enumerate() {
            assert_eq!(row[col("rank")], (i + 1).to_string());
            assert_eq!(row[col("runs")], "2");
            let value: f64 = row[col("median_test_pct_err")].parse().unwrap();
            assert_eq!(value, *med, "{}: median of {}", csv.display(), want[i]);
        }
    }
    let table1 = std::fs::read_to_string(report_dir.join("table1.csv")).unwrap();
    let (_, rows) = read_csv(&report_dir.join("table1.csv"));
    let listed: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(listed, functions);

    // The same records split over two files, and overlapping files, give the same tables.
    let content = std::fs::read_to_string(&results).unwrap();
    let (mut odd, mut even) = (String::new(), String::new());
    for (i, line) in content.lines().enumerate() {
        let half = if i % 2 == 0 { &mut even } else { &mut odd };
        half.push_str(line);
        half.push('\n');
    }
    let (a, b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    std::fs::write(&a, even).unwrap();
    std::fs::write(&b, odd).unwrap();
    for (name, inputs) in [("split", vec![&a, &b]), ("overlap", vec![&b, &results, &a])] {
        let out = dir.join(name);
        let mut args = vec!["report"];
        args.extend(inputs.iter().map(|p| s(p)));
        args.extend(["--out", s(&out)]);
        let stderr = succeed(&args);
        assert!(stderr.contains("report of 12 runs"), "{name}: {stderr}");
        assert_eq!(
            std::fs::read_to_string(out.join("table1.csv")).unwrap(),
            table1,
            "{name}: table1.csv differs"
        );
        for slug in ["x1_x2", "x1_x2_div10"] {
            let path = format!("rankings/{slug}.csv");
            assert_eq!(
                std::fs::read(out.join(&path)).unwrap(),
                std::fs::read(report_dir.join(&path)).unwrap(),
                "{name}: {path} differs"
            );
        }
    }
}

#[test]
fn report_refuses_missing_corrupt_and_unwritable_paths() {
    let dir = TempDir::new("report-errors");
    let results = dir.join("results.jsonl");
    succeed(&sweep_args(
        &["--functions", "x1*x2", "--pairs", "lg;relu,linear"],
        &TINY,
        &results,
    ));
    let report = |inputs: &[&Path], out: &Path| -> Vec<String> {
        let mut args = vec!["report".to_string()];
        args.extend(inputs.iter().map(|p| s(p).to_string()));
        args.extend(["--out".to_string(), s(out).to_string()]);
        args
    };

    // A missing file, alone or beside a good one: refused, nothing written.
    let missing = dir.join("missing.jsonl");
    let out = dir.join("out-missing");
    refused(&report(&[&missing], &out), 1, &[s(&missing)]);
    refused(&report(&[&results, &missing], &out), 1, &[s(&missing)]);
    assert!(!out.exists(), "a refused report created {}", out.display());

    // A corrupt complete line: the file and line are named.
    let content = std::fs::read_to_string(&results).unwrap();
    let corrupt = dir.join("corrupt.jsonl");
    let lines: Vec<&str> = content.lines().collect();
    std::fs::write(&corrupt, format!("{}\n{{oops\n{}\n", lines[0], lines[1])).unwrap();
    let out = dir.join("out-corrupt");
    refused(
        &report(&[&results, &corrupt], &out),
        1,
        &[s(&corrupt), "line 2"],
    );
    assert!(!out.exists(), "a refused report created {}", out.display());

    // --out naming an existing file, or a path through one, is the user's input to fix:
    // exit 2, before any work.
    let regular = dir.join("regular");
    std::fs::write(&regular, "x").unwrap();
    refused(
        &report(&[&results], &regular.join("report")),
        2,
        &["--out", s(&regular), "a path through a file"],
    );
    refused(
        &report(&[&results], &regular),
        2,
        &["--out", s(&regular), "give a directory"],
    );
    assert_eq!(std::fs::read(&regular).unwrap(), b"x");
}

// ---------------------------------------------------------------------------------------------
// 6. reproduce.

/// The data rows of report.md's Table I.
fn table1_rows(md: &str) -> Vec<String> {
    let start = md
        .find("## Table I")
        .unwrap_or_else(|| panic!("no Table I section in report.md:\n{md}"));
    md[start..]
        .lines()
        .skip_while(|l| !l.starts_with("| function"))
        .skip(2) // header and separator
        .take_while(|l| l.starts_with('|'))
        .map(str::to_string)
        .collect()
}

/// One epoch of every pair on the paper's seven functions (854 runs): about 2.5 s in release on
/// 2 cores.
#[test]
fn reproduce_quick_writes_table1_for_the_seven_functions_and_resumes() {
    let dir = TempDir::new("reproduce");
    let out = dir.join("quick");
    let args = [
        "reproduce",
        "--quick",
        "--epochs",
        "1",
        "--seeds",
        "1",
        "--out",
        s(&out),
    ];
    let run = || {
        let output = logexp(&args);
        let stderr = text(&output.stderr);
        assert!(output.status.success(), "stderr: {stderr}");
        assert!(!stderr.contains("panicked"), "stderr: {stderr}");
        let stdout = text(&output.stdout);
        assert!(
            stdout.contains(s(&out.join("report.md"))),
            "stdout: {stdout}"
        );
        summary(&stderr)
    };
    let first = run();
    assert_eq!(
        (first.planned, first.skipped, first.ran),
        (7 * 122, 0, 7 * 122)
    );
    let results = out.join("results.jsonl");
    let all = records(&results);
    assert_eq!(
        unique_cells(&all, "reproduce"),
        grid_cells(&PAPER_FUNCTIONS, &all_pairs(), 1)
    );
    assert!(all.iter().all(|r| r["epochs"] == 1));

    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let rows = table1_rows(&md);
    assert_eq!(rows.len(), 7, "Table I rows: {rows:#?}");
    for (row, f) in rows.iter().zip(PAPER_FUNCTIONS) {
        assert!(row.starts_with(&format!("| `{f}` |")), "{row}");
        assert!(
            row.contains(" of 122 |"),
            "lg's rank among 122 pairs: {row}"
        );
    }
    let (_, csv_rows) = read_csv(&out.join("table1.csv"));
    assert_eq!(csv_rows.len(), 7);
    let rankings: Vec<PathBuf> = out
        .join("rankings")
        .read_dir()
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(rankings.len(), 7, "{rankings:?}");
    for csv in &rankings {
        assert_eq!(read_csv(csv).1.len(), 122, "{}", csv.display());
    }

    let before = std::fs::read(&results).unwrap();
    let second = run();
    assert_eq!(
        (second.planned, second.skipped, second.ran),
        (7 * 122, 7 * 122, 0)
    );
    assert_eq!(std::fs::read(&results).unwrap(), before);
    assert_eq!(
        std::fs::read_to_string(out.join("report.md")).unwrap(),
        md,
        "the same records gave a different report"
    );
}
