//! The second step of a login for a user with TOTP on, or with a passkey
//! marked as a second factor.
//!
//! Login, once the password is right, answers a [`SecondFactorChallenge`]
//! instead of tokens: a `login_token` of 256 random bits, stored only as
//! its SHA-256 under `login_attempt:{hash}` (sealed, see `flow_record`),
//! good for five minutes, five wrong codes and one success. No session
//! exists yet. CompleteSecondFactor takes the token with a TOTP code, a
//! recovery code or a passkey assertion (against the WebAuthn ceremony
//! the challenge started, kept in the same record; see
//! `passkey::second_factor`) and signs in through the same session and
//! token path as a password login (`sign_in`), recorded as
//! `password+totp`, `password+recovery_code` or `password+passkey`.
//!
//! Each use takes the record (read-and-delete), checks it and puts it back
//! with one more try, or spent, with the time it had left: two replicas
//! cannot both pass one try. The record outlives its five minutes by
//! [`EXPIRED_KEPT`] so that a late token is told `TOKEN_EXPIRED`, a spent
//! one `TOKEN_USED` and an over-tried one `TOO_MANY_ATTEMPTS`, each apart
//! from an unknown one (`TOKEN_INVALID`).

use chrono::{DateTime, Duration, Utc};
use latch_domain::{
    Error, Reason, Result, UserId, client_fields,
    model::{ClientInfo, TokenPair, User, UserStatus},
    secret::{self, Secret},
};
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{PasskeyAuthentication, PublicKeyCredential};

use crate::{
    Identity,
    passkey::second_factor::{self as passkey_factor, PasskeyChallenge},
    recovery_codes::hash_typed,
    totp::{code_invalid, six_digits, too_many_attempts},
};

/// How long a login token is accepted.
pub(crate) const LOGIN_TOKEN_TTL: Duration = Duration::minutes(5);
/// How long a record is kept past its end, to say why a token is refused.
const EXPIRED_KEPT: Duration = Duration::minutes(10);
/// Wrong codes a login token survives; the next use is refused.
pub(crate) const LOGIN_TOKEN_TRIES: u8 = 5;
/// Random bytes of a login token (256 bits).
const LOGIN_TOKEN_BYTES: usize = 32;
/// Longer than any token Latch hands out, so not worth a lookup.
const LOGIN_TOKEN_MAX_LEN: usize = 128;

pub(crate) const METHOD_TOTP: &str = "password+totp";
pub(crate) const METHOD_RECOVERY_CODE: &str = "password+recovery_code";
pub(crate) const METHOD_PASSKEY: &str = "password+passkey";

/// A way to prove the second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactorMethod {
    Totp,
    RecoveryCode,
    Passkey,
}

/// Login's answer for a user with a second factor: the password was right.
#[derive(Debug, Clone)]
pub struct SecondFactorChallenge {
    /// Single use; pass it to CompleteSecondFactor.
    pub login_token: Secret<String>,
    pub methods: Vec<SecondFactorMethod>,
    /// WebAuthn request options JSON when `methods` offers a passkey.
    pub passkey_request_options_json: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// What proves the second factor.
#[derive(Clone)]
pub enum SecondFactorProof {
    TotpCode(String),
    RecoveryCode(Secret<String>),
    /// The browser's `PublicKeyCredential` (assertion) JSON.
    PasskeyAssertion(String),
}

/// Names the kind of proof only: a code never reaches a log.
impl std::fmt::Debug for SecondFactorProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TotpCode(_) => "TotpCode(***)",
            Self::RecoveryCode(_) => "RecoveryCode(***)",
            Self::PasskeyAssertion(_) => "PasskeyAssertion(..)",
        })
    }
}

/// A CompleteSecondFactor request, as the caller sent it.
#[derive(Debug, Clone)]
pub struct SecondFactor {
    pub login_token: Secret<String>,
    pub proof: SecondFactorProof,
    pub client: ClientInfo,
}

/// What `login_attempt:{hash}` holds.
#[derive(Serialize, Deserialize)]
struct LoginAttempt {
    user: UserId,
    expires_at: DateTime<Utc>,
    wrong_tries: u8,
    spent: bool,
    /// What proved the first factor when not a password (`oauth:corp`);
    /// absent in records written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_factor: Option<String>,
    /// The WebAuthn ceremony of the passkeys the challenge offered; absent
    /// when it offered none (and in records written before passkeys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    passkey: Option<PasskeyAuthentication>,
}

impl LoginAttempt {
    fn keep_until(&self) -> DateTime<Utc> {
        self.expires_at + EXPIRED_KEPT
    }

    /// The login-history method of `proof` after this attempt's first
    /// factor: `password+totp`, `oauth:corp+totp`, …
    fn method(&self, proof: &Proof) -> String {
        match &self.first_factor {
            None => proof.method().to_owned(),
            Some(first) => format!("{first}+{}", proof.factor()),
        }
    }
}

fn attempt_key(token: &str) -> String {
    format!("login_attempt:{}", hex::encode(secret::sha256(token)))
}

