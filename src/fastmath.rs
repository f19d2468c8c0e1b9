//! Branch-free `f32` transcendentals that the compiler can vectorise.
//!
//! libm's scalar `expf`/`log1pf` cannot be vectorised and took most of a training step's time.
//! These are Cephes-style polynomial approximations written with selects instead of branches,
//! so a loop over a slice compiles to SIMD code (SSE2 everywhere, AVX2 where the caller enables
//! it). They use no fused multiply-add, so every instruction set gives the same bits.
//!
//! Accuracy over the whole range where the result is a normal `f32` (asserted by the tests
//! below against `f64` references; an "ulp" here is `f32::EPSILON` times the exact value):
//! `exp` ≤ 1, `ln` ≤ 1, `ln_1p` ≤ 2, `exp_m1` ≤ 1.5, `sigmoid` ≤ 2, `tanh` ≤ 1.5 (relative, or
//! absolute in ulps of 1). BENCHMARKS.md quotes the measured maxima.

const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in a part exactly representable with few bits and a correction (Cody–Waite).
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Adding then subtracting 1.5·2²³ rounds an `f32` below 2²² to the nearest integer without a
/// rounding instruction (SSE2 has none), and leaves that integer in the low mantissa bits.
const ROUND_MAGIC: f32 = 12_582_912.0;
/// Above this `exp` overflows `f32`.
const EXP_MAX: f32 = 88.722_83;
/// Below this `exp` is subnormal; we return 0 (as TensorFlow does with flush-to-zero).
const EXP_MIN: f32 = -87.336_55;

/// Cody–Waite reduction of a clamped `x` to `x = n·ln 2 + r`, `|r| ≤ ln 2 / 2`; returns `n` and
/// `eʳ − 1` (a Cephes polynomial, evaluated by Estrin's scheme: the same terms as Horner's rule
/// with half the dependency depth, so the vector units are not left waiting on one long chain).
#[inline(always)]
fn exp_reduced(clamped: f32) -> (i32, f32) {
    let shifted = clamped * LOG2_E + ROUND_MAGIC;
    let n = shifted - ROUND_MAGIC;
    // The integer n sits in the low mantissa bits of `shifted`.
    let n_int = (shifted.to_bits() as i32).wrapping_sub(ROUND_MAGIC.to_bits() as i32);
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let z = r * r;
    let r4 = z * z;
    let a = 1.666_666_5e-1 * r + 0.5;
    let b = 8.333_452e-3 * r + 4.166_579_6e-2;
    let c = 1.987_569_1e-4 * r + 1.398_199_9e-3;
    let p = (a + b * z) + c * r4;
    (n_int, p * z + r)
}

/// 2ⁿ for n in [-126, 128] as two factors, since 2¹²⁸ alone would overflow. Wrapping
/// arithmetic: for a NaN input `n` is meaningless, and the NaN carries through the other factor.
#[inline(always)]
fn pow2_halves(n: i32) -> (f32, f32) {
    let half = n >> 1;
    let a = f32::from_bits((half.wrapping_add(127) as u32) << 23);
    let b = f32::from_bits((n.wrapping_sub(half).wrapping_add(127) as u32) << 23);
    (a, b)
}

/// `eˣ`. Returns `inf` above ~88.72, `0` below ~-87.34, NaN for NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let (n, em1) = exp_reduced(clamp(x, EXP_MIN, EXP_MAX));
    let (a, b) = pow2_halves(n);
    let result = (em1 + 1.0) * a * b;
    if x > EXP_MAX {
        f32::INFINITY
    } else if x < EXP_MIN {
        0.0
    } else {
        result
    }
}

/// Natural logarithm of a positive normal `x`; `inf` for `inf`, NaN for NaN or negative input,
/// `-inf` for 0.
#[inline(always)]
pub fn ln(x: f32) -> f32 {
    let y = ln_finite(x);
    if x == f32::INFINITY || x.is_nan() {
        x
    } else if x == 0.0 {
        f32::NEG_INFINITY
    } else if x < 0.0 {
        f32::NAN
    } else {
        y
    }
}

