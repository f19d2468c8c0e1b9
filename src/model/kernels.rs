//! The affine kernels every model shares: weighted sums over feature-major, padded batches and
//! their gradients, with fixed summation orders so that every instruction set gives the same
//! bits.

use super::{LANES, Lanes};

/// Where one affine layer's weights (`units × inputs`, row `j` feeds unit `j`) and biases sit
/// in the flat parameter buffer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AffineShape {
    /// Inputs of the layer.
    pub(crate) inputs: usize,
    /// Units (outputs) of the layer.
    pub(crate) units: usize,
    /// Offset of the `units × inputs` weight matrix.
    pub(crate) weights: usize,
    /// Offset of the `units` biases.
    pub(crate) biases: usize,
}

/// Sums 8 lanes in a fixed order, so results never depend on the machine: upper half onto
/// lower half, then again, then the last pair — the order of a SIMD horizontal sum.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub(crate) fn sum_lanes(v: &Lanes) -> f32 {
    sum_lanes_portable(v)
}

/// [`sum_lanes`] in plain Rust: what other machines run, and, compiled on x86-64 for the tests
/// too, the reference the SSE version must match bit for bit (CI runs on x86-64 only).
#[cfg_attr(all(target_arch = "x86_64", not(test)), allow(dead_code))]
#[inline(always)]
fn sum_lanes_portable(v: &Lanes) -> f32 {
    let h = [v[0] + v[4], v[1] + v[5], v[2] + v[6], v[3] + v[7]];
    let g = [h[0] + h[2], h[1] + h[3]];
    g[0] + g[1]
}

/// The same sum in the same order, written with SSE (part of every x86-64), because the
/// compiler's own vectorisation of the portable version splits the accumulator into 2-wide
/// pieces and is several times slower.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn sum_lanes(v: &Lanes) -> f32 {
    use std::arch::x86_64::*;
    // SAFETY: SSE is part of the x86-64 baseline; the loads read the 8 lanes of `v`.
    unsafe {
        let lo = _mm_loadu_ps(v.as_ptr());
        let hi = _mm_loadu_ps(v.as_ptr().add(4));
        let h = _mm_add_ps(lo, hi); // v[k] + v[k+4]
        let g = _mm_add_ps(h, _mm_movehl_ps(h, h)); // h[0]+h[2], h[1]+h[3]
        let s = _mm_add_ss(g, _mm_shuffle_ps::<0b01>(g, g)); // g[0] + g[1]
        _mm_cvtss_f32(s)
    }
}

/// Copies a network's last layer (unit-major, `stride` lanes per unit) to `out` in the layout
/// of [`super::Network::forward`]: the `n` values for one output, the padded rows of every
/// output for several.
#[inline(always)]
pub(crate) fn copy_outputs(last: &[f32], outputs: usize, n: usize, stride: usize, out: &mut [f32]) {
    match outputs {
        1 => out[..n].copy_from_slice(&last[..n]),
        k => out[..k * stride].copy_from_slice(&last[..k * stride]),
    }
}

/// Loads the loss gradient `d_out` (laid out as [`copy_outputs`] writes predictions) into the
/// last layer's gradient buffer `d_a`, with zeros in every padding lane.
#[inline(always)]
pub(crate) fn load_output_gradient(
    d_out: &[f32],
    outputs: usize,
    n: usize,
    stride: usize,
    d_a: &mut [f32],
) {
    match outputs {
        1 => {
            d_a[..n].copy_from_slice(&d_out[..n]);
            d_a[n..stride].fill(0.0);
        }
        k => {
            d_a[..k * stride].copy_from_slice(&d_out[..k * stride]);
            zero_padding(d_a, k, n, stride);
        }
    }
}

/// Sets the padding lanes `n..stride` of each unit to zero (nothing to do for full batches).
#[inline(always)]
pub(crate) fn zero_padding(buf: &mut [f32], units: usize, n: usize, stride: usize) {
    if n < stride {
        for row in buf[..units * stride].chunks_exact_mut(stride) {
            row[n..].fill(0.0);
        }
    }
}

