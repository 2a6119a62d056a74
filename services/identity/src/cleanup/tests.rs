//! The retention of login history: old rows go in batches, recent ones
//! stay, a second run finds nothing; the settings are bounded.

use std::{sync::Arc, time::Duration as StdDuration};

use chrono::Duration;
use latch_domain::{
    Result, UserId,
    model::LoginEvent,
    ports::{LoginHistoryRepository as _, UserDataEraser},
};
use latch_runtime::config::MapSource;

use super::{CleanupConfig, HISTORY_BATCH, IdentityCleanup};
use crate::{UserErasers, testing::Harness};

/// A sibling with nothing to erase.
struct Nothing;

#[async_trait::async_trait]
impl UserDataEraser for Nothing {
    async fn erase_user(&self, _user: UserId) -> Result<u64> {
        Ok(0)
    }
}

fn erasers() -> UserErasers {
    UserErasers {
        sessions: Arc::new(Nothing),
        tokens: Arc::new(Nothing),
        roles: Arc::new(Nothing),
        profiles: Arc::new(Nothing),
    }
}

fn attempt(user: UserId, at: chrono::DateTime<chrono::Utc>) -> LoginEvent {
    LoginEvent {
        id: uuid::Uuid::now_v7(),
        user_id: user,
        at,
        ip: Some("203.0.113.9".into()),
        user_agent: Some("test".into()),
        method: "password".into(),
        success: true,
        failure_reason: None,
        device: None,
    }
}

#[tokio::test]
async fn history_past_the_retention_goes_in_batches() -> Result<()> {
    let h = Harness::new().await;
    let user = h.sign_up("old@example.com").await?.user.id;
    let start = h.clock_now();
    let old = HISTORY_BATCH + 5;
    for i in 0..old {
        let at = start - Duration::days(100) + Duration::seconds(i64::try_from(i).unwrap_or(0));
        h.history.record(&attempt(user, at), &[]).await?;
    }
    let recent = attempt(user, start - Duration::days(89));
    h.history.record(&recent, &[]).await?;
    let before = h.history.list(user, 10_000).await?.len();

    let job = IdentityCleanup::new(
        h.users.clone(),
        h.history.clone(),
        erasers(),
        Arc::new(h.clock.clone()),
        CleanupConfig::default(),
    );
    assert_eq!(job.delete_old_history().await?, old);
    assert_eq!(job.delete_old_history().await?, 0, "idempotent");
    let left = h.history.list(user, 10_000).await?;
    assert_eq!(left.len() as u64, before as u64 - old);
    assert!(left.contains(&recent));
    assert!(left.iter().all(|e| e.at >= start - Duration::days(90)));
    Ok(())
}

#[test]
fn settings_are_bounded() {
    assert_eq!(
        CleanupConfig::from_source(&MapSource::new()).ok(),
        Some(CleanupConfig::default())
    );
    let config = CleanupConfig::from_source(
        &MapSource::new()
            .with("LATCH_LOGIN_HISTORY_RETENTION", "30d")
            .with("LATCH_DELETED_USER_RETENTION", "2h")
            .with("LATCH_IDENTITY_CLEANUP_INTERVAL", "5m"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.history_retention,
        StdDuration::from_secs(30 * 86_400)
    );
    assert_eq!(config.deleted_user_retention, StdDuration::from_secs(7_200));
    assert_eq!(config.interval, StdDuration::from_secs(300));
    for (key, value) in [
        ("LATCH_LOGIN_HISTORY_RETENTION", "1h"),
        ("LATCH_LOGIN_HISTORY_RETENTION", "3651d"),
        ("LATCH_DELETED_USER_RETENTION", "10m"),
        ("LATCH_DELETED_USER_RETENTION", "366d"),
        ("LATCH_IDENTITY_CLEANUP_INTERVAL", "0"),
        ("LATCH_IDENTITY_CLEANUP_INTERVAL", "2d"),
        ("LATCH_IDENTITY_CLEANUP_INTERVAL", "soon"),
    ] {
        let err = CleanupConfig::from_source(&MapSource::new().with(key, value)).unwrap_err();
        assert!(err.to_string().contains(key), "{key}={value}: {err}");
    }
}