/// [`ln`] without its special cases: meaningful only for positive, normal, finite `x`.
#[inline(always)]
fn ln_finite(x: f32) -> f32 {
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 127;
    // Mantissa in [1, 2), then folded into [√½, √2) so the polynomial argument is small.
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let big = m > std::f32::consts::SQRT_2;
    let m = if big { m * 0.5 } else { m };
    e += big as i32;
    let f = m - 1.0;
    let z = f * f;
    // Estrin's scheme (see `exp`) for P(f) = Σ c_k f^k, k = 0..8.
    let z2 = z * z;
    let z4 = z2 * z2;
    let q0 = -2.499_999_4e-1 * f + 3.333_333e-1;
    let q1 = -1.666_805_8e-1 * f + 2.000_071_4e-1;
    let q2 = -1.242_014_1e-1 * f + 1.424_932_3e-1;
    let q3 = -1.151_461e-1 * f + 1.167_699_9e-1;
    let poly = ((q0 + q1 * z) + (q2 + q3 * z) * z2) + 7.037_683_6e-2 * z4;
    let p = poly * f * z;
    let ef = e as f32;
    p + ef * LN2_LO - 0.5 * z + f + ef * LN2_HI
}

/// `ln(1 + x)` for `x ≥ 0`, accurate for tiny `x` (Goldberg's correction: the rounding error of
/// `1 + x` is undone by scaling with `x / ((1 + x) − 1)`).
#[inline(always)]
pub fn ln_1p(x: f32) -> f32 {
    let u = 1.0 + x;
    let d = u - 1.0;
    // u ≥ 1 here, so only infinity needs care; a NaN x makes x / d NaN, which carries through.
    let y = ln_finite(u) * (x / d);
    if d == 0.0 {
        x
    } else if u == f32::INFINITY {
        u
    } else {
        y
    }
}

/// `eˣ − 1`, accurate near 0: `2ⁿ·((eʳ − 1) + (1 − 2⁻ⁿ))` with the reduction of [`exp`], so a
/// single polynomial serves every `x` and nothing cancels when `n = 0`.
#[inline(always)]
pub fn exp_m1(x: f32) -> f32 {
    let (n, em1) = exp_reduced(clamp(x, EXP_MIN, EXP_MAX));
    let (a, b) = pow2_halves(n);
    // 2^-k for k = min(n, 25): beyond 25, 1 − 2^-n rounds to 1 anyway.
    let k = n.min(25);
    let inv = f32::from_bits((127i32.wrapping_sub(k) as u32) << 23);
    let y = (em1 + (1.0 - inv)) * a * b;
    if x > EXP_MAX {
        f32::INFINITY
    } else if x < EXP_MIN {
        -1.0
    } else {
        y
    }
}

/// `x` if `x > y`, else `y` (so a NaN `x` gives `y`): what `f32::max` returns, written as a
/// comparison and a selection so that every loop using it vectorises (with `f32::max`, some
/// of the activation loops stayed scalar).
#[inline(always)]
pub fn max(x: f32, y: f32) -> f32 {
    if x > y { x } else { y }
}

/// `x` if `x < y`, else `y`: [`max`]'s counterpart for `f32::min`.
#[inline(always)]
pub fn min(x: f32, y: f32) -> f32 {
    if x < y { x } else { y }
}

/// `x` limited to `[low, high]`, NaN kept: `f32::clamp` as selections (see [`max`]).
#[inline(always)]
pub fn clamp(x: f32, low: f32, high: f32) -> f32 {
    let raised = if x < low { low } else { x };
    if raised > high { high } else { raised }
}

/// `tanh(x)` as `e / (e + 2)` with `e = expm1(2|x|)`, clamped where tanh rounds to ±1.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = min(x.abs(), 9.0);
    let e = exp_m1(2.0 * a);
    let y = e / (e + 2.0);
    if x.is_nan() { x } else { y.copysign(x) }
}

