//! The memory all MLLP connections may hold in unfinished frames, together.
//!
//! Each connection may buffer up to `mllp_max_frame_bytes`, and there may be
//! `mllp_max_connections` of them: 256 × 16 MiB by default, far more than a gateway should
//! hold for senders that have not finished a frame. A shared budget
//! (`mllp_max_buffered_bytes`) bounds the sum: a connection whose frame would take more
//! than is left is answered AR (`mllp.busy`) and closed, and its bytes are released.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes held over all connections, and the most they may hold.
#[derive(Debug)]
pub struct BufferBudget {
    limit: usize,
    used: AtomicUsize,
}

impl BufferBudget {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// One connection's share, released when dropped.
    pub fn share(self: &Arc<Self>) -> Share {
        Share {
            budget: Arc::clone(self),
            held: 0,
        }
    }

    fn reserve(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }

    fn release(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }
}

/// The bytes one connection holds.
#[derive(Debug)]
pub struct Share {
    budget: Arc<BufferBudget>,
    held: usize,
}

impl Share {
    /// Holds `bytes` from now on; false (and nothing changed) when growing to it would
    /// exceed the budget.
    pub fn hold(&mut self, bytes: usize) -> bool {
        if bytes > self.held {
            if !self.budget.reserve(bytes - self.held) {
                return false;
            }
        } else {
            self.budget.release(self.held - bytes);
        }
        self.held = bytes;
        true
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.budget.release(self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_together_stay_within_the_budget() {
        let budget = BufferBudget::new(100);
        let mut a = budget.share();
        let mut b = budget.share();
        assert!(a.hold(60));
        assert!(!b.hold(50));
        assert!(b.hold(40));
        assert_eq!(budget.used(), 100);
        assert!(a.hold(10));
        assert!(b.hold(90));
        drop(b);
        assert_eq!(budget.used(), 10);
        drop(a);
        assert_eq!(budget.used(), 0);
    }
}
