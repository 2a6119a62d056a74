//! latch-store
