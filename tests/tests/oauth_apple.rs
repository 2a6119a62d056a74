//! Sign in with Apple, end to end: latchd on both backends configured with
//! an `apple` provider (team id, key id, `.p8` key file) whose issuer is
//! the local stand-in (`latch_tests::apple_standin`, answering as
//! appleid.apple.com does), and the whole round trip each time:
//! StartOAuth, the browser at the stand-in, which answers Apple's
//! auto-submitting form (`response_mode=form_post`) with code, state and,
//! on an account's first authorization only, the `user` JSON with the
//! name; then what a gateway does with that POST: CompleteOAuth with code,
//! state and `user` as `provider_user_json`. The stand-in checks the
//! client secret Latch makes (ES256, kid, iss, sub, aud, expiry) and
//! answers ID tokens with `email_verified` as the string "true"/"false".

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failing test should panic

use std::future::Future;

use latch_proto::latch::{
    common::v1::User,
    identity::v1::{
        CompleteOAuthRequest, CompleteOAuthResponse, ListIdentitiesRequest, StartOAuthRequest,
    },
    profile::v1::{GetProfileRequest, Profile},
};
use latch_runtime::config::MapSource;
use latch_testkit::SmtpSink;
use latch_tests::{
    Backend, TestLatchd,
    apple_standin::{AppleAccount, AppleClient, AppleKeyPair, AppleStandIn, FormPost, query_param},
    assert_refused, bad_field, bearer, must, start_with_mail,
};
use tempfile::NamedTempFile;
use tonic::{Code, Status};

/// The Services ID, team and key Apple's developer account would hold.
const CLIENT_ID: &str = "com.example.latch.web";
const TEAM_ID: &str = "TEAM012345";
const KEY_ID: &str = "KEY0123456";
/// Never loaded: the gateway's callback, where Apple's form posts.
const REDIRECT_URI: &str = "http://127.0.0.1:9/oauth/apple";
const PROVIDER: &str = "apple";
/// The same client and key under another key id: the stand-in refuses
/// the client secret it makes.
const WRONG_KID_PROVIDER: &str = "apple-wrong-kid";

latch_tests::e2e!(
    world = run;
    a_new_user_keeps_the_name_apple_posts_on_the_first_sign_in,
    a_returning_user_is_found_and_keeps_their_name,
    a_verified_apple_email_links_the_verified_account,
    an_unverified_apple_email_never_reaches_an_account,
    a_malformed_user_field_is_refused_and_spends_nothing,
    a_client_secret_apple_refuses_is_refused_cleanly,
);

struct World {
    latchd: TestLatchd,
    apple: AppleStandIn,
    smtp: SmtpSink,
    _files: [NamedTempFile; 2],
}

async fn run<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(World) -> Fut,
    Fut: Future<Output = ()>,
{
    let key = AppleKeyPair::generate();
    let apple = AppleStandIn::start(AppleClient {
        client_id: CLIENT_ID.to_owned(),
        team_id: TEAM_ID.to_owned(),
        key_id: KEY_ID.to_owned(),
        public_key: key.public.clone(),
        redirect_uris: vec![REDIRECT_URI.to_owned()],
    })
    .await;
    let key_file = temp_file("latch-apple-key-", ".p8", &key.p8_pem);
    let mut text = String::new();
    for (name, key_id) in [(PROVIDER, KEY_ID), (WRONG_KID_PROVIDER, "WRONGKEY01")] {
        text.push_str(&format!(
            "[[provider]]\nname = \"{name}\"\nkind = \"apple\"\nissuer = \"{}\"\n\
             client_id = \"{CLIENT_ID}\"\nteam_id = \"{TEAM_ID}\"\nkey_id = \"{key_id}\"\n\
             private_key_file = \"{}\"\nredirect_uris = [\"{REDIRECT_URI}\"]\n\n",
            apple.issuer(),
            key_file.path().display()
        ));
    }
    let providers_file = temp_file("latch-apple-providers-", ".toml", &text);
    let settings = MapSource::new().with(
        "LATCH_OAUTH_PROVIDERS",
        providers_file.path().display().to_string(),
    );
    match start_with_mail(backend, settings).await {
        Some((latchd, smtp)) => {
            scenario(World {
                latchd,
                apple,
                smtp,
                _files: [key_file, providers_file],
            })
            .await;
        }
        None => eprintln!("LATCH_TEST_DATABASE_URL unset: PostgreSQL + Redis run skipped"),
    }
}

