//! The key schedule every replica runs: it keeps this replica's view of
//! the keys fresh (so the JWKS it serves shows another replica's new key
//! within a minute, whether or not it signs anything) and makes a new key
//! when the newest is `LATCH_SIGNING_KEY_ROTATION` old. Safe on every
//! replica: the new key is inserted only if no key newer than the period
//! exists, so the first replica past the period rotates and the others
//! find its key. Two inserting at the very same moment (possible on
//! PostgreSQL) leave two new keys: harmless, the newer signs in its time
//! and the other is retired then, both published.

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use latch_domain::Result;
use tokio::{task::JoinHandle, time::MissedTickBehavior};

use crate::{Tokens, span};

/// How often the schedule looks: well inside the reload interval, so a
/// view is refreshed here before a signature would have to.
const TICK: Duration = Duration::from_secs(30);

impl Tokens {
    /// Runs the key schedule until the `Tokens` is dropped.
    pub fn spawn_key_schedule(self: &Arc<Self>) -> JoinHandle<()> {
        self.spawn_key_schedule_every(TICK)
    }

    pub(crate) fn spawn_key_schedule_every(self: &Arc<Self>, tick: Duration) -> JoinHandle<()> {
        tokio::spawn(run(Arc::downgrade(self), tick))
    }

    /// One look of the schedule: rotates when the newest key is one
    /// rotation period old (never with rotation off), otherwise only
    /// rereads the keys. Returns the new key's id when this call rotated.
    pub(crate) async fn rotate_signing_key_if_due(&self) -> Result<Option<String>> {
        let period = self.config.key_rotation;
        if period.is_zero() {
            self.keys.reload().await?;
            return Ok(None);
        }
        let rotated = self.keys.rotate_if_due(span(period)).await?;
        if let Some(kid) = &rotated {
            tracing::info!(%kid, "made the scheduled signing key");
        }
        Ok(rotated)
    }
}

async fn run(tokens: Weak<Tokens>, tick: Duration) {
    // Pacing only; whether a rotation is due is decided on the Clock.
    let mut ticks = tokio::time::interval(tick);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        let Some(tokens) = tokens.upgrade() else {
            return;
        };
        if let Err(error) = tokens.rotate_signing_key_if_due().await {
            tracing::warn!(%error, "the signing-key schedule failed; retrying next tick");
        }
    }
}
