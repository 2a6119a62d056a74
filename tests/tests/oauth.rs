//! Sign-in with an OpenID Connect provider, end to end: latchd on both
//! backends configured (`LATCH_OAUTH_PROVIDERS`) with the real test
//! provider (`latch_tests::oidc`), and the whole authorization-code + PKCE
//! round trip each time: StartOAuth, the browser through the provider's
//! login and consent forms, CompleteOAuth (or LinkIdentity) with the code
//! and state the provider sent back. Refusals are asserted by status and
//! reason, and by what they did not change.
//!
//! Another audience: the provider also serves a second application
//! (`oidc::SECOND_CLIENT_ID`); a code it issued to that application and
//! injected into Latch's round trip is refused. An ID token signed for
//! another audience and handed to Latch's own exchange cannot be had from
//! an honest provider without forging one, which these tests do not do;
//! openidconnect checks `aud`/`azp` on every token Latch accepts.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failing test should panic

use std::{future::Future, time::Duration};

use latch_proto::latch::{
    common::v1::User,
    identity::v1::{
        CompleteOAuthRequest, CompleteOAuthResponse, Identity, LinkIdentityRequest,
        ListIdentitiesRequest, StartOAuthRequest, StartOAuthResponse, UnlinkIdentityRequest,
    },
};
use latch_runtime::config::MapSource;
use latch_testkit::SmtpSink;
use latch_tests::{
    Backend, TestLatchd, assert_refused, bad_field, bearer, must,
    oidc::{
        Callback, OidcProvider, SECOND_CLIENT_ID, SECOND_EMAIL, SECOND_USER, UNVERIFIED_EMAIL,
        UNVERIFIED_USER, VERIFIED_EMAIL, VERIFIED_USER,
    },
    reason, start_with_mail,
};
use tempfile::NamedTempFile;
use tonic::{Code, Request, Status};

const CLIENT_ID: &str = "latch-e2e";
const SECRET: &str = "latch-e2e-client-secret";
/// Never loaded: the provider's redirect to it is where the browser stops.
const REDIRECT_URI: &str = "http://127.0.0.1:9/oauth/callback";
const OTHER_REDIRECT_URI: &str = "http://127.0.0.1:9/other/callback";
/// Two names for the one client of the one provider: a state started with
/// one must not finish with the other.
const PROVIDER: &str = "corp";
const OTHER_PROVIDER: &str = "corp-b";

latch_tests::e2e!(
    world = run;
    a_new_identity_creates_a_user_then_signs_it_in,
    a_verified_provider_email_links_the_verified_account,
    an_unverified_provider_email_never_reaches_an_account,
    an_account_that_never_proved_its_email_is_not_linked,
    a_state_works_once_and_only_where_it_was_started,
    a_spent_code_is_refused_by_the_provider,
    a_nonce_latch_did_not_issue_is_refused,
    a_code_for_another_application_is_refused,
    a_provider_outage_is_unavailable_until_it_returns,
    a_signed_in_user_links_an_identity_no_one_else_holds,
    a_link_needs_a_state_its_own_user_started,
    a_user_with_a_password_may_unlink_an_identity,
    the_last_way_in_cannot_be_unlinked,
    a_second_identity_makes_the_first_removable,
);

/// latchd configured with the running provider, and its mail sink.
struct World {
    latchd: TestLatchd,
    provider: OidcProvider,
    smtp: SmtpSink,
    backend: Backend,
    providers_file: NamedTempFile,
}

/// Starts the provider, then latchd with a providers file naming its
/// issuer (known only once it runs), and runs `scenario`.
async fn run<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(World) -> Fut,
    Fut: Future<Output = ()>,
{
    let provider =
        OidcProvider::start(CLIENT_ID, SECRET, &[REDIRECT_URI, OTHER_REDIRECT_URI]).await;
    let providers_file = providers_file(provider.issuer());
    match start_with_mail(backend, settings(&providers_file)).await {
        Some((latchd, smtp)) => {
            scenario(World {
                latchd,
                provider,
                smtp,
                backend,
                providers_file,
            })
            .await;
        }
        None => eprintln!("LATCH_TEST_DATABASE_URL unset: PostgreSQL + Redis run skipped"),
    }
}

