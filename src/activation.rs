//! Activation functions: the paper's symmetric logarithm and exponential, and the eleven Keras
//! activations the paper compares them with, each with its exact derivative.
//!
//! Layer buffers are *unit-major*: unit `j` of sample `b` in a batch of `n` lives at `j * n + b`.
//! That keeps each unit's batch contiguous, so the elementwise loops vectorise and softmax (which
//! couples the units of one sample) reads with a fixed stride.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// SELU scale λ, as in Keras.
pub const SELU_LAMBDA: f32 = 1.050_701;
/// SELU α, as in Keras.
pub const SELU_ALPHA: f32 = 1.673_263_2;

/// One activation function, named as in Keras (plus `symlog`/`symexp` from the paper).
///
/// ```
/// use logexp::activation::Activation;
/// let a: Activation = "symlog".parse().unwrap();
/// assert_eq!(a.forward(0.0), 0.0);
/// assert_eq!(a.derivative(0.0), 1.0); // paper III.A
/// assert!((a.forward(99.0) - 100f32.ln()).abs() < 1e-6);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `x` for x ≥ 0, `eˣ − 1` below (α = 1).
    Elu,
    /// Keras 2's `clip(0.2x + 0.5, 0, 1)` (the definition the paper's Keras used).
    HardSigmoid,
    /// The identity.
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// `λ·elu_α(x)` with Keras's λ and α.
    Selu,
    /// `1 / (1 + e⁻ˣ)`.
    Sigmoid,
    /// `eˣʲ / Σₖ eˣᵏ` across the units of a layer, per sample.
    Softmax,
    /// `ln(1 + eˣ)`.
    Softplus,
    /// `x / (1 + |x|)`.
    Softsign,
    /// `x · sigmoid(x)`.
    Swish,
    /// `tanh(x)`.
    Tanh,
    /// Paper eq. 1: `sign(x) · ln(1 + |x|)`.
    Symlog,
    /// Paper eq. 2: `sign(x) · (e^|x| − 1)`.
    Symexp,
}

use crate::fastmath as fm;
use Activation::*;

/// Runs `$body` with `$a` bound to a constant equal to the elementwise activation `$act`, so
/// that the compiler specialises the body for each activation.
macro_rules! with_constant_activation {
    ($act:expr, $a:ident => $body:block) => {
        match $act {
            Elu => {
                const $a: Activation = Elu;
                $body
            }
            HardSigmoid => {
                const $a: Activation = HardSigmoid;
                $body
            }
            Linear => {
                const $a: Activation = Linear;
                $body
            }
            Relu => {
                const $a: Activation = Relu;
                $body
            }
            Selu => {
                const $a: Activation = Selu;
                $body
            }
            Sigmoid => {
                const $a: Activation = Sigmoid;
                $body
            }
            Softplus => {
                const $a: Activation = Softplus;
                $body
            }
            Softsign => {
                const $a: Activation = Softsign;
                $body
            }
            Swish => {
                const $a: Activation = Swish;
                $body
            }
            Tanh => {
                const $a: Activation = Tanh;
                $body
            }
            Symlog => {
                const $a: Activation = Symlog;
                $body
            }
            Symexp => {
                const $a: Activation = Symexp;
                $body
            }
            Softmax => unreachable!("softmax is not elementwise"),
        }
    };
}

impl Activation {
    /// The eleven Keras activations of the paper's comparison, in the paper's order.
    pub const KERAS: [Activation; 11] = [
        Elu,
        HardSigmoid,
        Linear,
        Relu,
        Selu,
        Sigmoid,
        Softmax,
        Softplus,
        Softsign,
        Swish,
        Tanh,
    ];

    /// Every activation logexp knows.
    pub const ALL: [Activation; 13] = [
        Elu,
        HardSigmoid,
        Linear,
        Relu,
        Selu,
        Sigmoid,
        Softmax,
        Softplus,
        Softsign,
        Swish,
        Tanh,
        Symlog,
        Symexp,
    ];

