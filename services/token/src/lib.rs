//! latch-token
