//! [`ReceivedMail`]: a message as the [`crate::SmtpSink`] received it, with
//! just enough MIME reading (headers, multipart, quoted-printable, base64,
//! RFC 2047 words) for a test to read the subject, the text and the HTML
//! a real mail client would show.

use base64::{Engine, engine::general_purpose::STANDARD};

/// One message: the envelope and the data after DATA (dot-unstuffed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// MAIL FROM.
    pub from: String,
    /// Every accepted RCPT TO.
    pub to: Vec<String>,
    /// The message as sent (headers and body, CRLF line endings).
    pub data: Vec<u8>,
}

impl ReceivedMail {
    pub(crate) fn new(from: String, to: Vec<String>, data: Vec<u8>) -> Self {
        Self { from, to, data }
    }

    /// The message as text.
    pub fn raw(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    /// A top-level header, unfolded and decoded (`Subject`, `To`, …).
    pub fn header(&self, name: &str) -> Option<String> {
        let raw = self.raw();
        let (headers, _) = split_part(&raw);
        find_header(&headers, name).map(|v| decode_words(&v))
    }

    /// The decoded subject (empty when there is none).
    pub fn subject(&self) -> String {
        self.header("subject").unwrap_or_default()
    }

    /// The decoded `text/plain` part (the whole body of a message that is
    /// not multipart).
    pub fn text(&self) -> String {
        self.part("text/plain").unwrap_or_default()
    }

    /// The decoded `text/html` part, if any.
    pub fn html(&self) -> Option<String> {
        self.part("text/html")
    }

    fn part(&self, wanted: &str) -> Option<String> {
        find_part(&self.raw(), wanted)
    }
}

/// The first part of type `wanted` in `entity` (headers + body), decoded.
fn find_part(entity: &str, wanted: &str) -> Option<String> {
    let (headers, body) = split_part(entity);
    let content_type = find_header(&headers, "content-type").unwrap_or_else(|| "text/plain".into());
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime.starts_with("multipart/") {
        let boundary = parameter(&content_type, "boundary")?;
        let delimiter = format!("--{boundary}");
        return body
            .split(delimiter.as_str())
            .skip(1)
            .take_while(|part| !part.starts_with("--"))
            .find_map(|part| find_part(part.trim_start_matches(['\r', '\n']), wanted));
    }
    if mime != wanted {
        return None;
    }
    let encoding = find_header(&headers, "content-transfer-encoding")
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    Some(match encoding.as_str() {
        "quoted-printable" => decode_quoted_printable(body),
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            String::from_utf8_lossy(&STANDARD.decode(compact).unwrap_or_default()).into_owned()
        }
        _ => body.to_owned(),
    })
}

/// Headers (unfolded, one per entry) and the body of an entity.
fn split_part(entity: &str) -> (Vec<String>, &str) {
    let (head, body) = entity
        .split_once("\r\n\r\n")
        .or_else(|| entity.split_once("\n\n"))
        .unwrap_or((entity, ""));
    let mut headers: Vec<String> = Vec::new();
    for line in head.lines() {
        match headers.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => {
                last.push(' ');
                last.push_str(line.trim());
            }
            _ => headers.push(line.to_owned()),
        }
    }
    (headers, body)
}

fn find_header(headers: &[String], name: &str) -> Option<String> {
    headers.iter().find_map(|h| {
        let (key, value) = h.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// `boundary` of `multipart/alternative; boundary="abc"`.
fn parameter(header: &str, name: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|p| {
        let (key, value) = p.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

fn decode_quoted_printable(body: &str) -> String {
    let bytes = body.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            let rest = &bytes[i + 1..];
            if rest.starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            if rest.starts_with(b"\n") {
                i += 2;
                continue;
            }
            if let Some(byte) = rest
                .get(..2)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`);
/// whitespace between two encoded words is dropped, as the RFC says.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, from) = rest.split_at(start);
        let Some((word, after)) = encoded_word(from) else {
            out.push_str(before);
            out.push_str("=?");
            rest = &from[2..];
            last_was_word = false;
            continue;
        };
        if !(last_was_word && before.trim().is_empty()) {
            out.push_str(before);
        }
        out.push_str(&word);
        rest = after;
        last_was_word = true;
    }
    out.push_str(rest);
    out
}

/// One encoded word at the start of `s`, decoded, and what follows it.
fn encoded_word(s: &str) -> Option<(String, &str)> {
    let inner = s.strip_prefix("=?")?;
    let (_charset, inner) = inner.split_once('?')?;
    let (encoding, inner) = inner.split_once('?')?;
    let end = inner.find("?=")?;
    let (text, after) = (&inner[..end], &inner[end + 2..]);
    let bytes = match encoding.to_ascii_lowercase().as_str() {
        "b" => STANDARD.decode(text).ok()?,
        "q" => decode_quoted_printable(&text.replace('_', " ")).into_bytes(),
        _ => return None,
    };
    Some((String::from_utf8_lossy(&bytes).into_owned(), after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_quoted_printable_and_encoded_words_are_read() {
        let data = concat!(
            "Subject: =?utf-8?b?Q2/DsWZpcm0=?= =?utf-8?q?_it?=\r\n",
            "Content-Type: multipart/alternative;\r\n boundary=\"XyZ\"\r\n",
            "\r\n",
            "--XyZ\r\n",
            "Content-Type: text/plain; charset=utf-8\r\n",
            "Content-Transfer-Encoding: quoted-printable\r\n",
            "\r\n",
            "Code: 123456 =E2=80=94 soft=\r\n break\r\n",
            "--XyZ\r\n",
            "Content-Type: text/html; charset=utf-8\r\n",
            "Content-Transfer-Encoding: base64\r\n",
            "\r\n",
            "PHA+MTIzNDU2PC9wPg==\r\n",
            "--XyZ--\r\n",
        );
        let mail = ReceivedMail::new("a".into(), vec!["b".into()], data.as_bytes().to_vec());
        assert_eq!(mail.subject(), "Coñfirm it");
        assert_eq!(mail.text(), "Code: 123456 — soft break\r\n");
        assert_eq!(mail.html().as_deref(), Some("<p>123456</p>"));
    }
}
