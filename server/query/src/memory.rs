//! The memory bound of one statement (DataFusion's `MemoryPool` / `MemoryReservation`
//! model): every operator that holds data beyond a block at a time (sort, window,
//! aggregation state and held quantile values, a join's right side) takes a
//! reservation from the statement's pool and grows it before it allocates. The pool
//! is shared by the statement's subqueries and its outer query; a reservation gives
//! its bytes back when dropped, so a finished subquery's memory is free again.

use crate::error::QueryError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The bytes a statement's operators may hold at once, and what they hold now.
#[derive(Debug)]
pub struct MemoryPool {
    limit: u64,
    used: AtomicU64,
}

impl MemoryPool {
    pub fn new(limit: u64) -> Arc<MemoryPool> {
        Arc::new(MemoryPool {
            limit,
            used: AtomicU64::new(0),
        })
    }

    /// A pool no query runs out of (tests of single operators, internal scans).
    pub fn unbounded() -> Arc<MemoryPool> {
        MemoryPool::new(u64::MAX)
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes reserved right now, by all operators of the statement.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// An empty reservation charged to `operator` (named in the error when it fails).
    pub fn reservation(self: &Arc<Self>, operator: &'static str) -> MemoryReservation {
        MemoryReservation {
            pool: self.clone(),
            operator,
            bytes: 0,
        }
    }
}

/// Bytes one operator holds; given back when dropped.
#[derive(Debug)]
pub struct MemoryReservation {
    pool: Arc<MemoryPool>,
    operator: &'static str,
    bytes: u64,
}

impl MemoryReservation {
    /// Reserves `bytes` more for `what` (e.g. "its input's columns"), or fails with
    /// `ResourcesExhausted` naming the operator, the sizes and the limit.
    pub fn try_grow(&mut self, bytes: u64, what: &str) -> Result<(), QueryError> {
        let pool = &self.pool;
        let mut used = pool.used.load(Ordering::Relaxed);
        loop {
            let after = used.saturating_add(bytes);
            if after > pool.limit {
                return Err(QueryError::ResourcesExhausted(format!(
                    "{} needs {bytes} bytes more for {what} ({} held by this operator, {used} by the whole query), over the query memory limit of {} bytes; select less, or raise the limit (arrayqd --max-query-memory-bytes)",
                    self.operator, self.bytes, pool.limit
                )));
            }
            match pool
                .used
                .compare_exchange_weak(used, after, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => used = now,
            }
        }
        self.bytes += bytes;
        Ok(())
    }

    /// Gives back up to `bytes` of this reservation.
    pub fn shrink(&mut self, bytes: u64) {
        let b = bytes.min(self.bytes);
        self.pool.used.fetch_sub(b, Ordering::Relaxed);
        self.bytes -= b;
    }

    /// Keeps `bytes` reserved (when the operator now holds less than it reserved).
    pub fn shrink_to(&mut self, bytes: u64) {
        self.shrink(self.bytes.saturating_sub(bytes));
    }

    pub fn size(&self) -> u64 {
        self.bytes
    }
}

impl Drop for MemoryReservation {
    fn drop(&mut self) {
        self.pool.used.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_share_the_limit_and_give_back_on_drop() {
        let pool = MemoryPool::new(1000);
        let mut a = pool.reservation("Sort");
        a.try_grow(600, "its input's columns").unwrap();
        let mut b = pool.reservation("Window");
        let e = b.try_grow(500, "its input's columns").unwrap_err();
        assert_eq!(
            e.to_string(),
            "resources exhausted: Window needs 500 bytes more for its input's columns (0 held by this operator, 600 by the whole query), over the query memory limit of 1000 bytes; select less, or raise the limit (arrayqd --max-query-memory-bytes)"
        );
        assert_eq!(pool.used(), 600, "a refused reservation takes nothing");
        a.shrink_to(100);
        assert_eq!((a.size(), pool.used()), (100, 100));
        b.try_grow(900, "x").unwrap();
        drop(a);
        drop(b);
        assert_eq!(pool.used(), 0);
    }
}
