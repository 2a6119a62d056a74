//! Sign-in with GitHub, end to end: latchd on both backends configured
//! (`LATCH_OAUTH_PROVIDERS`, kind `github`, its endpoints pointed at the
//! stand-in) and the whole authorization-code + PKCE round trip each time:
//! StartOAuth, the browser at the stand-in's authorization page, then
//! CompleteOAuth (or LinkIdentity) with the code and state it sent back.
//! The stand-in (`latch_tests::github_standin`) answers as GitHub does:
//! the token endpoint's `200 {"error": ...}` refusals, `/user` and
//! `/user/emails` behind the bearer token. Refusals are asserted by status
//! and reason, and by what they did not change.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failing test should panic

use std::future::Future;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use latch_proto::latch::{
    common::v1::User,
    identity::v1::{
        CompleteOAuthRequest, CompleteOAuthResponse, Identity, LinkIdentityRequest,
        ListIdentitiesRequest, ListLoginHistoryRequest, LoginMethod, StartOAuthRequest,
        StartOAuthResponse,
    },
    profile::v1::GetProfileRequest,
};
use latch_runtime::config::MapSource;
use latch_testkit::SmtpSink;
use latch_tests::{
    Backend, TestLatchd, assert_refused, bad_field, bearer,
    github_standin::{GitHubEmail, GitHubStandIn, GitHubUser},
    must,
    oidc::Callback,
    start_with_mail,
};
use reqwest::Url;
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;
use tonic::{Code, Request, Status};

const CLIENT_ID: &str = "Iv1.latche2e";
const SECRET: &str = "latch-e2e-github-secret";
/// Never loaded: the stand-in's redirect to it is where the browser stops.
const REDIRECT_URI: &str = "http://127.0.0.1:9/oauth/github";
const PROVIDER: &str = "github";

/// The stand-in's accounts, by login.
const MONA: &str = "mona";
const MONA_ID: u64 = 583231;
/// Mona's primary address, verified, as GitHub may show its case.
const MONA_EMAIL: &str = "Mona@Example.com";
const HUBOT: &str = "hubot";
/// Primary address not verified; a verified secondary one.
const HUBOT_PRIMARY: &str = "hubot@example.com";
const HUBOT_SECONDARY: &str = "hubot@work.example";
const DEPENDABOT: &str = "dependabot";

latch_tests::e2e!(
    world = run;
    a_primary_verified_email_creates_a_user_then_finds_it,
    a_primary_verified_email_links_the_verified_password_account,
    no_primary_verified_email_creates_or_links_nothing,
    a_code_works_once,
    a_wrong_pkce_verifier_is_refused,
    a_github_outage_is_unavailable_and_creates_nothing,
    a_signed_in_user_links_a_github_account,
    without_the_email_scope_only_a_known_identity_signs_in,
);

/// latchd configured with the running stand-in, and its mail sink.
struct World {
    latchd: TestLatchd,
    github: GitHubStandIn,
    smtp: SmtpSink,
    _providers_file: NamedTempFile,
}

fn mona() -> GitHubUser {
    GitHubUser {
        id: MONA_ID,
        login: MONA.into(),
        name: Some("Mona Octocat".into()),
        emails: vec![
            GitHubEmail::new("mona@old.example", false, true),
            GitHubEmail::new(MONA_EMAIL, true, true),
        ],
    }
}

/// Starts the stand-in (its port is known only once it runs), then latchd
/// with a providers file naming its endpoints, and runs `scenario`.
async fn run<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(World) -> Fut,
    Fut: Future<Output = ()>,
{
    let github = GitHubStandIn::start(CLIENT_ID, SECRET, &[REDIRECT_URI]).await;
    github.add_user(mona());
    github.add_user(GitHubUser {
        id: 108_108,
        login: HUBOT.into(),
        name: None,
        emails: vec![
            GitHubEmail::new(HUBOT_PRIMARY, true, false),
            GitHubEmail::new(HUBOT_SECONDARY, false, true),
        ],
    });
    github.add_user(GitHubUser {
        id: 49_699_333,
        login: DEPENDABOT.into(),
        name: Some("Dependabot".into()),
        emails: vec![],
    });
    let providers_file = providers_file(&github);
    let settings = MapSource::new().with(
        "LATCH_OAUTH_PROVIDERS",
        providers_file.path().display().to_string(),
    );
    match start_with_mail(backend, settings).await {
        Some((latchd, smtp)) => {
            scenario(World {
                latchd,
                github,
                smtp,
                _providers_file: providers_file,
            })
            .await;
        }
        None => eprintln!("LATCH_TEST_DATABASE_URL unset: PostgreSQL + Redis run skipped"),
    }
}

