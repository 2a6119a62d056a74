//! Sign-up: a small saga across identity, profile and authorization.
//!
//! The user is written `pending`, then the profile is created and the
//! default role assigned (both idempotent), then the user is activated. If a
//! step fails, what was (or may have been) done is undone and the original
//! error returned; a login meanwhile sees a pending user as unknown.

use latch_domain::{
    Error, Reason, Result, UserId,
    events::{Event, EventPayload},
    model::{ClientInfo, NewUser, TokenPair, User, UserStatus},
    secret::Secret,
    validate,
};

use crate::Identity;

mod saga;

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
