//! The identity binary runs an outbox worker of its own for the mail and
//! SMS it queues (latchd shares one worker; a per-service binary has no
//! other that would take these kinds): a queued mail reaches the SMTP
//! sink, and a broken messaging setting stops the assembly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{sync::Arc, time::Duration};

use latch_domain::{
    Clock, SystemClock, UserId,
    ports::{MessageComposer, MessageTemplate, OutboundMessage, OutboxRepository, Recipient},
};
use latch_messaging::Composer;
use latch_runtime::{
    binary::Context,
    config::{ConfigSource, MapSource},
    infra::Infra,
    secrets::Secrets,
};
use latch_store::sql::SqlOutbox;
use latch_testkit::{SmtpSink, TestDatabase};

/// Settings of an identity binary whose siblings are never called here
/// (clients connect lazily).
fn settings() -> MapSource {
    let nowhere = "http://127.0.0.1:9";
    MapSource::new()
        .with("LATCH_SESSION_URL", nowhere)
        .with("LATCH_TOKEN_URL", nowhere)
        .with("LATCH_AUTHORIZATION_URL", nowhere)
        .with("LATCH_PROFILE_URL", nowhere)
        .with("LATCH_OUTBOX_POLL_INTERVAL", "10ms")
}

fn context(db: &TestDatabase, source: MapSource, secrets: &Secrets) -> Context {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let source: Arc<dyn ConfigSource> = Arc::new(source);
    Context {
        source,
        secrets: secrets.clone(),
        infra: Infra::in_memory(db.db().clone(), clock.clone()),
        clock,
    }
}

async fn the_binary_sends_its_mail(db: TestDatabase) {
    let sink = SmtpSink::start().await;
    let secrets = Secrets::generate().unwrap();
    let source = settings()
        .with("LATCH_SMTP_URL", sink.url())
        .with("LATCH_SMTP_FROM", "no-reply@latch.test");
    let _assembled = latch_identity::standalone::assemble(context(&db, source, &secrets))
        .await
        .unwrap();

    let composer = Composer::new(secrets.encryption_key.clone(), None).unwrap();
    let message = OutboundMessage::new(
        MessageTemplate::PasswordChanged,
        Recipient::Email("ada@example.com".into()),
        Some(UserId::new()),
    );
    SqlOutbox::new(db.db().clone())
        .enqueue(&[composer.compose(&message, chrono::Utc::now()).unwrap()])
        .await
        .unwrap();

    let received = sink.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].subject(), "Your password was changed");
}

#[tokio::test]
async fn the_binary_sends_its_mail_on_sqlite() {
    the_binary_sends_its_mail(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn the_binary_sends_its_mail_on_postgres() {
    if let Some(db) = TestDatabase::postgres().await {
        the_binary_sends_its_mail(db).await;
    }
}

#[tokio::test]
async fn a_bad_smtp_url_stops_the_binary() {
    let db = TestDatabase::sqlite().await;
    let secrets = Secrets::generate().unwrap();
    let source = settings()
        .with(
            "LATCH_SMTP_URL",
            "smtp://user:hunter2@mail.example.com:25?tls=maybe",
        )
        .with("LATCH_SMTP_FROM", "no-reply@latch.test");
    let err = latch_identity::standalone::assemble(context(&db, source, &secrets))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("LATCH_SMTP_URL"), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}