/// A proof checked for form, before it may cost a try.
enum Proof {
    Totp(String),
    RecoveryCode([u8; 32]),
    Passkey(Box<PublicKeyCredential>),
}

impl Proof {
    fn parse(proof: &SecondFactorProof) -> Result<Self> {
        match proof {
            SecondFactorProof::TotpCode(typed) => Ok(Proof::Totp(six_digits("totp_code", typed)?)),
            SecondFactorProof::RecoveryCode(typed) => Ok(Proof::RecoveryCode(hash_typed(
                "recovery_code",
                typed.expose(),
            )?)),
            SecondFactorProof::PasskeyAssertion(json) => Ok(Proof::Passkey(Box::new(
                passkey_factor::parse_assertion(json)?,
            ))),
        }
    }

    fn method(&self) -> &'static str {
        match self {
            Proof::Totp(_) => METHOD_TOTP,
            Proof::RecoveryCode(_) => METHOD_RECOVERY_CODE,
            Proof::Passkey(_) => METHOD_PASSKEY,
        }
    }

    /// The second factor alone, as the history names it after `+`.
    fn factor(&self) -> &'static str {
        match self {
            Proof::Totp(_) => "totp",
            Proof::RecoveryCode(_) => "recovery_code",
            Proof::Passkey(_) => passkey_factor::FACTOR,
        }
    }
}

impl Identity {
    /// The challenge for `user`, whose first factor (`first_factor`, the
    /// history's method: `password`, `oauth:corp`) was right: a new login
    /// token and the methods the user has (TOTP when on, recovery codes
    /// only while some are left, a passkey when the user has any, with its
    /// request options). The first step is recorded in the login history
    /// as `SECOND_FACTOR_REQUIRED`.
    pub(crate) async fn second_factor_challenge(
        &self,
        user: &User,
        client: &ClientInfo,
        first_factor: &str,
    ) -> Result<SecondFactorChallenge> {
        let token = secret::random_token(LOGIN_TOKEN_BYTES)?;
        let now = self.deps.clock.now();
        let passkey = self.passkey_challenge(user.id).await?;
        let (passkey_options, passkey_state) = match passkey {
            Some(PasskeyChallenge {
                options_json,
                state,
            }) => (Some(options_json), Some(state)),
            None => (None, None),
        };
        let attempt = LoginAttempt {
            user: user.id,
            expires_at: now + LOGIN_TOKEN_TTL,
            wrong_tries: 0,
            spent: false,
            first_factor: (first_factor != crate::login::METHOD_PASSWORD)
                .then(|| first_factor.to_owned()),
            passkey: passkey_state,
        };
        self.put_record(&attempt_key(&token), &attempt, attempt.keep_until())
            .await?;
        let mut methods = Vec::new();
        if user.totp_enabled {
            methods.push(SecondFactorMethod::Totp);
            if self
                .deps
                .second_factors
                .recovery_codes_left(user.id)
                .await?
                > 0
            {
                methods.push(SecondFactorMethod::RecoveryCode);
            }
        }
        if passkey_options.is_some() {
            methods.push(SecondFactorMethod::Passkey);
        }
        let pending = Error::new(Reason::SecondFactorRequired, "second factor required");
        let _ = self.refuse(user.id, client, first_factor, pending).await;
        Ok(SecondFactorChallenge {
            login_token: Secret::new(token),
            methods,
            passkey_request_options_json: passkey_options,
            expires_at: attempt.expires_at,
        })
    }

