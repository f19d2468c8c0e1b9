//! The relation a unit model learned, read out of its weights as a formula over the feature
//! names ([`explain`]): `y ≈ 0.1003 · a^1.000 · b^-0.999`.
//!
//! Every unit layer whose units are sums or products of powers is turned into a *sum of
//! monomials* `Σ_k c_k · Π_i x_i^{e_ki}` over the inputs, layer by layer:
//!
//! | layer | unit `j` | read out as |
//! | --- | --- | --- |
//! | NAU | `Σ_i W_ji h_i`, W clamped to [−1, 1] | a weighted sum |
//! | NAC+ | `Σ_i W_ji h_i`, `W = tanh(Ŵ) σ(M̂)` | a weighted sum |
//! | NMU | `Π_i (W_ji h_i + 1 − W_ji)`, W clamped to [0, 1] | the expanded product |
//! | product unit | `Π_i h_i^{W_ji}` | powers of monomials |
//! | NAC• | `exp(Σ_i W_ji ln(|h_i| + ε))` | powers of monomials |
//! | RealNPU | `Π_i r_i^{W_ji}`, `r_i = ĝ_i h_i + 1 − ĝ_i` | gates snapped to 0 or 1, then powers |
//! | NPU | as RealNPU with `W_im` | `W_im` taken as 0 (its largest value is noted) |
//! | linear | `Σ_i W_ji h_i + b_j` | a weighted sum and a constant |
//! | NALU | `g a + (1 − g) exp(Σ_i W_ji ln(|h_i| + ε))`, `g = σ(G_j h)` | where the gate's mean over the training rows is at most [`GATE_TOLERANCE`] (0.01): `(1 − ḡ)` times powers of monomials |
//! | iNALU | `g a + (1 − g) m s`, `m = exp(min(Σ_i W_m,ji ln max(|h_i|, 10⁻⁷), 20))`, `g = σ(G_j)` | where `g` is at most 0.01: `(1 − g)` times powers of monomials |
//!
//! A power of a sum is not a monomial, so a product layer after a layer that mixes inputs
//! (e.g. NAU → product unit) is explained only where every mixed input is a single term. A NALU
//! or iNALU unit whose gate does not select the multiplicative path (a mixture of a sum and a
//! product, or the additive path alone) is not explained, and the reason gives its gate; nor
//! are dense networks other than lg. For NALU and iNALU the additive path is dropped, and so
//! are iNALU's sign recovery (1 for positive inputs) and its exponent clip at 20.
//!
//! ## lg networks
//!
//! The paper's network `y = W₃ symexp(W₂ symlog(W₁ x + b₁) + b₂) + b₃` is read out exactly
//! where the signs of the hidden units' inputs are the same on every row. A unit whose input
//! changes sign is read with its sign on most rows (a note names it and counts the other
//! rows); the formula is then approximate near the crossing, its measured error shows by how
//! much, and pruning keeps within the tolerance of that error where it exceeds the network's.
//! Where a factor's base turns negative on some row, the network is written out as it is,
//! `b₃ + Σ_k w₃ₖ symexp(b₂ₖ + Σ_j w₂ₖⱼ symlog(a_j))` (expressions accept `symlog(…)` and
//! `symexp(…)`), with whole units replaced by their means over the training rows while the
//! error stays within tolerance; a note names the units that forced it. A unit nothing reads (outgoing weights 0) may change sign freely.
//! Read out: with `a_j = W₁ⱼ x + b₁ⱼ` of sign `s_j` and `u_k` of
//! sign `σ_k`, `symexp(u_k) = σ_k (e^{σ_k b₂ₖ} Π_j (1 + s_j a_j)^{σ_k s_j W₂ₖⱼ} − 1)`: each symexp
//! unit is a product of powers of affine terms. Whole units are then replaced by their mean
//! over the training rows (least varying first), and single factors by their geometric mean,
//! while the formula's % error stays within the tolerance of the network's own. Nothing is
//! rounded. An lg network trained with scaling (`--scale`, or a recipe's target and input
//! scale) is read out with its powers of two folded into the first and last layers, which is
//! exact. Networks trained with the recipes mostly use units whose inputs change sign on the
//! data, and are then written out with `symlog` and `symexp`.
//!
//! With [`crate::fit::Scaling`], the terms are mapped back to the table's units (only the
//! constants change). The read-out assumes positive inputs (`|x|`, the ε guards and the sign phases of product
//! units and NPUs are dropped); its error on the rows is measured, so where that assumption
//! fails the error shows it.
//!
//! ## Simplification and its tolerance
//!
//! The *reference error* is the network's own mean % error on the validation rows (the
//! training rows without validation). Terms are dropped, smallest mean magnitude on the
//! training rows first, while the formula's % error on those rows stays within the tolerance:
//! at most `max(1.1 × reference, reference + 0.1)` percent ([`within_tolerance`]). Then every
//! exponent within [`ROUND_DISTANCE`] of a simple rational `p/q` (`q ≤ 4`) is rounded to it,
//! equal monomials are merged and the constants refitted by least squares on the training rows'
//! relative errors; the rounded formula is kept when its % error is within the same tolerance
//! of the unrounded formula's.
//!
//! Each formula is printed for people (feature names, `·`) and as an expression that
//! [`crate::expr::Expr::parse`] reads back, over `x1..xn` in the model's feature order; the
//! errors shown are those of that parsed expression.

use crate::data::Dataset;
use crate::expr::{Expr, Func};
use crate::fit::{FittedModel, Scaling};
use crate::metrics::Scores;
use crate::model::UnitKind;
use crate::model::spec::{Model, ModelSpec};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A column name as formulas show it: a line break, tab or other control character in it (a
/// CSV header may quote one) written as its code point, so a name never splits a formula's
/// line or reaches the terminal raw.
fn shown_name(name: &str) -> String {
    crate::report::printable(name, usize::MAX)
}

/// Largest distance of an exponent from a simple rational for it to be rounded to it.
pub const ROUND_DISTANCE: f64 = 0.05;

/// Largest gate of a NALU or iNALU unit (the mean over the training rows for the NALU, whose
/// gate depends on the inputs) for which it is read out as its multiplicative path alone.
pub const GATE_TOLERANCE: f64 = 0.01;

/// Most hidden units of an lg network read out as a formula.
pub const MAX_LG_UNITS: usize = 128;

/// Most (hidden units)² × rows for an lg read-out: its pruning takes about 10 s there on one
/// core.
pub const MAX_LG_WORK: f64 = 2e8;

/// Most terms an expansion may reach before the model is declared too tangled to read out.
pub const MAX_TERMS: usize = 256;

/// One term `coef · Π_i x_i^{exps[i]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Term {
    /// The constant.
    pub coef: f64,
    /// One exponent per feature.
    pub exps: Vec<f64>,
}

/// A formula and how well it fits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Formula {
    /// Its terms, when it is a sum of monomials of the inputs (empty for an lg network's
    /// formula, whose factors are powers of affine terms).
    #[serde(default)]
    pub terms: Vec<Term>,
    /// For people, over the feature names: `y ≈ 0.5 · a^2 · b^-1`.
    pub text: String,
    /// For [`Expr::parse`], over `x1..xn` in feature order: `0.5*x1^2*x2^-1`.
    pub expression: String,
    /// Its errors on the training rows.
    pub train: Scores,
    /// Its errors on the validation rows (`None` without validation).
    pub valid: Option<Scores>,
}

/// What [`explain`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The feature names, `x1` first.
    pub features: Vec<String>,
    /// The target's name.
    pub target: String,
    /// The network's relation, pruned within the tolerance.
    pub formula: Formula,
    /// The same with exponents rounded to simple rationals, when that stays within the
    /// tolerance.
    pub rounded: Option<Formula>,
    /// The network's own errors on the training and validation rows, for comparison.
    pub network_train: Scores,
    /// See `network_train`.
    pub network_valid: Option<Scores>,
    /// Approximations made while reading the weights (snapped gates, ignored weights).
    pub notes: Vec<String>,
}

impl Explanation {
    /// A few lines for people: each formula with its errors beside the network's, then the
    /// parser's spelling and the variable names.
    pub fn text(&self) -> String {
        let show = |s: &Scores| {
            let f = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.4}"));
            format!("MAE {}  % error {}", f(s.mae), f(s.pct_err))
        };
        let errors = |train: &Scores, valid: &Option<Scores>| {
            let mut s = format!("train {}", show(train));
            if let Some(v) = valid {
                s += &format!(";  validation {}", show(v));
            }
            s
        };
        let mut out = String::new();
        out += &format!(
            "network: {}\n",
            errors(&self.network_train, &self.network_valid)
        );
        out += &format!(
            "{}\n    {}\n",
            self.formula.text,
            errors(&self.formula.train, &self.formula.valid)
        );
        if let Some(r) = &self.rounded {
            out += &format!("{}\n    {}\n", r.text, errors(&r.train, &r.valid));
        }
        let best = self.rounded.as_ref().unwrap_or(&self.formula);
        let vars: Vec<String> = self
            .features
            .iter()
            .enumerate()
            .map(|(i, f)| format!("x{} = {}", i + 1, shown_name(f)))
            .collect();
        out += &format!("expression: {}   ({})\n", best.expression, vars.join(", "));
        for note in &self.notes {
            out += &format!("note: {note}\n");
        }
        out
    }
}

/// A sum of terms.
type Poly = Vec<Term>;

fn monomial(coef: f64, exps: Vec<f64>) -> Poly {
    vec![Term { coef, exps }]
}