fn providers_file(issuer: &str) -> NamedTempFile {
    let mut text = String::new();
    for name in [PROVIDER, OTHER_PROVIDER] {
        text.push_str(&format!(
            "[[provider]]\nname = \"{name}\"\nkind = \"oidc\"\nissuer = \"{issuer}\"\n\
             client_id = \"{CLIENT_ID}\"\nclient_secret = \"{SECRET}\"\n\
             redirect_uris = [\"{REDIRECT_URI}\", \"{OTHER_REDIRECT_URI}\"]\n\n"
        ));
    }
    let file = must(
        tempfile::Builder::new()
            .prefix("latch-oauth-providers-")
            .suffix(".toml")
            .tempfile_in(env!("CARGO_TARGET_TMPDIR")),
        "providers file",
    );
    must(std::fs::write(file.path(), text), "write providers file");
    file
}

fn settings(providers_file: &NamedTempFile) -> MapSource {
    MapSource::new().with(
        "LATCH_OAUTH_PROVIDERS",
        providers_file.path().display().to_string(),
    )
}

/// `message`, with the user's bearer token when there is one.
fn as_caller<T>(message: T, access_token: Option<&str>) -> Request<T> {
    match access_token {
        Some(token) => bearer(message, token),
        None => Request::new(message),
    }
}

impl World {
    async fn start_oauth(
        &self,
        provider: &str,
        redirect_uri: &str,
        access_token: Option<&str>,
    ) -> Result<StartOAuthResponse, Status> {
        let request = StartOAuthRequest {
            provider: provider.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
        };
        self.latchd
            .identity()
            .start_o_auth(as_caller(request, access_token))
            .await
            .map(tonic::Response::into_inner)
    }

    /// StartOAuth at `provider`, then `login` through the provider's forms:
    /// where the provider sent the browser back.
    async fn round_trip(
        &self,
        provider: &str,
        redirect_uri: &str,
        login: &str,
        access_token: Option<&str>,
    ) -> Callback {
        let started = must(
            self.start_oauth(provider, redirect_uri, access_token).await,
            "start oauth",
        );
        let callback = self
            .provider
            .sign_in(&started.authorization_url, login)
            .await;
        assert_eq!(
            callback.state, started.state,
            "the provider echoes the state"
        );
        assert_eq!(callback.redirect_uri(), redirect_uri);
        callback
    }

    /// A round trip at [`PROVIDER`] back to [`REDIRECT_URI`].
    async fn callback(&self, login: &str) -> Callback {
        self.round_trip(PROVIDER, REDIRECT_URI, login, None).await
    }

    async fn complete(
        &self,
        provider: &str,
        code: &str,
        state: &str,
    ) -> Result<CompleteOAuthResponse, Status> {
        let request = CompleteOAuthRequest {
            provider: provider.to_owned(),
            code: code.to_owned(),
            state: state.to_owned(),
            client: None,
            provider_user_json: String::new(),
        };
        self.latchd
            .identity()
            .complete_o_auth(request)
            .await
            .map(tonic::Response::into_inner)
    }

    /// The whole sign-in as `login`, which must succeed with tokens.
    async fn signed_in_as(&self, login: &str) -> CompleteOAuthResponse {
        let callback = self.callback(login).await;
        let response = must(
            self.complete(PROVIDER, &callback.code, &callback.state)
                .await,
            "complete oauth",
        );
        assert!(response.second_factor.is_none());
        assert!(response.auth.is_some(), "tokens: {response:?}");
        response
    }

