//! Refresh flows on real storage: rotation, the grace window, reuse
//! detection, lifetimes, and what refuses a refresh.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use futures::future::join_all;
use latch_domain::{
    Error, FamilyId, Reason, Result, SessionId, TokenId, UserId,
    model::{RefreshFamily, RefreshToken, TokenPair, UserStatus},
    ports::{NewOutboxMessage, RefreshTokenRepository, SessionDirectory},
    secret::sha256,
};

use crate::{
    TokenConfig,
    testing::{Harness, client, reason},
};

fn config_with_grace(grace: Duration) -> TokenConfig {
    TokenConfig {
        reuse_grace: grace,
        ..TokenConfig::default()
    }
}

#[tokio::test]
async fn a_refresh_returns_a_new_pair_and_spends_the_old_token() -> Result<()> {
    let h = Harness::new().await;
    let first = h.issue().await;
    h.advance(TimeDelta::seconds(30));

    let second = h.refresh(&first.refresh_token).await?;
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_ne!(second.access_token, first.access_token);
    assert_eq!(
        (second.user_id, &second.session_id),
        (first.user_id, &first.session_id)
    );

    let (old, family) = h.stored(&first.refresh_token).await?.unwrap();
    assert!(old.spent_at.is_some(), "the presented token is spent");
    let (new, same_family) = h.stored(&second.refresh_token).await?.unwrap();
    assert_eq!(new.parent_id, Some(old.id));
    assert_eq!(same_family.id, family.id);
    assert!(new.spent_at.is_none());

    // The chain goes on.
    let third = h.refresh(&second.refresh_token).await?;
    assert_ne!(third.refresh_token, second.refresh_token);
    Ok(())
}

#[tokio::test]
async fn a_duplicate_inside_the_grace_window_gets_the_same_successor() -> Result<()> {
    let h = Harness::new().await;
    let (first, successor) = h.rotated().await?;

    h.advance(TimeDelta::seconds(9));
    let again = h.refresh(&first.refresh_token).await?;
    assert_eq!(again.refresh_token, successor.refresh_token);
    assert_eq!(
        again.refresh_token_expires_at,
        successor.refresh_token_expires_at
    );
    assert!(h.sessions.revocations().is_empty());

    // The successor is live and the only one.
    h.refresh(&successor.refresh_token).await?;
    Ok(())
}

#[tokio::test]
async fn a_spent_token_after_the_grace_window_revokes_the_family_and_the_session() -> Result<()> {
    let h = Harness::new().await;
    let (first, successor) = h.rotated().await?;

    h.advance(TimeDelta::seconds(11));
    let duplicate = h.refresh(&first.refresh_token).await;
    // Whoever holds the successor (the thief or the user) is out too.
    h.assert_reuse_detected(duplicate, &first, &successor).await
}

#[tokio::test]
async fn the_grace_window_ends_once_the_successor_is_spent() -> Result<()> {
    let h = Harness::new().await;
    let (first, second) = h.rotated().await?;
    h.refresh(&second.refresh_token).await?;
    h.advance(TimeDelta::seconds(1));
    assert_eq!(
        h.refused(&first.refresh_token).await,
        Reason::RefreshTokenReused
    );
    Ok(())
}

