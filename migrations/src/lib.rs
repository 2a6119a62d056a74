//! latch-migrations
