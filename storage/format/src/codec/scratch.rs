//! Per-thread pool of intermediate buffers, so a chain of steps allocates nothing in
//! steady state.

use std::cell::RefCell;

thread_local! {
    static SCRATCH: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of `len` bytes (contents unspecified) from this thread's pool.
pub(crate) fn take(len: usize) -> Vec<u8> {
    let mut v = SCRATCH.with(|s| s.borrow_mut().pop()).unwrap_or_default();
    v.resize(len, 0);
    v
}

/// Returns a buffer to this thread's pool.
pub(crate) fn give(v: Vec<u8>) {
    SCRATCH.with(|s| s.borrow_mut().push(v));
}
