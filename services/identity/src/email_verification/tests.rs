use chrono::Duration;
use latch_domain::{
    Clock, Reason, Result,
    model::ClientInfo,
    ports::{FlowState, OutboxRepository, UserRepository},
};

use crate::{
    codes::{
        CODE_TTL, MAX_WRONG_TRIES,
        test_support::{
            assert_refused, last_mailed_code, mails, next_update, no_update, other_than, updates,
        },
    },
    testing::*,
};

fn client() -> ClientInfo {
    ClientInfo {
        ip: Some("198.51.100.4".to_owned()),
        user_agent: Some("test".to_owned()),
    }
}

/// Signs up `email` (unverified) and returns its id.
async fn unverified(h: &Harness, email: &str) -> latch_domain::UserId {
    h.identity
        .sign_up(sign_up_request(email))
        .await
        .expect("sign up")
        .user
        .id
}

#[tokio::test]
async fn a_mailed_code_verifies_the_address_once() -> Result<()> {
    let h = Harness::new().await;
    let ada = unverified(&h, "ada@example.com").await;
    let mut events = updates(&h, ada).await?;

    h.identity
        .send_email_verification("  ADA@example.com ", &client())
        .await?;
    let sent = mails(&h, ada).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "ada@example.com");
    let code = last_mailed_code(&h, ada).await;
    // Stored sealed, as an HMAC: neither the code nor its digits in Redis.
    let key = format!("email_verification:{ada}");
    let stored = h.flow_state.take(&key).await?.expect("a record");
    assert!(!stored.windows(6).any(|w| w == code.as_bytes()));
    h.flow_state
        .put(&key, &stored, std::time::Duration::from_secs(3600))
        .await?;

    assert_refused(
        h.identity
            .verify_email("ada@example.com", &other_than(&code), &client())
            .await,
        Reason::CodeInvalid,
    );
    assert!(!h.identity.get_user(ada).await?.email_verified);

    let user = h
        .identity
        .verify_email("Ada@Example.com", &code, &client())
        .await?;
    assert!(user.email_verified);
    assert!(h.identity.get_user(ada).await?.email_verified);
    assert_eq!(
        next_update(&mut events).await,
        (ada, vec!["email_verified".to_owned()])
    );

    assert_refused(
        h.identity
            .verify_email("ada@example.com", &code, &client())
            .await,
        Reason::CodeUsed,
    );
    no_update(&mut events).await;
    Ok(())
}

#[tokio::test]
async fn expired_over_tried_and_malformed_codes_change_nothing() -> Result<()> {
    let h = Harness::new().await;
    let ada = unverified(&h, "ada@example.com").await;
    let mut events = updates(&h, ada).await?;

    // Malformed: refused before the record is read, so it costs no try.
    h.identity
        .send_email_verification("ada@example.com", &client())
        .await?;
    let code = last_mailed_code(&h, ada).await;
    for _ in 0..MAX_WRONG_TRIES + 2 {
        assert_refused(
            h.identity
                .verify_email("ada@example.com", "12a456", &client())
                .await,
            Reason::InvalidArgument,
        );
    }
    assert_refused(
        h.identity
            .verify_email("not an address", &code, &client())
            .await,
        Reason::InvalidArgument,
    );

    // Over-tried: five wrong codes, then even the right one is refused.
    for _ in 0..MAX_WRONG_TRIES {
        assert_refused(
            h.identity
                .verify_email("ada@example.com", &other_than(&code), &client())
                .await,
            Reason::CodeInvalid,
        );
    }
    assert_refused(
        h.identity
            .verify_email("ada@example.com", &code, &client())
            .await,
        Reason::TooManyAttempts,
    );
    assert!(!h.identity.get_user(ada).await?.email_verified);

    // Expired: a new code (the throttle passed), then its time runs out.
    h.clock.advance(Duration::seconds(61));
    h.identity
        .send_email_verification("ada@example.com", &client())
        .await?;
    let fresh = last_mailed_code(&h, ada).await;
    h.clock.advance(CODE_TTL);
    assert_refused(
        h.identity
            .verify_email("ada@example.com", &fresh, &client())
            .await,
        Reason::CodeExpired,
    );
    assert!(!h.identity.get_user(ada).await?.email_verified);
    no_update(&mut events).await;
    Ok(())
}

/// An unknown address, a verified one and an unverified one answer alike,
/// step by step; only the unverified account is mailed.
#[tokio::test]
async fn any_address_gets_the_same_answers() -> Result<()> {
    let h = Harness::new().await;
    let ada = unverified(&h, "ada@example.com").await;
    let bob = unverified(&h, "bob@example.com").await;
    h.identity
        .send_email_verification("bob@example.com", &client())
        .await?;
    let bobs = last_mailed_code(&h, bob).await;
    h.identity
        .verify_email("bob@example.com", &bobs, &client())
        .await?;
    h.clock.advance(Duration::seconds(61));

    let addresses = ["ada@example.com", "bob@example.com", "nobody@example.com"];
    let mut outcomes = Vec::new();
    for email in addresses {
        let mut seen = Vec::new();
        let reason = |r: Result<_>| r.err().map(|e: latch_domain::Error| e.reason());
        seen.push(reason(
            h.identity.send_email_verification(email, &client()).await,
        ));
        seen.push(reason(
            h.identity.send_email_verification(email, &client()).await,
        ));
        for _ in 0..=MAX_WRONG_TRIES {
            seen.push(reason(
                h.identity
                    .verify_email(email, "000000", &client())
                    .await
                    .map(drop),
            ));
        }
        outcomes.push(seen);
    }
    let expected: Vec<Option<Reason>> = [None, Some(Reason::RateLimited)]
        .into_iter()
        .chain(std::iter::repeat_n(
            Some(Reason::CodeInvalid),
            usize::from(MAX_WRONG_TRIES),
        ))
        .chain([Some(Reason::TooManyAttempts)])
        .collect();
    // (A mailed code of 000000 would pass once in a million runs.)
    for (email, seen) in addresses.iter().zip(&outcomes) {
        assert_eq!(seen, &expected, "{email}");
    }
    assert_eq!(
        mails(&h, ada).await.len(),
        1,
        "the unverified account is mailed"
    );
    assert_eq!(
        mails(&h, bob).await.len(),
        1,
        "the verified one is not mailed again"
    );
    assert!(
        h.outbox.find_by_key("").await?.is_empty(),
        "nothing is queued for no one"
    );
    Ok(())
}

