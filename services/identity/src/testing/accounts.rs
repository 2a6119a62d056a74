//! Signing test users up and in on the [`Harness`], the way most flow
//! tests start.

use latch_domain::{Result, model::ClientInfo, secret::Secret};

use super::{Harness, sign_up_request};
use crate::{Credentials, LoginOutcome, SignedUp};

impl Harness {
    /// Signs `email` up with [`sign_up_request`].
    pub(crate) async fn sign_up(&self, email: &str) -> Result<SignedUp> {
        self.identity.sign_up(sign_up_request(email)).await
    }

    /// A password login of `email` from `client`.
    pub(crate) async fn log_in(
        &self,
        email: &str,
        password: &str,
        client: ClientInfo,
    ) -> Result<LoginOutcome> {
        self.identity
            .login(Credentials {
                email: email.to_owned(),
                password: Secret::new(password.to_owned()),
                client,
            })
            .await
    }
}
