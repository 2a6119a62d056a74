//! The authenticator against webauthn-rs, the relying-party library Latch
//! uses: what it answers must pass, and each knob must make webauthn-rs
//! refuse for the reason the knob stands for.

use webauthn_rs::prelude::{
    Passkey, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, WebauthnError,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use super::*;

const RP_ID: &str = "example.com";
const ORIGIN: &str = "https://example.com";

fn relying_party() -> Webauthn {
    let origin = Url::parse(ORIGIN).unwrap();
    WebauthnBuilder::new(RP_ID, &origin)
        .unwrap()
        .rp_name("Example")
        .build()
        .unwrap()
}

/// Registers a credential of `authenticator` for `user` and returns the
/// relying party's record of it.
fn register(rp: &Webauthn, authenticator: &mut Authenticator, user: Uuid) -> Passkey {
    let (options, state) = rp
        .start_passkey_registration(user, "ada@example.com", "Ada", None)
        .unwrap();
    let created = authenticator
        .create(&serde_json::to_string(&options).unwrap())
        .unwrap();
    let response: RegisterPublicKeyCredential = serde_json::from_str(&created.json).unwrap();
    let passkey = rp.finish_passkey_registration(&response, &state).unwrap();
    assert_eq!(passkey.cred_id().as_slice(), created.credential_id);
    passkey
}

/// Asks `authenticator` to sign in with `passkey`: webauthn-rs's verdict.
fn authenticate(
    rp: &Webauthn,
    authenticator: &mut Authenticator,
    passkey: &mut Passkey,
) -> Result<u32, WebauthnError> {
    let (options, state) = rp
        .start_passkey_authentication(std::slice::from_ref(passkey))
        .unwrap();
    let json = authenticator
        .get(&serde_json::to_string(&options).unwrap())
        .unwrap();
    let response: PublicKeyCredential = serde_json::from_str(&json).unwrap();
    let result = rp.finish_passkey_authentication(&response, &state)?;
    assert!(result.user_verified());
    passkey.update_credential(&result);
    Ok(result.counter())
}

#[test]
fn registers_and_signs_in_with_a_counter_that_increases() {
    let rp = relying_party();
    let mut authenticator = Authenticator::new(ORIGIN);
    let mut passkey = register(&rp, &mut authenticator, Uuid::new_v4());

    // The creation counted as the first use.
    assert_eq!(authenticate(&rp, &mut authenticator, &mut passkey), Ok(2));
    assert_eq!(authenticate(&rp, &mut authenticator, &mut passkey), Ok(3));
}

#[test]
fn the_json_is_base64url_without_padding_as_browsers_send_it() {
    let rp = relying_party();
    let (options, _) = rp
        .start_passkey_registration(Uuid::new_v4(), "ada", "Ada", None)
        .unwrap();
    let created = Authenticator::new(ORIGIN)
        .create(&serde_json::to_string(&options).unwrap())
        .unwrap();
    let json: Value = serde_json::from_str(&created.json).unwrap();
    assert_eq!(json["type"], "public-key");
    assert_eq!(json["id"], json["rawId"]);
    for field in [
        &json["id"],
        &json["response"]["clientDataJSON"],
        &json["response"]["attestationObject"],
    ] {
        let text = field.as_str().unwrap();
        assert!(!text.contains(['=', '+', '/']), "{text}");
    }
    let client_data = URL_SAFE_NO_PAD
        .decode(json["response"]["clientDataJSON"].as_str().unwrap())
        .unwrap();
    let client_data: Value = serde_json::from_slice(&client_data).unwrap();
    assert_eq!(client_data["type"], "webauthn.create");
    assert_eq!(client_data["origin"], ORIGIN);
}

#[test]
fn a_discoverable_sign_in_names_the_user_by_its_handle() {
    let rp = relying_party();
    let user = Uuid::new_v4();
    let mut authenticator = Authenticator::new(ORIGIN);
    let passkey = register(&rp, &mut authenticator, user);

    let (options, state) = rp.start_discoverable_authentication().unwrap();
    let options = serde_json::to_string(&options).unwrap();
    assert!(options.contains(r#""allowCredentials":[]"#), "{options}");
    let response: PublicKeyCredential =
        serde_json::from_str(&authenticator.get(&options).unwrap()).unwrap();
    let (handle, credential_id) = rp.identify_discoverable_authentication(&response).unwrap();
    assert_eq!(handle, user);
    assert_eq!(credential_id, passkey.cred_id().as_slice());
    rp.finish_discoverable_authentication_v2(&response, state, &passkey)
        .unwrap();
}

#[test]
fn without_a_user_handle_a_discoverable_sign_in_names_no_one() {
    let rp = relying_party();
    let mut authenticator = Authenticator::new(ORIGIN);
    register(&rp, &mut authenticator, Uuid::new_v4());
    authenticator.set_user_handle(false);

    let (options, _) = rp.start_discoverable_authentication().unwrap();
    let json = authenticator
        .get(&serde_json::to_string(&options).unwrap())
        .unwrap();
    let response: PublicKeyCredential = serde_json::from_str(&json).unwrap();
    assert_eq!(
        rp.identify_discoverable_authentication(&response).err(),
        Some(WebauthnError::InvalidUserUniqueId)
    );
}

#[test]
fn another_origin_is_refused() {
    let rp = relying_party();
    let mut authenticator = Authenticator::new(ORIGIN);
    let mut passkey = register(&rp, &mut authenticator, Uuid::new_v4());

    authenticator.set_origin("https://evil.example");
    assert_eq!(
        authenticate(&rp, &mut authenticator, &mut passkey),
        Err(WebauthnError::InvalidRPOrigin)
    );
    let (options, state) = rp
        .start_passkey_registration(Uuid::new_v4(), "bob", "Bob", None)
        .unwrap();
    let created = authenticator
        .create(&serde_json::to_string(&options).unwrap())
        .unwrap();
    let response: RegisterPublicKeyCredential = serde_json::from_str(&created.json).unwrap();
    assert_eq!(
        rp.finish_passkey_registration(&response, &state).err(),
        Some(WebauthnError::InvalidRPOrigin)
    );
}

#[test]
fn another_rp_id_is_refused() {
    let rp = relying_party();
    let mut authenticator = Authenticator::new(ORIGIN);
    let mut passkey = register(&rp, &mut authenticator, Uuid::new_v4());

    authenticator.set_rp_id(Some("evil.example"));
    assert_eq!(
        authenticate(&rp, &mut authenticator, &mut passkey),
        Err(WebauthnError::InvalidRPIDHash)
    );
    authenticator.set_rp_id(None);
    assert!(authenticate(&rp, &mut authenticator, &mut passkey).is_ok());
}

#[test]
fn a_tampered_signature_is_refused() {
    let rp = relying_party();
    let mut authenticator = Authenticator::new(ORIGIN);
    let mut passkey = register(&rp, &mut authenticator, Uuid::new_v4());

    authenticator.set_tamper_signature(true);
    assert_eq!(
        authenticate(&rp, &mut authenticator, &mut passkey),
        Err(WebauthnError::AuthenticationFailure)
    );
}

#[test]
fn no_user_verification_is_refused() {
    let rp = relying_party();
    let mut authenticator = Authenticator::new(ORIGIN);
    let mut passkey = register(&rp, &mut authenticator, Uuid::new_v4());

    authenticator.set_user_verified(false);
    assert_eq!(
        authenticate(&rp, &mut authenticator, &mut passkey),
        Err(WebauthnError::UserNotVerified)
    );
    let (options, state) = rp
        .start_passkey_registration(Uuid::new_v4(), "bob", "Bob", None)
        .unwrap();
    let created = authenticator
        .create(&serde_json::to_string(&options).unwrap())
        .unwrap();
    let response: RegisterPublicKeyCredential = serde_json::from_str(&created.json).unwrap();
    assert_eq!(
        rp.finish_passkey_registration(&response, &state).err(),
        Some(WebauthnError::UserNotVerified)
    );
}

#[test]
fn a_counter_that_goes_back_or_stays_is_a_possible_clone() {
    let rp = relying_party();
    let mut authenticator = Authenticator::new(ORIGIN);
    let mut passkey = register(&rp, &mut authenticator, Uuid::new_v4());
    assert_eq!(authenticate(&rp, &mut authenticator, &mut passkey), Ok(2));
    assert_eq!(authenticate(&rp, &mut authenticator, &mut passkey), Ok(3));

    for counter in [Counter::Fixed(2), Counter::Fixed(3)] {
        authenticator.set_counter(counter);
        assert_eq!(
            authenticate(&rp, &mut authenticator, &mut passkey),
            Err(WebauthnError::CredentialPossibleCompromise)
        );
    }
    // Fixed(3) was sent last: the next increment is 4.
    authenticator.set_counter(Counter::Increment);
    assert_eq!(authenticate(&rp, &mut authenticator, &mut passkey), Ok(4));
}

#[test]
fn a_clone_of_the_authenticator_replays_the_same_counter() {
    let rp = relying_party();
    let mut authenticator = Authenticator::new(ORIGIN);
    let mut passkey = register(&rp, &mut authenticator, Uuid::new_v4());
    let mut clone = authenticator.clone();

    assert_eq!(authenticate(&rp, &mut authenticator, &mut passkey), Ok(2));
    assert_eq!(
        authenticate(&rp, &mut clone, &mut passkey),
        Err(WebauthnError::CredentialPossibleCompromise)
    );
}

#[test]
fn a_synced_passkey_keeps_no_counter_and_reports_its_backup() {
    let rp = relying_party();
    let mut authenticator = Authenticator::new(ORIGIN);
    authenticator
        .set_counter(Counter::Zero)
        .set_backup(true, true);
    let mut passkey = register(&rp, &mut authenticator, Uuid::new_v4());

    for _ in 0..3 {
        assert_eq!(authenticate(&rp, &mut authenticator, &mut passkey), Ok(0));
    }
    let (options, state) = rp
        .start_passkey_authentication(std::slice::from_ref(&passkey))
        .unwrap();
    let json = authenticator
        .get(&serde_json::to_string(&options).unwrap())
        .unwrap();
    let result = rp
        .finish_passkey_authentication(&serde_json::from_str(&json).unwrap(), &state)
        .unwrap();
    assert!(result.backup_eligible() && result.backup_state());
}

#[test]
fn a_credential_the_options_did_not_allow_is_refused() {
    let rp = relying_party();
    let mut ada = Authenticator::new(ORIGIN);
    let mut ada_passkey = register(&rp, &mut ada, Uuid::new_v4());
    let mut bob = Authenticator::new(ORIGIN);
    let bob_passkey = register(&rp, &mut bob, Uuid::new_v4());

    // A browser would find nothing to answer Ada's options with...
    let (options, state) = rp
        .start_passkey_authentication(std::slice::from_ref(&ada_passkey))
        .unwrap();
    let options = serde_json::to_string(&options).unwrap();
    assert_eq!(bob.get(&options), Err(AuthenticatorError::NoCredential));
    // ...but a forged answer with Bob's credential is refused.
    bob.answer_with(Some(bob_passkey.cred_id()));
    let response: PublicKeyCredential = serde_json::from_str(&bob.get(&options).unwrap()).unwrap();
    assert!(rp.finish_passkey_authentication(&response, &state).is_err());
    assert_eq!(authenticate(&rp, &mut ada, &mut ada_passkey), Ok(2));
}

#[test]
fn an_excluded_credential_is_not_created_again() {
    let rp = relying_party();
    let user = Uuid::new_v4();
    let mut authenticator = Authenticator::new(ORIGIN);
    let passkey = register(&rp, &mut authenticator, user);

    let (options, _) = rp
        .start_passkey_registration(user, "ada", "Ada", Some(vec![passkey.cred_id().clone()]))
        .unwrap();
    assert_eq!(
        authenticator.create(&serde_json::to_string(&options).unwrap()),
        Err(AuthenticatorError::Excluded)
    );
    assert_eq!(authenticator.credential_ids().len(), 1);
}

#[test]
fn options_it_cannot_read_are_named() {
    let mut authenticator = Authenticator::new(ORIGIN);
    assert!(matches!(
        authenticator.create("not json"),
        Err(AuthenticatorError::Malformed(_))
    ));
    assert_eq!(
        authenticator
            .create(r#"{"publicKey":{"pubKeyCredParams":[{"type":"public-key","alg":-257}]}}"#),
        Err(AuthenticatorError::UnsupportedAlgorithm)
    );
    assert_eq!(
        authenticator.get(r#"{"challenge":"AAAA","rpId":"example.com","allowCredentials":[]}"#),
        Err(AuthenticatorError::NoCredential)
    );
}

#[test]
fn cbor_heads_use_the_shortest_form() {
    let encode = |value: i64| {
        let mut out = Vec::new();
        cbor_int(&mut out, value);
        out
    };
    // RFC 8949 Appendix A.
    assert_eq!(encode(0), [0x00]);
    assert_eq!(encode(23), [0x17]);
    assert_eq!(encode(24), [0x18, 0x18]);
    assert_eq!(encode(1000), [0x19, 0x03, 0xe8]);
    assert_eq!(encode(1_000_000), [0x1a, 0x00, 0x0f, 0x42, 0x40]);
    assert_eq!(encode(-1), [0x20]);
    assert_eq!(encode(-7), [0x26]);
    assert_eq!(encode(-100), [0x38, 0x63]);
    let mut text = Vec::new();
    cbor_text(&mut text, "IETF");
    assert_eq!(text, [0x64, 0x49, 0x45, 0x54, 0x46]);
}
