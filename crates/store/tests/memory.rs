//! The in-memory adapters pass the same suites as Redis, with time moved on
//! a manual clock.

use std::sync::Arc;

use latch_domain::ManualClock;
use latch_store::memory::{
    MemoryEventBus, MemoryFailureCounter, MemoryFlowState, MemoryRateLimiter, MemorySessionCache,
};
use latch_testkit::conformance::{self, Time};

#[tokio::test]
async fn session_cache() {
    let clock = ManualClock::starting_now();
    let cache = MemorySessionCache::new(Arc::new(clock.clone()));
    conformance::session_cache::run(Arc::new(cache), Time::Manual(clock)).await;
}

#[tokio::test]
async fn event_bus() {
    conformance::event_bus::run(Arc::new(MemoryEventBus::new())).await;
}

#[tokio::test]
async fn rate_limiter() {
    let clock = ManualClock::starting_now();
    let limiter = MemoryRateLimiter::new(Arc::new(clock.clone()));
    conformance::rate_limiter::run(Arc::new(limiter), clock).await;
}

#[tokio::test]
async fn failure_counter() {
    let clock = ManualClock::starting_now();
    let counter = MemoryFailureCounter::new(Arc::new(clock.clone()));
    conformance::lockout::run(Arc::new(counter), clock).await;
}

#[tokio::test]
async fn flow_state() {
    let clock = ManualClock::starting_now();
    let state = MemoryFlowState::new(Arc::new(clock.clone()));
    conformance::flow_state::run(Arc::new(state), Time::Manual(clock)).await;
}
