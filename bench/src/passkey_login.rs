//! `passkey_login`: a passkey sign-in with an email, StartPasskeyLogin then
//! FinishPasskeyLogin, against the echo floor. Each seeded user first
//! registers a passkey of its own software authenticator (the tests'
//! `latch_testkit::passkey`), which then answers every challenge: an ES256
//! signature made in the bench process, as a browser's authenticator
//! would on the user's device.

use std::sync::{Arc, Mutex, PoisonError};

use futures::future::BoxFuture;
use latch_proto::latch::identity::v1::{
    FinishPasskeyLoginRequest, FinishPasskeyRegistrationRequest, StartPasskeyLoginRequest,
    StartPasskeyRegistrationRequest, identity_service_client::IdentityServiceClient,
};
use latch_testkit::passkey::{Authenticator, Counter};
use tonic::{
    metadata::{Ascii, MetadataValue},
    transport::Channel,
};

use crate::{
    baselines::ECHO,
    error::{Context as _, Result},
    load::{Call, call},
    scenario::{Ctx, Scenario, Server, Target, bearer, pick},
};

/// The relying party latchd is started with for the bench
/// (`backends::latchd_env`): the embedded default's RP id and one of its
/// origins.
pub(crate) const RP_ID: &str = "localhost";
pub(crate) const ORIGIN: &str = "http://localhost:3000";

pub(crate) fn scenario() -> Scenario {
    Scenario {
        name: "passkey_login",
        label: "passkey_login",
        baseline: Some(ECHO),
        target: Target::ratio(0.3),
        server: Server::Latchd,
        rerun_at_scale: false,
        setup: passkey_login,
    }
}

/// A synced platform passkey (backed up, no signature counter), the kind
/// most users have.
fn platform_authenticator() -> Authenticator {
    let mut authenticator = Authenticator::new(ORIGIN);
    authenticator
        .set_counter(Counter::Zero)
        .set_backup(true, true);
    authenticator
}

fn passkey_login(ctx: &Ctx) -> BoxFuture<'_, Result<Call>> {
    Box::pin(async move {
        let users = ctx.users().await?;
        let channels = ctx.latchd.clone();
        // One authenticator per user, registered through the real RPCs
        // (two cheap calls each: one after the other is quick enough).
        let mut authenticators = Vec::with_capacity(users.len());
        for (n, user) in users.iter().enumerate() {
            let client = IdentityServiceClient::new(pick(&channels, n));
            authenticators.push(register(client, user.bearer.clone()).await?);
        }
        let authenticators = Arc::new(authenticators);
        Ok(call(move |w| {
            let mut client = IdentityServiceClient::new(pick(&channels, w));
            let n = w % users.len();
            let email = users[n].email.clone();
            let authenticators = authenticators.clone();
            async move {
                let started = client
                    .start_passkey_login(StartPasskeyLoginRequest { email: Some(email) })
                    .await?
                    .into_inner();
                let assertion = authenticators[n]
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(&started.request_options_json)
                    .context("the authenticator's get")?;
                let auth = client
                    .finish_passkey_login(FinishPasskeyLoginRequest {
                        login_id: started.login_id,
                        assertion_json: assertion,
                        client: None,
                    })
                    .await?
                    .into_inner()
                    .auth;
                auth.map(drop)
                    .context("FinishPasskeyLogin returned no tokens")
            }
        }))
    })
}

/// Registers a passkey of a new authenticator for the holder of `bearer`.
async fn register(
    mut client: IdentityServiceClient<Channel>,
    bearer_token: MetadataValue<Ascii>,
) -> Result<Mutex<Authenticator>> {
    let started = client
        .start_passkey_registration(bearer(StartPasskeyRegistrationRequest {}, &bearer_token))
        .await
        .context("StartPasskeyRegistration")?
        .into_inner();
    let mut authenticator = platform_authenticator();
    let created = authenticator
        .create(&started.creation_options_json)
        .context("the authenticator's create")?;
    let request = FinishPasskeyRegistrationRequest {
        registration_id: started.registration_id,
        attestation_json: created.json,
        name: "bench".to_owned(),
        second_factor: false,
    };
    client
        .finish_passkey_registration(bearer(request, &bearer_token))
        .await
        .context("FinishPasskeyRegistration")?;
    Ok(Mutex::new(authenticator))
}