    /// Signs in with a login token from a challenge and a second factor.
    ///
    /// Errors: `LOGIN_THROTTLED` while the account waits after too many
    /// failed passwords or codes (`lockout`; each wrong code counts);
    /// `INVALID_ARGUMENT` naming
    /// `totp_code`, `recovery_code` or `passkey_assertion_json` when the
    /// proof is malformed, or a passkey assertion when the challenge
    /// offered no passkey (no try spent); `TOKEN_INVALID` (unknown or
    /// malformed token), `TOKEN_EXPIRED` (older than five minutes),
    /// `TOKEN_USED` (it signed in already), `TOO_MANY_ATTEMPTS` (five wrong
    /// codes or assertions); `CODE_INVALID`
    /// (wrong code, or a spent recovery code), `CODE_USED` (a TOTP code
    /// already accepted), `PASSKEY_INVALID` (an assertion that does not
    /// verify, or not made with one of the user's passkeys) or
    /// `PASSKEY_CLONE_SUSPECTED`, each spending one try; `ACCOUNT_INACTIVE`
    /// when the user was suspended meanwhile. Every refusal of a known token
    /// lands in the user's login history, as does the sign-in.
    pub async fn complete_second_factor(&self, request: SecondFactor) -> Result<TokenPair> {
        // Malformed input is refused before it touches any counter.
        let proof = Proof::parse(&request.proof)?;
        let client = client_fields::normalize(&request.client);
        let token = request.login_token.expose().trim();
        if token.is_empty() || token.len() > LOGIN_TOKEN_MAX_LEN {
            return Err(token_invalid());
        }
        let key = attempt_key(token);
        let Some(mut attempt) = self.take_record::<LoginAttempt>(&key).await? else {
            return Err(token_invalid());
        };
        let method = attempt.method(&proof);
        let now = self.deps.clock.now();
        let refusal = if attempt.spent {
            Some(Error::new(
                Reason::TokenUsed,
                "this login token signed in already",
            ))
        } else if now >= attempt.expires_at {
            Some(Error::new(
                Reason::TokenExpired,
                "the login token expired; sign in again",
            ))
        } else if attempt.wrong_tries >= LOGIN_TOKEN_TRIES {
            Some(too_many_attempts())
        } else {
            None
        };
        if let Some(err) = refusal {
            self.put_record(&key, &attempt, attempt.keep_until())
                .await?;
            return Err(self.refuse(attempt.user, &client, &method, err).await);
        }
        if matches!(proof, Proof::Passkey(_)) && attempt.passkey.is_none() {
            self.put_record(&key, &attempt, attempt.keep_until())
                .await?;
            return Err(Error::invalid_field(
                "passkey_assertion_json",
                "passkeys are not offered for this sign-in",
            ));
        }

        let user = match self.deps.users.get(attempt.user).await {
            Ok(Some(user)) => user,
            // Deleted since the password step: the token names nobody.
            Ok(None) => return Err(token_invalid()),
            Err(err) => {
                self.put_record(&key, &attempt, attempt.keep_until())
                    .await?;
                return Err(err);
            }
        };
        // Counted before the code is checked, on the account's one counter
        // (passwords and codes alike): guessing is bounded per account,
        // whatever the number of login tokens.
        let failures = match self.begin_attempt(&user.email, Some(&user)).await {
            Ok(failures) => failures,
            Err(err) => {
                self.put_record(&key, &attempt, attempt.keep_until())
                    .await?;
                if err.is(Reason::LoginThrottled) {
                    return Err(self.refuse(user.id, &client, &method, err).await);
                }
                return Err(err);
            }
        };
        let checked = self
            .check_second_factor(user.id, &proof, attempt.passkey.as_ref())
            .await;
        if let Err(err) = checked {
            // A wrong code or passkey costs a try, counts as a failure and
            // lands in the history; a failed dependency costs nothing, so
            // the person can simply retry.
            let wrong = [
                Reason::CodeInvalid,
                Reason::CodeUsed,
                Reason::PasskeyInvalid,
                Reason::PasskeyCloneSuspected,
            ]
            .iter()
            .any(|r| err.is(*r));
            if wrong {
                attempt.wrong_tries += 1;
            }
            self.put_record(&key, &attempt, attempt.keep_until())
                .await?;
            if wrong {
                self.attempt_failed(&user, failures);
                return Err(self.refuse(user.id, &client, &method, err).await);
            }
            self.take_back_attempt(&user.email).await;
            return Err(err);
        }
        attempt.spent = true;
        if let Err(err) = self.put_record(&key, &attempt, attempt.keep_until()).await {
            self.take_back_attempt(&user.email).await;
            return Err(err);
        }

        // The user may have been suspended in the minutes since the password.
        if user.status != UserStatus::Active {
            self.take_back_attempt(&user.email).await;
            let err = Error::new(Reason::AccountInactive, "the account is not active");
            return Err(self.refuse(user.id, &client, &method, err).await);
        }
        match self.sign_in(&user, &client, &method).await {
            Ok(tokens) => Ok(tokens),
            Err(err) => {
                self.take_back_attempt(&user.email).await;
                Err(err)
            }
        }
    }

    /// Accepts the proof for `user` (spending the TOTP step, the recovery
    /// code or the passkey's counter) or says why not; `passkey` is the
    /// challenge's WebAuthn ceremony.
    async fn check_second_factor(
        &self,
        user: UserId,
        proof: &Proof,
        passkey: Option<&PasskeyAuthentication>,
    ) -> Result<()> {
        match proof {
            Proof::Totp(typed) => {
                // Turned off since the challenge: no code can be right.
                let Some(totp) = self.deps.second_factors.totp(user).await? else {
                    return Err(code_invalid());
                };
                self.accept_totp_code(user, &totp, typed).await
            }
            Proof::RecoveryCode(hash) => {
                let now = self.deps.clock.now();
                if self
                    .deps
                    .second_factors
                    .use_recovery_code(user, hash, now)
                    .await?
                {
                    Ok(())
                } else {
                    Err(code_invalid())
                }
            }
            Proof::Passkey(assertion) => match passkey {
                Some(state) => self.check_passkey_factor(user, state, assertion).await,
                None => Err(Error::invalid_field(
                    "passkey_assertion_json",
                    "passkeys are not offered for this sign-in",
                )),
            },
        }
    }
}

fn token_invalid() -> Error {
    Error::new(Reason::TokenInvalid, "unknown login token; sign in again")
}

#[cfg(test)]
mod tests;