fn constant(c: f64, n: usize) -> Poly {
    monomial(c, vec![0.0; n])
}

/// Merges terms with identical exponents and drops zero constants, keeping the order of first
/// appearance. Terms are found through a hash of their exponents, so a sum of many wide terms
/// costs time linear in its size, not quadratic.
fn tidy(mut p: Poly) -> Poly {
    let mut out: Poly = Vec::with_capacity(p.len());
    let mut seen: HashMap<Vec<u64>, usize> = HashMap::with_capacity(p.len());
    for t in p.drain(..) {
        // `==` on exponents: -0 equals 0 (so `+ 0.0`), and a NaN equals nothing.
        if t.exps.iter().any(|e| e.is_nan()) {
            out.push(t);
            continue;
        }
        let key: Vec<u64> = t.exps.iter().map(|e| (e + 0.0).to_bits()).collect();
        match seen.get(&key) {
            Some(&at) => out[at].coef += t.coef,
            None => {
                seen.insert(key, out.len());
                out.push(t);
            }
        }
    }
    out.retain(|t| t.coef != 0.0);
    out
}

fn add_scaled(acc: &mut Poly, p: &Poly, w: f64) {
    acc.extend(p.iter().map(|t| Term {
        coef: w * t.coef,
        exps: t.exps.clone(),
    }));
}

fn multiply(a: &Poly, b: &Poly) -> Result<Poly, String> {
    if a.len() * b.len() > MAX_TERMS {
        return Err(format!("the expanded products exceed {MAX_TERMS} terms"));
    }
    let mut out = Vec::with_capacity(a.len() * b.len());
    for s in a {
        for t in b {
            out.push(Term {
                coef: s.coef * t.coef,
                exps: s.exps.iter().zip(&t.exps).map(|(x, y)| x + y).collect(),
            });
        }
    }
    Ok(tidy(out))
}

/// `p^w` for a monomial `p` (positive constant, or an integer power).
fn power(p: &Poly, w: f64, n: usize) -> Result<Poly, String> {
    if w == 0.0 {
        return Ok(constant(1.0, n));
    }
    match p.as_slice() {
        [] => Ok(constant(0.0, n)),
        [t] if t.coef > 0.0 || w.fract() == 0.0 => Ok(monomial(
            t.coef.powf(w),
            t.exps.iter().map(|e| e * w).collect(),
        )),
        [_] => Err("a negative constant raised to a fractional power".into()),
        _ => Err("a sum raised to a power (a product unit after a layer that mixes inputs) is not a product of powers".into()),
    }
}

/// Reads the network of `model` as a sum of monomials, with notes on approximations.
/// `data` and `train` give the training rows on which a NALU's input-dependent gate is
/// averaged.
fn read_out(
    model: &FittedModel,
    data: &Dataset,
    train: &[usize],
) -> Result<(Poly, Vec<String>), String> {
    if model.params.iter().any(|p| !p.is_finite()) {
        return Err("a parameter is not finite (the training diverged)".into());
    }
    if let Model::LogLinear(_) = &model.network {
        // s · exp(c + Σ wᵢ ln|xᵢ|) is already one monomial (for inputs of one sign).
        let n = model.features.len();
        let p = &model.params;
        let exps: Vec<f64> = p[..n].iter().map(|&w| f64::from(w)).collect();
        let coef = f64::from(p[n + 1]) * f64::from(p[n]).exp();
        return Ok((monomial(coef, exps), Vec::new()));
    }
    let (ModelSpec::Units { units, .. }, Model::Stack(_)) = (&model.spec, &model.network) else {
        return Err(
            "dense networks other than lg (symlog,symexp) are not explained: only lg, unit models (NAU, NMU, product units, NPU, NAC, NALU and iNALU on their multiplicative path, linear) and loglinear".into(),
        );
    };
    let n = model.features.len();
    // Every term holds an exponent per feature, and a summing layer makes a term per input,
    // so a wide table would take memory and time in the square of its width.
    if n > MAX_TERMS {
        return Err(format!(
            "the model has {n} input features; formulas of unit models are read out for at most {MAX_TERMS} (fit on fewer columns with --features, or use loglinear)"
        ));
    }
    // A layer's sums hold up to (its units) × (terms per input) terms of n exponents each.
    if let Some(&widest) = model.spec.hidden().iter().max()
        && widest > MAX_TERMS
    {
        return Err(format!(
            "a hidden layer has {widest} units; formulas of unit models are read out for at most {MAX_TERMS} per layer"
        ));
    }
    let blocks: HashMap<String, (usize, Vec<usize>)> = model
        .network
        .param_blocks()
        .into_iter()
        .map(|b| (b.name, (b.offset, b.shape)))
        .collect();
    let block = |l: usize, name: &str| -> Result<(&[f32], usize, usize), String> {
        let (offset, shape) = blocks
            .get(&format!("layer{l}.{name}"))
            .ok_or_else(|| format!("layer {l} has no block {name}"))?;
        let len: usize = shape.iter().product();
        let (rows, cols) = match shape.as_slice() {
            [r, c] => (*r, *c),
            [c] => (1, *c),
            _ => return Err(format!("layer {l}: unexpected shape of {name}")),
        };
        Ok((&model.params[*offset..*offset + len], rows, cols))
    };
    // The training rows as the network sees them (scaled), for the NALU's gate.
    let seen: Vec<Vec<f32>> = train
        .iter()
        .map(|&r| match &model.scaling {
            Some(s) => data
                .row(r)
                .iter()
                .zip(&s.inputs_log2)
                .map(|(&x, &k)| x * (-k as f32).exp2())
                .collect(),
            None => data.row(r).to_vec(),
        })
        .collect();
    let mut notes = Vec::new();
    let mut h: Vec<Poly> = (0..n)
        .map(|i| {
            let mut e = vec![0.0; n];
            e[i] = 1.0;
            monomial(1.0, e)
        })
        .collect();
    for (l, &kind) in units.0.iter().enumerate() {
        let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
        let weights = |name: &str| -> Result<(Vec<f64>, usize, usize), String> {
            let (w, r, c) = block(l, name)?;
            Ok((w.iter().map(|&v| f64::from(v)).collect(), r, c))
        };
        let nac_weight = || -> Result<(Vec<f64>, usize, usize), String> {
            let (w_hat, r, c) = weights("w_hat")?;
            let (m_hat, _, _) = weights("m_hat")?;
            let w = w_hat
                .iter()
                .zip(&m_hat)
                .map(|(&a, &b)| a.tanh() * sigmoid(b))
                .collect();
            Ok((w, r, c))
        };
        let next: Vec<Poly> = match kind {
            UnitKind::Nau | UnitKind::Nac => {
                let (w, r, c) = if kind == UnitKind::Nau {
                    let (w, r, c) = weights("weight")?;
                    (w.iter().map(|v| v.clamp(-1.0, 1.0)).collect(), r, c)
                } else {
                    nac_weight()?
                };
                (0..r)
                    .map(|j| {
                        let mut acc = Vec::new();
                        for i in 0..c {
                            add_scaled(&mut acc, &h[i], w[j * c + i]);
                        }
                        tidy(acc)
                    })
                    .collect()
            }
            UnitKind::Nmu => {
                let (w, r, c) = weights("weight")?;
                (0..r)
                    .map(|j| {
                        let mut acc = constant(1.0, n);
                        for i in 0..c {
                            let wi = w[j * c + i].clamp(0.0, 1.0);
                            let mut factor = Vec::new();
                            add_scaled(&mut factor, &h[i], wi);
                            factor.extend(constant(1.0 - wi, n));
                            acc = multiply(&acc, &tidy(factor))?;
                        }
                        Ok(acc)
                    })
                    .collect::<Result<_, String>>()?
            }
            UnitKind::Product | UnitKind::NacMul | UnitKind::RealNpu | UnitKind::Npu => {
                let (w, r, c) = match kind {
                    UnitKind::Product => weights("weight")?,
                    UnitKind::NacMul => nac_weight()?,
                    _ => weights("weight_re")?,
                };
                let mut inputs = h.clone();
                if matches!(kind, UnitKind::RealNpu | UnitKind::Npu) {
                    let (g, _, _) = weights("gate")?;
                    for (i, input) in inputs.iter_mut().enumerate() {
                        let gate = g[i].clamp(0.0, 1.0);
                        if gate < 0.5 {
                            *input = constant(1.0, n);
                        }
                        let snapped = if gate < 0.5 { 0.0 } else { 1.0 };
                        if (gate - snapped).abs() > 0.01 {
                            notes.push(format!(
                                "layer {l}: gate {} of {gate:.3} read as {snapped}",
                                i + 1
                            ));
                        }
                    }
                    if kind == UnitKind::Npu {
                        let (im, _, _) = weights("weight_im")?;
                        let largest = im.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                        if largest > 0.01 {
                            notes.push(format!(
                                "layer {l}: imaginary weights (largest |W_im| = {largest:.3}) read as 0"
                            ));
                        }
                    }
                }
                (0..r)
                    .map(|j| {
                        let mut acc = constant(1.0, n);
                        for i in 0..c {
                            acc = multiply(&acc, &power(&inputs[i], w[j * c + i], n)?)?;
                        }
                        Ok(acc)
                    })
                    .collect::<Result<_, String>>()?
            }
            UnitKind::Linear => {
                let (w, r, c) = weights("weight")?;
                let (b, _, _) = weights("bias")?;
                (0..r)
                    .map(|j| {
                        let mut acc = constant(b[j], n);
                        for i in 0..c {
                            add_scaled(&mut acc, &h[i], w[j * c + i]);
                        }
                        tidy(acc)
                    })
                    .collect()
            }
            UnitKind::Nalu | UnitKind::Inalu => {
                // y = g·a + (1 − g)·m: read out only where the gate selects the product m.
                let (w, r, c) = if kind == UnitKind::Nalu {
                    nac_weight()?
                } else {
                    let (w_hat, r, c) = weights("w_hat_m")?;
                    let (m_hat, _, _) = weights("m_hat_m")?;
                    let w = w_hat
                        .iter()
                        .zip(&m_hat)
                        .map(|(&a, &b)| a.tanh() * sigmoid(b))
                        .collect();
                    (w, r, c)
                };
                let (g, _, _) = weights("g")?;
                (0..r)
                    .map(|j| {
                        let gate = if kind == UnitKind::Nalu {
                            // σ(G_j · h) on each training row, h from the layers below.
                            let total: f64 = seen
                                .iter()
                                .map(|x| {
                                    let z: f64 = (0..c)
                                        .map(|i| g[j * c + i] * eval_terms(&h[i], x))
                                        .sum();
                                    sigmoid(z)
                                })
                                .sum();
                            total / seen.len().max(1) as f64
                        } else {
                            sigmoid(g[j])
                        };
                        if gate.is_nan() || gate > GATE_TOLERANCE {
                            let path = if gate >= 1.0 - GATE_TOLERANCE {
                                "selects the additive path"
                            } else {
                                "mixes the additive and the multiplicative paths"
                            };
                            return Err(format!(
                                "layer {l} ({}) unit {} is not read out: its gate {path} (gate {gate:.4}{}); only a unit whose gate is at most {GATE_TOLERANCE}, the product alone, is read out yet",
                                kind.name(),
                                j + 1,
                                if kind == UnitKind::Nalu {
                                    ", mean over the training rows"
                                } else {
                                    ""
                                },
                            ));
                        }
                        notes.push(format!(
                            "layer {l} ({}) unit {}: gate {gate:.2e} read as 0 (the additive path dropped, the product scaled by 1 − gate)",
                            kind.name(),
                            j + 1
                        ));
                        let mut acc = constant(1.0 - gate, n);
                        for i in 0..c {
                            acc = multiply(&acc, &power(&h[i], w[j * c + i], n)?)?;
                        }
                        Ok(acc)
                    })
                    .collect::<Result<_, String>>()?
            }
        };
        h = next;
    }
    let [mut out] = <[Poly; 1]>::try_from(h).map_err(|_| "the model has more than one output")?;
    // Back to the table's units: c · Π (x_i 2^−k_i)^e_i · 2^k_y.
    if let Some(s) = &model.scaling {
        for t in &mut out {
            let shift: f64 = t
                .exps
                .iter()
                .zip(&s.inputs_log2)
                .map(|(e, &k)| e * f64::from(k))
                .sum();
            t.coef *= (f64::from(s.target_log2) - shift).exp2();
        }
    }
    Ok((out, notes))
}

