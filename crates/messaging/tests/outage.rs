//! A mail server that is down delays mail and loses none: the SMTP sink is
//! stopped, mails are queued through the outbox, the real outbox worker
//! fails to send them and retries, the sink comes back on the same port,
//! and every mail arrives exactly once. On SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::{sync::Arc, time::Duration};

use latch_domain::{
    Clock, SystemClock, UserId,
    ports::{
        MessageComposer, MessageTemplate, OutboundMessage, OutboxRepository, OutboxStatus,
        Recipient,
    },
    secret::Secret,
};
use latch_messaging::{Composer, SendMailHandler, SmtpMailer};
use latch_runtime::outbox::{OutboxConfig, OutboxWorker};
use latch_store::sql::SqlOutbox;
use latch_testkit::{SmtpSink, TestDatabase};

const KEY: [u8; 32] = [9; 32];
const MAILS: usize = 5;

async fn mail_survives_an_smtp_outage(db: TestDatabase) {
    let sink = SmtpSink::start().await;
    sink.stop().await;

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let outbox: Arc<dyn OutboxRepository> = Arc::new(SqlOutbox::new(db.db().clone()));
    let mailer = SmtpMailer::new(&sink.url(), "no-reply@latch.test").unwrap();
    let worker = OutboxWorker::new(
        outbox.clone(),
        clock.clone(),
        OutboxConfig {
            poll_interval: Duration::from_millis(20),
            retry_backoff: Duration::from_millis(20),
            max_attempts: 1000,
        },
        vec![SendMailHandler::new(Secret::new(KEY), Arc::new(mailer))],
    )
    .unwrap()
    .spawn();

    let composer = Composer::new(Secret::new(KEY), None).unwrap();
    let mut users = Vec::new();
    for i in 0..MAILS {
        let user = UserId::new();
        let msg = OutboundMessage::new(
            MessageTemplate::EmailVerification,
            Recipient::Email(format!("user{i}@example.com")),
            Some(user),
        )
        .with("code", format!("{:06}", 100_000 + i))
        .with("expires_minutes", "15");
        outbox
            .enqueue(&[composer.compose(&msg, clock.now()).unwrap()])
            .await
            .unwrap();
        users.push(user);
    }

    // While the server is down every row fails and waits for a retry.
    let mut failed = 0;
    for _ in 0..200 {
        failed = 0;
        for user in &users {
            let rows = outbox.find_by_key(&user.to_string()).await.unwrap();
            if rows.iter().all(|r| {
                r.status == OutboxStatus::Pending && r.attempts >= 2 && r.last_error.is_some()
            }) {
                failed += 1;
            }
        }
        if failed == MAILS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        failed, MAILS,
        "every mail was tried and failed while the server was down"
    );
    assert!(sink.messages().is_empty());

    sink.restart().await;
    let received = sink.wait_for(MAILS, Duration::from_secs(60)).await;
    assert_eq!(received.len(), MAILS);

    // Settled as done, and nothing more arrives: each mail exactly once.
    for user in &users {
        let mut done = false;
        for _ in 0..100 {
            let rows = outbox.find_by_key(&user.to_string()).await.unwrap();
            assert_eq!(rows.len(), 1);
            if rows[0].status == OutboxStatus::Done {
                done = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(done, "the row of {user} is done");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = sink.messages();
    assert_eq!(received.len(), MAILS, "no mail twice");
    let mut recipients: Vec<String> = received.iter().flat_map(|m| m.to.clone()).collect();
    recipients.sort();
    let expected: Vec<String> = (0..MAILS).map(|i| format!("user{i}@example.com")).collect();
    assert_eq!(recipients, expected);
    for (i, mail) in received.iter().enumerate() {
        let n: usize = mail.to[0]
            .trim_start_matches("user")
            .trim_end_matches("@example.com")
            .parse()
            .unwrap();
        assert!(
            mail.text().contains(&format!("{:06}", 100_000 + n)),
            "mail {i}"
        );
    }
    worker.abort();
}

#[tokio::test]
async fn mail_survives_an_smtp_outage_on_sqlite() {
    mail_survives_an_smtp_outage(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn mail_survives_an_smtp_outage_on_postgres() {
    if let Some(db) = TestDatabase::postgres().await {
        mail_survives_an_smtp_outage(db).await;
    }
}
