//! Access-token verification against a cached JWKS.

use std::{
    collections::HashMap,
    sync::{
        Arc, PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Validation, errors::ErrorKind, jwk::JwkSet};
use tokio::{sync::Mutex, time::Instant};

use crate::{
    ACCESS_TOKEN_TYPE, Claims, KeySource, Revocations, VerifyError,
    keys::{TrustedKey, trusted_key},
};

/// A key ready to verify: the decoding key and the validation rules fixed
/// for it (its one algorithm, issuer, audience, required claims).
struct CachedKey {
    key: jsonwebtoken::DecodingKey,
    validation: Validation,
}

/// When the key set was last fetched, and how that went.
#[derive(Default)]
struct FetchState {
    last_attempt: Option<Instant>,
    last_error: Option<VerifyError>,
}

type UnixClock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Verifies Latch access tokens; cheap to share in an `Arc`.
///
/// Checks, in order: the header parses, `typ` is `at+jwt`, `kid` names a
/// trusted key (Ed25519 → EdDSA, P-256 → ES256: the algorithm comes from the
/// key, a header naming another is refused), the signature, `iss`, `aud`,
/// the presence of `sub`, `sid`, `iat`, `exp`, `jti`, and last `exp`: a token
/// is expired from its `exp` second on, plus the leeway (default 0 s: Latch
/// signs and verifies against synchronized clocks, and access tokens are
/// short; raise it with [`Verifier::with_leeway`] where clocks drift).
///
/// With [`Verifier::with_cache`], tokens that verified are remembered by
/// their exact text, so a token presented again costs a lookup instead of a
/// signature check; `exp` is still checked on every call.
///
/// With [`Verifier::with_revocations`], a token whose session is on the
/// revocation list is refused (`SESSION_REVOKED`) after every other check,
/// on every call, cached or not.
///
/// Keys are cached by `kid`. An unknown `kid` refetches the key set, at most
/// once per refetch interval (default 30 s), so a flood of made-up key ids
/// costs the token service one call per interval; a rotated key is picked up
/// by the first token that uses it.
pub struct Verifier {
    source: Arc<dyn KeySource>,
    issuer: String,
    audience: String,
    leeway: i64,
    refetch_interval: Duration,
    now: UnixClock,
    keys: RwLock<HashMap<String, Arc<CachedKey>>>,
    /// Claims of tokens that verified against the current keys, by token.
    verified: Option<quick_cache::sync::Cache<Box<str>, Arc<Claims>>>,
    /// Bumped, under the `keys` write lock, each time the key set is
    /// replaced: a verification that started before is not remembered.
    key_generation: AtomicU64,
    /// Serializes fetches: concurrent misses wait for one fetch, then read
    /// the cache it filled.
    fetch: Mutex<FetchState>,
    /// The revoked sessions to refuse, in the revocation-aware mode.
    revocations: Option<Arc<Revocations>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .field("refetch_interval", &self.refetch_interval)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    pub const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

    /// A cache size for [`Verifier::with_cache`] that holds every live token
    /// of a few thousand active users in about 4 MB.
    pub const DEFAULT_CACHE_CAPACITY: usize = 4096;

    /// A verifier for tokens of `issuer` meant for `audience`; it fetches
    /// keys from `source` on first use.
    pub fn new(
        source: Arc<dyn KeySource>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        Self {
            source,
            issuer: issuer.into(),
            audience: audience.into(),
            leeway: 0,
            refetch_interval: Self::DEFAULT_REFETCH_INTERVAL,
            now: Arc::new(system_now),
            keys: RwLock::new(HashMap::new()),
            verified: None,
            key_generation: AtomicU64::new(0),
            fetch: Mutex::new(FetchState::default()),
            revocations: None,
        }
    }

    /// Accepts a token up to `leeway` after its `exp`, for clock skew.
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// The least time between two fetches of the key set.
    pub fn with_refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// Where `exp` is checked against: seconds since the Unix epoch. The
    /// system clock by default; Latch's own services pass their `Clock`.
    pub fn with_clock(mut self, now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.now = Arc::new(now);
        self
    }

    /// Remembers up to `capacity` verified tokens (about 1 KB each). A
    /// token is only ever matched by its exact text, and the whole cache is
    /// dropped when the key set changes, so a cached answer is the answer a
    /// fresh verification would give, expiry included.
    pub fn with_cache(mut self, capacity: usize) -> Self {
        self.verified = (capacity > 0).then(|| quick_cache::sync::Cache::new(capacity));
        self
    }

    /// The revocation-aware mode: tokens of the sessions on `revocations`
    /// are refused (`SESSION_REVOKED`), and while its list is not current
    /// every token is refused with `UNAVAILABLE` or accepted, as its
    /// [`crate::OnSourceLost`] says. Entries end on the system clock.
    pub fn with_revocations(mut self, revocations: Arc<Revocations>) -> Self {
        self.revocations = Some(revocations);
        self
    }

    /// Verifies `token` against the verifier's clock.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        self.verify_at(token, (self.now)()).await
    }

    /// Verifies `token` as of `now` (seconds since the Unix epoch).
    pub async fn verify_at(&self, token: &str, now: i64) -> Result<Claims, VerifyError> {
        let claims = match self.verified.as_ref().and_then(|cache| cache.get(token)) {
            Some(claims) => claims,
            None => {
                let generation = self.key_generation.load(Ordering::Acquire);
                let claims = Arc::new(self.check_signed(token).await?);
                self.remember(token, &claims, generation);
                claims
            }
        };
        if now >= claims.exp.saturating_add(self.leeway) {
            return Err(VerifyError::Expired);
        }
        if let Some(revocations) = &self.revocations {
            revocations.check(&claims.sid, now)?;
        }
        Ok(Claims::clone(&claims))
    }

    /// Caches `claims` unless the key set changed since `generation`.
    fn remember(&self, token: &str, claims: &Arc<Claims>, generation: u64) {
        let Some(cache) = &self.verified else {
            return;
        };
        // The read lock keeps `install` from swapping keys in between.
        let _keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        if self.key_generation.load(Ordering::Acquire) == generation {
            cache.insert(token.into(), Arc::clone(claims));
        }
    }

    /// Everything but expiry: header, key, signature and claims.
    async fn check_signed(&self, token: &str) -> Result<Claims, VerifyError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| VerifyError::Invalid("malformed token"))?;
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Err(VerifyError::Invalid("not an access token"));
        }
        let kid = header
            .kid
            .as_deref()
            .ok_or(VerifyError::Invalid("no key id"))?;
        let key = match self.cached(kid) {
            Some(key) => key,
            None => self
                .refetch_for(kid)
                .await?
                .ok_or(VerifyError::Invalid("unknown signing key"))?,
        };
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &key.validation)
            .map_err(|e| VerifyError::Invalid(why(e.kind())))?
            .claims;
        if claims.sub.is_empty() || claims.sid.is_empty() || claims.jti.is_empty() {
            return Err(VerifyError::Invalid("missing claim"));
        }
        Ok(claims)
    }

    /// Fetches the key set now, whatever the interval (at start, to fail
    /// early when the token service is unreachable).
    pub async fn refresh(&self) -> Result<(), VerifyError> {
        let mut state = self.fetch.lock().await;
        self.fetch_into(&mut state).await
    }

    fn cached(&self, kid: &str) -> Option<Arc<CachedKey>> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        keys.get(kid).cloned()
    }

    /// On a cache miss: fetch the keys unless that was done within the
    /// interval, then look again.
    async fn refetch_for(&self, kid: &str) -> Result<Option<Arc<CachedKey>>, VerifyError> {
        let mut state = self.fetch.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(key) = self.cached(kid) {
            return Ok(Some(key));
        }
        let recent = state
            .last_attempt
            .is_some_and(|at| at.elapsed() < self.refetch_interval);
        if recent {
            return match &state.last_error {
                // Without any key, "unknown key" would be a lie.
                Some(err) if self.is_empty() => Err(err.clone()),
                _ => Ok(None),
            };
        }
        match self.fetch_into(&mut state).await {
            Ok(()) => Ok(self.cached(kid)),
            Err(err) if self.is_empty() => Err(err),
            Err(err) => {
                tracing::warn!(error = %err, "refetching signing keys failed; keeping the cached ones");
                Ok(None)
            }
        }
    }

    async fn fetch_into(&self, state: &mut FetchState) -> Result<(), VerifyError> {
        state.last_attempt = Some(Instant::now());
        match self.source.fetch().await {
            Ok(set) => {
                state.last_error = None;
                self.install(&set);
                Ok(())
            }
            Err(err) => {
                state.last_error = Some(err.clone());
                Err(err)
            }
        }
    }

    /// Replaces the cache with the keys of `set`: a key dropped from the
    /// JWKS stops verifying.
    fn install(&self, set: &JwkSet) {
        let fresh: HashMap<String, Arc<CachedKey>> = set
            .keys
            .iter()
            .filter_map(trusted_key)
            .map(
                |TrustedKey {
                     kid,
                     algorithm,
                     key,
                 }| {
                    (
                        kid,
                        Arc::new(CachedKey {
                            key,
                            validation: self.validation(algorithm),
                        }),
                    )
                },
            )
            .collect();
        tracing::debug!(keys = fresh.len(), "installed signing keys");
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        *keys = fresh;
        // Under the key lock: a token verified against a key that just left
        // the set cannot be served from the cache afterwards.
        self.key_generation.fetch_add(1, Ordering::AcqRel);
        if let Some(cache) = &self.verified {
            cache.clear();
        }
    }

    fn validation(&self, algorithm: jsonwebtoken::Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // jsonwebtoken reads the system clock; expiry is checked in
        // `verify_at` against the verifier's own clock instead.
        validation.validate_exp = false;
        validation.leeway = 0;
        validation
    }

    fn is_empty(&self) -> bool {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }
}

/// A short, safe description of a failed decode.
fn why(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => "algorithm not allowed",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::MissingRequiredClaim(_) => "missing claim",
        ErrorKind::Json(_) | ErrorKind::InvalidClaimFormat(_) => "malformed claims",
        _ => "malformed token",
    }
}

fn system_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