/// The README's `github` example, its endpoints overridden to the stand-in.
fn providers_file(github: &GitHubStandIn) -> NamedTempFile {
    let text = format!(
        "[[provider]]\nname = \"{PROVIDER}\"\nkind = \"github\"\n\
         client_id = \"{CLIENT_ID}\"\nclient_secret = \"{SECRET}\"\n\
         redirect_uris = [\"{REDIRECT_URI}\"]\n\
         authorization_url = \"{}\"\ntoken_url = \"{}\"\napi_url = \"{}\"\n",
        github.authorization_url(),
        github.token_url(),
        github.api_url(),
    );
    let file = must(
        tempfile::Builder::new()
            .prefix("latch-github-providers-")
            .suffix(".toml")
            .tempfile_in(env!("CARGO_TARGET_TMPDIR")),
        "providers file",
    );
    must(std::fs::write(file.path(), text), "write providers file");
    file
}

impl World {
    async fn start_oauth(&self, access_token: Option<&str>) -> Result<StartOAuthResponse, Status> {
        let request = StartOAuthRequest {
            provider: PROVIDER.to_owned(),
            redirect_uri: REDIRECT_URI.to_owned(),
        };
        let request = match access_token {
            Some(token) => bearer(request, token),
            None => Request::new(request),
        };
        self.latchd
            .identity()
            .start_o_auth(request)
            .await
            .map(tonic::Response::into_inner)
    }

    /// StartOAuth, then `login`'s browser at the stand-in: where it was
    /// sent back.
    async fn callback_as(&self, login: &str, access_token: Option<&str>) -> Callback {
        let started = must(self.start_oauth(access_token).await, "start oauth");
        let callback = self.github.sign_in(&started.authorization_url, login).await;
        assert_eq!(callback.state, started.state, "GitHub echoes the state");
        assert_eq!(callback.redirect_uri(), REDIRECT_URI);
        callback
    }

    async fn complete(&self, code: &str, state: &str) -> Result<CompleteOAuthResponse, Status> {
        let request = CompleteOAuthRequest {
            provider: PROVIDER.to_owned(),
            code: code.to_owned(),
            state: state.to_owned(),
            ..Default::default()
        };
        self.latchd
            .identity()
            .complete_o_auth(request)
            .await
            .map(tonic::Response::into_inner)
    }

    /// The whole round trip as `login`, answered as it was.
    async fn sign_in(&self, login: &str) -> Result<CompleteOAuthResponse, Status> {
        let callback = self.callback_as(login, None).await;
        self.complete(&callback.code, &callback.state).await
    }

    /// The whole sign-in as `login`, which must succeed with tokens.
    async fn signed_in_as(&self, login: &str) -> CompleteOAuthResponse {
        let response = must(self.sign_in(login).await, "complete oauth");
        assert!(response.second_factor.is_none());
        assert!(response.auth.is_some(), "tokens: {response:?}");
        response
    }

    async fn identities(&self, access_token: &str) -> Vec<Identity> {
        let request = bearer(ListIdentitiesRequest {}, access_token);
        must(
            self.latchd.identity().list_identities(request).await,
            "list identities",
        )
        .into_inner()
        .identities
    }

    /// The caller's sign-ins: (method name, method, success).
    async fn history(&self, access_token: &str) -> Vec<(String, LoginMethod, bool)> {
        let request = ListLoginHistoryRequest {
            user_id: String::new(),
            page_size: 50,
            page_token: String::new(),
        };
        must(
            self.latchd
                .identity()
                .list_login_history(bearer(request, access_token))
                .await,
            "login history",
        )
        .into_inner()
        .entries
        .into_iter()
        .map(|e| (e.method_name.clone(), e.method(), e.success))
        .collect()
    }
}

fn tokens(response: &CompleteOAuthResponse) -> &str {
    &response.auth.as_ref().expect("tokens").access_token
}

fn user_of(response: &CompleteOAuthResponse) -> &User {
    response.user.as_ref().expect("a user")
}