/// Whether a % error `err` is within the tolerance of the reference `reference`:
/// `err ≤ max(1.1 × reference, reference + 0.1)`.
pub fn within_tolerance(err: Option<f64>, reference: Option<f64>) -> bool {
    match (err, reference) {
        (Some(e), Some(r)) => e <= (1.1 * r).max(r + 0.1),
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// Errors of the f64 values `pred` against the rows' targets.
fn scores(pred: &[f64], data: &Dataset, rows: &[usize]) -> Scores {
    let (mut abs, mut pct) = (0.0, 0.0);
    for (&p, &r) in pred.iter().zip(rows) {
        let y = data.target(r);
        abs += (p - y).abs();
        pct += (p - y).abs() / y.abs();
    }
    let n = rows.len() as f64;
    let finite = |v: f64| v.is_finite().then_some(v);
    Scores {
        mae: finite(abs / n),
        pct_err: finite(100.0 * pct / n),
    }
}

fn eval_terms(terms: &[Term], x: &[f32]) -> f64 {
    terms
        .iter()
        .map(|t| {
            t.coef
                * t.exps
                    .iter()
                    .zip(x)
                    .filter(|(e, _)| **e != 0.0)
                    .map(|(e, &v)| f64::from(v).powf(*e))
                    .product::<f64>()
        })
        .sum()
}

fn terms_scores(terms: &[Term], data: &Dataset, rows: &[usize]) -> Scores {
    let pred: Vec<f64> = rows
        .iter()
        .map(|&r| eval_terms(terms, data.row(r)))
        .collect();
    scores(&pred, data, rows)
}

/// A number with 4 significant digits, as the parser reads it.
fn number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    // The magnitude after rounding to 4 significant digits (0.099996 prints as 0.1000).
    let rounded: f64 = format!("{v:.3e}").parse().unwrap_or(v);
    let magnitude = rounded.abs().log10().floor() as i32;
    if (-4..=6).contains(&magnitude) {
        let decimals = (3 - magnitude).max(0) as usize;
        format!("{v:.decimals$}")
    } else {
        format!("{v:.3e}")
    }
}

/// An exponent: a simple rational `p/q` as such, others with 3 decimals.
fn exponent(e: f64, rational: bool) -> (String, String) {
    if rational {
        for q in 1..=4i64 {
            let p = (e * q as f64).round();
            if (p / q as f64 - e).abs() < 1e-9 {
                return if q == 1 {
                    (format!("{p}"), format!("{p}"))
                } else {
                    (format!("({p}/{q})"), format!("({p}/{q})"))
                };
            }
        }
    }
    let text = format!("{e:.3}");
    (text.clone(), text)
}

/// Prints `terms` for people and for the parser, and scores the parsed expression.
fn make_formula(
    terms: Vec<Term>,
    rational: bool,
    features: &[String],
    target: &str,
    data: &Dataset,
    train: &[usize],
    valid: &[usize],
) -> Result<Formula, String> {
    let mut text = String::new();
    let mut expr = String::new();
    for (k, t) in terms.iter().enumerate() {
        let c = number(t.coef.abs());
        let sign = if t.coef < 0.0 { "-" } else { "+" };
        if k == 0 {
            if t.coef < 0.0 {
                text.push('-');
                expr.push('-');
            }
        } else {
            text += &format!(" {sign} ");
            expr += sign;
        }
        text += &c;
        expr += &c;
        for (i, &e) in t.exps.iter().enumerate() {
            if e == 0.0 {
                continue;
            }
            let (human, parsed) = exponent(e, rational);
            if rational && e == 1.0 {
                text += &format!(" · {}", shown_name(&features[i]));
                expr += &format!("*x{}", i + 1);
            } else {
                text += &format!(" · {}^{human}", shown_name(&features[i]));
                expr += &format!("*x{}^{parsed}", i + 1);
            }
        }
    }
    if terms.is_empty() {
        text.push('0');
        expr.push('0');
    }
    let parsed =
        Expr::parse(&expr).map_err(|e| format!("internal: '{expr}' does not parse: {e}"))?;
    let eval_rows = |rows: &[usize]| {
        let mut x = vec![0.0f64; features.len()];
        let pred: Vec<f64> = rows
            .iter()
            .map(|&r| {
                for (xi, &v) in x.iter_mut().zip(data.row(r)) {
                    *xi = f64::from(v);
                }
                parsed.eval(&x)
            })
            .collect();
        scores(&pred, data, rows)
    };
    Ok(Formula {
        train: eval_rows(train),
        valid: (!valid.is_empty()).then(|| eval_rows(valid)),
        text: format!("{} ≈ {text}", shown_name(target)),
        expression: expr,
        terms,
    })
}

/// Refits the constants of `terms` (exponents fixed) by least squares on the relative errors
/// of `rows`; `None` if the system is singular.
fn refit(terms: &[Term], data: &Dataset, rows: &[usize]) -> Option<Vec<f64>> {
    let k = terms.len();
    let mut a = vec![vec![0.0f64; k + 1]; k];
    for &r in rows {
        let y = data.target(r);
        if y == 0.0 {
            continue;
        }
        let m: Vec<f64> = terms
            .iter()
            .map(|t| {
                eval_terms(
                    &[Term {
                        coef: 1.0,
                        exps: t.exps.clone(),
                    }],
                    data.row(r),
                ) / y
            })
            .collect();
        if m.iter().any(|v| !v.is_finite()) {
            return None;
        }
        for i in 0..k {
            for j in 0..k {
                a[i][j] += m[i] * m[j];
            }
            a[i][k] += m[i];
        }
    }
    // Gaussian elimination with partial pivoting.
    for col in 0..k {
        let pivot = (col..k).max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))?;
        if a[pivot][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        let pivot_row = a[col].clone();
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                for (v, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                    *v -= f * p;
                }
            }
        }
    }
    let c: Vec<f64> = (0..k).map(|i| a[i][k] / a[i][i]).collect();
    c.iter().all(|v| v.is_finite()).then_some(c)
}

/// The nearest `p/q` (`q ≤ 4`) within [`ROUND_DISTANCE`] of `e`, or `e`.
fn simple_rational(e: f64) -> f64 {
    (1..=4)
        .map(|q| (e * q as f64).round() / q as f64)
        .find(|r| (r - e).abs() <= ROUND_DISTANCE)
        .unwrap_or(e)
}

