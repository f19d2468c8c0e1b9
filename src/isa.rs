//! The one place that chooses the instruction set the kernels run with.
//!
//! The hot loops are compiled twice: for the x86-64 baseline (SSE2) and, inside
//! `#[target_feature(enable = "avx2")]` wrappers, for AVX2. Every caller asks [`avx2`] which to
//! take, so the choice (and any future one, e.g. AVX-512 or NEON) is made here only. Both
//! paths sum in the same order and use no fused multiply-add, so they give the same bits
//! (tested).

/// Whether the AVX2 versions of the kernels may run on this CPU. The answer is detected once
/// by the standard library and cached; elsewhere than x86-64 it is always `false`.
#[inline(always)]
pub fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
