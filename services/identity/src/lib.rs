//! latch-identity
