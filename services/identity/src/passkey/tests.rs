//! The passkey ceremonies on the identity harness, with the test kit's
//! software authenticator in a browser at one of the default origins.
//! Registration here; sign-in and the second factor in `tests/`.

use chrono::Duration;
use latch_domain::{
    Reason, Result, UserId,
    model::{ClientInfo, PasskeyCredential, TokenPair},
    ports::PasskeyRepository,
    secret::Secret,
};
use latch_testkit::passkey::{Authenticator, AuthenticatorError};
use serde_json::Value;

use crate::{PasskeyLogin, PasskeyRegistered, testing::Harness};

mod login;
mod second_factor;

/// One of the embedded default's origins (local development).
const ORIGIN: &str = "http://localhost:8080";

fn client() -> ClientInfo {
    ClientInfo {
        ip: Some("198.51.100.30".to_owned()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0".to_owned()),
    }
}

async fn new_user(h: &Harness, email: &str) -> UserId {
    h.sign_up(email).await.expect("sign up").user.id
}

/// The `publicKey` member of options JSON.
fn public_key(options_json: &str) -> Value {
    let options: Value = serde_json::from_str(options_json).expect("options are JSON");
    options["publicKey"].clone()
}

fn ids(descriptors: &Value) -> Vec<String> {
    descriptors
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|d| d["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn b64(bytes: &[u8]) -> String {
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
    URL_SAFE_NO_PAD.encode(bytes)
}

fn finish_request(registration_id: &Secret<String>, json: String) -> PasskeyRegistered {
    PasskeyRegistered {
        registration_id: registration_id.clone(),
        attestation_json: json,
        name: String::new(),
        second_factor: false,
    }
}

/// Registers a passkey of `authenticator` for `user`.
async fn register(
    h: &Harness,
    user: UserId,
    authenticator: &mut Authenticator,
    second_factor: bool,
) -> PasskeyCredential {
    let start = h
        .identity
        .start_passkey_registration(user)
        .await
        .expect("start registration");
    let created = authenticator
        .create(&start.creation_options_json)
        .expect("the authenticator creates a credential");
    let mut request = finish_request(&start.registration_id, created.json);
    request.second_factor = second_factor;
    h.identity
        .finish_passkey_registration(user, request)
        .await
        .expect("finish registration")
}

/// A whole passkey sign-in by `authenticator`, for `email` or discoverable.
async fn passkey_sign_in(
    h: &Harness,
    email: Option<&str>,
    authenticator: &mut Authenticator,
) -> Result<TokenPair> {
    let start = h.identity.start_passkey_login(email).await?;
    let assertion = authenticator
        .get(&start.request_options_json)
        .expect("the authenticator answers");
    h.identity
        .finish_passkey_login(PasskeyLogin {
            login_id: start.login_id,
            assertion_json: assertion,
            client: client(),
        })
        .await
}

fn reason<T: std::fmt::Debug>(result: Result<T>) -> Reason {
    result.expect_err("refused").reason()
}

#[tokio::test]
async fn creation_options_require_verification_and_prefer_a_resident_key() {
    let h = Harness::new().await;
    let ada = new_user(&h, "ada@example.com").await;
    let start = h.identity.start_passkey_registration(ada).await.unwrap();
    let options = public_key(&start.creation_options_json);

    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["rp"]["name"], "Latch");
    assert_eq!(options["user"]["id"], b64(ada.0.as_bytes()), "user handle");
    assert_eq!(options["user"]["name"], "ada@example.com");
    let selection = &options["authenticatorSelection"];
    assert_eq!(selection["userVerification"], "required");
    assert_eq!(selection["residentKey"], "preferred");
    assert!(ids(&options["excludeCredentials"]).is_empty());
    assert!(!options["challenge"].as_str().unwrap_or_default().is_empty());
}

#[tokio::test]
async fn a_registered_passkey_is_stored_with_its_columns_and_excluded_after() {
    let h = Harness::new().await;
    let ada = new_user(&h, "ada@example.com").await;
    let mut authenticator = Authenticator::new(ORIGIN);
    authenticator.set_backup(true, true);

    let stored = register(&h, ada, &mut authenticator, true).await;
    assert_eq!(stored.user_id, ada);
    assert_eq!(stored.credential_id, authenticator.credential_ids()[0]);
    assert_eq!(
        stored.name,
        format!("Passkey {}", h.clock_now().format("%Y-%m-%d"))
    );
    assert!(stored.backup_eligible && stored.backup_state);
    assert_eq!(stored.transports, ["internal", "hybrid"]);
    assert_eq!(stored.aaguid, None, "attestation none vouches for no model");
    assert!(stored.second_factor);
    assert_eq!(stored.clone_suspected_at, None);
    assert_eq!(stored.last_used_at, None);
    let listed = h.passkeys.list_for_user(ada, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].id, listed[0].sign_count, &listed[0].transports),
        (stored.id, stored.sign_count, &stored.transports)
    );

    // The next ceremony excludes it: the authenticator refuses to make a
    // second credential for the same account.
    let start = h.identity.start_passkey_registration(ada).await.unwrap();
    let options = public_key(&start.creation_options_json);
    assert_eq!(
        ids(&options["excludeCredentials"]),
        [b64(&stored.credential_id)]
    );
    assert_eq!(
        authenticator.create(&start.creation_options_json),
        Err(AuthenticatorError::Excluded)
    );
}

