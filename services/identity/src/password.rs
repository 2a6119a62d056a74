//! argon2id password hashing off the async runtime.
//!
//! Every hash and verify runs in `spawn_blocking` behind a semaphore sized
//! to the cores, so a burst of logins queues instead of starving the
//! runtime or the blocking pool. The queue is bounded too
//! (`LATCH_PASSWORD_QUEUE`): past it a hash is refused at once with
//! `RATE_LIMITED` and a `RetryInfo`, so a flood of logins costs a refusal,
//! not a wait that grows with the flood. An unknown user is verified
//! against a dummy hash made with the same parameters, so it costs what a
//! known one costs.
//! Working memory comes from a [`MemoryPool`] instead of a fresh 19 MiB
//! allocation per call.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::phc::{Output, ParamsString, PasswordHash, Salt},
};
use async_trait::async_trait;
use latch_domain::{
    Error, Result,
    ports::{PasswordHasher, PasswordVerdict},
    secret::{self, Secret},
};
use latch_runtime::config::{ConfigSource, parse_in};
use tokio::sync::Semaphore;

use memory::MemoryPool;

mod memory;

/// `LATCH_PASSWORD_QUEUE` when unset: hashes that may wait for a core.
pub(crate) const DEFAULT_QUEUE: usize = 64;
/// The most `LATCH_PASSWORD_QUEUE` may say.
pub(crate) const MAX_QUEUE: usize = 4096;
/// What a refused hash is told to wait: a full queue drains in about
/// queue ÷ cores hash times, tens of milliseconds each.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(1);

/// [`PasswordHasher`] with argon2id (v0x13).
pub struct Argon2Hasher {
    params: Params,
    /// One per hash running: as many as cores.
    permits: Arc<Semaphore>,
    /// One per hash running or waiting: cores + queue. Taken without
    /// waiting, so a full queue refuses instead of growing.
    admitted: Arc<Semaphore>,
    memory: Arc<MemoryPool>,
    /// A hash of a random password, verified in place of an unknown user's.
    dummy_hash: Arc<str>,
    hashes: AtomicU64,
    verifies: AtomicU64,
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Hasher")
            .field("m_cost", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .field("p_cost", &self.params.p_cost())
            .finish_non_exhaustive()
    }
}

impl Argon2Hasher {
    /// A hasher with `params` running at most `max_concurrent` hashes at
    /// once (at least one), and [`DEFAULT_QUEUE`] more waiting.
    pub fn new(params: Params, max_concurrent: usize) -> Result<Arc<Self>> {
        Self::with_queue(params, max_concurrent, DEFAULT_QUEUE)
    }

    /// A hasher with `params` running at most `max_concurrent` hashes at
    /// once (at least one) and at most `max_waiting` more waiting for one
    /// of them; any more is refused `RATE_LIMITED`. Computes the dummy hash
    /// here, once: this blocks for one hash, so build the hasher at start-up.
    pub fn with_queue(
        params: Params,
        max_concurrent: usize,
        max_waiting: usize,
    ) -> Result<Arc<Self>> {
        let running = max_concurrent.max(1);
        let admitted = running
            .saturating_add(max_waiting)
            .min(Semaphore::MAX_PERMITS);
        let memory = Arc::new(MemoryPool::default());
        let dummy_password = secret::random_token(32)?;
        let dummy_hash = hash_blocking(&params, dummy_password.as_bytes(), &memory)?;
        Ok(Arc::new(Self {
            params,
            permits: Arc::new(Semaphore::new(running)),
            admitted: Arc::new(Semaphore::new(admitted)),
            memory,
            dummy_hash: dummy_hash.into(),
            hashes: AtomicU64::new(0),
            verifies: AtomicU64::new(0),
        }))
    }

    /// The OWASP minimum (m=19456 KiB, t=2, p=1), one hash per core,
    /// [`DEFAULT_QUEUE`] waiting.
    pub fn with_defaults() -> Result<Arc<Self>> {
        Self::new(Params::default(), cores())
    }

