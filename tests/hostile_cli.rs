//! Hostile and careless input to `train` and `sweep` flags (issue 8, families 2, 4, 5 and 6):
//! every one gets a clear refusal naming the flag, never a panic, an abort or an unbounded
//! allocation; messages and progress can never kill the work; and the flags that define a run
//! reach its record.

mod common;

use common::{BIN, TempDir, assert_refused, logexp, text};
use proptest::prelude::*;
use serde_json::Value;
use std::process::{Command, Stdio};

/// A run that takes a few milliseconds.
const SMALL: [&str; 6] = ["--epochs", "1", "--n-train", "200", "--n-test", "50"];

/// `train` with `args`, the [`SMALL`] protocol filling in whatever `args` leave out.
fn train_args<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["train"];
    all.extend_from_slice(args);
    for pair in SMALL.chunks(2) {
        let given = args
            .iter()
            .any(|a| *a == pair[0] || a.starts_with(&format!("{}=", pair[0])));
        if !given {
            all.extend(pair);
        }
    }
    all
}

#[test]
fn sizes_that_overflow_or_exceed_memory_are_refused_before_allocating() {
    let cases: [(&[&str], &[&str]); 8] = [
        (
            &["--function", "x1", "--hidden", "18446744073709551615,2"],
            &["--hidden", "parameters"],
        ),
        (
            &["--function", "x1", "--hidden", "1000000,1000000"],
            &["--hidden", "memory", "--max-memory"],
        ),
        (
            &["--function", "x1", "--n-test", "18446744073709551615"],
            &["--n-test", "memory"],
        ),
        (
            &["--function", "x1*x2", "--n-train", "4294967295"],
            &["--n-train", "memory"],
        ),
        (
            &["--function", "x1", "--epochs", "18446744073709551615"],
            &["--epochs", "1000000"],
        ),
        (
            &["--function", "x1", "--max-memory", "0"],
            &["--max-memory"],
        ),
        (
            // Below a MiB: the refusal must blame the limit, not the run's size.
            &["--function", "x1", "--max-memory", "1e-12"],
            &["--max-memory", "1 MiB"],
        ),
        (
            &[
                "--function",
                "x1",
                "--n-train",
                "100000",
                "--max-memory",
                "0.001",
            ],
            &["--n-train", "limit"],
        ),
    ];
    for (args, needles) in cases {
        assert_refused(&train_args(args), 2, needles);
    }
}

/// A limit raised beyond the machine does not let a run abort on allocation: it is refused
/// as a run failure (exit 1) naming the machine's memory. 18 TiB is beyond any machine here.
#[cfg(target_os = "linux")]
#[test]
fn a_run_or_fit_beyond_the_machines_memory_is_refused_whatever_the_limit() {
    let too_big = ["--hidden", "1000000,1000000", "--max-memory", "1048576"];
    let mut args = vec!["--function", "x1*x2"];
    args.extend(too_big);
    assert_refused(&train_args(&args), 1, &["this machine has", "memory"]);
    let dir = TempDir::new("hostile-machine-memory");
    let data = dir.join("d.csv");
    std::fs::write(&data, "a,b,y\n1,2,2\n2,3,6\n3,5,15\n").unwrap();
    let model = dir.join("m.st");
    let mut extra = vec!["--model", "dense"];
    extra.extend(too_big);
    let args = common::fit_args(&data, &model, &extra);
    assert_refused(&args, 1, &["fitting", "this machine has"]);
    assert!(!model.exists());
}

#[test]
fn ranges_that_f32_cannot_represent_are_refused_by_flag() {
    for range in [
        "-1e-45,-1e-50",
        "1e39,1e40",
        "1.00000001,1.00000002",
        "-1e39,0",
    ] {
        let flag = format!("--train-range={range}");
        assert_refused(
            &train_args(&["--function", "x1", &flag]),
            2,
            &["--train-range"],
        );
        let flag = format!("--test-range={range}");
        assert_refused(
            &train_args(&["--function", "x1", &flag]),
            2,
            &["--test-range"],
        );
    }
}

#[test]
fn learning_rates_too_small_for_f32_are_refused() {
    for lr in ["1e-45", "1e-40", "1e39"] {
        assert_refused(&train_args(&["--function", "x1", "--lr", lr]), 2, &["--lr"]);
    }
}

