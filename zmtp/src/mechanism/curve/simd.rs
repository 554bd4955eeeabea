//! How wide the MESSAGE keystream runs: chosen once per connection from
//! what this CPU has, at run time, never from build flags.
//!
//! The Salsa20 code (`salsa`) is plain Rust over `LANES` blocks at once,
//! one array element per block, which LLVM's vectorizer turns into one
//! SIMD lane per block. What instructions it may use depends on the
//! function it is compiled into: [`Width::run`] compiles it three times,
//! for 4 lanes with the target's baseline (SSE2 on any x86_64; whatever
//! another target has), for 8 lanes inside an AVX2 function and for 16
//! inside an AVX-512 one, and calls the one this CPU runs. The CPU check
//! and the switch into the AVX functions are `fearless_simd`'s (its
//! `Level` and `Simd::vectorize`), so no `unsafe` is ours.

#[cfg(target_arch = "x86_64")]
use fearless_simd::{Avx2, Avx512, Level, Simd};

/// The most lanes any [`Width`] runs.
pub(super) const MAX_LANES: usize = 16;

/// A piece of code generic over the number of lanes, to be compiled for
/// each [`Width`]. `run` must be `#[inline(always)]`: it is inlined into
/// the AVX functions, which is what lets it use their instructions.
pub(super) trait Kernel {
    /// What the kernel returns.
    type Output;
    /// Runs with `LANES` blocks at a time.
    fn run<const LANES: usize>(self) -> Self::Output;
}

/// A vector width this CPU runs.
#[derive(Clone, Copy, Debug)]
pub(super) enum Width {
    /// 4 lanes, the build target's baseline instructions (SSE2 on x86_64):
    /// runs anywhere the crate does.
    Portable,
    /// 8 lanes of AVX2.
    #[cfg(target_arch = "x86_64")]
    Avx2(Avx2),
    /// 16 lanes of AVX-512 (the Ice Lake set `fearless_simd` asks for).
    #[cfg(target_arch = "x86_64")]
    Avx512(Avx512),
}

impl Width {
    /// The widest this CPU runs (the check is made once per process).
    pub(super) fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let level = Level::new();
            if let Some(avx512) = level.as_avx512() {
                return Width::Avx512(avx512);
            }
            if let Some(avx2) = level.as_avx2() {
                return Width::Avx2(avx2);
            }
        }
        Width::Portable
    }

    /// Blocks per batch at this width.
    pub(super) fn lanes(self) -> usize {
        match self {
            Width::Portable => 4,
            #[cfg(target_arch = "x86_64")]
            Width::Avx2(_) => 8,
            #[cfg(target_arch = "x86_64")]
            Width::Avx512(_) => 16,
        }
    }

    /// Runs `kernel` compiled for this width.
    #[inline(always)]
    pub(super) fn run<K: Kernel>(self, kernel: K) -> K::Output {
        match self {
            Width::Portable => kernel.run::<4>(),
            #[cfg(target_arch = "x86_64")]
            Width::Avx2(avx2) => avx2.vectorize(
                #[inline(always)]
                || kernel.run::<8>(),
            ),
            #[cfg(target_arch = "x86_64")]
            Width::Avx512(avx512) => avx512.vectorize(
                #[inline(always)]
                || kernel.run::<16>(),
            ),
        }
    }

    /// Every width this CPU runs, narrowest first: the tests compare them.
    #[cfg(test)]
    pub(super) fn all() -> Vec<Width> {
        let mut all = vec![Width::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            let level = Level::new();
            all.extend(level.as_avx2().map(Width::Avx2));
            all.extend(level.as_avx512().map(Width::Avx512));
        }
        all
    }
}
