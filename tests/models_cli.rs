//! Model families on the command line: every preset trains, unit models are recorded in schema
//! 2, results files written by schema-1 versions resume without rerunning anything, and the fit
//! loop's options are checked and recorded.

mod common;

use common::{TempDir, assert_refused, logexp, text};
use serde_json::Value;

const SMALL: [&str; 6] = ["--epochs", "2", "--n-train", "64", "--n-test", "16"];

fn train_json(extra: &[&str]) -> Value {
    let mut args = vec!["train", "--function", "x1*x2", "--json"];
    args.extend_from_slice(&SMALL);
    args.extend_from_slice(extra);
    common::record(&args)
}

#[test]
fn every_preset_trains_with_the_parameter_count_of_its_layers() {
    // Counted by hand for 2 inputs: NAU 2→2 is 4 weights; NMU 2→1 is 2; NAC/NAC• layers have
    // Ŵ and M̂; NALU adds a gate matrix G; iNALU has Ŵ, M̂ for both paths plus one gate per
    // output; NPU has W_re, W_im and one gate per input; RealNPU drops W_im; a product layer
    // has one exponent per input and unit; the dense lg network has 2·16+16 + 16·12+12 + 12+1.
    let cases: [(&str, &str, u64); 10] = [
        ("lg", "dense", 265),
        ("nac", "nac,nac", 8 + 4),
        ("nac-mul", "nac,nac-mul", 8 + 4),
        ("nalu", "nalu,nalu", 12 + 6),
        ("nau", "nau,nau", 4 + 2),
        ("nmu", "nau,nmu", 4 + 2),
        ("inalu", "inalu,inalu", (16 + 2) + (8 + 1)),
        ("npu", "npu,nau", (12 + 12 + 2) + 6),
        ("real-npu", "real-npu,nau", (12 + 2) + 6),
        ("product", "product,nau", 12 + 6),
    ];
    for (preset, units, params) in cases {
        let r = train_json(&["--model", preset]);
        assert_eq!(r["schema"], Value::from(2), "{preset}");
        assert_eq!(r["n_params"], Value::from(params), "{preset}");
        if units == "dense" {
            assert_eq!(r["model"], Value::from("dense"), "{preset}");
            assert_eq!(r["pair"], Value::from("symlog,symexp"), "{preset}");
        } else {
            assert_eq!(r["model"], Value::from("units"), "{preset}");
            assert_eq!(r["units"], Value::from(units), "{preset}");
            assert!(r.get("pair").is_none(), "{preset}");
        }
        assert_eq!(r["train_loss"].as_array().unwrap().len(), 2, "{preset}");
    }
}

#[test]
fn fit_options_are_recorded_only_when_used() {
    let plain = train_json(&["--model", "nmu"]);
    for field in ["optimizer", "clip", "regularizer", "fresh_data"] {
        assert!(plain.get(field).is_none(), "{field} recorded by default");
    }
    let tuned = train_json(&[
        "--model",
        "nmu",
        "--optimizer",
        "rmsprop",
        "--clip",
        "0.1",
        "--regularizer",
        "10,5,8",
        "--fresh-data",
    ]);
    assert_eq!(tuned["optimizer"], Value::from("rmsprop"));
    assert_eq!(tuned["clip"], Value::from(0.1));
    assert_eq!(tuned["regularizer"]["lambda"], Value::from(10.0));
    assert_eq!(tuned["regularizer"]["start"], Value::from(5));
    assert_eq!(tuned["regularizer"]["end"], Value::from(8));
    assert_eq!(tuned["fresh_data"], Value::from(true));
    assert_ne!(plain["train_loss"], tuned["train_loss"]);
    // The same options give the same bits: fresh rows come from the data seed.
    let again = train_json(&[
        "--model",
        "nmu",
        "--optimizer",
        "rmsprop",
        "--clip",
        "0.1",
        "--regularizer",
        "10,5,8",
        "--fresh-data",
    ]);
    assert_eq!(tuned["train_loss"], again["train_loss"]);
    assert_eq!(tuned["test_mae"], again["test_mae"]);
}

#[test]
fn fresh_rows_change_training_but_not_the_scored_sets() {
    let fixed = train_json(&["--model", "nau"]);
    let fresh = train_json(&["--model", "nau", "--fresh-data"]);
    assert_ne!(fixed["train_loss"], fresh["train_loss"]);
    assert_eq!(fixed["n_train"], fresh["n_train"]);
}

#[test]
fn bad_models_and_fit_options_are_refused_by_flag() {
    let base = ["train", "--function", "x1*x2"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        base.iter().chain(extra).copied().collect()
    };
    assert_refused(
        &with(&["--model", "nmx"]),
        2,
        &["--model", "nmx", "valid names", "nmu", "real-npu"],
    );
    assert_refused(
        &with(&["--model", "nau,nau", "--hidden", "2,3"]),
        2,
        &["--hidden", "2 unit layer"],
    );
    assert_refused(
        &with(&["--model", "nmu", "--hidden", "0"]),
        2,
        &["--hidden", "0 units"],
    );
    assert_refused(
        &with(&["--regularizer", "1,2"]),
        2,
        &["--regularizer", "LAMBDA,START,END"],
    );
    assert_refused(
        &with(&["--regularizer", "-1,0,10"]),
        2,
        &["--regularizer", "non-negative"],
    );
    assert_refused(&with(&["--clip", "-1"]), 2, &["--clip", "positive"]);
    assert_refused(&with(&["--clip", "nan"]), 2, &["--clip"]);
    assert_refused(
        &with(&["--optimizer", "sgd"]),
        2,
        &["--optimizer", "adam or rmsprop"],
    );
    assert_refused(
        &[
            "sweep",
            "--functions",
            "x1*x2",
            "--models",
            "nmu;bogus",
            "--out",
            "never-written.jsonl",
        ],
        2,
        &["--models", "model 2", "bogus"],
    );
    assert!(!std::path::Path::new("never-written.jsonl").exists());
}

