//! What `fit`, `predict` and `report` write, and what they refuse to write over: devices,
//! FIFOs, directories and dangling links are refused and kept; a link is followed; an
//! interrupt leaves the old output (a report's every file) and no temporary file; an output is
//! never one of the command's inputs; a diverged fit writes nothing; a fit too large for
//! memory is refused first; and text from a table never reaches the terminal raw.

mod common;

use common::{TempDir, assert_refused, fit_args, logexp, text};
use std::path::Path;

/// A small table of y = a·b and a model fitted on it, in `dir`.
fn table_and_model(dir: &TempDir) -> (String, String) {
    let data = dir.join("d.csv");
    std::fs::write(
        &data,
        "a,b,y\n1,2,2\n2,3,6\n3,5,15\n4,7,28\n5,11,55\n6,13,78\n",
    )
    .unwrap();
    let model = dir.join("m.st");
    let (data, model) = (
        data.to_str().unwrap().to_string(),
        model.to_str().unwrap().to_string(),
    );
    let out = logexp(&fit_args(Path::new(&data), Path::new(&model), &[]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    (data, model)
}

/// A table of `n` feature columns `c0…` and a target `y`, with `rows` rows of small integers.
fn write_wide_csv(path: &Path, n: usize, rows: usize) {
    let mut lines = vec![(0..n).map(|i| format!("c{i},")).collect::<String>() + "y"];
    for r in 0..rows {
        let row: Vec<String> = (0..=n).map(|i| (1 + (i + r) % 5).to_string()).collect();
        lines.push(row.join(","));
    }
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// A table of inputs `a,b` (small integers) with `rows` rows, for predictions that take a while
/// to write.
fn write_many_rows(path: &Path, rows: u32) {
    let mut text = String::from("a,b\n");
    for i in 0..rows {
        text += &format!("{},{}\n", 1 + i % 97, 1 + i % 89);
    }
    std::fs::write(path, text).unwrap();
}

/// Runs logexp with `args` (no input, output discarded), sends it `signal` (`INT`, `TERM`)
/// `settle` after `ready` first holds, and returns how it ended. Fails if it ends first.
fn signal_once(
    args: &[&Path],
    signal: &str,
    ready: impl Fn() -> bool,
    settle: std::time::Duration,
) -> std::process::ExitStatus {
    let mut child = std::process::Command::new(common::BIN)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("logexp {args:?} finished ({status}) before it could be interrupted");
        }
        assert!(started.elapsed().as_secs() < 60, "not ready after 60 s");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    std::thread::sleep(settle);
    let killed = std::process::Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status();
    assert!(killed.unwrap().success());
    child.wait().unwrap()
}

fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp")
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[cfg(unix)]
#[test]
fn outputs_that_are_not_regular_files_are_refused_and_kept() {
    use std::os::unix::fs::FileTypeExt;
    let dir = TempDir::new("outputs-kinds");
    let (data, model) = table_and_model(&dir);
    let fifo = dir.join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success());
    std::os::unix::fs::symlink(dir.join("missing.csv"), dir.join("dangling.csv")).unwrap();
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let cases = [
        ("/dev/null".to_string(), "a device"),
        (fifo.to_str().unwrap().to_string(), "a FIFO"),
        (sub.to_str().unwrap().to_string(), "a directory"),
        (
            dir.join("dangling.csv").to_str().unwrap().to_string(),
            "a symbolic link to nothing",
        ),
    ];
    for (out, kind) in &cases {
        assert_refused(
            &["predict", "--model", &model, "--data", &data, "--out", out],
            2,
            &[out, kind, "regular file"],
        );
        assert_refused(
            &["fit", "--data", &data, "--target", "y", "--out", out],
            2,
            &[out, kind, "regular file"],
        );
    }
    let null = std::fs::metadata("/dev/null").unwrap();
    assert!(null.file_type().is_char_device(), "/dev/null was replaced");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(
        std::fs::symlink_metadata(dir.join("dangling.csv"))
            .unwrap()
            .is_symlink()
    );
    assert!(sub.is_dir());
    assert!(
        !names(&dir.0).iter().any(|n| is_temporary(n)),
        "{:?}",
        names(&dir.0)
    );
}

#[cfg(unix)]
#[test]
fn a_link_to_a_file_is_followed_and_kept() {
    let dir = TempDir::new("outputs-link");
    let (data, model) = table_and_model(&dir);
    let real = dir.join("real.csv");
    std::fs::write(&real, "old").unwrap();
    let link = dir.join("link.csv");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let out = logexp(&[
        "predict",
        "--model",
        &model,
        "--data",
        &data,
        "--out",
        link.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    let written = std::fs::read_to_string(&real).unwrap();
    assert!(written.starts_with("a,b,y,y_predicted\n"), "{written}");
}

#[cfg(unix)]
#[test]
fn an_interrupted_predict_keeps_the_old_output_and_leaves_no_temporary_file() {
    let dir = TempDir::new("outputs-interrupt");
    let (_, model) = table_and_model(&dir);
    // Enough rows that the prediction is still being written when the signal comes.
    let big = dir.join("big.csv");
    write_many_rows(&big, 2_000_000);
    for signal in ["INT", "TERM"] {
        let out = dir.join("out.csv");
        std::fs::write(&out, "keep").unwrap();
        let args = [
            Path::new("predict"),
            Path::new("--model"),
            Path::new(&model),
            Path::new("--data"),
            &big,
            Path::new("--out"),
            &out,
        ];
        // The signal comes once the temporary file exists, so mid-write.
        let status = signal_once(
            &args,
            signal,
            || names(&dir.0).iter().any(|n| is_temporary(n)),
            std::time::Duration::ZERO,
        );
        assert_eq!(status.code(), Some(130), "SIG{signal}: {status}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep");
        let left: Vec<String> = names(&dir.0)
            .into_iter()
            .filter(|n| is_temporary(n))
            .collect();
        assert!(left.is_empty(), "SIG{signal} left {left:?}");
    }
}

#[test]
fn predictions_piped_into_a_reader_that_stops_early_end_quietly() {
    use std::io::Read;
    let dir = TempDir::new("outputs-broken-pipe");
    let (_, model) = table_and_model(&dir);
    let data = dir.join("many.csv");
    write_many_rows(&data, 200_000);
    let mut child = std::process::Command::new(common::BIN)
        .args([
            "predict",
            "--model",
            &model,
            "--data",
            data.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Like `| head -c 100`: read a little, then close the pipe.
    let mut first = [0u8; 100];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(text(&first).starts_with("a,b,y_predicted\n"));
    // Before, exit 1 with "cannot write the predictions: Broken pipe".
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn a_diverged_fit_writes_no_model_and_exits_1() {
    let dir = TempDir::new("outputs-diverged");
    let (data, _) = table_and_model(&dir);
    let model = dir.join("div.st");
    let extra = ["--model", "dense", "--lr", "1e30", "--epochs", "2"];
    let args = fit_args(Path::new(&data), &model, &extra);
    assert_refused(&args, 1, &["diverged", "no model written", "--lr"]);
    assert!(!model.exists());
}

#[test]
fn an_output_in_a_missing_directory_is_refused_before_any_work() {
    let dir = TempDir::new("outputs-missing-dir");
    let (data, model) = table_and_model(&dir);
    let missing = dir.join("nodir").join("m.st");
    // Before, the fit trained in full and only then failed to save (exit 1).
    let args = fit_args(Path::new(&data), &missing, &["--epochs", "5"]);
    assert_refused(&args, 2, &["nodir", "does not exist", "create it first"]);
    let predictions = dir.join("nodir").join("p.csv");
    assert_refused(
        &[
            "predict",
            "--model",
            &model,
            "--data",
            &data,
            "--out",
            predictions.to_str().unwrap(),
        ],
        2,
        &["nodir", "does not exist"],
    );
    assert!(!dir.join("nodir").exists());
    // A directory path, a path through a file and a loop of links: refused before the fit,
    // as the user's input (before, the first trained in full, and all three exited 1).
    std::fs::write(dir.join("afile"), "x").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.join("loopb"), dir.join("loopa")).unwrap();
        std::os::unix::fs::symlink(dir.join("loopa"), dir.join("loopb")).unwrap();
    }
    for (out, kind) in [
        ("newd/", "a directory path"),
        ("newd/.", "a directory path"),
        ("new.st/..", "a directory path"),
        ("afile/m.st", "a path through a file"),
        (
            &"n".repeat(256),
            "a name longer than the file system allows",
        ),
        #[cfg(unix)]
        ("loopa/m.st", "a loop of links"),
    ] {
        let path = format!("{}/{out}", dir.0.display());
        let args = fit_args(Path::new(&data), Path::new(&path), &["--epochs", "5"]);
        assert_refused(&args, 2, &[kind, "cannot write the output there"]);
    }
    assert!(!dir.join("newd").exists());
}

#[test]
fn a_fit_too_large_for_memory_is_refused_before_it_starts() {
    let dir = TempDir::new("outputs-memory");
    let (data, _) = table_and_model(&dir);
    let model = dir.join("big.st");
    let extra = ["--model", "dense", "--hidden", "100000,100000"];
    let args = fit_args(Path::new(&data), &model, &extra);
    assert_refused(&args, 2, &["--hidden", "GiB", "--max-memory"]);
    // The closed-form fit grows with the square of the columns.
    let wide = dir.join("wide.csv");
    let n = 40_000;
    write_wide_csv(&wide, n, 2);
    let args = fit_args(&wide, &model, &[]);
    assert_refused(&args, 2, &["--features", "GiB", "--max-memory"]);
    assert!(!model.exists());
}

#[test]
fn text_from_a_table_never_reaches_the_terminal_raw() {
    let dir = TempDir::new("outputs-control");
    let data = dir.join("ctrl.csv");
    std::fs::write(
        &data,
        "a\u{1b}[31mRED,b\u{7}\u{202e}\u{200b},y\n1,2,2\n2,3,6\n3,5,15\n4,7,28\n5,11,55\n6,13,78\n",
    )
    .unwrap();
    let model = dir.join("c.st");
    let out = logexp(&fit_args(&data, &model, &[]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let explained = logexp(&["explain", "--model", model.to_str().unwrap()]);
    assert!(explained.status.success(), "{}", text(&explained.stderr));
    for printed in [text(&out.stdout), text(&explained.stdout)] {
        assert!(
            !printed.chars().any(|c| c.is_control() && c != '\n'),
            "{printed:?}"
        );
        // Formulas write each hidden character as its code point, as error messages do.
        assert!(printed.contains("aU+001B[31mRED"), "{printed}");
        assert!(printed.contains("bU+0007U+202EU+200B"), "{printed}");
        assert!(!printed.contains(['\u{202e}', '\u{200b}']), "{printed}");
    }
    // A quoted line break in a name: the formula stays on its line (before, "d^1.000" began a
    // line of its own).
    let data = dir.join("break.csv");
    std::fs::write(
        &data,
        "a,\"c\nd\",y\n2,3,6\n3,4,12\n4,5,20\n5,7,35\n6,8,48\n7,9,63\n",
    )
    .unwrap();
    let out = logexp(&fit_args(&data, &model, &[]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let explained = logexp(&["explain", "--model", model.to_str().unwrap()]);
    assert!(explained.status.success(), "{}", text(&explained.stderr));
    for printed in [text(&out.stdout), text(&explained.stdout)] {
        assert!(printed.contains("x2 = cU+000Ad)"), "{printed}");
        assert!(!printed.lines().any(|l| l.starts_with("d")), "{printed}");
    }
}

#[test]
fn a_unit_model_on_a_wide_table_is_fitted_without_a_formula() {
    let dir = TempDir::new("outputs-wide-explain");
    let n = 300;
    let data = dir.join("wide.csv");
    write_wide_csv(&data, n, 4);
    let model = dir.join("w.st");
    let out = logexp(&fit_args(
        &data,
        &model,
        &["--model", "nau", "--epochs", "1"],
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(printed.contains("300 input features"), "{printed}");
    assert!(printed.contains("at most 256"), "{printed}");
}

#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_kept() {
    let dir = TempDir::new("outputs-same");
    let (data, model) = table_and_model(&dir);
    let before = (
        std::fs::read(&data).unwrap(),
        std::fs::read(&model).unwrap(),
    );
    let fit = fit_args(Path::new(&data), Path::new(&data), &[]);
    assert_refused(&fit, 2, &["--out", "same file as --data"]);
    for (out, flag) in [(&data, "--data"), (&model, "--model")] {
        let predict = ["predict", "--model", &model, "--data", &data, "--out", out];
        assert_refused(&predict, 2, &["--out", &format!("same file as {flag}")]);
    }
    // A hard link is the same file under another name.
    #[cfg(unix)]
    {
        let hard = dir.join("hard.csv");
        std::fs::hard_link(&data, &hard).unwrap();
        let fit = fit_args(Path::new(&data), &hard, &[]);
        assert_refused(&fit, 2, &["--out", "same file as --data"]);
    }
    let after = (
        std::fs::read(&data).unwrap(),
        std::fs::read(&model).unwrap(),
    );
    assert!(before == after, "an input changed");
}

#[test]
fn wide_networks_are_fitted_without_a_formula_instead_of_an_endless_read_out() {
    let dir = TempDir::new("outputs-wide-networks");
    let (data, _) = table_and_model(&dir);
    let wide_data = dir.join("w256.csv");
    write_wide_csv(&wide_data, 256, 8);
    let wide_data = wide_data.to_str().unwrap();
    let model = dir.join("w.st");
    let cases = [
        (
            &data[..],
            "dense",
            "1000,1000",
            "lg formulas are read out for at most 128 hidden units",
        ),
        (
            wide_data,
            "nau,nau",
            "5000",
            "a hidden layer has 5000 units",
        ),
    ];
    for (data, kind, hidden, reason) in cases {
        let extra = ["--model", kind, "--hidden", hidden, "--epochs", "1"];
        let out = logexp(&fit_args(Path::new(data), &model, &extra));
        assert!(out.status.success(), "{}", text(&out.stderr));
        let printed = text(&out.stdout);
        assert!(printed.contains(reason), "{printed}");
    }
}

/// Every file under `dir` (relative path → content), temporary files included.
fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// A results file of one quick `train` record per function, in `dir`.
fn results_of(dir: &TempDir, name: &str, functions: &[&str]) -> std::path::PathBuf {
    let mut lines = String::new();
    for f in functions {
        let out = logexp(&[
            "train",
            "--function",
            f,
            "--epochs",
            "3",
            "--n-train",
            "100",
            "--n-test",
            "20",
            "--json",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        lines += &text(&out.stdout);
    }
    let path = dir.join(name);
    std::fs::write(&path, lines).unwrap();
    path
}

/// Runs `report RESULTS --out OUT` and sends it SIGINT once its first file is staged.
#[cfg(unix)]
fn interrupt_report_while_staging(results: &Path, out: &Path) -> std::process::ExitStatus {
    // The first staged file (a ranking) comes long before the figures are drawn; written one
    // by one, it would already be in place when the signal comes.
    let staged = |d: &Path| d.exists() && names(d).iter().any(|n| is_temporary(n));
    let args = [Path::new("report"), results, Path::new("--out"), out];
    // 20 ms is ample for the old way to have put the first files in place.
    signal_once(
        &args,
        "INT",
        || staged(out) || staged(&out.join("rankings")),
        std::time::Duration::from_millis(20),
    )
}

#[cfg(unix)]
#[test]
fn an_interrupted_report_leaves_every_file_of_the_previous_report() {
    let dir = TempDir::new("outputs-report-interrupt");
    let old = results_of(&dir, "old.jsonl", &["x1*x2"]);
    let new = results_of(&dir, "new.jsonl", &["x1*x2", "x1/x2", "x1*x2*x3"]);
    let out = dir.join("report");
    let made = logexp(&[Path::new("report"), &old, Path::new("--out"), &out]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let before = tree(&out);
    assert!(
        before.contains_key("report.md") && before.len() > 5,
        "{before:?}"
    );

    let status = interrupt_report_while_staging(&new, &out);
    assert_eq!(status.code(), Some(130), "{status}");
    let after = tree(&out);
    let changed: Vec<&String> = after
        .keys()
        .filter(|name| before.get(*name) != after.get(*name))
        .collect();
    assert!(changed.is_empty(), "changed or added: {changed:?}");
    assert_eq!(after.len(), before.len());
}

#[test]
fn a_report_never_writes_over_a_results_file_it_reads() {
    let dir = TempDir::new("outputs-report-input");
    let out = dir.join("report");
    std::fs::create_dir(&out).unwrap();
    // A results file that happens to have a name the report writes, in the report's directory.
    let results = results_of(&dir, "report/report.md", &["x1*x2"]);
    let kept = std::fs::read(&results).unwrap();
    assert_refused(
        &[Path::new("report"), &results, Path::new("--out"), &out],
        2,
        &["--out", "report.md", "same file", "results file"],
    );
    assert_eq!(std::fs::read(&results).unwrap(), kept);
    // The refused report leaves the directory as it found it: no empty figures/, rankings/.
    assert_eq!(names(&out), ["report.md"]);
}

#[cfg(unix)]
#[test]
fn a_refused_or_interrupted_report_into_a_new_directory_leaves_no_directory() {
    let dir = TempDir::new("outputs-report-new-dir");
    let results = results_of(&dir, "r.jsonl", &["x1*x2", "x1/x2", "x1*x2*x3"]);
    let out = dir.join("a").join("report");
    let args = [Path::new("report"), &results, Path::new("--out"), &out];
    let status = interrupt_report_while_staging(&results, &out);
    assert_eq!(status.code(), Some(130), "{status}");
    assert!(!dir.join("a").exists(), "{:?}", tree(&dir.0));
    // Refused at its first file (a ranking that is a directory): nothing else is left.
    std::fs::create_dir_all(out.join("rankings/x1_x2.csv")).unwrap();
    assert_refused(&args, 2, &["x1_x2.csv", "a directory"]);
    assert_eq!(names(&out), ["rankings"]);
    assert_eq!(names(&out.join("rankings")), ["x1_x2.csv"]);
}

#[cfg(unix)]
#[test]
fn a_link_planted_among_a_reports_files_is_replaced_not_followed() {
    let dir = TempDir::new("outputs-report-link");
    let results = results_of(&dir, "r.jsonl", &["x1*x2"]);
    let other = results_of(&dir, "other.jsonl", &["x1/x2"]);
    let kept = std::fs::read(&other).unwrap();
    let out = dir.join("rep");
    std::fs::create_dir(&out).unwrap();
    // A report's file names are its own, not the user's: a link there must not send the
    // table into another file (before, other.jsonl's records were replaced by Table I).
    std::os::unix::fs::symlink(&other, out.join("table1.csv")).unwrap();
    std::os::unix::fs::symlink(dir.join("nowhere"), out.join("report.md")).unwrap();
    let made = logexp(&[Path::new("report"), &results, Path::new("--out"), &out]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    assert_eq!(std::fs::read(&other).unwrap(), kept);
    for name in ["table1.csv", "report.md"] {
        let meta = std::fs::symlink_metadata(out.join(name)).unwrap();
        assert!(meta.is_file(), "{name} is still a link");
    }
    assert!(!dir.join("nowhere").exists());
    // Nor may a link stand in for one of its directories: refused, the other directory kept.
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::remove_dir_all(out.join("figures")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("figures")).unwrap();
    let args = [Path::new("report"), &results, Path::new("--out"), &out];
    assert_refused(&args, 2, &["figures", "symbolic link", "remove it"]);
    assert!(names(&elsewhere).is_empty());
}

#[cfg(unix)]
#[test]
fn a_second_report_into_the_same_directory_is_refused_while_the_first_writes() {
    let dir = TempDir::new("outputs-report-lock");
    let results = results_of(&dir, "r.jsonl", &["x1*x2"]);
    let out = dir.join("report");
    std::fs::create_dir(&out).unwrap();
    // This process stands in for a report being written: it holds the directory's lock.
    let held = std::fs::File::open(&out).unwrap();
    held.lock().unwrap();
    let args = [Path::new("report"), &results, Path::new("--out"), &out];
    assert_refused(&args, 2, &["another logexp process", "report", "--out"]);
    assert!(tree(&out).is_empty());
    held.unlock().unwrap();
    let made = logexp(&args);
    assert!(made.status.success(), "{}", text(&made.stderr));
    assert!(out.join("report.md").exists());
}

#[cfg(unix)]
#[test]
fn a_report_directory_that_is_something_else_or_too_many_records_are_refused() {
    let dir = TempDir::new("outputs-report-dirs");
    let results = results_of(&dir, "r.jsonl", &["x1*x2"]);
    std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("dangling")).unwrap();
    std::fs::create_dir(dir.join("rep")).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(dir.join("rep/figures"))
        .status();
    assert!(made.unwrap().success());
    for (out, kind) in [
        ("dangling", "a symbolic link to nothing"),
        ("rep", "FIFO"),
        ("r.jsonl", "a file"),
    ] {
        let args = [
            Path::new("report"),
            &results,
            Path::new("--out"),
            &dir.join(out),
        ];
        assert_refused(&args, 2, &[kind, "give a directory"]);
    }
    assert!(!dir.join("nowhere").exists());
    // A report that its records would not fit in is refused while they are read: two records
    // of 100,000 epochs hold 1.6 MB of losses, more than 1 MiB.
    let mut record: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&results).unwrap().trim()).unwrap();
    record["epochs"] = 100_000.into();
    record["train_loss"] = vec![1.0; 100_000].into();
    let mut lines = String::new();
    for seed in 0..2 {
        record["seed"] = seed.into();
        lines += &(record.to_string() + "\n");
    }
    let long = dir.join("long.jsonl");
    std::fs::write(&long, lines).unwrap();
    let args = [
        Path::new("report"),
        &long,
        Path::new("--out"),
        &dir.join("small"),
        Path::new("--max-memory"),
        Path::new("0.001"),
    ];
    assert_refused(&args, 2, &["--max-memory", "records"]);
}

#[test]
fn a_path_with_a_line_break_cannot_forge_a_line_of_output() {
    let dir = TempDir::new("outputs-newline-path");
    let results = results_of(&dir, "r.jsonl", &["x1*x2"]);
    let out = dir.join("x\nerror: forged");
    let made = logexp(&[Path::new("report"), &results, Path::new("--out"), &out]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    assert!(out.join("report.md").exists());
    let stderr = text(&made.stderr);
    assert!(
        !stderr.lines().any(|l| l.starts_with("error: forged")),
        "{stderr}"
    );
    assert!(stderr.contains("x\\nerror: forged"), "{stderr}");
}

/// `--data -` with standard input redirected from the very file `--out` names.
#[cfg(target_os = "linux")]
#[test]
fn standard_input_redirected_from_the_output_file_is_refused_and_kept() {
    let dir = TempDir::new("outputs-stdin-is-out");
    let (data, model) = table_and_model(&dir);
    let kept = std::fs::read(&data).unwrap();
    for args in [
        vec!["predict", "--model", &model, "--data", "-", "--out", &data],
        vec!["fit", "--data", "-", "--target", "y", "--out", &data],
    ] {
        let out = std::process::Command::new(common::BIN)
            .args(&args)
            .stdin(std::fs::File::open(&data).unwrap())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("same file as --data"),
            "{}",
            text(&out.stderr)
        );
        assert_eq!(std::fs::read(&data).unwrap(), kept, "{args:?}");
    }
    // A file that happens to be called `-` is not standard input.
    std::fs::write(dir.join("-"), "x").unwrap();
    let out = std::process::Command::new(common::BIN)
        .current_dir(&dir.0)
        .args(["predict", "--model", &model, "--data", "-", "--out", "-"])
        .stdin(std::fs::File::open(&data).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}
