//! Passkey sign-in: with an email, without one, and every refusal.

use std::collections::BTreeSet;

use latch_domain::{
    model::UserStatus,
    ports::{LoginHistoryRepository, PasskeyRepository},
};
use latch_testkit::passkey::Counter;

use super::*;

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

async fn finish(h: &Harness, login_id: &Secret<String>, assertion: String) -> Result<TokenPair> {
    h.identity
        .finish_passkey_login(PasskeyLogin {
            login_id: login_id.clone(),
            assertion_json: assertion,
            client: client(),
        })
        .await
}

/// Refusals are recorded after the answer: wait for `n` entries.
async fn history(h: &Harness, user: UserId, n: usize) -> Vec<latch_domain::model::LoginEvent> {
    for _ in 0..500 {
        let entries = h.history.list(user, 50).await.expect("history");
        if entries.len() >= n {
            return entries;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("login history never reached {n} entries");
}

#[tokio::test]
async fn an_email_signs_in_with_its_passkey_through_the_session_path() {
    let h = Harness::new().await;
    let ada = new_user(&h, "ada@example.com").await;
    let mut authenticator = Authenticator::new(ORIGIN);
    let registered = register(&h, ada, &mut authenticator, false).await;
    let sessions_before = h.sessions.created.lock().unwrap().len();

    let start = h
        .identity
        .start_passkey_login(Some(" Ada@Example.com "))
        .await
        .unwrap();
    let options = public_key(&start.request_options_json);
    assert_eq!(options["rpId"], "localhost");
    assert_eq!(options["userVerification"], "required");
    assert_eq!(
        ids(&options["allowCredentials"]),
        [b64(&registered.credential_id)]
    );
    let assertion = authenticator.get(&start.request_options_json).unwrap();
    let tokens = finish(&h, &start.login_id, assertion)
        .await
        .expect("signed in");

    assert_eq!(tokens.user_id, ada);
    assert_eq!(
        h.sessions.created.lock().unwrap().len(),
        sessions_before + 1
    );
    let latest = &h.history.list(ada, 1).await.unwrap()[0];
    assert_eq!((latest.method.as_str(), latest.success), ("passkey", true));
    let used = h.passkeys.get(ada, registered.id).await.unwrap().unwrap();
    assert!(used.sign_count > registered.sign_count, "counter recorded");
    assert_eq!(used.last_used_at, Some(h.clock_now()));
}

#[tokio::test]
async fn without_an_email_the_user_handle_names_the_account() {
    let h = Harness::new().await;
    let ada = new_user(&h, "ada@example.com").await;
    let mut authenticator = Authenticator::new(ORIGIN);
    register(&h, ada, &mut authenticator, false).await;

    for email in [None, Some("  ")] {
        let start = h.identity.start_passkey_login(email).await.unwrap();
        let options = public_key(&start.request_options_json);
        assert!(ids(&options["allowCredentials"]).is_empty(), "discoverable");
        let root: Value = serde_json::from_str(&start.request_options_json).unwrap();
        assert_eq!(root.get("mediation"), None, "the page chooses");
        let assertion = authenticator.get(&start.request_options_json).unwrap();
        let tokens = finish(&h, &start.login_id, assertion)
            .await
            .expect("signed in");
        assert_eq!(tokens.user_id, ada);
    }
}

#[tokio::test]
async fn an_email_without_passkeys_gets_look_alike_options() {
    let h = Harness::new().await;
    let ada = new_user(&h, "ada@example.com").await;
    new_user(&h, "bob@example.com").await;
    let mut authenticator = Authenticator::new(ORIGIN);
    register(&h, ada, &mut authenticator, false).await;

    let real = h
        .identity
        .start_passkey_login(Some("ada@example.com"))
        .await
        .unwrap();
    let real = public_key(&real.request_options_json);
    let mut decoys = Vec::new();
    // No account; an account without passkeys.
    for email in ["nobody@example.com", "bob@example.com"] {
        let first = h.identity.start_passkey_login(Some(email)).await.unwrap();
        let options = public_key(&first.request_options_json);
        assert_eq!(keys(&options), keys(&real), "{email}: same members");
        assert_eq!(options["rpId"], real["rpId"]);
        assert_eq!(options["userVerification"], real["userVerification"]);
        let listed = ids(&options["allowCredentials"]);
        assert!(!listed.is_empty(), "{email}: credentials offered");
        for entry in options["allowCredentials"].as_array().unwrap() {
            assert_eq!(entry["type"], "public-key");
        }
        // Stable per email, as a real account's are.
        let again = h.identity.start_passkey_login(Some(email)).await.unwrap();
        assert_eq!(
            ids(&public_key(&again.request_options_json)["allowCredentials"]),
            listed
        );
        assert_ne!(
            options["challenge"],
            public_key(&again.request_options_json)["challenge"]
        );
        decoys.push(listed);
    }
    assert_ne!(decoys[0], decoys[1], "each email its own");

    // Whatever answers a decoy ceremony is a passkey that does not verify.
    let start = h
        .identity
        .start_passkey_login(Some("nobody@example.com"))
        .await
        .unwrap();
    let mut holder = authenticator.clone();
    holder.answer_with(Some(&authenticator.credential_ids()[0]));
    let assertion = holder.get(&start.request_options_json).unwrap();
    let refused = finish(&h, &start.login_id, assertion).await;
    assert_eq!(reason(refused), Reason::PasskeyInvalid);
}

#[tokio::test]
async fn a_malformed_email_is_invalid_argument() {
    let h = Harness::new().await;
    let err = h
        .identity
        .start_passkey_login(Some("not an email"))
        .await
        .unwrap_err();
    assert_eq!(err.violation().map(|v| v.field.as_str()), Some("email"));
}

#[tokio::test]
async fn a_login_ceremony_answers_once_and_for_five_minutes() {
    let h = Harness::new().await;
    let ada = new_user(&h, "ada@example.com").await;
    let mut authenticator = Authenticator::new(ORIGIN);
    register(&h, ada, &mut authenticator, false).await;

    let start = h.identity.start_passkey_login(None).await.unwrap();
    let assertion = authenticator.get(&start.request_options_json).unwrap();
    // Bad input spends nothing.
    let err = finish(&h, &start.login_id, "{}".to_owned())
        .await
        .unwrap_err();
    assert_eq!(
        err.violation().map(|v| v.field.as_str()),
        Some("assertion_json")
    );
    finish(&h, &start.login_id, assertion.clone())
        .await
        .expect("first use");
    assert_eq!(
        reason(finish(&h, &start.login_id, assertion).await),
        Reason::TokenInvalid,
        "replayed"
    );
    let unknown = Secret::new("no-such-login".to_owned());
    let assertion = authenticator
        .get(
            &h.identity
                .start_passkey_login(None)
                .await
                .unwrap()
                .request_options_json,
        )
        .unwrap();
    assert_eq!(
        reason(finish(&h, &unknown, assertion).await),
        Reason::TokenInvalid
    );

    let start = h
        .identity
        .start_passkey_login(Some("ada@example.com"))
        .await
        .unwrap();
    let assertion = authenticator.get(&start.request_options_json).unwrap();
    h.clock.advance(Duration::minutes(5));
    assert_eq!(
        reason(finish(&h, &start.login_id, assertion).await),
        Reason::TokenExpired
    );
}

#[tokio::test]
async fn assertions_that_do_not_verify_are_passkey_invalid() {
    let h = Harness::new().await;
    let ada = new_user(&h, "ada@example.com").await;
    let mut authenticator = Authenticator::new(ORIGIN);
    let registered = register(&h, ada, &mut authenticator, false).await;
    let tweaks: [fn(&mut Authenticator); 4] = [
        |a| {
            a.set_origin("https://evil.example");
        },
        |a| {
            a.set_rp_id(Some("evil.example"));
        },
        |a| {
            a.set_tamper_signature(true);
        },
        |a| {
            a.set_user_verified(false);
        },
    ];
    for (i, tweak) in tweaks.iter().enumerate() {
        let mut bad = authenticator.clone();
        tweak(&mut bad);
        for email in [Some("ada@example.com"), None] {
            let refused = passkey_sign_in(&h, email, &mut bad).await;
            assert_eq!(
                reason(refused),
                Reason::PasskeyInvalid,
                "tweak {i}, {email:?}"
            );
        }
    }
    // Nothing changed, and the refusals are in the history.
    let stored = h.passkeys.get(ada, registered.id).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.sign_count,
            stored.last_used_at,
            stored.clone_suspected_at
        ),
        (registered.sign_count, None, None)
    );
    let entries = history(&h, ada, 8).await;
    assert!(
        entries
            .iter()
            .filter(|e| !e.success)
            .all(|e| e.failure_reason.as_deref() == Some("PASSKEY_INVALID")),
        "{entries:?}"
    );
}

