use latch_domain::{Reason, Result, model::ClientInfo, secret::Secret};

use crate::{
    codes::test_support::{code_in, mails, next_update, no_update, updates},
    testing::*,
};

fn secret(value: &str) -> Secret<String> {
    Secret::new(value.to_owned())
}

#[tokio::test]
async fn the_new_address_starts_unverified_gets_a_code_and_the_old_one_is_told() -> Result<()> {
    let h = Harness::new().await;
    let ada = h.sign_up("ada@example.com").await?.user.id;
    let mut events = updates(&h, ada).await?;

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
    assert_eq!(
        next_update(&mut events).await,
        (ada, vec!["email_verified".to_owned()])
    );
    Ok(())
}

#[tokio::test]
async fn a_taken_same_or_malformed_address_or_a_wrong_password_changes_nothing() -> Result<()> {
    let h = Harness::new().await;
    let ada = h.sign_up("ada@example.com").await?.user.id;
    h.sign_up("bob@example.com").await?;
    let mut events = updates(&h, ada).await?;

    for (address, password, refused) in [
        ("BOB@example.com", PASSWORD, Reason::EmailTaken),
        ("ADA@example.com", PASSWORD, Reason::InvalidArgument),
        ("not an address", PASSWORD, Reason::InvalidArgument),
        (
            "new@example.com",
            "not my password",
            Reason::InvalidCredentials,
        ),
    ] {
        let password = secret(password);
        let result = h.identity.change_email(ada, address, &password).await;
        let reason = result.err().map(|e| e.reason());
        assert_eq!(reason, Some(refused), "{address}");
    }
    assert_eq!(h.identity.get_user(ada).await?.email, "ada@example.com");
    assert!(mails(&h, ada).await.is_empty());
    no_update(&mut events).await;
    Ok(())
}
