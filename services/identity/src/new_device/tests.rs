//! The device rule on its own, and the notice on the identity harness:
//! which sign-ins queue a NewDevice mail, and which do not.

use chrono::Duration;
use latch_domain::{
    Clock, Result, UserId,
    model::{ClientInfo, LoginEvent},
    ports::{LoginHistoryRepository, Mail},
};
use latch_messaging::Rendered;

use super::*;
use crate::{
    IdentityConfig, LoginOutcome, SecondFactor, SecondFactorProof, testing::*,
    totp::tests::enrolled,
};

const CHROME_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) \
    AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
const CHROME_MAC_NEWER: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) \
    AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const FIREFOX_LINUX: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0";
const ADA: &str = "ada@example.com";

fn client(ua: &str, ip: &str) -> ClientInfo {
    ClientInfo {
        ip: Some(ip.to_owned()),
        user_agent: Some(ua.to_owned()),
    }
}

#[test]
fn one_device_across_browser_updates_and_addresses_of_its_network() {
    let home = Device::of(&home());
    assert_eq!(home.name, "Chrome on Mac OSX");
    assert_eq!(home.network.as_deref(), Some("203.0.113.0/24"));
    assert_eq!(home.fingerprint.len(), 32);
    assert_eq!(
        Device::of(&client(CHROME_MAC_NEWER, "203.0.113.200")),
        home,
        "a browser update and another address of the /24 are the same device"
    );
    let v6 = Device::of(&client(CHROME_MAC, "2001:db8:5:1::1"));
    assert_eq!(Device::of(&client(CHROME_MAC, "2001:db8:5:ffff::9")), v6);
}

#[test]
fn another_browser_system_or_network_is_another_device() {
    let home = Device::of(&home());
    for other in [
        client(FIREFOX_LINUX, "203.0.113.7"),
        client(CHROME_MAC, "203.0.114.7"),
        client(CHROME_MAC, "2001:db8::1"),
        ClientInfo::default(),
    ] {
        assert_ne!(
            Device::of(&other).fingerprint,
            home.fingerprint,
            "{other:?}"
        );
    }
    assert_eq!(Device::of(&ClientInfo::default()).network, None);
}

/// ada@example.com signs in from `from`, with no second factor asked.
async fn login(h: &Harness, from: ClientInfo) {
    let outcome = h.log_in(ADA, PASSWORD, from).await.expect("login");
    assert!(matches!(outcome, LoginOutcome::SignedIn(_)));
}

/// Ada's usual device: Chrome on a Mac, at home.
fn home() -> ClientInfo {
    client(CHROME_MAC, "203.0.113.7")
}

/// A device Ada has never used: Firefox on Linux, elsewhere.
fn stranger() -> ClientInfo {
    client(FIREFOX_LINUX, "198.51.100.4")
}

/// A harness on `config` where Ada has signed up, then signed in from
/// [`home`].
async fn ada_signed_in_at_home(config: IdentityConfig) -> Result<(Harness, UserId)> {
    let h = Harness::with_config(config).await;
    let user = h.sign_up(ADA).await?.user.id;
    login(&h, home()).await;
    Ok((h, user))
}

