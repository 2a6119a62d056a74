//! Sign-up: a small saga across identity, profile and authorization.
//!
//! The user is written `pending`, then the profile is created and the
//! default role assigned (both idempotent), then the user is activated. If a
//! step fails, what was (or may have been) done is undone and the original
//! error returned; a login meanwhile sees a pending user as unknown.

use chrono::{DateTime, Duration, Utc};
use latch_domain::{
    Error, Reason, Result, UserId,
    events::{Event, EventPayload},
    model::{ClientInfo, NewUser, TokenPair, User, UserStatus, builtin},
    secret::Secret,
    validate,
};

use crate::Identity;

/// A pending user older than this belongs to a sign-up that died half-way
/// (a crash between steps): a new sign-up for the address may reclaim it.
const ABANDONED_AFTER: Duration = Duration::minutes(10);

/// A sign-up request, as the caller sent it.
#[derive(Debug, Clone)]
pub struct SignUp {
    pub email: String,
    pub password: Secret<String>,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub client: ClientInfo,
}

/// The new, active user, and its first tokens unless the deployment
/// requires a verified email before sign-in.
#[derive(Debug, Clone)]
pub struct SignedUp {
    pub user: User,
    pub tokens: Option<TokenPair>,
}

/// Which remote steps were attempted, so a failure undoes exactly them.
#[derive(Debug, Default, Clone, Copy)]
struct Attempted {
    profile: bool,
    role: bool,
}

impl Identity {
    /// Creates an account and (unless `require_verified_email`) signs it in.
    ///
    /// Errors: `RATE_LIMITED` (per client IP); `INVALID_ARGUMENT` naming
    /// `email`, `first_name`, `last_name` or `phone`; `WEAK_PASSWORD` naming
    /// `password`; `EMAIL_TAKEN` when the address is in use in any case,
    /// including by a sign-up racing this one. Nothing is written when
    /// validation fails.
    pub async fn sign_up(&self, request: SignUp) -> Result<SignedUp> {
        if let Some(ip) = &request.client.ip {
            self.deps
                .rate_limiter
                .hit(
                    &format!("signup:ip:{ip}"),
                    self.config.signup_limit_per_ip,
                    self.config.signup_window,
                )
                .await?;
        }
        let email = validate::email("email", &request.email)?;
        let first_name = validate::name("first_name", &request.first_name)?;
        let last_name = validate::name("last_name", &request.last_name)?;
        let phone = match request.phone.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(validate::phone("phone", raw)?),
        };
        check_password(&request.password, [&email, &first_name, &last_name]).await?;

        if let Some(existing) = self.deps.users.find_by_email(&email).await?
            && !self.reclaim_abandoned(&existing).await?
        {
            return Err(email_taken());
        }

        let password_hash = self.deps.hasher.hash(&request.password).await?;
        let new_user = NewUser {
            id: UserId::new(),
            email,
            phone,
            password_hash: Some(password_hash),
            status: UserStatus::Pending,
            created_at: self.deps.clock.now(),
        };
        let user = self.deps.users.create(&new_user).await.map_err(|err| {
            // A sign-up racing this one inserted the address first.
            if err.is(Reason::AlreadyExists) {
                email_taken()
            } else {
                err
            }
        })?;
        let user = self.complete(user, &first_name, &last_name).await?;

        let created = Event::new(
            self.deps.clock.now(),
            EventPayload::UserCreated {
                user_id: user.id,
                email: user.email.clone(),
            },
        );
        // The account exists either way; subscribers tolerate a lost event.
        if let Err(error) = self.deps.bus.publish(&created).await {
            tracing::warn!(%error, "user:created not published");
        }

        let tokens = if self.config.require_verified_email {
            None
        } else {
            Some(self.open_session(user.id, &request.client).await?)
        };
        Ok(SignedUp { user, tokens })
    }

    /// Profile, default role, activation; undoes what it attempted on failure.
    async fn complete(&self, user: User, first_name: &str, last_name: &str) -> Result<User> {
        let mut attempted = Attempted::default();
        let now = self.deps.clock.now();
        let outcome = async {
            attempted.profile = true;
            self.deps
                .profiles
                .create(user.id, first_name, last_name)
                .await?;
            attempted.role = true;
            self.deps.roles.assign(user.id, builtin::DEFAULT).await?;
            if !self
                .deps
                .users
                .set_status(user.id, UserStatus::Active, now)
                .await?
            {
                return Err(Error::internal_msg("user vanished during sign-up"));
            }
            Ok(())
        }
        .await;
        match outcome {
            Ok(()) => Ok(User {
                status: UserStatus::Active,
                updated_at: now,
                ..user
            }),
            Err(err) => {
                self.undo(user.id, attempted).await;
                Err(err)
            }
        }
    }

    /// Best-effort compensation; every step is idempotent, so a step that
    /// failed (perhaps after it took effect remotely) is undone too. Failures
    /// here are logged: the caller gets the error that started the undo.
    async fn undo(&self, user: UserId, attempted: Attempted) {
        if attempted.role
            && let Err(error) = self.deps.roles.unassign(user, builtin::DEFAULT).await
        {
            tracing::error!(%user, %error, "sign-up undo: role not unassigned");
        }
        if attempted.profile
            && let Err(error) = self.deps.profiles.delete(user).await
        {
            tracing::error!(%user, %error, "sign-up undo: profile not deleted");
        }
        if let Err(error) = self.deps.users.delete(user).await {
            tracing::error!(%user, %error, "sign-up undo: pending user not deleted");
        }
    }

    /// Removes a pending user left by a sign-up that died half-way, so its
    /// address can be used again. False when `existing` is a live account
    /// (or a sign-up still running).
    async fn reclaim_abandoned(&self, existing: &User) -> Result<bool> {
        if !is_abandoned(existing, self.deps.clock.now()) {
            return Ok(false);
        }
        tracing::warn!(user = %existing.id, "reclaiming an abandoned sign-up");
        self.undo(
            existing.id,
            Attempted {
                profile: true,
                role: true,
            },
        )
        .await;
        Ok(true)
    }

    /// A new session and its first token pair. If the tokens cannot be
    /// issued, the session is revoked rather than left dangling.
    pub(crate) async fn open_session(
        &self,
        user: UserId,
        client: &ClientInfo,
    ) -> Result<TokenPair> {
        let session = self.deps.sessions.create(user, client).await?;
        match self.deps.tokens.issue(user, &session.id, client).await {
            Ok(tokens) => Ok(tokens),
            Err(err) => {
                if let Err(error) = self.deps.sessions.revoke(&session.id, "issue_failed").await {
                    tracing::error!(%user, %error, "session left open after a failed issue");
                }
                Err(err)
            }
        }
    }
}

fn is_abandoned(user: &User, now: DateTime<Utc>) -> bool {
    user.status == UserStatus::Pending && now - user.created_at > ABANDONED_AFTER
}

fn email_taken() -> Error {
    Error::new(Reason::EmailTaken, "the email address is already in use")
}

/// The password policy, judged off the async runtime: zxcvbn on a long
/// password costs milliseconds of CPU.
async fn check_password(password: &Secret<String>, user_inputs: [&str; 3]) -> Result<()> {
    let password = password.clone();
    let inputs = user_inputs.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let inputs = inputs.each_ref().map(String::as_str);
        validate::password("password", &password, &inputs)
    })
    .await
    .map_err(Error::internal)?
}

#[cfg(test)]
mod tests;
