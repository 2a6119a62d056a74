//! [`SmtpMailer`]: a mail server reached with lettre over rustls.
//!
//! `LATCH_SMTP_URL` is `smtp://[user:pass@]host[:port]` or
//! `smtps://[user:pass@]host[:port]`:
//! - `smtps://` is TLS from the first byte (implicit TLS, port 465 by default);
//! - `smtp://` uses STARTTLS when the server offers it and plain SMTP when
//!   it does not (port 587 by default); `?tls=required` refuses a server
//!   that does not offer STARTTLS, `?tls=none` never upgrades.
//!
//! User and password are percent-encoded in the URL. Certificates are
//! checked against the Mozilla roots (webpki-roots).

use std::time::Duration;

use async_trait::async_trait;
use latch_domain::{
    Error, Result,
    ports::{Mail, Mailer},
};
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart, SinglePart, header::ContentType},
};

/// The most one SMTP conversation step (connecting, each command) may take.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends mail through one SMTP server, one connection per mail.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// A mailer for `url` (see the module) sending as `from`
    /// (`Latch <no-reply@example.com>` or a bare address). A malformed URL
    /// or sender is refused with a message naming the key, never the URL
    /// (it may hold a password).
    pub fn new(url: &str, from: &str) -> Result<Self> {
        let url = with_tls_mode(url)?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
            .map_err(|e| Error::internal_msg(format!("LATCH_SMTP_URL: {}", url_error(&e))))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| Error::internal_msg(format!("LATCH_SMTP_FROM: {e}")))?;
        Ok(Self { transport, from })
    }

    fn message(&self, mail: &Mail) -> Result<Message> {
        let to = mail
            .to
            .parse::<Mailbox>()
            .map_err(|_| Error::invalid_field("to", "not an address a mail server takes"))?;
        let text = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text.clone());
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone());
        let built = match &mail.html {
            Some(html) => builder.multipart(
                MultiPart::alternative().singlepart(text).singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html.clone()),
                ),
            ),
            None => builder.singlepart(text),
        };
        // Building fails only on a message that can never be sent.
        built.map_err(|e| Error::invalid_field("mail", e.to_string()))
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &Mail) -> Result<()> {
        let message = self.message(mail)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }
}

/// `smtp://` without a `tls` parameter means opportunistic STARTTLS;
/// `tls=none` means none (lettre's plain SMTP).
fn with_tls_mode(url: &str) -> Result<String> {
    let Some(rest) = url.strip_prefix("smtp://") else {
        if url.starts_with("smtps://") {
            return Ok(url.to_owned());
        }
        return Err(Error::internal_msg(
            "LATCH_SMTP_URL must start with smtp:// or smtps://",
        ));
    };
    let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    match params.iter().position(|p| p.starts_with("tls=")) {
        Some(i) if params[i] == "tls=none" => {
            params.remove(i);
        }
        Some(_) => {}
        None => params.push("tls=opportunistic"),
    }
    Ok(if params.is_empty() {
        format!("smtp://{base}")
    } else {
        format!("smtp://{base}?{}", params.join("&"))
    })
}

/// lettre's URL errors, without the URL.
fn url_error(error: &lettre::transport::smtp::Error) -> String {
    // The error's text names the scheme or the parse failure, not the
    // credentials; it is checked in tests.
    error.to_string()
}

/// What the outbox does with a failed send. A server that refuses the
/// recipient or the message (550–555, 501) will refuse it again: permanent.
/// Everything else (unreachable, timed out, busy, authentication the
/// operator may fix) is retried with backoff. The text keeps the reply code
/// and never the server's reply, which may echo the address.
fn classify(error: &lettre::transport::smtp::Error) -> Error {
    if let Some(code) = error.status() {
        let code = u16::from(code);
        let message = format!("the mail server refused the mail with {code}");
        if error.is_permanent() && matches!(code, 501 | 550..=555) {
            return Error::invalid_field("mail", message);
        }
        return Error::unavailable(std::io::Error::other(message));
    }
    let what = if error.is_timeout() {
        "the mail server did not answer in time".to_owned()
    } else if error.is_tls() {
        "TLS with the mail server failed".to_owned()
    } else {
        format!("could not talk to the mail server: {error}")
    };
    Error::unavailable(std::io::Error::other(what))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn smtp_urls_default_to_opportunistic_starttls() {
        assert_eq!(
            with_tls_mode("smtp://u:p@mail:25").unwrap(),
            "smtp://u:p@mail:25?tls=opportunistic"
        );
        assert_eq!(
            with_tls_mode("smtp://mail:587?tls=required").unwrap(),
            "smtp://mail:587?tls=required"
        );
        assert_eq!(
            with_tls_mode("smtp://mail:25?tls=none").unwrap(),
            "smtp://mail:25"
        );
        assert_eq!(
            with_tls_mode("smtps://mail:465").unwrap(),
            "smtps://mail:465"
        );
        assert!(with_tls_mode("http://mail").is_err());
    }

    #[test]
    fn a_bad_url_or_sender_stops_the_start_without_the_password() {
        for url in [
            "smtp://user:hunter2@/nohost",
            "smtp://user:hunter2@mail:25?tls=sometimes",
            "ftp://user:hunter2@mail",
        ] {
            let err = SmtpMailer::new(url, "no-reply@example.com")
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains("LATCH_SMTP_URL"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
        let err = SmtpMailer::new("smtp://mail:25", "not an address")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("LATCH_SMTP_FROM"), "{err}");
    }
}
