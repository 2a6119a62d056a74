//! A refresh is activity: it moves the session's idle expiry, so a client
//! that only refreshes is not ended as idle; and a refresh refused for an
//! ended session records none and spends nothing.

use std::time::Duration;

use chrono::TimeDelta;
use latch_domain::{Reason, Result};

use crate::{TokenConfig, testing::Harness};

const DAY: Duration = Duration::from_secs(86_400);

#[tokio::test]
async fn a_client_that_only_refreshes_outlives_the_idle_ttl() -> Result<()> {
    // Tokens and families that outlive the last step, so that only the
    // session's idleness can end it.
    let h = Harness::with_config(TokenConfig {
        refresh_ttl: 10 * DAY,
        family_ttl: 30 * DAY,
        ..TokenConfig::default()
    })
    .await;
    *h.sessions.idle_ttl.lock().unwrap() = Some(TimeDelta::days(7));
    let mut pair = h.issue().await;
    // Six days at a time: twelve days after sign-in, five past the idle
    // TTL, the session lives because each refresh counted.
    for _ in 0..2 {
        h.advance(TimeDelta::days(6));
        pair = h.refresh(&pair.refresh_token).await?;
    }
    assert_eq!(
        *h.sessions.touches.lock().unwrap(),
        vec![pair.session_id.clone(), pair.session_id.clone()]
    );

    // Without a refresh for the idle TTL, the session ends after all.
    h.advance(TimeDelta::days(7));
    assert_eq!(h.refused(&pair.refresh_token).await, Reason::SessionRevoked);
    assert_eq!(h.sessions.touches.lock().unwrap().len(), 2);
    Ok(())
}

#[tokio::test]
async fn a_refresh_refused_for_an_idle_session_spends_nothing() -> Result<()> {
    let h = Harness::new().await;
    *h.sessions.idle_ttl.lock().unwrap() = Some(TimeDelta::days(1));
    let first = h.issue().await;
    h.advance(TimeDelta::days(2));
    assert_eq!(
        h.refused(&first.refresh_token).await,
        Reason::SessionRevoked
    );
    assert!(h.sessions.touches.lock().unwrap().is_empty());
    let (stored, _) = h.stored(&first.refresh_token).await?.unwrap();
    assert_eq!(stored.spent_at, None);
    Ok(())
}

#[tokio::test]
async fn refreshes_record_activity_at_most_once_a_minute() -> Result<()> {
    let h = Harness::new().await;
    let mut pair = h.issue().await;
    let touches = || h.sessions.touches.lock().unwrap().len();

    // Signed in 30 s ago: the session's activity is recent enough.
    h.advance(TimeDelta::seconds(30));
    pair = h.refresh(&pair.refresh_token).await?;
    assert_eq!(touches(), 0);

    h.advance(TimeDelta::seconds(31));
    pair = h.refresh(&pair.refresh_token).await?;
    assert_eq!(touches(), 1);
    for _ in 0..3 {
        h.advance(TimeDelta::seconds(19));
        pair = h.refresh(&pair.refresh_token).await?;
    }
    assert_eq!(touches(), 1, "57 s after the last one");

    h.advance(TimeDelta::seconds(3));
    h.refresh(&pair.refresh_token).await?;
    assert_eq!(touches(), 2);
    Ok(())
}
