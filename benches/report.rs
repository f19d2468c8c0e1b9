//! Report-building benchmark: `write_report` on 100,040 synthetic records (one function ×
//! the paper's 122 pairs × 820 seeds, five epochs of loss each), built in memory, so the
//! figure measures the report alone: grouping, statistics, tables, figures and report.md.
//!
//! Run with `cargo bench --bench report -- --sample-size 10`; BENCHMARKS.md records the
//! figure. Before the fix this took 33 s for 100,000 records (quadratic in distinct seeds).

use criterion::{Criterion, criterion_group, criterion_main};
use logexp::experiment::{Pair, RECORD_SCHEMA, RunRecord, RunSpec};
use logexp::report::write_report;
use std::hint::black_box;
use std::path::PathBuf;

const SEEDS: u64 = 820;

/// Deterministic, varied but plausible scores: a hash of (pair, seed) mapped into a range.
fn unit(pair: usize, seed: u64) -> f64 {
    let mut h = (pair as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ seed;
    h ^= h >> 31;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 29;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

fn records() -> Vec<RunRecord> {
    let mut out = Vec::new();
    for (p, pair) in Pair::paper_grid().into_iter().enumerate() {
        for seed in 0..SEEDS {
            let u = unit(p, seed);
            let pct = if p == 0 {
                5.0 + 10.0 * u
            } else {
                60.0 + 40.0 * u
            };
            out.push(RunRecord {
                schema: RECORD_SCHEMA,
                spec: RunSpec {
                    seed,
                    data_seed: seed,
                    epochs: 5,
                    ..RunSpec::paper("x1*x2", pair.clone())
                },
                n_inputs: 2,
                n_params: 265,
                train_loss: (0..5)
                    .map(|e| 1000.0 * (1.0 + u) / (e + 1) as f64)
                    .collect(),
                train_mae: Some(pct * 5.0),
                train_pct_err: Some(pct / 2.0),
                test_mae: Some(pct * 10.0),
                test_pct_err: Some(pct),
                diverged: false,
                diverged_at_epoch: None,
                reinit_epochs: Vec::new(),
                solved_at_epoch: None,
                checkpoint: None,
                outputs: Vec::new(),
                sparsity_error: None,
                wall_seconds: 0.1,
                logexp_version: "bench".to_string(),
            });
        }
    }
    out
}

/// A temporary output directory, removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn report(c: &mut Criterion) {
    let records = records();
    let dir =
        TempDir(std::env::temp_dir().join(format!("logexp-bench-report-{}", std::process::id())));
    c.bench_function(&format!("write_report/{}_records", records.len()), |b| {
        b.iter(|| write_report(black_box(&records), &dir.0).unwrap())
    });
}

criterion_group!(benches, report);
criterion_main!(benches);