async fn a_primary_verified_email_creates_a_user_then_finds_it(world: World) {
    let first = world.signed_in_as(MONA).await;
    assert!(first.user_created && !first.identity_linked, "{first:?}");
    let created = user_of(&first).clone();
    // The primary verified address, never the other verified one.
    assert_eq!(created.email, "mona@example.com");
    assert!(created.email_verified, "GitHub verified it");
    let me = world.latchd.me(tokens(&first)).await;
    assert_eq!(
        (me.id.as_str(), me.email_verified),
        (created.id.as_str(), true)
    );

    // The subject is the numeric id (a login can be renamed).
    let listed = world.identities(tokens(&first)).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (
            listed[0].provider.as_str(),
            listed[0].subject.as_str(),
            listed[0].email.as_str()
        ),
        (PROVIDER, MONA_ID.to_string().as_str(), "mona@example.com")
    );
    // The profile's names from GitHub's `name`.
    let profile = must(
        world
            .latchd
            .profile()
            .get_profile(bearer(GetProfileRequest::default(), tokens(&first)))
            .await,
        "profile",
    )
    .into_inner()
    .profile
    .expect("a profile");
    assert_eq!(
        (profile.first_name.as_str(), profile.last_name.as_str()),
        ("Mona", "Octocat")
    );

    // Renamed, with a new primary address: still found by the id.
    world.github.add_user(GitHubUser {
        login: "mona-renamed".into(),
        emails: vec![GitHubEmail::new("mona@new.example", true, false)],
        ..mona()
    });
    let again = world.signed_in_as("mona-renamed").await;
    assert!(!again.user_created && !again.identity_linked, "{again:?}");
    assert_eq!(user_of(&again).id, created.id);
    assert_eq!(
        world.latchd.me(tokens(&again)).await.email,
        "mona@example.com"
    );

    let history = world.history(tokens(&again)).await;
    assert_eq!(history.len(), 2, "{history:?}");
    for entry in history {
        assert_eq!(entry, ("oauth:github".to_owned(), LoginMethod::Oauth, true));
    }
}

async fn a_primary_verified_email_links_the_verified_password_account(world: World) {
    let password = world
        .latchd
        .verified_password_user(&world.smtp, "mona@example.com")
        .await;

    let linked = world.signed_in_as(MONA).await;
    assert!(linked.identity_linked && !linked.user_created, "{linked:?}");
    assert_eq!(user_of(&linked).id, password.user_id);
    let listed = world.identities(&password.access_token).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].subject, MONA_ID.to_string());

    // Next time simply found; the password still works.
    let again = world.signed_in_as(MONA).await;
    assert!(!again.identity_linked && !again.user_created, "{again:?}");
    assert_eq!(user_of(&again).id, password.user_id);
    assert_eq!(
        world.latchd.login("mona@example.com").await.user_id,
        password.user_id
    );
}

async fn no_primary_verified_email_creates_or_links_nothing(world: World) {
    // Accounts at Latch, verified, for both of hubot's addresses: the
    // unverified primary and the verified secondary one.
    let primary = world
        .latchd
        .verified_password_user(&world.smtp, HUBOT_PRIMARY)
        .await;
    let secondary = world
        .latchd
        .verified_password_user(&world.smtp, HUBOT_SECONDARY)
        .await;

    // GitHub gives Latch no address it may use: no link, no new user.
    for login in [HUBOT, DEPENDABOT] {
        let refused = world.sign_in(login).await;
        assert_eq!(
            bad_field(refused.as_ref().unwrap_err()).as_deref(),
            Some("code"),
            "{login}"
        );
        assert_refused(refused, Code::InvalidArgument, "INVALID_ARGUMENT");
    }
    assert!(world.identities(&primary.access_token).await.is_empty());
    assert!(world.identities(&secondary.access_token).await.is_empty());

    // Once GitHub verified hubot's primary address, hubot links to it: the
    // refusals left nothing behind under hubot's id.
    world.github.add_user(GitHubUser {
        id: 108_108,
        login: HUBOT.into(),
        name: None,
        emails: vec![
            GitHubEmail::new(HUBOT_PRIMARY, true, true),
            GitHubEmail::new(HUBOT_SECONDARY, false, true),
        ],
    });
    let hubot = world.signed_in_as(HUBOT).await;
    assert!(hubot.identity_linked && !hubot.user_created, "{hubot:?}");
    assert_eq!(user_of(&hubot).id, primary.user_id);
    assert!(world.identities(&secondary.access_token).await.is_empty());
}

async fn a_code_works_once(world: World) {
    let callback = world.callback_as(MONA, None).await;
    let first = must(
        world.complete(&callback.code, &callback.state).await,
        "complete",
    );
    assert!(first.user_created);
    // The state is single use, so the spent code comes with a fresh one:
    // GitHub answers `200 {"error": "bad_verification_code"}`.
    let fresh = must(world.start_oauth(None).await, "start");
    let refused = world.complete(&callback.code, &fresh.state).await;
    let status = refused.as_ref().unwrap_err().clone();
    assert_refused(refused, Code::Unauthenticated, "INVALID_CREDENTIALS");
    assert!(
        !status.message().contains(&callback.code),
        "no code in the error: {status:?}"
    );
    let again = world.signed_in_as(MONA).await;
    assert!(!again.user_created && !again.identity_linked, "{again:?}");
    assert_eq!(user_of(&again).id, user_of(&first).id);
    assert_eq!(world.identities(tokens(&again)).await.len(), 1);
}

