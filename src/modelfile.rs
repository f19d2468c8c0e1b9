//! Model files: a [`FittedModel`] saved as [safetensors](https://github.com/huggingface/safetensors)
//! ([`save`]) and read back, checked ([`load`]).
//!
//! ## Layout (format version 1)
//!
//! - One `F32` tensor per parameter block of the network, named and shaped as
//!   [`crate::model::Network::param_blocks`] gives them: `layer0.weight` `[16, n_inputs]`
//!   (row `j` feeds unit `j`), `layer0.bias` `[16]`, … for dense models; `layer0.weight`,
//!   `layer1.gate`, … for unit stacks. Little-endian, row-major, as safetensors always is.
//! - The string metadata (`__metadata__`):
//!
//! | key | value |
//! | --- | --- |
//! | `format` | `logexp-model` |
//! | `format_version` | `1` ([`FORMAT_VERSION`]) |
//! | `logexp_version` | the version that wrote the file |
//! | `model` | the [`ModelSpec`] as JSON, e.g. `{"model":"dense","pair":"symlog,symexp","hidden":[16,12]}` |
//! | `features` | the input column names, JSON array, in the network's input order |
//! | `target` | the target column name |
//! | `scaling` | `none` (inputs and target used as they are), or `{"inputs_log2":[k_1,…],"target_log2":k_y}`: the network sees `x_i · 2^−k_i` and its output is multiplied by `2^k_y` |
//! | `fit` | the [`FitSummary`] as JSON |
//! | `checksum` | FNV-1a 64 (hex) over every other metadata key and value (sorted by key) and every tensor's bytes (in block order) |
//!
//! In Python: `safetensors.numpy.load_file("m.safetensors")` gives the tensors;
//! `safetensors.safe_open("m.safetensors", "np").metadata()` the metadata.
//!
//! A dense model with activations `a_1, …, a_L` computes `h_0 = x`,
//! `h_l = a_l(W_l h_{l−1} + b_l)` and `y = W_{L} h_{L−1} + b_L` (linear output; `symlog(x) =
//! sign(x)·ln(1+|x|)`, `symexp(x) = sign(x)·(e^{|x|}−1)`).
//!
//! Saving writes a temporary file beside the target, syncs it and renames it over the target,
//! so a crash never leaves a half-written model file.

use crate::error::Error;
use crate::fit::{FitSummary, FittedModel, Scaling};
use crate::model::spec::ModelSpec;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// Version of the model file layout this logexp writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// The `format` metadata value that marks a logexp model.
pub const FORMAT_NAME: &str = "logexp-model";

/// Largest model file read: far beyond any model logexp trains, small enough to read into
/// memory.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// FNV-1a, 64 bits: a checksum against corruption (not an authenticity check).
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// The checksum of the metadata (without `checksum`) and the tensors' bytes in block order.
fn checksum(metadata: &HashMap<String, String>, tensors: &[(&str, &[u8])]) -> String {
    let mut keys: Vec<&String> = metadata.keys().filter(|k| *k != "checksum").collect();
    keys.sort();
    let mut h = FNV_OFFSET;
    for key in keys {
        // Lengths first, so that moving bytes between fields changes the sum.
        h = fnv1a(h, &(key.len() as u64).to_le_bytes());
        h = fnv1a(h, key.as_bytes());
        h = fnv1a(h, &(metadata[key].len() as u64).to_le_bytes());
        h = fnv1a(h, metadata[key].as_bytes());
    }
    for (name, bytes) in tensors {
        h = fnv1a(h, name.as_bytes());
        h = fnv1a(h, bytes);
    }
    format!("{h:016x}")
}