/// Sixteen refreshes of one token at once, on several threads.
async fn race(h: &Harness, token: &str) -> Vec<Result<TokenPair>> {
    let attempts = (0..16).map(|_| {
        let (tokens, token) = (h.tokens.clone(), token.to_owned());
        tokio::spawn(async move { tokens.refresh(&token, &client()).await })
    });
    join_all(attempts)
        .await
        .into_iter()
        .map(|joined| joined.expect("a refresh task panicked"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_refreshes_of_one_token_exactly_one_wins_without_grace() -> Result<()> {
    let h = Harness::with_config(config_with_grace(Duration::ZERO)).await;
    let first = h.issue().await;
    let results = race(&h, &first.refresh_token).await;

    let winners: Vec<&TokenPair> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for err in results.iter().filter_map(|r| r.as_ref().err()) {
        // Losers either saw the race (reuse) or the family it revoked.
        assert!(
            matches!(
                err.reason(),
                Reason::RefreshTokenReused | Reason::TokenInvalid
            ),
            "{err:?} in {results:#?}"
        );
    }
    assert!(
        results
            .iter()
            .any(|r| r.as_ref().is_err_and(|e| e.is(Reason::RefreshTokenReused)))
    );
    // Without a grace window a duplicate is reuse: the family is gone.
    assert_eq!(
        h.refused(&winners[0].refresh_token).await,
        Reason::TokenInvalid
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_inside_the_grace_window_share_one_successor() -> Result<()> {
    let h = Harness::new().await;
    let first = h.issue().await;
    let results = race(&h, &first.refresh_token).await;
    let successors: std::collections::HashSet<String> = results
        .into_iter()
        .map(|r| r.map(|pair| pair.refresh_token))
        .collect::<Result<_>>()?;
    assert_eq!(successors.len(), 1, "never two different live successors");
    assert!(h.sessions.revocations().is_empty());
    Ok(())
}

#[tokio::test]
async fn a_family_ends_at_its_absolute_lifetime_whatever_the_rotations() -> Result<()> {
    let h = Harness::with_config(TokenConfig {
        family_ttl: Duration::from_secs(86_400),
        ..TokenConfig::default()
    })
    .await;
    let first = h.issue().await;
    let family_end = h.clock_now() + TimeDelta::days(1);
    assert!(
        first.refresh_token_expires_at <= family_end,
        "a token never outlives its family"
    );

    h.advance(TimeDelta::hours(12));
    let second = h.refresh(&first.refresh_token).await?;
    assert_eq!(
        second.refresh_token_expires_at,
        first.refresh_token_expires_at
    );

    h.advance(TimeDelta::hours(12));
    assert_eq!(h.refused(&second.refresh_token).await, Reason::TokenExpired);
    Ok(())
}

#[tokio::test]
async fn a_token_expires_on_its_own_before_its_family() -> Result<()> {
    let h = Harness::with_config(TokenConfig {
        refresh_ttl: Duration::from_secs(3600),
        ..TokenConfig::default()
    })
    .await;
    let first = h.issue().await;
    h.advance(TimeDelta::minutes(59));
    let second = h.refresh(&first.refresh_token).await?;
    h.advance(TimeDelta::minutes(61));
    assert_eq!(h.refused(&second.refresh_token).await, Reason::TokenExpired);
    Ok(())
}

#[tokio::test]
async fn a_revoked_session_refuses_refresh() -> Result<()> {
    let h = Harness::new().await;
    let first = h.issue().await;
    h.sessions.revoke(&first.session_id, "logout").await?;
    assert_eq!(
        h.refused(&first.refresh_token).await,
        Reason::SessionRevoked
    );
    Ok(())
}

#[tokio::test]
async fn a_suspended_user_cannot_refresh() -> Result<()> {
    let h = Harness::new().await;
    let first = h.issue().await;
    h.users.set(first.user_id, UserStatus::Suspended);
    assert_eq!(
        h.refused(&first.refresh_token).await,
        Reason::AccountInactive
    );
    // Nothing was spent: reactivated, the user refreshes with the same token.
    h.users.set(first.user_id, UserStatus::Active);
    h.refresh(&first.refresh_token).await?;
    Ok(())
}

#[tokio::test]
async fn unknown_and_empty_tokens_are_refused() {
    let h = Harness::new().await;
    assert_eq!(h.refused("not-a-token").await, Reason::TokenInvalid);
    assert_eq!(h.refused(&"x".repeat(4096)).await, Reason::TokenInvalid);
    assert_eq!(h.refused("  ").await, Reason::InvalidArgument);
}

#[tokio::test]
async fn issuing_needs_a_live_session_of_the_same_active_user() -> Result<()> {
    let h = Harness::new().await;
    let (user, session) = h.signed_in();
    let (other_user, _) = h.signed_in();

    let err = h
        .tokens
        .issue_tokens(other_user, &session, &client())
        .await
        .unwrap_err();
    assert_eq!(
        err.violation().map(|v| v.field.as_str()),
        Some("session_id")
    );

    h.users.set(user, UserStatus::Deactivated);
    assert_eq!(
        reason(h.tokens.issue_tokens(user, &session, &client()).await),
        Reason::AccountInactive
    );

    h.sessions.revoke(&session, "logout").await?;
    assert_eq!(
        reason(h.tokens.issue_tokens(user, &session, &client()).await),
        Reason::SessionRevoked
    );
    Ok(())
}

#[tokio::test]
async fn refresh_tokens_are_stored_only_as_hashes() -> Result<()> {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use latch_domain::secret::hmac_sha256;
    use sea_orm::{ConnectionTrait, Statement};

    let h = Harness::new().await;
    let (first, second) = h.rotated().await?;
    for pair in [&first, &second] {
        let bits = URL_SAFE_NO_PAD
            .decode(&pair.refresh_token)
            .map(|b| b.len() * 8);
        assert_eq!(bits.ok(), Some(256));
    }

    let conn = h.storage.db().connection();
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT * FROM refresh_tokens",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let ip = client().ip.unwrap();
    let mut salts = Vec::new();
    for row in &rows {
        let hash: Vec<u8> = row.try_get("", "token_hash").unwrap();
        // The other columns are ids, times and the random salt: the hash
        // is the only trace.
        assert!(hash == sha256(&first.refresh_token) || hash == sha256(&second.refresh_token));
        let salt: Option<Vec<u8>> = row.try_get("", "successor_salt").unwrap();
        let salt = salt.expect("every new token has a salt");
        assert_eq!(salt.len(), 32);
        salts.push(salt);
        let ip_hash: Vec<u8> = row.try_get("", "ip_hash").unwrap();
        assert_eq!(
            ip_hash,
            hmac_sha256(h.secrets.ip_hash_key.expose(), ip.as_bytes())
        );
        let user_agent: Option<String> = row.try_get("", "user_agent").unwrap();
        assert_eq!(user_agent, client().user_agent);
    }
    assert_ne!(salts[0], salts[1], "a salt of its own per token");
    Ok(())
}

#[tokio::test]
async fn access_tokens_carry_the_users_roles() -> Result<()> {
    let h = Harness::new().await;
    let first = h.issue().await;
    h.roles.grant_role(first.user_id, "ADMIN");
    let second = h.refresh(&first.refresh_token).await?;
    let before = h.tokens.validate(&first.access_token, false).await?;
    let after = h.tokens.validate(&second.access_token, false).await?;
    assert_eq!(before.roles, vec!["USER".to_owned()]);
    assert_eq!(after.roles, vec!["USER".to_owned(), "ADMIN".to_owned()]);
    Ok(())
}

/// The real repository with one twist, for races a test cannot time.
struct Twisted {
    inner: Arc<dyn RefreshTokenRepository>,
    twist: Twist,
}

enum Twist {
    /// Stores the rotation, then reports the unique violation a concurrent
    /// rotation of the same token would have met: the race as the index
    /// sees it.
    IndexLosesRace,
    /// Revokes the family (a logout) right after every lookup, so it is
    /// revoked between the lookup of a token and its rotation.
    RevokedAfterLookup(DateTime<Utc>),
    /// Counts the lookups of a token by its hash.
    CountsLookups(Arc<AtomicUsize>),
}

impl Twisted {
    async fn start(h: &Harness, twist: Twist) -> Result<Arc<crate::Tokens>> {
        let mut deps = h.deps();
        deps.refresh_tokens = Arc::new(Twisted {
            inner: deps.refresh_tokens,
            twist,
        });
        crate::Tokens::start(deps, h.config.clone(), h.secrets.clone()).await
    }
}

#[async_trait]
impl RefreshTokenRepository for Twisted {
    async fn create_family(&self, family: &RefreshFamily, first: &RefreshToken) -> Result<()> {
        self.inner.create_family(family, first).await
    }
    async fn delete_for_user(&self, user: latch_domain::UserId, limit: u64) -> Result<u64> {
        self.inner.delete_for_user(user, limit).await
    }
    async fn find_by_hash(&self, hash: &[u8; 32]) -> Result<Option<(RefreshToken, RefreshFamily)>> {
        if let Twist::CountsLookups(lookups) = &self.twist {
            lookups.fetch_add(1, Ordering::SeqCst);
        }
        let found = self.inner.find_by_hash(hash).await?;
        if let (Twist::RevokedAfterLookup(at), Some((_, family))) = (&self.twist, &found) {
            self.inner
                .revoke_family(family.id, *at, "logout", &[])
                .await?;
        }
        Ok(found)
    }
    async fn get_family(&self, id: FamilyId) -> Result<Option<RefreshFamily>> {
        self.inner.get_family(id).await
    }
    async fn rotate(
        &self,
        spent: TokenId,
        at: DateTime<Utc>,
        successor: &RefreshToken,
    ) -> Result<bool> {
        let rotated = self.inner.rotate(spent, at, successor).await?;
        match self.twist {
            Twist::IndexLosesRace => {
                assert!(rotated);
                Err(Error::new(Reason::AlreadyExists, "it already exists"))
            }
            Twist::RevokedAfterLookup(_) | Twist::CountsLookups(_) => Ok(rotated),
        }
    }
    async fn revoke_family(
        &self,
        family: FamilyId,
        at: DateTime<Utc>,
        reason: &str,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        self.inner
            .revoke_family(family, at, reason, follow_up)
            .await
    }
    async fn revoke_families_of_session(
        &self,
        session: &SessionId,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<u64> {
        self.inner
            .revoke_families_of_session(session, at, reason)
            .await
    }
    async fn revoke_families_of_user(
        &self,
        user: UserId,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<u64> {
        self.inner.revoke_families_of_user(user, at, reason).await
    }
    async fn delete_expired(&self, before: DateTime<Utc>) -> Result<u64> {
        self.inner.delete_expired(before).await
    }
}

#[tokio::test]
async fn a_rotation_lost_at_the_unique_index_is_a_duplicate_not_an_error() -> Result<()> {
    let h = Harness::new().await;
    let first = h.issue().await;
    let tokens = Twisted::start(&h, Twist::IndexLosesRace).await?;

    let pair = tokens.refresh(&first.refresh_token, &client()).await?;
    // The successor the "other" rotation stored is the one handed out.
    let (stored, _) = h.stored(&pair.refresh_token).await?.unwrap();
    assert!(stored.spent_at.is_none());
    Ok(())
}

#[tokio::test]
async fn a_family_revoked_between_lookup_and_rotation_yields_no_pair() -> Result<()> {
    let h = Harness::new().await;
    let first = h.issue().await;
    let tokens = Twisted::start(&h, Twist::RevokedAfterLookup(h.clock_now())).await?;

    // The family was live when the token was looked up, revoked (a logout)
    // before it was rotated: the refresh fails as on a revoked session.
    assert_eq!(
        reason(tokens.refresh(&first.refresh_token, &client()).await),
        Reason::SessionRevoked
    );
    // Nothing was written: the token is unspent and has no successor.
    let (token, family) = h.stored(&first.refresh_token).await?.unwrap();
    assert_eq!(token.spent_at, None);
    assert!(family.revoked_at.is_some());
    assert_eq!(h.count_rows("refresh_tokens").await, 1);
    // A lost race with a revocation is not reuse.
    assert!(h.sessions.revocations().is_empty());
    Ok(())
}

#[tokio::test]
async fn a_lifetime_beyond_the_calendar_stops_the_start_instead_of_panicking_later() {
    let h = Harness::new().await;
    let config = TokenConfig {
        family_ttl: Duration::from_secs(100_000_000 * 86_400),
        ..TokenConfig::default()
    };
    let err = crate::Tokens::start(h.deps(), config, h.secrets.clone())
        .await
        .expect_err("the start must refuse it");
    assert!(
        format!("{err}").contains("LATCH_REFRESH_FAMILY_TTL"),
        "{err}"
    );
}

mod activity;
mod issued;
mod successors;
