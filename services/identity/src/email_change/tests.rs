use latch_domain::{Reason, Result, model::ClientInfo, secret::Secret};

use crate::{
    codes::test_support::{assert_refused, code_in, mails, next_update, no_update, updates},
    testing::*,
};

fn secret(value: &str) -> Secret<String> {
    Secret::new(value.to_owned())
}

#[tokio::test]
async fn the_new_address_starts_unverified_gets_a_code_and_the_old_one_is_told() -> Result<()> {
    let h = Harness::new().await;
    let ada = h
        .identity
        .sign_up(sign_up_request("ada@example.com"))
        .await?
        .user
        .id;
    let mut events = updates(&h).await?;

    let user = h
        .identity
        .change_email(ada, " Ada.Lovelace@Example.org ", &secret(PASSWORD))
        .await?;
    assert_eq!(user.email, "ada.lovelace@example.org");
    assert!(!user.email_verified);
    assert_eq!(
        next_update(&mut events).await,
        (ada, vec!["email".to_owned(), "email_verified".to_owned()])
    );
    let sent = mails(&h, ada).await;
    assert_eq!(sent.len(), 2);
    let code_mail = sent
        .iter()
        .find(|m| m.to == "ada.lovelace@example.org")
        .expect("a code to the new address");
    let notice = sent
        .iter()
        .find(|m| m.to == "ada@example.com")
        .expect("a notice to the old address");
    assert!(notice.text.contains("ada.lovelace@example.org"));

    let verified = h
        .identity
        .verify_email(
            "ada.lovelace@example.org",
            &code_in(&code_mail.text),
            &ClientInfo::default(),
        )
        .await?;
    assert!(verified.email_verified);
    Ok(())
}

#[tokio::test]
async fn a_taken_same_or_malformed_address_or_a_wrong_password_changes_nothing() -> Result<()> {
    let h = Harness::new().await;
    let ada = h
        .identity
        .sign_up(sign_up_request("ada@example.com"))
        .await?
        .user
        .id;
    h.identity
        .sign_up(sign_up_request("bob@example.com"))
        .await?;
    let mut events = updates(&h).await?;

    assert_refused(
        h.identity
            .change_email(ada, "BOB@example.com", &secret(PASSWORD))
            .await,
        Reason::EmailTaken,
    );
    assert_refused(
        h.identity
            .change_email(ada, "ADA@example.com", &secret(PASSWORD))
            .await,
        Reason::InvalidArgument,
    );
    assert_refused(
        h.identity
            .change_email(ada, "not an address", &secret(PASSWORD))
            .await,
        Reason::InvalidArgument,
    );
    assert_refused(
        h.identity
            .change_email(ada, "new@example.com", &secret("not my password"))
            .await,
        Reason::InvalidCredentials,
    );
    assert_eq!(h.identity.get_user(ada).await?.email, "ada@example.com");
    assert!(mails(&h, ada).await.is_empty());
    no_update(&mut events).await;
    Ok(())
}
