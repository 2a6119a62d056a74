//! The composer: every template renders, a missing value is an error, the
//! override directory wins file by file, and the outbox row holds nothing
//! readable but a sealed blob bound to its row.

#![allow(clippy::unwrap_used, clippy::panic)]

use chrono::Utc;
use latch_domain::{
    Kind, UserId,
    ports::{
        MessageComposer, MessageTemplate, OutboundMessage, OutboxId, OutboxMessage, OutboxStatus,
        Recipient,
    },
    secret::Secret,
};
use latch_messaging::{Channel, Composer, Rendered, SEND_MAIL_KIND, SEND_SMS_KIND, open_row};

const KEY: [u8; 32] = [7; 32];

fn composer() -> Composer {
    Composer::new(Secret::new(KEY), None).unwrap()
}

/// A message for `template` with every value it documents.
fn message(template: MessageTemplate) -> OutboundMessage {
    let to = match Channel::of(template) {
        Channel::Mail => Recipient::Email("ada@example.com".into()),
        Channel::Sms => Recipient::Phone("+4915112345678".into()),
    };
    OutboundMessage::new(template, to, Some(UserId::new()))
        .with("code", "493817")
        .with("expires_minutes", "15")
        .with("token", "tok_5WQbA2LcVx9")
        .with("new_email", "ada.new@example.com")
        .with("device", "Firefox on Linux")
        .with("place", "Berlin, Germany")
        .with("time", "2026-12-01 10:00 UTC")
}

/// The row as the outbox would hand it back.
fn stored(row: &latch_domain::ports::NewOutboxMessage) -> OutboxMessage {
    OutboxMessage {
        id: row.id,
        kind: row.kind.clone(),
        key: row.key.clone(),
        payload: row.payload.clone(),
        status: OutboxStatus::Pending,
        attempts: 1,
        created_at: row.created_at,
        available_at: row.available_at,
        lease: None,
        last_error: None,
        finished_at: None,
    }
}

#[test]
fn every_template_renders_with_its_values() {
    let composer = composer();
    for template in MessageTemplate::ALL {
        let rendered = composer.render(&message(*template)).unwrap();
        match (Channel::of(*template), rendered) {
            (Channel::Mail, Rendered::Mail(mail)) => {
                assert_eq!(mail.to, "ada@example.com");
                assert!(!mail.subject.is_empty(), "{template:?}");
                assert!(!mail.subject.contains('\n'), "{template:?}");
                assert!(mail.text.len() > 40, "{template:?}");
                assert!(
                    mail.html.as_deref().is_some_and(|h| h.contains("<p>")),
                    "{template:?}"
                );
            }
            (Channel::Sms, Rendered::Sms(sms)) => {
                assert_eq!(sms.to, "+4915112345678");
                assert!(sms.body.contains("493817"));
                assert!(sms.body.len() <= 160, "one SMS segment: {}", sms.body.len());
            }
            (channel, other) => panic!("{template:?} is {channel:?} but rendered {other:?}"),
        }
    }
}

#[test]
fn templates_carry_the_values_they_are_for() {
    let composer = composer();
    let text = |t| match composer.render(&message(t)).unwrap() {
        Rendered::Mail(m) => format!("{}\n{}\n{}", m.subject, m.text, m.html.unwrap_or_default()),
        Rendered::Sms(s) => s.body,
    };
    assert!(text(MessageTemplate::EmailVerification).contains("493817"));
    assert!(text(MessageTemplate::PasswordReset).contains("tok_5WQbA2LcVx9"));
    assert!(text(MessageTemplate::EmailChanged).contains("ada.new@example.com"));
    let device = text(MessageTemplate::NewDevice);
    for value in [
        "Firefox on Linux",
        "Berlin, Germany",
        "2026-12-01 10:00 UTC",
    ] {
        assert!(device.contains(value), "{value}");
    }
    // reset_url is optional: shown when given.
    let with_url = composer
        .render(
            &message(MessageTemplate::PasswordReset)
                .with("reset_url", "https://app.example/reset#t"),
        )
        .unwrap();
    let Rendered::Mail(mail) = with_url else {
        panic!("a mail")
    };
    assert!(mail.text.contains("https://app.example/reset#t"));
}

#[test]
fn html_is_escaped_and_text_is_not() {
    let msg = OutboundMessage::new(
        MessageTemplate::EmailChanged,
        Recipient::Email("ada@example.com".into()),
        None,
    )
    .with("new_email", "<b>x</b>@example.com");
    let Rendered::Mail(mail) = composer().render(&msg).unwrap() else {
        panic!("a mail")
    };
    let html = mail.html.unwrap();
    assert!(
        html.contains("&lt;b&gt;x&lt;&#x2f;b&gt;@example.com")
            || html.contains("&lt;b&gt;x&lt;/b&gt;"),
        "{html}"
    );
    assert!(!html.contains("<b>x</b>"), "{html}");
    assert!(mail.text.contains("<b>x</b>@example.com"));
}

