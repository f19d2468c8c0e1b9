//! Training-speed benchmarks: one step, its parts, a full run, and evaluation.
//!
//! Run with `cargo bench --bench training`; BENCHMARKS.md records the figures. Data, networks
//! and parameters are built once, outside the timed closures, from fixed seeds.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use logexp::activation::Activation::{self, *};
use logexp::data::{Dataset, Range};
use logexp::experiment::{Pair, RunSpec, run};
use logexp::expr::Expr;
use logexp::metrics::predict;
use logexp::model::{Dense, DenseWorkspace, Network, padded};
use logexp::optim::Adam;
use logexp::train::{TrainConfig, Trainer};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

const PAIRS: [(Activation, Activation); 5] = [
    (Symlog, Symexp),
    (Relu, Linear),
    (Tanh, Tanh),
    (Softplus, Selu),
    (Softmax, Swish),
];

fn function(n_inputs: usize) -> &'static str {
    if n_inputs == 2 {
        "x1*x2/10"
    } else {
        "x1*x2*x3*x4/1000"
    }
}

struct Setup {
    net: Dense,
    params: Vec<f32>,
    data: Dataset,
}

fn setup(n_inputs: usize, pair: (Activation, Activation)) -> Setup {
    let f = Expr::parse(function(n_inputs)).unwrap();
    let data = Dataset::sample(&f, 10_000, Range::PAPER_TRAIN, 0, 0).unwrap();
    let net = Dense::new(n_inputs, &[16, 12], &[pair.0, pair.1]).unwrap();
    let mut params = vec![0.0; net.n_params()];
    net.init_params(&mut ChaCha8Rng::seed_from_u64(0), &mut params);
    Setup { net, params, data }
}

/// One Adam step on a batch of 32 (gather, forward, loss, backward, update), as in training.
fn step(c: &mut Criterion) {
    let mut group = c.benchmark_group("step");
    for n_inputs in [2, 4] {
        for pair in PAIRS {
            let Setup {
                net,
                mut params,
                data,
            } = setup(n_inputs, pair);
            let mut trainer = Trainer::new(&net, &TrainConfig::default(), data.len());
            let batches: Vec<Vec<u32>> = (0..300u32)
                .map(|b| (0..32).map(|i| (b * 32 + i) % 10_000).collect())
                .collect();
            let mut k = 0;
            let id = BenchmarkId::new(
                format!("{},{}", pair.0, pair.1),
                format!("{n_inputs} inputs"),
            );
            group.bench_function(id, |b| {
                b.iter(|| {
                    k = (k + 1) % batches.len();
                    black_box(trainer.step(&mut params, &data, &batches[k]))
                })
            });
        }
    }
    group.finish();
}