fn temp_file(prefix: &str, suffix: &str, text: &str) -> NamedTempFile {
    let file = must(
        tempfile::Builder::new()
            .prefix(prefix)
            .suffix(suffix)
            .tempfile_in(env!("CARGO_TARGET_TMPDIR")),
        "temp file",
    );
    must(std::fs::write(file.path(), text), "write temp file");
    file
}

fn account(sub: &str, email: &str, verified: bool) -> AppleAccount {
    AppleAccount {
        sub: sub.to_owned(),
        email: email.to_owned(),
        email_verified: verified,
        is_private_email: email.ends_with("@privaterelay.appleid.com"),
        first_name: "Grace".to_owned(),
        last_name: "Hopper".to_owned(),
    }
}

impl World {
    /// StartOAuth at `provider`, and `who` signing in at the stand-in:
    /// what Apple's form posts to the gateway's callback.
    async fn form_post(&self, provider: &str, who: &AppleAccount) -> FormPost {
        let started = must(
            self.latchd
                .identity()
                .start_o_auth(StartOAuthRequest {
                    provider: provider.to_owned(),
                    redirect_uri: REDIRECT_URI.to_owned(),
                })
                .await,
            "start oauth",
        )
        .into_inner();
        let url = &started.authorization_url;
        assert_eq!(
            query_param(url, "response_mode").as_deref(),
            Some("form_post")
        );
        let scope = query_param(url, "scope").unwrap_or_default();
        assert!(
            scope.split(' ').any(|s| s == "name") && scope.split(' ').any(|s| s == "email"),
            "{scope}"
        );
        let post = self.apple.sign_in(url, who).await;
        assert_eq!(post.action, REDIRECT_URI, "the form posts to the callback");
        assert_eq!(post.state, started.state, "the form echoes the state");
        post
    }