/// Explains `model` on the rows `train` and `valid` of `data` (the fit's split; see the module
/// doc), or says why it cannot.
pub fn explain(
    model: &FittedModel,
    data: &Dataset,
    train: &[usize],
    valid: &[usize],
) -> Result<Explanation, String> {
    // A formula is checked by parsing it back, and the parser knows x1…x1000.
    let n = model.features.len();
    if n > crate::expr::MAX_VARIABLES {
        return Err(format!(
            "the model has {n} input features; formulas are written for at most {} (fit on fewer columns with --features)",
            crate::expr::MAX_VARIABLES
        ));
    }
    if is_lg(model) {
        return match &model.scaling {
            None => explain_lg(model, data, train, valid),
            Some(scaling) => explain_lg(&without_scaling(model, scaling)?, data, train, valid),
        };
    }
    let (terms, notes) = read_out(model, data, train)?;
    let reference_rows = if valid.is_empty() { train } else { valid };
    let network = |rows: &[usize]| {
        let subset_rows: Vec<f64> = {
            let k = data.n_features();
            let mut records = Vec::with_capacity(rows.len() * k);
            for &r in rows {
                records.extend_from_slice(data.row(r));
            }
            let d = Dataset::new(k, records, vec![0.0; rows.len()]);
            model.predict(&d).iter().map(|&p| f64::from(p)).collect()
        };
        scores(&subset_rows, data, rows)
    };
    let network_train = network(train);
    let network_valid = (!valid.is_empty()).then(|| network(valid));
    let reference = network(reference_rows).pct_err;
    // Prune: smallest mean magnitude on the training rows first.
    let mut terms = tidy(terms);
    let magnitude = |t: &Term| {
        train
            .iter()
            .map(|&r| eval_terms(std::slice::from_ref(t), data.row(r)).abs())
            .sum::<f64>()
    };
    let mut order: Vec<(f64, Term)> = terms.drain(..).map(|t| (magnitude(&t), t)).collect();
    order.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut kept: Vec<Term> = order.into_iter().map(|(_, t)| t).collect();
    let mut k = kept.len();
    while k > 1 {
        k -= 1;
        let mut candidate = kept.clone();
        candidate.remove(k);
        if within_tolerance(
            terms_scores(&candidate, data, reference_rows).pct_err,
            reference,
        ) {
            kept = candidate;
        }
    }
    let formula = make_formula(
        kept.clone(),
        false,
        &model.features,
        &model.target,
        data,
        train,
        valid,
    )?;
    let unrounded = formula_reference(&formula);
    // Round exponents, merge, refit constants.
    let rounded_terms = tidy(
        kept.iter()
            .map(|t| Term {
                coef: t.coef,
                exps: t.exps.iter().map(|&e| simple_rational(e)).collect(),
            })
            .collect(),
    );
    let rounded = refit(&rounded_terms, data, train)
        .map(|coefs| {
            rounded_terms
                .iter()
                .zip(coefs)
                .map(|(t, c)| Term {
                    coef: c,
                    exps: t.exps.clone(),
                })
                .collect::<Vec<_>>()
        })
        .map(|terms| {
            make_formula(
                terms,
                true,
                &model.features,
                &model.target,
                data,
                train,
                valid,
            )
        })
        .transpose()?
        .filter(|r| within_tolerance(formula_reference(r), unrounded) && r.terms != formula.terms);
    Ok(Explanation {
        features: model.features.clone(),
        target: model.target.clone(),
        formula,
        rounded,
        network_train,
        network_valid,
        notes,
    })
}

/// Whether `model` is a dense network of symlog then symexp (the paper's lg, any widths).
fn is_lg(model: &FittedModel) -> bool {
    matches!(&model.spec, ModelSpec::Dense { pair, .. } if pair.is_lg())
        && matches!(model.network, Model::Dense(_))
}

/// The same lg network with its power-of-two scaling folded into the weights: input `i`'s
/// factor `2^−kᵢ` into column `i` of the first layer, the target's `2^k` into the output
/// layer. Scaling by a power of two is exact in floating point, so the folded network
/// predicts the same bits (barring overflow to infinity or underflow to subnormals).
fn without_scaling(model: &FittedModel, scaling: &Scaling) -> Result<FittedModel, String> {
    let n = model.features.len();
    let mut params = model.params.clone();
    let blocks = model.network.param_blocks();
    let block = |name: &str| {
        blocks
            .iter()
            .find(|b| b.name == name)
            .map(|b| (b.offset, b.shape.iter().product::<usize>()))
            .ok_or_else(|| format!("no parameter block {name}"))
    };
    let (offset, len) = block("layer0.weight")?;
    if scaling.inputs_log2.len() != n || len % n.max(1) != 0 {
        return Err("the model's scaling does not match its first layer".into());
    }
    for (k, w) in params[offset..offset + len].iter_mut().enumerate() {
        *w *= 2f32.powi(-scaling.inputs_log2[k % n]);
    }
    let output = 2f32.powi(scaling.target_log2);
    for name in ["layer2.weight", "layer2.bias"] {
        let (offset, len) = block(name)?;
        params[offset..offset + len]
            .iter_mut()
            .for_each(|w| *w *= output);
    }
    if params.iter().any(|p| !p.is_finite()) {
        return Err("folding the model's scaling into its weights overflows f32".into());
    }
    Ok(FittedModel {
        spec: model.spec.clone(),
        network: model
            .spec
            .build(n)
            .map_err(|e| format!("cannot rebuild the network: {e}"))?,
        params,
        features: model.features.clone(),
        target: model.target.clone(),
        summary: model.summary.clone(),
        scaling: None,
    })
}

/// `constant + Σ_i weights[i] · x_i`, positive on the rows it is used for.
#[derive(Debug, Clone, PartialEq)]
struct Affine {
    constant: f64,
    weights: Vec<f64>,
}

impl Affine {
    fn at(&self, x: &[f32]) -> f64 {
        self.constant
            + self
                .weights
                .iter()
                .zip(x)
                .map(|(w, &v)| w * f64::from(v))
                .sum::<f64>()
    }
}

/// `coef · Π_j affine_j^{exponent_j}`: one symexp unit of an lg network.
#[derive(Debug, Clone, PartialEq)]
struct LgTerm {
    coef: f64,
    factors: Vec<(Affine, f64)>,
}

/// An lg network as `constant + Σ_k terms_k`.
#[derive(Debug, Clone, PartialEq)]
struct LgFormula {
    constant: f64,
    terms: Vec<LgTerm>,
}

impl LgFormula {
    fn at(&self, x: &[f32]) -> f64 {
        self.constant
            + self
                .terms
                .iter()
                .map(|t| {
                    t.coef
                        * t.factors
                            .iter()
                            .map(|(a, e)| a.at(x).powf(*e))
                            .product::<f64>()
                })
                .sum::<f64>()
    }

    fn scores(&self, data: &Dataset, rows: &[usize]) -> Scores {
        let pred: Vec<f64> = rows.iter().map(|&r| self.at(data.row(r))).collect();
        scores(&pred, data, rows)
    }
}

/// Reads an lg network (`y = W₃ symexp(W₂ symlog(W₁ x + b₁) + b₂) + b₃`) as an [`LgFormula`]:
/// with `s_j` the sign of hidden unit `j`'s affine input `a_j` and `σ_k` that of symexp unit
/// `k`'s input `u_k` (each the sign on most of `rows`),
/// `symexp(u_k) = σ_k (e^{σ_k b₂ₖ} Π_j (1 + s_j a_j)^{σ_k s_j W₂ₖⱼ} − 1)`.
/// Exact wherever the signs hold; notes count the rows where one does not.
fn read_out_lg(
    model: &FittedModel,
    data: &Dataset,
    rows: &[usize],
) -> Result<(LgFormula, Vec<String>), String> {
    let blocks: HashMap<String, (usize, Vec<usize>)> = model
        .network
        .param_blocks()
        .into_iter()
        .map(|b| (b.name, (b.offset, b.shape)))
        .collect();
    let get = |name: &str| -> Result<(Vec<f64>, usize, usize), String> {
        let (offset, shape) = blocks
            .get(name)
            .ok_or_else(|| format!("no parameter block {name}"))?;
        let len: usize = shape.iter().product();
        let cols = *shape.last().unwrap_or(&1);
        let values = model.params[*offset..*offset + len]
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        Ok((values, len / cols.max(1), cols))
    };
    let (w1, h1, n) = get("layer0.weight")?;
    let (b1, _, _) = get("layer0.bias")?;
    let (w2, h2, _) = get("layer1.weight")?;
    let (b2, _, _) = get("layer1.bias")?;
    let (w3, _, _) = get("layer2.weight")?;
    let (b3, _, _) = get("layer2.bias")?;
    if blocks.contains_key("layer3.weight") {
        return Err("lg networks with more than two hidden layers are not explained yet".into());
    }
    let a =
        |j: usize, x: &[f32]| b1[j] + (0..n).map(|i| w1[j * n + i] * f64::from(x[i])).sum::<f64>();
    let majority = |values: &mut dyn Iterator<Item = f64>| {
        let (mut pos, mut all) = (0usize, 0usize);
        for v in values {
            pos += usize::from(v >= 0.0);
            all += 1;
        }
        (if 2 * pos >= all { 1.0 } else { -1.0 }, pos.min(all - pos))
    };
    let mut notes = Vec::new();
    let mut s = Vec::with_capacity(h1);
    for j in 0..h1 {
        let (sign, against) = majority(&mut rows.iter().map(|&r| a(j, data.row(r))));
        // A unit nothing reads (its outgoing weights all 0) may change sign freely.
        let used = (0..h2).any(|k| w2[k * h1 + j] != 0.0);
        if against > 0 && used {
            notes.push(format!(
                "symlog unit {}: its input changes sign on {against} rows",
                j + 1
            ));
        }
        s.push(sign);
    }
    let symlog = |v: f64| v.signum() * v.abs().ln_1p();
    let mut terms = Vec::with_capacity(h2);
    let mut constant = b3[0];
    for k in 0..h2 {
        let u = |x: &[f32]| {
            b2[k]
                + (0..h1)
                    .map(|j| w2[k * h1 + j] * symlog(a(j, x)))
                    .sum::<f64>()
        };
        let (sigma, against) = majority(&mut rows.iter().map(|&r| u(data.row(r))));
        if against > 0 && w3[k] != 0.0 {
            notes.push(format!(
                "symexp unit {}: its input changes sign on {against} rows",
                k + 1
            ));
        }
        constant -= w3[k] * sigma;
        let factors = (0..h1)
            .map(|j| {
                let affine = Affine {
                    constant: 1.0 + s[j] * b1[j],
                    weights: (0..n).map(|i| s[j] * w1[j * n + i]).collect(),
                };
                (affine, sigma * s[j] * w2[k * h1 + j])
            })
            .filter(|(_, e)| *e != 0.0)
            .collect();
        terms.push(LgTerm {
            coef: w3[k] * sigma * (sigma * b2[k]).exp(),
            factors,
        });
    }
    Ok((LgFormula { constant, terms }, notes))
}

