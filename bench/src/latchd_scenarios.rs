//! The scenarios against latchd (PostgreSQL + Redis), each with the
//! baseline and target of the issue, plus in-process verification through
//! `crates/client`.

use std::sync::Arc;

use futures::future::BoxFuture;
use latch_client::{GrpcKeySource, Verifier};
use latch_proto::latch::{
    authorization::v1::{
        CheckRequest, ListUserRolesRequest,
        authorization_service_client::AuthorizationServiceClient,
    },
    identity::v1::{LoginRequest, identity_service_client::IdentityServiceClient, login_response},
    profile::v1::{GetProfileRequest, profile_service_client::ProfileServiceClient},
    session::v1::{ValidateSessionRequest, session_service_client::SessionServiceClient},
    token::v1::{
        RefreshTokensRequest, ValidateAccessTokenRequest, token_service_client::TokenServiceClient,
    },
};
use tonic::Request;

use crate::{
    baselines::{ARGON2, ECHO, JWT_VERIFY, PG_WRITE},
    error::{Context as _, Result, fail},
    load::{Call, call},
    scenario::{Ctx, Scenario, Server, Target, bearer, pick},
    seed::PASSWORD,
};

/// The issuer and audience latchd signs with by default.
const ISSUER: &str = "latch";
const AUDIENCE: &str = "latch";

/// The header internal callers put the service credential in
/// (`latch_runtime::auth::SERVICE_TOKEN_HEADER`; the bench does not link
/// the runtime).
const SERVICE_TOKEN_HEADER: &str = "x-latch-service-token";

pub(crate) fn scenarios() -> Vec<Scenario> {
    let latchd = |name, baseline, target, setup: crate::scenario::Setup| Scenario {
        name,
        label: name,
        baseline: Some(baseline),
        target,
        server: Server::Latchd,
        rerun_at_scale: false,
        setup,
    };
    vec![
        latchd("login", ARGON2, Target::ratio(0.9), login),
        Scenario {
            rerun_at_scale: true,
            ..latchd(
                "refresh_tokens",
                PG_WRITE,
                Target::ratio(0.6),
                refresh_tokens,
            )
        },
        Scenario {
            rerun_at_scale: true,
            ..latchd(
                "validate_access_token",
                ECHO,
                Target::ratio(0.5),
                validate_access_token,
            )
        },
        Scenario {
            rerun_at_scale: true,
            ..latchd(
                "validate_session",
                ECHO,
                Some(Target {
                    min_ratio: 0.7,
                    max_p99_ms: Some(5.0),
                }),
                validate_session,
            )
        },
        latchd("get_profile", ECHO, Target::ratio(0.5), get_profile),
        latchd("list_user_roles", ECHO, Target::ratio(0.8), list_user_roles),
        latchd("check", ECHO, Target::ratio(0.8), check),
        Scenario {
            server: Server::None,
            ..latchd(
                "client_verify",
                JWT_VERIFY,
                Target::ratio(0.9),
                client_verify,
            )
        },
    ]
}

/// Password login of the worker's user: one argon2 verify, a session and a
/// token pair.
fn login(ctx: &Ctx) -> BoxFuture<'_, Result<Call>> {
    Box::pin(async move {
        let users = ctx.users().await?;
        let channels = ctx.latchd.clone();
        Ok(call(move |w| {
            let mut client = IdentityServiceClient::new(pick(&channels, w));
            let email = users[w % users.len()].email.clone();
            async move {
                let response = client
                    .login(LoginRequest {
                        email,
                        password: PASSWORD.to_owned(),
                        client: None,
                    })
                    .await?
                    .into_inner();
                match response.result {
                    Some(login_response::Result::Auth(_)) => Ok(()),
                    _ => Err(fail("login did not sign in")),
                }
            }
        }))
    })
}

/// Each worker rotates its own family: the token it got back last time.
fn refresh_tokens(ctx: &Ctx) -> BoxFuture<'_, Result<Call>> {
    Box::pin(async move {
        let users = ctx.users().await?;
        let channels = ctx.latchd.clone();
        Ok(call(move |w| {
            let mut client = TokenServiceClient::new(pick(&channels, w));
            let users = users.clone();
            async move {
                let user = &users[w % users.len()];
                let auth = client
                    .refresh_tokens(RefreshTokensRequest {
                        refresh_token: user.refresh_token(),
                        client: None,
                    })
                    .await?
                    .into_inner()
                    .auth
                    .context("RefreshTokens returned no tokens")?;
                user.set_refresh_token(auth.refresh_token);
                Ok(())
            }
        }))
    })
}