async fn a_wrong_pkce_verifier_is_refused(world: World) {
    let started = must(world.start_oauth(None).await, "start");
    let url = Url::parse(&started.authorization_url).unwrap();
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param("client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(param("scope").as_deref(), Some("read:user user:email"));
    // The challenge swapped for one of an attacker's verifier (an injected
    // request): the code is bound to it, and Latch's verifier fails.
    let theirs = URL_SAFE_NO_PAD.encode(Sha256::digest(b"an attacker's own verifier, 43+ chars"));
    let tampered =
        latch_tests::replacing_query(&started.authorization_url, "code_challenge", &theirs);
    let callback = world.github.sign_in(&tampered, MONA).await;
    assert_eq!(callback.state, started.state);
    assert_refused(
        world.complete(&callback.code, &callback.state).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    let mona = world.signed_in_as(MONA).await;
    assert!(mona.user_created, "the refusal created no user: {mona:?}");
}

async fn a_github_outage_is_unavailable_and_creates_nothing(mut world: World) {
    // Down between the browser's return and CompleteOAuth.
    let callback = world.callback_as(MONA, None).await;
    world.github.stop().await;
    assert_refused(
        world.complete(&callback.code, &callback.state).await,
        Code::Unavailable,
        "UNAVAILABLE",
    );
    // Starting needs nothing from GitHub (no discovery): it still works.
    let started = must(world.start_oauth(None).await, "start while down");

    world.github.restart().await;
    // The state of the refused return was spent; one started during the
    // outage finishes now.
    let callback = world.github.sign_in(&started.authorization_url, MONA).await;
    let mona = must(
        world.complete(&callback.code, &callback.state).await,
        "complete",
    );
    assert!(mona.user_created, "the refusal created nothing: {mona:?}");
}

async fn a_signed_in_user_links_a_github_account(world: World) {
    // A password account of another address, its email never verified.
    let ada = world.latchd.signed_up("ada@example.com").await;
    let callback = world.callback_as(MONA, Some(&ada.access_token)).await;
    let request = LinkIdentityRequest {
        provider: PROVIDER.to_owned(),
        code: callback.code.clone(),
        state: callback.state.clone(),
    };
    let linked = must(
        world
            .latchd
            .identity()
            .link_identity(bearer(request, &ada.access_token))
            .await,
        "link",
    )
    .into_inner()
    .identity
    .expect("an identity");
    assert_eq!(
        (linked.subject.as_str(), linked.email.as_str()),
        (MONA_ID.to_string().as_str(), "mona@example.com")
    );
    // GitHub now signs Ada in.
    let signed_in = world.signed_in_as(MONA).await;
    assert!(!signed_in.user_created && !signed_in.identity_linked);
    assert_eq!(user_of(&signed_in).id, ada.user_id);
    assert_eq!(world.identities(&ada.access_token).await, vec![linked]);
}

async fn without_the_email_scope_only_a_known_identity_signs_in(world: World) {
    let first = world.signed_in_as(MONA).await;
    assert!(first.user_created);
    // The request as Latch built it, asking `read:user` only (as when the
    // user declines the rest): GitHub then hides `/user/emails` (404).
    let read_user_only = |url: &str| latch_tests::replacing_query(url, "scope", "read:user");

    // Mona is known by her id: signed in, no address needed.
    let started = must(world.start_oauth(None).await, "start");
    let callback = world
        .github
        .sign_in(&read_user_only(&started.authorization_url), MONA)
        .await;
    let again = must(
        world.complete(&callback.code, &callback.state).await,
        "complete",
    );
    assert!(!again.user_created && !again.identity_linked, "{again:?}");
    assert_eq!(user_of(&again).id, user_of(&first).id);

    // A new identity without an address is refused, and nothing is made.
    world.github.add_user(GitHubUser {
        id: 9_919,
        login: "octo".into(),
        name: None,
        emails: vec![GitHubEmail::new("octo@example.com", true, true)],
    });
    let started = must(world.start_oauth(None).await, "start");
    let callback = world
        .github
        .sign_in(&read_user_only(&started.authorization_url), "octo")
        .await;
    assert_refused(
        world.complete(&callback.code, &callback.state).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    let octo = world.signed_in_as("octo").await;
    assert!(octo.user_created, "the refusal created nothing: {octo:?}");
    assert_eq!(user_of(&octo).email, "octo@example.com");
}
