//! `--checkpoint-every` on the command line: the flag is checked, the record carries the
//! checkpoint it ended with, the summary says so, and `reproduce --full` is refused where it
//! does not apply.

mod common;

use common::{assert_refused, logexp, text};
use serde_json::Value;

/// lg on x1*x2 at a rate high enough (0.05) that the last epoch is not the best one.
const LG: [&str; 10] = [
    "--function",
    "x1*x2",
    "--n-train",
    "500",
    "--n-test",
    "100",
    "--lr",
    "0.05",
    "--epochs",
    "12",
];

#[test]
fn the_record_carries_the_checkpoint_and_its_scores() {
    let plain = common::record(&[&["train", "--json"][..], &LG].concat());
    assert!(plain.get("checkpoint").is_none());
    assert!(plain.get("checkpoint_every").is_none());
    let kept = common::record(&[&["train", "--json", "--checkpoint-every", "1"][..], &LG].concat());
    assert_eq!(kept["checkpoint_every"], Value::from(1));
    let checkpoint = &kept["checkpoint"];
    let epoch = checkpoint["epoch"].as_u64().unwrap();
    assert!((1..=12).contains(&epoch), "{checkpoint}");
    assert!(checkpoint["valid_mse"].as_f64().unwrap() > 0.0);
    assert!(checkpoint["test_mse"].as_f64().unwrap() > 0.0);
    // The scores are those of a run stopped at the checkpoint's epoch.
    let epochs = epoch.to_string();
    let mut stopped_args = vec!["train", "--json"];
    stopped_args.extend_from_slice(&LG[..8]);
    stopped_args.extend_from_slice(&["--epochs", &epochs]);
    let stopped = common::record(&stopped_args);
    assert_eq!(kept["test_pct_err"], stopped["test_pct_err"]);
    assert_eq!(kept["train_loss"], plain["train_loss"]);
    let summary = text(&logexp(&[&["train", "--checkpoint-every", "1"][..], &LG].concat()).stdout);
    assert!(
        summary.contains(&format!("scores of the checkpoint after epoch {epoch}")),
        "{summary}"
    );
}

#[test]
fn bad_schedules_and_a_misplaced_full_are_refused() {
    for bad in ["0", "-1", "x"] {
        assert_refused(
            &["train", "--function", "x1*x2", "--checkpoint-every", bad],
            2,
            &["--checkpoint-every"],
        );
    }
    assert_refused(
        &["reproduce", "npu", "--full", "--out", "never-written-full"],
        2,
        &["--full", "stable-nalu"],
    );
    assert!(!std::path::Path::new("never-written-full").exists());
}
