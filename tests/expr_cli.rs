//! Command-line tests of target expressions: whitespace separates tokens (it is never deleted),
//! variable indices are capped, long formulas are echoed as a short excerpt, and list flags name
//! the element at fault.

mod common;

use common::{TempDir, assert_refused, logexp, text};

/// A protocol that makes a run take about a millisecond.
const TINY: [&str; 6] = ["--epochs", "1", "--n-train", "200", "--n-test", "50"];

/// `logexp train --function FUNCTION` with the tiny protocol.
fn train_args(function: &str) -> Vec<String> {
    let mut args = vec![
        "train".to_string(),
        "--function".to_string(),
        function.into(),
    ];
    args.extend(TINY.iter().map(|s| s.to_string()));
    args
}

/// The single `error:` line of a refused command (exit 2, no panic).
fn error_line(args: &[String]) -> String {
    let out = logexp(args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in {stderr}"));
    line.to_string()
}

/// The first 300 characters of a line, so that a failure does not print 130 KB.
fn head(line: &str) -> String {
    line.chars().take(300).collect()
}

#[test]
fn a_space_between_two_operands_is_refused_with_its_column() {
    // The old code deleted the space and trained a 12-input network on `x12`.
    let args = train_args("x1 2");
    assert_refused(&args, 2, &["column 4", "number 2", "two operands"]);
    let args = train_args("x1 * x2 3");
    assert_refused(&args, 2, &["column 9", "number 3", "two operands"]);
    // The column counts in the text as given, leading spaces included.
    let args = train_args("  x1 * x2 3");
    assert_refused(&args, 2, &["column 11", "number 3"]);
}

#[test]
fn expression_errors_of_train_name_the_flag() {
    assert_refused(&train_args("x1 2"), 2, &["--function", "column 4"]);
    assert_refused(&train_args("x1 * x2 3"), 2, &["--function", "column 9"]);
    assert_refused(
        &train_args("x18446744073709551615"),
        2,
        &["--function", "1000"],
    );
}

#[test]
fn a_huge_variable_index_is_refused_not_a_panic() {
    assert_refused(
        &train_args("x18446744073709551615"),
        2,
        &["x18446744073709551615", "1000", "column 1"],
    );
    assert_refused(
        &train_args(&format!("x1*x{}", "9".repeat(30))),
        2,
        &["1000", "column 4"],
    );
    assert_refused(&train_args("x1001"), 2, &["x1001", "1000"]);
}

#[test]
fn a_long_formula_is_echoed_as_a_short_excerpt() {
    // 130,001 characters with the fault in the middle.
    let half = "x1+".repeat(21_667);
    let formula = format!("{half}$+{half}x1");
    let column = half.chars().count() + 1;
    let line = error_line(&train_args(&formula));
    assert!(line.len() < 300, "{} bytes: {}", line.len(), head(&line));
    assert!(line.contains(&format!("column {column}")), "{line}");
    assert!(line.contains("'$'"), "{line}");
    assert!(line.contains('…'), "the excerpt is marked as one: {line}");
    // A long run of digits in the excerpt and in the message alike.
    let digits = format!("x1*1{}", "0".repeat(130_000));
    let line = error_line(&train_args(&digits));
    assert!(line.len() < 300, "{} bytes: {}", line.len(), head(&line));
    assert!(line.contains("column 4"), "{line}");
}

#[test]
fn control_characters_of_a_formula_never_reach_the_terminal() {
    let line = error_line(&train_args("x1*\u{1b}[31mred"));
    assert!(!line.contains('\u{1b}'), "{line:?}");
    assert!(line.contains("\\u{1b}"), "{line:?}");
    assert!(line.contains("column 4"), "{line:?}");
}

/// `sweep --functions FUNCTIONS --pairs PAIRS` must be refused (exit 2, naming each of
/// `needles`) without creating its results file.
fn sweep_refused(functions: &str, pairs: &str, needles: &[&str]) {
    let dir = TempDir::new("sweep-refused");
    let out = dir.join("r.jsonl");
    let mut args: Vec<String> = ["sweep", "--functions", functions, "--pairs", pairs, "--out"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(out.display().to_string());
    args.extend(TINY.iter().map(|s| s.to_string()));
    assert_refused(&args, 2, needles);
    assert!(!out.exists(), "no results file may be created");
}

#[test]
fn an_empty_element_of_functions_is_named_and_nothing_is_written() {
    sweep_refused("x1*x2,,x1", "lg", &["--functions", "element 2", "empty"]);
}

#[test]
fn an_expression_error_in_functions_names_the_element() {
    sweep_refused(
        "x1*x2,x1+x2,x1 2",
        "lg",
        &["--functions (element 3)", "column 4", "two operands"],
    );
}

#[test]
fn an_unknown_pair_names_the_pairs_flag() {
    sweep_refused("x1*x2", "lg;bogus", &["--pairs", "bogus", "relu", "lg"]);
}

#[test]
fn spaces_between_tokens_keep_the_paper_spelling_in_the_record() {
    let out = logexp(&[
        "train",
        "--function",
        " x1 * ( x2 + x3 ) + x4 ",
        "--epochs",
        "1",
        "--n-train",
        "200",
        "--n-test",
        "50",
        "--json",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let record: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON record");
    assert_eq!(record["function"], "x1*(x2+x3)+x4", "{stdout}");
}
