//! latch-profile