#[tokio::test]
async fn a_name_is_kept_and_a_bad_one_spends_nothing() {
    let h = Harness::new().await;
    let ada = new_user(&h, "ada@example.com").await;
    let mut authenticator = Authenticator::new(ORIGIN);
    let start = h.identity.start_passkey_registration(ada).await.unwrap();
    let created = authenticator.create(&start.creation_options_json).unwrap();

    let mut bad = finish_request(&start.registration_id, created.json.clone());
    bad.name = "n".repeat(101);
    let err = h
        .identity
        .finish_passkey_registration(ada, bad)
        .await
        .unwrap_err();
    assert_eq!(err.violation().map(|v| v.field.as_str()), Some("name"));
    let err = h
        .identity
        .finish_passkey_registration(ada, finish_request(&start.registration_id, "{".into()))
        .await
        .unwrap_err();
    assert_eq!(
        err.violation().map(|v| v.field.as_str()),
        Some("attestation_json")
    );

    let mut named = finish_request(&start.registration_id, created.json);
    named.name = "  Work laptop ".to_owned();
    let stored = h
        .identity
        .finish_passkey_registration(ada, named)
        .await
        .expect("the ceremony survived bad input");
    assert_eq!(stored.name, "Work laptop");
}

#[tokio::test]
async fn a_registration_answers_once_to_its_own_id() {
    let h = Harness::new().await;
    let ada = new_user(&h, "ada@example.com").await;
    let mut authenticator = Authenticator::new(ORIGIN);
    let start = h.identity.start_passkey_registration(ada).await.unwrap();
    let created = authenticator.create(&start.creation_options_json).unwrap();

    // Another id (a stale page) is refused and leaves the ceremony be.
    let other = Secret::new("not-the-id".to_owned());
    let refused = h
        .identity
        .finish_passkey_registration(ada, finish_request(&other, created.json.clone()))
        .await;
    assert_eq!(reason(refused), Reason::TokenInvalid);

    h.identity
        .finish_passkey_registration(
            ada,
            finish_request(&start.registration_id, created.json.clone()),
        )
        .await
        .expect("the right id");
    let replayed = h
        .identity
        .finish_passkey_registration(ada, finish_request(&start.registration_id, created.json))
        .await;
    assert_eq!(reason(replayed), Reason::TokenInvalid);
    assert_eq!(h.passkeys.list_for_user(ada, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_new_start_replaces_the_pending_registration() {
    let h = Harness::new().await;
    let ada = new_user(&h, "ada@example.com").await;
    let first = h.identity.start_passkey_registration(ada).await.unwrap();
    let second = h.identity.start_passkey_registration(ada).await.unwrap();
    let mut authenticator = Authenticator::new(ORIGIN);
    let created = authenticator.create(&first.creation_options_json).unwrap();

    let refused = h
        .identity
        .finish_passkey_registration(ada, finish_request(&first.registration_id, created.json))
        .await;
    assert_eq!(reason(refused), Reason::TokenInvalid);
    // The second ceremony is still there, and its own challenge counts.
    let created = authenticator.create(&second.creation_options_json).unwrap();
    h.identity
        .finish_passkey_registration(ada, finish_request(&second.registration_id, created.json))
        .await
        .expect("the newer ceremony");
}

#[tokio::test]
async fn a_registration_expires_after_five_minutes() {
    let h = Harness::new().await;
    let ada = new_user(&h, "ada@example.com").await;
    let mut authenticator = Authenticator::new(ORIGIN);
    let start = h.identity.start_passkey_registration(ada).await.unwrap();
    let created = authenticator.create(&start.creation_options_json).unwrap();

    h.clock.advance(Duration::minutes(5));
    let late = h
        .identity
        .finish_passkey_registration(ada, finish_request(&start.registration_id, created.json))
        .await;
    assert_eq!(reason(late), Reason::TokenExpired);
    assert!(h.passkeys.list_for_user(ada, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_attestation_from_another_origin_or_rp_is_refused() {
    let h = Harness::new().await;
    let ada = new_user(&h, "ada@example.com").await;
    let tweaks: [fn(&mut Authenticator); 3] = [
        |a: &mut Authenticator| {
            a.set_origin("https://evil.example");
        },
        |a: &mut Authenticator| {
            a.set_rp_id(Some("evil.example"));
        },
        |a: &mut Authenticator| {
            a.set_user_verified(false);
        },
    ];
    for tweak in tweaks {
        let mut authenticator = Authenticator::new(ORIGIN);
        tweak(&mut authenticator);
        let start = h.identity.start_passkey_registration(ada).await.unwrap();
        let created = authenticator.create(&start.creation_options_json).unwrap();
        let refused = h
            .identity
            .finish_passkey_registration(ada, finish_request(&start.registration_id, created.json))
            .await;
        assert_eq!(reason(refused), Reason::PasskeyInvalid, "{authenticator:?}");
    }
    assert!(h.passkeys.list_for_user(ada, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_credential_registered_already_is_already_exists() {
    let h = Harness::new().await;
    let ada = new_user(&h, "ada@example.com").await;
    let mut authenticator = Authenticator::new(ORIGIN);
    let start = h.identity.start_passkey_registration(ada).await.unwrap();
    let created = authenticator.create(&start.creation_options_json).unwrap();
    h.identity
        .finish_passkey_registration(
            ada,
            finish_request(&start.registration_id, created.json.clone()),
        )
        .await
        .unwrap();

    // The same credential posted again, to a new ceremony (of this user or
    // another's).
    for user in [ada, new_user(&h, "bob@example.com").await] {
        let again = h.identity.start_passkey_registration(user).await.unwrap();
        let refused = h
            .identity
            .finish_passkey_registration(
                user,
                finish_request(&again.registration_id, created.json.clone()),
            )
            .await;
        assert_eq!(reason(refused), Reason::AlreadyExists);
    }
}

#[tokio::test]
async fn registration_stops_at_as_many_passkeys_as_a_ceremony_lists() {
    let h = Harness::new().await;
    let ada = new_user(&h, "ada@example.com").await;
    for n in 0..super::USER_PASSKEYS {
        let stored = latch_testkit::conformance::passkeys::passkey(ada, &format!("key {n}"));
        h.passkeys.add(&stored, &[]).await.unwrap();
    }
    let refused = h.identity.start_passkey_registration(ada).await;
    assert_eq!(reason(refused), Reason::PasskeyLimit);

    // One removed: there is room again.
    let first = h.passkeys.list_for_user(ada, 1).await.unwrap().remove(0);
    h.identity.delete_passkey(ada, first.id).await.unwrap();
    h.identity.start_passkey_registration(ada).await.unwrap();
}
