//! What the verification, reset and change tests share: reading a code or
//! token out of a queued message, the `user:updated` events, and checking
//! a refusal's reason.

use std::time::Duration;

use futures::StreamExt;
use latch_domain::{
    Error, Reason, Result, UserId,
    events::{Channel, EventPayload},
    ports::{EventBus, EventStream, Mail, Sms},
};
use latch_messaging::Rendered;

use crate::testing::Harness;

/// The mails queued about `user`, oldest first.
pub(crate) async fn mails(h: &Harness, user: UserId) -> Vec<Mail> {
    h.queued_messages(user)
        .await
        .into_iter()
        .filter_map(|m| match m {
            Rendered::Mail(mail) => Some(mail),
            Rendered::Sms(_) => None,
        })
        .collect()
}

/// The SMS queued about `user`, oldest first.
pub(crate) async fn texts(h: &Harness, user: UserId) -> Vec<Sms> {
    h.queued_messages(user)
        .await
        .into_iter()
        .filter_map(|m| match m {
            Rendered::Sms(sms) => Some(sms),
            Rendered::Mail(_) => None,
        })
        .collect()
}

/// The six-digit code in a message's text.
pub(crate) fn code_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|word| word.len() == 6)
        .unwrap_or_else(|| panic!("no code in {text:?}"))
        .to_owned()
}

/// The newest code mailed about `user`.
pub(crate) async fn last_mailed_code(h: &Harness, user: UserId) -> String {
    let mails = mails(h, user).await;
    let mail = mails.last().expect("a mail");
    code_in(&mail.text)
}

/// A code that is not `code`.
pub(crate) fn other_than(code: &str) -> String {
    let n: u32 = code.parse().expect("digits");
    format!("{:06}", (n + 1) % 1_000_000)
}

pub(crate) async fn updates(h: &Harness) -> Result<EventStream> {
    h.bus.subscribe(Channel::UserUpdated).await
}

/// The fields of the next `user:updated`.
pub(crate) async fn next_update(events: &mut EventStream) -> (UserId, Vec<String>) {
    let event = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("an event in time")
        .expect("the stream goes on");
    match event.payload {
        EventPayload::UserUpdated {
            user_id,
            changed_fields,
        } => (user_id, changed_fields),
        other => panic!("expected user:updated, got {other:?}"),
    }
}

/// No `user:updated` follows.
pub(crate) async fn no_update(events: &mut EventStream) {
    let next = tokio::time::timeout(Duration::from_millis(50), events.next()).await;
    assert!(next.is_err(), "unexpected {next:?}");
}

#[track_caller]
pub(crate) fn assert_refused<T: std::fmt::Debug>(result: Result<T>, reason: Reason) {
    refusal(result, reason);
}

/// As [`assert_refused`], and the refusal names `field` as the bad one.
#[track_caller]
pub(crate) fn assert_refused_on<T: std::fmt::Debug>(
    result: Result<T>,
    reason: Reason,
    field: &str,
) {
    let err = refusal(result, reason);
    assert_eq!(
        err.violation().map(|v| v.field.as_str()),
        Some(field),
        "{err:?}"
    );
}

#[track_caller]
fn refusal<T: std::fmt::Debug>(result: Result<T>, reason: Reason) -> Error {
    match result {
        Err(err) => {
            assert_eq!(err.reason(), reason, "{err:?}");
            err
        }
        Ok(value) => panic!("expected {reason:?}, got Ok({value:?})"),
    }
}