    async fn link(
        &self,
        provider: &str,
        callback: &Callback,
        access_token: &str,
    ) -> Result<Identity, Status> {
        let request = LinkIdentityRequest {
            provider: provider.to_owned(),
            code: callback.code.clone(),
            state: callback.state.clone(),
        };
        self.latchd
            .identity()
            .link_identity(bearer(request, access_token))
            .await
            .map(|r| r.into_inner().identity.expect("an identity"))
    }

    async fn unlink(&self, identity_id: &str, access_token: &str) -> Result<(), Status> {
        let request = UnlinkIdentityRequest {
            identity_id: identity_id.to_owned(),
        };
        self.latchd
            .identity()
            .unlink_identity(bearer(request, access_token))
            .await
            .map(drop)
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
}

fn tokens(response: &CompleteOAuthResponse) -> &str {
    &response.auth.as_ref().expect("tokens").access_token
}

fn user_of(response: &CompleteOAuthResponse) -> &User {
    response.user.as_ref().expect("a user")
}

async fn a_new_identity_creates_a_user_then_signs_it_in(world: World) {
    let first = world.signed_in_as("carol").await;
    assert!(first.user_created && !first.identity_linked, "{first:?}");
    let carol = user_of(&first).clone();
    assert_eq!(carol.email, "carol@example.com");
    assert!(carol.email_verified, "the provider said it is verified");

    // The tokens are Latch's own and work on a user RPC.
    let me = world.latchd.me(tokens(&first)).await;
    assert_eq!(me.id, carol.id);
    assert_eq!(first.auth.as_ref().unwrap().user_id, carol.id);
    assert!(me.email_verified);

    let listed = world.identities(tokens(&first)).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (
            listed[0].provider.as_str(),
            listed[0].subject.as_str(),
            listed[0].email.as_str()
        ),
        (PROVIDER, "carol", "carol@example.com")
    );

    // The same identity again: found, not created nor linked anew.
    let again = world.signed_in_as("carol").await;
    assert!(!again.user_created && !again.identity_linked, "{again:?}");
    assert_eq!(user_of(&again).id, carol.id);
    assert_ne!(
        again.auth.as_ref().unwrap().session_id,
        first.auth.as_ref().unwrap().session_id,
        "a sign-in is a new session"
    );
    assert_eq!(world.identities(tokens(&again)).await, listed);

    // An email the provider did not verify stays unverified at Latch.
    let dan = world.signed_in_as("unverified-dan").await;
    assert!(dan.user_created);
    assert_ne!(user_of(&dan).id, carol.id);
    let me = world.latchd.me(tokens(&dan)).await;
    assert_eq!(me.email, "unverified-dan@example.com");
    assert!(!me.email_verified, "the provider said it is not verified");
}

async fn a_verified_provider_email_links_the_verified_account(world: World) {
    let password = world
        .latchd
        .verified_password_user(&world.smtp, VERIFIED_EMAIL)
        .await;

    let response = world.signed_in_as(VERIFIED_USER).await;
    assert!(
        response.identity_linked && !response.user_created,
        "{response:?}"
    );
    assert_eq!(user_of(&response).id, password.user_id);
    assert_eq!(
        world.latchd.me(tokens(&response)).await.id,
        password.user_id
    );
    let listed = world.identities(&password.access_token).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (listed[0].subject.as_str(), listed[0].email.as_str()),
        (VERIFIED_USER, VERIFIED_EMAIL)
    );

    // Next time the identity is simply found; the password still works.
    let again = world.signed_in_as(VERIFIED_USER).await;
    assert!(!again.identity_linked && !again.user_created, "{again:?}");
    assert_eq!(user_of(&again).id, password.user_id);
    assert_eq!(
        world.latchd.login(VERIFIED_EMAIL).await.user_id,
        password.user_id
    );
}

