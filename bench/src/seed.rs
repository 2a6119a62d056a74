//! Users signed up through latchd's own SignUp, one per worker, whose
//! sessions and tokens the scenarios use.

use std::sync::{Mutex, PoisonError};

use futures::{StreamExt as _, TryStreamExt as _, stream};
use latch_proto::latch::identity::v1::{
    SignUpRequest, identity_service_client::IdentityServiceClient,
};
use tonic::{
    metadata::{Ascii, MetadataValue},
    transport::Channel,
};

use crate::{
    error::{Context as _, Result},
    scenario::pick,
};

/// The password of every seeded user (zxcvbn score 4).
pub(crate) const PASSWORD: &str = "correct horse battery staple 42";

/// Sign-ups in flight while seeding: each costs an argon2 hash.
const SIGN_UPS_IN_FLIGHT: usize = 8;

/// A signed-up user and what it holds.
pub(crate) struct SeededUser {
    pub(crate) email: String,
    pub(crate) session_id: String,
    pub(crate) access_token: String,
    /// `Bearer <access token>`, ready to send.
    pub(crate) bearer: MetadataValue<Ascii>,
    /// The live refresh token of its family; RefreshTokens replaces it.
    refresh_token: Mutex<String>,
}

impl SeededUser {
    pub(crate) fn refresh_token(&self) -> String {
        self.refresh_token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_refresh_token(&self, token: String) {
        *self
            .refresh_token
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = token;
    }
}

/// Signs up `count` users through `channels`.
pub(crate) async fn sign_up_users(channels: &[Channel], count: usize) -> Result<Vec<SeededUser>> {
    let run = std::process::id();
    stream::iter(0..count)
        .map(|n| {
            let channel = pick(channels, n);
            async move {
                let email = format!("bench-{run}-{n}@bench.example.com");
                let response = IdentityServiceClient::new(channel)
                    .sign_up(SignUpRequest {
                        email: email.clone(),
                        password: PASSWORD.to_owned(),
                        first_name: "Ada".to_owned(),
                        last_name: "Lovelace".to_owned(),
                        ..Default::default()
                    })
                    .await
                    .context(&format!("sign up {email}"))?
                    .into_inner();
                let auth = response
                    .auth
                    .context("sign-up returned no tokens (LATCH_REQUIRE_VERIFIED_EMAIL?)")?;
                let bearer = MetadataValue::try_from(format!("Bearer {}", auth.access_token))
                    .context("bearer header")?;
                Ok(SeededUser {
                    email,
                    session_id: auth.session_id,
                    access_token: auth.access_token,
                    bearer,
                    refresh_token: Mutex::new(auth.refresh_token),
                })
            }
        })
        .buffered(SIGN_UPS_IN_FLIGHT)
        .try_collect()
        .await
}
