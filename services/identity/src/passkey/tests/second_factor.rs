//! A passkey as the second factor of a password login.

use latch_domain::ports::LoginHistoryRepository;

use super::*;
use crate::{
    LoginOutcome, SecondFactor, SecondFactorChallenge, SecondFactorMethod, SecondFactorProof,
    testing::PASSWORD, totp::tests::enrolled,
};

async fn password_login(h: &Harness, email: &str) -> LoginOutcome {
    h.log_in(email, PASSWORD, client())
        .await
        .expect("password login")
}

async fn challenge(h: &Harness, email: &str) -> SecondFactorChallenge {
    match password_login(h, email).await {
        LoginOutcome::SecondFactor(challenge) => challenge,
        LoginOutcome::SignedIn(_) => panic!("signed in without a second factor"),
    }
}

fn with_passkey(challenge: &SecondFactorChallenge, assertion: String) -> SecondFactor {
    SecondFactor {
        login_token: challenge.login_token.clone(),
        proof: SecondFactorProof::PasskeyAssertion(assertion),
        client: client(),
    }
}

/// The authenticator's answer to the challenge's passkey options.
fn answer(challenge: &SecondFactorChallenge, authenticator: &mut Authenticator) -> String {
    let options = challenge
        .passkey_request_options_json
        .as_deref()
        .expect("a passkey is offered");
    authenticator
        .get(options)
        .expect("the authenticator answers")
}

#[tokio::test]
async fn a_second_factor_passkey_is_asked_after_the_password() {
    let h = Harness::new().await;
    let ada = new_user(&h, "ada@example.com").await;
    let mut authenticator = Authenticator::new(ORIGIN);
    let registered = register(&h, ada, &mut authenticator, true).await;

    let challenge = challenge(&h, "ada@example.com").await;
    assert_eq!(challenge.methods, [SecondFactorMethod::Passkey]);
    let options = public_key(challenge.passkey_request_options_json.as_deref().unwrap());
    assert_eq!(
        ids(&options["allowCredentials"]),
        [b64(&registered.credential_id)]
    );
    let assertion = answer(&challenge, &mut authenticator);
    let tokens = h
        .identity
        .complete_second_factor(with_passkey(&challenge, assertion.clone()))
        .await
        .expect("signed in");
    assert_eq!(tokens.user_id, ada);
    let latest = &h.history.list(ada, 1).await.unwrap()[0];
    assert_eq!(
        (latest.method.as_str(), latest.success),
        ("password+passkey", true)
    );
    let refused = h
        .identity
        .complete_second_factor(with_passkey(&challenge, assertion))
        .await;
    assert_eq!(reason(refused), Reason::TokenUsed);
}

#[tokio::test]
async fn a_passkey_that_is_no_second_factor_leaves_the_password_alone() {
    let h = Harness::new().await;
    let ada = new_user(&h, "ada@example.com").await;
    register(&h, ada, &mut Authenticator::new(ORIGIN), false).await;
    assert!(matches!(
        password_login(&h, "ada@example.com").await,
        LoginOutcome::SignedIn(_)
    ));
}

#[tokio::test]
async fn with_totp_on_any_passkey_is_offered_beside_the_codes() {
    let h = Harness::new().await;
    let ada = enrolled(&h, "ada@example.com").await;
    let mut authenticator = Authenticator::new(ORIGIN);
    register(&h, ada.user, &mut authenticator, false).await;

    let challenge = challenge(&h, &ada.email).await;
    assert_eq!(
        challenge.methods,
        [
            SecondFactorMethod::Totp,
            SecondFactorMethod::RecoveryCode,
            SecondFactorMethod::Passkey
        ]
    );
    let assertion = answer(&challenge, &mut authenticator);
    h.identity
        .complete_second_factor(with_passkey(&challenge, assertion))
        .await
        .expect("the passkey passes for TOTP");
}

#[tokio::test]
async fn a_passkey_is_refused_where_none_was_offered_at_no_cost() {
    let h = Harness::new().await;
    let ada = enrolled(&h, "ada@example.com").await;
    let challenge = challenge(&h, &ada.email).await;
    assert_eq!(challenge.passkey_request_options_json, None);

    for _ in 0..6 {
        let err = h
            .identity
            .complete_second_factor(with_passkey(&challenge, "{}".to_owned()))
            .await
            .unwrap_err();
        assert_eq!(
            err.violation().map(|v| v.field.as_str()),
            Some("passkey_assertion_json")
        );
    }
    let mut request = with_passkey(&challenge, String::new());
    request.proof = SecondFactorProof::TotpCode(ada.code(&h));
    h.identity
        .complete_second_factor(request)
        .await
        .expect("no try was spent");
}

#[tokio::test]
async fn a_wrong_assertion_costs_a_try_like_a_wrong_code() {
    let h = Harness::new().await;
    let ada = new_user(&h, "ada@example.com").await;
    let bob = new_user(&h, "bob@example.com").await;
    let mut authenticator = Authenticator::new(ORIGIN);
    register(&h, ada, &mut authenticator, true).await;
    let bobs = register(&h, bob, &mut authenticator, false).await;
    let challenge = challenge(&h, "ada@example.com").await;

    let mut tampered = authenticator.clone();
    tampered.set_tamper_signature(true);
    let mut bobs_key = authenticator.clone();
    bobs_key.answer_with(Some(&bobs.credential_id));
    for wrong in [&mut tampered, &mut bobs_key] {
        for _ in 0..2 {
            let assertion = answer(&challenge, wrong);
            let refused = h
                .identity
                .complete_second_factor(with_passkey(&challenge, assertion))
                .await;
            assert_eq!(reason(refused), Reason::PasskeyInvalid);
        }
    }
    let assertion = answer(&challenge, &mut tampered);
    let refused = h
        .identity
        .complete_second_factor(with_passkey(&challenge, assertion))
        .await;
    assert_eq!(reason(refused), Reason::PasskeyInvalid, "the fifth");
    let assertion = answer(&challenge, &mut authenticator);
    let refused = h
        .identity
        .complete_second_factor(with_passkey(&challenge, assertion))
        .await;
    assert_eq!(reason(refused), Reason::TooManyAttempts);
}
