//! The handlers over real transports: SMTP into the test kit's SMTP sink,
//! the SMS webhook into its HTTP listener, and files for the embedded
//! default. Permanent failures are `INVALID_ARGUMENT` (the outbox buries
//! the row), passing ones `UNAVAILABLE` (it retries).

#![allow(clippy::unwrap_used, clippy::panic)]

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use latch_domain::{
    Clock, Kind, ManualClock, UserId,
    ports::{
        MessageComposer, MessageTemplate, NewOutboxMessage, OutboundMessage, OutboxHandler,
        OutboxMessage, OutboxStatus, Recipient,
    },
    secret::Secret,
};
use latch_messaging::{
    Composer, FileMailer, FileSmsSender, SIGNATURE_HEADER, SendMailHandler, SendSmsHandler,
    SmtpMailer, WebhookSmsSender, verify_signature,
};
use latch_testkit::{LogCapture, SmtpSink, WebhookSink};

const KEY: [u8; 32] = [3; 32];
const WEBHOOK_SECRET: &str = "a webhook secret of at least 32 chars";
const WAIT: Duration = Duration::from_secs(10);

fn composer() -> Composer {
    Composer::new(Secret::new(KEY), None).unwrap()
}

fn stored(row: NewOutboxMessage) -> OutboxMessage {
    OutboxMessage {
        id: row.id,
        kind: row.kind,
        key: row.key,
        payload: row.payload,
        status: OutboxStatus::Pending,
        attempts: 1,
        created_at: row.created_at,
        available_at: row.available_at,
        lease: None,
        last_error: None,
        finished_at: None,
    }
}

fn verification_mail(to: &str) -> OutboxMessage {
    let msg = OutboundMessage::new(
        MessageTemplate::EmailVerification,
        Recipient::Email(to.into()),
        Some(UserId::new()),
    )
    .with("code", "482913")
    .with("expires_minutes", "15");
    stored(composer().compose(&msg, Utc::now()).unwrap())
}

fn verification_sms() -> OutboxMessage {
    let msg = OutboundMessage::new(
        MessageTemplate::PhoneVerification,
        Recipient::Phone("+4915112345678".into()),
        Some(UserId::new()),
    )
    .with("code", "771204")
    .with("expires_minutes", "15");
    stored(composer().compose(&msg, Utc::now()).unwrap())
}

fn smtp_handler(sink: &SmtpSink) -> Arc<SendMailHandler> {
    let mailer = SmtpMailer::new(&sink.url(), "Latch <no-reply@latch.test>").unwrap();
    SendMailHandler::new(Secret::new(KEY), Arc::new(mailer))
}

#[tokio::test]
async fn a_mail_goes_through_smtp_with_text_and_html() {
    let sink = SmtpSink::start().await;
    let handler = smtp_handler(&sink);
    handler
        .handle(&verification_mail("ada@example.com"))
        .await
        .unwrap();

    let received = sink.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert_eq!(mail.from, "no-reply@latch.test");
    assert_eq!(mail.to, vec!["ada@example.com".to_owned()]);
    assert_eq!(mail.subject(), "Verify your email address");
    assert!(mail.text().contains("482913"), "{}", mail.raw());
    assert!(
        mail.html().is_some_and(|h| h.contains("482913")),
        "{}",
        mail.raw()
    );
}

