//! The five services as separate servers on PostgreSQL + Redis, reaching
//! each other only over gRPC with the service credential: the production
//! shape, in one test process.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use latch_proto::latch::{profile::v1::GetProfileRequest, token::v1::RefreshTokensRequest};
use latch_runtime::config::MapSource;
use latch_tests::{bearer, log_in, log_out, must, reason, separate::FiveServers, sign_up};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_path_across_five_servers() {
    let Some(servers) = FiveServers::start(MapSource::new()).await else {
        return;
    };

    // Sign-up runs its saga across identity, profile, authorization, session and token.
    let auth = sign_up(servers.identity(), "split@example.com")
        .await
        .auth
        .expect("tokens");
    let got = must(
        servers
            .profile()
            .get_profile(bearer(GetProfileRequest::default(), &auth.access_token))
            .await,
        "profile verifies the token through the token service's JWKS",
    )
    .into_inner()
    .profile
    .expect("profile");
    assert_eq!(got.first_name, "Ada");

    let second = log_in(servers.identity(), "split@example.com").await;
    let rotated = must(
        servers
            .token()
            .refresh_tokens(RefreshTokensRequest {
                refresh_token: second.refresh_token.clone(),
                client: None,
            })
            .await,
        "refresh",
    )
    .into_inner()
    .auth
    .expect("auth");

    log_out(servers.identity(), &rotated.access_token).await;
    let err = servers
        .profile()
        .get_profile(bearer(GetProfileRequest::default(), &rotated.access_token))
        .await
        .expect_err("logged out");
    assert_eq!(reason(&err), "SESSION_REVOKED");
    let err = servers
        .token()
        .refresh_tokens(RefreshTokensRequest {
            refresh_token: rotated.refresh_token,
            client: None,
        })
        .await
        .expect_err("the family went with the session");
    assert_eq!(err.code(), Code::Unauthenticated);

    // The first session is untouched by the second one's logout.
    must(
        servers
            .profile()
            .get_profile(bearer(GetProfileRequest::default(), &auth.access_token))
            .await,
        "first session still live",
    );
}