/// Rows processed together by the kernels: 4 blocks of [`LANES`], i.e. a full batch of 32,
/// held in registers as independent accumulators so that additions do not wait on each other.
const TILE: usize = 4;

/// Calls `kernel::<TILE>` on each full tile of the batch, then `kernel::<1>` on the remaining
/// blocks; `kernel` receives the first row of its tile.
macro_rules! for_each_tile {
    ($stride:expr, $kernel:ident ( $($arg:expr),* )) => {{
        let stride = $stride;
        let mut block = 0;
        while block + TILE * LANES <= stride {
            $kernel::<TILE>($($arg,)* block);
            block += TILE * LANES;
        }
        while block < stride {
            $kernel::<1>($($arg,)* block);
            block += LANES;
        }
    }};
}

/// `z[j] = b[j] + Σᵢ W[j,i] · x[i]` for every row of the batch.
#[inline(always)]
pub(crate) fn affine_forward(
    params: &[f32],
    layer: &AffineShape,
    x: &[f32],
    stride: usize,
    z: &mut [f32],
) {
    let map = WeightMap {
        weights: &params[layer.weights..layer.biases],
        out_step: layer.inputs,
        in_step: 1,
        n_out: layer.units,
        n_in: layer.inputs,
    };
    let biases = &params[layer.biases..layer.biases + layer.units];
    for_each_tile!(
        stride,
        weighted_sums_tile(&map, |j| biases[j], x, stride, z)
    );
}

/// A weight matrix read either way round: output `r` takes input `k` with weight
/// `weights[r * out_step + k * in_step]`. The forward pass reads W, back-propagation Wᵀ.
struct WeightMap<'a> {
    weights: &'a [f32],
    out_step: usize,
    in_step: usize,
    n_out: usize,
    n_in: usize,
}

/// `out[r] = init(r) + Σ_k w(r, k) · src[k]` for the rows `block..block + T·LANES` of the batch,
/// with those rows held in `T` independent 8-lane accumulators.
///
/// Outputs are computed two at a time: the two share every load of `src`, and their 2·T
/// accumulator chains keep the adders busy where one output's T chains would wait on the
/// latency of each addition. Each output still sums its terms in the order of `k`, so the
/// blocking does not change any bit.
#[inline(always)]
fn weighted_sums_tile<const T: usize>(
    map: &WeightMap,
    init: impl Fn(usize) -> f32,
    src: &[f32],
    stride: usize,
    out: &mut [f32],
    block: usize,
) {
    let mut r = 0;
    while r + 2 <= map.n_out {
        weighted_sums_rows::<T, 2>(map, &init, src, stride, out, block, r);
        r += 2;
    }
    if r < map.n_out {
        weighted_sums_rows::<T, 1>(map, &init, src, stride, out, block, r);
    }
}

/// [`weighted_sums_tile`] for the `R` outputs `first..first + R`.
#[inline(always)]
fn weighted_sums_rows<const T: usize, const R: usize>(
    map: &WeightMap,
    init: &impl Fn(usize) -> f32,
    src: &[f32],
    stride: usize,
    out: &mut [f32],
    block: usize,
    first: usize,
) {
    let mut acc: [[Lanes; T]; R] = std::array::from_fn(|i| [[init(first + i); LANES]; T]);
    // Every index the loop reads, checked once here rather than six times per input (the
    // checks took a third of the loop's instructions). Layers have at least one input.
    assert!(map.n_in > 0, "a layer without inputs");
    let last_weight = (first + R - 1) * map.out_step + (map.n_in - 1) * map.in_step;
    assert!(last_weight < map.weights.len(), "weight index out of range");
    assert!(
        (map.n_in - 1) * stride + block + T * LANES <= src.len(),
        "input index out of range"
    );
    for k in 0..map.n_in {
        // SAFETY: `i < R` and `k < n_in`, so the index is at most `last_weight`, asserted to
        // be in range above.
        let w: [f32; R] = std::array::from_fn(|i| unsafe {
            *map.weights
                .get_unchecked((first + i) * map.out_step + k * map.in_step)
        });
        for t in 0..T {
            let at = k * stride + block + t * LANES;
            // SAFETY: `at + LANES <= (n_in - 1) * stride + block + T * LANES <= src.len()`,
            // asserted above.
            let xs: &Lanes = unsafe { &*src.as_ptr().add(at).cast::<Lanes>() };
            for (acc, &w) in acc.iter_mut().zip(&w) {
                for l in 0..LANES {
                    acc[t][l] += w * xs[l];
                }
            }
        }
    }
    for (i, acc) in acc.iter().enumerate() {
        for (t, acc) in acc.iter().enumerate() {
            let at = (first + i) * stride + block + t * LANES;
            out[at..at + LANES].copy_from_slice(acc);
        }
    }
}

