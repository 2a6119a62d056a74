//! The first SUPERADMIN: `latchd bootstrap-admin --email …` or
//! `LATCH_BOOTSTRAP_ADMIN_EMAIL` at the start of latchd and of the
//! identity binary.
//!
//! No account with the address: one is created through the sign-up saga
//! (pending user, profile, default role, activation), its email marked
//! verified (the operator vouches for it), then SUPERADMIN is assigned. An
//! active account: SUPERADMIN is assigned, its password left alone. Every
//! step is idempotent, so a second run, or a run after a crash half-way,
//! ends in the same state: one user, one SUPERADMIN assignment.
//!
//! Replicas starting together: the unique email index lets one insert the
//! user; the others see it pending, wait for that saga to activate it and
//! then assign the role too, which changes nothing (the assignment is
//! insert-if-absent). A pending user left by a crash is reclaimed after 10
//! minutes, as sign-up does.

mod settings;

use std::{sync::Arc, time::Duration};

use latch_domain::{
    Error, Reason, Result, UserId,
    model::{NewUser, User, UserStatus, builtin},
    secret::Secret,
};

pub use settings::{
    BootstrapAdmin, EMAIL_KEY, PASSWORD_FILE_KEY, PASSWORD_KEY, password_from_source,
    read_password_file, without_line_break,
};

use crate::{Identity, signup::check_password};

/// The profile of a created admin; they can rename themselves.
const FIRST_NAME: &str = "Latch";
const LAST_NAME: &str = "Administrator";
/// How long to wait for a racing replica's sign-up saga to activate the
/// user, and how often to look.
const RACE_WAIT: Duration = Duration::from_secs(30);
const RACE_POLL: Duration = Duration::from_millis(100);

/// What a bootstrap found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bootstrapped {
    /// A new account, email verified, now SUPERADMIN.
    Created(UserId),
    /// An existing account, now SUPERADMIN.
    Promoted(UserId),
    /// The account was SUPERADMIN already; nothing changed.
    AlreadyAdmin(UserId),
}

impl Bootstrapped {
    pub fn user_id(self) -> UserId {
        match self {
            Self::Created(id) | Self::Promoted(id) | Self::AlreadyAdmin(id) => id,
        }
    }
}

impl Identity {
    /// Makes `admin` SUPERADMIN, creating the account when none has the
    /// address (see the module).
    ///
    /// Errors: `INVALID_ARGUMENT` naming `password` when the account must
    /// be created and no password was given; `WEAK_PASSWORD`;
    /// `ACCOUNT_INACTIVE` for a suspended or deactivated account (a
    /// bootstrap never reactivates what an operator stopped);
    /// `UNAVAILABLE` when a sibling or the database is down (run it again);
    /// `INTERNAL` when a racing sign-up is still pending after 30 s.
    pub async fn bootstrap_admin(&self, admin: &BootstrapAdmin) -> Result<Bootstrapped> {
        let started = tokio::time::Instant::now();
        loop {
            let existing = self.deps.users.find_by_email(&admin.email).await?;
            match existing {
                None => {
                    let Some(password) = &admin.password else {
                        return Err(Error::invalid_field(
                            "password",
                            "is required to create the account, since none has this address (--password-file, LATCH_BOOTSTRAP_ADMIN_PASSWORD or LATCH_BOOTSTRAP_ADMIN_PASSWORD_FILE)",
                        ));
                    };
                    match self.create_admin(&admin.email, password).await {
                        Ok(user) => {
                            self.assign_superadmin(user.id).await?;
                            return Ok(Bootstrapped::Created(user.id));
                        }
                        // Another replica inserted it first: promote theirs.
                        Err(err) if err.is(Reason::AlreadyExists) => {}
                        Err(err) => return Err(err),
                    }
                }
                Some(user) if user.status == UserStatus::Active => {
                    return Ok(if self.assign_superadmin(user.id).await? {
                        Bootstrapped::Promoted(user.id)
                    } else {
                        Bootstrapped::AlreadyAdmin(user.id)
                    });
                }
                Some(user) if user.status == UserStatus::Pending => {
                    if !self.reclaim_abandoned(&user).await? {
                        // A sign-up (another replica's bootstrap) is running.
                        if started.elapsed() > RACE_WAIT {
                            return Err(Error::internal_msg(format!(
                                "the account of {} is still being created after {}s; run the bootstrap again",
                                admin.email,
                                RACE_WAIT.as_secs()
                            )));
                        }
                        tokio::time::sleep(RACE_POLL).await;
                    }
                }
                Some(user) => {
                    return Err(Error::new(
                        Reason::AccountInactive,
                        format!(
                            "the account of {} is {}; activate it before making it SUPERADMIN",
                            admin.email,
                            user.status.as_str()
                        ),
                    ));
                }
            }
        }
    }

    /// The sign-up saga for the admin: `ALREADY_EXISTS` when another
    /// replica inserted the address first (nothing of this one is left).
    async fn create_admin(&self, email: &str, password: &Secret<String>) -> Result<User> {
        check_password("password", password, [email, "", ""]).await?;
        let password_hash = self.deps.hasher.hash(password).await?;
        let now = self.deps.clock.now();
        let user = self
            .deps
            .users
            .create(&NewUser {
                id: UserId::new(),
                email: email.to_owned(),
                phone: None,
                password_hash: Some(password_hash),
                status: UserStatus::Pending,
                created_at: now,
            })
            .await?;
        // Verified while still pending: a crash before activation leaves
        // a pending user that is reclaimed, never an active unverified one.
        // No `user:updated`: the account is announced by the activation.
        self.deps
            .users
            .verify_email(user.id, email, now, &[])
            .await?;
        let user = self.complete(user, FIRST_NAME, LAST_NAME).await?;
        Ok(User {
            email_verified: true,
            ..user
        })
    }

    /// True when this call assigned it.
    async fn assign_superadmin(&self, user: UserId) -> Result<bool> {
        self.deps.roles.assign(user, builtin::SUPERADMIN).await
    }
}

/// Runs the bootstrap the settings ask for in the background of a
/// per-service identity binary, whose siblings (profile, authorization)
/// may start after it: a sibling or the database down is retried, every
/// 1 s doubling to 30 s; any other refusal is logged as an error.
pub fn spawn_at_start(identity: Arc<Identity>, admin: BootstrapAdmin) {
    tokio::spawn(async move {
        let mut pause = Duration::from_secs(1);
        loop {
            match identity.bootstrap_admin(&admin).await {
                Ok(done) => {
                    log_done(&admin, done);
                    return;
                }
                Err(error) if error.is(Reason::Unavailable) => {
                    tracing::warn!(%error, retry_in = ?pause, "bootstrap admin: a dependency is down; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(30));
                }
                Err(error) => {
                    tracing::error!(%error, email = %admin.email, "bootstrap admin failed");
                    return;
                }
            }
        }
    });
}

/// One info line: who, and what was done (never the password).
pub fn log_done(admin: &BootstrapAdmin, done: Bootstrapped) {
    let what = match done {
        Bootstrapped::Created(_) => "created",
        Bootstrapped::Promoted(_) => "promoted",
        Bootstrapped::AlreadyAdmin(_) => "already SUPERADMIN",
    };
    tracing::info!(email = %admin.email, user = %done.user_id(), "bootstrap admin: {what}");
}

#[cfg(test)]
mod tests;
