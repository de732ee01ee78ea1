//! glibc `malloc` settings for tensor workloads.
//!
//! libtorch's CPU allocator takes every tensor buffer from the C library's `malloc`. glibc
//! serves blocks above its mmap threshold (128 KiB at first, raised dynamically) with fresh
//! `mmap`s and returns free memory at the top of the heap to the kernel once it exceeds the
//! trim threshold. A training step allocates and frees a few hundred tensors of 0.1–10 MiB, so
//! with the defaults much of that memory is handed back to the kernel and faulted in again,
//! zero-filled, page by page on the next step: on Community-small EDP-GNN that is ≈ 10,000
//! page faults and a fifth of the CPU time of every step (BENCHMARKS.md, "malloc settings").
//!
//! [`tune_for_tensors`] keeps that memory in the process: blocks up to 32 MiB (glibc's
//! largest allowed mmap threshold) come from the heap, and the heap is trimmed only when more
//! than 128 MiB at its top are free. The resident size grows by at most that slack.

/// glibc's `M_TRIM_THRESHOLD`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const M_TRIM_THRESHOLD: i32 = -1;
/// glibc's `M_MMAP_THRESHOLD`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const M_MMAP_THRESHOLD: i32 = -3;

/// Blocks of up to this many bytes are served from the heap (glibc's maximum).
pub const MMAP_THRESHOLD: i32 = 32 << 20;
/// The heap is trimmed when more than this many bytes at its top are free.
pub const TRIM_THRESHOLD: i32 = 128 << 20;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
mod ffi {
    extern "C" {
        /// glibc `int mallopt(int param, int value)`: 1 on success, 0 on error.
        fn mallopt(param: i32, value: i32) -> i32;
    }

    /// Sets one `mallopt` parameter; true when glibc accepted it.
    pub(super) fn set(param: i32, value: i32) -> bool {
        // SAFETY: mallopt takes two plain integers, has no pointer arguments, and glibc
        // validates both (an unknown parameter or out-of-range value returns 0). It may be
        // called at any time from any thread; it takes the arena locks itself.
        unsafe { mallopt(param, value) == 1 }
    }
}

/// Applies the settings above to the process's glibc `malloc`, unless the user configured
/// `malloc` through the `GLIBC_TUNABLES` or `MALLOC_*_` environment variables (theirs win).
///
/// Returns true when the settings were applied; false when the environment already
/// configures `malloc`, when glibc refused a value, or on a platform without glibc (where
/// this does nothing). Call it once, early; the `graphdiff` binary does. It is safe to call
/// more than once and from any thread.
pub fn tune_for_tensors() -> bool {
    let user_set = std::env::vars_os().any(|(k, _)| {
        let k = k.to_string_lossy();
        (k == "GLIBC_TUNABLES") || (k.starts_with("MALLOC_") && k.ends_with('_'))
    });
    if user_set {
        return false;
    }
    apply()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn apply() -> bool {
    // The mmap threshold first: setting either value turns off glibc's dynamic adjustment.
    ffi::set(M_MMAP_THRESHOLD, MMAP_THRESHOLD) & ffi::set(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn apply() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// glibc accepts both values (on glibc targets), and a second call is harmless.
    #[test]
    fn glibc_accepts_the_settings() {
        let expected = cfg!(all(target_os = "linux", target_env = "gnu"));
        assert_eq!(apply(), expected);
        assert_eq!(apply(), expected);
        // Memory still works after the change: allocate and free blocks around the thresholds.
        for size in [1 << 10, 1 << 20, 40 << 20] {
            let v = vec![7u8; size];
            assert_eq!(v.iter().map(|&b| b as usize).sum::<usize>(), 7 * size);
        }
    }
}