/// The public check of an access token's signature and claims.
fn validate_access_token(ctx: &Ctx) -> BoxFuture<'_, Result<Call>> {
    Box::pin(async move {
        let users = ctx.users().await?;
        let channels = ctx.latchd.clone();
        Ok(call(move |w| {
            let mut client = TokenServiceClient::new(pick(&channels, w));
            let access_token = users[w % users.len()].access_token.clone();
            async move {
                client
                    .validate_access_token(ValidateAccessTokenRequest {
                        access_token,
                        check_session: false,
                    })
                    .await?;
                Ok(())
            }
        }))
    })
}

/// An internal caller (a gateway) asking about a session that is cached.
fn validate_session(ctx: &Ctx) -> BoxFuture<'_, Result<Call>> {
    Box::pin(async move {
        let users = ctx.users().await?;
        let channels = ctx.latchd.clone();
        let credential = ctx.service_credential()?;
        Ok(call(move |w| {
            let mut client = SessionServiceClient::new(pick(&channels, w));
            let mut request = Request::new(ValidateSessionRequest {
                session_id: users[w % users.len()].session_id.clone(),
            });
            request
                .metadata_mut()
                .insert(SERVICE_TOKEN_HEADER, credential.clone());
            async move {
                let valid = client.validate_session(request).await?.into_inner().valid;
                if valid {
                    Ok(())
                } else {
                    Err(fail("session reported invalid"))
                }
            }
        }))
    })
}

/// A user reading their own profile (bearer token, session checked).
fn get_profile(ctx: &Ctx) -> BoxFuture<'_, Result<Call>> {
    Box::pin(async move {
        let users = ctx.users().await?;
        let channels = ctx.latchd.clone();
        Ok(call(move |w| {
            let mut client = ProfileServiceClient::new(pick(&channels, w));
            let request = bearer(GetProfileRequest::default(), &users[w % users.len()].bearer);
            async move {
                client.get_profile(request).await?;
                Ok(())
            }
        }))
    })
}

/// A user listing their own roles (bearer token, session checked).
fn list_user_roles(ctx: &Ctx) -> BoxFuture<'_, Result<Call>> {
    Box::pin(async move {
        let users = ctx.users().await?;
        let channels = ctx.latchd.clone();
        Ok(call(move |w| {
            let mut client = AuthorizationServiceClient::new(pick(&channels, w));
            let request = bearer(
                ListUserRolesRequest::default(),
                &users[w % users.len()].bearer,
            );
            async move {
                client.list_user_roles(request).await?;
                Ok(())
            }
        }))
    })
}

/// The permission the `check` scenario asks about. The USER role every
/// seeded user holds grants none, so the answer is "no", reached through
/// the same lookups as a "yes".
const CHECKED_PERMISSION: &str = "profiles.read";

/// A user asking Check about itself (bearer token, session checked): the
/// question a backend asks before acting for the user.
fn check(ctx: &Ctx) -> BoxFuture<'_, Result<Call>> {
    Box::pin(async move {
        let users = ctx.users().await?;
        let channels = ctx.latchd.clone();
        Ok(call(move |w| {
            let mut client = AuthorizationServiceClient::new(pick(&channels, w));
            let request = bearer(
                CheckRequest {
                    permission: CHECKED_PERMISSION.to_owned(),
                    ..CheckRequest::default()
                },
                &users[w % users.len()].bearer,
            );
            async move {
                client.check(request).await?;
                Ok(())
            }
        }))
    })
}

/// What a backend embedding `crates/client` pays per request: verification
/// in process against keys fetched once from latchd's GetJwks.
fn client_verify(ctx: &Ctx) -> BoxFuture<'_, Result<Call>> {
    Box::pin(async move {
        let users = ctx.users().await?;
        let source = GrpcKeySource::new(TokenServiceClient::new(pick(&ctx.latchd, 0)));
        let verifier = Arc::new(Verifier::new(Arc::new(source), ISSUER, AUDIENCE));
        verifier
            .refresh()
            .await
            .context("fetch the JWKS from latchd")?;
        Ok(call(move |w| {
            let verifier = verifier.clone();
            let users = users.clone();
            async move {
                verifier
                    .verify(&users[w % users.len()].access_token)
                    .await
                    .context("verify")?;
                Ok(())
            }
        }))
    })
}
