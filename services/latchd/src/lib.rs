//! latchd
