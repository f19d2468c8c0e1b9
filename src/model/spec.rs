//! [`ModelSpec`]: which model a run trains, as recorded in its JSON line, and the presets that
//! name the peers' published architectures.
//!
//! | `model` | fields (defaults) | network |
//! | --- | --- | --- |
//! | `dense` | `pair` (`lg`), `hidden` (`16,12`) | [`super::Dense`]: one activation per hidden layer, linear output (the paper's model) |
//! | `units` | `units` (e.g. `nau,nmu`), `hidden` (2 per gap), `init` (`own`; or `inalu`: [`UnitInit`]) | [`super::Stack`] of unit layers, last one with one output |
//! | `loglinear` | none | [`super::loglinear::LogLinear`]: least squares of ln\|y\| on ln\|xᵢ\| |
//!
//! Presets, as the peers' papers build their models ([`ModelSpec::preset`]):
//!
//! | preset | units | hidden | source |
//! | --- | --- | --- | --- |
//! | `lg` | dense symlog,symexp | 16,12 | the paper |
//! | `loglinear` | y = s·exp(c + Σ wᵢ ln\|xᵢ\|), fitted in closed form, no training | — | the baseline |
//! | `nac` | `nac,nac` | 2 | Trask et al. 2018, as stable-nalu stacks it ("NAC+") |
//! | `nac-mul` | `nac,nac-mul` | 2 | Trask et al. 2018, as stable-nalu stacks it ("NAC•") |
//! | `nalu` | `nalu,nalu` | 2 | Trask et al. 2018, as stable-nalu stacks it |
//! | `nau` | `nau,nau` | 2 | Madsen & Johansen 2020 |
//! | `nmu` | `nau,nmu` | 2 | Madsen & Johansen 2020 (stable-nalu's "NMU") |
//! | `inalu` | `inalu,inalu` | 2 | Schlör et al. 2020, stacked as stable-nalu stacks NALU |
//! | `npu` | `npu,nau` | 6 | Heim et al. 2020 (NeuralPowerUnits' simple task: NPU(2,6) → NAU) |
//! | `real-npu` | `real-npu,nau` | 6 | Heim et al. 2020 |
//! | `product` | `product,nau` | 6 | Durbin & Rumelhart 1989: product units, then a summing unit |
//!
//! Unit layers can also be listed (`nau,nmu`, with `hidden`); a single layer is written
//! `units:nmu` (a bare kind name is its preset).
//!
//! The JSON of a dense model is exactly the schema-1 layout (`"model":"dense","pair":…,
//! "hidden":…`), so every paper run keeps its key and old results files resume.

use super::{Dense, Network, ShapeError, Stack, StackError, UnitInit, UnitKind};
use crate::activation::Activation;
use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The hidden-layer activations of a dense network, one per layer, written `A1,A2,…`.
/// `lg` is the paper's pair `symlog,symexp`.
///
/// ```
/// use logexp::experiment::Pair;
/// let lg: Pair = "lg".parse().unwrap();
/// assert_eq!(lg.to_string(), "symlog,symexp");
/// assert!(lg.is_lg());
/// assert!("relu,nope".parse::<Pair>().unwrap_err().to_string().contains("valid names"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Pair(pub Vec<Activation>);

impl Pair {
    /// The paper's proposed pair, symlog then symexp.
    pub fn lg() -> Pair {
        Pair(vec![Activation::Symlog, Activation::Symexp])
    }

    /// Whether this is the paper's pair.
    pub fn is_lg(&self) -> bool {
        *self == Pair::lg()
    }

    /// The 121 pairs of the 11 Keras activations, first activation major, in the paper's order.
    pub fn keras_grid() -> Vec<Pair> {
        let k = Activation::KERAS;
        k.iter()
            .flat_map(|&a| k.iter().map(move |&b| Pair(vec![a, b])))
            .collect()
    }

    /// The paper's 122 pairs: lg first, then the 121 Keras pairs.
    pub fn paper_grid() -> Vec<Pair> {
        std::iter::once(Pair::lg())
            .chain(Pair::keras_grid())
            .collect()
    }

