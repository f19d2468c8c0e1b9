//! `--unit-init` on the command line: recorded only when given, refused for models without
//! unit layers, and it changes the initial weights of NALU layers.

mod common;

use common::assert_refused;

const NALU: [&str; 10] = [
    "--function",
    "x1*x2",
    "--model",
    "units:nalu",
    "--epochs",
    "2",
    "--n-train",
    "200",
    "--n-test",
    "50",
];

#[test]
fn the_init_is_recorded_and_changes_the_run() {
    let own = common::record(&[&["train", "--json"][..], &NALU].concat());
    assert!(own.get("init").is_none());
    let explicit =
        common::record(&[&["train", "--json", "--unit-init", "own"][..], &NALU].concat());
    assert_eq!(explicit["train_loss"], own["train_loss"]);
    let inalu = common::record(&[&["train", "--json", "--unit-init", "inalu"][..], &NALU].concat());
    assert_eq!(inalu["init"], "inalu");
    assert_ne!(inalu["train_loss"], own["train_loss"]);
}

/// `neural-arithmetic` changes NAU and NMU layers and leaves NALU layers as they are.
#[test]
fn the_neural_arithmetic_init_changes_nau_and_nmu_layers_only() {
    let nmu = |init: &[&str]| {
        common::record(
            &[
                &["train", "--json", "--model", "nmu", "--epochs", "2"][..],
                init,
                &NALU[..2],
                &NALU[6..],
            ]
            .concat(),
        )
    };
    let own = nmu(&[]);
    let theirs = nmu(&["--unit-init", "neural-arithmetic"]);
    assert_eq!(theirs["init"], "neural-arithmetic");
    assert_ne!(theirs["train_loss"], own["train_loss"]);
    let nalu_own = common::record(&[&["train", "--json"][..], &NALU].concat());
    let nalu_theirs = common::record(
        &[
            &["train", "--json", "--unit-init", "neural-arithmetic"][..],
            &NALU,
        ]
        .concat(),
    );
    assert_eq!(nalu_theirs["train_loss"], nalu_own["train_loss"]);
}

#[test]
fn a_model_without_unit_layers_or_an_unknown_init_is_refused() {
    assert_refused(
        &[
            "train",
            "--function",
            "x1*x2",
            "--model",
            "lg",
            "--unit-init",
            "inalu",
        ],
        2,
        &["--unit-init", "unit models"],
    );
    assert_refused(
        &[
            "train",
            "--function",
            "x1*x2",
            "--model",
            "nalu",
            "--unit-init",
            "glorot",
        ],
        2,
        &["--unit-init", "own", "inalu", "neural-arithmetic"],
    );
    assert_refused(
        &[
            "sweep",
            "--functions",
            "x1*x2",
            "--models",
            "dense",
            "--pairs",
            "lg",
            "--unit-init",
            "inalu",
            "--out",
            "never-written-init.jsonl",
        ],
        2,
        &["--unit-init"],
    );
    assert!(!std::path::Path::new("never-written-init.jsonl").exists());
}
