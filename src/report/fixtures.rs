//! Test fixtures shared by the report's unit tests: hand-made records and a time-limited
//! [`write_report`] run.

use super::{ReportSummary, write_report};
use crate::experiment::{RECORD_SCHEMA, RunRecord, RunSpec};
use crate::protocol::PAPER_FUNCTIONS;
use std::path::Path;

/// A hand-made record: `pct` None means the run diverged in epoch 2.
pub(super) fn rec(function: &str, pair: &str, seed: u64, pct: Option<f64>) -> RunRecord {
    let scale = pct.unwrap_or(1.0);
    let diverged = pct.is_none();
    let train_loss = if diverged {
        vec![1000.0]
    } else {
        vec![1000.0, 100.0 * scale, 10.0 * scale]
    };
    RunRecord {
        schema: RECORD_SCHEMA,
        spec: RunSpec {
            seed,
            epochs: 3,
            n_train: 64,
            n_test: 32,
            ..RunSpec::paper(function, pair.parse().unwrap())
        },
        n_inputs: 2,
        n_params: 0,
        train_loss,
        train_mae: pct.map(|_| 1.0),
        train_pct_err: pct.map(|_| 1.0),
        test_mae: pct.map(|p| p * 10.0),
        test_pct_err: pct,
        diverged,
        diverged_at_epoch: diverged.then_some(2),
        reinit_epochs: Vec::new(),
        solved_at_epoch: None,
        checkpoint: None,
        outputs: Vec::new(),
        sparsity_error: None,
        wall_seconds: 0.0,
        logexp_version: "test".to_string(),
    }
}

pub(super) fn fixture() -> Vec<RunRecord> {
    let mut v = Vec::new();
    let mut add = |f: &str, pair: &str, pcts: &[Option<f64>]| {
        for (seed, &p) in pcts.iter().enumerate() {
            v.push(rec(f, pair, seed as u64, p));
        }
    };
    // x1*x2: lg 10, 12, 20 -> median 12; sigmoid,relu median 9 beats it (lg rank 2).
    add("x1*x2", "lg", &[Some(12.0), Some(10.0), Some(20.0)]);
    add(
        "x1*x2",
        "relu,linear",
        &[Some(30.0), Some(25.0), Some(40.0)],
    );
    add("x1*x2", "elu,elu", &[Some(20.0), None, Some(22.0)]);
    add("x1*x2", "tanh,tanh", &[Some(5.0), Some(200.0), Some(300.0)]);
    add("x1*x2", "sigmoid,relu", &[Some(9.0), Some(8.0), Some(11.0)]);
    // x1*x2/10, two seeds: lg 8, 6 -> median 7; elu,linear and softplus,relu tie at 55
    // (name decides); relu,selu has one diverged run -> median inf, last.
    add("x1*x2/10", "lg", &[Some(8.0), Some(6.0)]);
    add("x1*x2/10", "relu,selu", &[Some(70.0), None]);
    add("x1*x2/10", "softplus,relu", &[Some(50.0), Some(60.0)]);
    add("x1*x2/10", "elu,linear", &[Some(55.0), Some(55.0)]);
    // The other paper functions, one seed each, lg first.
    for f in &PAPER_FUNCTIONS[2..] {
        add(f, "lg", &[Some(20.0)]);
        add(f, "selu,linear", &[Some(97.0)]);
    }
    // A function outside the paper, spelled with spaces.
    add("x1 + x2", "relu,relu", &[Some(1.0)]);
    v
}

pub(super) fn csv_rows(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// Runs `write_report` on another thread and fails if it takes longer than `limit`.
pub(super) fn report_within(records: Vec<RunRecord>, dir: &Path, limit_secs: u64) -> ReportSummary {
    let (tx, rx) = std::sync::mpsc::channel();
    let out = dir.to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(write_report(&records, &out));
    });
    match rx.recv_timeout(std::time::Duration::from_secs(limit_secs)) {
        Ok(result) => result.unwrap(),
        Err(_) => panic!("write_report did not finish within {limit_secs} s"),
    }
}