/// The bytes of a model file for `model`.
pub fn to_bytes(model: &FittedModel) -> Result<Vec<u8>, Error> {
    let mut metadata = HashMap::new();
    metadata.insert("format".to_string(), FORMAT_NAME.to_string());
    metadata.insert("format_version".to_string(), FORMAT_VERSION.to_string());
    metadata.insert(
        "logexp_version".to_string(),
        env!("CARGO_PKG_VERSION").to_string(),
    );
    metadata.insert("model".to_string(), json(&model.spec));
    metadata.insert("features".to_string(), json(&model.features));
    metadata.insert("target".to_string(), model.target.clone());
    metadata.insert(
        "scaling".to_string(),
        model.scaling.as_ref().map_or("none".to_string(), json),
    );
    metadata.insert("fit".to_string(), json(&model.summary));
    let blocks = model.network.param_blocks();
    let bytes: Vec<Vec<u8>> = blocks
        .iter()
        .map(|b| {
            model.params[b.offset..b.offset + b.len()]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect()
        })
        .collect();
    let named: Vec<(&str, &[u8])> = blocks
        .iter()
        .zip(&bytes)
        .map(|(b, d)| (b.name.as_str(), d.as_slice()))
        .collect();
    metadata.insert("checksum".to_string(), checksum(&metadata, &named));
    let views = blocks
        .iter()
        .zip(&bytes)
        .map(|(b, d)| TensorView::new(Dtype::F32, b.shape.clone(), d).map(|v| (b.name.clone(), v)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Run(format!("cannot lay out the model's tensors: {e}")))?;
    safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::Run(format!("cannot serialise the model: {e}")))
}

/// JSON of a metadata value, which always serialises.
fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("model metadata always serialises")
}

/// Saves `model` to `path` atomically, through [`crate::output`]: a path that is not a regular
/// file is refused, and on any error `path` is left as it was.
pub fn save(model: &FittedModel, path: &Path) -> Result<(), Error> {
    let bytes = to_bytes(model)?;
    crate::output::write_file(path, &bytes)
}

/// Reads and checks the model file `path`.
pub fn load(path: &Path) -> Result<FittedModel, Error> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("cannot read", path, e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::ModelFile {
            path: path.to_path_buf(),
            message: format!("larger than {MAX_FILE_BYTES} bytes, far more than any logexp model"),
        });
    }
    from_bytes(&bytes, path)
}