/// Weight and bias gradients of one layer from its pre-activation gradient `d_z`:
/// `∂W[j,i] = Σ_b d_z[j,b] · x[i,b]`, `∂b[j] = Σ_b d_z[j,b]`.
#[inline(always)]
pub(crate) fn affine_backward(
    layer: &AffineShape,
    x: &[f32],
    stride: usize,
    d_z: &[f32],
    grad: &mut [f32],
) {
    for j in 0..layer.units {
        let dz_row = &d_z[j * stride..(j + 1) * stride];
        grad[layer.biases + j] = reduce(dz_row, dz_row, |a, _| a);
        let grad_row = &mut grad[layer.weights + j * layer.inputs..][..layer.inputs];
        // Four inputs at a time share the loads of `dz_row` and one horizontal reduction.
        let mut i = 0;
        while i + 4 <= layer.inputs {
            let row = |k: usize| &x[(i + k) * stride..(i + k + 1) * stride];
            let xs = [row(0), row(1), row(2), row(3)];
            grad_row[i..i + 4].copy_from_slice(&dot4(dz_row, xs));
            i += 4;
        }
        for (i, g) in grad_row.iter_mut().enumerate().skip(i) {
            *g = reduce(dz_row, &x[i * stride..(i + 1) * stride], |a, b| a * b);
        }
    }
}

/// [`dot4`] with 8-lane AVX registers: lane `l` of each accumulator sums exactly what lanes
/// `l` of the two SSE halves sum, so the results are the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn dot4_avx2(a: &[f32], xs: [&[f32]; 4]) -> [f32; 4] {
    use std::arch::x86_64::*;
    let len = a.len();
    // SAFETY: the caller checked that every slice holds a multiple of 8 floats; each load reads
    // 8 floats inside them.
    unsafe {
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut block = 0;
        while block < len {
            let va = _mm256_loadu_ps(a.as_ptr().add(block));
            for k in 0..4 {
                let vx = _mm256_loadu_ps(xs[k].as_ptr().add(block));
                acc[k] = _mm256_add_ps(acc[k], _mm256_mul_ps(va, vx));
            }
            block += LANES;
        }
        sum_four(acc.map(|v| _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v))))
    }
}

/// Four dot products of `a` with `xs[k]`, each summed in the same order as [`reduce`] (so
/// either path gives the same bits).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn dot4(a: &[f32], xs: [&[f32]; 4]) -> [f32; 4] {
    xs.map(|x| reduce(a, x, |p, q| p * q))
}