#[tokio::test]
async fn resends_are_throttled_and_a_new_code_replaces_the_old() -> Result<()> {
    let h = Harness::new().await;
    let ada = unverified(&h, "ada@example.com").await;
    h.identity
        .send_email_verification("ada@example.com", &client())
        .await?;
    let first = last_mailed_code(&h, ada).await;

    let err = h
        .identity
        .send_email_verification("ada@example.com", &client())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::RateLimited);
    assert!(err.retry_after().is_some_and(|d| d.as_secs() <= 60));
    assert_eq!(
        mails(&h, ada).await.len(),
        1,
        "a refused send sends nothing"
    );

    for sent in 2..=5 {
        h.clock.advance(Duration::seconds(61));
        h.identity
            .send_email_verification("ada@example.com", &client())
            .await?;
        assert_eq!(mails(&h, ada).await.len(), sent);
    }
    h.clock.advance(Duration::seconds(61));
    assert_refused(
        h.identity
            .send_email_verification("ada@example.com", &client())
            .await,
        Reason::RateLimited,
    );

    let newest = last_mailed_code(&h, ada).await;
    if newest != first {
        assert_refused(
            h.identity
                .verify_email("ada@example.com", &first, &client())
                .await,
            Reason::CodeInvalid,
        );
    }
    h.identity
        .verify_email("ada@example.com", &newest, &client())
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_pending_sign_up_is_no_account_to_verify() -> Result<()> {
    let h = Harness::new().await;
    let id = latch_domain::UserId::new();
    h.users
        .create(&latch_domain::model::NewUser {
            id,
            email: "pending@example.com".to_owned(),
            phone: None,
            password_hash: None,
            status: latch_domain::model::UserStatus::Pending,
            created_at: h.clock.now(),
        })
        .await?;
    h.identity
        .send_email_verification("pending@example.com", &client())
        .await?;
    assert!(mails(&h, id).await.is_empty());
    Ok(())
}

/// Over the handlers, as an anonymous caller: the address names whose
/// code it is, and refusals carry their stable reasons.
#[tokio::test]
async fn the_public_rpcs_take_the_address_and_answer_with_stable_reasons() -> Result<()> {
    use latch_proto::latch::identity::v1 as pb;
    use latch_proto::latch::identity::v1::identity_service_server::IdentityService;
    use latch_runtime::{
        auth::{Access, Caller, request_as},
        status::reason_of,
    };

    use crate::grpc::{IdentityGrpc, POLICY};

    for rpc in ["SendEmailVerification", "VerifyEmail"] {
        assert!(
            POLICY
                .methods
                .iter()
                .any(|(name, access, _)| *name == rpc && *access == Access::Public),
            "{rpc}"
        );
    }
    let h = Harness::new().await;
    let ada = unverified(&h, "ada@example.com").await;
    let grpc = IdentityGrpc::new(h.identity.clone());
    let anonymous = || Caller::anonymous(Some("192.0.2.1".into()), None);

    grpc.send_email_verification(request_as(
        anonymous(),
        pb::SendEmailVerificationRequest {
            email: "ada@example.com".into(),
            client: None,
        },
    ))
    .await
    .map_err(|s| latch_domain::Error::internal_msg(s.to_string()))?;
    let code = last_mailed_code(&h, ada).await;

    let verify = |email: &str, code: &str| {
        grpc.verify_email(request_as(
            anonymous(),
            pb::VerifyEmailRequest {
                code: code.to_owned(),
                email: email.to_owned(),
                client: None,
            },
        ))
    };
    for (email, bad, status, reason) in [
        (
            "ada@example.com",
            "12345",
            tonic::Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            "",
            code.as_str(),
            tonic::Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            "nobody@example.com",
            code.as_str(),
            tonic::Code::InvalidArgument,
            "CODE_INVALID",
        ),
    ] {
        let refused = verify(email, bad).await.unwrap_err();
        assert_eq!(refused.code(), status, "{email} {bad}");
        assert_eq!(
            reason_of(&refused).as_deref(),
            Some(reason),
            "{email} {bad}"
        );
    }
    let user = verify("ada@example.com", &code)
        .await
        .map_err(|s| latch_domain::Error::internal_msg(s.to_string()))?
        .into_inner()
        .user
        .expect("the user");
    assert!(user.email_verified);
    let used = verify("ada@example.com", &code).await.unwrap_err();
    assert_eq!(used.code(), tonic::Code::FailedPrecondition);
    assert_eq!(reason_of(&used).as_deref(), Some("CODE_USED"));
    Ok(())
}
