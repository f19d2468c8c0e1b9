//! One 100-epoch paper-protocol run per model preset (issue 9's target: ≤ 0.15 s per run on
//! one thread).
//!
//! Run with `cargo bench --bench units`; BENCHMARKS.md records the figures. Each run trains the
//! preset on 10,000 rows of `x1*x2` from [10, 100) with batch 32, Adam 1e-3 and the MAE, then
//! evaluates on the 2,000 test rows — [`RunSpec::paper`] with only the model changed. Ten
//! samples per preset, so the whole bench takes a minute or two.

use criterion::{Criterion, criterion_group, criterion_main};
use logexp::experiment::{Pair, RunSpec, run};
use logexp::model::spec::{ModelSpec, PRESETS};
use std::hint::black_box;
use std::time::Duration;

fn preset_runs(c: &mut Criterion) {
    let mut group = c.benchmark_group("preset_run");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for preset in PRESETS {
        let spec = RunSpec {
            model: ModelSpec::preset(preset).unwrap(),
            ..RunSpec::paper("x1*x2", Pair::lg())
        };
        group.bench_function(preset, |b| b.iter(|| black_box(run(&spec).unwrap())));
    }
    group.finish();
}

criterion_group!(benches, preset_runs);
criterion_main!(benches);
