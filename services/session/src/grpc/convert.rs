//! Free converters between protobuf messages and domain types, and the
//! page tokens of session lists. Protobuf stops here.

use std::net::IpAddr;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use latch_domain::{
    Error, Result, SessionId,
    model::{ClientInfo, Session, SessionCursor},
};
use latch_proto::latch::{common::v1 as common, session::v1 as pb};
use latch_runtime::convert::timestamp;

/// Page size of ListSessions when the request leaves it at 0, and the most
/// one page holds.
pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 500;
/// Tokens this server issues are about 60 characters.
const PAGE_TOKEN_MAX_LEN: usize = 128;

/// A session for the wire; `idle_expires_at` comes from the service's idle
/// timeout and `current` says it is the caller's own session.
pub(crate) fn session_to_proto(
    session: &Session,
    idle_expires_at: DateTime<Utc>,
    current: bool,
) -> pb::Session {
    pb::Session {
        id: session.id.to_string(),
        user_id: session.user_id.to_string(),
        ip: session.client.ip.clone().unwrap_or_default(),
        user_agent: session.client.user_agent.clone().unwrap_or_default(),
        browser: session.device.browser.clone().unwrap_or_default(),
        os: session.device.os.clone().unwrap_or_default(),
        device: session.device.device.clone().unwrap_or_default(),
        location: session.location.clone().unwrap_or_default(),
        created_at: Some(timestamp(session.created_at)),
        last_active_at: Some(timestamp(session.last_active_at)),
        expires_at: Some(timestamp(session.expires_at)),
        idle_expires_at: Some(timestamp(idle_expires_at)),
        revoked_at: session.revoked_at.map(timestamp),
        revoked_reason: session.revoked_reason.clone().unwrap_or_default(),
        current,
    }
}

/// The client a request claims; the ip must be a bare IPv4 or IPv6
/// address. Empty strings mean "not given".
pub(crate) fn client_info_from_proto(client: common::ClientInfo) -> Result<ClientInfo> {
    let ip = client.ip.trim();
    let ip = if ip.is_empty() {
        None
    } else {
        let parsed: IpAddr = ip
            .parse()
            .map_err(|_| Error::invalid_field("client.ip", "must be an IPv4 or IPv6 address"))?;
        Some(parsed.to_string())
    };
    let user_agent = Some(client.user_agent).filter(|ua| !ua.trim().is_empty());
    Ok(ClientInfo { ip, user_agent })
}

/// Which page of a listing a request asks for: its size, and where it
/// resumes (the cursor a previous page's `next_page_token` carried).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Page {
    pub(crate) size: usize,
    pub(crate) after: Option<SessionCursor>,
}

impl Page {
    /// `page_size` 0 is the default, larger than the maximum is capped;
    /// `page_token` is what a previous page returned, or empty.
    pub(crate) fn from_request(page_size: i32, page_token: &str) -> Result<Self> {
        let size = match usize::try_from(page_size) {
            Ok(0) => DEFAULT_PAGE_SIZE,
            Ok(size) => size.min(MAX_PAGE_SIZE),
            Err(_) => return Err(Error::invalid_field("page_size", "must not be negative")),
        };
        let after = match page_token {
            "" => None,
            token => Some(cursor_from_token(token).ok_or_else(|| {
                Error::invalid_field("page_token", "is not a token this server issued")
            })?),
        };
        Ok(Self { size, after })
    }
}

/// The token of the page after `cursor`: opaque to clients (base64url of
/// the last session's activity time in microseconds and its id).
pub(crate) fn page_token(cursor: Option<&SessionCursor>) -> String {
    cursor.map_or_else(String::new, |c| {
        URL_SAFE_NO_PAD.encode(format!("{}.{}", c.last_active_at.timestamp_micros(), c.id))
    })
}

