//! iNALU's training tricks on the command line: `--alternate WEIGHTS,CYCLE` and the loss
//! threshold of `--regularizer LAMBDA,START,END,BELOW` are checked, recorded, and change
//! training only when given.

mod common;

use common::{TempDir, assert_refused, logexp, text};
use serde_json::Value;

/// One iNALU on x1*x2 over their minimal task's ranges, 2 epochs of 640 rows.
const INALU: [&str; 18] = [
    "--function",
    "x1*x2",
    "--model",
    "units:inalu",
    "--n-train",
    "640",
    "--n-test",
    "200",
    "--batch-size",
    "64",
    "--epochs",
    "2",
    "--train-range=-1,1",
    "--test-range=-10,-5",
    "--optimizer",
    "rmsprop",
    "--lr",
    "0.01",
];

fn train_json(extra: &[&str]) -> Value {
    let mut args = vec!["train", "--json"];
    args.extend_from_slice(&INALU);
    args.extend_from_slice(extra);
    common::record(&args)
}

#[test]
fn the_options_are_recorded_and_change_training_only_when_given() {
    let plain = train_json(&[]);
    assert!(plain.get("alternate").is_none(), "{plain}");
    let tricks = train_json(&["--alternate", "8,10", "--regularizer", "0.05,5,5,1"]);
    assert_eq!(
        tricks["alternate"],
        serde_json::json!({"weights": 8, "cycle": 10})
    );
    assert_eq!(
        tricks["regularizer"],
        serde_json::json!({"lambda": 0.05, "start": 5, "end": 5, "below": 1.0})
    );
    let losses = |r: &Value| r["train_loss"].as_array().unwrap().clone();
    assert_ne!(losses(&plain), losses(&tricks));
    assert!(
        losses(&tricks)
            .iter()
            .all(|l| l.as_f64().unwrap().is_finite()),
        "{tricks}"
    );
    // Without BELOW the regulariser writes its three keys as before.
    let ungated = train_json(&["--regularizer", "0.05,5,5"]);
    assert_eq!(
        ungated["regularizer"],
        serde_json::json!({"lambda": 0.05, "start": 5, "end": 5})
    );
}

#[test]
fn a_sweep_records_the_options_in_every_run() {
    let dir = TempDir::new("alternate-sweep");
    let out = dir.join("runs.jsonl");
    let args = [
        "sweep",
        "--functions",
        "x1*x2",
        "--models",
        "units:inalu;units:nalu",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--n-train",
        "320",
        "--n-test",
        "100",
        "--threads",
        "1",
        "--alternate",
        "4,5",
        "--out",
        out.to_str().unwrap(),
    ];
    let run = logexp(&args);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let body = std::fs::read_to_string(&out).unwrap();
    let records: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(
            r["alternate"],
            serde_json::json!({"weights": 4, "cycle": 5})
        );
    }
}

#[test]
fn bad_values_are_refused_naming_the_flag() {
    let train = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = ["train"].iter().map(|s| s.to_string()).collect();
        args.extend(INALU.iter().map(|s| s.to_string()));
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    for bad in [
        "8", "8,10,12", "a,10", "10,10", "0,10", "11,10", "8,-10", "",
    ] {
        assert_refused(&train(&["--alternate", bad]), 2, &["--alternate"]);
    }
    // A model without gates cannot alternate.
    assert_refused(
        &[
            "train",
            "--function",
            "x1*x2",
            "--epochs",
            "1",
            "--alternate",
            "8,10",
        ],
        2,
        &["--alternate", "no gates"],
    );
    for bad in [
        "0.05,5,5,0",
        "0.05,5,5,-1",
        "0.05,5,5,nan",
        "0.05,5,5,x",
        "1,2,3,4,5",
    ] {
        assert_refused(&train(&["--regularizer", bad]), 2, &["--regularizer"]);
    }
}