#[test]
fn a_schema_one_results_file_resumes_without_rerunning_and_takes_unit_models_beside() {
    // Written by logexp at f7508ae (schema 1): x1*x2, pairs lg and relu,linear, seeds 0 and 1,
    // 2 epochs, 64 training and 16 test rows.
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/schema1-results.jsonl"
    );
    let dir = TempDir::new("schema1");
    let results = dir.join("results.jsonl");
    std::fs::copy(fixture, &results).unwrap();
    let before = std::fs::read(&results).unwrap();
    let sweep = |models: &str| {
        let mut args = vec![
            "sweep",
            "--functions",
            "x1*x2",
            "--pairs",
            "lg;relu,linear",
            "--models",
            models,
            "--seeds",
            "2",
            "--out",
        ];
        let out_path = results.to_str().unwrap();
        args.push(out_path);
        args.extend_from_slice(&SMALL);
        let out = logexp(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stderr)
    };
    let summary = sweep("dense");
    assert!(summary.contains("4 already in"), "{summary}");
    assert!(summary.contains("0 run now"), "{summary}");
    assert_eq!(
        std::fs::read(&results).unwrap(),
        before,
        "nothing rewritten"
    );

    let summary = sweep("dense;nmu");
    assert!(summary.contains("4 already in"), "{summary}");
    assert!(summary.contains("2 run now"), "{summary}");
    let after = text(&std::fs::read(&results).unwrap());
    assert!(
        after.starts_with(&text(&before)),
        "old records kept as they were"
    );
    let added: Vec<Value> = after
        .lines()
        .skip(4)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(added.len(), 2);
    for r in &added {
        assert_eq!(r["schema"], Value::from(2));
        assert_eq!(r["units"], Value::from("nau,nmu"));
    }

    let report = dir.join("report");
    let out = logexp(&[
        "report",
        results.to_str().unwrap(),
        "--out",
        report.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("report of 6 runs"));
}

#[test]
fn a_plateau_restarts_training_and_the_record_says_when() {
    // NAU → NAU is linear and cannot fit a product: its loss stalls within a few epochs, and
    // with patience 1 and no floor every stall restarts it.
    let out = logexp(&[
        "train",
        "--function",
        "x1*x2",
        "--json",
        "--n-train",
        "64",
        "--n-test",
        "16",
        "--model",
        "nau",
        "--epochs",
        "12",
        "--reinit-plateau",
        "1,0",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(r["reinit"]["patience"], Value::from(1));
    let restarts = r["reinit_epochs"].as_array().expect("restarts recorded");
    assert!(!restarts.is_empty(), "{r}");
    assert!(
        restarts
            .iter()
            .all(|e| (1..=12).contains(&e.as_u64().unwrap()))
    );
    // Without the option nothing is recorded.
    assert!(
        train_json(&["--model", "nau"])
            .get("reinit_epochs")
            .is_none()
    );
    assert_refused(
        &["train", "--function", "x1*x2", "--reinit-plateau", "0,1"],
        2,
        &["--reinit-plateau", "PATIENCE,ABOVE"],
    );
}

#[test]
fn the_loglinear_baseline_recovers_a_product_of_powers_without_training() {
    let r = train_json(&["--model", "loglinear"]);
    assert_eq!(r["model"], Value::from("loglinear"));
    // Exponents for x1 and x2, a constant and a sign.
    assert_eq!(r["n_params"], Value::from(4));
    assert_eq!(r["train_loss"].as_array().unwrap().len(), 0);
    // x1·x2 is a product of powers: exact up to f32 rounding, far outside the range too.
    assert!(r["test_pct_err"].as_f64().unwrap() < 1e-3, "{r}");
    assert_refused(
        &["train", "--function", "x1-x2", "--model", "loglinear"],
        2,
        &["--model", "loglinear", "one sign"],
    );
}

#[test]
fn nau_and_nmu_runs_record_their_sparsity_error_and_others_do_not() {
    let nmu = train_json(&["--model", "nmu"]);
    let e = nmu["sparsity_error"]
        .as_f64()
        .expect("recorded for NAU → NMU");
    // The distance of the worst weight to −1, 0 or 1 lies in [0, ½].
    assert!((0.0..=0.5).contains(&e), "{e}");
    assert!(
        train_json(&["--model", "lg"])
            .get("sparsity_error")
            .is_none()
    );
    assert!(
        train_json(&["--model", "npu"])
            .get("sparsity_error")
            .is_some()
    );
}
