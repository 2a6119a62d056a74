//! The list's freshness rules, on Tokio's paused clock.

use std::time::Duration;

use tokio::time::{Instant, advance};

use super::*;

const NOW: i64 = 1_700_000_000;

fn shared(on_source_lost: OnSourceLost) -> Arc<Shared> {
    Shared::new(RevocationOptions {
        on_source_lost,
        ..RevocationOptions::default()
    })
}

#[tokio::test(start_paused = true)]
async fn refuses_until_the_source_first_answers_then_while_it_is_silent() {
    let list = shared(OnSourceLost::Refuse);
    let unavailable = Err(VerifyError::RevocationsUnavailable(
        "the revocation list is not current",
    ));
    assert_eq!(list.check("s", NOW), unavailable, "nothing known yet");
    list.confirm(Instant::now());
    assert_eq!(list.check("s", NOW), Ok(()));
    // Polls failing: fine within the allowed staleness, refused after.
    advance(Duration::from_millis(1_900)).await;
    assert_eq!(list.check("s", NOW), Ok(()));
    advance(Duration::from_millis(200)).await;
    assert_eq!(list.check("s", NOW), unavailable);
    list.confirm(Instant::now());
    assert_eq!(list.check("s", NOW), Ok(()), "back once it answers");
    // A dropped subscription: stale at once.
    list.lose();
    assert_eq!(list.check("s", NOW), unavailable);
}

#[tokio::test(start_paused = true)]
async fn accepting_when_lost_still_refuses_what_it_knows() {
    let list = shared(OnSourceLost::Accept);
    assert_eq!(list.check("s", NOW), Ok(()), "nothing known yet: accepted");
    list.insert("revoked", NOW + 900);
    list.lose();
    assert_eq!(list.check("s", NOW), Ok(()));
    assert_eq!(list.check("revoked", NOW), Err(VerifyError::SessionRevoked));
}

#[tokio::test(start_paused = true)]
async fn an_entry_outlives_its_end_by_a_minute_then_is_pruned() {
    let list = shared(OnSourceLost::Refuse);
    list.confirm(Instant::now());
    list.insert("revoked", NOW + 900);
    assert_eq!(list.check("revoked", NOW), Err(VerifyError::SessionRevoked));
    // A verifier with leeway accepts a token a little past its `exp`.
    assert_eq!(
        list.check("revoked", NOW + 959),
        Err(VerifyError::SessionRevoked)
    );
    assert_eq!(list.check("revoked", NOW + 960), Ok(()));
    list.prune(NOW + 959);
    assert_eq!(list.list.read().unwrap().len(), 1);
    list.prune(NOW + 960);
    assert_eq!(list.list.read().unwrap().len(), 0);
}

#[tokio::test(start_paused = true)]
async fn ready_waits_for_the_first_answer() {
    let list = shared(OnSourceLost::Refuse);
    let waiter = Revocations {
        shared: list.clone(),
        task: tokio::spawn(async {}),
    };
    assert_eq!(
        waiter.ready(Duration::from_secs(1)).await,
        Err(VerifyError::RevocationsUnavailable(
            "no revocation list yet"
        ))
    );
    let confirmer = list.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        confirmer.confirm(Instant::now());
    });
    assert_eq!(waiter.ready(Duration::from_secs(1)).await, Ok(()));
    assert!(waiter.is_current());
}
