//! Reading what latchd mailed to a real SMTP sink: waiting for the mails a
//! scenario expects, and the codes and tokens in them.

use std::time::Duration;

use latch_testkit::{ReceivedMail, SmtpSink};

/// How long a scenario waits for a message that should arrive.
pub const WAIT: Duration = Duration::from_secs(15);

/// The mails `wanted` picks, waiting until there are `count` of them or
/// [`WAIT`] has passed (the caller asserts how many came).
pub async fn mails_where(
    smtp: &SmtpSink,
    count: usize,
    wanted: impl Fn(&ReceivedMail) -> bool,
) -> Vec<ReceivedMail> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let found: Vec<ReceivedMail> = smtp.messages().into_iter().filter(&wanted).collect();
        if found.len() >= count || tokio::time::Instant::now() > deadline {
            return found;
        }
        smtp.wait_for(smtp.messages().len() + 1, Duration::from_millis(200))
            .await;
    }
}

/// The mails `to` received with `subject`, waiting until there are `count`.
pub async fn mails_to(smtp: &SmtpSink, to: &str, subject: &str, count: usize) -> Vec<ReceivedMail> {
    mails_where(smtp, count, |m| m.to == [to] && m.subject() == subject).await
}

/// Nothing reached `to`: checked after a pause that lets a mail queued
/// beside the ones that did arrive come too.
pub async fn assert_no_mail_to(smtp: &SmtpSink, to: &str) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        smtp.messages().iter().all(|m| m.to != [to]),
        "a mail reached {to}"
    );
}

/// The six-digit code in a message's text.
pub fn code_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|word| word.len() == 6)
        .unwrap_or_else(|| panic!("no code in {text:?}"))
        .to_owned()
}

/// A six-digit code that is not `code`.
pub fn other_than(code: &str) -> String {
    let n: u32 = code
        .parse()
        .unwrap_or_else(|_| panic!("{code:?}: not digits"));
    format!("{:06}", (n + 1) % 1_000_000)
}

/// The reset token in a mail's text: 43 base64url characters.
pub fn token_in(text: &str) -> String {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .find(|word| word.len() == 43)
        .unwrap_or_else(|| panic!("no token in {text:?}"))
        .to_owned()
}
