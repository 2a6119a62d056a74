//! The [`Authenticator`] of Latch's own servers: the access token verified
//! by `latch-client` (the same code a backend embeds), then the session
//! behind it checked, so Logout takes effect at once. Every authenticated
//! call is activity on its session (its idle expiry moves), recorded off
//! the request path and at most once per session per touch interval.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use latch_client::{Claims, Verifier, VerifyError};
use latch_domain::{Clock, Error, Reason, Result, SessionId, UserId, ports::SessionDirectory};

use super::{Authenticator, UserPrincipal};
use crate::{
    activity_notes::ActivityNotes,
    config::{ConfigSource, duration_in},
};

/// The session service's key, default and range
/// (`latch_session::SessionConfig`): this process asks for a touch as
/// often as the session service would write one.
const TOUCH_INTERVAL_KEY: &str = "LATCH_SESSION_TOUCH_INTERVAL";
const DEFAULT_TOUCH_INTERVAL: Duration = Duration::from_secs(60);
const TOUCH_INTERVAL_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::ZERO..=Duration::from_secs(3600);

pub struct AccessTokenAuthenticator {
    verifier: Arc<Verifier>,
    sessions: Arc<dyn SessionDirectory>,
    activity: Activity,
}

impl AccessTokenAuthenticator {
    /// `touch_interval`: at most one touch per session this often (the
    /// session service's `LATCH_SESSION_TOUCH_INTERVAL`).
    pub fn new(
        verifier: Arc<Verifier>,
        sessions: Arc<dyn SessionDirectory>,
        clock: Arc<dyn Clock>,
        touch_interval: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            activity: Activity::new(sessions.clone(), clock, touch_interval),
            verifier,
            sessions,
        })
    }

    /// As [`Self::new`], the interval read from `LATCH_SESSION_TOUCH_INTERVAL`
    /// (default 60 s, 0 to 1 h), for binaries that do not run the session
    /// service's configuration.
    pub fn from_source(
        source: &dyn ConfigSource,
        verifier: Arc<Verifier>,
        sessions: Arc<dyn SessionDirectory>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>> {
        let interval = duration_in(
            source,
            TOUCH_INTERVAL_KEY,
            DEFAULT_TOUCH_INTERVAL,
            TOUCH_INTERVAL_RANGE,
        )?;
        Ok(Self::new(verifier, sessions, clock, interval))
    }
}

#[async_trait]
impl Authenticator for AccessTokenAuthenticator {
    async fn authenticate(&self, bearer: &str) -> Result<UserPrincipal> {
        let claims = self.verifier.verify(bearer).await.map_err(verify_error)?;
        let principal = principal_if_live(claims, self.sessions.as_ref()).await?;
        self.activity.record(&principal.session_id);
        Ok(principal)
    }
}

/// Records activity for the auth layer without costing the request
/// anything: an in-memory note per session says when this process last
/// asked for a touch, and a touch that is due runs in a task of its own,
/// so the request never waits on the session service (nor on its
/// database write, nor on a sibling's network round trip). Between two
/// due touches a request costs one lookup in a sharded in-memory map.
struct Activity {
    sessions: Arc<dyn SessionDirectory>,
    clock: Arc<dyn Clock>,
    notes: ActivityNotes,
}

impl Activity {
    fn new(sessions: Arc<dyn SessionDirectory>, clock: Arc<dyn Clock>, interval: Duration) -> Self {
        Self {
            sessions,
            clock,
            notes: ActivityNotes::new(interval),
        }
    }

    /// Asks for a touch of `session` unless this process asked within the
    /// interval. Two requests racing here may both ask; the session
    /// service still writes at most once per interval.
    fn record(&self, session: &SessionId) {
        let now = self.clock.now();
        if !self.notes.due(session, None, now) {
            return;
        }
        self.notes.note(session, now);
        let sessions = self.sessions.clone();
        let session = session.clone();
        tokio::spawn(async move {
            match sessions.touch(&session).await {
                Ok(()) => {}
                // It ended between the check and the touch: the next
                // request is refused anyway.
                Err(err) if err.is(Reason::SessionRevoked) || err.is(Reason::NotFound) => {
                    tracing::debug!("activity not recorded: the session has ended");
                }
                Err(error) => {
                    // The session id is not logged: it names a live session.
                    tracing::warn!(%error, "activity not recorded; the next due request retries");
                }
            }
        });
    }
}