/// The NewDevice mails queued for `user`, oldest first.
async fn notices(h: &Harness, user: UserId) -> Vec<Mail> {
    h.queued_messages(user)
        .await
        .into_iter()
        .filter_map(|m| match m {
            Rendered::Mail(mail) if mail.subject.contains("New sign-in") => Some(mail),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn only_a_device_new_to_the_user_gets_a_notice() -> Result<()> {
    let (h, user) = ada_signed_in_at_home(IdentityConfig::default()).await?;
    assert!(
        notices(&h, user).await.is_empty(),
        "the first sign-in after sign-up"
    );
    login(&h, client(CHROME_MAC_NEWER, "203.0.113.99")).await;
    assert!(notices(&h, user).await.is_empty(), "the same device");

    h.clock.advance(Duration::minutes(5));
    login(&h, stranger()).await;
    let sent = notices(&h, user).await;
    assert_eq!(sent.len(), 1);
    let mail = &sent[0];
    assert_eq!(mail.to, ADA);
    assert!(mail.text.contains("Firefox on Linux"), "{}", mail.text);
    assert!(
        mail.text.contains("network 198.51.100.0/24"),
        "{}",
        mail.text
    );
    let time = h.clock.now().format("%Y-%m-%d %H:%M UTC").to_string();
    assert!(mail.text.contains(&time), "{}", mail.text);

    login(&h, client(FIREFOX_LINUX, "198.51.100.5")).await;
    assert_eq!(notices(&h, user).await.len(), 1, "known from now on");
    Ok(())
}

#[tokio::test]
async fn a_device_unused_for_90_days_is_new_again() -> Result<()> {
    let (h, user) = ada_signed_in_at_home(IdentityConfig::default()).await?;

    h.clock.advance(KNOWN_FOR - Duration::minutes(1));
    login(&h, home()).await;
    assert!(notices(&h, user).await.is_empty(), "used within 90 days");

    h.clock.advance(KNOWN_FOR + Duration::minutes(1));
    login(&h, home()).await;
    assert_eq!(notices(&h, user).await.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_refused_attempt_does_not_make_a_device_known() -> Result<()> {
    let (h, user) = ada_signed_in_at_home(IdentityConfig::default()).await?;
    let refused = h.log_in(ADA, "not the password at all", stranger()).await;
    assert!(refused.is_err());
    login(&h, stranger()).await;
    assert_eq!(notices(&h, user).await.len(), 1);
    Ok(())
}

#[tokio::test]
async fn the_setting_turns_notices_off() -> Result<()> {
    let config = IdentityConfig {
        notify_new_device: false,
        ..IdentityConfig::default()
    };
    let (h, user) = ada_signed_in_at_home(config).await?;
    login(&h, stranger()).await;
    assert!(notices(&h, user).await.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_second_factor_sign_in_from_a_new_device_gets_a_notice() -> Result<()> {
    let h = Harness::new().await;
    let ada = enrolled(&h, ADA).await;
    // A password sign-in before TOTP, so the user has a known device.
    let seen = LoginEvent {
        id: uuid::Uuid::now_v7(),
        user_id: ada.user,
        at: h.clock.now(),
        ip: Some("203.0.113.7".to_owned()),
        user_agent: Some(CHROME_MAC.to_owned()),
        method: "password".to_owned(),
        success: true,
        failure_reason: None,
        device: Some(Device::of(&home()).fingerprint),
    };
    h.history.record(&seen, &[]).await?;

    let challenge = match h.log_in(&ada.email, PASSWORD, stranger()).await? {
        LoginOutcome::SecondFactor(challenge) => challenge,
        LoginOutcome::SignedIn(_) => panic!("TOTP is on"),
    };
    assert!(notices(&h, ada.user).await.is_empty(), "not signed in yet");
    h.identity
        .complete_second_factor(SecondFactor {
            login_token: challenge.login_token,
            proof: SecondFactorProof::TotpCode(ada.code(&h)),
            client: stranger(),
        })
        .await?;
    let sent = notices(&h, ada.user).await;
    assert_eq!(sent.len(), 1);
    assert!(sent[0].text.contains("Firefox on Linux"));
    Ok(())
}

#[tokio::test]
async fn a_history_that_cannot_be_read_costs_the_notice_not_the_sign_in() -> Result<()> {
    let (h, user) = ada_signed_in_at_home(IdentityConfig::default()).await?;
    h.history_fail
        .fail
        .store(true, std::sync::atomic::Ordering::SeqCst);
    login(&h, stranger()).await;
    assert!(notices(&h, user).await.is_empty());
    Ok(())
}
