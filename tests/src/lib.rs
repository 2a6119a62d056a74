//! latch-tests