    /// The Keras name (`hard_sigmoid`, `symlog`, …).
    pub fn name(self) -> &'static str {
        match self {
            Elu => "elu",
            HardSigmoid => "hard_sigmoid",
            Linear => "linear",
            Relu => "relu",
            Selu => "selu",
            Sigmoid => "sigmoid",
            Softmax => "softmax",
            Softplus => "softplus",
            Softsign => "softsign",
            Swish => "swish",
            Tanh => "tanh",
            Symlog => "symlog",
            Symexp => "symexp",
        }
    }

    /// Whether the activation acts on each unit alone (all but softmax).
    pub fn is_elementwise(self) -> bool {
        self != Softmax
    }

    /// The value at `x`. Softmax has no scalar form: for it this returns the value of a one-unit
    /// layer, which is 1.
    #[inline(always)]
    pub fn forward(self, x: f32) -> f32 {
        match self {
            Elu => {
                if x > 0.0 {
                    x
                } else {
                    fm::exp_m1(fm::min(x, 0.0))
                }
            }
            HardSigmoid => fm::clamp(0.2 * x + 0.5, 0.0, 1.0),
            Linear => x,
            Relu => fm::max(x, 0.0),
            Selu => {
                if x > 0.0 {
                    SELU_LAMBDA * x
                } else {
                    SELU_LAMBDA * SELU_ALPHA * fm::exp_m1(fm::min(x, 0.0))
                }
            }
            Sigmoid => fm::sigmoid(x),
            Softmax => 1.0,
            // max(x,0) + ln(1 + e^-|x|) never overflows and keeps precision for very negative x.
            Softplus => fm::max(x, 0.0) + fm::ln_1p(fm::exp(-x.abs())),
            Softsign => x / (1.0 + x.abs()),
            Swish => x * fm::sigmoid(x),
            Tanh => fm::tanh(x),
            Symlog => fm::ln_1p(x.abs()).copysign(x),
            Symexp => fm::exp_m1(x.abs()).copysign(x),
        }
    }

    /// The exact derivative at `x`. At kinks it takes the side TensorFlow takes (relu: 0 at 0;
    /// elu and selu: the right side; hard_sigmoid: 0.2 on the closed interval [-2.5, 2.5]).
    /// Softmax has no scalar derivative; for it this returns 0 (a one-unit softmax is constant).
    pub fn derivative(self, x: f32) -> f32 {
        self.derivative_given_output(x, self.forward(x))
    }

    /// The derivative at `x` when the output `y = forward(x)` is already known, which saves the
    /// transcendental for most activations.
    #[inline(always)]
    pub fn derivative_given_output(self, x: f32, y: f32) -> f32 {
        match self {
            Elu => {
                if x >= 0.0 {
                    1.0
                } else {
                    y + 1.0
                }
            }
            HardSigmoid => {
                if (-2.5..=2.5).contains(&x) {
                    0.2
                } else {
                    0.0
                }
            }
            Linear => 1.0,
            Relu => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Selu => {
                if x >= 0.0 {
                    SELU_LAMBDA
                } else {
                    y + SELU_LAMBDA * SELU_ALPHA
                }
            }
            Sigmoid => y * (1.0 - y),
            Softmax => 0.0,
            Softplus => fm::sigmoid(x),
            Softsign => {
                let d = 1.0 + x.abs();
                1.0 / (d * d)
            }
            Swish => {
                let s = fm::sigmoid(x);
                s * (1.0 + x * (1.0 - s))
            }
            Tanh => 1.0 - y * y,
            Symlog => 1.0 / (1.0 + x.abs()),
            // d/dx (e^|x| - 1) = e^|x| = |y| + 1
            Symexp => y.abs() + 1.0,
        }
    }

    /// Applies the activation to a unit-major layer `z` (`units × n`), writing `out`.
    #[inline(always)]
    pub fn forward_layer(self, z: &[f32], out: &mut [f32], units: usize, n: usize) {
        let len = units * n;
        let (z, out) = (&z[..len], &mut out[..len]);
        if self == Softmax {
            softmax_forward(z, out, units, n);
            return;
        }
        // One loop per activation, with the activation a constant inside it, so that each
        // loop is branch-free and vectorises. A plain loop over elements: hand-unrolled
        // chunks of 16 led the vectoriser to vectorise across chunks instead, with gathered
        // loads (as many as 1,800 `vinsertps` in the training loop) and scalar stores.
        with_constant_activation!(self, A => {
            for (o, &x) in out.iter_mut().zip(z) {
                *o = A.forward(x);
            }
        });
    }

    /// Back-propagates through the activation: given the layer input `z`, its output `out` and
    /// the gradient `d_out` with respect to the output, writes the gradient `d_z` with respect
    /// to the input. All buffers are unit-major `units × n`.
    #[inline(always)]
    pub fn backward_layer(
        self,
        z: &[f32],
        out: &[f32],
        d_out: &[f32],
        d_z: &mut [f32],
        units: usize,
        n: usize,
    ) {
        let len = units * n;
        let (z, out, d_out, d_z) = (&z[..len], &out[..len], &d_out[..len], &mut d_z[..len]);
        if self == Softmax {
            softmax_backward(out, d_out, d_z, units, n);
            return;
        }
        with_constant_activation!(self, A => {
            for (((d_z, &d_out), &z), &out) in d_z.iter_mut().zip(d_out).zip(z).zip(out) {
                *d_z = d_out * A.derivative_given_output(z, out);
            }
        });
    }
}

