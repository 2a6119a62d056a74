//! The outbox row of a message: kind `identity.send_mail` or
//! `identity.send_sms`, key the user id, and a JSON payload holding only the
//! rendered message sealed under the encryption key (AES-256-GCM, bound to
//! the row's id), base64-encoded. The outbox table is not encrypted, and a
//! message may carry a code, a token or an address; sealed, none of them
//! is readable there, and a payload copied to another row does not open.

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use latch_domain::{
    Error, Result,
    ports::{Mail, NewOutboxMessage, OutboxId, OutboxMessage, Sms},
    seal,
};
use serde::{Deserialize, Serialize};

/// The kind of a mail row, run by identity's outbox worker.
pub const SEND_MAIL_KIND: &str = "identity.send_mail";
/// The kind of an SMS row.
pub const SEND_SMS_KIND: &str = "identity.send_sms";

/// A rendered message, as sealed into its row.
#[derive(Clone, PartialEq, Eq)]
pub enum Rendered {
    Mail(Mail),
    Sms(Sms),
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The body may hold a code: never printed.
        f.write_str(match self {
            Rendered::Mail(_) => "Rendered::Mail(***)",
            Rendered::Sms(_) => "Rendered::Sms(***)",
        })
    }
}

impl Rendered {
    fn kind(&self) -> &'static str {
        match self {
            Rendered::Mail(_) => SEND_MAIL_KIND,
            Rendered::Sms(_) => SEND_SMS_KIND,
        }
    }
}

/// The payload column: nothing but the sealed message.
#[derive(Serialize, Deserialize)]
struct Payload {
    sealed: String,
}

/// The plaintext under the seal.
#[derive(Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
enum Plain {
    Mail {
        to: String,
        subject: String,
        text: String,
        html: Option<String>,
    },
    Sms {
        to: String,
        body: String,
    },
}

/// The outbox row that sends `rendered`, due at `at`, about `key`.
pub(crate) fn seal_row(
    key: &[u8; 32],
    rendered: Rendered,
    row_key: &str,
    at: DateTime<Utc>,
) -> Result<NewOutboxMessage> {
    let kind = rendered.kind();
    let plain = match rendered {
        Rendered::Mail(m) => Plain::Mail {
            to: m.to,
            subject: m.subject,
            text: m.text,
            html: m.html,
        },
        Rendered::Sms(s) => Plain::Sms {
            to: s.to,
            body: s.body,
        },
    };
    let plaintext = serde_json::to_vec(&plain).map_err(Error::internal)?;
    // The row's id is known before its payload: the seal is bound to it.
    let mut row = NewOutboxMessage::new(kind, row_key, &serde_json::Value::Null, at)?;
    let sealed = seal::seal(key, aad(row.id).as_bytes(), &plaintext)?;
    row.payload = serde_json::to_value(Payload {
        sealed: STANDARD.encode(sealed),
    })
    .map_err(Error::internal)?;
    Ok(row)
}

/// Opens the message of a claimed row. `INVALID_ARGUMENT` (permanent: the
/// worker buries the row) when the payload is not a sealed message of this
/// row under `key`, or not of the row's kind.
pub fn open_row(key: &[u8; 32], row: &OutboxMessage) -> Result<Rendered> {
    let payload: Payload = row.decode()?;
    let sealed = STANDARD
        .decode(payload.sealed.as_bytes())
        .map_err(|_| unreadable("is not base64"))?;
    let plaintext = seal::open(key, aad(row.id).as_bytes(), &sealed)
        .ok_or_else(|| unreadable("does not open under this key and row"))?;
    let plain: Plain =
        serde_json::from_slice(&plaintext).map_err(|_| unreadable("is not a message"))?;
    let rendered = match plain {
        Plain::Mail {
            to,
            subject,
            text,
            html,
        } => Rendered::Mail(Mail {
            to,
            subject,
            text,
            html,
        }),
        Plain::Sms { to, body } => Rendered::Sms(Sms { to, body }),
    };
    if rendered.kind() != row.kind {
        return Err(unreadable("holds a message of another kind"));
    }
    Ok(rendered)
}

fn aad(id: OutboxId) -> String {
    id.to_string()
}

fn unreadable(why: &str) -> Error {
    Error::invalid_field("payload", format!("the sealed message {why}"))
}