/// Checks and decodes the bytes of a model file (`path` names it in errors).
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<FittedModel, Error> {
    let bad = |message: String| Error::ModelFile {
        path: path.to_path_buf(),
        message,
    };
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| {
        bad(format!(
            "not a complete safetensors file ({e}): it may be truncated, or not a model file at all"
        ))
    })?;
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(format!("unreadable safetensors header ({e})")))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let get = |key: &str| {
        metadata
            .get(key)
            .ok_or_else(|| bad(format!("the metadata has no '{key}'")))
    };
    if metadata.get("format").map(String::as_str) != Some(FORMAT_NAME) {
        return Err(bad(
            "a safetensors file, but not one logexp wrote (no 'format: logexp-model' in its metadata)".into(),
        ));
    }
    let version: u32 = get("format_version")?
        .parse()
        .map_err(|_| bad("its format_version is not a number".into()))?;
    if version > FORMAT_VERSION {
        return Err(bad(format!(
            "written in model format {version} by logexp {}; this logexp ({}) reads formats up to {FORMAT_VERSION}: upgrade logexp",
            metadata.get("logexp_version").map_or("?", String::as_str),
            env!("CARGO_PKG_VERSION")
        )));
    }
    if version == 0 {
        return Err(bad("format_version 0 does not exist".into()));
    }
    let spec: ModelSpec = serde_json::from_str(get("model")?)
        .map_err(|e| bad(format!("its model spec is not readable ({e})")))?;
    let features: Vec<String> = serde_json::from_str(get("features")?)
        .map_err(|e| bad(format!("its feature list is not readable ({e})")))?;
    let target = get("target")?.clone();
    let summary: FitSummary = serde_json::from_str(get("fit")?)
        .map_err(|e| bad(format!("its fit record is not readable ({e})")))?;
    if features.is_empty() {
        return Err(bad("it names no features".into()));
    }
    let scaling: Option<Scaling> = match get("scaling")?.as_str() {
        "none" => None,
        other => {
            let s: Scaling = serde_json::from_str(other)
                .map_err(|e| bad(format!("its scaling is not readable ({e})")))?;
            if s.inputs_log2.len() != features.len()
                || s.inputs_log2
                    .iter()
                    .chain([&s.target_log2])
                    .any(|e| e.abs() > 100)
            {
                return Err(bad("its scaling does not match its features".into()));
            }
            Some(s)
        }
    };
    let network = spec
        .build(features.len())
        .map_err(|e| bad(format!("its model spec cannot be built ({e})")))?;
    // Every parameter must be in the file: check before allocating, so a hostile spec (a
    // billion features) cannot ask for more memory than the file's size.
    if network
        .n_params()
        .checked_mul(4)
        .is_none_or(|b| b > bytes.len())
    {
        return Err(bad(format!(
            "its model spec needs {} parameters, more than the file holds",
            network.n_params()
        )));
    }
    let blocks = network.param_blocks();
    if tensors.len() != blocks.len() {
        return Err(bad(format!(
            "it holds {} tensors, the model {} needs {}: {}",
            tensors.len(),
            spec.label(),
            blocks.len(),
            blocks
                .iter()
                .map(|b| b.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut params = vec![0.0f32; network.n_params()];
    let mut named = Vec::with_capacity(blocks.len());
    for block in &blocks {
        let view = tensors
            .tensor(&block.name)
            .map_err(|_| bad(format!("no tensor '{}', which the model needs", block.name)))?;
        if view.dtype() != Dtype::F32 || view.shape() != block.shape.as_slice() {
            return Err(bad(format!(
                "tensor '{}' is {:?} {:?}; the model needs F32 {:?}",
                block.name,
                view.dtype(),
                view.shape(),
                block.shape
            )));
        }
        for (p, chunk) in params[block.offset..block.offset + block.len()]
            .iter_mut()
            .zip(view.data().chunks_exact(4))
        {
            *p = f32::from_le_bytes(chunk.try_into().expect("4 bytes"));
        }
        // fit never saves a diverged model; a non-finite parameter would only predict NaN.
        if params[block.offset..block.offset + block.len()]
            .iter()
            .any(|p| !p.is_finite())
        {
            return Err(bad(format!(
                "tensor '{}' holds a value that is not finite (NaN or infinite), so every prediction would be NaN: fit the model again",
                block.name
            )));
        }
        named.push((block.name.as_str(), view.data()));
    }
    if checksum(&metadata, &named) != *get("checksum")? {
        return Err(bad(
            "its checksum does not match its content: the file is corrupted".into(),
        ));
    }
    Ok(FittedModel {
        spec,
        network,
        params,
        features,
        target,
        summary,
        scaling,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::{FitOptions, fit};
    use crate::table::{ReadOptions, read_table_from};
    use crate::train::Training;

    fn model(preset: &str) -> FittedModel {
        let mut csv = "a,b,y\n".to_string();
        for i in 1..=20 {
            let (a, b) = (i as f64, (i % 4 + 1) as f64);
            csv += &format!("{a},{b},{}\n", a / b);
        }
        let t =
            read_table_from(csv.as_bytes(), Path::new("t.csv"), &ReadOptions::new("y")).unwrap();
        let options = FitOptions {
            training: Training {
                epochs: 2,
                ..Training::default()
            },
            ..FitOptions::new(ModelSpec::preset(preset).unwrap())
        };
        fit(&t, &options).unwrap()
    }

    fn refused(bytes: &[u8]) -> String {
        match from_bytes(bytes, Path::new("m.safetensors")) {
            Err(e @ Error::ModelFile { .. }) => {
                assert!(e.is_usage());
                e.to_string()
            }
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn every_preset_round_trips_exactly() {
        for preset in ["lg", "nmu", "npu", "nalu"] {
            let m = model(preset);
            let back = from_bytes(&to_bytes(&m).unwrap(), Path::new("m")).unwrap();
            assert_eq!(
                back.params.iter().map(|p| p.to_bits()).collect::<Vec<_>>(),
                m.params.iter().map(|p| p.to_bits()).collect::<Vec<_>>(),
                "{preset}"
            );
            assert_eq!(back.spec, m.spec);
            assert_eq!(
                (back.features, back.target),
                (m.features.clone(), m.target.clone())
            );
            assert_eq!(back.summary, m.summary);
        }
    }

    #[test]
    fn the_layout_is_as_documented() {
        let m = model("lg");
        let bytes = to_bytes(&m).unwrap();
        let t = SafeTensors::deserialize(&bytes).unwrap();
        let w = t.tensor("layer0.weight").unwrap();
        assert_eq!(w.shape(), [16, 2]);
        assert_eq!(w.dtype(), Dtype::F32);
        assert_eq!(t.tensor("layer2.bias").unwrap().shape(), [1]);
        // layer0.weight's first value is the first parameter, little-endian.
        assert_eq!(&w.data()[..4], &m.params[0].to_le_bytes());
        let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let meta = header.metadata().as_ref().unwrap();
        assert_eq!(meta["format"], "logexp-model");
        assert_eq!(meta["format_version"], "1");
        assert_eq!(meta["features"], r#"["a","b"]"#);
        assert_eq!(
            meta["model"],
            r#"{"model":"dense","pair":"symlog,symexp","hidden":[16,12]}"#
        );
    }

    /// Rewrites the metadata of a valid file (recomputing the checksum when asked) to make
    /// files that are well-formed safetensors but wrong for logexp.
    fn with_metadata(
        m: &FittedModel,
        edit: impl Fn(&mut HashMap<String, String>),
        fix_sum: bool,
    ) -> Vec<u8> {
        let bytes = to_bytes(m).unwrap();
        let t = SafeTensors::deserialize(&bytes).unwrap();
        let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let mut meta = header.metadata().clone().unwrap();
        edit(&mut meta);
        let blocks = m.network.param_blocks();
        let views: Vec<(String, TensorView)> = t.tensors();
        if fix_sum {
            let named: Vec<(&str, &[u8])> = blocks
                .iter()
                .map(|b| (b.name.as_str(), t.tensor(&b.name).unwrap().data()))
                .collect();
            let sum = checksum(&meta, &named);
            meta.insert("checksum".into(), sum);
        }
        safetensors::serialize(views, Some(meta)).unwrap()
    }

    /// A model file written before the training settings were one type: its fit options
    /// hold only the first seven settings (the literal below is what those versions wrote).
    #[test]
    fn files_without_the_newer_training_settings_still_load() {
        let m = model("nmu");
        let old = with_metadata(
            &m,
            |meta| {
                let mut fit: serde_json::Value = serde_json::from_str(&meta["fit"]).unwrap();
                let old_options = format!(
                    r#"{{"model":{},"seed":0,"epochs":2,"batch_size":32,"lr":0.001,"loss":"mae","optimizer":"adam","clip":null,"regularizer":null,"valid":"extrapolate","restarts":1}}"#,
                    meta["model"]
                );
                fit["options"] = serde_json::from_str(&old_options).unwrap();
                meta.insert("fit".into(), fit.to_string());
            },
            true,
        );
        let back = from_bytes(&old, Path::new("m")).unwrap();
        let t = back.summary.options.training;
        assert_eq!((t.epochs, t.batch_size, t.lr), (2, 32, 0.001));
        assert_eq!(t.lr_schedule, crate::train::LrSchedule::Constant);
        assert_eq!(
            (t.warmup, t.reinit, t.recipe),
            (0, None, crate::recipe::Recipe::Paper)
        );
        assert_eq!(back.summary.options, m.summary.options);
    }

    #[test]
    fn every_training_setting_round_trips_and_defaults_stay_out_of_the_file() {
        let m = model("nmu");
        let (_, header) = SafeTensors::read_metadata(&to_bytes(&m).unwrap()).unwrap();
        let fit = &header.metadata().as_ref().unwrap()["fit"];
        // Defaults: the older settings written as before, the newer ones left out.
        assert!(
            fit.contains(r#""optimizer":"adam","clip":null,"regularizer":null"#),
            "{fit}"
        );
        for newer in ["reinit", "lr_schedule", "warmup", "recipe"] {
            assert!(!fit.contains(newer), "{newer} in {fit}");
        }
        let mut every = model("nmu");
        every.summary.options.training = Training {
            epochs: 2,
            optimizer: crate::optim::Optimizer::Rmsprop,
            clip: Some(0.25),
            regularizer: Some(crate::train::Schedule {
                lambda: 2.0,
                start: 1,
                end: 4,
                below: None,
            }),
            reinit: Some(crate::train::Plateau {
                patience: 3,
                above: 0.5,
            }),
            lr_schedule: crate::train::LrSchedule::Cosine,
            warmup: 6,
            recipe: crate::recipe::Recipe::LgRelativeCosine,
            ..Training::default()
        };
        let bytes = to_bytes(&every).unwrap();
        let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let fit = &header.metadata().as_ref().unwrap()["fit"];
        assert!(
            fit.contains(r#""reinit":{"patience":3,"above":0.5},"lr_schedule":"cosine","warmup":6,"recipe":"lg-relative-cosine""#),
            "{fit}"
        );
        let back = from_bytes(&bytes, Path::new("m")).unwrap();
        assert_eq!(back.summary, every.summary);
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let m = model("nmu");
        let good = to_bytes(&m).unwrap();
        // Truncated anywhere.
        for cut in [0, 7, 8, 20, good.len() / 2, good.len() - 1] {
            let e = refused(&good[..cut]);
            assert!(e.contains("truncated"), "{cut}: {e}");
        }
        // A flipped bit in the last tensor's data.
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 0x10;
        assert!(refused(&flipped).contains("corrupted"));
        // Not safetensors at all.
        assert!(refused(b"a,b,y\n1,2,3\n").contains("not a complete safetensors"));
        // Foreign: a safetensors file without our metadata.
        let data = [0u8; 8];
        let foreign = safetensors::serialize(
            [("w", TensorView::new(Dtype::F32, vec![2], &data).unwrap())],
            None,
        )
        .unwrap();
        assert!(refused(&foreign).contains("not one logexp wrote"));
        // Newer format.
        let newer = with_metadata(
            &m,
            |meta| {
                meta.insert("format_version".into(), "2".into());
            },
            true,
        );
        let e = refused(&newer);
        assert!(e.contains("format 2") && e.contains("upgrade"), "{e}");
        // Metadata edited without the checksum.
        let edited = with_metadata(
            &m,
            |meta| {
                meta.insert("target".into(), "z".into());
            },
            false,
        );
        assert!(refused(&edited).contains("corrupted"));
        // A spec whose tensors do not match: nmu's tensors under a dense spec.
        let mismatched = with_metadata(
            &m,
            |meta| {
                meta.insert(
                    "model".into(),
                    serde_json::to_string(&ModelSpec::preset("lg").unwrap()).unwrap(),
                );
            },
            true,
        );
        assert!(refused(&mismatched).contains("tensors"));
        // Same names, other widths: three features for a two-input file.
        let wider = with_metadata(
            &m,
            |meta| {
                meta.insert("features".into(), r#"["a","b","c"]"#.into());
            },
            true,
        );
        assert!(refused(&wider).contains("the model needs F32"));
        // The good file still loads.
        assert!(from_bytes(&good, Path::new("m")).is_ok());
    }

    #[test]
    fn a_spec_larger_than_the_file_is_refused_before_allocating() {
        let m = model("nmu");
        let huge = with_metadata(
            &m,
            |meta| {
                let names: Vec<String> = (0..200_000).map(|i| format!("f{i}")).collect();
                meta.insert("features".into(), serde_json::to_string(&names).unwrap());
                meta.insert(
                    "model".into(),
                    r#"{"model":"dense","pair":"symlog,symexp","hidden":[100000,100000]}"#.into(),
                );
            },
            true,
        );
        assert!(refused(&huge).contains("more than the file holds"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Any byte changed or any cut of a valid file is refused or loads; it never panics,
        /// and whatever loads has the original parameters (a changed byte is caught).
        #[test]
        fn damaged_files_never_panic(at in 0usize..100_000, value in 0u8..=255, cut in proptest::bool::ANY) {
            let m = model("nmu");
            let mut bytes = to_bytes(&m).unwrap();
            let at = at % bytes.len();
            if cut {
                bytes.truncate(at);
            } else {
                bytes[at] = value;
            }
            if let Ok(back) = from_bytes(&bytes, Path::new("m")) {
                proptest::prop_assert_eq!(back.params, m.params);
            }
        }
    }

    #[test]
    fn a_model_with_a_non_finite_parameter_is_refused_naming_its_tensor() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut m = model("nmu");
            let last = m.params.len() - 1;
            m.params[last] = bad;
            // A well-formed file with a valid checksum, as a hostile tool could write it.
            let bytes = to_bytes(&m).unwrap();
            let e = from_bytes(&bytes, Path::new("m.st")).unwrap_err();
            assert!(e.is_usage(), "{e}");
            let text = e.to_string();
            assert!(text.contains("not finite"), "{text}");
            let block = m.network.param_blocks().last().unwrap().name.clone();
            assert!(text.contains(&block), "{text} should name {block}");
        }
    }

    #[test]
    fn saving_is_atomic_and_leaves_no_temporary_file() {
        let dir = crate::test_dir::TempDir::new("modelfile");
        let path = dir.join("m.safetensors");
        std::fs::write(&path, b"old").unwrap();
        let m = model("nmu");
        save(&m, &path).unwrap();
        let back = load(&path).unwrap();
        assert_eq!(back.params, m.params);
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["m.safetensors"]);
        // A directory that does not exist: refused as the user's input, nothing created.
        let e = save(&m, &dir.join("no/such/m.safetensors")).unwrap_err();
        assert!(
            e.is_usage() && e.to_string().contains("does not exist"),
            "{e}"
        );
        assert!(!dir.join("no").exists());
    }
}
