//! Identity's cleanup on both backends: each job removes exactly what is
//! past its retention, in batches smaller than what it must remove, a
//! second run finds nothing, and the counter moves by what went.

use std::{sync::Arc, time::Duration as StdDuration};

use chrono::{DateTime, Duration, Utc};
use latch_domain::{
    Result, UserId,
    model::LoginEvent,
    ports::{
        LoginHistoryRepository as _, PasswordResetRepository, SecondFactorRepository as _,
        UserDataEraser, UserRepository as _,
    },
    secret,
};
use latch_runtime::{
    config::MapSource,
    metrics::{CLEANUP_REMOVED, CleanupCounter, JOB},
};
use latch_store::sql::SqlPasswordResets;
use latch_testkit::{
    MetricsSink,
    conformance::{password_resets::new_token, users::new_user},
};

use super::{Cleaned, CleanupConfig, CleanupStores, IdentityCleanup};
use crate::{UserErasers, testing::Harness};

/// Rows per statement in these tests: every job has more to remove.
const BATCH: u64 = 3;

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

fn resets(h: &Harness) -> Arc<SqlPasswordResets> {
    Arc::new(SqlPasswordResets::new(h.db().clone()))
}

/// The job on the harness's tables, `BATCH` rows per statement, counting
/// on `sink`.
fn job(h: &Harness, sink: &MetricsSink) -> Arc<IdentityCleanup> {
    IdentityCleanup::new(
        CleanupStores {
            admin: h.users.clone(),
            history: h.history.clone(),
            resets: resets(h),
            second_factors: h.second_factors.clone(),
        },
        erasers(),
        Arc::new(h.clock.clone()),
        CleanupConfig {
            batch: BATCH,
            ..CleanupConfig::default()
        },
        CleanupCounter::on(sink.meter()),
    )
}

fn removed(sink: &MetricsSink, job: &str) -> u64 {
    sink.counter(CLEANUP_REMOVED, JOB, job)
}

async fn user(h: &Harness) -> Result<UserId> {
    let new = new_user();
    h.users.create(&new).await?;
    Ok(new.id)
}

fn attempt(user: UserId, at: DateTime<Utc>) -> LoginEvent {
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
    for h in Harness::on_every_backend().await {
        let user = user(&h).await?;
        let start = h.clock_now();
        let old = 2 * BATCH + 1;
        for i in 0..old {
            let at = start - Duration::days(100) + Duration::seconds(i64::try_from(i).unwrap_or(0));
            h.history.record(&attempt(user, at), &[]).await?;
        }
        let recent = attempt(user, start - Duration::days(89));
        h.history.record(&recent, &[]).await?;

        let sink = MetricsSink::new();
        let job = job(&h, &sink);
        assert_eq!(job.delete_old_history().await?, old);
        assert_eq!(job.delete_old_history().await?, 0, "idempotent");
        assert_eq!(h.history.list(user, 10_000).await?, vec![recent]);
        assert_eq!(removed(&sink, "login_history"), old);
    }
    Ok(())
}

/// A reset token of a user of its own (issuing voids the user's others),
/// issued `ago` before now, redeemed `used_after` its issue if given.
async fn reset_token(h: &Harness, ago: Duration, used_after: Option<Duration>) -> Result<[u8; 32]> {
    let resets = resets(h);
    let issued = h.clock_now() - ago;
    let token = new_token(user(h).await?, issued);
    resets.issue(&token, &[]).await?;
    if let Some(after) = used_after {
        assert!(
            resets
                .redeem(&token, issued + after, "$argon2id$new", &[])
                .await?
        );
    }
    Ok(token.token_hash)
}

#[tokio::test]
async fn reset_tokens_go_a_retention_after_they_expired_used_or_not() -> Result<()> {
    for h in Harness::on_every_backend().await {
        // Tokens live 15 minutes; the retention after that is 1 day.
        let mut gone = Vec::new();
        for _ in 0..2 * BATCH {
            gone.push(reset_token(&h, Duration::days(3), None).await?);
        }
        gone.push(reset_token(&h, Duration::days(3), Some(Duration::minutes(1))).await?);
        let kept = [
            // Expired 19 hours ago: its link still says "expired".
            reset_token(&h, Duration::hours(19), None).await?,
            // Used, still within its 15 minutes, and unused, alive.
            reset_token(&h, Duration::minutes(5), Some(Duration::minutes(1))).await?,
            reset_token(&h, Duration::minutes(1), None).await?,
        ];

        let sink = MetricsSink::new();
        let job = job(&h, &sink);
        assert_eq!(job.delete_expired_reset_tokens().await?, gone.len() as u64);
        assert_eq!(job.delete_expired_reset_tokens().await?, 0, "idempotent");
        let resets = resets(&h);
        for hash in &gone {
            assert_eq!(resets.find_by_hash(hash).await?, None);
        }
        for hash in &kept {
            assert!(resets.find_by_hash(hash).await?.is_some());
        }
        assert_eq!(removed(&sink, "password_reset_tokens"), gone.len() as u64);

        // Two days later the kept ones have expired long enough too.
        h.clock.advance(Duration::days(2));
        assert_eq!(job.delete_expired_reset_tokens().await?, kept.len() as u64);
    }
    Ok(())
}

