//! Training recipes on the command line: a recipe fills in what is not given and is recorded,
//! `--target-scale` trains on scaled targets but reports errors on the true ones, and the
//! recipes study refuses settings it fixes itself.

mod common;

use common::{TempDir, assert_refused};
use serde_json::Value;

fn train_json(args: &[&str]) -> Value {
    let mut all = vec!["train", "--json", "--n-train", "64", "--n-test", "16"];
    all.extend_from_slice(args);
    common::record(&all)
}

#[test]
fn lg_scaled_fills_in_its_settings_and_explicit_flags_win() {
    let r = train_json(&[
        "--function",
        "x1*x2/1000",
        "--recipe",
        "lg-scaled",
        "--epochs",
        "3",
    ]);
    assert_eq!(r["recipe"], "lg-scaled");
    assert_eq!(r["epochs"], 3, "--epochs wins over the recipe's 250");
    assert_eq!(r["batch_size"], 8);
    assert_eq!(r["loss"], "relative");
    assert_eq!(r["lr_schedule"], "cosine");
    assert_eq!(r["target_scale"], "loglinear");
    let r = train_json(&[
        "--function",
        "x1*x2",
        "--recipe",
        "lg-scaled",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--target-scale",
        "none",
    ]);
    assert_eq!(r["batch_size"], 16);
    assert!(
        r.get("target_scale").is_none(),
        "none is the default and left out"
    );
}

#[test]
fn lg_scaled_inputs_scales_inputs_and_targets_and_each_can_be_turned_off() {
    let r = train_json(&[
        "--function",
        "x1*x2",
        "--recipe",
        "lg-scaled-inputs",
        "--epochs",
        "1",
    ]);
    assert_eq!(r["recipe"], "lg-scaled-inputs");
    assert_eq!(r["input_scale"], "geometric");
    assert_eq!(r["target_scale"], "loglinear");
    assert_eq!(r["batch_size"], 8);
    let r = train_json(&[
        "--function",
        "x1*x2",
        "--recipe",
        "lg-scaled-inputs",
        "--epochs",
        "1",
        "--input-scale",
        "none",
    ]);
    assert!(r.get("input_scale").is_none(), "none is left out: {r}");
}

#[test]
fn a_paper_run_records_no_new_keys() {
    let r = train_json(&["--function", "x1*x2", "--epochs", "1"]);
    for key in [
        "recipe",
        "target_scale",
        "input_scale",
        "lr_schedule",
        "warmup",
    ] {
        assert!(r.get(key).is_none(), "{key} in a paper record: {r}");
    }
    assert_eq!(r["batch_size"], 32);
}

#[test]
fn target_scaling_reports_errors_on_the_true_targets() {
    // The same run with the scale off and on: the loss is in scaled units, the scores are not.
    // A zero-epoch-like short run keeps both far from exact, so their MAEs are comparable in size.
    let plain = train_json(&[
        "--function",
        "x1*x2/1000",
        "--epochs",
        "2",
        "--loss",
        "relative",
    ]);
    let scaled = train_json(&[
        "--function",
        "x1*x2/1000",
        "--epochs",
        "2",
        "--loss",
        "relative",
        "--target-scale",
        "loglinear",
    ]);
    let pct = scaled["test_pct_err"].as_f64().unwrap();
    let mae = scaled["test_mae"].as_f64().unwrap();
    // Test targets x1·x2/1000 with inputs in [100, 1000) average about 300: an MAE consistent
    // with the % error is of that order times pct/100, not 1000 times larger or smaller.
    let implied_mean_target = mae / (pct / 100.0);
    assert!(
        (30.0..3000.0).contains(&implied_mean_target),
        "MAE {mae} and % error {pct} imply a mean target of {implied_mean_target}"
    );
    assert!(plain["test_pct_err"].as_f64().is_some());
}

#[test]
fn bad_recipe_settings_are_refused_naming_the_flag() {
    assert_refused(
        &["train", "--function", "x1*x2", "--target-scale", "log"],
        2,
        &["--target-scale", "loglinear"],
    );
    assert_refused(
        &["train", "--function", "x1*x2", "--input-scale", "max"],
        2,
        &["--input-scale", "geometric"],
    );
    assert_refused(
        &[
            "train",
            "--function",
            "x1*x2",
            "--epochs",
            "5",
            "--average-last",
            "6",
        ],
        2,
        &["--average-last", "at most --epochs (5)"],
    );
    assert_refused(
        &["train", "--function", "x1*x2", "--recipe", "fast"],
        2,
        &["--recipe", "lg-scaled"],
    );
    let dir = TempDir::new("recipes-refused");
    let out = dir.0.join("r");
    let out = out.to_str().unwrap();
    assert_refused(
        &["reproduce", "recipes", "--epochs", "5", "--out", out],
        2,
        &["--epochs"],
    );
    assert_refused(
        &["reproduce", "npu", "--recipe", "lg-scaled", "--out", out],
        2,
        &["--recipe", "paper and peers"],
    );
    // The peers' own protocols fix their epochs too: an ignored --epochs would mislead.
    for target in ["npu", "inalu", "stable-nalu"] {
        assert_refused(
            &["reproduce", target, "--epochs", "5", "--out", out],
            2,
            &["--epochs", "paper and peers"],
        );
    }
    assert!(!dir.0.join("r").join("results.jsonl").exists());
}
