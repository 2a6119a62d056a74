//! Logs and traces through `tracing`. Level from `RUST_LOG` (default
//! `info`), format from `LATCH_LOG_FORMAT`. Secrets never reach a span or
//! an event: domain types that hold them print as `***`.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs the global subscriber once; later calls do nothing, so tests
/// and harnesses may call it freely.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry
            .with(fmt::layer().json().with_current_span(true))
            .try_init()
    } else {
        registry.with(fmt::layer().compact()).try_init()
    };
    // Already installed (a second server in one test process): keep the first.
    drop(result);
}
