//! Deadlines on sibling calls: a sibling that accepts the TCP connection
//! and then says nothing (hung, stopped, a black-holing proxy) fails the
//! call `UNAVAILABLE` once the deadline passes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use latch_domain::{Reason, SessionId, ports::SessionDirectory};
use tokio::net::TcpListener;

use super::*;
use crate::config::MapSource;

/// Accepts connections and keeps them open without a byte in reply.
async fn silent_listener() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_silent_sibling_fails_the_call_within_the_deadline() {
    let url = silent_listener().await;
    let deadline = Duration::from_millis(300);
    let token = Secret::new("t".repeat(32));
    let sessions =
        SessionClient::new(service_channel_with_timeout(&url, &token, deadline).unwrap());
    let started = Instant::now();
    // Without a deadline the call would wait for ever: bound the test.
    let id = SessionId::generate().unwrap();
    let call = sessions.validate(&id);
    let err = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the call ends on its own deadline")
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.reason(), Reason::Unavailable, "{err}");
    assert!(
        took >= deadline && took < deadline + Duration::from_secs(2),
        "{took:?}"
    );
}

#[test]
fn a_sibling_past_its_deadline_is_unavailable_not_internal() {
    for status in [
        Status::cancelled("Timeout expired"),
        Status::deadline_exceeded("deadline"),
        Status::unavailable("connection refused"),
    ] {
        assert_eq!(error_from_status(status).reason(), Reason::Unavailable);
    }
    assert_eq!(
        error_from_status(Status::unknown("?")).reason(),
        Reason::Internal
    );
}

#[test]
fn the_sibling_deadline_is_read_and_bounded() -> Result<()> {
    assert_eq!(sibling_timeout(&MapSource::new())?, DEFAULT_SIBLING_TIMEOUT);
    let source = MapSource::new().with("LATCH_SIBLING_TIMEOUT", "2s");
    assert_eq!(sibling_timeout(&source)?, Duration::from_secs(2));
    for bad in ["0", "10ms", "2m", "999999999999d", "soon"] {
        let source = MapSource::new().with("LATCH_SIBLING_TIMEOUT", bad);
        let err = sibling_timeout(&source).unwrap_err();
        assert!(
            format!("{err}").contains("LATCH_SIBLING_TIMEOUT"),
            "{bad}: {err}"
        );
    }
    Ok(())
}