/// Softmax across units for each sample, shifted by the per-sample maximum so that no
/// exponential overflows. Works on blocks of up to [`BLOCK`] samples so every step is a vector
/// operation over the batch.
#[inline(always)]
fn softmax_forward(z: &[f32], out: &mut [f32], units: usize, n: usize) {
    for_each_block!(n, |start, width| {
        let mut max = [f32::NEG_INFINITY; BLOCK];
        for j in 0..units {
            let row = &z[j * n + start..j * n + start + width];
            for (m, &v) in max.iter_mut().zip(row) {
                *m = fm::max(v, *m);
            }
        }
        let mut sum = [0.0f32; BLOCK];
        for j in 0..units {
            let at = j * n + start;
            let (row, dst) = (&z[at..at + width], &mut out[at..at + width]);
            for b in 0..width {
                let e = fm::exp(row[b] - max[b]);
                dst[b] = e;
                sum[b] += e;
            }
        }
        let mut inv = [0.0f32; BLOCK];
        for (i, s) in inv.iter_mut().zip(&sum) {
            *i = 1.0 / s;
        }
        for j in 0..units {
            let at = j * n + start;
            for (o, i) in out[at..at + width].iter_mut().zip(&inv) {
                *o *= i;
            }
        }
    });
}

/// Softmax Jacobian-vector product: `dz_j = s_j (dy_j − Σ_k dy_k s_k)`, in blocks of samples.
#[inline(always)]
fn softmax_backward(out: &[f32], d_out: &[f32], d_z: &mut [f32], units: usize, n: usize) {
    for_each_block!(n, |start, width| {
        let mut dot = [0.0f32; BLOCK];
        for j in 0..units {
            let at = j * n + start;
            let (s, dy) = (&out[at..at + width], &d_out[at..at + width]);
            for b in 0..width {
                dot[b] += dy[b] * s[b];
            }
        }
        for j in 0..units {
            let at = j * n + start;
            let (s, dy) = (&out[at..at + width], &d_out[at..at + width]);
            let dz = &mut d_z[at..at + width];
            for b in 0..width {
                dz[b] = s[b] * (dy[b] - dot[b]);
            }
        }
    });
}

/// Samples per softmax block: a full training batch, kept in registers.
const BLOCK: usize = 32;

/// Runs the body with `start` and `width` set to consecutive blocks of at most [`BLOCK`]
/// samples covering `0..n`.
///
/// A macro rather than a function taking a closure: the compiler kept such a closure out of
/// line, where it was compiled for the baseline instruction set instead of the AVX2 of the
/// training loop, and with a block width it could not see was constant.
macro_rules! for_each_block {
    ($n:expr, |$start:ident, $width:ident| $body:block) => {{
        let n: usize = $n;
        let mut $start = 0;
        while $start < n {
            let $width = BLOCK.min(n - $start);
            $body
            $start += $width;
        }
    }};
}
use for_each_block;

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An activation name that logexp does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown activation '{name}': valid names are {}{}", valid_names(), if name.trim().eq_ignore_ascii_case("lg") { " ('lg' names the whole pair symlog,symexp: give it alone)" } else { "" })]
pub struct UnknownActivation {
    /// The name as given.
    pub name: String,
}

fn valid_names() -> String {
    Activation::ALL.map(Activation::name).join(", ")
}

