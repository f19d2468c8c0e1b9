//! Results files under hostile conditions: files that are not ours, records without their
//! newline, torn lines, two sweeps at once, devices and FIFOs, huge grids, and fuzzed bytes.
//! Nothing may be lost, hang or panic.

mod common;

use common::{BIN, TempDir, assert_refused, logexp, text};
use logexp::Error;
use logexp::experiment::{Pair, RunRecord, RunSpec, run};
use logexp::results::{ResultsWriter, Tail, read_all_results, read_results};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn s(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// A tiny protocol: a run takes about a millisecond.
const TINY: [&str; 6] = ["--epochs", "1", "--n-train", "200", "--n-test", "50"];

/// `sweep --functions x1*x2 --pairs lg --seeds SEEDS` with the tiny protocol into `out`.
fn sweep_args(seeds: &str, out: &Path) -> Vec<String> {
    sweep_with(seeds, &TINY, out)
}

/// `sweep --functions x1*x2 --pairs lg --seeds SEEDS` with `protocol` into `out`.
fn sweep_with(seeds: &str, protocol: &[&str], out: &Path) -> Vec<String> {
    let mut args: Vec<String> = ["sweep", "--functions", "x1*x2", "--pairs", "lg", "--seeds"]
        .iter()
        .map(|a| a.to_string())
        .collect();
    args.push(seeds.into());
    args.extend(protocol.iter().map(|a| a.to_string()));
    args.extend(["--out".into(), s(out).into()]);
    args
}

/// `logexp ARGS`, killed if it has not finished within `limit` (a hang is a failure, not a
/// stuck test run).
fn logexp_within(args: &[String], limit: Duration) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the logexp binary starts");
    let id = child.id();
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match wait.recv_timeout(limit) {
        Ok(out) => out.expect("wait for logexp"),
        Err(_) => {
            // Only the child started above is killed, by its id.
            let _ = Command::new("kill").args(["-9", &id.to_string()]).status();
            panic!("logexp {args:?} did not finish within {limit:?}");
        }
    }
}

/// The record `train --json` prints for x1*x2, lg, seed 0 and the tiny protocol.
fn train_record() -> String {
    let mut args = vec!["train", "--function", "x1*x2", "--json"];
    args.extend(TINY);
    let out = logexp(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim_end().to_string()
}

/// The summary line a sweep prints last.
fn summary(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| l.contains(" runs planned: "))
        .unwrap_or_else(|| panic!("no summary on stderr: {stderr}"))
        .to_string()
}

fn succeed(args: &[String]) -> String {
    let out = logexp_within(args, Duration::from_secs(120));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "logexp {args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

// ---------------------------------------------------------------------------------------------
// What is kept, what is cut, what is refused.

#[test]
fn files_that_are_not_results_are_refused_and_left_byte_for_byte() {
    let dir = TempDir::new("foreign");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("notes.txt", b"my notes".to_vec()),
        ("zeros.bin", vec![0u8; 100 * 1024]),
        (
            "other.json",
            b"{\"hello\":\"world\"}\n{\"schema\":1,".to_vec(),
        ),
        ("notes-then-records.txt", b"todo: rerun\n\n".to_vec()),
    ];
    for (name, bytes) in &cases {
        let out = dir.join(name);
        std::fs::write(&out, bytes).unwrap();
        assert_refused(&sweep_args("2", &out), 2, &[s(&out), "not a results file"]);
        assert_eq!(&std::fs::read(&out).unwrap(), bytes, "{name} was changed");
    }
}

#[test]
fn a_valid_record_without_its_newline_is_kept_and_not_redone() {
    let dir = TempDir::new("no-newline");
    let out = dir.join("c.jsonl");
    let record = train_record();
    std::fs::write(&out, &record).unwrap();
    let stderr = succeed(&sweep_args("2", &out));
    let line = summary(&stderr);
    assert!(
        line.starts_with("2 runs planned: 1 already in"),
        "the kept record must count as done: {line}"
    );
    assert!(line.contains(", 1 run now"), "{line}");
    assert!(
        !line.contains("cut away") && !line.contains("again"),
        "no redo may be claimed: {line}"
    );
    let after = std::fs::read_to_string(&out).unwrap();
    assert!(
        after.starts_with(&format!("{record}\n")),
        "the record was not kept byte for byte"
    );
    assert_eq!(after.lines().count(), 2);
    assert!(after.ends_with('\n'));
}

