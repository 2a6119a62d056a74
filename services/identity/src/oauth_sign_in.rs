//! CompleteOAuth: the provider's code becomes a Latch sign-in.
//!
//! The state is taken (`oauth`), the code exchanged and the ID token
//! checked by the provider port; then, by (provider, subject):
//! - a known identity signs its user in;
//! - else a user with the provider's email, when the provider says the
//!   email is verified and the account verified it too, gets the identity
//!   linked and is signed in; an unverified email on either side never
//!   links (`EMAIL_TAKEN`): whoever controls an unverified address must not
//!   reach the account, nor keep one the address's owner signs in to;
//! - else a user is created through the same sign-up saga as a password
//!   sign-up (profile, default role, `user:created`), with no password,
//!   the email verified as the provider said, names from the claims (or,
//!   where they have none, from the provider's posted `user` JSON).
//!
//! From there it is password login's path: a suspended user is refused
//! (`ACCOUNT_INACTIVE`, in the history), a user with TOTP (or a passkey
//! marked as a second factor) gets a second-factor challenge, everyone else `sign_in` with the history
//! method `oauth:<provider>`. Provider tokens are not kept.

use std::time::Instant;

use latch_domain::{
    Error, Reason, Result, UserId, client_fields,
    model::{ClientInfo, ExternalIdentity, NewUser, TokenPair, User, UserStatus},
    ports::{CodeExchange, VerifiedClaims},
    secret::Secret,
    validate,
};
use uuid::Uuid;

use crate::{
    Identity, SecondFactorChallenge,
    oauth::{first_login::FirstLoginNames, method},
};

/// A return from the provider, as the caller sent it.
#[derive(Debug, Clone)]
pub struct OAuthReturn {
    pub provider: String,
    pub code: Secret<String>,
    pub state: Secret<String>,
    pub client: ClientInfo,
}

/// How the identity met its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthMatch {
    /// Linked before.
    Found,
    /// Linked now to the user with the same verified email.
    Linked,
    /// A new user was created for it.
    Created,
}

/// Signed in, or a second factor awaited.
#[derive(Debug, Clone)]
pub enum OAuthOutcome {
    SignedIn(TokenPair),
    SecondFactor(SecondFactorChallenge),
}

#[derive(Debug, Clone)]
pub struct OAuthSignedIn {
    pub user: User,
    pub matched: OAuthMatch,
    pub outcome: OAuthOutcome,
}

impl Identity {
    /// Completes a sign-in at a provider; see the module.
    ///
    /// Errors: those of taking the state (`INVALID_ARGUMENT`,
    /// `TOKEN_INVALID`, `TOKEN_EXPIRED`); the provider's (`UNAVAILABLE`,
    /// `INVALID_CREDENTIALS` for a refused code or a token that failed its
    /// checks); `INVALID_ARGUMENT` when a new identity comes without a
    /// usable email; `EMAIL_TAKEN`; `ACCOUNT_INACTIVE`; `EMAIL_NOT_VERIFIED`
    /// when the deployment requires it and the account's email is not.
    pub async fn complete_oauth(&self, ret: OAuthReturn) -> Result<OAuthSignedIn> {
        self.complete_oauth_posted(ret, "").await
    }

    /// As [`Self::complete_oauth`], with what the provider posted about the
    /// user beside the code (Apple's `user` JSON, first sign-in only;
    /// empty: nothing). Only its name is used, for a user this creates
    /// (`oauth::first_login`); malformed: `INVALID_ARGUMENT` naming
    /// `provider_user_json`, before the state is spent.
    pub async fn complete_oauth_posted(
        &self,
        ret: OAuthReturn,
        provider_user_json: &str,
    ) -> Result<OAuthSignedIn> {
        let started = Instant::now();
        let client = client_fields::normalize(&ret.client);
        let posted = FirstLoginNames::parse(provider_user_json)?;
        let pending = self
            .take_authorization(&ret.provider, ret.code.expose(), ret.state.expose())
            .await?;
        let exchange_started = Instant::now();
        let claims = self
            .deps
            .oauth
            .exchange(
                &ret.provider,
                CodeExchange {
                    redirect_uri: pending.redirect_uri,
                    code: ret.code,
                    pkce_verifier: Secret::new(pending.pkce_verifier),
                    nonce: Secret::new(pending.nonce),
                },
            )
            .await?;
        let provider_time = exchange_started.elapsed();
        let claims = posted.fill(claims);
        let (user, matched) = self.user_of(&ret.provider, &claims).await?;
        let method = method(&ret.provider);
        let pending = Error::new(
            Reason::AccountInactive,
            "the account's sign-up has not finished",
        );
        if let Some(err) = self.status_refusal(&user, pending) {
            return Err(self.refuse(user.id, &client, &method, err).await);
        }
        let outcome = if self.wants_second_factor(&user).await? {
            OAuthOutcome::SecondFactor(
                self.second_factor_challenge(&user, &client, &method)
                    .await?,
            )
        } else {
            OAuthOutcome::SignedIn(self.sign_in(&user, &client, &method).await?)
        };
        // What Latch itself spends, apart from the provider's round trip
        // (code exchange, keys, user info): the figure that is ours to keep
        // small, whatever the provider's latency.
        let total = started.elapsed();
        tracing::debug!(
            provider = %ret.provider,
            provider_us = provider_time.as_micros() as u64,
            latch_us = total.saturating_sub(provider_time).as_micros() as u64,
            "oauth sign-in completed"
        );
        Ok(OAuthSignedIn {
            user,
            matched,
            outcome,
        })
    }