impl FromStr for Activation {
    type Err = UnknownActivation;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Activation::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownActivation {
                name: s.to_string(),
            })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Reference values from TensorFlow (copied from the project's shared reference data).
    const KERAS_CSV: &str = include_str!("../tests/data/keras-activations.csv");
    const SOFTMAX_CSV: &str = include_str!("../tests/data/keras-softmax.csv");
    /// Softmax's derivative, computed exactly by `tests/data/softmax_jvp.py`.
    const SOFTMAX_JVP_CSV: &str = include_str!("../tests/data/softmax-jvp.csv");

    /// Within `ulps` ulps relative: no absolute slack, so a value that should be tiny (sigmoid
    /// at −20 is 2.1e-9) cannot pass as 0.
    fn within(ours: f32, reference: f64, ulps: f64) -> bool {
        (f64::from(ours) - reference).abs() <= ulps * f64::from(f32::EPSILON) * reference.abs()
    }

    fn close(ours: f32, theirs: f32) -> bool {
        within(ours, f64::from(theirs), 4.0)
    }

    /// Value and derivative at `x` in `f64`, from each activation's closed form with std's
    /// functions (written to be accurate in the tails: no `1 - y²` or `1 - σ` cancellation).
    /// Kinks take TensorFlow's side, as [`Activation::derivative`] documents. An independent
    /// reference for the `f32` code, also used by the network's gradient check.
    pub(crate) fn exact(act: Activation, x: f64) -> (f64, f64) {
        const LAMBDA: f64 = 1.050_700_987_355_480_5;
        const ALPHA: f64 = 1.673_263_242_354_377_2;
        // σ(x) and 1 − σ(x) = σ(−x), each without cancellation.
        let sigma = |x: f64| 1.0 / (1.0 + (-x).exp());
        match act {
            Elu if x >= 0.0 => (x, 1.0),
            Elu => (x.exp_m1(), x.exp()),
            HardSigmoid => (
                (0.2 * x + 0.5).clamp(0.0, 1.0),
                if (-2.5..=2.5).contains(&x) { 0.2 } else { 0.0 },
            ),
            Linear => (x, 1.0),
            Relu => (x.max(0.0), if x > 0.0 { 1.0 } else { 0.0 }),
            Selu if x >= 0.0 => (LAMBDA * x, LAMBDA),
            Selu => (LAMBDA * ALPHA * x.exp_m1(), LAMBDA * ALPHA * x.exp()),
            Sigmoid => (sigma(x), sigma(x) * sigma(-x)),
            Softmax => (1.0, 0.0),
            Softplus => (x.max(0.0) + (-x.abs()).exp().ln_1p(), sigma(x)),
            Softsign => (x / (1.0 + x.abs()), 1.0 / (1.0 + x.abs()).powi(2)),
            Swish => (x * sigma(x), sigma(x) + x * sigma(x) * sigma(-x)),
            Tanh => (x.tanh(), 1.0 / x.cosh().powi(2)),
            Symlog => (x.abs().ln_1p().copysign(x), 1.0 / (1.0 + x.abs())),
            Symexp => (x.abs().exp_m1().copysign(x), x.abs().exp()),
        }
    }

    fn reference_rows() -> Vec<(Activation, f32, f32, f32)> {
        KERAS_CSV
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("activation"))
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (
                    f[0].parse().unwrap(),
                    f[1].parse().unwrap(),
                    f[2].parse().unwrap(),
                    f[3].parse().unwrap(),
                )
            })
            .collect()
    }

    /// Where TensorFlow's own value is formed by cancellation and is therefore not accurate to
    /// a relative ulp: elu and selu at −0.001 (`eˣ − 1`: 85 ulps from the exact value) and
    /// tanh's derivative `1 − tanh²` at ±2.5, ±3, ±5 (29 to 4,237 ulps). There we compare with
    /// the exact value instead (and check that TF's is indeed off, so the list cannot go stale).
    const TF_CANCELS: [(Activation, f32, bool); 8] = [
        (Elu, -0.001, false),
        (Selu, -0.001, false),
        (Tanh, -5.0, true),
        (Tanh, -3.0, true),
        (Tanh, -2.5, true),
        (Tanh, 2.5, true),
        (Tanh, 3.0, true),
        (Tanh, 5.0, true),
    ];

    /// Every value and derivative against TensorFlow, relative only: values to 4 ulps;
    /// derivatives to 6, because ours are formed from the output (`y(1 − y)` for sigmoid), which
    /// amplifies the output's ≤ 2-ulp error (sigmoid′(2) is 3.3 ulps from the exact value, TF's
    /// 0.9). Except [`TF_CANCELS`], compared with the exact value: values to 4 ulps; tanh′ =
    /// `1 − y²` from y = tanh(x), which carries ≤ 1.5 ulps, to `(3y² + 1)/(1 − y²)` ulps (the
    /// error of y² magnified by the cancellation; at x = 5 ours is 1,270 ulps from exact,
    /// within that bound of 24,000).
    #[test]
    fn values_and_derivatives_match_tensorflow() {
        let rows = reference_rows();
        assert!(rows.len() >= 290, "reference file truncated");
        let mut failures = Vec::new();
        let mut excepted = 0;
        for (act, x, value, deriv) in rows {
            let (v, d) = (act.forward(x), act.derivative(x));
            let cancels = TF_CANCELS.iter().find(|c| c.0 == act && c.1 == x);
            let (exact_v, exact_d) = exact(act, f64::from(x));
            let (v_ok, d_ok) = match cancels {
                None => (close(v, value), within(d, f64::from(deriv), 6.0)),
                Some(&(_, _, false)) => {
                    excepted += 1;
                    assert!(!within(value, exact_v, 4.0), "TF's {act}({x}) is accurate");
                    (within(v, exact_v, 4.0), within(d, f64::from(deriv), 6.0))
                }
                Some(&(_, _, true)) => {
                    excepted += 1;
                    assert!(!within(deriv, exact_d, 6.0), "TF's {act}'({x}) is accurate");
                    let y2 = exact_v * exact_v;
                    let bound = (3.0 * y2 + 1.0) / (1.0 - y2);
                    (close(v, value), within(d, exact_d, bound))
                }
            };
            if !v_ok || !d_ok {
                failures.push(format!(
                    "{act}({x}): ours {v:e} / {d:e}, tf {value:e} / {deriv:e}, exact {exact_v:e} / {exact_d:e}"
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert_eq!(excepted, TF_CANCELS.len(), "an excepted row is missing");
    }

    /// Our own values and derivatives on the TensorFlow file's inputs against the exact
    /// `f64` closed forms, relative only, where neither side forms a difference of nearly
    /// equal numbers: a second, independent reference for every row.
    #[test]
    fn values_and_derivatives_match_the_exact_closed_forms() {
        let mut failures = Vec::new();
        for (act, x, _, _) in reference_rows() {
            let (exact_v, exact_d) = exact(act, f64::from(x));
            let v = act.forward(x);
            // Below the normal range f32 cannot hold the value (and training flushes it).
            let tiny = |e: f64| e.abs() < f64::from(f32::MIN_POSITIVE);
            if !(within(v, exact_v, 4.0) || tiny(exact_v) && v.abs() < f32::MIN_POSITIVE) {
                failures.push(format!("{act}({x}) = {v:e}, exact {exact_v:e}"));
            }
            // Derivatives computed from the output by cancellation (1 − y², y(1 − y), y + 1
            // for elu and selu) are accurate to ulps of 1, not of the result; the rest to 6
            // relative ulps.
            let d = act.derivative(x);
            let d_ok = match act {
                Tanh | Sigmoid | Elu | Selu => {
                    (f64::from(d) - exact_d).abs() <= 4.0 * f64::from(f32::EPSILON)
                }
                _ => within(d, exact_d, 6.0) || tiny(exact_d) && d.abs() < f32::MIN_POSITIVE,
            };
            if !d_ok {
                failures.push(format!("{act}'({x}) = {d:e}, exact {exact_d:e}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn every_keras_activation_and_the_pair_is_in_the_reference() {
        let rows = reference_rows();
        // The 11 Keras activations and the pair, softmax apart: the loops over elementwise
        // activations in these tests cover 12.
        let elementwise: Vec<Activation> = Activation::ALL
            .into_iter()
            .filter(|a| a.is_elementwise())
            .collect();
        assert_eq!(elementwise.len(), 12);
        assert!(!Softmax.is_elementwise());
        for act in elementwise {
            assert!(rows.iter().any(|r| r.0 == act), "{act} missing");
        }
    }

    #[test]
    fn softmax_matches_tensorflow_across_units() {
        for line in SOFTMAX_CSV.lines().skip(2) {
            let parts: Vec<Vec<f32>> = line
                .split("\",\"")
                .map(|p| {
                    p.trim_matches('"')
                        .split(' ')
                        .map(|v| v.parse().unwrap())
                        .collect()
                })
                .collect();
            let (input, expected) = (&parts[0], &parts[1]);
            let units = input.len();
            let mut out = vec![0.0; units];
            Softmax.forward_layer(input, &mut out, units, 1);
            for (o, e) in out.iter().zip(expected) {
                assert!(
                    close(*o, *e),
                    "softmax({input:?}) = {out:?}, tf {expected:?}"
                );
            }
        }
    }

    #[test]
    fn softmax_backward_matches_finite_differences() {
        // Two samples, three units, unit-major.
        let (units, n) = (3, 2);
        let z = [0.3f32, -1.0, 1.2, 0.5, -0.7, 2.0];
        let upstream = [0.4f32, -0.3, 1.1, 0.2, -0.9, 0.6];
        let mut out = [0.0; 6];
        Softmax.forward_layer(&z, &mut out, units, n);
        let mut dz = [0.0; 6];
        Softmax.backward_layer(&z, &out, &upstream, &mut dz, units, n);
        let objective = |z: &[f32]| {
            let mut o = [0.0f32; 6];
            Softmax.forward_layer(z, &mut o, units, n);
            o.iter()
                .zip(&upstream)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum::<f64>()
        };
        for k in 0..6 {
            let h = 1e-3;
            let (mut plus, mut minus) = (z, z);
            plus[k] += h;
            minus[k] -= h;
            let numeric = (objective(&plus) - objective(&minus)) / (2.0 * f64::from(h));
            assert!(
                (numeric - f64::from(dz[k])).abs() < 2e-3,
                "unit {k}: {numeric} vs {}",
                dz[k]
            );
        }
    }

    /// Far out in the tails every activation and derivative reaches its limit: the exact
    /// value rounded to `f32` (±∞ where that overflows, as symexp and λ·x at `f32::MAX` do),
    /// to 4 ulps relative, or within `f32::MIN_POSITIVE` where the exact value is below the
    /// normal range (training flushes those to zero anyway).
    #[test]
    fn huge_inputs_give_the_limits() {
        let xs = [
            -1e30f32,
            -1e4,
            -100.0,
            -50.0,
            50.0,
            100.0,
            1e4,
            1e30,
            f32::MAX,
            f32::MIN,
        ];
        let mut failures = Vec::new();
        for act in Activation::ALL.into_iter().filter(|a| a.is_elementwise()) {
            for x in xs {
                let (value, derivative) = exact(act, f64::from(x));
                for (what, ours, exact) in [
                    ("value", act.forward(x), value),
                    ("derivative", act.derivative(x), derivative),
                ] {
                    let rounded = exact as f32;
                    // Derivatives formed from the output by cancellation (y + 1 for elu and
                    // selu, y(1 − y), 1 − y²) are accurate to ulps of 1: elu′(−50) is 0, as
                    // in TensorFlow, where e⁻⁵⁰ ≈ 2e-22 is exact.
                    let cancels =
                        what == "derivative" && matches!(act, Elu | Selu | Sigmoid | Tanh);
                    let ok = if cancels {
                        (f64::from(ours) - exact).abs() <= 4.0 * f64::from(f32::EPSILON)
                    } else if rounded.is_infinite() {
                        ours == rounded
                    } else {
                        let err = (f64::from(ours) - exact).abs();
                        err <= 4.0 * f64::from(f32::EPSILON) * exact.abs()
                            || (exact.abs() < f64::from(f32::MIN_POSITIVE)
                                && err <= f64::from(f32::MIN_POSITIVE))
                    };
                    if !ok {
                        failures.push(format!("{act} {what} at {x:e}: {ours:e}, exact {exact:e}"));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        // Softmax of one sample with huge and tiny units: one unit takes everything.
        let z = [1e30f32, -1e30, 0.0, 3e38];
        let mut out = [f32::NAN; 4];
        Softmax.forward_layer(&z, &mut out, 4, 1);
        assert_eq!(out, [0.0, 0.0, 0.0, 1.0]);
        let z = [f32::MAX, f32::MAX, f32::MIN];
        let mut out = [f32::NAN; 3];
        Softmax.forward_layer(&z, &mut out, 3, 1);
        assert_eq!(out, [0.5, 0.5, 0.0]);
    }

    /// Softmax's derivative (the Jacobian-vector product back-propagation computes) against
    /// `softmax-jvp.csv`, computed exactly (decimal arithmetic, entry by entry of the Jacobian;
    /// see `tests/data/softmax_jvp.py`). The samples of one width form one layer batch, so the
    /// unit-major layout and the sample blocks are exercised.
    ///
    /// Tolerance: the rounding of `s_j (dy_j − Σ_k dy_k s_k)` in `f32` is bounded by a few ulps
    /// of the magnitudes involved, `s_j (|dy_j| + Σ_k |dy_k| s_k)`; we allow 8 ulps of it (with
    /// `s` from an `f64` closed form), or `f32::MIN_POSITIVE` for exact values below the normal
    /// range. An error of 1 % anywhere exceeds it by far.
    #[test]
    fn softmax_derivative_matches_exact_values() {
        type Case = (Vec<f32>, Vec<f32>, Vec<f64>);
        let parse = |field: &str| -> Vec<f64> {
            field
                .trim_matches('"')
                .split(' ')
                .map(|v| v.parse().unwrap())
                .collect()
        };
        let mut by_width = std::collections::BTreeMap::<usize, Vec<Case>>::new();
        for line in SOFTMAX_JVP_CSV.lines().skip(2) {
            let fields: Vec<&str> = line.split("\",\"").collect();
            assert_eq!(fields.len(), 3, "{line}");
            let to_f32 = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
            let (z, dy, grad) = (
                to_f32(parse(fields[0])),
                to_f32(parse(fields[1])),
                parse(fields[2]),
            );
            by_width.entry(z.len()).or_default().push((z, dy, grad));
        }
        assert_eq!(
            by_width.values().map(Vec::len).sum::<usize>(),
            36,
            "reference file truncated"
        );
        for (units, cases) in by_width {
            let n = cases.len();
            // Unit-major: unit j of sample b at j * n + b.
            let mut z = vec![0.0f32; units * n];
            let mut dy = vec![0.0f32; units * n];
            for (b, (zs, dys, _)) in cases.iter().enumerate() {
                for j in 0..units {
                    z[j * n + b] = zs[j];
                    dy[j * n + b] = dys[j];
                }
            }
            let mut out = vec![0.0f32; units * n];
            let mut dz = vec![f32::NAN; units * n];
            Softmax.forward_layer(&z, &mut out, units, n);
            Softmax.backward_layer(&z, &out, &dy, &mut dz, units, n);
            for (b, (zs, dys, expected)) in cases.iter().enumerate() {
                let max = zs
                    .iter()
                    .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
                let e: Vec<f64> = zs.iter().map(|&v| (f64::from(v) - max).exp()).collect();
                let total: f64 = e.iter().sum();
                let s: Vec<f64> = e.iter().map(|v| v / total).collect();
                let dot_magnitude: f64 = s
                    .iter()
                    .zip(dys)
                    .map(|(s, &d)| s * f64::from(d).abs())
                    .sum();
                for j in 0..units {
                    let ours = f64::from(dz[j * n + b]);
                    let magnitude = s[j] * (f64::from(dys[j]).abs() + dot_magnitude);
                    let bound = (8.0 * f64::from(f32::EPSILON) * magnitude).max(
                        if expected[j].abs() < f64::from(f32::MIN_POSITIVE) {
                            f64::from(f32::MIN_POSITIVE)
                        } else {
                            0.0
                        },
                    );
                    assert!(
                        (ours - expected[j]).abs() <= bound,
                        "softmax{zs:?} with upstream {dys:?}: unit {j}: ours {ours:e}, exact {:e}",
                        expected[j]
                    );
                }
            }
        }
    }

    #[test]
    fn the_pair_is_odd_with_unit_slope_at_zero() {
        for x in [0.01f32, 0.7, 3.0, 40.0] {
            assert_eq!(Symlog.forward(-x), -Symlog.forward(x));
            assert_eq!(Symexp.forward(-x), -Symexp.forward(x));
            // symexp undoes symlog
            let back = Symexp.forward(Symlog.forward(x));
            assert!((back - x).abs() <= 1e-5 * x.max(1.0), "{x} -> {back}");
        }
        assert_eq!(Symlog.derivative(0.0), 1.0);
        assert_eq!(Symexp.derivative(0.0), 1.0);
        assert_eq!(Symexp.forward(100.0), f32::INFINITY);
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_valid_ones() {
        for act in Activation::ALL {
            assert_eq!(act.name().parse::<Activation>(), Ok(act));
        }
        let err = "gelu".parse::<Activation>().unwrap_err().to_string();
        assert!(err.contains("gelu") && err.contains("hard_sigmoid") && err.contains("symexp"));
    }
}
