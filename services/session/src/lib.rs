//! latch-session
