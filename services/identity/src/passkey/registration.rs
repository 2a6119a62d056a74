//! Registering a passkey for a signed-in user, in two calls.
//!
//! Start answers WebAuthn creation options for `navigator.credentials
//! .create()`: the user handle is the user's UUID, the user's passkeys are
//! excluded (an authenticator that holds one says so instead of making a
//! second), user verification is required and a resident (discoverable)
//! key preferred, so that the passkey can also sign in without an email.
//! The ceremony waits, sealed, under `passkey_registration:{userId}` with
//! the digest of the `registration_id` it returned: one per user, a new
//! Start replaces it. Finish takes it (once), verifies the attestation
//! (challenge, origin, RP id, user presence and verification, algorithm)
//! and stores the credential with the columns the store queries.

use chrono::{DateTime, Utc};
use latch_domain::{
    Error, Reason, Result, UserId, model::PasskeyCredential, secret::Secret, validate,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use webauthn_rs::prelude::{
    AttestationMetadata, Credential, Passkey, PasskeyRegistration, RegisterPublicKeyCredential,
};

use super::{
    CEREMONY_TTL, EXPIRED_KEPT, USER_PASSKEYS, ceremony_digest, ceremony_expired, ceremony_unknown,
    new_ceremony_id, options_json, parse_json, passkey_invalid, passkey_state, stored_passkey,
    to_string,
};
use crate::Identity;

/// StartPasskeyRegistration's answer.
#[derive(Debug, Clone)]
pub struct PasskeyRegistrationStart {
    /// Names the ceremony; FinishPasskeyRegistration takes it back.
    pub registration_id: Secret<String>,
    /// `{"publicKey": PublicKeyCredentialCreationOptions}` as JSON.
    pub creation_options_json: String,
}

/// A FinishPasskeyRegistration request.
#[derive(Debug, Clone)]
pub struct PasskeyRegistered {
    pub registration_id: Secret<String>,
    /// The browser's `PublicKeyCredential` (attestation) JSON.
    pub attestation_json: String,
    /// Empty: a default name with the date.
    pub name: String,
    /// Also ask this passkey after the password at Login.
    pub second_factor: bool,
}

/// What `passkey_registration:{userId}` holds.
#[derive(Serialize, Deserialize)]
struct PendingRegistration {
    /// SHA-256 (hex) of the registration id handed out.
    id_digest: String,
    ceremony: PasskeyRegistration,
    expires_at: DateTime<Utc>,
}

fn registration_key(user: UserId) -> String {
    format!("passkey_registration:{user}")
}

impl Identity {
    /// Starts registering a passkey for `user`.
    ///
    /// Errors: `NOT_FOUND` when the user is gone; `PASSKEY_LIMIT` when
    /// the user has as many passkeys as a ceremony lists.
    pub async fn start_passkey_registration(
        &self,
        user: UserId,
    ) -> Result<PasskeyRegistrationStart> {
        let Some(account) = self.deps.users.get(user).await? else {
            return Err(Error::not_found("user"));
        };
        let exclude: Vec<_> = self
            .deps
            .passkeys
            .list_for_user(user, USER_PASSKEYS)
            .await?
            .into_iter()
            .map(|p| p.credential_id)
            .collect();
        // Every passkey must fit one ceremony's lists (and ListPasskeys).
        if exclude.len() as u64 >= USER_PASSKEYS {
            return Err(Error::new(
                Reason::PasskeyLimit,
                format!("at most {USER_PASSKEYS} passkeys; remove one first"),
            ));
        }
        let webauthn = self.config.passkeys.webauthn()?;
        let (options, ceremony) = webauthn
            .start_passkey_registration(
                user.0,
                &account.email,
                &account.email,
                (!exclude.is_empty()).then_some(exclude),
            )
            .map_err(Error::internal)?;
        let mut options = options_json(&options)?;
        // webauthn-rs asks for no resident key unless one is required; a
        // discoverable one is what lets the passkey sign in without an
        // email, and an authenticator that cannot make one still may
        // register.
        if let Some(selection) = options.pointer_mut("/publicKey/authenticatorSelection") {
            selection["residentKey"] = "preferred".into();
        }
        let (id, id_digest) = new_ceremony_id()?;
        let pending = PendingRegistration {
            id_digest,
            ceremony,
            expires_at: self.deps.clock.now() + CEREMONY_TTL,
        };
        self.put_record(
            &registration_key(user),
            &pending,
            pending.expires_at + EXPIRED_KEPT,
        )
        .await?;
        Ok(PasskeyRegistrationStart {
            registration_id: Secret::new(id),
            creation_options_json: to_string(&options)?,
        })
    }

    /// Verifies the attestation of `user`'s ceremony and stores the passkey.
    ///
    /// Errors: `INVALID_ARGUMENT` naming `attestation_json` (not that JSON)
    /// or `name` (over 100 characters, control characters), before the
    /// ceremony is spent; `TOKEN_INVALID` (no ceremony, another
    /// registration_id, used), `TOKEN_EXPIRED` (older than five minutes);
    /// `PASSKEY_INVALID` (the attestation does not verify: origin, RP id,
    /// challenge, user verification); `ALREADY_EXISTS` (the credential is
    /// registered already, to this user or another).
    pub async fn finish_passkey_registration(
        &self,
        user: UserId,
        request: PasskeyRegistered,
    ) -> Result<PasskeyCredential> {
        let response: RegisterPublicKeyCredential =
            parse_json("attestation_json", &request.attestation_json)?;
        let name = validate::optional_text("name", &request.name, validate::NAME_MAX)?;
        let digest = ceremony_digest(request.registration_id.expose());
        let key = registration_key(user);
        let pending = self.take_registration(&key, digest.as_deref()).await?;

        let webauthn = self.config.passkeys.webauthn()?;
        let passkey = match webauthn.finish_passkey_registration(&response, &pending.ceremony) {
            Ok(passkey) => passkey,
            Err(why) => {
                // An authenticator that ignored the exclusion list (or a
                // credential registered elsewhere) is a duplicate, not a
                // forgery.
                let known = self
                    .deps
                    .passkeys
                    .find_by_credential_id(&response.raw_id)
                    .await?;
                return Err(match known {
                    Some(_) => already_registered(),
                    None => passkey_invalid(Some(&why)),
                });
            }
        };
        let now = self.deps.clock.now();
        let credential =
            new_credential(user, &passkey, &response, name, request.second_factor, now)?;
        let updated =
            crate::user_events::user_updated(user, &[crate::user_events::field::PASSKEYS], now)?;
        self.deps.passkeys.add(&credential, &[updated]).await?;
        tracing::info!(%user, passkey = %credential.id, "passkey registered");
        Ok(credential)
    }

    /// Takes the pending registration under `key` whose id has `digest`.
    /// Another id leaves it in place: a stale page must not spend the
    /// ceremony a newer one started.
    async fn take_registration(
        &self,
        key: &str,
        digest: Option<&str>,
    ) -> Result<PendingRegistration> {
        let Some(digest) = digest else {
            return Err(ceremony_unknown());
        };
        let Some(pending) = self.take_record::<PendingRegistration>(key).await? else {
            return Err(ceremony_unknown());
        };
        if pending.id_digest != digest {
            self.put_record(key, &pending, pending.expires_at + EXPIRED_KEPT)
                .await?;
            return Err(ceremony_unknown());
        }
        if self.deps.clock.now() >= pending.expires_at {
            return Err(ceremony_expired());
        }
        Ok(pending)
    }
}

/// The row of a new passkey: the counter and backup flags the attestation
/// carried, the transports the browser reported, the AAGUID when the
/// attestation statement vouches for one.
fn new_credential(
    user: UserId,
    passkey: &Passkey,
    response: &RegisterPublicKeyCredential,
    name: Option<String>,
    second_factor: bool,
    now: DateTime<Utc>,
) -> Result<PasskeyCredential> {
    let state = passkey_state(passkey)?;
    let credential: Credential = passkey.clone().into();
    let aaguid = match credential.attestation.metadata {
        AttestationMetadata::Packed { aaguid } | AttestationMetadata::Tpm { aaguid, .. } => {
            Some(aaguid).filter(|a| !a.is_nil())
        }
        _ => None,
    };
    let transports = response
        .response
        .transports
        .iter()
        .flatten()
        .filter_map(|t| serde_json::to_value(t).ok())
        .filter_map(|t| t.as_str().map(str::to_owned))
        .filter(|t| t != "unknown")
        .collect();
    let stored = PasskeyCredential {
        id: Uuid::now_v7(),
        user_id: user,
        credential_id: credential.cred_id.clone(),
        name: name.unwrap_or_else(|| format!("Passkey {}", now.format("%Y-%m-%d"))),
        state,
        sign_count: credential.counter,
        backup_eligible: credential.backup_eligible,
        backup_state: credential.backup_state,
        transports,
        aaguid,
        second_factor,
        clone_suspected_at: None,
        created_at: now,
        last_used_at: None,
    };
    // What is stored must load again; better refused now than at sign-in.
    stored_passkey(&stored)?;
    Ok(stored)
}

fn already_registered() -> Error {
    Error::new(Reason::AlreadyExists, "this passkey is registered already")
}
