//! Cache prefetch hints, for loops that know which memory they will read next.
//!
//! Applying a live round touches a few states in a map of a million users: each
//! read of a state is a cache miss, and asking for the next states' memory while
//! working on the current one lets those misses overlap.

/// How many cache lines of a slice are asked for at most: a state's small vectors
/// fit, and a heavy user's long one is not worth flooding the cache for.
const MAX_LINES: usize = 8;

/// Bytes per cache line on the machines we build for.
const LINE: usize = 64;

/// Asks for the cache lines of the start of `items` (up to [`MAX_LINES`]).
pub fn prefetch_slice<T>(items: &[T]) {
    let bytes = std::mem::size_of_val(items).min(MAX_LINES * LINE);
    let start = items.as_ptr().cast::<u8>();
    for offset in (0..bytes).step_by(LINE) {
        prefetch(start.wrapping_add(offset));
    }
}

/// Asks for the cache line at `address`; never reads it.
#[inline(always)]
fn prefetch(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it neither faults nor reads, whatever the
    // address, and `sse` is part of the x86_64 baseline.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}