/// Prints an lg formula for people and for the parser.
fn lg_text(f: &LgFormula, features: &[String]) -> (String, String) {
    let affine = |a: &Affine, names: &dyn Fn(usize) -> String| {
        let mut out = number(a.constant);
        for (i, &w) in a.weights.iter().enumerate() {
            if w != 0.0 {
                let sign = if w < 0.0 { "-" } else { "+" };
                out += &format!("{sign}{}*{}", number(w.abs()), names(i));
            }
        }
        format!("({out})")
    };
    let render = |names: &dyn Fn(usize) -> String, times: &str| {
        let mut out = number(f.constant);
        for t in &f.terms {
            let sign = if t.coef < 0.0 { "-" } else { "+" };
            out += &format!("{sign}{}", number(t.coef.abs()));
            for (a, e) in &t.factors {
                out += &format!("{times}{}^{}", affine(a, names), number(*e));
            }
        }
        out
    };
    let human = render(&|i| shown_name(&features[i]), " · ");
    let parsed = render(&|i| format!("x{}", i + 1), "*");
    (human, parsed)
}

/// [`explain`] for lg networks: each symexp unit as a product of powers of (1 + |affine|)
/// terms ([`read_out_lg`]); whole units, then single factors, are replaced by their mean
/// (units) or geometric mean (factors) over the training rows, smallest effect first, while
/// the % error stays within the tolerance of the network's ([`within_tolerance`]).
fn explain_lg(
    model: &FittedModel,
    data: &Dataset,
    train: &[usize],
    valid: &[usize],
) -> Result<Explanation, String> {
    // Pruning tries each unit against every other: the time grows with the square of the
    // hidden units, times the rows.
    let hidden: usize = model.spec.hidden().iter().sum();
    let all: Vec<usize> = train.iter().chain(valid).copied().collect();
    let work = (hidden as f64).powi(2) * all.len() as f64;
    if hidden > MAX_LG_UNITS || work > MAX_LG_WORK {
        return Err(format!(
            "the network has {hidden} hidden units and the data {} rows; lg formulas are read out for at most {MAX_LG_UNITS} hidden units (the paper's network has 28) and (hidden units)² × rows up to {MAX_LG_WORK:e}{}",
            all.len(),
            if hidden <= MAX_LG_UNITS {
                format!(
                    ": read it out on at most {} rows",
                    (MAX_LG_WORK / (hidden.max(1) as f64).powi(2)) as u64
                )
            } else {
                String::new()
            }
        ));
    }
    let (mut f, mut notes) = read_out_lg(model, data, &all)?;
    let reference_rows = if valid.is_empty() { train } else { valid };
    // Where a hidden unit's input changes sign within the data, the formula reads it with its
    // majority sign: exact on the rows where that sign holds, approximate near the crossing,
    // and undefined (a power of a negative number) where the minority's input passes −1. Then
    // it is no formula at all, and the reason says which units.
    let with_majority_signs = if notes.is_empty() {
        None
    } else {
        match f.scores(data, &all).pct_err {
            Some(e) if e.is_finite() => Some(f.scores(data, reference_rows).pct_err),
            _ => {
                let why = format!(
                    "not a product of powers on these rows ({}), so written with symlog and symexp",
                    notes.join("; ")
                );
                return explain_lg_exact(model, data, train, valid, why);
            }
        }
    };
    let network = |rows: &[usize]| network_scores(model, data, rows);
    let network_train = network(train);
    let network_valid = (!valid.is_empty()).then(|| network(valid));
    // Pruning keeps the formula within the tolerance of the network's error, or of its own
    // where reading units with their majority signs already costs more.
    let reference = match (
        network(reference_rows).pct_err,
        with_majority_signs.flatten(),
    ) {
        (Some(net), Some(own)) => Some(net.max(own)),
        (net, _) => net,
    };
    if with_majority_signs.is_some() {
        for note in &mut notes {
            note.push_str(" (read with its sign on most rows; the formula's error shows the cost)");
        }
    }
    let ok = |g: &LgFormula| within_tolerance(g.scores(data, reference_rows).pct_err, reference);
    // Units: replace by their mean over the training rows, the least varying first.
    let value = |t: &LgTerm, x: &[f32]| {
        t.coef
            * t.factors
                .iter()
                .map(|(a, e)| a.at(x).powf(*e))
                .product::<f64>()
    };
    let mut spread: Vec<(f64, usize)> = f
        .terms
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let v: Vec<f64> = train.iter().map(|&r| value(t, data.row(r))).collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            (v.iter().map(|x| (x - mean).abs()).sum::<f64>(), k)
        })
        .collect();
    spread.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut removed = vec![false; f.terms.len()];
    for &(_, k) in &spread {
        let t = &f.terms[k];
        let mean = train.iter().map(|&r| value(t, data.row(r))).sum::<f64>() / train.len() as f64;
        let mut g = f.clone();
        g.constant += mean;
        g.terms[k].coef = 0.0;
        if mean.is_finite() && ok(&g) {
            f = g;
            removed[k] = true;
        }
    }
    let mut k = 0;
    f.terms.retain(|_| {
        k += 1;
        !removed[k - 1]
    });
    // Factors: replace by their geometric mean over the training rows.
    for k in 0..f.terms.len() {
        let mut j = 0;
        while j < f.terms[k].factors.len() {
            let (a, e) = &f.terms[k].factors[j];
            let log_mean =
                train.iter().map(|&r| a.at(data.row(r)).ln()).sum::<f64>() / train.len() as f64;
            let mut g = f.clone();
            g.terms[k].coef *= (e * log_mean).exp();
            g.terms[k].factors.remove(j);
            if log_mean.is_finite() && ok(&g) {
                f = g;
            } else {
                j += 1;
            }
        }
    }
    let (human, expression) = lg_text(&f, &model.features);
    Ok(Explanation {
        features: model.features.clone(),
        target: model.target.clone(),
        formula: parsed_formula(model, data, train, valid, human, expression)?,
        rounded: None,
        network_train,
        network_valid,
        notes,
    })
}

/// An lg formula (no monomial terms) scored as the parser reads its `expression` back, on the
/// training and validation rows.
fn parsed_formula(
    model: &FittedModel,
    data: &Dataset,
    train: &[usize],
    valid: &[usize],
    human: String,
    expression: String,
) -> Result<Formula, String> {
    let parsed = Expr::parse(&expression)
        .map_err(|e| format!("internal: '{expression}' does not parse: {e}"))?;
    let eval_rows = |rows: &[usize]| {
        let mut x = vec![0.0f64; model.features.len()];
        let pred: Vec<f64> = rows
            .iter()
            .map(|&r| {
                for (xi, &v) in x.iter_mut().zip(data.row(r)) {
                    *xi = f64::from(v);
                }
                parsed.eval(&x)
            })
            .collect();
        scores(&pred, data, rows)
    };
    Ok(Formula {
        terms: Vec::new(),
        text: format!("{} ≈ {human}", shown_name(&model.target)),
        train: eval_rows(train),
        valid: (!valid.is_empty()).then(|| eval_rows(valid)),
        expression,
    })
}

/// The network's own errors on the rows `rows` of `data`.
fn network_scores(model: &FittedModel, data: &Dataset, rows: &[usize]) -> Scores {
    let k = data.n_features();
    let mut records = Vec::with_capacity(rows.len() * k);
    for &r in rows {
        records.extend_from_slice(data.row(r));
    }
    let d = Dataset::new(k, records, vec![0.0; rows.len()]);
    let pred: Vec<f64> = model.predict(&d).iter().map(|&p| f64::from(p)).collect();
    scores(&pred, data, rows)
}

/// An lg network's weights in `f64`, with the units still in the formula: written out it is
/// `b₃ + Σ_k w₃ₖ symexp(b₂ₖ + Σ_j w₂ₖⱼ symlog(b₁ⱼ + Σ_i w₁ⱼᵢ xᵢ))` over the kept `j` and `k`.
#[derive(Debug, Clone)]
struct LgExact {
    w1: Vec<f64>,
    b1: Vec<f64>,
    w2: Vec<f64>,
    b2: Vec<f64>,
    w3: Vec<f64>,
    b3: f64,
    symlog_kept: Vec<bool>,
    symexp_kept: Vec<bool>,
}