    /// As [`Self::with_defaults`], the queue from `LATCH_PASSWORD_QUEUE`
    /// (0 to [`MAX_QUEUE`], default [`DEFAULT_QUEUE`]; 0 = no waiting).
    pub fn from_source(source: &dyn ConfigSource) -> Result<Arc<Self>> {
        let queue = parse_in(source, "LATCH_PASSWORD_QUEUE", DEFAULT_QUEUE, 0..=MAX_QUEUE)?;
        Self::with_queue(Params::default(), cores(), queue)
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// How many hashes this hasher computed (the dummy excluded).
    pub fn hash_count(&self) -> u64 {
        self.hashes.load(Ordering::Relaxed)
    }

    /// How many verifies ran, against real or dummy hashes: tests count
    /// them instead of timing logins.
    pub fn verify_count(&self) -> u64 {
        self.verifies.load(Ordering::Relaxed)
    }

    /// Runs `job` on the blocking pool once a permit is free, counting it
    /// in `counter`; `RATE_LIMITED` at once when the queue is full. A
    /// caller that gives up while waiting (its request timed out) frees its
    /// place in the queue.
    async fn run_blocking<T: Send + 'static>(
        &self,
        counter: &AtomicU64,
        job: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let admitted = Arc::clone(&self.admitted)
            .try_acquire_owned()
            .map_err(|_| Error::rate_limited(RETRY_AFTER))?;
        counter.fetch_add(1, Ordering::Relaxed);
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(Error::internal)?;
        tokio::task::spawn_blocking(move || {
            let _held = (admitted, permit);
            job()
        })
        .await
        .map_err(Error::internal)?
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Secret<String>) -> Result<String> {
        let params = self.params.clone();
        let password = password.clone();
        let memory = Arc::clone(&self.memory);
        self.run_blocking(&self.hashes, move || {
            hash_blocking(&params, password.expose().as_bytes(), &memory)
        })
        .await
    }

    async fn verify(
        &self,
        password: &Secret<String>,
        hash: Option<&str>,
    ) -> Result<PasswordVerdict> {
        let known = hash.is_some();
        let stored: Arc<str> = hash.map_or_else(|| Arc::clone(&self.dummy_hash), Arc::from);
        let password = password.clone();
        let current = self.params.clone();
        let memory = Arc::clone(&self.memory);
        self.run_blocking(&self.verifies, move || {
            let parsed = PasswordHash::new(&stored).map_err(phc_error)?;
            let matches = verify_blocking(&parsed, password.expose().as_bytes(), &memory)?;
            // The dummy can "match" only if someone guessed 256 random bits.
            let matches = matches && known;
            Ok(PasswordVerdict {
                matches,
                needs_rehash: matches && is_weaker(&parsed, &current),
            })
        })
        .await
    }
}

/// The cores this process may use: one hash each.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// A PHC string of `password` under `params`, with a fresh random salt.
fn hash_blocking(params: &Params, password: &[u8], memory: &MemoryPool) -> Result<String> {
    let salt = Salt::generate();
    let mut output = vec![0; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    memory
        .with_blocks(params.block_count(), |blocks: &mut [Block]| {
            argon2.hash_password_into_with_memory(password, &salt, &mut output, blocks)
        })
        .map_err(phc_error)?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(phc_error)?,
        salt: Some(salt),
        hash: Some(Output::new(&output).map_err(phc_error)?),
    };
    Ok(hash.to_string())
}

/// Whether `password` hashes to `stored` under the algorithm, version,
/// parameters and salt `stored` names; compared in constant time.
fn verify_blocking(stored: &PasswordHash, password: &[u8], memory: &MemoryPool) -> Result<bool> {
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return Err(phc_error("the stored hash has no salt or output"));
    };
    let algorithm = Algorithm::new(stored.algorithm).map_err(phc_error)?;
    let version = match stored.version {
        Some(v) => Version::try_from(v).map_err(phc_error)?,
        None => Version::default(),
    };
    let params = Params::try_from(stored).map_err(phc_error)?;
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut output = vec![0; expected.len()];
    memory
        .with_blocks(blocks, |memory: &mut [Block]| {
            argon2.hash_password_into_with_memory(password, salt, &mut output, memory)
        })
        .map_err(phc_error)?;
    Ok(secret::constant_time_eq(&output, expected.as_bytes()))
}

/// Whether `stored` was made with another algorithm or version, or with
/// cheaper parameters than `current`: then it is rehashed on login.
fn is_weaker(stored: &PasswordHash, current: &Params) -> bool {
    if stored.algorithm.as_str() != Algorithm::Argon2id.as_str()
        || stored.version != Some(Version::V0x13.into())
    {
        return true;
    }
    match Params::try_from(stored) {
        Ok(p) => {
            p.m_cost() < current.m_cost()
                || p.t_cost() < current.t_cost()
                || p.p_cost() < current.p_cost()
        }
        Err(_) => true,
    }
}

/// A stored hash that does not parse is a data fault: logged, never sent.
fn phc_error(err: impl std::fmt::Display) -> Error {
    Error::internal_msg(format!("argon2: {err}"))
}

#[cfg(test)]
mod tests;