// The parts of a step, compiled for AVX2 like the training loop (which selects AVX2 at run
// time). The bodies are `#[inline(always)]` in the library, so they are compiled here.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn forward_avx2(net: &Dense, p: &[f32], x: &[f32], ws: &mut DenseWorkspace, out: &mut [f32]) {
    net.forward(p, x, 32, ws, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn backward_avx2(
    net: &Dense,
    p: &[f32],
    x: &[f32],
    ws: &mut DenseWorkspace,
    d_out: &[f32],
    grad: &mut [f32],
) {
    net.backward(p, x, 32, ws, d_out, grad)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn adam_avx2(adam: &mut Adam, p: &mut [f32], grad: &[f32]) {
    adam.step(p, grad)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn activation_avx2(act: Activation, z: &[f32], a: &mut [f32]) {
    act.forward_layer(z, a, 16, 32)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn activation_backward_avx2(act: Activation, z: &[f32], a: &[f32], d: &[f32], dz: &mut [f32]) {
    act.backward_layer(z, a, d, dz, 16, 32)
}

/// The parts of a step for lg with 4 inputs: gather, forward, backward, Adam, and the
/// activation layers alone (16 units × 32 rows).
#[cfg(target_arch = "x86_64")]
fn parts(c: &mut Criterion) {
    assert!(
        is_x86_feature_detected!("avx2"),
        "these benchmarks assume AVX2"
    );
    let mut group = c.benchmark_group("step_parts");
    let Setup {
        net,
        mut params,
        data,
    } = setup(4, (Symlog, Symexp));
    let indices: Vec<u32> = (0..32).collect();
    let mut x = vec![0.0; padded(32) * 4];
    let mut y = vec![0.0; 32];
    data.gather(&indices, &mut x, &mut y);
    let mut ws = net.workspace(32);
    let mut out = vec![0.0; 32];
    let d_out: Vec<f32> = (0..32)
        .map(|i| if i % 2 == 0 { 1.0 / 32.0 } else { -1.0 / 32.0 })
        .collect();
    let mut grad = vec![0.0; net.n_params()];
    group.bench_function("gather", |b| {
        b.iter(|| data.gather(black_box(&indices), &mut x, &mut y))
    });
    // SAFETY (all calls below): AVX2 is present, asserted above.
    group.bench_function("forward", |b| {
        b.iter(|| unsafe { forward_avx2(&net, black_box(&params), &x, &mut ws, &mut out) })
    });
    unsafe { forward_avx2(&net, &params, &x, &mut ws, &mut out) };
    group.bench_function("backward", |b| {
        b.iter(|| unsafe {
            backward_avx2(&net, black_box(&params), &x, &mut ws, &d_out, &mut grad)
        })
    });
    let mut adam = Adam::new(net.n_params());
    group.bench_function("adam", |b| {
        b.iter(|| unsafe { adam_avx2(&mut adam, &mut params, black_box(&grad)) })
    });
    let z: Vec<f32> = (0..16 * 32)
        .map(|i| (i as f32 * 0.37).sin() * 5.0)
        .collect();
    let d: Vec<f32> = (0..16 * 32).map(|i| (i as f32 * 0.11).cos()).collect();
    let mut a = vec![0.0; 16 * 32];
    let mut dz = vec![0.0; 16 * 32];
    for act in [Symlog, Symexp, Relu, Tanh, Softplus, Softmax] {
        group.bench_function(format!("{act}_forward_16x32"), |b| {
            b.iter(|| unsafe { activation_avx2(act, black_box(&z), &mut a) })
        });
        unsafe { activation_avx2(act, &z, &mut a) };
        group.bench_function(format!("{act}_backward_16x32"), |b| {
            b.iter(|| unsafe { activation_backward_avx2(act, black_box(&z), &a, &d, &mut dz) })
        });
    }
    group.finish();
}

#[cfg(not(target_arch = "x86_64"))]
fn parts(_: &mut Criterion) {}

/// A whole run of the paper's protocol (10,000 rows, 100 epochs, evaluation included).
fn full_run(c: &mut Criterion) {
    let mut group = c.benchmark_group("run");
    group.sample_size(10);
    for (f, pair) in [
        ("x1*x2*x3*x4/1000", "lg"),
        ("x1*x2/10", "lg"),
        ("x1*x2*x3*x4/1000", "relu,linear"),
    ] {
        let spec = RunSpec::paper(f, pair.parse::<Pair>().unwrap());
        group.bench_function(format!("{pair} {f}"), |b| {
            b.iter(|| black_box(run(&spec).unwrap()))
        });
    }
    group.finish();
}

/// Predicting the 2,000 test rows.
fn evaluation(c: &mut Criterion) {
    let Setup { net, params, .. } = setup(4, (Symlog, Symexp));
    let f = Expr::parse(function(4)).unwrap();
    let test = Dataset::sample(&f, 2_000, Range::PAPER_TEST, 0, 1).unwrap();
    c.bench_function("evaluate 2000 rows", |b| {
        b.iter(|| black_box(predict(&net, &params, &test)))
    });
}

criterion_group!(benches, step, parts, full_run, evaluation);
criterion_main!(benches);
