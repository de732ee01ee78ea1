//! Flush-to-zero for float arithmetic on tensors.
//!
//! A subnormal (denormal) float operand makes x86 and Arm cores take a slow microcode path,
//! tens to hundreds of cycles per operation. A network in training can come to produce them
//! in its activations — attention weights that underflow, say — and then every matrix product
//! that reads them slows down: GraphGDP's Community-small training on an AVX-512 Xeon went
//! from 0.2 s to over 1 s per step between steps 4,000 and 7,000, with MKL's SGEMM kernels
//! taking two thirds of the time (BENCHMARKS.md, "GraphGDP quality"). PyTorch's remedy is
//! `torch.set_flush_denormal(True)`; [`flush_denormals`] is the same switch.
//!
//! With it, results below `f32::MIN_POSITIVE` (≈ 1.2e-38; for `f64` ≈ 2.2e-308) become zero and
//! such inputs are read as zero: a change no loss, score or sample of these models can show,
//! and the same on every run, so determinism is kept.

/// Sets flush-to-zero and denormals-are-zero in the calling thread's floating-point control
/// register (x86-64: MXCSR FTZ and DAZ; AArch64: FPCR FZ), as `torch.set_flush_denormal(True)`
/// does. Threads created afterwards inherit the setting (Linux copies the register to a new
/// thread), so call it first thing in `main`, before libtorch, OpenMP or rayon start threads;
/// the `graphdiff` binary does. Returns true where the platform has the switch; elsewhere it
/// does nothing and returns false. Safe to call more than once.
pub fn flush_denormals() -> bool {
    imp::flush_denormals()
}

/// Whether flush-to-zero is on in the calling thread.
pub fn denormals_flushed() -> bool {
    imp::denormals_flushed()
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod imp {
    use std::arch::asm;

    /// MXCSR bit 15: flush to zero; bit 6: denormals are zero.
    const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);

    fn read() -> u32 {
        let mut csr: u32 = 0;
        // SAFETY: stmxcsr stores the 32-bit MXCSR at the address of a live local u32.
        unsafe { asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags)) };
        csr
    }

    pub(super) fn flush_denormals() -> bool {
        let csr = read() | FTZ_DAZ;
        // SAFETY: ldmxcsr loads a value read from MXCSR with only FTZ and DAZ added, both
        // valid on every x86-64 core (DAZ since SSE2, which x86-64 requires); no exception
        // mask changes, so no floating-point exception can become unmasked.
        unsafe { asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags)) };
        true
    }

    pub(super) fn denormals_flushed() -> bool {
        read() & FTZ_DAZ == FTZ_DAZ
    }
}

#[cfg(target_arch = "aarch64")]
#[allow(unsafe_code)]
mod imp {
    use std::arch::asm;

    /// FPCR bit 24: flush to zero (inputs and results).
    const FZ: u64 = 1 << 24;

    fn read() -> u64 {
        let fpcr: u64;
        // SAFETY: reading FPCR has no side effects.
        unsafe { asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags)) };
        fpcr
    }

    pub(super) fn flush_denormals() -> bool {
        let fpcr = read() | FZ;
        // SAFETY: writes back the value just read with only FZ added; no trap enables change.
        unsafe { asm!("msr fpcr, {}", in(reg) fpcr, options(nomem, nostack, preserves_flags)) };
        true
    }

    pub(super) fn denormals_flushed() -> bool {
        read() & FZ == FZ
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod imp {
    pub(super) fn flush_denormals() -> bool {
        false
    }

    pub(super) fn denormals_flushed() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hint::black_box;

    /// In a thread of its own (the setting is per thread): a subnormal product becomes 0 once
    /// the switch is on, and a thread started afterwards inherits it.
    #[test]
    fn subnormals_become_zero_and_new_threads_inherit() {
        std::thread::spawn(|| {
            let tiny = black_box(f32::MIN_POSITIVE);
            let before = black_box(tiny) * black_box(0.5f32);
            assert!(before > 0.0 && before < f32::MIN_POSITIVE, "{before:e}");
            if !flush_denormals() {
                return; // no switch on this platform
            }
            assert!(denormals_flushed());
            assert_eq!(black_box(tiny) * black_box(0.5f32), 0.0);
            // a subnormal input reads as zero
            assert_eq!(black_box(before) * black_box(4.0f32), 0.0);
            // normal arithmetic is untouched
            assert_eq!(black_box(tiny) * black_box(2.0f32), 2.0 * f32::MIN_POSITIVE);
            let child = std::thread::spawn(|| {
                (
                    denormals_flushed(),
                    black_box(f32::MIN_POSITIVE) * black_box(0.5f32),
                )
            })
            .join()
            .unwrap();
            assert_eq!(child, (true, 0.0));
        })
        .join()
        .unwrap();
    }
}
