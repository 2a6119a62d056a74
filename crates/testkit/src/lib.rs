//! latch-testkit
