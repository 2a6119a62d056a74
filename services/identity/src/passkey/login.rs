//! Signing in with a passkey, in two public calls.
//!
//! StartPasskeyLogin with an email answers request options listing that
//! user's passkeys (`allowCredentials`); an email without passkeys to
//! offer (no account, none registered) gets look-alike options (`decoy`).
//! Without an email it answers options with no `allowCredentials`: the
//! browser offers the discoverable credentials it holds for the RP id,
//! and the assertion's user handle (the user's UUID) names the account.
//! The ceremony waits, sealed, under `passkey_auth:{sha256(loginId)}`.
//!
//! FinishPasskeyLogin takes it (once), finds the credential by its id,
//! checks that it belongs to the user the ceremony (or the user handle)
//! names, accepts the assertion (`assertion`), and only then tells the
//! account's status: a suspended or deactivated user is refused
//! `ACCOUNT_INACTIVE`, as after a right password. A signed-in user goes
//! through `sign_in`, the password login's session and token path, with
//! history method `passkey`; a passkey is a second factor in itself, so
//! no TOTP is asked. Refusals of a known user land in its login history.

use chrono::{DateTime, Utc};
use latch_domain::{
    Error, Result, UserId, client_fields,
    model::{ClientInfo, PasskeyCredential, TokenPair},
    secret::Secret,
    validate,
};
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, PasskeyAuthentication, PublicKeyCredential, Webauthn,
};

use super::{
    CEREMONY_TTL, EXPIRED_KEPT, METHOD_PASSKEY, USER_PASSKEYS, ceremony_digest, ceremony_expired,
    ceremony_unknown, new_ceremony_id, options_json, parse_json, passkey_invalid, stored_passkey,
    to_string,
};
use crate::Identity;

/// StartPasskeyLogin's answer.
#[derive(Debug, Clone)]
pub struct PasskeyLoginStart {
    /// Names the ceremony; FinishPasskeyLogin takes it back.
    pub login_id: Secret<String>,
    /// `{"publicKey": PublicKeyCredentialRequestOptions}` as JSON.
    pub request_options_json: String,
}

/// A FinishPasskeyLogin request.
#[derive(Debug, Clone)]
pub struct PasskeyLogin {
    pub login_id: Secret<String>,
    /// The browser's `PublicKeyCredential` (assertion) JSON.
    pub assertion_json: String,
    pub client: ClientInfo,
}

/// Whom a login ceremony may sign in.
#[derive(Serialize, Deserialize)]
enum Ceremony {
    /// The user an email named, with their passkeys.
    User {
        user: UserId,
        state: PasskeyAuthentication,
    },
    /// Whoever the discoverable credential's user handle names.
    Discoverable { state: DiscoverableAuthentication },
    /// An email with no passkeys to offer: nothing can pass.
    Decoy,
}

/// What `passkey_auth:{digest}` holds.
#[derive(Serialize, Deserialize)]
struct PendingLogin {
    ceremony: Ceremony,
    expires_at: DateTime<Utc>,
}

fn login_key(digest: &str) -> String {
    format!("passkey_auth:{digest}")
}

impl Identity {
    /// Starts a passkey sign-in for `email`, or for any discoverable
    /// credential when it is absent or blank.
    ///
    /// Errors: `INVALID_ARGUMENT` naming `email` when it is malformed.
    /// Never `NOT_FOUND`: an unknown email gets options like a known one's.
    pub async fn start_passkey_login(&self, email: Option<&str>) -> Result<PasskeyLoginStart> {
        let webauthn = self.config.passkeys.webauthn()?;
        let email = email.filter(|e| !e.trim().is_empty());
        let (options, ceremony) = match email {
            None => {
                let (mut options, state) = webauthn
                    .start_discoverable_authentication()
                    .map_err(Error::internal)?;
                // webauthn-rs asks for conditional mediation (autofill);
                // the page chooses: a button click wants the modal dialog.
                options.mediation = None;
                (options_json(&options)?, Ceremony::Discoverable { state })
            }
            Some(email) => {
                let address = validate::email("email", email)?;
                self.options_for_email(&webauthn, &address).await?
            }
        };
        let (id, digest) = new_ceremony_id()?;
        let pending = PendingLogin {
            ceremony,
            expires_at: self.deps.clock.now() + CEREMONY_TTL,
        };
        self.put_record(
            &login_key(&digest),
            &pending,
            pending.expires_at + EXPIRED_KEPT,
        )
        .await?;
        Ok(PasskeyLoginStart {
            login_id: Secret::new(id),
            request_options_json: to_string(&options)?,
        })
    }

    /// The options for `address`: its user's passkeys, or a decoy.
    async fn options_for_email(
        &self,
        webauthn: &Webauthn,
        address: &str,
    ) -> Result<(serde_json::Value, Ceremony)> {
        if let Some(user) = self.deps.users.find_by_email(address).await? {
            let passkeys = self.loadable_passkeys(user.id).await?;
            if !passkeys.is_empty() {
                let (options, state) = webauthn
                    .start_passkey_authentication(&passkeys)
                    .map_err(Error::internal)?;
                let ceremony = Ceremony::User {
                    user: user.id,
                    state,
                };
                return Ok((options_json(&options)?, ceremony));
            }
        }
        let (options, _) = webauthn
            .start_passkey_authentication(&[])
            .map_err(Error::internal)?;
        let mut options = options_json(&options)?;
        options["publicKey"]["allowCredentials"] = self.decoy_credentials(address)?.into();
        Ok((options, Ceremony::Decoy))
    }