#[test]
fn a_file_holding_only_a_torn_record_of_ours_is_repaired() {
    let dir = TempDir::new("torn-only");
    let out = dir.join("torn.jsonl");
    let record = train_record();
    std::fs::write(&out, &record[..record.len() / 2]).unwrap();
    let stderr = succeed(&sweep_args("2", &out));
    let line = summary(&stderr);
    assert!(
        line.contains("0 already in") && line.contains("2 run now"),
        "{line}"
    );
    assert!(line.contains("cut away"), "{line}");
    let records = read_results(&out).unwrap();
    assert_eq!(records.tail, Tail::Terminated);
    let seeds: Vec<u64> = records.records.iter().map(|r| r.spec.seed).collect();
    assert_eq!(seeds.len(), 2);
    assert!(seeds.contains(&0) && seeds.contains(&1), "{seeds:?}");
}

// ---------------------------------------------------------------------------------------------
// Two sweeps on one file.

/// A child process killed (by its id) if the test ends before it does.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn a_second_sweep_on_a_file_being_written_fails_fast_and_the_first_loses_nothing() {
    let dir = TempDir::new("lock");
    let out = dir.join("results.jsonl");
    // A few seconds of work on 2 cores: long enough to start a second sweep meanwhile.
    let protocol = ["--epochs", "5", "--n-train", "2000", "--n-test", "50"];
    let args = sweep_with("1500", &protocol, &out);
    let mut first = KillOnDrop(
        Command::new(BIN)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the first sweep starts"),
    );
    let first = &mut first.0;
    // Once a line is written, the first sweep holds the lock (taken before reading).
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read(&out).map_or(true, |b| !b.contains(&b'\n')) {
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first sweep ended before the second could start"
        );
        assert!(Instant::now() < deadline, "no record after 60 s");
        std::thread::sleep(Duration::from_millis(1));
    }
    let started = Instant::now();
    assert_refused(&args, 2, &[s(&out), "another logexp process holds"]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the second sweep did not fail fast"
    );
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first sweep ended before the second was refused: the test proved nothing"
    );
    let status = first.wait().unwrap();
    assert!(status.success(), "the first sweep failed: {status}");
    let records = read_results(&out).unwrap().records;
    let mut seeds_done: Vec<u64> = records.iter().map(|r| r.spec.seed).collect();
    seeds_done.sort_unstable();
    assert_eq!(
        seeds_done,
        (0..1500).collect::<Vec<u64>>(),
        "missing or duplicate runs"
    );
    // The lock goes with the process: a later sweep resumes normally.
    let stderr = succeed(&args);
    assert!(summary(&stderr).contains("1500 already in"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Devices, FIFOs, directories.

/// A FIFO made with mkfifo(1), or None where there is none.
fn fifo(dir: &TempDir) -> Option<PathBuf> {
    let path = dir.join("fifo");
    let made = Command::new("mkfifo").arg(&path).status().ok()?;
    made.success().then_some(path)
}

#[test]
fn outputs_that_are_not_regular_files_are_refused_up_front() {
    let dir = TempDir::new("devices");
    let mut targets: Vec<PathBuf> = ["/dev/null", "/dev/zero", "/dev/stdin", "/dev/stdout"]
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .collect();
    targets.push(dir.0.clone());
    targets.extend(fifo(&dir));
    for target in targets {
        let started = Instant::now();
        let out = logexp_within(&sweep_args("2", &target), Duration::from_secs(20));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", target.display());
        assert!(
            stderr.starts_with(&format!("error: {}: not a regular file", target.display())),
            "{}: {stderr}",
            target.display()
        );
        assert!(out.stdout.is_empty(), "{}", target.display());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{}",
            target.display()
        );
    }
}

#[test]
fn report_refuses_devices_fifos_and_files_without_records() {
    let dir = TempDir::new("report-inputs");
    let report_out = dir.join("report");
    let report = |inputs: &[&Path]| -> Vec<String> {
        let mut args = vec!["report".to_string()];
        args.extend(inputs.iter().map(|p| s(p).to_string()));
        args.extend(["--out".into(), s(&report_out).into()]);
        args
    };
    let mut odd: Vec<PathBuf> = vec!["/dev/zero".into(), "/dev/null".into(), dir.0.clone()];
    odd.extend(fifo(&dir));
    for input in odd.iter().filter(|p| p.exists()) {
        let out = logexp_within(&report(&[input]), Duration::from_secs(20));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", input.display());
        assert!(stderr.contains("not a regular file"), "{stderr}");
    }
    // Files holding no record: exit 2, "no run records", every file named.
    let empty = dir.join("empty.jsonl");
    let blank = dir.join("blank.jsonl");
    std::fs::write(&empty, "").unwrap();
    std::fs::write(&blank, "\n\n").unwrap();
    assert_refused(&report(&[&empty]), 2, &[s(&empty), "no run records"]);
    assert_refused(
        &report(&[&empty, &blank]),
        2,
        &[s(&empty), s(&blank), "no run records"],
    );
    assert!(
        !report_out.exists(),
        "a refused report wrote {}",
        report_out.display()
    );
}

#[test]
fn report_refuses_unknown_schemas_and_functions_that_do_not_parse_with_file_and_line() {
    let dir = TempDir::new("report-records");
    let good = train_record();
    let cases = [
        (good.replacen("\"schema\":2", "\"schema\":3", 1), "schema 3"),
        (
            good.replacen("\"function\":\"x1*x2\"", "\"function\":\"x1*\"", 1),
            "does not parse",
        ),
        (
            good.replacen("\"function\":\"x1*x2\"", "\"function\":\"x1*x3\"", 1),
            "n_inputs",
        ),
        (
            good.replacen(
                "\"function\":\"x1*x2\"",
                "\"function\":\"x18446744073709551615\"",
                1,
            )
            .replacen("\"n_inputs\":2", "\"n_inputs\":18446744073709551615", 1),
            "x18446744073709551615",
        ),
    ];
    for (i, (bad, needle)) in cases.iter().enumerate() {
        let file = dir.join(&format!("bad{i}.jsonl"));
        std::fs::write(&file, format!("{good}\n{bad}\n")).unwrap();
        let mut args = vec!["report".to_string(), s(&file).into()];
        args.extend(["--out".into(), s(&dir.join("out")).into()]);
        assert_refused(&args, 1, &[s(&file), "line 2", needle]);
    }
}

// ---------------------------------------------------------------------------------------------
// Grid sizes.

#[test]
fn a_grid_too_large_for_one_process_is_refused_at_once() {
    let dir = TempDir::new("grid");
    let out = dir.join("results.jsonl");
    for seeds in ["100000000", "18446744073709551615"] {
        let started = Instant::now();
        let output = logexp_within(&sweep_args(seeds, &out), Duration::from_secs(30));
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{seeds}: {stderr}");
        assert!(
            stderr.starts_with("error: invalid --seeds:"),
            "{seeds}: {stderr}"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{seeds}");
        assert!(!out.exists(), "{seeds}: the results file was created");
    }
    let output = logexp_within(&sweep_args("100000000", &out), Duration::from_secs(30));
    assert!(
        text(&output.stderr).contains("--shard"),
        "the error must suggest --shard"
    );
}

// ---------------------------------------------------------------------------------------------
// Fuzzing the reader and the repair.

/// A real record to vary.
fn base_record() -> &'static RunRecord {
    static RECORD: OnceLock<RunRecord> = OnceLock::new();
    RECORD.get_or_init(|| {
        run(&RunSpec {
            epochs: 2,
            n_train: 40,
            n_test: 10,
            ..RunSpec::paper("x1*x2", Pair::lg())
        })
        .unwrap()
    })
}

/// Lines of records that differ in seed, function and loss history.
fn record_lines(variants: &[(u64, u8, Vec<f64>)]) -> Vec<String> {
    const FUNCTIONS: [&str; 4] = ["x1*x2", "x1*x2/10", "x1*(x2+x3)+x4", "x2^2-x1"];
    variants
        .iter()
        .map(|(seed, f, loss)| {
            let mut r = base_record().clone();
            r.spec.seed = *seed;
            r.spec.function = FUNCTIONS[*f as usize % FUNCTIONS.len()].into();
            r.n_inputs = logexp::expr::Expr::parse(&r.spec.function)
                .unwrap()
                .n_vars()
                .max(1);
            r.train_loss = loss.clone();
            format!("{}\n", serde_json::to_string(&r).unwrap())
        })
        .collect()
}

/// Near misses of a record line: cut, a byte changed, NULs, huge numbers, CRLF, bad UTF-8.
fn near_miss(line: &str, how: u8, at: usize, byte: u8) -> Vec<u8> {
    let mut b = line.as_bytes().to_vec();
    let at = at % b.len().max(1);
    match how % 7 {
        0 => b.truncate(at),
        1 => b[at] = byte,
        2 => b.insert(at, 0),
        3 => {
            let big = b"184467440737095516150000";
            b.splice(at..at, big.iter().copied());
        }
        4 => {
            if b.last() == Some(&b'\n') {
                b.pop();
                b.extend(b"\r\n");
            }
        }
        5 => b[at] = 0xff,
        _ => {
            let text = String::from_utf8(b).unwrap();
            b = text
                .replacen("\"seed\":", "\"seed\":1e999,\"x\":", 1)
                .into_bytes();
        }
    }
    b
}

fn check_never_panics(dir: &TempDir, bytes: &[u8]) {
    let path = dir.join("fuzz.jsonl");
    std::fs::write(&path, bytes).unwrap();
    // Readers: records or an error, never a panic.
    let read = read_results(&path);
    let _ = read_all_results(std::slice::from_ref(&path));
    // The writer: refused untouched, or repaired keeping every record the reader saw.
    match ResultsWriter::open(&path) {
        Err(_) => assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "a refusal changed the file"
        ),
        Ok(writer) => {
            let tail = writer.tail();
            writer.finish().unwrap();
            let after = std::fs::read(&path).unwrap();
            let before = read.expect("the writer accepted what the reader refused");
            match tail {
                Tail::Terminated => assert_eq!(after, bytes),
                Tail::Unterminated => assert_eq!(after, [bytes, b"\n"].concat()),
                Tail::Torn { at, len } => {
                    assert_eq!(at + len, bytes.len() as u64);
                    assert_eq!(after, &bytes[..at as usize]);
                }
            }
            let again = read_results(&path).unwrap();
            assert_eq!(again.records, before.records);
            assert_eq!(again.tail, Tail::Terminated);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_read_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let dir = TempDir::new("fuzz-bytes");
        check_never_panics(&dir, &bytes);
    }

    #[test]
    fn near_miss_records_read_or_fail_cleanly(
        seeds in proptest::collection::vec((0u64..5, any::<u8>()), 1..4),
        which in any::<prop::sample::Index>(),
        how in any::<u8>(),
        at in any::<usize>(),
        byte in any::<u8>(),
    ) {
        let dir = TempDir::new("fuzz-near");
        let variants: Vec<(u64, u8, Vec<f64>)> =
            seeds.iter().map(|&(s, f)| (s, f, vec![1.5, 1e308, 5e-324])).collect();
        let mut lines: Vec<Vec<u8>> =
            record_lines(&variants).into_iter().map(String::into_bytes).collect();
        let i = which.index(lines.len());
        lines[i] = near_miss(std::str::from_utf8(&lines[i]).unwrap(), how, at, byte);
        check_never_panics(&dir, &lines.concat());
    }

    /// Repair never removes a complete record: cut a file of records anywhere, open it as a
    /// sweep would and append; every complete line before the cut is still there byte for
    /// byte, and a record cut just before its newline is kept.
    #[test]
    fn repair_keeps_every_complete_record(
        variants in proptest::collection::vec(
            (0u64..1000, any::<u8>(), proptest::collection::vec(-1e12f64..1e12, 0..4)),
            1..6,
        ),
        mode in 0u8..4,
        cut in any::<prop::sample::Index>(),
    ) {
        let dir = TempDir::new("fuzz-repair");
        let lines = record_lines(&variants);
        let whole: String = lines.concat();
        // Uniform cuts rarely land on the interesting places: also cut just before a line's
        // newline, just after it, and one byte into a line.
        let ends: Vec<usize> = lines
            .iter()
            .scan(0, |end, line| {
                *end += line.len();
                Some(*end)
            })
            .collect();
        let line_end = ends[cut.index(ends.len())];
        let cut = match mode {
            0 => cut.index(whole.len() + 1),
            1 => line_end - 1,
            2 => line_end,
            _ => ends.iter().copied().rfind(|&e| e < line_end).unwrap_or(0) + 1,
        };
        let path = dir.join("cut.jsonl");
        std::fs::write(&path, &whole.as_bytes()[..cut]).unwrap();

        // What must survive: every line whose newline is before the cut, and a line cut
        // exactly at its newline (a complete record without it).
        let mut kept = String::new();
        let mut end = 0;
        for line in &lines {
            end += line.len();
            if end <= cut {
                kept.push_str(line);
            } else if end - 1 == cut {
                kept.push_str(line);
                break;
            } else {
                break;
            }
        }
        let extra = record_lines(&[(5000, 0, vec![])]).remove(0);
        let writer = ResultsWriter::open(&path).unwrap();
        writer.append(&serde_json::from_str::<RunRecord>(&extra).unwrap()).unwrap();
        writer.finish().unwrap();
        let after = std::fs::read_to_string(&path).unwrap();
        prop_assert_eq!(after, format!("{kept}{extra}"));
    }
}

#[test]
fn errors_from_the_reader_name_the_file() {
    let dir = TempDir::new("names");
    let path = dir.join("x.jsonl");
    std::fs::write(&path, "garbage\n").unwrap();
    match read_results(&path).unwrap_err() {
        Error::NotResults { path: p, message } => {
            assert_eq!(p, path);
            assert!(message.contains("line 1"), "{message}");
        }
        other => panic!("{other}"),
    }
}
