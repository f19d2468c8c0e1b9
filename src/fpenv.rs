//! The floating-point environment training and prediction run in: subnormal numbers flushed
//! to zero, as TensorFlow does.
//!
//! TensorFlow runs every CPU kernel with denormals-are-zero and flush-to-zero set (its
//! `ScopedFlushDenormal`; its constant folding does the same "because TensorFlow flushes
//! denormals to zero"), so the Keras runs of the paper never saw a subnormal `f32`. logexp
//! follows suit for two reasons:
//!
//! - **Fidelity.** Values below `f32::MIN_POSITIVE` (≈ 1.2·10⁻³⁸) become 0 exactly where they
//!   do in Keras: saturated softmax outputs, vanishing gradients, Adam moments of dead units.
//! - **Speed.** x86 CPUs take a slow path for subnormal operands. Nets with saturated
//!   softmax or softplus layers produce them on every step and trained up to 40 % slower
//!   without the flush.
//!
//! The mode is set by a guard, [`FlushSubnormals`], held by [`crate::train::Trainer`]'s
//! methods and [`crate::metrics::predict`] for the duration of each call and restored when it
//! ends, so code outside logexp never sees it. It is implemented for x86-64 (MXCSR) and
//! AArch64 (FPCR); elsewhere the guard does nothing and subnormals are kept, so results on
//! such targets may differ in the last bits from x86-64.

/// While alive, the current thread treats subnormal `f32`/`f64` inputs as zero and flushes
/// subnormal results to zero; dropping it restores the previous mode.
///
/// ```
/// use logexp::fpenv::FlushSubnormals;
/// use std::hint::black_box;
/// // 2⁻¹²⁷, a subnormal; compared as bits, since any arithmetic would itself be flushed.
/// let half_of_smallest = || (black_box(f32::MIN_POSITIVE) * black_box(0.5f32)).to_bits();
/// {
///     let _flush = FlushSubnormals::new();
///     # #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
///     assert_eq!(half_of_smallest(), 0); // flushed to +0
/// }
/// assert_eq!(half_of_smallest(), 0x0040_0000); // kept once the guard is gone
/// ```
#[derive(Debug)]
#[must_use = "the mode lasts only while the guard is alive"]
pub struct FlushSubnormals {
    #[cfg_attr(
        not(any(target_arch = "x86_64", target_arch = "aarch64")),
        allow(dead_code)
    )]
    saved: u64,
}

impl FlushSubnormals {
    /// Sets flush-to-zero and denormals-are-zero for the current thread.
    #[inline]
    pub fn new() -> Self {
        let saved = read_control();
        write_control(saved | FLUSH_BITS);
        FlushSubnormals { saved }
    }
}

impl Default for FlushSubnormals {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for FlushSubnormals {
    #[inline]
    fn drop(&mut self) {
        write_control(self.saved);
    }
}

/// MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6).
#[cfg(target_arch = "x86_64")]
const FLUSH_BITS: u64 = 0x8040;

/// FPCR's flush-to-zero (bit 24), which on AArch64 covers inputs and results.
#[cfg(target_arch = "aarch64")]
const FLUSH_BITS: u64 = 1 << 24;

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const FLUSH_BITS: u64 = 0;

#[cfg(target_arch = "x86_64")]
#[inline]
fn read_control() -> u64 {
    let mut csr: u32 = 0;
    // SAFETY: `stmxcsr` stores the 4-byte MXCSR into `csr`, which lives on our stack.
    unsafe {
        std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
    }
    u64::from(csr)
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn write_control(value: u64) {
    let csr = value as u32;
    // SAFETY: `ldmxcsr` loads MXCSR from `csr`; the value is the saved register with at most
    // the FTZ and DAZ bits changed, which alter no exception masks or rounding mode.
    unsafe {
        std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags));
    }
}

#[cfg(target_arch = "aarch64")]
#[inline]
fn read_control() -> u64 {
    let fpcr: u64;
    // SAFETY: reading FPCR has no side effects.
    unsafe {
        std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags));
    }
    fpcr
}

#[cfg(target_arch = "aarch64")]
#[inline]
fn write_control(value: u64) {
    // SAFETY: the value is the saved FPCR with at most the FZ bit changed.
    unsafe {
        std::arch::asm!("msr fpcr, {}", in(reg) value, options(nostack, preserves_flags));
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[inline]
fn read_control() -> u64 {
    0
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[inline]
fn write_control(_: u64) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hint::black_box;

    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn subnormals_are_flushed_only_while_the_guard_lives() {
        let tiny = black_box(f32::MIN_POSITIVE / 4.0);
        assert!(tiny > 0.0 && !tiny.is_normal());
        let before = read_control();
        {
            let _outer = FlushSubnormals::new();
            // A subnormal result is flushed ...
            assert_eq!(
                black_box(black_box(f32::MIN_POSITIVE) * black_box(0.25f32)),
                0.0
            );
            // ... and a subnormal operand reads as zero (on x86-64, DAZ).
            #[cfg(target_arch = "x86_64")]
            assert_eq!(black_box(tiny) * black_box(4.0f32), 0.0);
            {
                let _inner = FlushSubnormals::new();
            }
            // Nested guards restore what they found: still flushing.
            assert_eq!(
                black_box(black_box(f32::MIN_POSITIVE) * black_box(0.25f32)),
                0.0
            );
            // Normal arithmetic is untouched.
            assert_eq!(black_box(1.5f32) * black_box(2.0f32), 3.0);
        }
        assert_eq!(read_control(), before);
        assert_eq!(black_box(tiny) * black_box(4.0f32), f32::MIN_POSITIVE);
    }
}