#[tokio::test]
async fn another_users_credential_does_not_sign_in_the_email() {
    let h = Harness::new().await;
    let ada = new_user(&h, "ada@example.com").await;
    let bob = new_user(&h, "bob@example.com").await;
    // One authenticator (a shared computer) holds a passkey of each.
    let mut authenticator = Authenticator::new(ORIGIN);
    register(&h, ada, &mut authenticator, false).await;
    let bobs = register(&h, bob, &mut authenticator, false).await;

    authenticator.answer_with(Some(&bobs.credential_id));
    let refused = passkey_sign_in(&h, Some("ada@example.com"), &mut authenticator).await;
    assert_eq!(reason(refused), Reason::PasskeyInvalid);
    // Without an email it is simply Bob's sign-in.
    let tokens = passkey_sign_in(&h, None, &mut authenticator).await.unwrap();
    assert_eq!(tokens.user_id, bob);
}

#[tokio::test]
async fn a_counter_that_goes_back_marks_the_passkey_as_cloned() {
    let h = Harness::new().await;
    let ada = new_user(&h, "ada@example.com").await;
    let mut authenticator = Authenticator::new(ORIGIN);
    let registered = register(&h, ada, &mut authenticator, false).await;
    let mut copy = authenticator.clone();
    passkey_sign_in(&h, Some("ada@example.com"), &mut authenticator)
        .await
        .expect("the original signs in");

    // The copy's counter lags: its next value was used already.
    let refused = passkey_sign_in(&h, None, &mut copy).await;
    assert_eq!(reason(refused), Reason::PasskeyCloneSuspected);
    let marked = h.passkeys.get(ada, registered.id).await.unwrap().unwrap();
    assert!(marked.clone_suspected_at.is_some());

    // From then on the passkey is refused, whoever holds it.
    for email in [Some("ada@example.com"), None] {
        let refused = passkey_sign_in(&h, email, &mut authenticator).await;
        assert_eq!(reason(refused), Reason::PasskeyCloneSuspected);
    }
}

