//! Integration tests of the `logexp train` command line: they run the built binary as a user
//! would and check its exit status, stdout and stderr.

mod common;

use common::{BIN, logexp, text};
use serde_json::{Map, Value};
use std::process::{Command, Stdio};

/// Settings that make a run take milliseconds; appended for every flag a case does not set.
const SMALL: [(&str, &str); 3] = [("--epochs", "3"), ("--n-train", "200"), ("--n-test", "50")];

/// `train ARGS`, plus the small settings of [`SMALL`] for each flag `args` does not give.
fn train_small_args<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["train"];
    all.extend_from_slice(args);
    for (flag, value) in SMALL {
        let given = args
            .iter()
            .any(|a| *a == flag || a.starts_with(&format!("{flag}=")));
        if !given {
            all.extend([flag, value]);
        }
    }
    all
}

/// Runs `logexp ARGS`, requires success, an empty stderr-free-of-panics, and exactly one JSON
/// object on stdout; returns that object.
fn json_run(args: &[&str]) -> Map<String, Value> {
    let out = logexp(args);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(
        out.status.success(),
        "logexp {args:?} failed with {:?}\nstderr: {stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert!(!stdout.contains("NaN"), "NaN text on stdout: {stdout}");
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "expected exactly one JSON line, got: {stdout}"
    );
    // Parse the whole of stdout, so trailing garbage after the object would also fail.
    match serde_json::from_str::<Value>(&stdout) {
        Ok(Value::Object(map)) => map,
        Ok(other) => panic!("stdout is JSON but not an object: {other}"),
        Err(e) => panic!("stdout is not JSON ({e}): {stdout}"),
    }
}

fn num(record: &Map<String, Value>, key: &str) -> f64 {
    record
        .get(key)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{key} is not a number: {:?}", record.get(key)))
}

fn uint(record: &Map<String, Value>, key: &str) -> u64 {
    record
        .get(key)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{key} is not an unsigned integer: {:?}", record.get(key)))
}

fn losses(record: &Map<String, Value>) -> Vec<f64> {
    let Some(Value::Array(items)) = record.get("train_loss") else {
        panic!("train_loss is not an array: {:?}", record.get("train_loss"));
    };
    items
        .iter()
        .map(|v| {
            v.as_f64()
                .unwrap_or_else(|| panic!("train_loss entry {v} is not a number"))
        })
        .collect()
}

/// The record without its wall-clock time, the one field allowed to differ between reruns.
fn without_wall_time(mut record: Map<String, Value>) -> Map<String, Value> {
    assert!(
        record.remove("wall_seconds").is_some(),
        "no wall_seconds field"
    );
    record
}

// ---------------------------------------------------------------------------------------------
// 1. The paper's headline result on the full protocol.

