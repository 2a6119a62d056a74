//! In-process stand-ins for Redis: session cache, event bus, rate limiter
//! and flow state, with the Redis adapters' semantics and every TTL measured
//! on the injected [`latch_domain::Clock`], so tests move time instead of
//! sleeping. They make sense only inside one process (latchd, tests).

mod event_bus;
mod expiring;
mod flow_state;
mod lockout;
mod rate_limiter;
mod session_cache;

pub use event_bus::MemoryEventBus;
pub use flow_state::MemoryFlowState;
pub use lockout::MemoryFailureCounter;
pub use rate_limiter::MemoryRateLimiter;
pub(crate) use rate_limiter::retry_after;
pub use session_cache::MemorySessionCache;