#[tokio::test]
async fn an_authenticator_without_a_counter_signs_in_again_and_again() {
    let h = Harness::new().await;
    let ada = new_user(&h, "ada@example.com").await;
    let mut authenticator = Authenticator::new(ORIGIN);
    authenticator.set_counter(Counter::Zero);
    register(&h, ada, &mut authenticator, false).await;
    for _ in 0..3 {
        passkey_sign_in(&h, None, &mut authenticator)
            .await
            .expect("a synced passkey keeps no counter");
    }
}

#[tokio::test]
async fn a_suspended_user_is_told_only_after_the_passkey_verified() {
    let h = Harness::new().await;
    let ada = new_user(&h, "ada@example.com").await;
    let mut authenticator = Authenticator::new(ORIGIN);
    register(&h, ada, &mut authenticator, false).await;
    h.identity
        .set_user_status(ada, UserStatus::Suspended)
        .await
        .unwrap();

    let mut wrong = authenticator.clone();
    wrong.set_tamper_signature(true);
    let refused = passkey_sign_in(&h, Some("ada@example.com"), &mut wrong).await;
    assert_eq!(reason(refused), Reason::PasskeyInvalid);
    let refused = passkey_sign_in(&h, Some("ada@example.com"), &mut authenticator).await;
    assert_eq!(reason(refused), Reason::AccountInactive);
}

#[tokio::test]
async fn a_discoverable_assertion_must_name_the_credentials_owner() {
    let h = Harness::new().await;
    let ada = new_user(&h, "ada@example.com").await;
    let bob = new_user(&h, "bob@example.com").await;
    let mut authenticator = Authenticator::new(ORIGIN);
    register(&h, ada, &mut authenticator, false).await;

    let b64_bob = b64(bob.0.as_bytes());
    for handle in [Value::Null, Value::from("AAAA"), Value::from(b64_bob)] {
        let start = h.identity.start_passkey_login(None).await.unwrap();
        let assertion = authenticator.get(&start.request_options_json).unwrap();
        let mut assertion: Value = serde_json::from_str(&assertion).unwrap();
        assertion["response"]["userHandle"] = handle.clone();
        let refused = finish(&h, &start.login_id, assertion.to_string()).await;
        assert_eq!(reason(refused), Reason::PasskeyInvalid, "{handle}");
    }
}