/// The paper's claim on its own protocol (100 epochs, 10,000 rows in [10,100), 2,000 test rows
/// in [100,1000), hidden 16,12): the log/exp pair extrapolates x1*x2/10 far better than
/// relu,linear. Both runs use seed 0 and therefore the same data. In the debug test profile each
/// run takes roughly 15-20 s; in release well under a second.
#[test]
fn lg_extrapolates_a_product_far_better_than_relu_linear_on_the_full_protocol() {
    let function = "x1*x2/10";
    let lg = std::thread::spawn(move || {
        json_run(&[
            "train",
            "--function",
            function,
            "--pair",
            "lg",
            "--seed",
            "0",
            "--json",
        ])
    });
    let relu = json_run(&[
        "train",
        "--function",
        function,
        "--pair",
        "relu,linear",
        "--seed",
        "0",
        "--json",
    ]);
    let lg = lg.join().expect("the lg run");

    for record in [&lg, &relu] {
        assert_eq!(record["diverged"], Value::Bool(false));
        assert_eq!(uint(record, "epochs"), 100);
        assert_eq!(uint(record, "n_train"), 10_000);
        assert_eq!(uint(record, "n_test"), 2_000);
        assert_eq!(uint(record, "data_seed"), 0);
        assert_eq!(losses(record).len(), 100);
    }
    let lg_err = num(&lg, "test_pct_err");
    let relu_err = num(&relu, "test_pct_err");
    assert!(lg_err < 15.0, "lg test % error {lg_err} should be < 15");
    assert!(
        relu_err > 40.0,
        "relu,linear test % error {relu_err} should be > 40"
    );
    assert!(
        lg_err * 3.0 <= relu_err,
        "lg ({lg_err}) should be at least 3x lower than relu,linear ({relu_err})"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. The JSON record.

#[test]
fn the_json_record_has_every_field_with_the_right_type_and_value() {
    let args = [
        "train",
        "--function",
        "x1*x2/10",
        "--pair",
        "relu,linear",
        "--seed",
        "3",
        "--epochs",
        "3",
        "--n-train",
        "200",
        "--n-test",
        "50",
        "--json",
    ];
    let r = json_run(&args);

    assert_eq!(uint(&r, "schema"), 2);
    assert_eq!(r["function"], Value::from("x1*x2/10"));
    assert_eq!(r["model"], Value::from("dense"));
    assert_eq!(r["pair"], Value::from("relu,linear"));
    assert_eq!(uint(&r, "seed"), 3);
    // Without --data-seed the data seed is the seed.
    assert_eq!(uint(&r, "data_seed"), 3);
    assert_eq!(uint(&r, "epochs"), 3);
    assert_eq!(r["hidden"], serde_json::json!([16, 12]));
    assert_eq!(uint(&r, "n_train"), 200);
    assert_eq!(uint(&r, "n_test"), 50);

    let loss = losses(&r);
    assert_eq!(loss.len(), 3, "one training loss per epoch");
    assert!(loss.iter().all(|l| l.is_finite() && *l >= 0.0), "{loss:?}");

    for key in ["train_mae", "test_mae", "test_pct_err"] {
        let v = num(&r, key);
        assert!(v.is_finite() && v >= 0.0, "{key} = {v}");
    }
    assert_eq!(r["diverged"], Value::Bool(false));
    assert!(
        r["diverged_at_epoch"].is_null(),
        "diverged_at_epoch of a run that did not diverge: {}",
        r["diverged_at_epoch"]
    );
    let wall = num(&r, "wall_seconds");
    assert!(wall.is_finite() && wall >= 0.0, "wall_seconds = {wall}");
}

#[test]
fn the_paper_pair_is_recorded_by_its_activations() {
    let r = json_run(&train_small_args(&["--function", "x1*x2", "--json"]));
    assert_eq!(r["pair"], Value::from("symlog,symexp"));
    assert_eq!(uint(&r, "seed"), 0);
    assert_eq!(uint(&r, "data_seed"), 0);
}

// ---------------------------------------------------------------------------------------------
// 3. Determinism and seeds.

#[test]
fn identical_invocations_give_identical_records_except_wall_time() {
    let args = train_small_args(&["--function", "x1*(x2+x3)", "--seed", "7", "--json"]);
    let a = without_wall_time(json_run(&args));
    let b = without_wall_time(json_run(&args));
    assert_eq!(a, b);
}

#[test]
fn a_different_seed_gives_a_different_training_history() {
    let a = json_run(&train_small_args(&[
        "--function",
        "x1*x2/10",
        "--seed",
        "0",
        "--json",
    ]));
    let b = json_run(&train_small_args(&[
        "--function",
        "x1*x2/10",
        "--seed",
        "1",
        "--json",
    ]));
    assert_ne!(losses(&a), losses(&b));
}

/// `--seed` fixes initialisation and shuffling, `--data-seed` the rows. With the seed held
/// fixed, changing only the data seed must change the run; giving the default data seed
/// explicitly must not; and a new seed alone must also draw new data (its default).
#[test]
fn the_data_seed_defaults_to_the_seed_and_can_be_set_on_its_own() {
    let run = |extra: &[&str]| {
        let mut args = vec!["--function", "x1*x2/10", "--json"];
        args.extend_from_slice(extra);
        json_run(&train_small_args(&args))
    };

    let seed5 = run(&["--seed", "5"]);
    let seed5_data5 = run(&["--seed", "5", "--data-seed", "5"]);
    let seed5_data0 = run(&["--seed", "5", "--data-seed", "0"]);

    assert_eq!(uint(&seed5, "data_seed"), 5);
    assert_eq!(uint(&seed5_data0, "seed"), 5);
    assert_eq!(uint(&seed5_data0, "data_seed"), 0);
    // The default data seed is the seed.
    assert_eq!(
        without_wall_time(seed5),
        without_wall_time(seed5_data5.clone())
    );
    // Same initialisation and shuffling, other rows: a different run.
    assert_ne!(losses(&seed5_data5), losses(&seed5_data0));
    assert_ne!(num(&seed5_data5, "test_mae"), num(&seed5_data0, "test_mae"));
}

// ---------------------------------------------------------------------------------------------
// 4. Bad input.

/// A usage error: exit status 2 (see [`common::assert_refused`]).
fn refused(args: &[&str], needles: &[&str]) {
    common::assert_refused(args, 2, needles);
}

/// [`refused`] for `train ARGS` with the small settings, so that a check that wrongly passes
/// costs milliseconds, not a full training run.
fn train_refused(args: &[&str], needles: &[&str]) {
    let mut args = args.to_vec();
    if !args.contains(&"--function") {
        args.extend(["--function", "x1*x2"]);
    }
    refused(&train_small_args(&args), needles);
}

#[test]
fn an_unknown_activation_is_refused_with_the_valid_names() {
    train_refused(
        &["--pair", "relu,gelu"],
        &["gelu", "hard_sigmoid", "relu", "symlog", "symexp"],
    );
    // `lg` is the pair, not one of its activations: the message says so.
    train_refused(
        &["--pair", "lg,lg"],
        &["'lg' names the whole pair", "alone"],
    );
}

#[test]
fn a_malformed_expression_is_refused_with_its_column() {
    // The missing operand is at the end of input, 1-based column 4.
    train_refused(&["--function", "x1*"], &["x1*", "column 4"]);
}

#[test]
fn zero_epochs_batch_size_or_rows_are_refused_by_name() {
    train_refused(&["--epochs", "0"], &["--epochs"]);
    train_refused(&["--batch-size", "0"], &["--batch-size"]);
    train_refused(&["--n-train", "0"], &["--n-train"]);
    train_refused(&["--n-test", "0"], &["--n-test"]);
}

#[test]
fn empty_or_reversed_ranges_are_refused() {
    train_refused(
        &["--train-range", "5,5"],
        &["--train-range", "5,5", "empty"],
    );
    train_refused(
        &["--test-range", "1000,100"],
        &["--test-range", "1000,100", "empty"],
    );
}

#[test]
fn unparsable_numbers_are_refused_by_flag() {
    train_refused(&["--epochs", "ten"], &["--epochs", "ten"]);
    train_refused(&["--lr", "abc"], &["--lr", "abc"]);
    train_refused(&["--train-range", "a,b"], &["--train-range", "a,b"]);
    train_refused(&["--hidden", "16,x"], &["--hidden", "x"]);
}

#[test]
fn non_positive_or_non_finite_learning_rates_are_refused() {
    train_refused(&["--lr=-1"], &["--lr", "positive"]);
    train_refused(&["--lr", "0"], &["--lr", "positive"]);
    train_refused(&["--lr", "nan"], &["--lr"]);
    train_refused(&["--lr", "inf"], &["--lr"]);
}

/// A negative value after a space must reach the flag's own check rather than be taken for an
/// unknown option.
#[test]
fn negative_values_with_a_space_are_refused_by_name() {
    train_refused(&["--lr", "-1"], &["--lr"]);
    train_refused(&["--epochs", "-1"], &["--epochs"]);
    train_refused(&["--seed", "-1"], &["--seed"]);
}

#[test]
fn a_target_that_is_not_finite_on_the_data_is_refused() {
    train_refused(&["--function", "x1/(x1-x1)"], &["x1/(x1-x1)", "not finite"]);
}

#[test]
fn one_activation_for_two_hidden_layers_is_refused() {
    train_refused(
        &["--pair", "relu"],
        &["pair", "1 activation", "2 hidden layer"],
    );
}

#[test]
fn a_pair_for_a_model_without_one_is_refused_not_ignored() {
    // Before, the run used the model's own activations and the pair was dropped unseen.
    train_refused(
        &["--model", "nmu", "--pair", "relu,tanh"],
        &["--pair", "nmu has its own", "--model dense"],
    );
    train_refused(&["--model", "lg", "--pair", "relu,tanh"], &["--pair", "lg"]);
    refused(
        &[
            "fit",
            "--data",
            "none.csv",
            "--target",
            "y",
            "--model",
            "loglinear",
            "--pair",
            "relu",
            "--out",
            "never.st",
        ],
        &["--pair", "loglinear"],
    );
    assert!(!std::path::Path::new("never.st").exists());
}

#[test]
fn an_empty_hidden_layer_is_refused() {
    train_refused(&["--hidden", "16,0"], &["hidden layer 2", "0 units"]);
}

#[test]
fn a_missing_function_is_refused() {
    refused(&["train", "--epochs", "1"], &["required"]);
    let out = logexp(&["train", "--epochs", "1"]);
    assert!(text(&out.stderr).contains("--function"));
}

// ---------------------------------------------------------------------------------------------
// 5. Help.

/// The help entry of `flag`: its line and any continuation lines up to the next option.
fn help_entry(help: &str, flag: &str) -> String {
    let mut entry = String::new();
    let mut inside = false;
    for line in help.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('-') {
            let name = trimmed
                .trim_start_matches("-h, ")
                .trim_start_matches("-V, ")
                .split([' ', '=', '<'])
                .next()
                .unwrap_or_default();
            inside = name == flag;
        } else if trimmed.is_empty() || !line.starts_with(' ') {
            inside = false;
        }
        if inside {
            entry.push_str(trimmed);
            entry.push(' ');
        }
    }
    assert!(!entry.is_empty(), "help does not document {flag}:\n{help}");
    entry
}

#[test]
fn train_help_documents_every_flag_and_its_default() {
    let cases: [(&str, Option<&str>); 22] = [
        ("--function", None),
        ("--recipe", Some("[default: paper]")),
        ("--lr-schedule", Some("[default: constant]")),
        ("--warmup", Some("[default: 0]")),
        ("--pair", Some("[default: lg]")),
        ("--epochs", Some("[default: 100]")),
        ("--batch-size", Some("[default: 32]")),
        ("--lr", Some("[default: 0.001]")),
        ("--hidden", Some("[default: 16,12 for dense networks")),
        ("--model", Some("[default: dense]")),
        ("--optimizer", Some("[default: adam]")),
        ("--clip", None),
        ("--regularizer", Some("LAMBDA,START,END")),
        ("--fresh-data", None),
        ("--loss", Some("[default: mae]")),
        ("--n-train", Some("[default: 10000]")),
        ("--n-test", Some("[default: 2000]")),
        ("--train-range", Some("[default: 10,100]")),
        ("--test-range", Some("[default: 100,1000]")),
        ("--seed", Some("[default: 0]")),
        ("--data-seed", Some("--seed")),
        ("--json", None),
    ];
    for args in [&["train", "--help"][..], &["help", "train"][..]] {
        let out = logexp(args);
        assert!(out.status.success(), "logexp {args:?} failed");
        assert!(out.stderr.is_empty(), "logexp {args:?} wrote to stderr");
        let help = text(&out.stdout);
        for (flag, default) in cases {
            let entry = help_entry(&help, flag);
            if let Some(default) = default {
                assert!(
                    entry.contains(default),
                    "logexp {args:?}: {flag} should show {default:?}: {entry}"
                );
            }
        }
        // The loss and pair entries list their choices.
        assert!(help_entry(&help, "--loss").contains("mse"));
        assert!(help_entry(&help, "--loss").contains("relative"));
        assert!(help_entry(&help, "--lr-schedule").contains("cosine"));
        assert!(help_entry(&help, "--pair").contains("hard_sigmoid"));
    }
}

/// The top-level help lists the subcommands (clap documents each subcommand's flags in its own
/// help, checked above).
#[test]
fn top_level_help_lists_the_commands() {
    let out = logexp(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for needle in ["train", "sweep", "Usage: logexp"] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Human output.

#[test]
fn human_output_reports_the_test_error_that_json_records() {
    let args = ["--function", "x1*x2/10", "--seed", "2"];
    let out = logexp(&train_small_args(&args));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(
        serde_json::from_str::<Value>(&stdout).is_err(),
        "human output should not be JSON: {stdout}"
    );
    let test_line = stdout
        .lines()
        .find(|l| l.starts_with("test") && l.contains("% error"))
        .unwrap_or_else(|| panic!("no test % error line in:\n{stdout}"));
    let shown: f64 = test_line
        .rsplit("% error")
        .next()
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no number after '% error' in {test_line:?}"));

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let record = json_run(&train_small_args(&json_args));
    let recorded = num(&record, "test_pct_err");
    assert!(
        (shown - recorded).abs() <= 1e-6 * recorded.abs().max(1.0),
        "human output shows {shown}, JSON records {recorded}"
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Divergence.

#[test]
fn a_diverging_run_succeeds_and_records_the_divergence_as_valid_json() {
    let r = json_run(&[
        "train",
        "--lr",
        "1000000",
        "--function",
        "x1*x2*x3*x4",
        "--epochs",
        "5",
        "--n-train",
        "500",
        "--n-test",
        "50",
        "--json",
    ]);
    assert_eq!(r["diverged"], Value::Bool(true));
    let epoch = uint(&r, "diverged_at_epoch");
    assert!((1..=5).contains(&epoch), "diverged_at_epoch = {epoch}");
    let loss = losses(&r);
    assert_eq!(
        loss.len() as u64,
        epoch - 1,
        "train_loss should hold the epochs completed before the divergence"
    );
    assert!(loss.iter().all(|l| l.is_finite()));
    for key in ["test_pct_err", "test_mae", "train_mae"] {
        assert!(r[key].is_null(), "{key} of a diverged run: {}", r[key]);
    }
}

// ---------------------------------------------------------------------------------------------
// Output to a closed pipe (e.g. `logexp train ... --json | head -c 0`).

/// `logexp train … | head -c 100` must not end in a panic when the reader closes the pipe.
#[test]
fn a_closed_stdout_does_not_cause_a_panic() {
    let mut child = Command::new(BIN)
        .args(train_small_args(&["--function", "x1*x2", "--json"]))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the logexp binary runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("logexp finishes");
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
}

// ---------------------------------------------------------------------------------------------
// Recipes (issue 10).

/// `--recipe paper` is the default and changes nothing: the record is the one without it, and
/// it writes none of the new keys.
#[test]
fn the_paper_recipe_changes_nothing() {
    let plain = train_small_args(&["--function", "x1*x2", "--json"]);
    let mut with = plain.clone();
    with.extend(["--recipe", "paper"]);
    let a = without_wall_time(json_run(&plain));
    assert_eq!(a, without_wall_time(json_run(&with)));
    for key in ["recipe", "lr_schedule", "warmup"] {
        assert!(!a.contains_key(key), "{key} written for a paper run");
    }
}

/// A recipe writes the settings it fills in as their own fields, and an explicit flag wins.
#[test]
fn a_recipe_is_recorded_as_its_settings_and_flags_override_it() {
    let r = json_run(&[
        "train",
        "--function",
        "x1*x2",
        "--recipe",
        "lg-relative-cosine",
        "--epochs",
        "2",
        "--warmup",
        "3",
        "--n-train",
        "64",
        "--n-test",
        "16",
        "--json",
    ]);
    assert_eq!(r["recipe"], "lg-relative-cosine");
    assert_eq!(r["loss"], "relative");
    assert_eq!(r["lr_schedule"], "cosine");
    assert_eq!(uint(&r, "epochs"), 2);
    assert_eq!(uint(&r, "warmup"), 3);
    assert_eq!(losses(&r).len(), 2);
    refused(
        &["train", "--function", "x1", "--recipe", "fast"],
        &["recipe", "paper"],
    );
}
