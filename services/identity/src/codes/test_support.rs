//! What the verification, reset and change tests share: reading a code or
//! token out of a queued message, the `user:updated` rows written with
//! each change, and checking a refusal's reason.

use std::sync::Arc;

use latch_domain::{
    Error, Reason, Result, UserId,
    events::{DELIVER_EVENT_KIND, Event, EventPayload},
    ports::{Mail, OutboxRepository as _, Sms},
};
use latch_messaging::Rendered;
use latch_store::sql::SqlOutbox;

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

/// The `user:updated` rows written about one user, read in order from
/// where [`updates`] started: each is written with the change it reports,
/// so a change that answered is already there, and one that failed or
/// changed nothing never is.
pub(crate) struct Updates {
    outbox: Arc<SqlOutbox>,
    user: UserId,
    seen: usize,
}

impl Updates {
    async fn all(&self) -> Vec<Vec<String>> {
        let key = format!("user:{}", self.user);
        let rows = self.outbox.find_by_key(&key).await;
        rows.expect("outbox rows")
            .iter()
            .filter(|row| row.kind == DELIVER_EVENT_KIND)
            .filter_map(
                |row| match Event::from_outbox(row).expect("an event").payload {
                    EventPayload::UserUpdated { changed_fields, .. } => Some(changed_fields),
                    _ => None,
                },
            )
            .collect()
    }
}

/// Reads `user`'s `user:updated` rows written from now on.
pub(crate) async fn updates(h: &Harness, user: UserId) -> Result<Updates> {
    let mut updates = Updates {
        outbox: h.outbox.clone(),
        user,
        seen: 0,
    };
    updates.seen = updates.all().await.len();
    Ok(updates)
}

/// The user and fields of the next `user:updated` written.
pub(crate) async fn next_update(events: &mut Updates) -> (UserId, Vec<String>) {
    let all = events.all().await;
    let fields = all
        .get(events.seen)
        .unwrap_or_else(|| panic!("no user:updated written after {all:?}"))
        .clone();
    events.seen += 1;
    (events.user, fields)
}

/// No `user:updated` was written since the last one read.
pub(crate) async fn no_update(events: &mut Updates) {
    let all = events.all().await;
    assert_eq!(all.len(), events.seen, "unexpected user:updated in {all:?}");
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
