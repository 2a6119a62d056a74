//! The OAuth flows over the provider port's stand-in
//! ([`crate::testing::FakeProviders`]) and the SQL stores on SQLite.

use std::sync::atomic::Ordering;

use chrono::Duration;
use latch_domain::{
    Reason, Result, UserId,
    events::EventPayload,
    model::{ClientInfo, UserStatus},
    ports::{
        ExternalIdentityRepository, LoginHistoryRepository, RoleDirectory, UserRepository,
        VerifiedClaims,
    },
    secret::Secret,
};

use crate::{
    OAuthMatch, OAuthOutcome, OAuthReturn, OAuthSignedIn, SecondFactor, SecondFactorProof,
    testing::{Harness, PASSWORD},
    totp::tests::enrolled,
};

const PROVIDER: &str = "corp";
const REDIRECT: &str = "https://app.example.test/callback";

fn claims(subject: &str, email: &str, verified: bool) -> VerifiedClaims {
    VerifiedClaims {
        subject: subject.to_owned(),
        email: Some(email.to_owned()),
        email_verified: verified,
        given_name: Some("Ada".to_owned()),
        family_name: Some("Lovelace".to_owned()),
        name: None,
    }
}

fn client() -> ClientInfo {
    ClientInfo {
        ip: Some("198.51.100.7".to_owned()),
        user_agent: Some("Mozilla/5.0 Firefox/130.0".to_owned()),
    }
}

/// A full round trip: start (as `user`, when signed in), the user signs
/// in at the provider as `claims`; the code and state that come back.
async fn round_trip(h: &Harness, user: Option<UserId>, claims: VerifiedClaims) -> (String, String) {
    let started = h
        .identity
        .start_oauth(PROVIDER, REDIRECT, user)
        .await
        .expect("start");
    let state = started.state.expose().clone();
    let code = h.oauth.authorize(&state, claims);
    (code, state)
}

fn ret(code: &str, state: &str) -> OAuthReturn {
    OAuthReturn {
        provider: PROVIDER.to_owned(),
        code: Secret::new(code.to_owned()),
        state: Secret::new(state.to_owned()),
        client: client(),
    }
}

async fn complete(h: &Harness, claims: VerifiedClaims) -> Result<OAuthSignedIn> {
    let (code, state) = round_trip(h, None, claims).await;
    h.identity.complete_oauth(ret(&code, &state)).await
}

fn signed_in(outcome: &OAuthOutcome) -> UserId {
    match outcome {
        OAuthOutcome::SignedIn(tokens) => tokens.user_id,
        OAuthOutcome::SecondFactor(_) => panic!("expected tokens"),
    }
}

#[tokio::test]
async fn a_new_identity_creates_a_user_through_the_sign_up_saga() -> Result<()> {
    let h = Harness::new().await;

    let out = complete(&h, claims("sub-1", "ada@example.com", true)).await?;

    assert_eq!(out.matched, OAuthMatch::Created);
    assert_eq!(signed_in(&out.outcome), out.user.id);
    let stored = h.users.get(out.user.id).await?.expect("stored");
    assert_eq!(stored.status, UserStatus::Active);
    assert!(stored.email_verified, "as the provider said");
    assert_eq!(stored.password_hash, None);
    let profile = h.profiles.get(out.user.id).await?;
    assert_eq!(
        (profile.first_name.as_str(), profile.last_name.as_str()),
        ("Ada", "Lovelace")
    );
    assert_eq!(h.roles.role_names(out.user.id).await?, ["USER"]);
    // Announced once, with the activation: the verification before it
    // (the account still pending) writes no user:updated.
    assert_eq!(
        h.events_of(out.user.id).await,
        [EventPayload::UserCreated {
            user_id: out.user.id,
            email: "ada@example.com".to_owned()
        }]
    );
    let identities = h.identity.list_identities(out.user.id).await?;
    assert_eq!(identities.len(), 1);
    assert_eq!(
        (
            identities[0].provider.as_str(),
            identities[0].subject.as_str()
        ),
        (PROVIDER, "sub-1")
    );
    let history = h.history.list(out.user.id, 10).await?;
    assert_eq!(history[0].method, "oauth:corp");
    assert!(history[0].success);
    Ok(())
}