#[tokio::test]
async fn smtp_refusals_are_permanent_or_retried_by_their_code() {
    let sink = SmtpSink::start().await;
    let handler = smtp_handler(&sink);

    sink.reply_to_rcpt(Some(550));
    let err = handler
        .handle(&verification_mail("gone@example.com"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Kind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("550"), "{err}");
    assert!(!err.to_string().contains("gone@example.com"), "{err}");

    sink.reply_to_rcpt(Some(451));
    let err = handler
        .handle(&verification_mail("ada@example.com"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Kind::Unavailable, "{err}");

    sink.reply_to_rcpt(None);
    sink.stop().await;
    let err = handler
        .handle(&verification_mail("ada@example.com"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Kind::Unavailable, "{err}");
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn a_payload_that_does_not_open_is_permanent() {
    let sink = SmtpSink::start().await;
    let mut row = verification_mail("ada@example.com");
    let other_key = SendMailHandler::new(
        Secret::new([4; 32]),
        Arc::new(SmtpMailer::new(&sink.url(), "no-reply@latch.test").unwrap()),
    );
    assert_eq!(
        other_key.handle(&row).await.unwrap_err().kind(),
        Kind::InvalidArgument
    );
    row.payload = serde_json::json!({"sealed": "AAAA"});
    assert_eq!(
        smtp_handler(&sink).handle(&row).await.unwrap_err().kind(),
        Kind::InvalidArgument
    );
    assert!(sink.messages().is_empty());
}

fn webhook_handler(sink: &WebhookSink, clock: Arc<dyn Clock>) -> Arc<SendSmsHandler> {
    let sender =
        WebhookSmsSender::new(&sink.url(), Secret::new(WEBHOOK_SECRET.into()), clock).unwrap();
    SendSmsHandler::new(Secret::new(KEY), Arc::new(sender))
}

#[tokio::test]
async fn an_sms_is_posted_signed_to_the_webhook() {
    let sink = WebhookSink::start().await;
    let clock = ManualClock::starting_now();
    let handler = webhook_handler(&sink, Arc::new(clock.clone()));
    handler.handle(&verification_sms()).await.unwrap();

    let requests = sink.wait_for(1, WAIT).await;
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/sms");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body = request.json();
    assert_eq!(body["to"], "+4915112345678");
    assert!(body["body"].as_str().unwrap().contains("771204"));
    assert_eq!(body.as_object().unwrap().len(), 2);

    let signature = request.header(SIGNATURE_HEADER).unwrap();
    let now = clock.now().timestamp();
    assert!(
        signature.starts_with(&format!("t={now},v1=")),
        "{signature}"
    );
    assert!(verify_signature(
        WEBHOOK_SECRET.as_bytes(),
        signature,
        &request.body,
        now,
        300
    ));
    assert!(!verify_signature(
        b"another secret entirely, 32+ chars",
        signature,
        &request.body,
        now,
        300
    ));
    // A replay ten minutes later is refused by a receiver that checks t.
    assert!(!verify_signature(
        WEBHOOK_SECRET.as_bytes(),
        signature,
        &request.body,
        now + 600,
        300
    ));
}

#[tokio::test]
async fn webhook_answers_are_permanent_or_retried_by_their_status() {
    let sink = WebhookSink::start().await;
    let handler = webhook_handler(&sink, Arc::new(ManualClock::starting_now()));
    for (status, kind) in [
        (400, Kind::InvalidArgument),
        (401, Kind::InvalidArgument),
        (404, Kind::InvalidArgument),
        (408, Kind::Unavailable),
        (429, Kind::Unavailable),
        (500, Kind::Unavailable),
        (503, Kind::Unavailable),
        // A redirect is not followed.
        (307, Kind::Unavailable),
    ] {
        sink.respond_with(status);
        let err = handler.handle(&verification_sms()).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{status}: {err}");
        assert!(err.to_string().contains(&status.to_string()), "{err}");
        assert!(!err.to_string().contains("771204"), "{err}");
    }
    sink.respond_with(200);
    handler.handle(&verification_sms()).await.unwrap();
}

#[tokio::test]
async fn a_webhook_that_is_down_is_retried() {
    let sink = WebhookSink::start().await;
    let url = sink.url();
    drop(sink);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let sender = WebhookSmsSender::new(
        &url,
        Secret::new(WEBHOOK_SECRET.into()),
        Arc::new(ManualClock::starting_now()),
    )
    .unwrap();
    let handler = SendSmsHandler::new(Secret::new(KEY), Arc::new(sender));
    let err = handler.handle(&verification_sms()).await.unwrap_err();
    assert_eq!(err.kind(), Kind::Unavailable, "{err}");
}

#[cfg(unix)]
#[tokio::test]
async fn the_file_transports_write_owner_only_files_and_log_no_code() {
    use std::os::unix::fs::PermissionsExt;

    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("outbox");
    let logs = LogCapture::default();
    let _guard = logs.install();

    SendMailHandler::new(Secret::new(KEY), Arc::new(FileMailer::new(&dir)))
        .handle(&verification_mail("ada@example.com"))
        .await
        .unwrap();
    SendSmsHandler::new(Secret::new(KEY), Arc::new(FileSmsSender::new(&dir)))
        .handle(&verification_sms())
        .await
        .unwrap();

    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2);
    let mut contents = String::new();
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
        contents.push_str(&std::fs::read_to_string(file).unwrap());
    }
    assert!(contents.contains("To: ada@example.com"));
    assert!(contents.contains("482913"));
    assert!(contents.contains("To: +4915112345678"));
    assert!(contents.contains("771204"));

    let log = logs.text();
    for file in &files {
        assert!(log.contains(&file.display().to_string()), "{log}");
    }
    for secret in ["482913", "771204", "ada@example.com", "+4915112345678"] {
        assert!(!log.contains(secret), "{secret} logged: {log}");
    }
}