impl LgExact {
    fn of(model: &FittedModel) -> Result<LgExact, String> {
        let blocks = model.network.param_blocks();
        let get = |name: &str| -> Result<Vec<f64>, String> {
            let b = blocks
                .iter()
                .find(|b| b.name == name)
                .ok_or_else(|| format!("no parameter block {name}"))?;
            let len: usize = b.shape.iter().product();
            Ok(model.params[b.offset..b.offset + len]
                .iter()
                .map(|&v| f64::from(v))
                .collect())
        };
        let b1 = get("layer0.bias")?;
        let b2 = get("layer1.bias")?;
        let b3 = get("layer2.bias")?.first().copied().unwrap_or(0.0);
        Ok(LgExact {
            w1: get("layer0.weight")?,
            w2: get("layer1.weight")?,
            w3: get("layer2.weight")?,
            symlog_kept: vec![true; b1.len()],
            symexp_kept: vec![true; b2.len()],
            b1,
            b2,
            b3,
        })
    }

    fn n(&self) -> usize {
        self.w1.len() / self.b1.len().max(1)
    }

    fn symlog_inputs(&self, x: &[f32]) -> Vec<f64> {
        let n = self.n();
        (0..self.b1.len())
            .map(|j| {
                self.b1[j]
                    + (0..n)
                        .map(|i| self.w1[j * n + i] * f64::from(x[i]))
                        .sum::<f64>()
            })
            .collect()
    }

    fn symexp_inputs(&self, x: &[f32]) -> Vec<f64> {
        let h1 = self.b1.len();
        let hidden: Vec<f64> = self
            .symlog_inputs(x)
            .into_iter()
            .map(|a| Func::Symlog.apply(a))
            .collect();
        (0..self.b2.len())
            .map(|k| {
                self.b2[k]
                    + (0..h1)
                        .filter(|&j| self.symlog_kept[j])
                        .map(|j| self.w2[k * h1 + j] * hidden[j])
                        .sum::<f64>()
            })
            .collect()
    }

    fn at(&self, x: &[f32]) -> f64 {
        let u = self.symexp_inputs(x);
        self.b3
            + (0..u.len())
                .filter(|&k| self.symexp_kept[k])
                .map(|k| self.w3[k] * Func::Symexp.apply(u[k]))
                .sum::<f64>()
    }

    fn scores(&self, data: &Dataset, rows: &[usize]) -> Scores {
        let pred: Vec<f64> = rows.iter().map(|&r| self.at(data.row(r))).collect();
        scores(&pred, data, rows)
    }

    /// For people (feature names) and for the parser (`x1..xn`).
    fn text(&self, features: &[String]) -> (String, String) {
        let n = self.n();
        let h1 = self.b1.len();
        let term = |sign_first: bool, w: f64| {
            let sign = if w < 0.0 { "-" } else { "+" };
            if sign_first || w < 0.0 {
                format!("{sign}{}", number(w.abs()))
            } else {
                number(w)
            }
        };
        let render = |names: &dyn Fn(usize) -> String| {
            let symlog = |j: usize| {
                let mut out = number(self.b1[j]);
                for i in 0..n {
                    let w = self.w1[j * n + i];
                    if w != 0.0 {
                        out += &format!("{}*{}", term(true, w), names(i));
                    }
                }
                format!("symlog({out})")
            };
            let mut out = number(self.b3);
            for k in (0..self.b2.len()).filter(|&k| self.symexp_kept[k]) {
                let mut inner = number(self.b2[k]);
                for j in (0..h1).filter(|&j| self.symlog_kept[j]) {
                    let w = self.w2[k * h1 + j];
                    if w != 0.0 {
                        inner += &format!("{}*{}", term(true, w), symlog(j));
                    }
                }
                out += &format!("{}*symexp({inner})", term(true, self.w3[k]));
            }
            out
        };
        (
            render(&|i| features[i].clone()),
            render(&|i| format!("x{}", i + 1)),
        )
    }
}

/// [`explain`] for an lg network that is not a product of powers on the rows: the network
/// written out with `symlog` and `symexp`, whole hidden units replaced by their mean over the
/// training rows (least varying first) while the % error stays within the tolerance of the
/// network's. `why` says why it is written so.
fn explain_lg_exact(
    model: &FittedModel,
    data: &Dataset,
    train: &[usize],
    valid: &[usize],
    why: String,
) -> Result<Explanation, String> {
    let reference_rows = if valid.is_empty() { train } else { valid };
    let reference = network_scores(model, data, reference_rows).pct_err;
    let mut f = LgExact::of(model)?;
    let mean = |values: Vec<f64>| values.iter().sum::<f64>() / values.len().max(1) as f64;
    let spread = |values: &[f64]| {
        let m = values.iter().sum::<f64>() / values.len().max(1) as f64;
        values.iter().map(|v| (v - m).abs()).sum::<f64>()
    };
    // Candidates: (is symexp, unit, spread of its output over the training rows).
    let mut units: Vec<(bool, usize, f64)> = Vec::new();
    for j in 0..f.b1.len() {
        let out: Vec<f64> = train
            .iter()
            .map(|&r| Func::Symlog.apply(f.symlog_inputs(data.row(r))[j]))
            .collect();
        units.push((false, j, spread(&out)));
    }
    for k in 0..f.b2.len() {
        let out: Vec<f64> = train
            .iter()
            .map(|&r| Func::Symexp.apply(f.symexp_inputs(data.row(r))[k]))
            .collect();
        units.push((true, k, spread(&out)));
    }
    units.sort_by(|a, b| a.2.total_cmp(&b.2));
    let h1 = f.b1.len();
    for (is_symexp, unit, _) in units {
        let mut g = f.clone();
        if is_symexp {
            let m = mean(
                train
                    .iter()
                    .map(|&r| Func::Symexp.apply(g.symexp_inputs(data.row(r))[unit]))
                    .collect(),
            );
            g.b3 += g.w3[unit] * m;
            g.symexp_kept[unit] = false;
        } else {
            let m = mean(
                train
                    .iter()
                    .map(|&r| Func::Symlog.apply(g.symlog_inputs(data.row(r))[unit]))
                    .collect(),
            );
            for k in 0..g.b2.len() {
                g.b2[k] += g.w2[k * h1 + unit] * m;
            }
            g.symlog_kept[unit] = false;
        }
        if within_tolerance(g.scores(data, reference_rows).pct_err, reference) {
            f = g;
        }
    }
    let (human, expression) = f.text(&model.features);
    let kept =
        f.symlog_kept.iter().filter(|&&k| k).count() + f.symexp_kept.iter().filter(|&&k| k).count();
    Ok(Explanation {
        features: model.features.clone(),
        target: model.target.clone(),
        formula: parsed_formula(model, data, train, valid, human, expression)?,
        rounded: None,
        network_train: network_scores(model, data, train),
        network_valid: (!valid.is_empty()).then(|| network_scores(model, data, valid)),
        notes: vec![
            why,
            format!(
                "{kept} of {} hidden units kept; the others are replaced by their means",
                f.b1.len() + f.b2.len()
            ),
        ],
    })
}

