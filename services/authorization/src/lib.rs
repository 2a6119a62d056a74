//! latch-authorization