#[tokio::test]
async fn an_unverified_new_email_makes_an_unverified_user() -> Result<()> {
    let h = Harness::new().await;
    let out = complete(&h, claims("sub-1", "ada@example.com", false)).await?;
    assert_eq!(out.matched, OAuthMatch::Created);
    assert!(
        !h.users
            .get(out.user.id)
            .await?
            .expect("user")
            .email_verified
    );
    Ok(())
}

#[tokio::test]
async fn a_known_identity_signs_its_user_in_whatever_email_it_has_now() -> Result<()> {
    let h = Harness::new().await;
    let first = complete(&h, claims("sub-1", "ada@example.com", true)).await?;

    let again = complete(&h, claims("sub-1", "changed@example.com", false)).await?;

    assert_eq!(again.matched, OAuthMatch::Found);
    assert_eq!(again.user.id, first.user.id);
    assert_eq!(signed_in(&again.outcome), first.user.id);
    assert_eq!(h.sessions.created.lock().unwrap().len(), 2);
    Ok(())
}

/// A password user who verified their email address.
async fn verified_user(h: &Harness, email: &str) -> Result<latch_domain::model::User> {
    let user = h.sign_up(email).await?.user;
    h.users
        .verify_email(user.id, email, h.clock_now(), &[])
        .await?;
    Ok(user)
}

