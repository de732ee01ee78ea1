//! Work spread over libtorch's own OpenMP team (libgomp): [`run_jobs`] and [`parallel`].
//!
//! Independent pieces of tensor work (a sampler's chains, the two halves of a batch) run on
//! the threads of the team libtorch's parallel ops use, so they neither start threads nor
//! compete with libgomp's spin-waiting workers for the cores (a second Rust thread did, and
//! lost: with the other core busy, OpenMP's spinning made two-thread libtorch 10–40× slower).
//! Inside the team libtorch does not nest parallel regions, so every op a job runs is
//! single-threaded: a job computes the same on any thread count.

/// The FFI to libgomp, the OpenMP runtime of the torch wheel.
#[allow(unsafe_code)]
mod omp {
    use std::ffi::c_void;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicBool, Ordering};

    // libgomp.so.1 ships in the torch wheel's lib folder, on the link path through torch-sys.
    #[link(name = "libgomp.so.1", kind = "dylib", modifiers = "+verbatim")]
    extern "C" {
        /// What GCC compiles `#pragma omp parallel num_threads(n)` to: runs `f(data)` on a
        /// team of up to `n` threads, the caller included, and returns when all are done.
        fn GOMP_parallel(f: extern "C" fn(*mut c_void), data: *mut c_void, n: u32, flags: u32);
        fn omp_get_thread_num() -> i32;
        fn omp_get_num_threads() -> i32;
    }

    struct Ctx<'a, F> {
        f: &'a F,
        panicked: AtomicBool,
    }

    extern "C" fn trampoline<F: Fn(usize, usize) + Sync>(data: *mut c_void) {
        // SAFETY: `data` is the `Ctx<F>` that `parallel` passed; it outlives the region.
        let ctx = unsafe { &*(data as *const Ctx<'_, F>) };
        // SAFETY: plain queries of the calling thread's team.
        let (i, n) = unsafe { (omp_get_thread_num(), omp_get_num_threads()) };
        let run = || (ctx.f)(i.max(0) as usize, n.max(1) as usize);
        // A panic must not unwind into C: it is caught here and re-raised by `parallel`.
        if catch_unwind(AssertUnwindSafe(run)).is_err() {
            ctx.panicked.store(true, Ordering::Relaxed);
        }
    }

    /// Runs `f(i, n)` on every thread `i` of a team of `n ≤ threads` threads.
    pub(super) fn parallel<F: Fn(usize, usize) + Sync>(threads: usize, f: &F) {
        let ctx = Ctx {
            f,
            panicked: AtomicBool::new(false),
        };
        let data = &ctx as *const Ctx<'_, F> as *mut c_void;
        // SAFETY: `trampoline::<F>` has the callback's C ABI and reads `data` as the
        // `Ctx<F>` it is; `ctx` lives until GOMP_parallel returns, after every thread ran.
        unsafe { GOMP_parallel(trampoline::<F>, data, threads as u32, 0) };
        assert!(
            !ctx.panicked.load(Ordering::Relaxed),
            "a job of a parallel region panicked"
        );
    }
}

/// Runs `f(i, n)` on every thread `i` of a team of `n ≤ threads` threads of libtorch's
/// OpenMP runtime (the calling thread is thread 0), and returns when all are done. A panic
/// in `f` is re-raised here.
pub fn parallel<F: Fn(usize, usize) + Sync>(threads: usize, f: &F) {
    omp::parallel(threads.max(1), f)
}

/// Runs `work(job)` for every job, spread over up to `threads` threads of libtorch's OpenMP
/// team: each thread takes the next job not yet taken, in order, until none is left (with
/// one thread, in order on the calling thread). Which thread runs a job changes from run to
/// run; a job's work must not depend on it.
pub fn run_jobs<T: Send>(threads: usize, jobs: &mut [T], work: impl Fn(&mut T) + Sync) {
    let threads = threads.min(jobs.len());
    if threads <= 1 {
        jobs.iter_mut().for_each(work);
        return;
    }
    let cells: Vec<std::sync::Mutex<&mut T>> = jobs.iter_mut().map(std::sync::Mutex::new).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    parallel(threads, &|_, _| {
        while let Some(cell) = cells.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
            work(&mut cell.lock().unwrap_or_else(|e| e.into_inner()));
        }
    });
}

/// [`run_jobs`] on libtorch's intra-op threads (`tch::get_num_threads`), the largest jobs
/// (by `size`) taken first so that the threads' shares even out.
pub fn run_jobs_by_size<T: Send>(
    jobs: &mut [T],
    size: impl Fn(&T) -> usize,
    work: impl Fn(&mut T) + Sync,
) {
    let mut order: Vec<&mut T> = jobs.iter_mut().collect();
    order.sort_by_key(|j| std::cmp::Reverse(size(j)));
    let threads = tch::get_num_threads().max(1) as usize;
    run_jobs(threads, &mut order, |j| work(j));
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    #[test]
    fn jobs_run_once_each_and_compute_the_same_on_any_team() {
        for threads in [1, 2, 3] {
            let mut jobs: Vec<(i64, f64)> = (0..7).map(|i| (i, 0.0)).collect();
            run_jobs(threads, &mut jobs, |(i, out)| {
                let t = Tensor::arange(100 + *i, (Kind::Double, tch::Device::Cpu));
                *out += t.square().sum(Kind::Double).double_value(&[]);
            });
            for (i, out) in &jobs {
                let n = (100 + i) as f64;
                assert_eq!(*out, (n - 1.0) * n * (2.0 * n - 1.0) / 6.0);
            }
        }
    }

    #[test]
    #[should_panic(expected = "panicked")]
    fn a_panicking_job_panics_the_caller() {
        let mut jobs = vec![0, 1, 2];
        run_jobs(2, &mut jobs, |j| assert!(*j != 1));
    }
}
