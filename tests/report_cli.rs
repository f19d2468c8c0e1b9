//! `logexp report` through the binary: records with extreme values finish (no hang) and say
//! what they skipped; functions whose readable names collide still get one file each.

mod common;

use common::{BIN, TempDir, logexp, text};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SMALL: [&str; 6] = ["--epochs", "1", "--n-train", "200", "--n-test", "50"];

/// Runs `logexp ARGS` with a time limit: kills it and fails the test if it runs longer.
/// Returns (exit code, stderr).
fn run_within(args: &[&str], limit: Duration) -> (Option<i32>, String) {
    let err_path = std::env::temp_dir().join(format!(
        "logexp-report-cli-stderr-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let err_file = std::fs::File::create(&err_path).unwrap();
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_file)
        .spawn()
        .expect("the logexp binary runs");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(&err_path);
            panic!("logexp {args:?} still running after {limit:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&err_path);
    (status.code(), stderr)
}

/// `logexp train ... --json` into `path`, checked to succeed.
fn train_record(path: &Path, args: &[&str]) {
    let mut all = vec!["train"];
    all.extend_from_slice(args);
    all.extend_from_slice(&SMALL);
    all.push("--json");
    let out = logexp(&all);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::fs::write(path, &out.stdout).unwrap();
}

#[test]
fn a_record_with_huge_targets_reports_in_bounded_time_and_names_the_skipped_figures() {
    let dir = TempDir::new("huge");
    let results = dir.0.join("huge.jsonl");
    train_record(
        &results,
        &[
            "--function",
            "x1*1e307",
            "--train-range=-17,17",
            "--test-range=-17,17",
        ],
    );
    let out = dir.0.join("report");
    let (code, stderr) = run_within(
        &[
            "report",
            results.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(0), "{stderr}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    // The targets span about ±1.7e308: no axis can show that, so Figs 1-2 are skipped, and
    // report.md says which and why, in the figure's place and in the list at the end.
    assert!(md.contains("Fig. 1: training data: not drawn"), "{md}");
    assert!(md.contains("Fig. 2: test data: not drawn"), "{md}");
    let skipped = md
        .lines()
        .find(|l| l.starts_with("- Fig. 1 (training data) not drawn"))
        .unwrap_or_else(|| panic!("no skip line in report.md:\n{md}"));
    assert!(skipped.contains("wider than an f64 can hold"), "{skipped}");
    assert!(!md.contains("(figures/fig1-train-data.svg)"));
    // The other figures are drawn.
    assert!(out.join("figures/fig3-symlog.svg").is_file());
    let loss: Vec<_> = std::fs::read_dir(out.join("figures"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("loss-"))
        .collect();
    assert_eq!(loss.len(), 2, "the loss figure as SVG and PNG");
}

#[test]
fn functions_with_colliding_readable_names_get_one_ranking_file_each() {
    let dir = TempDir::new("slugs");
    let results = dir.0.join("results.jsonl");
    // Readable names before the fix: x1_x2_plus_x3, x1_x2_plus_x3 (+ "_2" for the second),
    // x1_x2_plus_x3_2: the third function's files overwrote the second's.
    let functions = ["x1*(x2+x3)", "x1*x2+x3", "x1*x2+x3*2"];
    let joined = functions.join(",");
    let mut args = vec![
        "sweep",
        "--functions",
        &joined,
        "--pairs",
        "lg",
        "--seeds",
        "1",
        "--out",
        results.to_str().unwrap(),
    ];
    args.extend_from_slice(&SMALL);
    let out = logexp(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let report = dir.0.join("report");
    let (code, stderr) = run_within(
        &[
            "report",
            results.to_str().unwrap(),
            "--out",
            report.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(0), "{stderr}");
    let rankings: Vec<String> = std::fs::read_dir(report.join("rankings"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".csv"))
        .collect();
    assert_eq!(rankings.len(), functions.len(), "{rankings:?}");
    // report.md links each function to its own file, and each file exists.
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    let links: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("- ") && l.contains("](rankings/"))
        .map(|l| {
            let start = l.find("](rankings/").unwrap() + 2;
            &l[start..start + l[start..].find(')').unwrap()]
        })
        .collect();
    assert_eq!(links.len(), functions.len(), "{md}");
    let distinct: std::collections::BTreeSet<&&str> = links.iter().collect();
    assert_eq!(distinct.len(), functions.len(), "{links:?}");
    for link in links {
        assert!(report.join(link).is_file(), "{link}");
    }
    // Likewise the loss figures: one SVG per function.
    let figures = std::fs::read_dir(report.join("figures"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("loss-") && n.ends_with(".svg"))
        .count();
    assert_eq!(figures, functions.len());
}
