//! Hands memory freed during start-up back to the operating system.
//!
//! The binary allocates with mimalloc (`src/main.rs`). mimalloc gives a thread's freed
//! pages back to the OS only when that thread allocates or frees again after a short
//! delay. The threads that ran the start-up (parsing the CRDs, compiling the catalog,
//! the controllers' first lists) then mostly sleep, so what they freed stayed resident in
//! an idle hub (BENCHMARKS.md, Footprint). Once the hub is ready, [`request_release`]
//! asks every runtime thread to return it the next time it goes idle ([`on_idle`], the
//! runtime's park hook), which costs one atomic load per park otherwise.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

// The static mimalloc library comes with this crate; naming it keeps it linked into every
// binary of the package, tests included, so `mi_collect` below always resolves.
use mimalloc as _;

unsafe extern "C" {
    /// mimalloc's `mi_collect`: frees the calling thread's empty pages and, with `force`,
    /// returns every pending free page to the OS. No preconditions; thread-safe. Where
    /// another allocator is global, mimalloc's own heap is simply empty.
    safe fn mi_collect(force: bool);
}

/// Release requests so far; each thread remembers the last one it served.
static REQUESTED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static SERVED: Cell<u64> = const { Cell::new(0) };
}

/// Asks every thread that calls [`on_idle`] to return its freed memory once, and does so
/// for the calling thread now.
pub fn request_release() {
    REQUESTED.fetch_add(1, Ordering::Relaxed);
    on_idle();
}

/// For a thread about to sleep: returns its freed memory to the OS if a release was
/// requested since it last did.
pub fn on_idle() {
    let requested = REQUESTED.load(Ordering::Relaxed);
    if SERVED.with(|served| served.replace(requested)) != requested {
        mi_collect(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_served_once_per_thread() {
        let garbage: Vec<Vec<u8>> = (0..1_000).map(|i| vec![1u8; 1_000 + i]).collect();
        drop(garbage);
        request_release();
        let requested = REQUESTED.load(Ordering::Relaxed);
        assert_eq!(SERVED.with(Cell::get), requested);
        // Another thread has not served it yet; its first idle moment does.
        let other = std::thread::spawn(move || {
            let before = SERVED.with(Cell::get);
            on_idle();
            (before, SERVED.with(Cell::get))
        })
        .join()
        .expect("thread");
        assert_eq!(other, (0, requested));
        // Nothing new requested: idle moments cost no collection.
        on_idle();
        assert_eq!(SERVED.with(Cell::get), requested);
    }
}