/// Four dot products of `a` with `xs[k]` with SSE (part of every x86-64): one pass over `a`,
/// then a 4×4 transpose so the four horizontal sums are done together, in the order of
/// [`sum_lanes`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn dot4(a: &[f32], xs: [&[f32]; 4]) -> [f32; 4] {
    use std::arch::x86_64::*;
    let len = a.len();
    assert!(len.is_multiple_of(LANES) && xs.iter().all(|x| x.len() == len));
    if crate::isa::avx2() && !sse2_forced() {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { dot4_avx2(a, xs) };
    }
    // SAFETY: SSE is part of the x86-64 baseline; every load reads 4 floats inside a slice
    // whose length is a multiple of 8 (asserted above).
    unsafe {
        let mut lo = [_mm_setzero_ps(); 4];
        let mut hi = [_mm_setzero_ps(); 4];
        let mut block = 0;
        while block < len {
            let a_lo = _mm_loadu_ps(a.as_ptr().add(block));
            let a_hi = _mm_loadu_ps(a.as_ptr().add(block + 4));
            for k in 0..4 {
                let x = xs[k].as_ptr().add(block);
                lo[k] = _mm_add_ps(lo[k], _mm_mul_ps(a_lo, _mm_loadu_ps(x)));
                hi[k] = _mm_add_ps(hi[k], _mm_mul_ps(a_hi, _mm_loadu_ps(x.add(4))));
            }
            block += LANES;
        }
        sum_four([0, 1, 2, 3].map(|k| _mm_add_ps(lo[k], hi[k])))
    }
}

/// The four horizontal sums that end [`dot4`]: `h[k]` holds accumulator `k` folded to 4 lanes,
/// `(v[0]+v[4], v[1]+v[5], v[2]+v[6], v[3]+v[7])`; a 4×4 transpose lets all four finish as
/// `(h[0] + h[2]) + (h[1] + h[3])`, the order of [`sum_lanes`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn sum_four(h: [std::arch::x86_64::__m128; 4]) -> [f32; 4] {
    use std::arch::x86_64::*;
    // SAFETY: SSE is part of the x86-64 baseline; the store writes the 4 floats of `out`.
    unsafe {
        let t01_lo = _mm_unpacklo_ps(h[0], h[1]); // h0[0] h1[0] h0[1] h1[1]
        let t23_lo = _mm_unpacklo_ps(h[2], h[3]);
        let t01_hi = _mm_unpackhi_ps(h[0], h[1]); // h0[2] h1[2] h0[3] h1[3]
        let t23_hi = _mm_unpackhi_ps(h[2], h[3]);
        let t0 = _mm_movelh_ps(t01_lo, t23_lo); // lane 0 of every h
        let t1 = _mm_movehl_ps(t23_lo, t01_lo);
        let t2 = _mm_movelh_ps(t01_hi, t23_hi);
        let t3 = _mm_movehl_ps(t23_hi, t01_hi);
        let sum = _mm_add_ps(_mm_add_ps(t0, t2), _mm_add_ps(t1, t3));
        let mut out = [0.0f32; 4];
        _mm_storeu_ps(out.as_mut_ptr(), sum);
        out
    }
}

/// `Σ_b f(a[b], c[b])` over a padded row in a fixed order: one accumulator per lane, then
/// [`sum_lanes`].
#[inline(always)]
fn reduce(a: &[f32], c: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc: Lanes = [0.0; LANES];
    for (xa, xc) in a.chunks_exact(LANES).zip(c.chunks_exact(LANES)) {
        for l in 0..LANES {
            acc[l] += f(xa[l], xc[l]);
        }
    }
    sum_lanes(&acc)
}

/// `d_x[i] = Σⱼ W[j,i] · d_z[j]`: the gradient with respect to the layer's input.
#[inline(always)]
pub(crate) fn propagate_to_input(
    params: &[f32],
    layer: &AffineShape,
    stride: usize,
    d_z: &[f32],
    d_x: &mut [f32],
) {
    let map = WeightMap {
        weights: &params[layer.weights..layer.biases],
        out_step: 1,
        in_step: layer.inputs,
        n_out: layer.inputs,
        n_in: layer.units,
    };
    for_each_tile!(stride, weighted_sums_tile(&map, |_| 0.0, d_z, stride, d_x));
}

/// Whether [`dot4`] must take its SSE2 branch on an AVX2 CPU: never, outside the unit tests
/// (this compiles to a constant).
#[cfg(all(target_arch = "x86_64", not(test)))]
#[inline(always)]
fn sse2_forced() -> bool {
    false
}