async fn an_unverified_provider_email_never_reaches_an_account(world: World) {
    // Verified at Latch: only the provider's unverified claim is missing.
    let password = world
        .latchd
        .verified_password_user(&world.smtp, UNVERIFIED_EMAIL)
        .await;

    for _ in 0..2 {
        let callback = world.callback(UNVERIFIED_USER).await;
        assert_refused(
            world
                .complete(PROVIDER, &callback.code, &callback.state)
                .await,
            Code::AlreadyExists,
            "EMAIL_TAKEN",
        );
    }
    assert!(world.identities(&password.access_token).await.is_empty());
    let me = world.latchd.me(&password.access_token).await;
    assert_eq!(
        (me.id.as_str(), me.email.as_str()),
        (password.user_id.as_str(), UNVERIFIED_EMAIL)
    );
    assert_eq!(
        world.latchd.login(UNVERIFIED_EMAIL).await.user_id,
        password.user_id
    );
}

async fn an_account_that_never_proved_its_email_is_not_linked(world: World) {
    // Whoever signed up with the address never proved it: the provider's
    // verified claim must not hand them (or take from them) the account.
    let password = world.latchd.signed_up(VERIFIED_EMAIL).await;
    let callback = world.callback(VERIFIED_USER).await;
    assert_refused(
        world
            .complete(PROVIDER, &callback.code, &callback.state)
            .await,
        Code::AlreadyExists,
        "EMAIL_TAKEN",
    );
    assert!(world.identities(&password.access_token).await.is_empty());
    assert!(!world.latchd.me(&password.access_token).await.email_verified);
}

