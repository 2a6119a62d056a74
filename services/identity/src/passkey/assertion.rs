//! Accepting an assertion made with a stored passkey, the one path of
//! every ceremony that signs someone in (passkey login, the passkey as a
//! second factor).
//!
//! A passkey marked as possibly cloned is refused before anything is
//! checked. The library verifies the assertion (challenge, origin, RP id,
//! signature, user verification) and its counter against the state it
//! was given; the counter is checked once more against the stored column,
//! which another sign-in may have moved since the ceremony started. A
//! counter that did not increase (an authenticator that keeps one, with a
//! valid signature) marks the passkey (`clone_suspected_at`) and refuses
//! the assertion, as every later one. The use (counter, backup state,
//! state, last used) is recorded by one update guarded by the counter it
//! was checked against: of two assertions racing with one counter value,
//! one is recorded and the other refused.

use latch_domain::{Result, model::PasskeyCredential, model::PasskeyUse};
use webauthn_rs::prelude::{AuthenticationResult, Passkey, WebauthnError, WebauthnResult};

use super::{clone_suspected, passkey_invalid, passkey_state, stored_passkey};
use crate::Identity;

impl Identity {
    /// Accepts the assertion `verify` checks with `stored`'s credential, or
    /// says why not: `PASSKEY_CLONE_SUSPECTED` (marked, or its counter did
    /// not increase: marked now), `PASSKEY_INVALID` (does not verify, or
    /// lost a race with another use of the same counter).
    pub(super) async fn accept_assertion(
        &self,
        stored: &PasskeyCredential,
        verify: impl FnOnce(&Passkey) -> WebauthnResult<AuthenticationResult>,
    ) -> Result<()> {
        if stored.clone_suspected_at.is_some() {
            return Err(clone_suspected());
        }
        let mut passkey = stored_passkey(stored)?;
        let result = match verify(&passkey) {
            Ok(result) => result,
            Err(WebauthnError::CredentialPossibleCompromise) => {
                return Err(self.suspect_clone(stored).await);
            }
            Err(why) => return Err(passkey_invalid(Some(&why))),
        };
        let counter = result.counter();
        if (counter > 0 || stored.sign_count > 0) && counter <= stored.sign_count {
            return Err(self.suspect_clone(stored).await);
        }
        passkey.update_credential(&result);
        let used = PasskeyUse {
            previous_count: stored.sign_count,
            sign_count: counter,
            backup_state: result.backup_state(),
            state: passkey_state(&passkey)?,
            at: self.deps.clock.now(),
        };
        if !self.deps.passkeys.record_use(stored.id, &used).await? {
            // Deleted meanwhile, or another assertion with this counter
            // was recorded first.
            return Err(passkey_invalid(None));
        }
        Ok(())
    }

    /// Marks `stored` as possibly cloned and returns the refusal.
    async fn suspect_clone(&self, stored: &PasskeyCredential) -> latch_domain::Error {
        let now = self.deps.clock.now();
        tracing::warn!(
            user = %stored.user_id, passkey = %stored.id,
            "passkey counter did not increase: marked as possibly cloned"
        );
        if let Err(error) = self
            .deps
            .passkeys
            .mark_clone_suspected(stored.id, now)
            .await
        {
            tracing::error!(passkey = %stored.id, %error, "possible clone not marked");
        }
        clone_suspected()
    }
}
