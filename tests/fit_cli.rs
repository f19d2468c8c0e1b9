//! `fit`, `predict` and `explain` on the command line: a model fitted on the shipped orbits
//! finds Kepler's third law, predicts by column name, and bad input is refused by name.

mod common;

use common::{TempDir, assert_refused, logexp, text};

const ORBITS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/solar-orbits.csv");

#[test]
fn loglinear_finds_keplers_law_and_predicts_by_column_name() {
    let dir = TempDir::new("fit-cli");
    let model = dir.join("orbits.safetensors");
    let model_arg = model.to_str().unwrap();
    let out = logexp(&[
        "fit",
        "--data",
        ORBITS,
        "--target",
        "period_days",
        "--model",
        "loglinear",
        "--out",
        model_arg,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    // P ∝ M^(-1/2) · a^(3/2), Kepler's third law in Newton's form.
    assert!(
        report.contains("central_mass_1e24kg^(-1/2) · semi_major_axis_1e3km^(3/2)"),
        "{report}"
    );
    assert!(report.contains("validation"), "{report}");

    let explained = logexp(&["explain", "--model", model_arg]);
    assert!(explained.status.success(), "{}", text(&explained.stderr));
    assert!(text(&explained.stdout).contains("x2^(3/2)"));

    // Columns in another order, an extra column: matched by name, kept, prediction appended.
    let input = dir.join("new.csv");
    std::fs::write(
        &input,
        "semi_major_axis_1e3km,note,central_mass_1e24kg\n149598,earth,1988500\n",
    )
    .unwrap();
    let predictions = dir.join("p.csv");
    let out = logexp(&[
        "predict",
        "--model",
        model_arg,
        "--data",
        input.to_str().unwrap(),
        "--out",
        predictions.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(&predictions).unwrap();
    let mut lines = written.lines();
    assert_eq!(
        lines.next().unwrap(),
        "semi_major_axis_1e3km,note,central_mass_1e24kg,period_days_predicted"
    );
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(row[1], "earth");
    // Earth's year, 365.26 days, from the law fitted on the other bodies.
    let days: f64 = row[3].parse().unwrap();
    assert!((days - 365.26).abs() < 0.02 * 365.26, "{days}");
}

#[test]
fn bad_tables_and_model_files_are_refused_by_name() {
    let dir = TempDir::new("fit-cli-bad");
    let model = dir.join("m.safetensors");
    let model_arg = model.to_str().unwrap();
    assert_refused(
        &[
            "fit", "--data", ORBITS, "--target", "mass", "--out", model_arg,
        ],
        2,
        &["solar-orbits.csv", "mass"],
    );
    assert!(!model.exists(), "nothing written on failure");
    let ragged = dir.join("ragged.csv");
    std::fs::write(&ragged, "x1,y\n1,2\n3\n").unwrap();
    assert_refused(
        &[
            "fit",
            "--data",
            ragged.to_str().unwrap(),
            "--target",
            "y",
            "--out",
            model_arg,
        ],
        2,
        &["ragged.csv", "line 3"],
    );
    // The default model, loglinear, refuses targets of both signs and names the row.
    let mixed = dir.join("mixed.csv");
    std::fs::write(&mixed, "a,y\n1,2\n2,-3\n3,5\n4,6\n5,7\n").unwrap();
    assert_refused(
        &[
            "fit",
            "--data",
            mixed.to_str().unwrap(),
            "--target",
            "y",
            "--out",
            model_arg,
        ],
        2,
        &["--model", "one sign", "data row 2", "product"],
    );
    assert!(!model.exists(), "nothing written on failure");
    let foreign = dir.join("foreign.safetensors");
    std::fs::write(&foreign, b"not a model at all").unwrap();
    assert_refused(
        &["explain", "--model", foreign.to_str().unwrap()],
        2,
        &["foreign.safetensors"],
    );
    // A table without the model's features.
    let out = logexp(&[
        "fit",
        "--data",
        ORBITS,
        "--target",
        "period_days",
        "--model",
        "loglinear",
        "--out",
        model_arg,
    ]);
    assert!(out.status.success());
    let missing = dir.join("missing.csv");
    std::fs::write(&missing, "central_mass_1e24kg\n1\n").unwrap();
    assert_refused(
        &[
            "predict",
            "--model",
            model_arg,
            "--data",
            missing.to_str().unwrap(),
        ],
        2,
        &["missing.csv", "semi_major_axis_1e3km"],
    );
}
