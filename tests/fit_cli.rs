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
    let predict = || {
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
        (out, std::fs::read_to_string(&predictions).unwrap())
    };
    let (out, written) = predict();
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
    assert!(!text(&out.stderr).contains("not finite"));

    // An orbit of 1e30 km gives a period beyond f32: written as inf, and said so.
    std::fs::write(
        &input,
        "semi_major_axis_1e3km,central_mass_1e24kg\n149598,1988500\n1e30,1\n",
    )
    .unwrap();
    let (out, written) = predict();
    assert!(written.ends_with(",inf\n"), "{written}");
    assert!(
        text(&out.stderr).contains(
            "1 of 2 predictions are not finite numbers (NaN or inf), the first on data row 2"
        ),
        "{}",
        text(&out.stderr)
    );
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

/// A small table of y = a·b (20 rows).
fn products_csv(dir: &TempDir) -> String {
    let mut csv = "a,b,y\n".to_string();
    for i in 1..=20 {
        let (a, b) = (i, i % 4 + 2);
        csv += &format!("{a},{b},{}\n", a * b);
    }
    let path = dir.join("products.csv");
    std::fs::write(&path, csv).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn fit_takes_the_recipes_and_training_flags_of_train() {
    let dir = TempDir::new("fit-cli-recipe");
    let data = products_csv(&dir);
    let model = dir.join("m.safetensors");
    let model_arg = model.to_str().unwrap();
    let fit = |extra: &[&str]| {
        let mut args = vec![
            "fit", "--data", &data, "--target", "y", "--model", "nmu", "--out", model_arg,
        ];
        args.extend_from_slice(extra);
        let out = logexp(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        (
            logexp::modelfile::load(&model).unwrap().summary,
            text(&out.stdout),
        )
    };
    use logexp::recipe::Recipe;
    use logexp::train::{Loss, LrSchedule, Plateau};

    // The recipe fills in what is not given: its table in src/recipe.rs says 1,000 epochs,
    // the relative loss, 3e-3 and a cosine decay.
    let (s, printed) = fit(&["--recipe", "lg-relative-cosine"]);
    assert!(
        printed.contains(
            "training: recipe lg-relative-cosine (1000 epochs, relative loss, rate 0.003 cosine"
        ),
        "{printed}"
    );
    let t = s.options.training;
    assert_eq!(t.recipe, Recipe::LgRelativeCosine);
    assert_eq!(
        (t.epochs, t.loss, t.lr, t.lr_schedule),
        (1000, Loss::Relative, 3e-3, LrSchedule::Cosine)
    );
    assert_eq!(s.epochs_run, 1000);

    // Explicit flags win over the recipe; the flags train has that fit lacked are taken too.
    let (s, _) = fit(&[
        "--recipe",
        "lg-relative-cosine",
        "--epochs",
        "5",
        "--lr-schedule",
        "constant",
        "--warmup",
        "2",
        "--reinit-plateau",
        "2,0",
        "--clip",
        "0.5",
        "--regularizer",
        "1,0,10",
        "--optimizer",
        "rmsprop",
        "--batch-size",
        "4",
    ]);
    let t = s.options.training;
    assert_eq!(t.recipe, Recipe::LgRelativeCosine);
    assert_eq!((t.epochs, s.epochs_run), (5, 5));
    assert_eq!((t.lr, t.loss), (3e-3, Loss::Relative), "the recipe's");
    assert_eq!((t.lr_schedule, t.warmup), (LrSchedule::Constant, 2));
    assert_eq!(
        t.reinit,
        Some(Plateau {
            patience: 2,
            above: 0.0
        })
    );
    assert_eq!((t.clip, t.batch_size), (Some(0.5), 4));
    assert_eq!(t.optimizer, logexp::experiment::Optimizer::Rmsprop);
    assert_eq!(
        t.regularizer.map(|r| (r.lambda, r.start, r.end)),
        Some((1.0, 0, 10))
    );
}

#[test]
fn fit_scales_as_the_lg_scaled_inputs_recipe_does_and_predicts_on_raw_inputs() {
    // y = a · b / 1000 with inputs in [1, 20]: the recipe scales inputs by 2^k near 50 / their
    // geometric mean and the target by 2^k near the log-linear constant; predictions on the
    // raw rows come back in the target's own units.
    let dir = TempDir::new("fit-cli-scaled");
    let mut csv = "a,b,y\n".to_string();
    for i in 0..200 {
        let (a, b) = (1.0 + (i % 20) as f64, 1.0 + ((i * 7) % 19) as f64);
        csv += &format!("{a},{b},{}\n", a * b / 1000.0);
    }
    let data = dir.join("p.csv");
    std::fs::write(&data, csv).unwrap();
    let model = dir.join("m.safetensors");
    let out = logexp(&[
        "fit",
        "--data",
        data.to_str().unwrap(),
        "--target",
        "y",
        "--model",
        "dense",
        "--pair",
        "lg",
        "--recipe",
        "lg-scaled-inputs",
        "--epochs",
        "40",
        "--out",
        model.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("inputs scaled to a geometric mean near 50"),
        "{}",
        text(&out.stdout)
    );
    let loaded = logexp::modelfile::load(&model).unwrap();
    let scaling = loaded
        .scaling
        .clone()
        .expect("the recipe's scaling is stored");
    // Geometric means of a and b are near 8: factors near 50 / 8 ≈ 2^2.6, so 2^2 or 2^3.
    for k in &scaling.inputs_log2 {
        assert!([-3, -2].contains(k), "{scaling:?}");
    }
    // Scaled inputs multiply to 2^5 or 2^6 times a·b: the divisor is near 2^-15.
    assert!((-16..=-14).contains(&scaling.target_log2), "{scaling:?}");
    let train_pct = loaded.summary.train.scores.pct_err.unwrap();
    assert!(
        train_pct < 20.0,
        "trained in the target's units: {train_pct} %"
    );
    // A raw row inside the range: 10 · 10 / 1000 = 0.1, in the target's units.
    let input = dir.join("new.csv");
    std::fs::write(&input, "b,a\n10,10\n").unwrap();
    let predictions = dir.join("out.csv");
    let out = logexp(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--data",
        input.to_str().unwrap(),
        "--out",
        predictions.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(&predictions).unwrap();
    let y: f64 = written
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert!((0.07..0.13).contains(&y), "{written}");
}

#[test]
fn bad_training_flags_of_fit_are_refused_by_name() {
    let dir = TempDir::new("fit-cli-recipe-bad");
    let data = products_csv(&dir);
    let model = dir.join("m.safetensors");
    let base = [
        "fit",
        "--data",
        &data,
        "--target",
        "y",
        "--model",
        "nmu",
        "--out",
        model.to_str().unwrap(),
    ];
    let with = |extra: &[&'static str]| {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        args
    };
    assert_refused(&with(&["--recipe", "nope"]), 2, &["--recipe", "nope"]);
    // --scale and a recipe's own scaling would both choose the stored exponents.
    assert_refused(
        &with(&["--recipe", "lg-scaled", "--scale"]),
        2,
        &["--scale", "lg-scaled", "--target-scale none"],
    );
    assert_refused(
        &with(&["--reinit-plateau", "0,1"]),
        2,
        &["--reinit-plateau"],
    );
    // The rows are the user's: fit has no fresh rows to draw.
    let out = logexp(&with(&["--fresh-data"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("error: unexpected argument '--fresh-data'"));
    assert!(!model.exists(), "nothing written on failure");
}

/// `logexp` with `args`, `stdin` piped in.
fn with_stdin(args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(common::BIN)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_dash_reads_the_data_from_standard_input() {
    let dir = TempDir::new("fit-stdin");
    let csv = "a,b,y\n1,2,2\n2,3,6\n3,5,15\n4,7,28\n5,11,55\n";
    let model = dir.join("m.st");
    let model = model.to_str().unwrap();
    let fitted = with_stdin(
        &["fit", "--data", "-", "--target", "y", "--out", model],
        csv,
    );
    assert!(fitted.status.success(), "{}", text(&fitted.stderr));
    assert!(
        text(&fitted.stdout).contains("5 rows"),
        "{}",
        text(&fitted.stdout)
    );
    let predicted = with_stdin(&["predict", "--model", model, "--data", "-"], "b,a\n10,3\n");
    assert!(predicted.status.success(), "{}", text(&predicted.stderr));
    let lines: Vec<String> = text(&predicted.stdout).lines().map(String::from).collect();
    assert_eq!(lines[0], "b,a,y_predicted");
    let y: f64 = lines[1].rsplit(',').next().unwrap().parse().unwrap();
    assert!((y - 30.0).abs() < 0.3, "{y}");
    let explained = with_stdin(&["explain", "--model", model, "--data", "-"], csv);
    assert!(explained.status.success(), "{}", text(&explained.stderr));
    // Errors name standard input, not a file called "-".
    let bad = with_stdin(&["predict", "--model", model, "--data", "-"], "a\n1\n");
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("standard input"),
        "{}",
        text(&bad.stderr)
    );
}

#[test]
fn a_column_left_out_for_text_in_the_first_row_is_named() {
    let dir = TempDir::new("fit-left-out");
    let data = dir.join("d.csv");
    std::fs::write(&data, "a,b,y\n1,red,2\n2,green,6\n3,red,15\n4,blue,28\n").unwrap();
    let model = dir.join("m.st");
    let out = logexp(&common::fit_args(&data, &model, &[]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("not inputs") && stderr.contains(": b (") && stderr.contains("--features"),
        "{stderr}"
    );
    // A typo in row 1 of a numeric column is refused, not a reason to drop the column.
    std::fs::write(&data, "a,b,y\n1,2x,2\n2,3,6\n3,5,15\n4,7,28\n").unwrap();
    let args = common::fit_args(&data, &model, &[]);
    assert_refused(&args, 2, &["line 2", "column b", "'2x'", "a typo?"]);
}