    /// The user's passkeys as webauthn-rs credentials; one whose state does
    /// not load is logged (by `stored_passkey`) and left out.
    pub(super) async fn loadable_passkeys(
        &self,
        user: UserId,
    ) -> Result<Vec<webauthn_rs::prelude::Passkey>> {
        Ok(self
            .deps
            .passkeys
            .list_for_user(user, USER_PASSKEYS)
            .await?
            .iter()
            .filter_map(|p| stored_passkey(p).ok())
            .collect())
    }

    /// Verifies the assertion of a login ceremony and signs its user in.
    ///
    /// Errors: `INVALID_ARGUMENT` naming `assertion_json` (not that JSON),
    /// before the ceremony is spent; `TOKEN_INVALID` (unknown or used
    /// login_id), `TOKEN_EXPIRED` (older than five minutes);
    /// `PASSKEY_INVALID` (the assertion does not verify, an unknown
    /// credential, another user's credential than the email named, a
    /// decoy's ceremony); `PASSKEY_CLONE_SUSPECTED`; after the assertion
    /// verified, `ACCOUNT_INACTIVE` (suspended, deactivated) or
    /// `EMAIL_NOT_VERIFIED` (when the deployment requires it).
    pub async fn finish_passkey_login(&self, request: PasskeyLogin) -> Result<TokenPair> {
        let assertion: PublicKeyCredential = parse_json("assertion_json", &request.assertion_json)?;
        let client = client_fields::normalize(&request.client);
        let Some(digest) = ceremony_digest(request.login_id.expose()) else {
            return Err(ceremony_unknown());
        };
        let Some(pending) = self
            .take_record::<PendingLogin>(&login_key(&digest))
            .await?
        else {
            return Err(ceremony_unknown());
        };
        let named = match &pending.ceremony {
            Ceremony::User { user, .. } => Some(*user),
            _ => None,
        };
        let refuse = async |user: Option<UserId>, err: Error| match user {
            Some(user) => self.refuse(user, &client, METHOD_PASSKEY, err).await,
            None => err,
        };
        if self.deps.clock.now() >= pending.expires_at {
            return Err(refuse(named, ceremony_expired()).await);
        }
        let stored = match self
            .assertion_credential(&pending.ceremony, &assertion)
            .await
        {
            Ok(stored) => stored,
            Err(err) => return Err(refuse(named, err).await),
        };
        let webauthn = self.config.passkeys.webauthn()?;
        let accept = async {
            match pending.ceremony {
                Ceremony::User { state, .. } => {
                    self.accept_assertion(&stored, |_| {
                        webauthn.finish_passkey_authentication(&assertion, &state)
                    })
                    .await
                }
                Ceremony::Discoverable { state } => {
                    self.accept_assertion(&stored, |passkey| {
                        webauthn.finish_discoverable_authentication_v2(&assertion, state, passkey)
                    })
                    .await
                }
                Ceremony::Decoy => Err(passkey_invalid(None)),
            }
        };
        // The account is read while the use is recorded (a write that
        // waits for its commit); it is looked at only once the assertion
        // was accepted, and a refusal wins over a failed read.
        let (accepted, user) = tokio::join!(accept, self.deps.users.get(stored.user_id));
        if let Err(err) = accepted {
            return Err(refuse(Some(stored.user_id), err).await);
        }
        let Some(user) = user? else {
            return Err(passkey_invalid(None));
        };
        if let Some(err) = self.status_refusal(&user, passkey_invalid(None)) {
            return Err(refuse(Some(user.id), err).await);
        }
        self.sign_in(&user, &client, METHOD_PASSKEY).await
    }

    /// The stored credential the assertion names, when it may answer this
    /// ceremony: the email's user's, or the user handle's.
    async fn assertion_credential(
        &self,
        ceremony: &Ceremony,
        assertion: &PublicKeyCredential,
    ) -> Result<PasskeyCredential> {
        let owner = match ceremony {
            Ceremony::Decoy => return Err(passkey_invalid(None)),
            Ceremony::User { user, .. } => *user,
            Ceremony::Discoverable { .. } => {
                // The user handle is the user's UUID (16 bytes).
                let handle = assertion.get_user_unique_id().unwrap_or_default();
                match uuid::Uuid::from_slice(handle) {
                    Ok(id) => UserId(id),
                    Err(_) => return Err(passkey_invalid(None)),
                }
            }
        };
        match self
            .deps
            .passkeys
            .find_by_credential_id(assertion.get_credential_id())
            .await?
        {
            Some(stored) if stored.user_id == owner => Ok(stored),
            _ => Err(passkey_invalid(None)),
        }
    }
}