    /// A short label: `lg` for the paper's pair, else `A1,A2`.
    pub fn label(&self) -> String {
        if self.is_lg() {
            "lg".to_string()
        } else {
            self.to_string()
        }
    }
}

impl fmt::Display for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|a| a.name()).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for Pair {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if s.trim().eq_ignore_ascii_case("lg") {
            return Ok(Pair::lg());
        }
        let acts = s
            .split(',')
            .map(|a| a.parse::<Activation>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Pair(acts))
    }
}

impl TryFrom<String> for Pair {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

impl From<Pair> for String {
    fn from(p: Pair) -> String {
        p.to_string()
    }
}

/// The unit layers of a [`ModelSpec::Units`] model, first to last, written `nau,nmu`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Units(pub Vec<UnitKind>);

impl fmt::Display for Units {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|k| k.name()).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for Units {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let kinds = s
            .split(',')
            .map(str::parse)
            .collect::<Result<Vec<UnitKind>, _>>()?;
        Ok(Units(kinds))
    }
}

impl TryFrom<String> for Units {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Units> for String {
    fn from(u: Units) -> String {
        u.to_string()
    }
}

/// Which model a run trains: one variant per family of networks, with its hyperparameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ModelSpec {
    /// Dense layers with one activation each and a linear output (the paper's network).
    Dense {
        /// One activation per hidden layer.
        pair: Pair,
        /// Hidden layer widths.
        hidden: Vec<usize>,
    },
    /// A chain of unit layers (NAU, NMU, …), the last with one output.
    Units {
        /// The layers, first to last.
        units: Units,
        /// Widths between layers: one fewer than `units`.
        hidden: Vec<usize>,
        /// How NAC+, NAC• and NALU layers draw their weights ([`UnitInit`]); left out of the
        /// JSON when it is the default, each unit's own paper.
        #[serde(default, skip_serializing_if = "is_own")]
        init: UnitInit,
    },
    /// The closed-form baseline: least squares of ln|y| on ln|xᵢ| and a constant
    /// ([`super::loglinear::LogLinear`]); no training.
    Loglinear,
}

fn is_own(init: &UnitInit) -> bool {
    *init == UnitInit::Own
}

/// A built network of any kind, ready to train.
#[derive(Debug)]
pub enum Model {
    /// A dense network.
    Dense(Dense),
    /// A chain of unit layers.
    Stack(Stack),
    /// The closed-form log-linear baseline.
    LogLinear(super::loglinear::LogLinear),
}

impl Model {
    /// Parameters of the network.
    pub fn n_params(&self) -> usize {
        match self {
            Model::Dense(n) => n.n_params(),
            Model::Stack(n) => n.n_params(),
            Model::LogLinear(n) => n.n_params(),
        }
    }

    /// Outputs of the network.
    pub fn n_outputs(&self) -> usize {
        match self {
            Model::Dense(n) => n.n_outputs(),
            Model::Stack(n) => n.n_outputs(),
            Model::LogLinear(n) => n.n_outputs(),
        }
    }

    /// Inputs of the network.
    pub fn n_inputs(&self) -> usize {
        match self {
            Model::Dense(n) => n.n_inputs(),
            Model::Stack(n) => n.n_inputs(),
            Model::LogLinear(n) => n.n_inputs(),
        }
    }

    /// The gate ranges of the network's flat parameter buffer ([`Network::gates`]).
    pub fn gates(&self) -> Vec<std::ops::Range<usize>> {
        match self {
            Model::Dense(n) => n.gates(),
            Model::Stack(n) => n.gates(),
            Model::LogLinear(n) => n.gates(),
        }
    }

    /// The named blocks of the network's flat parameter buffer.
    pub fn param_blocks(&self) -> Vec<super::ParamBlock> {
        match self {
            Model::Dense(n) => n.param_blocks(),
            Model::Stack(n) => n.param_blocks(),
            Model::LogLinear(n) => n.param_blocks(),
        }
    }
}

/// The preset names [`ModelSpec::preset`] knows, in the order help texts list them.
pub const PRESETS: [&str; 11] = [
    "lg",
    "loglinear",
    "nac",
    "nac-mul",
    "nalu",
    "nau",
    "nmu",
    "inalu",
    "npu",
    "real-npu",
    "product",
];