fn cursor_from_token(token: &str) -> Option<SessionCursor> {
    if token.len() > PAGE_TOKEN_MAX_LEN {
        return None;
    }
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    let raw = std::str::from_utf8(&raw).ok()?;
    let (micros, id) = raw.split_once('.')?;
    Some(SessionCursor {
        last_active_at: DateTime::<Utc>::from_timestamp_micros(micros.parse().ok()?)?,
        id: SessionId::parse("page_token", id).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use latch_domain::{SessionId, UserId, model::DeviceInfo};

    use super::*;

    #[test]
    fn sessions_keep_every_field_on_the_wire() {
        let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 123_456_000).unwrap();
        let session = Session {
            id: SessionId::generate().unwrap(),
            user_id: UserId::new(),
            client: ClientInfo {
                ip: Some("203.0.113.7".into()),
                user_agent: Some("curl/8".into()),
            },
            device: DeviceInfo {
                browser: Some("Chrome".into()),
                os: Some("Mac OSX".into()),
                device: Some("desktop".into()),
            },
            location: None,
            created_at: now,
            last_active_at: now,
            expires_at: now + Duration::days(30),
            revoked_at: Some(now),
            revoked_reason: Some("logout".into()),
        };
        let wire = session_to_proto(&session, now + Duration::days(7), true);
        assert_eq!(wire.id, session.id.as_str());
        assert_eq!(wire.user_id, session.user_id.to_string());
        assert_eq!(wire.ip, "203.0.113.7");
        assert_eq!(wire.browser, "Chrome");
        assert_eq!(wire.os, "Mac OSX");
        assert_eq!(wire.device, "desktop");
        assert_eq!(
            wire.created_at.map(|t| (t.seconds, t.nanos)),
            Some((1_700_000_000, 123_456_000))
        );
        assert_eq!(
            wire.idle_expires_at.map(|t| t.seconds),
            Some(1_700_000_000 + 7 * 86_400)
        );
        assert!(wire.revoked_at.is_some());
        assert_eq!(wire.revoked_reason, "logout");
        assert!(wire.current);
    }

    #[test]
    fn claimed_ips_must_be_addresses() {
        let ok = client_info_from_proto(common::ClientInfo {
            ip: " 2001:db8::1 ".into(),
            user_agent: String::new(),
        })
        .unwrap();
        assert_eq!(ok.ip.as_deref(), Some("2001:db8::1"));
        assert_eq!(ok.user_agent, None);
        let err = client_info_from_proto(common::ClientInfo {
            ip: "203.0.113.7:443".into(),
            user_agent: String::new(),
        })
        .unwrap_err();
        assert_eq!(err.violation().map(|v| v.field.as_str()), Some("client.ip"));
    }

    #[test]
    fn page_tokens_carry_the_cursor() -> Result<()> {
        let cursor = SessionCursor {
            last_active_at: DateTime::<Utc>::from_timestamp(1_700_000_000, 123_456_000).unwrap(),
            id: SessionId::generate()?,
        };
        let token = page_token(Some(&cursor));
        assert!(!token.contains(cursor.id.as_str()), "opaque");
        let page = Page::from_request(10, &token)?;
        assert_eq!(page.after, Some(cursor));
        assert_eq!(page.size, 10);
        assert_eq!(page_token(None), "");
        Ok(())
    }

    #[test]
    fn bad_paging_names_the_field() {
        let err = Page::from_request(-1, "").unwrap_err();
        assert_eq!(err.violation().map(|v| v.field.as_str()), Some("page_size"));
        for token in [
            "garbage",
            "o50",
            &URL_SAFE_NO_PAD.encode("12.not-a-session"),
            &URL_SAFE_NO_PAD.encode("x.AAAAAAAAAAAAAAAAAAAAAA"),
            &"A".repeat(200),
        ] {
            let err = Page::from_request(0, token).unwrap_err();
            assert_eq!(
                err.violation().map(|v| v.field.as_str()),
                Some("page_token"),
                "{token}"
            );
        }
        assert_eq!(
            Page::from_request(0, "").map(|p| p.size).ok(),
            Some(DEFAULT_PAGE_SIZE)
        );
        assert_eq!(
            Page::from_request(10_000, "").map(|p| p.size).ok(),
            Some(MAX_PAGE_SIZE)
        );
    }
}