#[tokio::test]
async fn a_verified_email_links_to_the_existing_account() -> Result<()> {
    let h = Harness::new().await;
    let existing = verified_user(&h, "ada@example.com").await?;

    let out = complete(&h, claims("sub-1", "Ada@Example.com", true)).await?;

    assert_eq!(out.matched, OAuthMatch::Linked);
    assert_eq!(signed_in(&out.outcome), existing.id);
    let stored = h.users.get(existing.id).await?.expect("user");
    assert!(stored.password_hash.is_some(), "the password stays");
    assert_eq!(h.identity.list_identities(existing.id).await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn an_account_that_never_verified_its_email_is_not_linked() -> Result<()> {
    // Whoever signed up with the address may not own it: the provider's
    // verified owner must not land in their account, nor they in the
    // owner's sign-in.
    let h = Harness::new().await;
    let squatter = h.sign_up("ada@example.com").await?.user;

    let err = complete(&h, claims("sub-1", "ada@example.com", true))
        .await
        .unwrap_err();

    assert_eq!(err.reason(), Reason::EmailTaken);
    assert!(h.identity.list_identities(squatter.id).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn an_unverified_email_never_links() -> Result<()> {
    let h = Harness::new().await;
    let existing = h.sign_up("ada@example.com").await?.user;

    let err = complete(&h, claims("sub-1", "ada@example.com", false))
        .await
        .unwrap_err();

    assert_eq!(err.reason(), Reason::EmailTaken);
    assert!(h.identity.list_identities(existing.id).await?.is_empty());
    assert!(h.identities.find(PROVIDER, "sub-1").await?.is_none());
    Ok(())
}

#[tokio::test]
async fn a_suspended_user_is_refused_and_it_is_recorded() -> Result<()> {
    let h = Harness::new().await;
    let first = complete(&h, claims("sub-1", "ada@example.com", true)).await?;
    h.users
        .set_status(first.user.id, UserStatus::Suspended, h.clock_now(), &[])
        .await?;
    let sessions = h.sessions.created.lock().unwrap().len();

    let err = complete(&h, claims("sub-1", "ada@example.com", true))
        .await
        .unwrap_err();

    assert_eq!(err.reason(), Reason::AccountInactive);
    assert_eq!(h.sessions.created.lock().unwrap().len(), sessions);
    for _ in 0..500 {
        let history = h.history.list(first.user.id, 10).await?;
        if let Some(refused) = history.iter().find(|e| !e.success) {
            assert_eq!(refused.method, "oauth:corp");
            assert_eq!(refused.failure_reason.as_deref(), Some("ACCOUNT_INACTIVE"));
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the refusal was not recorded");
}

#[tokio::test]
async fn a_user_with_totp_finishes_with_the_second_factor() -> Result<()> {
    let h = Harness::new().await;
    // A password user with TOTP on, whose provider identity links by email.
    let ada = enrolled(&h, "ada@example.com").await;
    h.users
        .verify_email(ada.user, "ada@example.com", h.clock_now(), &[])
        .await?;
    let sessions = h.sessions.created.lock().unwrap().len();

    let out = complete(&h, claims("sub-1", "ada@example.com", true)).await?;

    let OAuthOutcome::SecondFactor(challenge) = out.outcome else {
        panic!("expected a second-factor challenge");
    };
    assert_eq!(
        h.sessions.created.lock().unwrap().len(),
        sessions,
        "no session before the second factor"
    );
    h.clock.advance(Duration::seconds(30));
    let tokens = h
        .identity
        .complete_second_factor(SecondFactor {
            login_token: challenge.login_token,
            proof: SecondFactorProof::TotpCode(ada.code(&h)),
            client: client(),
        })
        .await?;
    assert_eq!(tokens.user_id, ada.user);
    let history = h.history.list(ada.user, 10).await?;
    assert_eq!(history[0].method, "oauth:corp+totp");
    assert!(history[0].success);
    Ok(())
}

#[tokio::test]
async fn a_state_works_once() -> Result<()> {
    let h = Harness::new().await;
    let (code, state) = round_trip(&h, None, claims("sub-1", "ada@example.com", true)).await;
    h.identity.complete_oauth(ret(&code, &state)).await?;

    let again = h
        .identity
        .complete_oauth(ret(&code, &state))
        .await
        .unwrap_err();
    assert_eq!(again.reason(), Reason::TokenInvalid);
    let unknown = h
        .identity
        .complete_oauth(ret(&code, "never-handed-out"))
        .await
        .unwrap_err();
    assert_eq!(unknown.reason(), Reason::TokenInvalid);
    Ok(())
}

#[tokio::test]
async fn an_expired_state_is_told_apart_and_spent() -> Result<()> {
    let h = Harness::new().await;
    let (code, state) = round_trip(&h, None, claims("sub-1", "ada@example.com", true)).await;
    h.clock.advance(Duration::minutes(11));

    let err = h
        .identity
        .complete_oauth(ret(&code, &state))
        .await
        .unwrap_err();

    assert_eq!(err.reason(), Reason::TokenExpired);
    assert!(h.users.find_by_email("ada@example.com").await?.is_none());
    Ok(())
}

#[tokio::test]
async fn a_state_for_another_provider_is_refused() -> Result<()> {
    let h = Harness::new().await;
    let (code, state) = round_trip(&h, None, claims("sub-1", "ada@example.com", true)).await;
    let mut other = ret(&code, &state);
    other.provider = "google".to_owned();

    let err = h.identity.complete_oauth(other).await.unwrap_err();

    assert_eq!(err.reason(), Reason::TokenInvalid);
    // Taken: the right provider cannot use it afterwards either.
    let err = h
        .identity
        .complete_oauth(ret(&code, &state))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::TokenInvalid);
    Ok(())
}

#[tokio::test]
async fn start_refuses_unknown_providers_and_redirects() {
    let h = Harness::new().await;
    let err = h
        .identity
        .start_oauth("nope", REDIRECT, None)
        .await
        .unwrap_err();
    assert_eq!(err.violation().map(|v| v.field.as_str()), Some("provider"));
    let err = h
        .identity
        .start_oauth(PROVIDER, "https://evil.example.test/callback", None)
        .await
        .unwrap_err();
    assert_eq!(
        err.violation().map(|v| v.field.as_str()),
        Some("redirect_uri")
    );
}

#[tokio::test]
async fn an_unreachable_provider_is_unavailable() {
    let h = Harness::new().await;
    h.oauth.down.store(true, Ordering::SeqCst);
    let err = h
        .identity
        .start_oauth(PROVIDER, REDIRECT, None)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::Unavailable);
}

#[tokio::test]
async fn a_refused_code_changes_nothing() -> Result<()> {
    let h = Harness::new().await;
    let (_, state) = round_trip(&h, None, claims("sub-1", "ada@example.com", true)).await;

    let err = h
        .identity
        .complete_oauth(ret("forged-code", &state))
        .await
        .unwrap_err();

    assert_eq!(err.reason(), Reason::InvalidCredentials);
    assert!(h.users.find_by_email("ada@example.com").await?.is_none());
    Ok(())
}

#[tokio::test]
async fn link_needs_a_state_the_same_user_started() -> Result<()> {
    let h = Harness::new().await;
    let ada = h.sign_up("ada@example.com").await?.user.id;
    let grace = h.sign_up("grace@example.com").await?.user.id;

    // Started anonymously, or by someone else: not Ada's to link.
    for starter in [None, Some(grace)] {
        let (code, state) = round_trip(&h, starter, claims("sub-x", "x@example.com", true)).await;
        let err = h
            .identity
            .link_identity(ada, PROVIDER, Secret::new(code), Secret::new(state))
            .await
            .unwrap_err();
        assert_eq!(err.reason(), Reason::TokenInvalid);
    }
    assert!(h.identity.list_identities(ada).await?.is_empty());

    let (code, state) =
        round_trip(&h, Some(ada), claims("sub-a", "other@example.com", false)).await;
    let linked = h
        .identity
        .link_identity(ada, PROVIDER, Secret::new(code), Secret::new(state))
        .await?;
    assert_eq!((linked.user_id, linked.subject.as_str()), (ada, "sub-a"));
    assert_eq!(h.identity.list_identities(ada).await?, vec![linked]);
    Ok(())
}

#[tokio::test]
async fn an_identity_of_another_user_is_not_linked() -> Result<()> {
    let h = Harness::new().await;
    let owner = complete(&h, claims("sub-1", "ada@example.com", true)).await?;
    let grace = h.sign_up("grace@example.com").await?.user.id;

    let (code, state) = round_trip(&h, Some(grace), claims("sub-1", "ada@example.com", true)).await;
    let err = h
        .identity
        .link_identity(grace, PROVIDER, Secret::new(code), Secret::new(state))
        .await
        .unwrap_err();

    assert_eq!(err.reason(), Reason::AlreadyExists);
    let found = h.identities.find(PROVIDER, "sub-1").await?.expect("kept");
    assert_eq!(found.user_id, owner.user.id);
    Ok(())
}

#[tokio::test]
async fn unlink_keeps_the_last_way_to_sign_in() -> Result<()> {
    let h = Harness::new().await;
    let out = complete(&h, claims("sub-1", "ada@example.com", true)).await?;
    let only = h.identity.list_identities(out.user.id).await?[0].id;

    let err = h
        .identity
        .unlink_identity(out.user.id, only)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::LastSignInMethod);

    let (code, state) = round_trip(
        &h,
        Some(out.user.id),
        claims("sub-2", "ada@example.com", true),
    )
    .await;
    h.identity
        .link_identity(out.user.id, PROVIDER, Secret::new(code), Secret::new(state))
        .await?;
    h.identity.unlink_identity(out.user.id, only).await?;
    assert_eq!(h.identity.list_identities(out.user.id).await?.len(), 1);

    let err = h
        .identity
        .unlink_identity(UserId::new(), only)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::NotFound);
    Ok(())
}

#[tokio::test]
async fn a_password_user_may_unlink_the_only_identity() -> Result<()> {
    let h = Harness::new().await;
    let ada = verified_user(&h, "ada@example.com").await?.id;
    let out = complete(&h, claims("sub-1", "ada@example.com", true)).await?;
    assert_eq!(out.user.id, ada);
    let only = h.identity.list_identities(ada).await?[0].id;

    h.identity.unlink_identity(ada, only).await?;

    assert!(h.identity.list_identities(ada).await?.is_empty());
    // The password still signs in.
    h.log_in("ada@example.com", PASSWORD, client()).await?;
    Ok(())
}