impl ModelSpec {
    /// The paper's network with activations `pair`: hidden 16,12.
    pub fn paper(pair: Pair) -> ModelSpec {
        ModelSpec::Dense {
            pair,
            hidden: vec![16, 12],
        }
    }

    /// A named architecture from a peer's paper (see the module's table), or `None`.
    pub fn preset(name: &str) -> Option<ModelSpec> {
        let units = |kinds: &[UnitKind], hidden: &[usize]| ModelSpec::Units {
            units: Units(kinds.to_vec()),
            hidden: hidden.to_vec(),
            init: UnitInit::Own,
        };
        use UnitKind::*;
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "lg" => ModelSpec::paper(Pair::lg()),
            "loglinear" => ModelSpec::Loglinear,
            "nac" => units(&[Nac, Nac], &[2]),
            "nac-mul" => units(&[Nac, NacMul], &[2]),
            "nalu" => units(&[Nalu, Nalu], &[2]),
            "nau" => units(&[Nau, Nau], &[2]),
            "nmu" => units(&[Nau, Nmu], &[2]),
            "inalu" => units(&[Inalu, Inalu], &[2]),
            "npu" => units(&[Npu, Nau], &[6]),
            "real-npu" => units(&[RealNpu, Nau], &[6]),
            "product" => units(&[Product, Nau], &[6]),
            _ => return None,
        })
    }

    /// A model as written by users: a preset name, `dense` (then `pair` and `hidden` apply,
    /// `hidden` defaulting to 16,12), or unit layers `nau,nmu` or `units:nmu` (with `hidden`,
    /// defaulting to 2 between every two layers). Errors name the field at fault: `model`, `pair` or `hidden`.
    pub fn parse(text: &str, pair: &Pair, hidden: Option<&[usize]>) -> Result<ModelSpec, Error> {
        let name = text.trim();
        if name.eq_ignore_ascii_case("dense") {
            return Ok(ModelSpec::Dense {
                pair: pair.clone(),
                hidden: hidden.map_or_else(|| vec![16, 12], <[usize]>::to_vec),
            });
        }
        if let Some(mut preset) = ModelSpec::preset(name) {
            if let Some(h) = hidden.filter(|h| !h.is_empty()) {
                match &mut preset {
                    ModelSpec::Dense { hidden, .. } | ModelSpec::Units { hidden, .. } => {
                        *hidden = h.to_vec()
                    }
                    ModelSpec::Loglinear => {
                        return Err(Error::InvalidSetting {
                            field: "hidden",
                            message: "loglinear has no hidden layers (it is one product of powers): leave --hidden out, or choose a model that has them (dense, or unit layers such as nau,nmu)".into(),
                        });
                    }
                }
            }
            return Ok(preset);
        }
        let list = match name.get(..6) {
            Some(prefix) if prefix.eq_ignore_ascii_case("units:") => &name[6..],
            _ => name,
        };
        let units: Units = list.parse().map_err(|e: String| Error::InvalidSetting {
            field: "model",
            message: format!(
                "{e}; or a preset ({}), or dense with its activations given as the pair",
                PRESETS.join(", ")
            ),
        })?;
        let gaps = units.0.len().saturating_sub(1);
        Ok(ModelSpec::Units {
            units,
            hidden: hidden.map_or_else(|| vec![2; gaps], <[usize]>::to_vec),
            init: UnitInit::Own,
        })
    }

    /// This model with its NAC+, NAC• and NALU layers drawn as `init` says; an error naming
    /// `unit-init` for a model without unit layers.
    ///
    /// ```
    /// use logexp::experiment::ModelSpec;
    /// use logexp::model::UnitInit;
    /// let nalu = ModelSpec::preset("nalu").unwrap().with_unit_init(UnitInit::Inalu).unwrap();
    /// assert_eq!(nalu.describe(), "nalu,nalu (init inalu)");
    /// assert!(ModelSpec::preset("lg").unwrap().with_unit_init(UnitInit::Inalu).is_err());
    /// ```
    pub fn with_unit_init(self, init: UnitInit) -> Result<ModelSpec, Error> {
        match self {
            ModelSpec::Units { units, hidden, .. } => Ok(ModelSpec::Units {
                units,
                hidden,
                init,
            }),
            other => Err(Error::InvalidSetting {
                field: "unit-init",
                message: format!(
                    "applies to unit models (nac, nalu, nau,nmu, …), not {}: drop it or \
                     choose a unit model",
                    other.describe()
                ),
            }),
        }
    }

    /// The family's name as records write it: `dense` or `units`.
    pub fn kind(&self) -> &'static str {
        match self {
            ModelSpec::Dense { .. } => "dense",
            ModelSpec::Units { .. } => "units",
            ModelSpec::Loglinear => "loglinear",
        }
    }

    /// Hidden widths of the model.
    pub fn hidden(&self) -> &[usize] {
        match self {
            ModelSpec::Dense { hidden, .. } | ModelSpec::Units { hidden, .. } => hidden,
            ModelSpec::Loglinear => &[],
        }
    }

    /// The activation pair of a dense model.
    pub fn pair(&self) -> Option<&Pair> {
        match self {
            ModelSpec::Dense { pair, .. } => Some(pair),
            ModelSpec::Units { .. } | ModelSpec::Loglinear => None,
        }
    }

    /// A short label that [`ModelSpec::parse`] reads back (with the same `hidden`): `lg` or
    /// `A1,A2` for dense models, the unit layers otherwise (`nau,nmu`, `units:nmu`).
    pub fn label(&self) -> String {
        match self {
            ModelSpec::Dense { pair, .. } => pair.label(),
            ModelSpec::Units { units, .. } if units.0.len() == 1 => format!("units:{units}"),
            ModelSpec::Units { units, .. } => units.to_string(),
            ModelSpec::Loglinear => "loglinear".to_string(),
        }
    }

    /// The label, with the hidden widths when they are not the family's default (16,12 for
    /// dense networks, a preset's own for unit layers): `nau,nmu`, `nau,nmu (hidden 3)`.
    pub fn describe(&self) -> String {
        let label = self.label();
        let default = match self {
            ModelSpec::Dense { .. } => Some(vec![16, 12]),
            ModelSpec::Units { .. } => PRESETS
                .iter()
                .filter_map(|p| ModelSpec::preset(p))
                .find(|p| p.label() == label)
                .map(|p| p.hidden().to_vec()),
            ModelSpec::Loglinear => None,
        };
        let mut notes = Vec::new();
        if default.as_deref() != Some(self.hidden()) && !self.hidden().is_empty() {
            let widths: Vec<String> = self.hidden().iter().map(|h| h.to_string()).collect();
            notes.push(format!("hidden {}", widths.join(",")));
        }
        if let ModelSpec::Units { init, .. } = self
            && *init != UnitInit::Own
        {
            notes.push(format!("init {}", init.name()));
        }
        if notes.is_empty() {
            label
        } else {
            format!("{label} ({})", notes.join(", "))
        }
    }

    /// Builds the network for `n_inputs` inputs; errors name the field at fault.
    pub fn build(&self, n_inputs: usize) -> Result<Model, Error> {
        self.build_with_outputs(n_inputs, 1)
    }

    /// Like [`ModelSpec::build`], with `n_outputs` outputs (a target of several expressions
    /// trained jointly). The closed-form `loglinear` fit has one output only.
    pub fn build_with_outputs(&self, n_inputs: usize, n_outputs: usize) -> Result<Model, Error> {
        match self {
            ModelSpec::Dense { pair, hidden } => {
                Dense::with_outputs(n_inputs, hidden, &pair.0, n_outputs)
                    .map(Model::Dense)
                    .map_err(|e| {
                        let field = match e {
                            ShapeError::ActivationCount { .. } => "pair",
                            _ => "hidden",
                        };
                        Error::InvalidSetting {
                            field,
                            message: e.to_string(),
                        }
                    })
            }
            ModelSpec::Units {
                units,
                hidden,
                init,
            } => Stack::with_outputs(n_inputs, &units.0, hidden, *init, n_outputs)
                .map(Model::Stack)
                .map_err(|e| Error::InvalidSetting {
                    field: match e {
                        StackError::NoLayers => "model",
                        _ => "hidden",
                    },
                    message: e.to_string(),
                }),
            ModelSpec::Loglinear if n_outputs > 1 => Err(Error::InvalidSetting {
                field: "model",
                message: format!(
                    "loglinear fits one output, but the function has {n_outputs} (separated by ';'): fit each output on its own, or choose a network (e.g. --model dense)"
                ),
            }),
            ModelSpec::Loglinear => {
                Ok(Model::LogLinear(super::loglinear::LogLinear::new(n_inputs)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_widths_are_refused_for_loglinear_not_ignored() {
        let e = ModelSpec::parse("loglinear", &Pair::lg(), Some(&[5])).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid --hidden: loglinear has no hidden layers"),
            "{e}"
        );
        assert_eq!(
            ModelSpec::parse("loglinear", &Pair::lg(), None).unwrap(),
            ModelSpec::Loglinear
        );
    }

    #[test]
    fn a_dense_model_serialises_as_schema_one_did() {
        // Schema 1 wrote these three fields in this order; paper keys depend on it.
        let json = serde_json::to_string(&ModelSpec::paper(Pair::lg())).unwrap();
        assert_eq!(
            json,
            r#"{"model":"dense","pair":"symlog,symexp","hidden":[16,12]}"#
        );
        let units = ModelSpec::preset("nau").unwrap();
        let json = serde_json::to_string(&units).unwrap();
        assert_eq!(json, r#"{"model":"units","units":"nau,nau","hidden":[2]}"#);
        assert_eq!(serde_json::from_str::<ModelSpec>(&json).unwrap(), units);
    }

    #[test]
    fn every_preset_builds_and_its_label_reads_back() {
        let lg = Pair::lg();
        for name in PRESETS {
            let model = ModelSpec::preset(name).unwrap();
            let net = model.build(3).unwrap();
            assert!(net.n_params() > 0, "{name}");
            let again = ModelSpec::parse(&model.label(), &lg, Some(model.hidden())).unwrap();
            assert_eq!(again, model, "{name}");
        }
        assert_eq!(ModelSpec::preset("npu").unwrap().label(), "npu,nau");
        assert_eq!(ModelSpec::preset("npu").unwrap().describe(), "npu,nau");
        let wide = ModelSpec::parse("nmu", &lg, Some(&[3])).unwrap();
        assert_eq!(wide.describe(), "nau,nmu (hidden 3)");
        let dense = ModelSpec::parse("dense", &lg, Some(&[10, 10])).unwrap();
        assert_eq!(dense.describe(), "lg (hidden 10,10)");
    }

    #[test]
    fn models_parse_from_presets_dense_and_unit_lists() {
        let lg = Pair::lg();
        assert_eq!(
            ModelSpec::parse("dense", &"relu,linear".parse().unwrap(), None).unwrap(),
            ModelSpec::paper("relu,linear".parse().unwrap())
        );
        assert_eq!(
            ModelSpec::parse("NAU", &lg, None).unwrap().label(),
            "nau,nau"
        );
        assert_eq!(
            ModelSpec::parse("nau,nau,nau", &lg, None).unwrap().hidden(),
            [2, 2]
        );
        let single = ModelSpec::parse("units:nmu", &lg, None).unwrap();
        assert_eq!(single.hidden(), [] as [usize; 0]);
        assert_eq!(single.label(), "units:nmu");
        assert_eq!(
            ModelSpec::parse(&single.label(), &lg, None).unwrap(),
            single
        );
        assert_eq!(
            ModelSpec::parse("nau", &lg, Some(&[5])).unwrap().hidden(),
            [5]
        );
        let err = ModelSpec::parse("nau,bogus", &lg, None).unwrap_err();
        assert!(err.to_string().contains("--model"), "{err}");
        assert!(err.to_string().contains("valid names"), "{err}");
        let err = ModelSpec::parse("nau,nau", &lg, Some(&[]))
            .unwrap()
            .build(2)
            .unwrap_err();
        assert!(err.to_string().contains("--hidden"), "{err}");
    }
}