fn codes(count: usize) -> Vec<[u8; 32]> {
    (0..count)
        .map(|_| secret::random_token(16).map(|t| secret::sha256(&t)))
        .collect::<Result<_>>()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn spent_recovery_codes_go_a_retention_after_their_use() -> Result<()> {
    for h in Harness::on_every_backend().await {
        let now = h.clock_now();
        let (a, b) = (user(&h).await?, user(&h).await?);
        let (codes_a, codes_b) = (codes(5), codes(4));
        let sf = &h.second_factors;
        assert!(
            sf.enable_totp(a, b"sealed", 1, &codes_a, now - Duration::days(9), &[])
                .await?
        );
        assert!(
            sf.enable_totp(b, b"sealed", 1, &codes_b, now - Duration::days(9), &[])
                .await?
        );
        // Spent two days ago: 4 + 3, more than two batches.
        for code in &codes_a[..4] {
            assert!(
                sf.use_recovery_code(a, code, now - Duration::days(2))
                    .await?
            );
        }
        for code in &codes_b[..3] {
            assert!(
                sf.use_recovery_code(b, code, now - Duration::days(2))
                    .await?
            );
        }
        // Spent an hour ago: within the retention.
        assert!(
            sf.use_recovery_code(b, &codes_b[3], now - Duration::hours(1))
                .await?
        );

        let sink = MetricsSink::new();
        let job = job(&h, &sink);
        assert_eq!(job.delete_spent_recovery_codes().await?, 7);
        assert_eq!(job.delete_spent_recovery_codes().await?, 0, "idempotent");
        assert_eq!(removed(&sink, "recovery_codes"), 7);
        // The unused code still works; a deleted one is as refused as
        // when it was only spent.
        assert_eq!(sf.recovery_codes_left(a).await?, 1);
        assert!(!sf.use_recovery_code(a, &codes_a[0], now).await?);

        // The one spent an hour ago goes once the retention passed; the
        // unused one never does.
        h.clock.advance(Duration::days(1));
        assert_eq!(job.delete_spent_recovery_codes().await?, 1);
        assert_eq!(sf.recovery_codes_left(a).await?, 1);
        assert!(sf.use_recovery_code(a, &codes_a[4], h.clock_now()).await?);
    }
    Ok(())
}

#[tokio::test]
async fn one_run_does_every_job() -> Result<()> {
    let h = Harness::new().await;
    let old = h.clock_now() - Duration::days(100);
    let user = user(&h).await?;
    h.history.record(&attempt(user, old), &[]).await?;
    reset_token(&h, Duration::days(3), None).await?;
    let sink = MetricsSink::new();
    let job = job(&h, &sink);
    let expected = Cleaned {
        history_rows: 1,
        reset_tokens: 1,
        recovery_codes: 0,
        users_purged: 0,
    };
    assert_eq!(job.run_once().await, expected);
    assert_eq!(job.run_once().await, Cleaned::default());
    // A job that found nothing still shows as a series, at 0.
    assert_eq!(removed(&sink, "recovery_codes"), 0);
    assert_eq!(removed(&sink, "login_history"), 1);
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
            .with("LATCH_SPENT_TOKEN_RETENTION", "10m")
            .with("LATCH_IDENTITY_CLEANUP_INTERVAL", "5m"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.history_retention,
        StdDuration::from_secs(30 * 86_400)
    );
    assert_eq!(config.deleted_user_retention, StdDuration::from_secs(7_200));
    assert_eq!(config.spent_token_retention, StdDuration::from_secs(600));
    assert_eq!(config.interval, StdDuration::from_secs(300));
    assert_eq!(
        CleanupConfig::default().spent_token_retention,
        StdDuration::from_secs(86_400)
    );
    for (key, value) in [
        ("LATCH_LOGIN_HISTORY_RETENTION", "1h"),
        ("LATCH_LOGIN_HISTORY_RETENTION", "3651d"),
        ("LATCH_DELETED_USER_RETENTION", "10m"),
        ("LATCH_DELETED_USER_RETENTION", "366d"),
        ("LATCH_SPENT_TOKEN_RETENTION", "30s"),
        ("LATCH_SPENT_TOKEN_RETENTION", "31d"),
        ("LATCH_IDENTITY_CLEANUP_INTERVAL", "0"),
        ("LATCH_IDENTITY_CLEANUP_INTERVAL", "2d"),
        ("LATCH_IDENTITY_CLEANUP_INTERVAL", "soon"),
    ] {
        let err = CleanupConfig::from_source(&MapSource::new().with(key, value)).unwrap_err();
        assert!(err.to_string().contains(key), "{key}={value}: {err}");
    }
}
