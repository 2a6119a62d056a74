//! latchd: all five Latch services in one process, on one port: the
//! embedded default. Sibling ports are served by direct in-process calls
//! instead of gRPC clients; everything else is the same code the separate
//! binaries run.

mod assemble;
pub mod bootstrap_admin;

pub use assemble::{Latchd, assemble};