    /// The gateway's part: code, state and `user` from the POST to
    /// CompleteOAuth.
    async fn complete(
        &self,
        provider: &str,
        post: &FormPost,
        user_json: &str,
    ) -> Result<CompleteOAuthResponse, Status> {
        self.latchd
            .identity()
            .complete_o_auth(CompleteOAuthRequest {
                provider: provider.to_owned(),
                code: post.code.clone(),
                state: post.state.clone(),
                client: None,
                provider_user_json: user_json.to_owned(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    async fn signed_in(&self, who: &AppleAccount) -> (FormPost, CompleteOAuthResponse) {
        let post = self.form_post(PROVIDER, who).await;
        let response = must(
            self.complete(PROVIDER, &post, post.user.as_deref().unwrap_or_default())
                .await,
            "complete oauth",
        );
        assert!(response.auth.is_some(), "tokens: {response:?}");
        (post, response)
    }

    async fn profile(&self, access_token: &str) -> Profile {
        must(
            self.latchd
                .profile()
                .get_profile(bearer(GetProfileRequest::default(), access_token))
                .await,
            "get profile",
        )
        .into_inner()
        .profile
        .expect("a profile")
    }

    async fn identity_count(&self, access_token: &str) -> usize {
        must(
            self.latchd
                .identity()
                .list_identities(bearer(ListIdentitiesRequest {}, access_token))
                .await,
            "list identities",
        )
        .into_inner()
        .identities
        .len()
    }
}

fn tokens(response: &CompleteOAuthResponse) -> &str {
    &response.auth.as_ref().expect("tokens").access_token
}

fn user_of(response: &CompleteOAuthResponse) -> &User {
    response.user.as_ref().expect("a user")
}

async fn a_new_user_keeps_the_name_apple_posts_on_the_first_sign_in(world: World) {
    let grace = account("001234.grace", "grace@privaterelay.appleid.com", true);
    let (post, response) = world.signed_in(&grace).await;

    let user = post
        .user
        .as_deref()
        .expect("Apple posts the user the first time");
    assert!(user.contains("Grace"), "{user}");
    assert!(
        response.user_created && !response.identity_linked,
        "{response:?}"
    );
    let created = user_of(&response);
    assert_eq!(created.email, "grace@privaterelay.appleid.com");
    assert!(created.email_verified, "\"true\" as a string is verified");
    let profile = world.profile(tokens(&response)).await;
    assert_eq!(
        (profile.first_name.as_str(), profile.last_name.as_str()),
        ("Grace", "Hopper"),
        "the name posted once is kept"
    );
    // The stand-in accepted Latch's client secret: the JWT it checked.
    assert_eq!(world.apple.accepted_client_secrets().len(), 1);
    assert_eq!(world.apple.refused_clients(), 0);
}

async fn a_returning_user_is_found_and_keeps_their_name(world: World) {
    let grace = account("001234.grace", "grace@example.com", true);
    let (_, first) = world.signed_in(&grace).await;
    let id = user_of(&first).id.clone();

    let post = world.form_post(PROVIDER, &grace).await;
    assert_eq!(post.user, None, "Apple posts the name only once");
    let again = must(world.complete(PROVIDER, &post, "").await, "complete");
    assert!(!again.user_created && !again.identity_linked, "{again:?}");
    assert_eq!(user_of(&again).id, id);
    // A `user` posted for an existing user (forged, or replayed) changes
    // nothing: names are only read when the user is created.
    let post = world.form_post(PROVIDER, &grace).await;
    let forged = r#"{"name":{"firstName":"Mallory","lastName":"Mallet"}}"#;
    let third = must(world.complete(PROVIDER, &post, forged).await, "complete");
    assert_eq!(user_of(&third).id, id);
    let profile = world.profile(tokens(&third)).await;
    assert_eq!(
        (profile.first_name.as_str(), profile.last_name.as_str()),
        ("Grace", "Hopper")
    );
    // Three token requests, one client secret: it is reused while fresh.
    let secrets = world.apple.accepted_client_secrets();
    assert_eq!(secrets.len(), 3);
    assert!(
        secrets.iter().all(|s| s == &secrets[0]),
        "one secret reused"
    );
}

async fn a_verified_apple_email_links_the_verified_account(world: World) {
    let password = world
        .latchd
        .verified_password_user(&world.smtp, "linus@example.com")
        .await;
    let linus = account("001234.linus", "linus@example.com", true);

    let (_, response) = world.signed_in(&linus).await;
    assert!(
        response.identity_linked && !response.user_created,
        "{response:?}"
    );
    assert_eq!(user_of(&response).id, password.user_id);
    assert_eq!(world.identity_count(&password.access_token).await, 1);
    // The account's own name stays: `user` names only a new user.
    let profile = world.profile(tokens(&response)).await;
    assert_eq!(
        (profile.first_name.as_str(), profile.last_name.as_str()),
        ("Ada", "Lovelace")
    );
}

async fn an_unverified_apple_email_never_reaches_an_account(world: World) {
    let password = world
        .latchd
        .verified_password_user(&world.smtp, "uma@example.com")
        .await;
    // email_verified: "false" (a string): must read as false.
    let uma = account("001234.uma", "uma@example.com", false);

    let post = world.form_post(PROVIDER, &uma).await;
    assert_refused(
        world
            .complete(PROVIDER, &post, post.user.as_deref().unwrap_or_default())
            .await,
        Code::AlreadyExists,
        "EMAIL_TAKEN",
    );
    assert_eq!(world.identity_count(&password.access_token).await, 0);

    // A new address the same way: a user whose email is not verified.
    let new = account("001234.nina", "nina@example.com", false);
    let (_, created) = world.signed_in(&new).await;
    assert!(created.user_created, "{created:?}");
    assert!(
        !user_of(&created).email_verified,
        "\"false\" is not verified"
    );
}

async fn a_malformed_user_field_is_refused_and_spends_nothing(world: World) {
    let ruth = account("001234.ruth", "ruth@example.com", true);
    let post = world.form_post(PROVIDER, &ruth).await;
    let user = post.user.clone().expect("first sign-in");

    for bad in ["{\"name\":", "\"Ruth\"", &"x".repeat(5000)] {
        let status = world
            .complete(PROVIDER, &post, bad)
            .await
            .expect_err("malformed");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(bad_field(&status).as_deref(), Some("provider_user_json"));
    }
    // The state and code were not spent: the proper POST still signs in.
    let response = must(world.complete(PROVIDER, &post, &user).await, "complete");
    assert!(response.user_created);
    let profile = world.profile(tokens(&response)).await;
    assert_eq!(profile.first_name, "Grace");
}

async fn a_client_secret_apple_refuses_is_refused_cleanly(world: World) {
    let alan = account("001234.alan", "alan@example.com", true);
    let post = world.form_post(WRONG_KID_PROVIDER, &alan).await;
    assert_refused(
        world
            .complete(
                WRONG_KID_PROVIDER,
                &post,
                post.user.as_deref().unwrap_or_default(),
            )
            .await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    assert_eq!(world.apple.refused_clients(), 1);
    assert!(world.apple.accepted_client_secrets().is_empty());

    // Nothing was created: the same account through the right key is new.
    let (_, response) = world.signed_in(&alan).await;
    assert!(response.user_created, "{response:?}");
}
