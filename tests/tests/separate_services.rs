//! The five services as separate servers on PostgreSQL + Redis, reaching
//! each other only over gRPC with the service credential: the production
//! shape, in one test process.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{collections::HashMap, future::Future, sync::Arc};

use latch_domain::{Clock, Result, SystemClock};
use latch_proto::latch::{
    identity::v1::{
        LoginRequest, LogoutRequest, identity_service_client::IdentityServiceClient, login_response,
    },
    profile::v1::{GetProfileRequest, profile_service_client::ProfileServiceClient},
    token::v1::{RefreshTokensRequest, token_service_client::TokenServiceClient},
};
use latch_runtime::{
    binary::{Assembled, Context},
    config::MapSource,
    infra::Infra,
    secrets::Secrets,
    server,
};
use latch_testkit::{TestDatabase, TestRedis};
use latch_tests::{PASSWORD, bearer, must, reason, sign_up_request};
use tokio::net::TcpListener;
use tonic::{Code, transport::Channel};

const SERVICES: [&str; 5] = ["identity", "token", "session", "authorization", "profile"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_path_across_five_servers() {
    let Some(db) = TestDatabase::postgres().await else {
        eprintln!(
            "LATCH_TEST_DATABASE_URL unset: the separate-services run needs PostgreSQL + Redis"
        );
        return;
    };
    let redis = TestRedis::from_env()
        .await
        .expect("LATCH_TEST_REDIS_URL must be set with LATCH_TEST_DATABASE_URL");
    let redis_url = std::env::var("LATCH_TEST_REDIS_URL").expect("redis url");
    let secrets = must(Secrets::generate(), "secrets");

    let mut listeners = HashMap::new();
    let mut settings = MapSource::new();
    for name in SERVICES {
        let listener = must(TcpListener::bind("127.0.0.1:0").await, "bind");
        let addr = must(listener.local_addr(), "addr");
        settings.set(
            &format!("LATCH_{}_URL", name.to_uppercase()),
            format!("http://{addr}"),
        );
        listeners.insert(name, (listener, addr));
    }
    let source: Arc<MapSource> = Arc::new(settings);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let context = || Context {
        source: source.clone(),
        secrets: secrets.clone(),
        infra: must(
            Infra::with_redis(db.db().clone(), redis.clone(), &redis_url),
            "infra",
        ),
        clock: clock.clone(),
    };

    let mut stops = Vec::new();
    for name in SERVICES {
        let assembled = match name {
            "identity" => assemble(latch_identity::standalone::assemble(context())).await,
            "token" => assemble(latch_token::standalone::assemble(context())).await,
            "session" => assemble(latch_session::standalone::assemble(context())).await,
            "authorization" => assemble(latch_authorization::standalone::assemble(context())).await,
            _ => assemble(latch_profile::standalone::assemble(context())).await,
        };
        let (listener, _) = listeners.remove(name).expect("listener");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        stops.push(tx);
        tokio::spawn(async move {
            let stop = async {
                let _ = rx.await;
            };
            if let Err(err) =
                server::serve(assembled.services, listener, assembled.guard, stop).await
            {
                eprintln!("{name} stopped: {err}");
            }
        });
    }
    let url = |name: &str| source.get_url(name);
    let identity = IdentityServiceClient::new(channel(&url("identity")));
    let profile = ProfileServiceClient::new(channel(&url("profile")));
    let token = TokenServiceClient::new(channel(&url("token")));

    // Sign-up runs its saga across identity, profile, authorization, session and token.
    let signed_up = must(
        identity
            .clone()
            .sign_up(sign_up_request("split@example.com"))
            .await,
        "sign up",
    )
    .into_inner();
    let auth = signed_up.auth.expect("tokens");
    let got = must(
        profile
            .clone()
            .get_profile(bearer(GetProfileRequest::default(), &auth.access_token))
            .await,
        "profile verifies the token through the token service's JWKS",
    )
    .into_inner()
    .profile
    .expect("profile");
    assert_eq!(got.first_name, "Ada");

    let login = must(
        identity
            .clone()
            .login(LoginRequest {
                email: "split@example.com".into(),
                password: PASSWORD.into(),
                client: None,
            })
            .await,
        "login",
    )
    .into_inner();
    let Some(login_response::Result::Auth(second)) = login.result else {
        panic!("expected tokens");
    };
    let rotated = must(
        token
            .clone()
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

    must(
        identity
            .clone()
            .logout(bearer(LogoutRequest {}, &rotated.access_token))
            .await,
        "logout",
    );
    let err = profile
        .clone()
        .get_profile(bearer(GetProfileRequest::default(), &rotated.access_token))
        .await
        .expect_err("logged out");
    assert_eq!(reason(&err), "SESSION_REVOKED");
    let err = token
        .clone()
        .refresh_tokens(RefreshTokensRequest {
            refresh_token: rotated.refresh_token,
            client: None,
        })
        .await
        .expect_err("the family went with the session");
    assert_eq!(err.code(), Code::Unauthenticated);

    // The first session is untouched by the second one's logout.
    must(
        profile
            .clone()
            .get_profile(bearer(GetProfileRequest::default(), &auth.access_token))
            .await,
        "first session still live",
    );
    drop(stops);
}

async fn assemble(assembled: impl Future<Output = Result<Assembled>>) -> Assembled {
    must(assembled.await, "assemble")
}

fn channel(url: &str) -> Channel {
    must(
        Channel::from_shared(url.to_owned()).map(|e| e.connect_lazy()),
        "channel",
    )
}

trait UrlOf {
    fn get_url(&self, name: &str) -> String;
}

impl UrlOf for MapSource {
    fn get_url(&self, name: &str) -> String {
        use latch_runtime::config::ConfigSource;
        self.get(&format!("LATCH_{}_URL", name.to_uppercase()))
            .expect("url")
    }
}
