//! Library-level tests of bring-your-own-data: a CSV written here is read, fitted, saved,
//! loaded and predicted on; bad tables and bad model files are refused.

use logexp::Error;
use logexp::fit::{FitOptions, Validation, fit, predict_csv};
use logexp::model::spec::ModelSpec;
use logexp::modelfile::{load, save};
use logexp::table::{ReadOptions, read_table};
use logexp::train::Training;
use std::path::Path;

/// `y = 0.5 · a² / b` on a grid of positive inputs, written with an unused text column, CRLF
/// line ends and quoted names.
fn write_law(dir: &Path, rows: usize) -> std::path::PathBuf {
    let path = dir.join("law.csv");
    let mut text = String::from("\"a\",note,\"b\",y\r\n");
    for r in 0..rows {
        // Low-discrepancy sequences: every value distinct, so no two rows tie in outlyingness.
        let a = 1.0 + 3.0 * (r as f64 * 0.618_033_988_749_895).fract();
        let b = 1.0 + 2.0 * (r as f64 * 0.414_213_562_373_095).fract();
        text += &format!("{a},\"row {r}\",{b},{}\r\n", 0.5 * a * a / b);
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn options(preset: &str) -> FitOptions {
    FitOptions {
        training: Training {
            epochs: 5,
            ..Training::default()
        },
        ..FitOptions::new(ModelSpec::preset(preset).unwrap())
    }
}

#[test]
fn fit_save_load_predict_is_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_law(dir.path(), 300);
    let table = read_table(&data, &ReadOptions::new("y")).unwrap();
    assert_eq!(table.features, ["a", "b"]);
    for preset in ["lg", "npu"] {
        let model = fit(&table, &options(preset)).unwrap();
        assert_eq!(model.summary.train.rows + model.summary.valid.rows, 300);
        assert_eq!(model.summary.valid.rows, 60);
        let path = dir.path().join(format!("{preset}.safetensors"));
        save(&model, &path).unwrap();
        let loaded = load(&path).unwrap();
        let in_memory = model.predict(&table.data);
        let reloaded = loaded.predict(&table.data);
        let bits = |v: &[f32]| v.iter().map(|p| p.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&reloaded), bits(&in_memory), "{preset}");

        // The streaming path over a file whose columns are in another order, with an extra
        // column: the same predictions, appended to each row.
        let shuffled = dir.path().join("new.csv");
        let mut text = String::from("extra,b,a\n");
        for r in 0..table.data.len() {
            let x = table.data.row(r);
            text += &format!("e{r},{:?},{:?}\n", x[1], x[0]);
        }
        std::fs::write(&shuffled, text).unwrap();
        let mut out = Vec::new();
        let n = predict_csv(
            &loaded,
            std::fs::File::open(&shuffled).unwrap(),
            &shuffled,
            &mut out,
        )
        .unwrap();
        assert_eq!(n.rows as usize, table.data.len());
        assert_eq!(n.non_finite, 0);
        let out = String::from_utf8(out).unwrap();
        let mut lines = out.lines();
        assert_eq!(lines.next().unwrap(), "extra,b,a,y_predicted");
        for (r, line) in lines.enumerate() {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields[0], format!("e{r}"));
            let p: f32 = fields[3].parse().unwrap();
            assert_eq!(p.to_bits(), in_memory[r].to_bits(), "{preset} row {r}");
        }
    }
}

#[test]
fn prediction_refuses_a_missing_feature_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let table = read_table(&write_law(dir.path(), 40), &ReadOptions::new("y")).unwrap();
    let model = fit(&table, &options("nmu")).unwrap();
    let e = predict_csv(
        &model,
        "a,c\n1,2\n".as_bytes(),
        Path::new("new.csv"),
        Vec::new(),
    )
    .unwrap_err();
    assert!(e.is_usage());
    assert!(e.to_string().contains("column b"), "{e}");
    let e = predict_csv(
        &model,
        "a,b\n1,x\n".as_bytes(),
        Path::new("new.csv"),
        Vec::new(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("new.csv, line 2, column b"), "{e}");
}