/// The user of verified claims, when their session is still live and theirs.
pub async fn principal_if_live(
    claims: Claims,
    sessions: &dyn SessionDirectory,
) -> Result<UserPrincipal> {
    let invalid = || Error::new(Reason::TokenInvalid, "the access token is invalid");
    let user_id = UserId::parse("sub", &claims.sub).map_err(|_| invalid())?;
    let session_id = SessionId::parse("sid", &claims.sid).map_err(|_| invalid())?;
    match sessions.validate(&session_id).await? {
        Some(session) if session.user_id == user_id => Ok(UserPrincipal {
            user_id,
            session_id,
            roles: claims.roles,
        }),
        _ => Err(Error::new(
            Reason::SessionRevoked,
            "the session has ended; sign in again",
        )),
    }
}

pub fn verify_error(err: VerifyError) -> Error {
    match err {
        VerifyError::Expired => Error::new(Reason::TokenExpired, "the access token has expired"),
        VerifyError::Invalid(why) => Error::new(
            Reason::TokenInvalid,
            format!("the access token is invalid: {why}"),
        ),
        VerifyError::KeysUnavailable(cause) => Error::unavailable(KeysUnavailable(cause)),
        VerifyError::SessionRevoked => Error::new(
            Reason::SessionRevoked,
            "the session has ended; sign in again",
        ),
        VerifyError::RevocationsUnavailable(why) => {
            Error::unavailable(KeysUnavailable(format!("revocations unavailable: {why}")))
        }
    }
}

#[derive(Debug)]
struct KeysUnavailable(String);

impl std::fmt::Display for KeysUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "signing keys unavailable: {}", self.0)
    }
}

impl std::error::Error for KeysUnavailable {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    };

    use latch_domain::{
        ManualClock,
        model::{ClientInfo, Session},
    };

    use super::*;

    /// A session service that counts touches of live sessions and ends
    /// none; `revoked` ones answer as ended.
    #[derive(Default)]
    struct CountingSessions {
        touches: AtomicUsize,
        revoked: Mutex<Vec<SessionId>>,
    }

    #[async_trait]
    impl SessionDirectory for CountingSessions {
        async fn create(&self, _user: UserId, _client: &ClientInfo) -> Result<Session> {
            Err(Error::internal_msg("unused"))
        }
        async fn validate(&self, _id: &SessionId) -> Result<Option<Session>> {
            Err(Error::internal_msg("unused"))
        }
        async fn touch(&self, id: &SessionId) -> Result<()> {
            if self.revoked.lock().unwrap().contains(id) {
                return Err(Error::new(Reason::SessionRevoked, "ended"));
            }
            self.touches.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        async fn revoke(&self, _id: &SessionId, _reason: &str) -> Result<bool> {
            Err(Error::internal_msg("unused"))
        }
        async fn revoke_all(
            &self,
            _user: UserId,
            _except: Option<&SessionId>,
            _reason: &str,
        ) -> Result<u32> {
            Err(Error::internal_msg("unused"))
        }
    }

    /// Waits for the touches `record` spawned, then counts them.
    async fn touches_after_spawned(sessions: &CountingSessions) -> usize {
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        sessions.touches.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn a_session_is_touched_at_most_once_per_interval_per_process() {
        let sessions = Arc::new(CountingSessions::default());
        let clock = ManualClock::starting_now();
        let activity = Activity::new(
            sessions.clone(),
            Arc::new(clock.clone()),
            Duration::from_secs(60),
        );
        let session = SessionId::generate().unwrap();

        for _ in 0..1000 {
            activity.record(&session);
        }
        assert_eq!(touches_after_spawned(&sessions).await, 1);

        clock.advance(chrono::Duration::seconds(59));
        activity.record(&session);
        assert_eq!(
            touches_after_spawned(&sessions).await,
            1,
            "within the interval"
        );

        clock.advance(chrono::Duration::seconds(1));
        activity.record(&session);
        activity.record(&session);
        assert_eq!(touches_after_spawned(&sessions).await, 2);

        // Each session has its own interval.
        activity.record(&SessionId::generate().unwrap());
        assert_eq!(touches_after_spawned(&sessions).await, 3);
    }

    #[tokio::test]
    async fn an_ended_session_costs_the_request_nothing() {
        let sessions = Arc::new(CountingSessions::default());
        let session = SessionId::generate().unwrap();
        sessions.revoked.lock().unwrap().push(session.clone());
        let activity = Activity::new(
            sessions.clone(),
            Arc::new(ManualClock::starting_now()),
            Duration::ZERO,
        );
        // A zero interval asks every time; the refusal is only logged.
        activity.record(&session);
        activity.record(&session);
        assert_eq!(touches_after_spawned(&sessions).await, 0);
    }
}
