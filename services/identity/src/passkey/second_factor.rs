//! A passkey as the second step of a sign-in (after a password or an
//! OpenID Connect provider), beside TOTP.
//!
//! A user is asked a second factor when TOTP is on or one of their
//! passkeys is marked `second_factor`. The challenge then offers PASSKEY
//! whenever the user has passkeys, with request options listing all of
//! them; the ceremony's state rides in the login attempt
//! (`login_attempt:{hash}`, sealed), so the login token's five minutes,
//! five wrong tries, single sign-in and the account's lockout apply to a
//! passkey as to a code. CompleteSecondFactor's assertion must be made
//! with one of the user's passkeys and goes through `assertion` like a
//! passkey login (the clone mark and counter included).

use latch_domain::{Result, UserId, model::User};
use webauthn_rs::prelude::{PasskeyAuthentication, PublicKeyCredential};

use super::{USER_PASSKEYS, options_json, parse_json, passkey_invalid, to_string};
use crate::Identity;

/// The history's name of the factor, after `+` (`password+passkey`).
pub(crate) const FACTOR: &str = "passkey";

/// The passkey part of a challenge: options for the client, state for the
/// login attempt.
pub(crate) struct PasskeyChallenge {
    pub(crate) options_json: String,
    pub(crate) state: PasskeyAuthentication,
}

/// An assertion checked for form, before it may cost a try.
pub(crate) fn parse_assertion(raw: &str) -> Result<PublicKeyCredential> {
    parse_json("passkey_assertion_json", raw)
}

impl Identity {
    /// Whether `user`, whose first factor was right, must prove a second.
    pub(crate) async fn wants_second_factor(&self, user: &User) -> Result<bool> {
        if user.totp_enabled {
            return Ok(true);
        }
        Ok(self
            .deps
            .passkeys
            .list_for_user(user.id, USER_PASSKEYS)
            .await?
            .iter()
            .any(|p| p.second_factor))
    }

    /// Request options for all of `user`'s passkeys, or `None` when they
    /// have none (PASSKEY is then not offered).
    pub(crate) async fn passkey_challenge(&self, user: UserId) -> Result<Option<PasskeyChallenge>> {
        let passkeys = self.loadable_passkeys(user).await?;
        if passkeys.is_empty() {
            return Ok(None);
        }
        let webauthn = self.config.passkeys.webauthn()?;
        let (options, state) = webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(latch_domain::Error::internal)?;
        Ok(Some(PasskeyChallenge {
            options_json: to_string(&options_json(&options)?)?,
            state,
        }))
    }

    /// Accepts `assertion` for `user` against the challenge's `state`:
    /// `PASSKEY_INVALID` (does not verify, not one of the user's
    /// passkeys) or `PASSKEY_CLONE_SUSPECTED` otherwise.
    pub(crate) async fn check_passkey_factor(
        &self,
        user: UserId,
        state: &PasskeyAuthentication,
        assertion: &PublicKeyCredential,
    ) -> Result<()> {
        let stored = match self
            .deps
            .passkeys
            .find_by_credential_id(assertion.get_credential_id())
            .await?
        {
            Some(stored) if stored.user_id == user => stored,
            _ => return Err(passkey_invalid(None)),
        };
        let webauthn = self.config.passkeys.webauthn()?;
        self.accept_assertion(&stored, |_| {
            webauthn.finish_passkey_authentication(assertion, state)
        })
        .await
    }
}