#[test]
fn validation_modes_hold_out_what_they_say() {
    let dir = tempfile::tempdir().unwrap();
    let table = read_table(&write_law(dir.path(), 100), &ReadOptions::new("y")).unwrap();
    let none = fit(
        &table,
        &FitOptions {
            valid: Validation::None,
            ..options("nmu")
        },
    )
    .unwrap();
    assert_eq!((none.summary.train.rows, none.summary.valid.rows), (100, 0));
    let random = fit(
        &table,
        &FitOptions {
            valid: Validation::Random,
            ..options("nmu")
        },
    )
    .unwrap();
    assert_eq!(random.summary.valid.rows, 20);
    // Extrapolation holds out the extremes: with no ties, a held-out row is further from the
    // median than every training row on some input, so none lies inside the training box.
    let extrapolate = fit(&table, &options("nmu")).unwrap();
    assert_eq!(extrapolate.summary.valid_in_range.rows, 0);
    assert_eq!(extrapolate.summary.valid_out_of_range.rows, 20);
}

fn corrupt_copies(good: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut flipped = good.to_vec();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    vec![
        ("empty", Vec::new()),
        ("truncated header", good[..12].to_vec()),
        ("truncated data", good[..good.len() - 3].to_vec()),
        ("flipped bit", flipped),
        ("a CSV", b"a,b\n1,2\n".to_vec()),
    ]
}

#[test]
fn damaged_model_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let table = read_table(&write_law(dir.path(), 40), &ReadOptions::new("y")).unwrap();
    let model = fit(&table, &options("nmu")).unwrap();
    let path = dir.path().join("m.safetensors");
    save(&model, &path).unwrap();
    let good = std::fs::read(&path).unwrap();
    for (what, bytes) in corrupt_copies(&good) {
        let bad = dir.path().join("bad.safetensors");
        std::fs::write(&bad, bytes).unwrap();
        match load(&bad) {
            Err(e @ Error::ModelFile { .. }) => {
                assert!(e.is_usage(), "{what}");
                assert!(e.to_string().contains("bad.safetensors"), "{what}: {e}");
            }
            Err(e) => panic!("{what}: wrong error {e}"),
            Ok(_) => panic!("{what}: accepted"),
        }
    }
    let e = load(&dir.path().join("absent.safetensors")).unwrap_err();
    assert!(!e.is_usage(), "a missing file is an I/O error: {e}");
}

