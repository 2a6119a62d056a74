//! latch-client
