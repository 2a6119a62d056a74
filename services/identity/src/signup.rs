//! Sign-up: a small saga across identity, profile and authorization.
//!
//! The user is written `pending`, then the profile is created and the
//! default role assigned (both idempotent), then the user is activated. If a
//! step fails, what was (or may have been) done is undone and the original
//! error returned; a login meanwhile sees a pending user as unknown.
//!
//! An address already in use is answered one of two ways:
//! - `LATCH_REQUIRE_VERIFIED_EMAIL` on: exactly as a new account, so sign-up
//!   does not tell who has an account. The answer has the same shape (a
//!   user, no tokens): an active, unverified user with a fresh id that is
//!   never stored (a time-ordered id like a real one, so it reveals
//!   nothing; nobody can sign in to it, since no tokens exist and the
//!   address's owner keeps their own account). The attempt is logged at
//!   info with the existing account's id, and the owner is mailed a notice
//!   (`SignUpAddressTaken`, at most one an hour per account), so a person
//!   who forgot they had an account learns it from their inbox, as a new
//!   account's owner learns its verification code from theirs: both
//!   answers queue one mail.
//! - off: `EMAIL_TAKEN`, because no mail will tell the person anything:
//!   they must learn here that the address is taken, or they would think
//!   they had an account they can never sign in to. Enumeration is then
//!   bounded by the per-IP sign-up rate limit.
//!
//! Either way the password is hashed once before the address is looked up,
//! so a taken address costs the same argon2 work as a new one. (Login still
//! tells the two apart to whoever then tries the password they chose:
//! `EMAIL_NOT_VERIFIED` for the account they really created,
//! `INVALID_CREDENTIALS` for someone else's; closing that is login's part.)

use latch_domain::{
    Error, Reason, Result, UserId, client_fields,
    model::{ClientInfo, NewUser, TokenPair, User, UserStatus},
    ports::{MessageTemplate, OutboundMessage, Recipient},
    secret::Secret,
    validate,
};

use crate::{Identity, codes::Purpose};

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
    /// Errors: `INVALID_ARGUMENT` naming `email`, `first_name`,
    /// `last_name` or `phone`; `WEAK_PASSWORD` naming `password`;
    /// `EMAIL_TAKEN` when the address is in use in any case, including by
    /// a sign-up racing this one, unless the deployment requires verified
    /// email (then the answer looks like a new account; see the module).
    /// Nothing is written when validation fails. Sign-ups per client
    /// address are limited by the server layer (`sign_up` group).
    pub async fn sign_up(&self, request: SignUp) -> Result<SignedUp> {
        let client = client_fields::normalize(&request.client);
        let email = validate::email("email", &request.email)?;
        let first_name = validate::name("first_name", &request.first_name)?;
        let last_name = validate::name("last_name", &request.last_name)?;
        let phone = match request.phone.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(validate::phone("phone", raw)?),
        };
        check_password(
            "password",
            &request.password,
            [&email, &first_name, &last_name],
        )
        .await?;

        // Before the lookup: a taken address costs this hash too.
        let password_hash = self.deps.hasher.hash(&request.password).await?;
        if let Some(existing) = self.deps.users.find_by_email(&email).await?
            && !self.reclaim_abandoned(&existing).await?
        {
            return self.address_taken(Some(existing.id), email, phone).await;
        }

        let new_user = NewUser {
            id: UserId::new(),
            email,
            phone,
            password_hash: Some(password_hash),
            status: UserStatus::Pending,
            created_at: self.deps.clock.now(),
        };
        let user = match self.deps.users.create(&new_user).await {
            Ok(user) => user,
            // A sign-up racing this one inserted the address first.
            Err(err) if err.is(Reason::AlreadyExists) => {
                return self
                    .address_taken(None, new_user.email, new_user.phone)
                    .await;
            }
            Err(err) => return Err(err),
        };
        let user = self.complete(user, &first_name, &last_name).await?;

        let tokens = if self.config.require_verified_email {
            // They cannot sign in before they verify: the first code now.
            // The account exists either way; a code can be asked for again.
            if let Err(error) = self.mail_first_code(&user).await {
                tracing::warn!(user = %user.id, %error, "first verification code not queued");
            }
            None
        } else {
            Some(self.open_session(user.id, &client).await?)
        };
        Ok(SignedUp { user, tokens })
    }

    /// The answer to a sign-up for an address in use (`owner`, when known):
    /// `EMAIL_TAKEN`, or with verified email required, what a new account's
    /// sign-up returns (see the module).
    async fn address_taken(
        &self,
        owner: Option<UserId>,
        email: String,
        phone: Option<String>,
    ) -> Result<SignedUp> {
        if !self.config.require_verified_email {
            return Err(email_taken());
        }
        match owner {
            Some(owner) => {
                tracing::info!(%owner, "sign-up for an address in use; answered as new");
                if let Err(error) = self.notify_owner(owner, &email).await {
                    tracing::warn!(%owner, %error, "sign-up notice not queued");
                }
            }
            None => tracing::info!("sign-up lost a race for its address; answered as new"),
        }
        let now = self.deps.clock.now();
        let user = User {
            id: UserId::new(),
            email,
            email_verified: false,
            phone,
            phone_verified: false,
            status: UserStatus::Active,
            password_hash: None,
            totp_enabled: false,
            created_at: now,
            updated_at: now,
            last_login_at: None,
        };
        Ok(SignedUp { user, tokens: None })
    }
}

impl Identity {
    /// Mails a new account its first verification code.
    async fn mail_first_code(&self, user: &User) -> Result<()> {
        let code = self
            .issue_code(Purpose::Email, user.id.0, &user.email)
            .await?;
        let mail = self.code_message(
            Purpose::Email,
            Recipient::Email(user.email.clone()),
            user.id,
            &code,
        )?;
        self.deps.outbox.enqueue(&[mail]).await
    }

    /// Tells the owner of `email` that someone tried to sign up with it, at
    /// most once an hour: a flood of sign-ups must not flood their inbox.
    /// Best effort, like the first code of a new account: the answer does
    /// not wait on it.
    async fn notify_owner(&self, owner: UserId, email: &str) -> Result<()> {
        let once_an_hour = self
            .deps
            .rate_limiter
            .hit(
                &format!("signup_notice:user:{owner}"),
                1,
                std::time::Duration::from_secs(3600),
            )
            .await;
        match once_an_hour {
            Ok(()) => {}
            Err(err) if err.is(Reason::RateLimited) => return Ok(()),
            Err(err) => return Err(err),
        }
        let notice = self.deps.messages.compose(
            &OutboundMessage::new(
                MessageTemplate::SignUpAddressTaken,
                Recipient::Email(email.to_owned()),
                Some(owner),
            ),
            self.deps.clock.now(),
        )?;
        self.deps.outbox.enqueue(&[notice]).await
    }
}

fn email_taken() -> Error {
    Error::new(Reason::EmailTaken, "the email address is already in use")
}

/// The password policy (also of reset and change), judged off the async
/// runtime: zxcvbn on a long password costs milliseconds of CPU. `field`
/// is the request field a refusal names.
pub(crate) async fn check_password(
    field: &'static str,
    password: &Secret<String>,
    user_inputs: [&str; 3],
) -> Result<()> {
    let password = password.clone();
    let inputs = user_inputs.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let inputs = inputs.each_ref().map(String::as_str);
        validate::password(field, &password, &inputs)
    })
    .await
    .map_err(Error::internal)?
}

#[cfg(test)]
mod tests;