#[test]
fn a_missing_value_is_an_error_and_no_row() {
    let msg = OutboundMessage::new(
        MessageTemplate::EmailVerification,
        Recipient::Email("ada@example.com".into()),
        None,
    )
    .with("expires_minutes", "15");
    let err = composer().compose(&msg, Utc::now()).unwrap_err();
    assert_eq!(err.kind(), Kind::Internal);
    assert!(err.to_string().contains("email_verification"), "{err}");
    assert!(!err.to_string().contains("ada@example.com"), "{err}");
}

#[test]
fn a_recipient_of_the_wrong_kind_is_refused() {
    let msg = OutboundMessage::new(
        MessageTemplate::PhoneVerification,
        Recipient::Email("ada@example.com".into()),
        None,
    )
    .with("code", "1")
    .with("expires_minutes", "1");
    assert_eq!(
        composer().compose(&msg, Utc::now()).unwrap_err().kind(),
        Kind::Internal
    );
}

#[test]
fn the_row_holds_only_a_sealed_message() {
    let composer = composer();
    let user = UserId::new();
    let mut msg = message(MessageTemplate::EmailVerification);
    msg.user = Some(user);
    let at = Utc::now();
    let row = composer.compose(&msg, at).unwrap();
    assert_eq!(row.kind, SEND_MAIL_KIND);
    assert_eq!(row.key, user.to_string());
    assert_eq!(row.created_at, at);
    assert_eq!(row.available_at, at);
    let payload = row.payload.to_string();
    for clear in [
        "493817",
        "ada@example.com",
        "Verify",
        "expires",
        "15 minutes",
    ] {
        assert!(!payload.contains(clear), "{clear} in {payload}");
    }
    let object = row.payload.as_object().unwrap();
    assert_eq!(object.keys().collect::<Vec<_>>(), vec!["sealed"]);

    let Rendered::Mail(mail) = open_row(&KEY, &stored(&row)).unwrap() else {
        panic!("a mail")
    };
    assert!(mail.text.contains("493817"));

    let sms = composer
        .compose(&message(MessageTemplate::PhoneVerification), at)
        .unwrap();
    assert_eq!(sms.kind, SEND_SMS_KIND);
    assert!(!sms.payload.to_string().contains("+4915112345678"));
    assert!(!sms.payload.to_string().contains("493817"));
}

#[test]
fn a_row_without_a_user_has_an_empty_key() {
    let mut msg = message(MessageTemplate::SignUpAddressTaken);
    msg.user = None;
    assert_eq!(composer().compose(&msg, Utc::now()).unwrap().key, "");
}

#[test]
fn a_sealed_payload_opens_only_under_its_key_and_its_row() {
    let row = composer()
        .compose(&message(MessageTemplate::EmailVerification), Utc::now())
        .unwrap();
    let stored = stored(&row);
    assert!(open_row(&KEY, &stored).is_ok());

    let err = open_row(&[8; 32], &stored).unwrap_err();
    assert_eq!(err.kind(), Kind::InvalidArgument);

    let mut moved = stored.clone();
    moved.id = OutboxId::new();
    assert_eq!(
        open_row(&KEY, &moved).unwrap_err().kind(),
        Kind::InvalidArgument
    );

    let mut relabelled = stored.clone();
    relabelled.kind = SEND_SMS_KIND.into();
    assert_eq!(
        open_row(&KEY, &relabelled).unwrap_err().kind(),
        Kind::InvalidArgument
    );

    for payload in [
        serde_json::json!({"sealed": "not base64!"}),
        serde_json::json!({"sealed": "AAAA"}),
        serde_json::json!({"to": "ada@example.com"}),
    ] {
        let mut garbage = stored.clone();
        garbage.payload = payload;
        assert_eq!(
            open_row(&KEY, &garbage).unwrap_err().kind(),
            Kind::InvalidArgument
        );
    }
}

#[test]
fn an_override_directory_replaces_files_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("email_verification.subject"),
        "ACME code for {{ code }}\n",
    )
    .unwrap();
    let composer = Composer::new(Secret::new(KEY), Some(dir.path())).unwrap();
    let Rendered::Mail(mail) = composer
        .render(&message(MessageTemplate::EmailVerification))
        .unwrap()
    else {
        panic!("a mail")
    };
    assert_eq!(mail.subject, "ACME code for 493817");
    // The files not overridden keep their embedded text.
    assert!(mail.text.contains("493817"));
    assert!(mail.html.unwrap().contains("493817"));
}

#[test]
fn a_broken_override_stops_the_start() {
    for (file, source) in [
        ("email_verification.txt", "{% if %}"),
        // Names a value the flow never passes: would fail every render.
        ("new_device.txt", "{{ browser }}"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(file), source).unwrap();
        let err = Composer::new(Secret::new(KEY), Some(dir.path()))
            .err()
            .unwrap();
        assert!(err.to_string().contains(file), "{err}");
    }
    let missing = std::path::Path::new("/nonexistent/latch-templates");
    let err = Composer::new(Secret::new(KEY), Some(missing))
        .err()
        .unwrap();
    assert!(err.to_string().contains("LATCH_TEMPLATE_DIR"), "{err}");
}
