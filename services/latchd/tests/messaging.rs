//! latchd's one outbox worker runs identity's mail and SMS rows beside the
//! revocation rows: a message queued into the outbox reaches the SMTP sink
//! or the webhook listener with no second worker started. A malformed
//! messaging setting stops the assembly, naming the key.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{sync::Arc, time::Duration};

use latch_domain::{
    Clock, SystemClock, UserId,
    ports::{MessageComposer, MessageTemplate, OutboundMessage, OutboxRepository, Recipient},
};
use latch_messaging::Composer;
use latch_runtime::{config::MapSource, infra::Infra, secrets::Secrets};
use latch_store::sql::SqlOutbox;
use latch_testkit::{SmtpSink, TestDatabase, WebhookSink};

const WEBHOOK_SECRET: &str = "0123456789abcdef0123456789abcdef";

async fn latchd_sends_identity_messages(db: TestDatabase) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let infra = Infra::in_memory(db.db().clone(), clock.clone());
    let secrets = Secrets::generate().unwrap();
    let smtp = SmtpSink::start().await;
    let webhook = WebhookSink::start().await;
    let settings = MapSource::new()
        .with("LATCH_SMTP_URL", smtp.url())
        .with("LATCH_SMTP_FROM", "Latch <no-reply@latch.test>")
        .with("LATCH_SMS_WEBHOOK_URL", webhook.url())
        .with("LATCH_SMS_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .with("LATCH_OUTBOX_POLL_INTERVAL", "10ms");
    let _latchd = latchd::assemble(&settings, &secrets, &infra, clock.clone())
        .await
        .unwrap();

    // Rows as identity's flows queue them: composed under the same key.
    let composer = Composer::new(secrets.encryption_key.clone(), None).unwrap();
    let user = UserId::new();
    let mail = OutboundMessage::new(
        MessageTemplate::EmailVerification,
        Recipient::Email("ada@example.com".into()),
        Some(user),
    )
    .with("code", "314159")
    .with("expires_minutes", "15");
    let sms = OutboundMessage::new(
        MessageTemplate::PhoneVerification,
        Recipient::Phone("+4915112345678".into()),
        Some(user),
    )
    .with("code", "271828")
    .with("expires_minutes", "15");
    SqlOutbox::new(db.db().clone())
        .enqueue(&[
            composer.compose(&mail, clock.now()).unwrap(),
            composer.compose(&sms, clock.now()).unwrap(),
        ])
        .await
        .unwrap();

    let mails = smtp.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec!["ada@example.com".to_owned()]);
    assert!(mails[0].text().contains("314159"));
    let posts = webhook.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].json()["to"], "+4915112345678");
    assert!(posts[0].json()["body"].as_str().unwrap().contains("271828"));
}

#[tokio::test]
async fn latchd_sends_identity_messages_on_sqlite() {
    latchd_sends_identity_messages(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn latchd_sends_identity_messages_on_postgres() {
    if let Some(db) = TestDatabase::postgres().await {
        latchd_sends_identity_messages(db).await;
    }
}

#[tokio::test]
async fn a_bad_messaging_setting_stops_the_start() {
    let db = TestDatabase::sqlite().await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let infra = Infra::in_memory(db.db().clone(), clock.clone());
    let secrets = Secrets::generate().unwrap();
    for (settings, key) in [
        (
            MapSource::new()
                .with("LATCH_SMTP_URL", "mail.example.com:25")
                .with("LATCH_SMTP_FROM", "no-reply@example.com"),
            "LATCH_SMTP_URL",
        ),
        (
            MapSource::new().with("LATCH_SMTP_URL", "smtp://mail.example.com"),
            "LATCH_SMTP_FROM",
        ),
        (
            MapSource::new().with("LATCH_SMS_WEBHOOK_URL", "https://sms.example.com/hook"),
            "LATCH_SMS_WEBHOOK_SECRET",
        ),
        (
            MapSource::new().with("LATCH_TEMPLATE_DIR", "/nonexistent/latch-templates"),
            "LATCH_TEMPLATE_DIR",
        ),
    ] {
        let err = latchd::assemble(&settings, &secrets, &infra, clock.clone())
            .await
            .err()
            .expect("refused");
        assert!(err.to_string().contains(key), "{key}: {err}");
    }
}