/// In the unit tests, whether this thread asked for the SSE2 branch (see
/// `tests::with_sse2_dot4`), so that the two paths are compared on an AVX2 machine.
#[cfg(all(target_arch = "x86_64", test))]
fn sse2_forced() -> bool {
    tests::SSE2_FORCED.with(std::cell::Cell::get)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::cell::Cell;

    thread_local! {
        pub(super) static SSE2_FORCED: Cell<bool> = const { Cell::new(false) };
    }

    /// Runs `f` with every [`dot4`] on this thread taking its SSE2 branch, so that tests on an
    /// AVX2 machine compare the two paths.
    pub(crate) fn with_sse2_dot4<R>(f: impl FnOnce() -> R) -> R {
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                SSE2_FORCED.with(|c| c.set(false));
            }
        }
        SSE2_FORCED.with(|c| c.set(true));
        let _reset = Reset;
        f()
    }

    /// The guard before the unchecked loads covers the transposed layout of back-propagation
    /// (inputs `in_step` apart), where one weight too few must be caught, not read past.
    #[test]
    #[should_panic(expected = "weight index out of range")]
    fn a_transposed_weight_map_one_weight_short_is_refused() {
        let weights = [1.0f32; 6]; // output 0 reads weights 0, 3 and 6
        let map = WeightMap {
            weights: &weights,
            out_step: 1,
            in_step: 3,
            n_out: 1,
            n_in: 3,
        };
        let src = [1.0f32; 3 * LANES];
        let mut out = [0.0f32; LANES];
        weighted_sums_rows::<1, 1>(&map, &|_| 0.0, &src, LANES, &mut out, 0, 0);
    }

    #[test]
    fn the_lane_sum_gives_the_bits_of_the_portable_order() {
        use rand::Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        for _ in 0..2000 {
            // Magnitudes far apart, so that any other order of the additions rounds differently.
            let lanes: Lanes = std::array::from_fn(|_| {
                rng.random_range(-1.0f32..1.0) * 10f32.powi(rng.random_range(-6..7))
            });
            assert_eq!(
                sum_lanes(&lanes).to_bits(),
                sum_lanes_portable(&lanes).to_bits(),
                "{lanes:?}"
            );
        }
        // The order itself: ((v0+v4) + (v2+v6)) + ((v1+v5) + (v3+v7)), by hand.
        // In index order the three ones would vanish into 1e8 and the sum would be 0.
        let v: Lanes = [1e8, 1.0, 1.0, 1.0, -1e8, 0.0, 0.0, 0.0];
        assert_eq!(sum_lanes_portable(&v), 3.0);
        assert_eq!(sum_lanes(&v), 3.0);
    }

    #[test]
    fn four_dot_products_at_once_give_the_bits_of_one_at_a_time() {
        use rand::Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for len in [8, 16, 32, 40] {
            let mut row = || {
                (0..len)
                    .map(|_| rng.random_range(-3.0f32..3.0))
                    .collect::<Vec<_>>()
            };
            let a = row();
            let xs = [row(), row(), row(), row()];
            let together = dot4(&a, [&xs[0], &xs[1], &xs[2], &xs[3]]);
            // On an AVX2 machine the call above took the AVX2 branch; this one takes SSE2's.
            let sse2 = with_sse2_dot4(|| dot4(&a, [&xs[0], &xs[1], &xs[2], &xs[3]]));
            for k in 0..4 {
                let alone = reduce(&a, &xs[k], |p, q| p * q);
                assert_eq!(together[k].to_bits(), alone.to_bits(), "len {len}, k {k}");
                assert_eq!(sse2[k].to_bits(), alone.to_bits(), "SSE2: len {len}, k {k}");
                let exact: f64 = a
                    .iter()
                    .zip(&xs[k])
                    .map(|(p, q)| f64::from(*p) * f64::from(*q))
                    .sum();
                assert!((f64::from(alone) - exact).abs() < 1e-4 * (1.0 + exact.abs()));
            }
        }
    }
}
