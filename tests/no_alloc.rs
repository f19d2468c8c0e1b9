//! The training step and epoch allocate nothing: every buffer is created once per run.
//!
//! A counting global allocator wraps the system allocator; the test fails if any allocation
//! happens inside the measured region. Counts are per thread, so tests running in parallel
//! (the harness's default) do not see each other's allocations.

use logexp::activation::Activation;
use logexp::data::{Dataset, Range};
use logexp::expr::Expr;
use logexp::model::spec::{Model, ModelSpec, PRESETS};
use logexp::model::{Dense, Network};
use logexp::optim::Optimizer;
use logexp::train::{Alternate, Loss, Schedule, TrainConfig, Trainer};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    // `const` initialisation: touching it never allocates, so it is safe inside the allocator.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: during thread teardown the counter may be gone; those allocations are not ours.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: defers to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by this thread while `f` runs.
fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn training_steps_and_epochs_allocate_nothing() {
    let f = Expr::parse("x1*x2*x3*x4/1000").unwrap();
    // 1000 rows: 31 full batches and a partial one, so the padded path is exercised too.
    let data = Dataset::sample(&f, 1000, Range::PAPER_TRAIN, 0, 0).unwrap();
    for pair in [
        [Activation::Symlog, Activation::Symexp],
        [Activation::Softmax, Activation::Tanh],
        [Activation::Relu, Activation::Linear],
    ] {
        for loss in [Loss::Mae, Loss::Mse] {
            let net = Dense::new(4, &[16, 12], &pair).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(0);
            let mut params = vec![0.0; net.n_params()];
            net.init_params(&mut rng, &mut params);
            let config = TrainConfig {
                loss,
                ..TrainConfig::default()
            };
            let mut trainer = Trainer::new(&net, &config, data.len());
            let batch: Vec<u32> = (0..32).collect();
            let partial: Vec<u32> = (100..113).collect();
            // Warm up (first use of run-time CPU feature detection may initialise state).
            trainer.epoch(&mut params, &data, &mut rng);

            let n = allocations_during(|| {
                for _ in 0..50 {
                    trainer.step(&mut params, &data, &batch);
                    trainer.step(&mut params, &data, &partial);
                }
                for _ in 0..3 {
                    trainer.epoch(&mut params, &data, &mut rng);
                }
            });
            assert_eq!(
                n, 0,
                "{pair:?} {loss}: {n} allocations in the training loop"
            );
        }
    }
}

/// Allocations during 100 steps (full and partial batches) and 3 epochs of `net`, after one
/// warm-up epoch.
fn allocations_training<N: Network>(net: &N, data: &Dataset, config: &TrainConfig) -> usize {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut params = vec![0.0; net.n_params()];
    net.init_params(&mut rng, &mut params);
    let mut trainer = Trainer::new(net, config, data.len());
    let batch: Vec<u32> = (0..32).collect();
    let partial: Vec<u32> = (100..113).collect();
    // Warm up (first use of run-time CPU feature detection may initialise state). The warm-up
    // epoch also passes the regulariser's start (31 + 1 steps > 20), so the measured steps
    // below run with λ rising and then at its full value.
    trainer.epoch(&mut params, data, &mut rng);
    allocations_during(|| {
        for _ in 0..50 {
            trainer.step(&mut params, data, &batch);
            trainer.step(&mut params, data, &partial);
        }
        for _ in 0..3 {
            trainer.epoch(&mut params, data, &mut rng);
        }
    })
}

/// Every preset's network, with 2, 3 and 4 inputs, trains without allocating: with the paper's
/// settings, and with every option that adds work to a step switched on (the regulariser and
/// its schedule and loss threshold, gradient clipping, RMSProp, alternating weight and gate
/// updates).
#[test]
fn every_preset_trains_without_allocating() {
    for n_inputs in 2..=4 {
        let f = Expr::parse(["x1*x2", "x1*x2*x3", "x1*x2*x3*x4/1000"][n_inputs - 2]).unwrap();
        // 1000 rows: 31 full batches and a partial one, so the padded path is exercised too.
        let data = Dataset::sample(&f, 1000, Range::PAPER_TRAIN, 0, 0).unwrap();
        let everything = TrainConfig {
            optimizer: Optimizer::Rmsprop,
            clip: Some(0.1),
            // Rises from step 20 to step 60: both the ramp and the plateau are measured.
            regularizer: Some(Schedule {
                lambda: 0.01,
                start: 20,
                end: 60,
                // Far above any loss here: the threshold is checked and the regulariser acts.
                below: Some(1e30),
            }),
            // The gate ranges and their complement are built before the steps.
            alternate: Some(Alternate {
                weights: 3,
                cycle: 5,
            }),
            ..TrainConfig::default()
        };
        for config in [TrainConfig::default(), everything] {
            for preset in PRESETS {
                let model = ModelSpec::preset(preset).unwrap().build(n_inputs).unwrap();
                let n = match &model {
                    Model::Dense(net) => allocations_training(net, &data, &config),
                    Model::Stack(net) => allocations_training(net, &data, &config),
                    // Fitted in closed form, never stepped by the trainer.
                    Model::LogLinear(_) => continue,
                };
                assert_eq!(
                    n, 0,
                    "{preset} with {n_inputs} inputs, {config:?}: {n} allocations in the training loop"
                );
            }
        }
    }
}

/// A network of several outputs (the NPU paper's four, trained jointly) trains without
/// allocating, for a unit stack and a dense network.
#[test]
fn joint_targets_train_without_allocating() {
    let outputs = logexp::expr::parse_outputs("x1+x2;x1*x2;x1/x2;(x1^2)^0.25").unwrap();
    let data = Dataset::sample_outputs(&outputs, 1000, Range::PAPER_TRAIN, 0, 0).unwrap();
    for preset in ["npu", "nmu", "lg"] {
        let model = ModelSpec::preset(preset)
            .unwrap()
            .build_with_outputs(2, 4)
            .unwrap();
        assert_eq!(model.n_outputs(), 4, "{preset}");
        let n = match &model {
            Model::Dense(net) => allocations_training(net, &data, &TrainConfig::default()),
            Model::Stack(net) => allocations_training(net, &data, &TrainConfig::default()),
            Model::LogLinear(_) => unreachable!("loglinear has one output"),
        };
        assert_eq!(n, 0, "{preset}: {n} allocations in the training loop");
    }
}

/// The counter works: without this, a broken counter would make the test above vacuous.
#[test]
fn the_counter_sees_allocations() {
    let n = allocations_during(|| {
        let v: Vec<u64> = Vec::with_capacity(10);
        std::hint::black_box(v);
    });
    assert!(n >= 1);
}
