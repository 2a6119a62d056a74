use chrono::Duration;
use latch_domain::{Reason, Result, UserId, ports::UserRepository};

use crate::{
    codes::{
        CODE_TTL, MAX_WRONG_TRIES,
        test_support::{
            assert_refused, code_in, next_update, no_update, other_than, texts, updates,
        },
    },
    testing::*,
};

async fn user(h: &Harness, phone: Option<&str>) -> UserId {
    let mut request = sign_up_request("ada@example.com");
    request.phone = phone.map(str::to_owned);
    h.identity.sign_up(request).await.expect("sign up").user.id
}

async fn last_texted_code(h: &Harness, user: UserId) -> String {
    let texts = texts(h, user).await;
    code_in(&texts.last().expect("a text").body)
}

#[tokio::test]
async fn a_new_number_is_stored_in_e164_and_verified_by_its_code() -> Result<()> {
    let h = Harness::new().await;
    let ada = user(&h, None).await;
    let mut events = updates(&h, ada).await?;

    h.identity
        .send_phone_verification(ada, Some(" +44 20 7946 0958 "))
        .await?;
    let account = h.identity.get_user(ada).await?;
    assert_eq!(account.phone.as_deref(), Some("+442079460958"));
    assert!(!account.phone_verified);
    assert_eq!(
        next_update(&mut events).await,
        (ada, vec!["phone".to_owned(), "phone_verified".to_owned()])
    );
    let sent = texts(&h, ada).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "+442079460958");
    let code = last_texted_code(&h, ada).await;

    assert_refused(
        h.identity.verify_phone(ada, &other_than(&code)).await,
        Reason::CodeInvalid,
    );
    let verified = h.identity.verify_phone(ada, &code).await?;
    assert!(verified.phone_verified);
    assert_eq!(
        next_update(&mut events).await,
        (ada, vec!["phone_verified".to_owned()])
    );
    assert_refused(h.identity.verify_phone(ada, &code).await, Reason::CodeUsed);

    // The verified number again: nothing to do.
    h.clock.advance(Duration::seconds(61));
    assert_refused(
        h.identity.send_phone_verification(ada, None).await,
        Reason::AlreadyVerified,
    );
    assert_refused(
        h.identity
            .send_phone_verification(ada, Some("+442079460958"))
            .await,
        Reason::AlreadyVerified,
    );
    no_update(&mut events).await;
    Ok(())
}

#[tokio::test]
async fn refusals_set_no_number_and_send_nothing() -> Result<()> {
    let h = Harness::new().await;
    let ada = user(&h, None).await;

    let err = h
        .identity
        .send_phone_verification(ada, None)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::InvalidArgument);
    assert_eq!(err.violation().map(|v| v.field.as_str()), Some("phone"));
    for bad in ["4155550100", "+1 415 555", "+44 20 7946 0958 ext 1"] {
        assert_refused(
            h.identity.send_phone_verification(ada, Some(bad)).await,
            Reason::InvalidArgument,
        );
    }
    assert_eq!(h.identity.get_user(ada).await?.phone, None);

    h.identity
        .send_phone_verification(ada, Some("+14155550100"))
        .await?;
    // Too soon for another code: the other number is not set either.
    assert_refused(
        h.identity
            .send_phone_verification(ada, Some("+442079460958"))
            .await,
        Reason::RateLimited,
    );
    assert_eq!(
        h.identity.get_user(ada).await?.phone.as_deref(),
        Some("+14155550100")
    );
    assert_eq!(texts(&h, ada).await.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_code_proves_only_the_number_it_was_sent_to() -> Result<()> {
    let h = Harness::new().await;
    let ada = user(&h, Some("+14155550100")).await;
    h.identity.send_phone_verification(ada, None).await?;
    let code = last_texted_code(&h, ada).await;
    // The number changes; the code is for the old one.
    h.users
        .set_phone(
            ada,
            "+442079460958",
            latch_domain::Clock::now(&h.clock),
            &[],
        )
        .await?;
    assert_refused(
        h.identity.verify_phone(ada, &code).await,
        Reason::CodeInvalid,
    );
    assert!(!h.identity.get_user(ada).await?.phone_verified);
    Ok(())
}

#[tokio::test]
async fn expired_and_over_tried_codes_change_nothing() -> Result<()> {
    let h = Harness::new().await;
    let ada = user(&h, Some("+14155550100")).await;
    h.identity.send_phone_verification(ada, None).await?;
    let code = last_texted_code(&h, ada).await;
    assert_refused(
        h.identity.verify_phone(ada, "12345").await,
        Reason::InvalidArgument,
    );
    for _ in 0..MAX_WRONG_TRIES {
        assert_refused(
            h.identity.verify_phone(ada, &other_than(&code)).await,
            Reason::CodeInvalid,
        );
    }
    assert_refused(
        h.identity.verify_phone(ada, &code).await,
        Reason::TooManyAttempts,
    );

    h.clock.advance(Duration::seconds(61));
    h.identity.send_phone_verification(ada, None).await?;
    let fresh = last_texted_code(&h, ada).await;
    h.clock.advance(CODE_TTL + Duration::seconds(1));
    assert_refused(
        h.identity.verify_phone(ada, &fresh).await,
        Reason::CodeExpired,
    );
    assert!(!h.identity.get_user(ada).await?.phone_verified);
    Ok(())
}