async fn a_state_works_once_and_only_where_it_was_started(world: World) {
    // StartOAuth's own refusals.
    let unknown = world.start_oauth("nope", REDIRECT_URI, None).await;
    let status = unknown.as_ref().unwrap_err();
    assert_eq!(bad_field(status).as_deref(), Some("provider"));
    assert_refused(unknown, Code::InvalidArgument, "INVALID_ARGUMENT");
    let elsewhere = world
        .start_oauth(PROVIDER, "http://127.0.0.1:9/evil", None)
        .await;
    assert_eq!(
        bad_field(elsewhere.as_ref().unwrap_err()).as_deref(),
        Some("redirect_uri")
    );
    assert_refused(elsewhere, Code::InvalidArgument, "INVALID_ARGUMENT");

    // A state Latch never handed out.
    let callback = world.callback("erin").await;
    assert_refused(
        world
            .complete(PROVIDER, &callback.code, "not-a-state")
            .await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
    // Used once, refused after.
    let signed_in = must(
        world
            .complete(PROVIDER, &callback.code, &callback.state)
            .await,
        "complete",
    );
    assert!(signed_in.user_created);
    assert_refused(
        world
            .complete(PROVIDER, &callback.code, &callback.state)
            .await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );

    // A state started with another provider name: refused, and spent.
    let other = world
        .round_trip(OTHER_PROVIDER, REDIRECT_URI, "frank", None)
        .await;
    assert_refused(
        world.complete(PROVIDER, &other.code, &other.state).await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
    assert_refused(
        world
            .complete(OTHER_PROVIDER, &other.code, &other.state)
            .await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );

    // A code sent to another redirect URI, with a state bound to this one:
    // the exchange names the state's redirect URI and PKCE verifier, and
    // the provider refuses the code.
    let to_other = world
        .round_trip(PROVIDER, OTHER_REDIRECT_URI, "frank", None)
        .await;
    let here = must(
        world.start_oauth(PROVIDER, REDIRECT_URI, None).await,
        "start",
    );
    assert_refused(
        world.complete(PROVIDER, &to_other.code, &here.state).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );

    // None of it made frank an account.
    let frank = world.signed_in_as("frank").await;
    assert!(frank.user_created, "{frank:?}");
    assert_eq!(world.identities(tokens(&frank)).await.len(), 1);
}

async fn a_spent_code_is_refused_by_the_provider(world: World) {
    let callback = world.callback("gail").await;
    let first = must(
        world
            .complete(PROVIDER, &callback.code, &callback.state)
            .await,
        "complete",
    );
    // The state is single use, so the spent code comes with a fresh one
    // (whose PKCE verifier is not the code's either: the provider refuses
    // on both counts).
    let fresh = must(
        world.start_oauth(PROVIDER, REDIRECT_URI, None).await,
        "start",
    );
    let refused = world.complete(PROVIDER, &callback.code, &fresh.state).await;
    let status = refused.as_ref().unwrap_err().clone();
    assert_refused(refused, Code::Unauthenticated, "INVALID_CREDENTIALS");
    assert!(
        !status.message().contains(&callback.code),
        "no code in the error: {status:?}"
    );
    let listed = world.identities(tokens(&first)).await;
    assert_eq!(listed.len(), 1);
    let again = world.signed_in_as("gail").await;
    assert!(!again.user_created && !again.identity_linked);
    assert_eq!(user_of(&again).id, user_of(&first).id);
}

async fn a_nonce_latch_did_not_issue_is_refused(world: World) {
    // The authorization request as Latch built it, with its nonce swapped
    // (an injected request): the provider's real ID token then carries a
    // nonce Latch never issued, while state and PKCE are Latch's own.
    let started = must(
        world.start_oauth(PROVIDER, REDIRECT_URI, None).await,
        "start",
    );
    let url = latch_tests::replacing_query(
        &started.authorization_url,
        "nonce",
        "a-nonce-latch-never-issued",
    );
    let callback = world.provider.sign_in(&url, "hana").await;
    assert_eq!(callback.state, started.state);
    assert_refused(
        world
            .complete(PROVIDER, &callback.code, &callback.state)
            .await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    let hana = world.signed_in_as("hana").await;
    assert!(hana.user_created, "the refusal created no user: {hana:?}");
}

async fn a_code_for_another_application_is_refused(world: World) {
    // Latch's own request, sent as another application of the same
    // provider (an injected code): the provider issues that application a
    // real code, for its audience, and Latch must not sign anyone in with it.
    let started = must(
        world.start_oauth(PROVIDER, REDIRECT_URI, None).await,
        "start",
    );
    assert!(
        started
            .authorization_url
            .contains(&format!("client_id={CLIENT_ID}")),
        "Latch asks as its own client"
    );
    let url =
        latch_tests::replacing_query(&started.authorization_url, "client_id", SECOND_CLIENT_ID);
    let callback = world.provider.sign_in(&url, "jun").await;
    assert_eq!(callback.state, started.state);
    assert_refused(
        world
            .complete(PROVIDER, &callback.code, &callback.state)
            .await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    let jun = world.signed_in_as("jun").await;
    assert!(jun.user_created, "the refusal created no user: {jun:?}");
}

async fn a_provider_outage_is_unavailable_until_it_returns(mut world: World) {
    // Down between the browser's return and CompleteOAuth.
    let callback = world.callback("ivan").await;
    world.provider.stop();
    assert_refused(
        world
            .complete(PROVIDER, &callback.code, &callback.state)
            .await,
        Code::Unavailable,
        "UNAVAILABLE",
    );

    // Up again, with new signing keys: a new round trip works, and the
    // refused one created nothing.
    world.provider.restart().await;
    let ivan = world.signed_in_as("ivan").await;
    assert!(ivan.user_created, "{ivan:?}");

    // Down when a latchd starts: it never saw the discovery document, so
    // StartOAuth is unavailable until the provider is back.
    world.provider.stop();
    let latchd = TestLatchd::start_with(world.backend, settings(&world.providers_file))
        .await
        .expect("the backend ran already");
    let world = World { latchd, ..world };
    assert_refused(
        world.start_oauth(PROVIDER, REDIRECT_URI, None).await,
        Code::Unavailable,
        "UNAVAILABLE",
    );
    let mut world = world;
    world.provider.restart().await;
    // Discovery is retried on use, within a backoff (1 s, doubling).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match world.start_oauth(PROVIDER, REDIRECT_URI, None).await {
            Ok(_) => break,
            Err(status) if status.code() == Code::Unavailable => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "still unavailable: {status:?}"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(status) => panic!("{}: {status:?}", reason(&status)),
        }
    }
    let ivan_here = world.signed_in_as("ivan").await;
    assert!(ivan_here.user_created, "a new latchd, a new database");
}

async fn a_signed_in_user_links_an_identity_no_one_else_holds(world: World) {
    let ada = world.latchd.signed_up("ada@example.com").await;
    let callback = world
        .round_trip(PROVIDER, REDIRECT_URI, SECOND_USER, Some(&ada.access_token))
        .await;
    let linked = must(
        world.link(PROVIDER, &callback, &ada.access_token).await,
        "link",
    );
    assert_eq!(
        (
            linked.provider.as_str(),
            linked.subject.as_str(),
            linked.email.as_str()
        ),
        (PROVIDER, SECOND_USER, SECOND_EMAIL)
    );
    assert_eq!(
        world.identities(&ada.access_token).await,
        vec![linked.clone()]
    );

    // The identity now signs Ada in.
    let signed_in = world.signed_in_as(SECOND_USER).await;
    assert!(!signed_in.user_created && !signed_in.identity_linked);
    assert_eq!(user_of(&signed_in).id, ada.user_id);

    // Bob cannot take it.
    let bob = world.latchd.signed_up("bob@example.com").await;
    let callback = world
        .round_trip(PROVIDER, REDIRECT_URI, SECOND_USER, Some(&bob.access_token))
        .await;
    assert_refused(
        world.link(PROVIDER, &callback, &bob.access_token).await,
        Code::AlreadyExists,
        "ALREADY_EXISTS",
    );
    assert!(world.identities(&bob.access_token).await.is_empty());
    assert_eq!(world.identities(&ada.access_token).await, vec![linked]);
}

async fn a_link_needs_a_state_its_own_user_started(world: World) {
    let ada = world.latchd.signed_up("ada@example.com").await;
    let bob = world.latchd.signed_up("bob@example.com").await;
    // Started without a bearer token: a sign-in's state, not a link's.
    let anonymous = world.callback("juno").await;
    assert_refused(
        world.link(PROVIDER, &anonymous, &ada.access_token).await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
    // Started by Bob: planted in Ada's browser, it must not link to her.
    let bobs = world
        .round_trip(PROVIDER, REDIRECT_URI, "juno", Some(&bob.access_token))
        .await;
    assert_refused(
        world.link(PROVIDER, &bobs, &ada.access_token).await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
    assert!(world.identities(&ada.access_token).await.is_empty());
    assert!(world.identities(&bob.access_token).await.is_empty());
    // Nothing was created for juno either.
    let juno = world.signed_in_as("juno").await;
    assert!(juno.user_created, "{juno:?}");
}

async fn a_user_with_a_password_may_unlink_an_identity(world: World) {
    // Linked by verified email: no LinkIdentity needed.
    let vera = world
        .latchd
        .verified_password_user(&world.smtp, VERIFIED_EMAIL)
        .await;
    let linked = world.signed_in_as(VERIFIED_USER).await;
    assert!(linked.identity_linked);
    let listed = world.identities(&vera.access_token).await;
    assert_eq!(listed.len(), 1);

    let other = world.signed_in_as("lena").await;
    assert_refused(
        world.unlink(&listed[0].id, tokens(&other)).await,
        Code::NotFound,
        "NOT_FOUND",
    );
    assert_refused(
        world.unlink("not-an-id", &vera.access_token).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(world.identities(&vera.access_token).await, listed);

    must(
        world.unlink(&listed[0].id, &vera.access_token).await,
        "unlink",
    );
    assert!(world.identities(&vera.access_token).await.is_empty());
    assert_refused(
        world.unlink(&listed[0].id, &vera.access_token).await,
        Code::NotFound,
        "NOT_FOUND",
    );
    // The password still signs Vera in.
    assert_eq!(
        world.latchd.login(VERIFIED_EMAIL).await.user_id,
        vera.user_id
    );
}

async fn the_last_way_in_cannot_be_unlinked(world: World) {
    let created = world.signed_in_as("kim").await;
    assert!(created.user_created);
    let token = tokens(&created);
    let only = world.identities(token).await;
    assert_eq!(only.len(), 1);
    assert_refused(
        world.unlink(&only[0].id, token).await,
        Code::FailedPrecondition,
        "LAST_SIGN_IN_METHOD",
    );
    assert_eq!(world.identities(token).await, only);
    let again = world.signed_in_as("kim").await;
    assert_eq!(user_of(&again).id, user_of(&created).id);
}

async fn a_second_identity_makes_the_first_removable(world: World) {
    let created = world.signed_in_as("kim").await;
    let token = tokens(&created).to_owned();
    let first = world.identities(&token).await;
    assert_eq!(first.len(), 1);
    // Linked under the other provider name: another identity of kim's.
    let callback = world
        .round_trip(OTHER_PROVIDER, REDIRECT_URI, "kim", Some(&token))
        .await;
    let second = must(world.link(OTHER_PROVIDER, &callback, &token).await, "link");
    assert_eq!(world.identities(&token).await.len(), 2);
    must(world.unlink(&first[0].id, &token).await, "unlink");
    assert_refused(
        world.unlink(&second.id, &token).await,
        Code::FailedPrecondition,
        "LAST_SIGN_IN_METHOD",
    );
    assert_eq!(world.identities(&token).await, vec![second]);

    // Signing in through the other name reaches kim.
    let callback = world
        .round_trip(OTHER_PROVIDER, REDIRECT_URI, "kim", None)
        .await;
    let again = must(
        world
            .complete(OTHER_PROVIDER, &callback.code, &callback.state)
            .await,
        "complete",
    );
    assert_eq!(user_of(&again).id, user_of(&created).id);
}

/// A measurement, not a check: how long CompleteOAuth spends outside the
/// provider's round trip (the flow's `oauth sign-in completed` event
/// splits the two), over returning sign-ins on each backend. Run by hand:
/// `cargo test --release -p latch-tests --test oauth -- --ignored --nocapture time_outside_the_provider`.
#[tokio::test(flavor = "current_thread")]
#[ignore = "a measurement, printed; run by hand"]
async fn time_outside_the_provider() {
    // Current-thread: the capture sees every task of latchd in this test.
    let logs = latch_testkit::LogCapture::default();
    let _guard = logs.install();
    for backend in [Backend::Embedded, Backend::PostgresRedis] {
        let before = logs.text().len();
        run(backend, |world| async move {
            for _ in 0..30 {
                world.signed_in_as("carol").await;
            }
        })
        .await;
        let text = logs.text().split_off(before);
        let mut provider: Vec<u64> = Vec::new();
        let mut latch: Vec<u64> = Vec::new();
        for line in text
            .lines()
            .filter(|l| l.contains("oauth sign-in completed"))
        {
            let field = |name: &str| {
                line.split_whitespace()
                    .find_map(|word| word.strip_prefix(name)?.parse::<u64>().ok())
            };
            provider.extend(field("provider_us="));
            latch.extend(field("latch_us="));
        }
        assert!(latch.len() >= 30, "the flow reports its time: {text}");
        // The first sign-in creates the user: the returning ones only.
        let (provider, latch) = (&mut provider[1..], &mut latch[1..]);
        provider.sort_unstable();
        latch.sort_unstable();
        let median = |v: &[u64]| v[v.len() / 2] as f64 / 1000.0;
        let p90 = |v: &[u64]| v[v.len() * 9 / 10] as f64 / 1000.0;
        println!(
            "{backend:?}: CompleteOAuth outside the provider: median {:.2} ms, p90 {:.2} ms; \
             the provider round trip: median {:.2} ms ({} sign-ins)",
            median(latch),
            p90(latch),
            median(provider),
            latch.len(),
        );
    }
}
