//! [`FlowState`]: a value is taken at most once, and expires.

use std::{sync::Arc, time::Duration};

use latch_domain::ports::FlowState;

use super::{Time, race};

fn unique_key(kind: &str) -> String {
    format!("{kind}:{}", uuid::Uuid::new_v4().simple())
}

pub async fn run(state: Arc<dyn FlowState>, time: Time) {
    let key = unique_key("login_attempt");
    let long = Duration::from_secs(300);
    assert_eq!(state.take(&key).await.expect("take unknown"), None);

    state.put(&key, b"first", long).await.expect("put");
    state
        .put(&key, b"\x00binary\xff", long)
        .await
        .expect("overwrite");
    assert_eq!(
        state.take(&key).await.expect("take"),
        Some(b"\x00binary\xff".to_vec())
    );
    assert_eq!(state.take(&key).await.expect("take again"), None);

    let other = unique_key("oauth_state");
    state.put(&other, b"kept", long).await.expect("put");
    let expiring = unique_key("passkey_auth");
    state
        .put(&expiring, b"gone", Time::SHORT_TTL)
        .await
        .expect("put");
    time.pass_beyond_short_ttl().await;
    assert_eq!(state.take(&expiring).await.expect("take expired"), None);
    assert_eq!(
        state.take(&other).await.expect("take"),
        Some(b"kept".to_vec())
    );

    // Of concurrent takes, exactly one gets the value.
    let contested = unique_key("email_verification");
    state.put(&contested, b"once", long).await.expect("put");
    let results = race(8, |_| {
        let state = state.clone();
        let key = contested.clone();
        async move { state.take(&key).await }
    })
    .await;
    let got: Vec<Vec<u8>> = results
        .into_iter()
        .filter_map(|r| r.expect("take"))
        .collect();
    assert_eq!(got, vec![b"once".to_vec()]);
}
