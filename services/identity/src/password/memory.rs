//! argon2 working memory, kept and reused.
//!
//! Each argon2id run needs `m_cost` KiB (19 MiB at the defaults). Allocating
//! it per call lets glibc raise its mmap threshold after the first free, so
//! later buffers come from per-thread heap arenas and stay resident: a burst
//! of logins across the blocking pool's threads left latchd at ~450 MB.
//! The pool holds at most one buffer per hashing permit, so the memory is
//! bounded by the concurrency and allocated once.

use std::sync::{Mutex, PoisonError};

use argon2::Block;

#[derive(Debug, Default)]
pub(super) struct MemoryPool {
    free: Mutex<Vec<Vec<Block>>>,
}

impl MemoryPool {
    /// Runs `job` with at least `blocks` blocks of working memory, taken
    /// from the pool (grown when too small) and put back afterwards.
    pub(super) fn with_blocks<T>(&self, blocks: usize, job: impl FnOnce(&mut [Block]) -> T) -> T {
        let mut memory = self.take();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        let outcome = job(&mut memory);
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(memory);
        outcome
    }

    fn take(&self) -> Vec<Block> {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default()
    }

    /// Buffers currently idle in the pool.
    #[cfg(test)]
    pub(super) fn idle(&self) -> usize {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
