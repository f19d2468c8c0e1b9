//! Functions of several outputs (`f1;f2`, trained jointly) on the command line: the record
//! scores each output and the whole, sweeps and reports take them, and what cannot apply to
//! several outputs is refused with the flag named.

mod common;

use common::{TempDir, assert_refused, logexp, text};
use serde_json::Value;

const SHORT: [&str; 6] = ["--n-train", "400", "--n-test", "100", "--epochs", "5"];

fn mae(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn a_joint_record_scores_each_output_and_their_mean() {
    for model in ["nmu", "dense"] {
        let args = [
            &[
                "train",
                "--json",
                "--function",
                "x1 + x2; x1*x2 ;x1/x2",
                "--model",
                model,
            ][..],
            &SHORT,
        ]
        .concat();
        let record = common::record(&args);
        assert_eq!(record["function"], "x1+x2;x1*x2;x1/x2", "{model}");
        let outputs = record["outputs"].as_array().expect("per-output scores");
        let functions: Vec<&str> = outputs
            .iter()
            .map(|o| o["function"].as_str().unwrap())
            .collect();
        assert_eq!(functions, ["x1+x2", "x1*x2", "x1/x2"], "{model}");
        // Every output has as many test rows, so the whole MAE is the mean of the outputs'.
        let mean = outputs.iter().map(|o| mae(&o["test_mae"])).sum::<f64>() / 3.0;
        let whole = mae(&record["test_mae"]);
        assert!(
            (whole - mean).abs() <= 1e-9 * whole,
            "{model}: {whole} vs {mean}"
        );
        // The outputs are different functions, so their errors differ.
        assert_ne!(outputs[0]["test_mae"], outputs[1]["test_mae"], "{model}");
    }
    // The summary gives each output's scores on a line of its own.
    let summary = text(
        &logexp(
            &[
                &["train", "--function", "x1+x2;x1*x2", "--model", "nmu"][..],
                &SHORT,
            ]
            .concat(),
        )
        .stdout,
    );
    assert!(
        summary.contains("\noutput 1 x1+x2: train MAE "),
        "{summary}"
    );
    assert!(
        summary.contains("\noutput 2 x1*x2: train MAE "),
        "{summary}"
    );
    let single =
        common::record(&[&["train", "--json", "--function", "x1*x2"][..], &SHORT].concat());
    assert!(single.get("outputs").is_none(), "{single}");
}

#[test]
fn several_outputs_refuse_what_fits_one() {
    assert_refused(
        &["train", "--function", "x1;;x2"],
        2,
        &["--function", "column 4", "output 2 is empty"],
    );
    assert_refused(
        &["train", "--function", "x1+x2;x1*x2", "--model", "loglinear"],
        2,
        &["--model", "loglinear fits one output", "2"],
    );
    assert_refused(
        &[
            "train",
            "--function",
            "x1+x2;x1*x2",
            "--target-scale",
            "loglinear",
        ],
        2,
        &["--target-scale", "several outputs"],
    );
    assert_refused(
        &[
            "train",
            "--function",
            "x1+x2;x1*x2",
            "--recipe",
            "lg-scaled",
        ],
        2,
        &["--target-scale", "recipe"],
    );
    let many = vec!["x1"; 65].join(";");
    assert_refused(
        &["train", "--function", &many],
        2,
        &["--function", "at most 64"],
    );
}

#[test]
fn a_report_reads_joint_records_and_a_sweep_list_keeps_refusing_semicolons() {
    let dir = TempDir::new("outputs");
    let results = dir.join("r.jsonl");
    let mut lines = String::new();
    for (function, model) in [
        ("x1+x2;x1*x2", "nmu"),
        ("x1+x2;x1*x2", "lg"),
        ("x1*x2", "nmu"),
    ] {
        let out = logexp(
            &[
                &["train", "--json", "--function", function, "--model", model][..],
                &SHORT,
            ]
            .concat(),
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        lines.push_str(&text(&out.stdout));
    }
    std::fs::write(&results, lines).unwrap();
    let report = dir.join("report");
    let out = logexp(&[
        "report",
        results.to_str().unwrap(),
        "--out",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains("x1+x2;x1"), "{md}");
    // The protocol section describes these runs, not the paper's single-output dense net.
    assert!(md.contains("several at once"), "{md}");
    assert!(!md.contains("Each run trains a dense network"), "{md}");
    // In a sweep's list, ';' is still a mistaken separator, not a silent joint target.
    assert_refused(
        &[
            "sweep",
            "--functions",
            "x1*x2;x1+x2",
            "--out",
            "unused.jsonl",
        ],
        2,
        &[
            "--functions",
            "separate functions with ','",
            "train --function",
        ],
    );
}
