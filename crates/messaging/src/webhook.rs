//! [`WebhookSmsSender`]: an SMS handed to an HTTP endpoint of the
//! operator's (which forwards it to an SMS gateway) as a signed POST.
//!
//! The request: `POST <LATCH_SMS_WEBHOOK_URL>`, `content-type:
//! application/json`, body `{"to": "+4915…", "body": "…"}`, and the header
//! `x-latch-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
//! "<t>.<body>")>`. The receiver recomputes the HMAC over the raw body
//! under `LATCH_SMS_WEBHOOK_SECRET`, compares in constant time, and refuses
//! a `t` more than a few minutes away from its clock, so a captured
//! request cannot be replayed later ([`verify_signature`] does exactly
//! that).
//!
//! Redirects are not followed; a request takes at most [`WEBHOOK_TIMEOUT`].
//! A 2xx is sent; 408, 429, 5xx and transport errors are retried by the
//! outbox; any other status is permanent (the row is buried).

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use latch_domain::{
    Clock, Error, Result,
    ports::{Sms, SmsSender},
    secret::{Secret, constant_time_eq, hmac_sha256},
};
use reqwest::{StatusCode, redirect::Policy};
use serde::Serialize;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "x-latch-signature";
/// The most one request may take, connecting included.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Posts each SMS, signed, to one URL.
pub struct WebhookSmsSender {
    client: reqwest::Client,
    url: reqwest::Url,
    secret: Secret<Vec<u8>>,
    clock: Arc<dyn Clock>,
}

#[derive(Serialize)]
struct Body<'a> {
    to: &'a str,
    body: &'a str,
}

impl WebhookSmsSender {
    /// A sender to `url` (`http://` or `https://`) signing with `secret`.
    /// A malformed URL stops the start, named by its key only.
    pub fn new(url: &str, secret: Secret<String>, clock: Arc<dyn Clock>) -> Result<Self> {
        let url = reqwest::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                Error::internal_msg("LATCH_SMS_WEBHOOK_URL must be an http:// or https:// URL")
            })?;
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .timeout(WEBHOOK_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .use_rustls_tls()
            .build()
            .map_err(|e| Error::internal_msg(format!("SMS webhook client: {e}")))?;
        Ok(Self {
            client,
            url,
            secret: Secret::new(secret.expose().as_bytes().to_vec()),
            clock,
        })
    }
}

#[async_trait]
impl SmsSender for WebhookSmsSender {
    async fn send(&self, sms: &Sms) -> Result<()> {
        let body = serde_json::to_vec(&Body {
            to: &sms.to,
            body: &sms.body,
        })
        .map_err(Error::internal)?;
        let header = signature(self.secret.expose(), self.clock.now().timestamp(), &body);
        let response = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, header)
            .body(body)
            .send()
            .await
            // The URL may hold a token of the receiver's: left out.
            .map_err(|e| Error::unavailable(e.without_url()))?;
        classify(response.status())
    }
}

/// What the outbox does with the receiver's answer.
fn classify(status: StatusCode) -> Result<()> {
    if status.is_success() {
        return Ok(());
    }
    let message = format!("the SMS webhook answered {}", status.as_u16());
    let retry = status.is_server_error()
        || status.is_redirection()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS;
    if retry {
        Err(Error::unavailable(std::io::Error::other(message)))
    } else {
        Err(Error::invalid_field("sms", message))
    }
}

/// The `x-latch-signature` value of `body` sent at `unix` seconds.
pub fn signature(secret: &[u8], unix: i64, body: &[u8]) -> String {
    format!("t={unix},v1={}", hex::encode(mac(secret, unix, body)))
}

/// Checks a received `x-latch-signature` as a receiver should: the MAC of
/// `<t>.<body>` under `secret`, compared in constant time, and `t` within
/// `tolerance` seconds of `now_unix` (no replays of old requests).
pub fn verify_signature(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance: i64,
) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    now_unix.abs_diff(t) <= tolerance.unsigned_abs() && constant_time_eq(&mac(secret, t, body), &v1)
}

fn mac(secret: &[u8], unix: i64, body: &[u8]) -> [u8; 32] {
    let mut signed = format!("{unix}.").into_bytes();
    signed.extend_from_slice(body);
    hmac_sha256(secret, &signed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn signatures_verify_only_with_the_secret_body_and_a_fresh_time() {
        let header = signature(b"s3cret", 1_700_000_000, b"{\"to\":\"+1\"}");
        assert!(header.starts_with("t=1700000000,v1="));
        assert!(verify_signature(
            b"s3cret",
            &header,
            b"{\"to\":\"+1\"}",
            1_700_000_100,
            300
        ));
        assert!(!verify_signature(
            b"other",
            &header,
            b"{\"to\":\"+1\"}",
            1_700_000_100,
            300
        ));
        assert!(!verify_signature(
            b"s3cret",
            &header,
            b"{\"to\":\"+2\"}",
            1_700_000_100,
            300
        ));
        assert!(!verify_signature(
            b"s3cret",
            &header,
            b"{\"to\":\"+1\"}",
            1_700_001_000,
            300
        ));
        assert!(!verify_signature(b"s3cret", "t=1,v1=zz", b"", 1, 300));
    }

    #[test]
    fn statuses_are_sent_retried_or_permanent() {
        assert!(classify(StatusCode::NO_CONTENT).is_ok());
        for retried in [500, 502, 503, 408, 429, 302] {
            let err = classify(StatusCode::from_u16(retried).unwrap_or_default()).unwrap_err();
            assert_eq!(err.kind(), latch_domain::Kind::Unavailable, "{retried}");
        }
        for permanent in [400, 401, 403, 404, 422] {
            let err = classify(StatusCode::from_u16(permanent).unwrap_or_default()).unwrap_err();
            assert_eq!(
                err.kind(),
                latch_domain::Kind::InvalidArgument,
                "{permanent}"
            );
        }
    }
}