#[test]
fn a_failed_read_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bad.csv");
    std::fs::write(&data, "a,y\n1,2\n3,\n").unwrap();
    let e = read_table(&data, &ReadOptions::new("y")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}, line 3, column y: empty cell: every row needs a number here",
            data.display()
        )
    );
    let dropped = read_table(
        &data,
        &ReadOptions {
            drop_invalid: true,
            ..ReadOptions::new("y")
        },
    )
    .unwrap();
    assert_eq!((dropped.data.len(), dropped.dropped), (1, 1));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn predictions_go_to_a_file_only_when_every_row_is_good() {
    let dir = tempfile::tempdir().unwrap();
    let table = read_table(&write_law(dir.path(), 40), &ReadOptions::new("y")).unwrap();
    let model = fit(&table, &options("nmu")).unwrap();
    let good = dir.path().join("good.csv");
    std::fs::write(&good, "a,b\n2,3\n4,5\n").unwrap();
    let out = dir.path().join("p.csv");
    assert_eq!(
        logexp::fit::predict_file(&model, &good, Some(&out))
            .unwrap()
            .rows,
        2
    );
    let written = std::fs::read_to_string(&out).unwrap();
    assert_eq!(written.lines().count(), 3);
    assert!(written.starts_with("a,b,y_predicted\n2,3,"), "{written}");
    // A bad row late in the file: the earlier output stays as it was, no temporary file.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "a,b\n2,3\n4,NaN\n").unwrap();
    let e = logexp::fit::predict_file(&model, &bad, Some(&out)).unwrap_err();
    assert!(e.to_string().contains("line 3, column b"), "{e}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), written);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["bad.csv", "good.csv", "law.csv", "p.csv"]);
}

/// `y = 0.1 · a / b` on [1, 5)², times `1 + n` with `n` uniform of standard deviation `noise`.
fn write_ratio(dir: &Path, noise: f64) -> std::path::PathBuf {
    let path = dir.join(format!("ratio-{noise}.csv"));
    let mut text = String::from("a,b,y\n");
    let mut state = 12345u64;
    for r in 0..1000 {
        let a = (1.0 + 4.0 * (r as f64 * 0.618_033_988_749_895).fract()) as f32;
        let b = (1.0 + 4.0 * (r as f64 * 0.414_213_562_373_095).fract()) as f32;
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let u = (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
        let y = 0.1 * f64::from(a) / f64::from(b) * (1.0 + noise * u * 3f64.sqrt());
        text += &format!("{a:?},{b:?},{y:?}\n");
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// A product unit and one summing weight (`product` with hidden 1) learns the law; the
/// explanation recovers its exponents within 0.05, rounds them to 1 and −1, and the stated
/// expression reads back through the parser with the errors printed beside it.
#[test]
fn explain_recovers_a_product_of_powers_with_and_without_noise() {
    let dir = tempfile::tempdir().unwrap();
    for noise in [0.0, 0.01] {
        let table = read_table(&write_ratio(dir.path(), noise), &ReadOptions::new("y")).unwrap();
        let spec =
            ModelSpec::parse("product", &logexp::experiment::Pair::lg(), Some(&[1])).unwrap();
        let options = FitOptions {
            training: Training {
                epochs: 100,
                lr: 0.01,
                ..Training::default()
            },
            ..FitOptions::new(spec)
        };
        let model = fit(&table, &options).unwrap();
        let s = &model.summary;
        // The out-of-range error is measured and reported.
        assert_eq!(s.valid_out_of_range.rows, 200);
        let out_pct = s.valid_out_of_range.scores.pct_err.unwrap();
        assert!(s.text().contains("out of range"));
        assert!(out_pct < 3.0, "noise {noise}: {out_pct}");
        let e = s
            .explanation
            .as_ref()
            .expect("a product model is explained");
        let [term] = e.formula.terms.as_slice() else {
            panic!("noise {noise}: {}", e.formula.text)
        };
        assert!((term.exps[0] - 1.0).abs() < 0.05, "{}", e.formula.text);
        assert!((term.exps[1] + 1.0).abs() < 0.05, "{}", e.formula.text);
        let rounded = e
            .rounded
            .as_ref()
            .expect("exponents within 0.05 of integers round");
        assert_eq!(rounded.terms[0].exps, [1.0, -1.0]);
        assert!(
            (rounded.terms[0].coef - 0.1).abs() < 0.002,
            "{}",
            rounded.text
        );
        // The expression reads back; its value at (a, b) = (2, 4) is the constant / 2.
        let parsed = logexp::expr::Expr::parse(&rounded.expression).unwrap();
        let c: f64 = rounded
            .expression
            .split('*')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((parsed.eval(&[2.0, 4.0]) - c / 2.0).abs() < 1e-12);
        // And the explanation survives the model file.
        let path = dir.path().join("ratio.safetensors");
        save(&model, &path).unwrap();
        assert_eq!(load(&path).unwrap().summary.explanation.as_ref(), Some(e));
    }
}

/// With scaling, a law whose constant and inputs are far from 1 (`y = 300 · a^1.5 / √b`, `a`
/// in [10³, 10⁴), `b` in [10², 10³)) is learned by product units, explained in the table's units,
/// and saved and reloaded with its scaling: the same predictions, bit for bit.
#[test]
fn scaled_fits_explain_in_the_tables_units_and_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    let mut text = String::from("a,b,y\n");
    for r in 0..600 {
        let a = (1e3 + 9e3 * (r as f64 * 0.618_033_988_749_895).fract()) as f32;
        let b = (1e2 + 9e2 * (r as f64 * 0.414_213_562_373_095).fract()) as f32;
        let y = 300.0 * f64::from(a).powf(1.5) / f64::from(b).sqrt();
        text += &format!("{a:?},{b:?},{y:?}\n");
    }
    std::fs::write(&path, text).unwrap();
    let table = read_table(&path, &ReadOptions::new("y")).unwrap();
    let spec = ModelSpec::parse("product", &logexp::experiment::Pair::lg(), Some(&[1])).unwrap();
    let options = FitOptions {
        training: Training {
            epochs: 100,
            lr: 0.01,
            ..Training::default()
        },
        scale: true,
        ..FitOptions::new(spec)
    };
    let model = fit(&table, &options).unwrap();
    let scaling = model.scaling.clone().expect("scaled");
    // Mean log2 over uniform draws: E[ln a] = (b ln b − b − a ln a + a)/(b − a) gives 8.47 for
    // a on [10³, 10⁴) → log2 12.2, and 6.16 for b on [10², 10³) → 8.9; so
    // log2 y ≈ 8.2 + 1.5·12.2 − 0.5·8.9 = 22.1 (log2 300 ≈ 8.2).
    assert_eq!(scaling.inputs_log2, [12, 9]);
    assert!((21..=23).contains(&scaling.target_log2), "{scaling:?}");
    let e = model.summary.explanation.as_ref().expect("explained");
    let best = e.rounded.as_ref().unwrap_or(&e.formula);
    assert_eq!(best.terms.len(), 1, "{}", best.text);
    assert!((best.terms[0].exps[0] - 1.5).abs() < 0.05, "{}", best.text);
    assert!((best.terms[0].exps[1] + 0.5).abs() < 0.05, "{}", best.text);
    assert!(
        (best.terms[0].coef / 300.0 - 1.0).abs() < 0.05,
        "{}",
        best.text
    );
    let saved = dir.path().join("big.safetensors");
    save(&model, &saved).unwrap();
    let loaded = load(&saved).unwrap();
    assert_eq!(loaded.scaling, Some(scaling));
    let bits = |v: Vec<f32>| v.iter().map(|p| p.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(loaded.predict(&table.data)),
        bits(model.predict(&table.data))
    );
}

/// The shipped dataset: the law is learned on the moons and the inner planets and predicts
/// the six outer planets held out by extrapolation validation. Kepler's third law with
/// Newton's constant gives `P = 2π √(a³ / (G M))`; in the file's units (days, 10³ km, 10²⁴ kg)
/// `P = c · a^1.5 · M^-0.5` with `c = 2π / 86400 · (10⁶)^1.5 / √(6.6743e-11 · 10²⁴)`
/// `= 7.2722e-5 · 1e9 / 8.1697e6 = 0.0089015`.
#[test]
fn keplers_third_law_is_found_in_the_shipped_orbits() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/solar-orbits.csv");
    let table = read_table(&path, &ReadOptions::new("period_days")).unwrap();
    // `body` and `orbits` are text: not features.
    assert_eq!(
        table.features,
        ["central_mass_1e24kg", "semi_major_axis_1e3km"]
    );
    let (_, valid) = logexp::fit::split(&table.data, Validation::Extrapolate, 0);
    // Mars to Pluto, the last six rows of the file.
    assert_eq!(valid, [23, 24, 25, 26, 27, 28]);
    let spec = ModelSpec::parse("product", &logexp::experiment::Pair::lg(), Some(&[1])).unwrap();
    let options = FitOptions {
        training: Training {
            epochs: 3000,
            lr: 0.03,
            batch_size: 8,
            ..Training::default()
        },
        restarts: 5,
        scale: true,
        ..FitOptions::new(spec)
    };
    let model = fit(&table, &options).unwrap();
    assert_eq!(model.summary.valid_out_of_range.rows, 6);
    let e = model.summary.explanation.as_ref().expect("explained");
    let law = e.rounded.as_ref().expect("rounded to Kepler's exponents");
    assert_eq!(law.terms.len(), 1, "{}", law.text);
    assert_eq!(law.terms[0].exps, [-0.5, 1.5], "{}", law.text);
    assert!(
        (law.terms[0].coef / 0.0089015 - 1.0).abs() < 0.01,
        "{}",
        law.text
    );
    // As data/README.md shows it.
    assert_eq!(
        law.text,
        "period_days ≈ 0.008899 · central_mass_1e24kg^(-1/2) · semi_major_axis_1e3km^(3/2)"
    );
    // Fitted on the inner rows, it predicts the outer planets within 1 %.
    assert!(law.valid.unwrap().pct_err.unwrap() < 1.0, "{}", e.text());
}

/// A trained lg network is read out as a formula our parser reads back, with its errors beside
/// the network's, unless a hidden unit's input changes sign within the data, which the reason
/// then says.
#[test]
fn an_lg_fit_is_explained_or_says_why_not() {
    let dir = tempfile::tempdir().unwrap();
    let table = read_table(&write_ratio(dir.path(), 0.0), &ReadOptions::new("y")).unwrap();
    let model = fit(&table, &options("lg")).unwrap();
    match (&model.summary.explanation, &model.summary.explanation_note) {
        (Some(e), None) => {
            logexp::expr::Expr::parse(&e.formula.expression).unwrap();
            assert!(e.formula.train.mae.is_some(), "{}", e.text());
            assert!(e.network_valid.is_some());
        }
        (None, Some(note)) => assert!(note.contains("changes sign on"), "{note}"),
        other => panic!("{other:?}"),
    }
}