    /// The user the identity belongs to, linking or creating as needed.
    async fn user_of(&self, provider: &str, claims: &VerifiedClaims) -> Result<(User, OAuthMatch)> {
        let now = self.deps.clock.now();
        if let Some(known) = self.deps.identities.find(provider, &claims.subject).await? {
            if let Err(error) = self.deps.identities.touch(known.id, now).await {
                tracing::warn!(user = %known.user_id, %error, "identity use not recorded");
            }
            // A user being deleted (a tombstone) is no account.
            let user =
                self.deps.users.get(known.user_id).await?.ok_or_else(|| {
                    Error::new(Reason::AccountInactive, "the account is not active")
                })?;
            return Ok((user, OAuthMatch::Found));
        }
        let Some(raw) = claims.email.as_deref() else {
            return Err(Error::invalid_field(
                "code",
                "the provider gave no email address for a new identity",
            ));
        };
        let email = validate::email("email", raw).map_err(|_| {
            Error::invalid_field("code", "the provider's email address is not usable")
        })?;
        if let Some(existing) = self.deps.users.find_by_email(&email).await? {
            // Both sides must have proven the address: a local account
            // whose email was never verified may belong to someone who
            // typed another person's address, and linking would hand the
            // real owner's provider sign-in to them (or theirs to the owner).
            if !claims.email_verified
                || !existing.email_verified
                || existing.status == UserStatus::Pending
            {
                return Err(Error::new(
                    Reason::EmailTaken,
                    "an account uses this email address; sign in and link the provider",
                ));
            }
            self.link(&existing, provider, claims, &email).await?;
            return Ok((existing, OAuthMatch::Linked));
        }
        let user = self.create_oauth_user(provider, claims, email).await?;
        Ok((user, OAuthMatch::Created))
    }

    /// Links the identity of `claims` to `user`. `ALREADY_EXISTS` when it
    /// is linked already (a racing return).
    pub(crate) async fn link(
        &self,
        user: &User,
        provider: &str,
        claims: &VerifiedClaims,
        email: &str,
    ) -> Result<ExternalIdentity> {
        let now = self.deps.clock.now();
        let identity = ExternalIdentity {
            id: Uuid::now_v7(),
            user_id: user.id,
            provider: provider.to_owned(),
            subject: claims.subject.clone(),
            email: (!email.is_empty()).then(|| email.to_owned()),
            created_at: now,
            last_used_at: Some(now),
        };
        self.deps.identities.link(&identity).await?;
        tracing::info!(user = %user.id, provider, "external identity linked");
        Ok(identity)
    }

    /// A new user for the identity: the pending row, its identity (which
    /// the saga's undo removes with the row), then the sign-up saga.
    async fn create_oauth_user(
        &self,
        provider: &str,
        claims: &VerifiedClaims,
        email: String,
    ) -> Result<User> {
        let (first_name, last_name) = names(claims, &email);
        let new_user = NewUser {
            id: UserId::new(),
            email,
            phone: None,
            password_hash: None,
            status: UserStatus::Pending,
            created_at: self.deps.clock.now(),
        };
        let user = self.deps.users.create(&new_user).await.map_err(|err| {
            if err.is(Reason::AlreadyExists) {
                Error::new(Reason::EmailTaken, "the email address is already in use")
            } else {
                err
            }
        })?;
        let prepared = async {
            self.link(&user, provider, claims, &user.email).await?;
            if claims.email_verified {
                let now = self.deps.clock.now();
                // No `user:updated`: the account is not announced yet;
                // its `user:created` comes with the activation.
                self.deps
                    .users
                    .verify_email(user.id, &user.email, now, &[])
                    .await?;
            }
            Ok::<_, Error>(())
        }
        .await;
        if let Err(err) = prepared {
            if let Err(error) = self.deps.users.delete(user.id).await {
                tracing::error!(user = %user.id, %error, "oauth sign-up: pending user not deleted");
            }
            return Err(err);
        }
        let user = User {
            email_verified: claims.email_verified,
            ..user
        };
        let user = self.complete(user, &first_name, &last_name).await?;
        Ok(user)
    }
}

/// First and last name for the profile, which requires both: the
/// provider's given and family names, else its `name` split at the first
/// space, else the email's local part and "-".
fn names(claims: &VerifiedClaims, email: &str) -> (String, String) {
    let valid = |field, value: Option<&str>| value.and_then(|v| validate::name(field, v).ok());
    let (split_first, split_last) = match claims.name.as_deref().map(str::trim) {
        Some(name) => match name.split_once(' ') {
            Some((first, last)) => (Some(first), Some(last)),
            None => (Some(name), None),
        },
        None => (None, None),
    };
    let local = email.split('@').next().unwrap_or_default();
    let first = valid("first_name", claims.given_name.as_deref())
        .or_else(|| valid("first_name", split_first))
        .or_else(|| valid("first_name", Some(local)))
        .unwrap_or_else(|| "-".to_owned());
    let last = valid("last_name", claims.family_name.as_deref())
        .or_else(|| valid("last_name", split_last))
        .unwrap_or_else(|| "-".to_owned());
    (first, last)
}