#[test]
fn values_starting_with_a_minus_reach_their_parser() {
    // A negated target is a valid function, not an unknown flag.
    let out = logexp(&train_args(&["--function", "-x1*x2", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let record: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(record["function"], "-x1*x2");
    assert_refused(
        &train_args(&["--function", "x1", "--hidden", "-1,12"]),
        2,
        &["--hidden", "-1"],
    );
    let dir = TempDir::new("hyphen");
    let out = dir.0.join("r.jsonl");
    let out = out.to_str().unwrap();
    assert_refused(
        &[
            "sweep",
            "--functions",
            "x1",
            "--pairs",
            "lg",
            "--shard",
            "-1/2",
            "--out",
            out,
        ],
        2,
        &["--shard", "-1/2"],
    );
}

#[test]
fn errors_name_the_flag_of_a_wrong_pair_or_a_non_finite_target() {
    assert_refused(
        &train_args(&["--function", "x1", "--pair", "relu"]),
        2,
        &["--pair", "one activation per hidden layer"],
    );
    assert_refused(
        &train_args(&["--function", "x1/(x1-x1)"]),
        2,
        &["--train-range", "--function", "x1/(x1-x1)", "not finite"],
    );
    // In a sweep the pair came from --pairs.
    let dir = TempDir::new("pairs");
    let out = dir.0.join("r.jsonl");
    assert_refused(
        &[
            "sweep",
            "--functions",
            "x1",
            "--pairs",
            "lg;relu",
            "--out",
            out.to_str().unwrap(),
        ],
        2,
        &["--pairs", "'relu'", "one activation per hidden layer"],
    );
    assert!(!out.exists());
    // Finite on the training range, infinite on the test range.
    assert_refused(
        &train_args(&["--function", "x1^150", "--test-range", "1e3,1e4"]),
        2,
        &["--test-range", "not finite"],
    );
}

#[test]
fn too_many_or_unstartable_threads_are_errors_not_panics() {
    let dir = TempDir::new("threads");
    let out = dir.0.join("r.jsonl");
    let out = out.to_str().unwrap();
    let sweep = |threads: &str| {
        vec![
            "sweep".to_string(),
            "--functions".into(),
            "x1".into(),
            "--pairs".into(),
            "lg".into(),
            "--threads".into(),
            threads.into(),
            "--out".into(),
            out.into(),
        ]
    };
    assert_refused(&sweep("5000"), 2, &["--threads", "at most 1024"]);
    // Under a small address-space limit the operating system refuses the threads' stacks: the
    // sweep must say so and exit 1.
    let script = format!(
        "ulimit -v 300000 && exec {BIN} {} --epochs 1 --n-train 200 --n-test 50",
        sweep("1000").join(" ")
    );
    let run = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = text(&run.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(run.status.code(), Some(101), "{stderr}");
    if !run.status.success() {
        assert_eq!(run.status.code(), Some(1), "{stderr}");
        assert!(stderr.starts_with("error:"), "{stderr}");
    }
}

/// Runs the binary with stderr connected to a pipe whose reading end is already closed, so
/// every write to stderr fails with a broken pipe.
fn with_closed_stderr(args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(writer)
        .output()
        .unwrap()
}

#[test]
fn a_closed_or_full_stderr_never_kills_the_work() {
    // An error with nowhere to go still exits 2, not 101.
    let out = with_closed_stderr(&train_args(&["--function", "x1*"]));
    assert_eq!(out.status.code(), Some(2));
    // A sweep whose progress and summary lines cannot be written still writes every record.
    let dir = TempDir::new("stderr");
    let results = dir.0.join("r.jsonl");
    let sweep = [
        "sweep",
        "--functions",
        "x1*x2,x1+x2",
        "--pairs",
        "lg;relu,linear",
        "--epochs",
        "1",
        "--n-train",
        "200",
        "--n-test",
        "50",
        "--out",
        results.to_str().unwrap(),
    ];
    let out = with_closed_stderr(&sweep);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&results).unwrap().lines().count(),
        4
    );
    // /dev/full: every write fails with "no space left".
    let _ = std::fs::remove_file(&results);
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full");
    if let Ok(full) = full {
        let out = Command::new(BIN)
            .args(sweep)
            .stdin(Stdio::null())
            .stderr(full)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(
            std::fs::read_to_string(&results).unwrap().lines().count(),
            4
        );
    }
}

#[test]
fn control_characters_never_reach_the_terminal_raw() {
    let out = logexp(&train_args(&["--function", "x1\u{1b}[31m*\u{7}"]));
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("error:"), "{stderr}");
    assert!(
        !stderr.chars().any(|c| c.is_control() && c != '\n'),
        "raw control character in {stderr:?}"
    );
}

#[test]
fn every_protocol_flag_reaches_the_record() {
    let out = logexp(&[
        "train",
        "--function",
        "x1*x2",
        "--pair",
        "relu,tanh,linear",
        "--hidden",
        "5,4,3",
        "--loss",
        "mse",
        "--lr",
        "0.0025",
        "--batch-size",
        "7",
        "--epochs",
        "2",
        "--n-train",
        "30",
        "--n-test",
        "11",
        "--train-range=-3,2.5",
        "--test-range=4,9",
        "--seed",
        "5",
        "--data-seed",
        "6",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let r: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(r["pair"], "relu,tanh,linear");
    assert_eq!(r["hidden"], serde_json::json!([5, 4, 3]));
    assert_eq!(r["loss"], "mse");
    assert_eq!(r["lr"], 0.0025);
    assert_eq!(r["batch_size"], 7);
    assert_eq!(r["epochs"], 2);
    assert_eq!(r["train_loss"].as_array().unwrap().len(), 2);
    assert_eq!(r["n_train"], 30);
    assert_eq!(r["n_test"], 11);
    assert_eq!(r["train_range"], serde_json::json!([-3.0, 2.5]));
    assert_eq!(r["test_range"], serde_json::json!([4.0, 9.0]));
    assert_eq!(r["seed"], 5);
    assert_eq!(r["data_seed"], 6);
    // 2 inputs → 5 → 4 → 3 → 1: (2·5+5) + (5·4+4) + (4·3+3) + (3+1).
    assert_eq!(r["n_params"], 15 + 24 + 15 + 4);
}

/// Near-miss spellings of every flag value, combined at random: whatever the combination, the
/// binary exits 0, 1 or 2 with no panic (bounded: small runs, a fixed number of cases).
#[test]
fn random_flag_combinations_never_panic() {
    const VALUES: [(&str, &[&str]); 9] = [
        (
            "--function",
            &[
                "x1",
                "x1*",
                "-x1",
                "x1 2",
                "x0",
                "",
                "x99999999999999999999",
                "((x1))",
            ],
        ),
        (
            "--pair",
            &[
                "lg",
                "relu",
                "relu,",
                ",",
                "LG",
                "relu,gelu",
                "-",
                "symlog,symexp,relu",
            ],
        ),
        (
            "--hidden",
            &[
                "16,12",
                "0",
                "-1",
                "",
                ",",
                "3",
                "1,1,1",
                "99999999999999999999",
            ],
        ),
        (
            "--lr",
            &["1e-3", "0", "-0", "nan", "inf", "1e-310", "1e400", "0x10"],
        ),
        (
            "--batch-size",
            &["32", "0", "1", "18446744073709551615", "-3", "1.5"],
        ),
        ("--epochs", &["1", "0", "1000001", "-1", "1e3"]),
        (
            "--train-range",
            &[
                "10,100", "1,1", "5,1", "nan,1", ",", "1", "-5,-1", "0,1e-40",
            ],
        ),
        (
            "--test-range",
            &["100,1000", "1e38,3e38", "-3e38,3e38", "1,1.0000001"],
        ),
        ("--loss", &["mae", "MSE", "l1", "", "mae "]),
    ];
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n as u64) as usize
    };
    for _ in 0..40 {
        let mut args: Vec<String> = vec!["train".into()];
        for (flag, values) in VALUES {
            if next(3) > 0 {
                args.push(format!("{flag}={}", values[next(values.len())]));
            }
        }
        if !args.iter().any(|a| a.starts_with("--function")) {
            args.push("--function=x1".into());
        }
        args.extend(["--n-train=64", "--n-test=16"].map(String::from));
        if !args.iter().any(|a| a.starts_with("--epochs")) {
            args.push("--epochs=1".into());
        }
        let out = logexp(&args);
        let stderr = text(&out.stderr);
        assert!(
            matches!(out.status.code(), Some(0..=2)),
            "{args:?} exited {:?}: {stderr}",
            out.status
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any text given as a range, pair, loss or shard parses or is refused; nothing panics, and
    /// every range that parses can be sampled in f32.
    #[test]
    fn flag_value_parsers_never_panic(s in ".{0,40}") {
        if let Ok(range) = s.parse::<logexp::data::Range>() {
            prop_assert!(range.low < range.high);
            prop_assert!((range.low as f32).is_finite() && (range.high as f32).is_finite());
        }
        let _ = s.parse::<logexp::experiment::Pair>();
        let _ = s.parse::<logexp::train::Loss>();
        if let Ok(shard) = s.parse::<logexp::sweep::Shard>() {
            prop_assert!(shard.index >= 1 && shard.index <= shard.count);
        }
    }

    /// Ranges built from arbitrary numbers: either refused, or every sampled input lies in
    /// `[low, high)` as the record claims.
    #[test]
    fn accepted_ranges_keep_their_inputs_inside(
        low in prop_oneof![any::<f64>(), -1e3f64..1e3, -1e-37f64..1e-37],
        width in prop_oneof![any::<f64>(), 0f64..1e-6, 0f64..1e3],
    ) {
        let high = low + width;
        if let Ok(range) = logexp::data::Range::new(low, high) {
            let expr = logexp::expr::Expr::parse("x1").unwrap();
            let data = logexp::data::Dataset::sample(&expr, 64, range, 1, 0).unwrap();
            for &x in data.records() {
                prop_assert!(f64::from(x) >= low && f64::from(x) < high, "{x} outside [{low}, {high})");
            }
        }
    }
}

#[test]
fn an_output_directory_that_is_a_file_is_refused_by_flag() {
    let dir = TempDir::new("outdir");
    let file = dir.0.join("taken");
    std::fs::write(&file, "keep me\n").unwrap();
    let file_arg = file.to_str().unwrap();
    assert_refused(
        &["reproduce", "--quick", "--epochs", "1", "--out", file_arg],
        2,
        &["--out", "it is a file", "give a directory"],
    );
    assert_refused(
        &["report", file_arg, "--out", file_arg],
        2,
        &["--out", "it is a file", "give a directory"],
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me\n");
}