/// The % error a formula is judged by: validation if there is one, else training.
fn formula_reference(f: &Formula) -> Option<f64> {
    f.valid.unwrap_or(f.train).pct_err
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::{FitOptions, fit};
    use crate::table::{ReadOptions, read_table_from};
    use crate::train::Training;
    use std::path::Path;

    /// A fitted model of `spec` on `y = 0.5 a² / b` (1 epoch: the weights are then set by hand).
    fn model_on_law(spec: &str) -> (FittedModel, crate::table::Table) {
        model_on(spec, |a, b| 0.5 * a * a / b)
    }

    /// A fitted model of `spec` on `y = law(a, b)`, a in [1, 4), b in [1, 3) (1 epoch: the
    /// weights are then set by hand).
    fn model_on(spec: &str, law: fn(f64, f64) -> f64) -> (FittedModel, crate::table::Table) {
        let mut csv = "a,b,y\n".to_string();
        for r in 0..50 {
            // Inputs exact in f32, so the target is the law's value on what the model sees.
            let a = (1.0 + 3.0 * (r as f64 * 0.618_033_988_749_895).fract()) as f32;
            let b = (1.0 + 2.0 * (r as f64 * 0.414_213_562_373_095).fract()) as f32;
            let (x, z) = (f64::from(a), f64::from(b));
            csv += &format!("{a:?},{b:?},{:?}\n", law(x, z));
        }
        let t =
            read_table_from(csv.as_bytes(), Path::new("t.csv"), &ReadOptions::new("y")).unwrap();
        let spec = ModelSpec::parse(spec, &crate::experiment::Pair::lg(), None).unwrap();
        let m = fit(
            &t,
            &FitOptions {
                training: Training {
                    epochs: 1,
                    ..Training::default()
                },
                ..FitOptions::new(spec)
            },
        )
        .unwrap();
        (m, t)
    }

    fn all_rows(t: &crate::table::Table) -> Vec<usize> {
        (0..t.data.len()).collect()
    }

    #[test]
    fn a_model_of_more_features_than_a_formula_names_says_so_for_lg_and_units() {
        // 1001 features: one more than the formula's x1…x1000 (before, lg gave "internal: …
        // does not parse", a 2 KB message).
        let n = crate::expr::MAX_VARIABLES + 1;
        let names: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
        let mut csv = names.join(",") + ",y\n";
        for r in 0..6 {
            let row: Vec<String> = (0..=n).map(|i| format!("{}", 1 + (i + r) % 3)).collect();
            csv += &(row.join(",") + "\n");
        }
        let t =
            read_table_from(csv.as_bytes(), Path::new("w.csv"), &ReadOptions::new("y")).unwrap();
        let rows = all_rows(&t);
        for preset in ["lg", "product"] {
            let spec = ModelSpec::parse(preset, &crate::experiment::Pair::lg(), None).unwrap();
            let options = FitOptions {
                training: Training {
                    epochs: 1,
                    ..Training::default()
                },
                ..FitOptions::new(spec)
            };
            let m = fit(&t, &options).unwrap();
            let err = explain(&m, &t.data, &rows, &[]).unwrap_err();
            assert!(
                err.contains("1001 input features") && err.contains("at most 1000"),
                "{preset}: {err}"
            );
            assert!(!err.contains("internal"), "{preset}: {err}");
        }
    }

    #[test]
    fn an_lg_read_out_on_too_many_rows_says_how_many_it_takes() {
        let (m, t) = model_on_law("dense");
        let hidden: usize = m.spec.hidden().iter().sum();
        let most = (MAX_LG_WORK / (hidden as f64).powi(2)) as usize;
        // Row indices may repeat: only their count matters to the bound.
        let rows: Vec<usize> = (0..most + 1).map(|r| r % t.data.len()).collect();
        let err = explain(&m, &t.data, &rows, &[]).unwrap_err();
        assert!(
            err.contains(&format!("read it out on at most {most} rows")),
            "{err}"
        );
    }

    #[test]
    fn a_product_unit_then_a_nau_reads_as_constant_times_powers() {
        let (mut m, t) = model_on_law("product");
        // Hidden width 6 (the preset's): unit 0 has exponents (2, −1), the NAU weighs it 0.5
        // and every other unit 0 → y = 0.5 · a² · b⁻¹ exactly.
        let mut params = vec![0.0f32; m.params.len()];
        params[0] = 2.0;
        params[1] = -1.0;
        params[12] = 0.5; // layer1.weight[0][0], after 6 × 2 exponents
        m.params = params;
        let rows = all_rows(&t);
        let e = explain(&m, &t.data, &rows, &[]).unwrap();
        assert_eq!(
            e.formula.terms,
            [Term {
                coef: 0.5,
                exps: vec![2.0, -1.0]
            }]
        );
        assert_eq!(e.formula.text, "y ≈ 0.5000 · a^2.000 · b^-1.000");
        assert_eq!(e.formula.expression, "0.5000*x1^2.000*x2^-1.000");
        // The expression reads back and reproduces the law (f32 inputs, f64 targets).
        assert!(e.formula.train.pct_err.unwrap() < 1e-9);
        let parsed = Expr::parse(&e.formula.expression).unwrap();
        assert!((parsed.eval(&[2.0, 4.0]) - 0.5).abs() < 1e-12);
        // Exact already: nothing to round.
        assert!(e.rounded.is_none());
        assert!(e.text().contains("x1 = a, x2 = b"));
    }

    #[test]
    fn near_rational_exponents_are_rounded_and_constants_refitted() {
        let (mut m, t) = model_on_law("units:product");
        // One product unit with exponents 1.98 and −1.03: y ≈ a^1.98 b^-1.03, no constant.
        m.params = vec![1.98, -1.03];
        let rows = all_rows(&t);
        let e = explain(&m, &t.data, &rows[..40], &rows[40..]).unwrap();
        assert_eq!(e.formula.expression, "1.000*x1^1.980*x2^-1.030");
        let r = e.rounded.expect("rounding makes it the exact law");
        // Exponents 2 and −1, constant refitted to the law's 0.5.
        assert_eq!(r.terms[0].exps, [2.0, -1.0]);
        assert!((r.terms[0].coef - 0.5).abs() < 1e-9, "{}", r.terms[0].coef);
        assert_eq!(r.expression, "0.5000*x1^2*x2^-1");
        assert_eq!(r.text, "y ≈ 0.5000 · a^2 · b^-1");
        assert!(r.valid.unwrap().pct_err.unwrap() < 1e-6);
    }

    #[test]
    fn nau_then_nmu_expands_and_prunes_small_terms() {
        let (mut m, t) = model_on_law("nau,nmu");
        // NAU rows (1, 0) and (0.001, 1): h = (a, 0.001a + b); NMU weights (1, 1) give
        // a·(0.001a + b) = 0.001 a² + a b.
        m.params = vec![1.0, 0.0, 0.001, 1.0, 1.0, 1.0];
        let rows = all_rows(&t);
        let (mut terms, notes) = read_out(&m, &t.data, &rows).unwrap();
        assert!(notes.is_empty());
        terms.sort_by(|a, b| a.coef.total_cmp(&b.coef));
        assert_eq!(terms.len(), 2);
        assert!((terms[0].coef - 0.001).abs() < 1e-9);
        assert_eq!(terms[0].exps, [2.0, 0.0]);
        assert_eq!(
            terms[1],
            Term {
                coef: 1.0,
                exps: vec![1.0, 1.0]
            }
        );
        // Against y = 0.5 a²/b this network is far off (tens of % error); the a² term moves its
        // error by well under 10 % of that, so pruning drops it.
        let e = explain(&m, &t.data, &rows, &[]).unwrap();
        assert!(e.network_train.pct_err.unwrap() > 10.0);
        assert_eq!(
            e.formula.terms,
            [Term {
                coef: 1.0,
                exps: vec![1.0, 1.0]
            }]
        );
        assert_eq!(e.formula.expression, "1.000*x1^1.000*x2^1.000");
    }

    /// `y = 2 a + 0.5` on 30 rows (b ∈ {0, 1, 2, 3} unused) and an lg network of `hidden`
    /// fitted for one epoch, its parameters zeroed for the test to set by hand; with the
    /// offset of each parameter block by name.
    fn lg_by_hand(hidden: &[usize]) -> (FittedModel, crate::table::Table, HashMap<String, usize>) {
        let mut csv = "a,b,y\n".to_string();
        for r in 1..=30 {
            let (a, b) = (r as f32 * 0.75, (r % 4) as f32);
            csv += &format!("{a:?},{b:?},{:?}\n", 2.0 * f64::from(a) + 0.5);
        }
        let t =
            read_table_from(csv.as_bytes(), Path::new("t.csv"), &ReadOptions::new("y")).unwrap();
        let spec = ModelSpec::parse("dense", &crate::experiment::Pair::lg(), Some(hidden)).unwrap();
        let mut m = fit(
            &t,
            &FitOptions {
                training: Training {
                    epochs: 1,
                    ..Training::default()
                },
                ..FitOptions::new(spec)
            },
        )
        .unwrap();
        let offsets = m
            .network
            .param_blocks()
            .into_iter()
            .map(|b| (b.name, b.offset))
            .collect();
        m.params.fill(0.0);
        (m, t, offsets)
    }

    /// An lg network with one unit per layer set by hand: `a = x1`, `symexp(symlog(a)) = a`
    /// for `a > 0`, so `y = 2 x1 + 0.5`; read out as `b₃ − W₃ + W₃ (1 + x1)^1`
    /// = `−1.5 + 2 (1 + x1)`, and nothing can be pruned since the network is exact.
    #[test]
    fn an_lg_network_reads_as_powers_of_affine_terms() {
        let (mut m, t, at) = lg_by_hand(&[1, 1]);
        m.params[at["layer0.weight"]] = 1.0; // W1 = [1, 0], b1 = 0
        m.params[at["layer1.weight"]] = 1.0; // W2 = [1], b2 = 0
        m.params[at["layer2.weight"]] = 2.0; // W3 = [2]
        m.params[at["layer2.bias"]] = 0.5; // b3 = 0.5
        let rows = all_rows(&t);
        let e = explain(&m, &t.data, &rows[..24], &rows[24..]).unwrap();
        assert_eq!(e.formula.expression, "-1.500+2.000*(1.000+1.000*x1)^1.000");
        assert_eq!(e.formula.text, "y ≈ -1.500+2.000 · (1.000+1.000*a)^1.000");
        assert!(e.notes.is_empty(), "{:?}", e.notes);
        assert!(e.formula.valid.unwrap().pct_err.unwrap() < 1e-9);
        assert!(e.network_valid.unwrap().pct_err.unwrap() < 1e-3);

        // The same function with power-of-two scaling: the network sees x1 · 2^−3 and its
        // output is multiplied by 2^2, so W1 = 8 and W3, b3 = 2/4, 0.5/4 compute the same y;
        // folded back, the formula is the unscaled one.
        let (w1, w3, b3) = (at["layer0.weight"], at["layer2.weight"], at["layer2.bias"]);
        let mut scaled = m;
        scaled.scaling = Some(Scaling {
            inputs_log2: vec![3, 0],
            target_log2: 2,
        });
        scaled.params[w1] = 8.0;
        scaled.params[w3] = 0.5;
        scaled.params[b3] = 0.125;
        let e = explain(&scaled, &t.data, &rows[..24], &rows[24..]).unwrap();
        assert_eq!(e.formula.expression, "-1.500+2.000*(1.000+1.000*x1)^1.000");
        assert!(e.network_valid.unwrap().pct_err.unwrap() < 1e-3);
    }

    /// A unit whose outgoing weight is 0 does not count, whatever its sign does: the lg
    /// network above with a second symlog unit `x2 − 1.5` (negative on some rows, positive on
    /// others) that nothing reads.
    #[test]
    fn an_unread_lg_unit_may_change_sign() {
        let (mut m, t, at) = lg_by_hand(&[2, 1]);
        m.params[at["layer0.weight"]] = 1.0; // unit 1: x1
        m.params[at["layer0.weight"] + 3] = 1.0; // unit 2: x2 − 1.5
        m.params[at["layer0.bias"] + 1] = -1.5;
        m.params[at["layer1.weight"]] = 1.0; // reads unit 1 only
        m.params[at["layer2.weight"]] = 2.0;
        m.params[at["layer2.bias"]] = 0.5;
        let rows = all_rows(&t);
        let e = explain(&m, &t.data, &rows[..24], &rows[24..]).unwrap();
        assert_eq!(e.formula.expression, "-1.500+2.000*(1.000+1.000*x1)^1.000");
        // Reading unit 2 as well: b − 1.5 is ≥ 0 on half the rows (b = 2, 3) and read as
        // positive, so its factor (1 + (b − 1.5))^0.25 would be a power of −0.5 on the rows
        // with b = 0. The network is then written out with symlog and symexp; unit 2 only
        // moves it away from y = 2a + 0.5, so replacing it by its mean over the training rows
        // (symlog is odd and b takes 0, 1, 2, 3 equally often: mean 0) keeps the error within
        // the tolerance, and what is left is exact in 4 digits.
        m.params[at["layer1.weight"] + 1] = 0.25;
        let exact = explain(&m, &t.data, &rows[..24], &rows[24..]).unwrap();
        assert_eq!(
            exact.formula.expression,
            "0.5000+2.000*symexp(0+1.000*symlog(0+1.000*x1))"
        );
        assert!(
            exact.notes[0].contains("symlog unit 2"),
            "{:?}",
            exact.notes
        );
        assert!(
            exact.notes[1].starts_with("2 of 3 hidden units kept"),
            "{:?}",
            exact.notes
        );
        assert!(exact.formula.valid.unwrap().pct_err.unwrap() < 1e-9);
        assert!(exact.network_valid.unwrap().pct_err.unwrap() > 1.0);
        // With b − 0.5 instead the minority's factor is 1 − 0.5 > 0: a formula, with a note.
        m.params[at["layer0.bias"] + 1] = -0.5;
        let e = explain(&m, &t.data, &rows[..24], &rows[24..]).unwrap();
        assert!(
            e.notes
                .iter()
                .any(|n| n.starts_with("symlog unit 2: its input changes sign on")),
            "{:?}",
            e.notes
        );
        assert!(e.formula.train.pct_err.unwrap().is_finite());
    }

    #[test]
    fn models_that_cannot_be_read_say_why() {
        let (m, t) = model_on_law("lg");
        let rows = all_rows(&t);
        // This lg network (one epoch from its seed, 60 % off) has hidden units whose inputs
        // change sign within the data: read with their majority signs, the formula is
        // defined on every row, the notes name those units, and pruning within the tolerance
        // of its error leaves a constant. The same with scaling folded into the weights.
        let e = explain(&m, &t.data, &rows, &[]).unwrap();
        assert!(
            e.notes.iter().any(|n| n.contains("changes sign on")),
            "{e:?}"
        );
        let scaled = FittedModel {
            scaling: Some(crate::fit::Scaling {
                inputs_log2: vec![0, 0],
                target_log2: 0,
            }),
            network: m.spec.build(2).unwrap(),
            params: m.params.clone(),
            spec: m.spec.clone(),
            features: m.features.clone(),
            target: m.target.clone(),
            summary: m.summary.clone(),
        };
        let s = explain(&scaled, &t.data, &rows, &[]).unwrap();
        assert_eq!(s.formula.expression, e.formula.expression);
        let (m, _) = model_on_law("nalu");
        assert!(
            explain(&m, &t.data, &rows, &[])
                .unwrap_err()
                .contains("nalu")
        );
    }

    /// With W = tanh(20)·σ(20) ≈ 1 and −1 (saturated), a gate near 0 leaves the product
    /// `a^1 · b^-1` (the table's law, y = a/b).
    fn assert_reads_a_over_b(m: &FittedModel, t: &crate::table::Table, gate: f64) {
        let rows = all_rows(t);
        let e = explain(m, &t.data, &rows, &[]).unwrap();
        let [term] = e.formula.terms.as_slice() else {
            panic!("{:?}", e.formula.terms)
        };
        assert!((term.coef - (1.0 - gate)).abs() < 1e-6, "{}", term.coef);
        assert!((term.exps[0] - 1.0).abs() < 1e-6, "{:?}", term.exps);
        assert!((term.exps[1] + 1.0).abs() < 1e-6, "{:?}", term.exps);
        assert!(e.formula.train.pct_err.unwrap() < 1e-3);
        assert_eq!(e.notes.len(), 1, "{:?}", e.notes);
        assert!(e.notes[0].contains("gate"), "{:?}", e.notes);
    }

    #[test]
    fn a_nalu_gated_to_its_product_reads_as_powers_and_otherwise_says_why() {
        let (mut m, t) = model_on("units:nalu", |a, b| a / b);
        let rows = all_rows(&t);
        // Blocks Ŵ, M̂, G (1 × 2 each). G = (−20, −20): the gate σ(−20a − 20b) < 1e-17 on
        // every row (a, b ≥ 1).
        m.params = vec![20.0, -20.0, 20.0, 20.0, -20.0, -20.0];
        assert_reads_a_over_b(&m, &t, 0.0);
        // G = 0: the gate is 1/2 on every row, a sum plus a product.
        m.params[4..].fill(0.0);
        let e = explain(&m, &t.data, &rows, &[]).unwrap_err();
        for needle in ["nalu", "unit 1", "mixes", "gate 0.5000", "training rows"] {
            assert!(e.contains(needle), "{needle}: {e}");
        }
        // G = (20, 20): the gate is 1, the additive path alone.
        m.params[4..].fill(20.0);
        let e = explain(&m, &t.data, &rows, &[]).unwrap_err();
        assert!(
            e.contains("additive path") && e.contains("gate 1.0000"),
            "{e}"
        );
        // G = (−1, 0): σ(−a) is 0.27 at a = 1 and 0.018 at a = 4; the mean is far above 0.01
        // although the gate is small on some rows.
        m.params[4..].copy_from_slice(&[-1.0, 0.0]);
        let e = explain(&m, &t.data, &rows, &[]).unwrap_err();
        assert!(e.contains("mixes"), "{e}");
    }

    #[test]
    fn an_inalu_gated_to_its_product_reads_as_powers_and_otherwise_says_why() {
        let (mut m, t) = model_on("units:inalu", |a, b| a / b);
        let rows = all_rows(&t);
        // Blocks Ŵ_a, M̂_a (the additive path: any weights), Ŵ_m, M̂_m (1 × 2 each), then the
        // gate's one parameter: σ(−20) = 2.06e-9.
        m.params = vec![0.3, -0.7, 1.0, 2.0, 20.0, -20.0, 20.0, 20.0, -20.0];
        let gate = 1.0 / (1.0 + 20f64.exp());
        assert_reads_a_over_b(&m, &t, gate);
        m.params[8] = 0.0;
        let e = explain(&m, &t.data, &rows, &[]).unwrap_err();
        for needle in ["inalu", "unit 1", "mixes", "gate 0.5000"] {
            assert!(e.contains(needle), "{needle}: {e}");
        }
        assert!(
            !e.contains("training rows"),
            "iNALU's gate is one number: {e}"
        );
    }

    #[test]
    fn a_linear_layer_reads_as_a_weighted_sum_and_a_constant() {
        let (mut m, t) = model_on("units:linear", |a, b| 2.0 * a - 3.0 * b + 0.5);
        let rows = all_rows(&t);
        m.params = vec![2.0, -3.0, 0.5];
        let (mut terms, notes) = read_out(&m, &t.data, &rows).unwrap();
        assert!(notes.is_empty());
        terms.sort_by(|a, b| a.coef.total_cmp(&b.coef));
        let expected = [(-3.0, [0.0, 1.0]), (0.5, [0.0, 0.0]), (2.0, [1.0, 0.0])];
        assert_eq!(terms.len(), 3, "{terms:?}");
        for (t, (coef, exps)) in terms.iter().zip(expected) {
            assert_eq!((t.coef, t.exps.as_slice()), (coef, exps.as_slice()));
        }
    }

    #[test]
    fn numbers_and_exponents_print_for_the_parser() {
        assert_eq!(number(0.1003456), "0.1003");
        assert_eq!(number(1234.4), "1234");
        assert_eq!(number(0.099996), "0.1000");
        assert_eq!(number(-2.5), "-2.500");
        assert_eq!(number(1.5e-9), "1.500e-9");
        assert!(Expr::parse(&format!("{}*x1", number(1.5e-9))).is_ok());
        assert_eq!(exponent(0.5, true).1, "(1/2)");
        assert_eq!(exponent(0.5, false).1, "0.500");
        assert_eq!(exponent(-1.0 / 3.0, true).1, "(-1/3)");
        assert_eq!(simple_rational(0.98), 1.0);
        assert_eq!(simple_rational(0.7), 2.0 / 3.0); // 2/3 is 0.033 away, 3/4 0.05
        assert_eq!(exponent(simple_rational(0.7), true).1, "(2/3)");
        assert_eq!(simple_rational(0.6), 0.6);
        assert!(within_tolerance(Some(1.09), Some(1.0)));
        assert!(!within_tolerance(Some(1.2), Some(1.0)));
        assert!(within_tolerance(Some(0.15), Some(0.06)));
    }
}