/// `1 / (1 + e⁻ˣ)` without overflow for any input.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    let e = exp(-x.abs());
    let s = 1.0 / (1.0 + e);
    // For x < 0, σ(x) = e·σ(|x|): no cancellation.
    if x >= 0.0 { s } else { e * s }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: u32 = 1031;

    /// Relative error in units of f32 ulp at the reference value.
    fn ulps(ours: f32, exact: f64) -> f64 {
        if f64::from(ours) == exact || (ours.is_nan() && exact.is_nan()) {
            return 0.0;
        }
        let ulp = f64::from(f32::EPSILON) * exact.abs().max(f64::from(f32::MIN_POSITIVE));
        (f64::from(ours) - exact).abs() / ulp
    }

    /// Every `STEP`-th f32 bit pattern between `lo` and `hi`, plus the ends: about 10⁷ points over
    /// the full range, with the same spacing in ulps everywhere.
    fn sweep(lo: f32, hi: f32, mut f: impl FnMut(f32)) {
        let mut x = lo;
        while x < hi {
            f(x);
            let next = if x >= 0.0 {
                f32::from_bits(x.to_bits() + STEP)
            } else if x.to_bits() & 0x7fff_ffff <= STEP {
                0.0
            } else {
                f32::from_bits(x.to_bits() - STEP)
            };
            x = next;
        }
        f(hi);
    }

    fn max_ulps(lo: f32, hi: f32, ours: impl Fn(f32) -> f32, exact: impl Fn(f64) -> f64) -> f64 {
        let mut worst: f64 = 0.0;
        sweep(lo, hi, |x| {
            worst = worst.max(ulps(ours(x), exact(f64::from(x))))
        });
        worst
    }

    #[test]
    fn exp_is_within_2_ulp() {
        let worst = max_ulps(-87.3, 88.7, exp, f64::exp);
        eprintln!("exp: max {worst:.2} ulp");
        assert!(worst <= 1.0, "exp: {worst} ulp");
        assert_eq!(exp(89.0), f32::INFINITY);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
    }

    #[test]
    fn ln_is_within_2_ulp() {
        let worst = max_ulps(f32::MIN_POSITIVE, f32::MAX, ln, f64::ln);
        eprintln!("ln: max {worst:.2} ulp");
        assert!(worst <= 1.0, "ln: {worst} ulp");
        assert_eq!(ln(1.0), 0.0);
        assert_eq!(ln(f32::INFINITY), f32::INFINITY);
        assert_eq!(ln(0.0), f32::NEG_INFINITY);
        assert!(ln(-1.0).is_nan() && ln(f32::NAN).is_nan());
    }

    #[test]
    fn ln_1p_is_within_3_ulp() {
        let worst = max_ulps(0.0, f32::MAX, ln_1p, f64::ln_1p);
        eprintln!("ln_1p: max {worst:.2} ulp");
        assert!(worst <= 2.0, "ln_1p: {worst} ulp");
        assert_eq!(ln_1p(f32::INFINITY), f32::INFINITY);
        assert_eq!(ln_1p(1e-30), 1e-30);
    }

    #[test]
    fn exp_m1_is_within_3_ulp() {
        let worst = max_ulps(-87.3, 88.7, exp_m1, f64::exp_m1);
        eprintln!("exp_m1: max {worst:.2} ulp");
        assert!(worst <= 1.5, "exp_m1: {worst} ulp");
        assert_eq!(exp_m1(100.0), f32::INFINITY);
        assert_eq!(exp_m1(-100.0), -1.0);
    }

    #[test]
    fn tanh_and_sigmoid_are_accurate_and_never_nan() {
        let mut worst: f64 = 0.0;
        sweep(-20.0, 20.0, |x| {
            let exact = f64::from(x).tanh();
            let err = (f64::from(tanh(x)) - exact).abs();
            let rel = err / (f64::from(f32::EPSILON) * exact.abs());
            worst = worst.max(rel.min(err / f64::from(f32::EPSILON)));
        });
        eprintln!("tanh: max {worst:.2} ulp (relative, or absolute in ulps of 1)");
        assert!(worst <= 1.5, "tanh: {worst}");
        let worst = max_ulps(-87.0, 87.0, sigmoid, |x| 1.0 / (1.0 + (-x).exp()));
        eprintln!("sigmoid: max {worst:.2} ulp");
        assert!(worst <= 2.0, "sigmoid: {worst} ulp");
        // The limits, exactly, at the ends of the range (where a careless formula gives NaN).
        for (x, t, s) in [
            (f32::MAX, 1.0, 1.0),
            (f32::MIN, -1.0, 0.0),
            (f32::INFINITY, 1.0, 1.0),
            (f32::NEG_INFINITY, -1.0, 0.0),
            (100.0, 1.0, 1.0),
            (-100.0, -1.0, 0.0),
        ] {
            assert_eq!((tanh(x), sigmoid(x)), (t, s), "at {x}");
        }
    }
}
