//! ListRevokedSessions: the request's cursor and page size in, the page of
//! the revocation list out. The cursor is opaque to clients: base64url of
//! `s.{since}` at the start of a pass, `w.{since}.{next_since}.{at}.{id}`
//! within one (times in microseconds).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use latch_domain::{Error, Result, SessionId, model::RevocationCursor};
use latch_proto::latch::session::v1::{
    ListRevokedSessionsRequest, ListRevokedSessionsResponse, RevokedSession,
};
use latch_runtime::convert::timestamp;

use crate::{ListPosition, Sessions};

/// Entries per page when the request leaves it at 0, and the most one page
/// holds: a poller caught up gets one page per poll.
pub const DEFAULT_REVOKED_PAGE_SIZE: usize = 500;
pub const MAX_REVOKED_PAGE_SIZE: usize = 1_000;
/// Cursors this server issues are at most about 110 characters.
const CURSOR_MAX_LEN: usize = 160;

pub(crate) async fn list_revoked_sessions(
    sessions: &Sessions,
    request: ListRevokedSessionsRequest,
) -> Result<ListRevokedSessionsResponse> {
    let size = match usize::try_from(request.page_size) {
        Ok(0) => DEFAULT_REVOKED_PAGE_SIZE,
        Ok(size) => size.min(MAX_REVOKED_PAGE_SIZE),
        Err(_) => return Err(Error::invalid_field("page_size", "must not be negative")),
    };
    let from =
        match request.cursor.as_str() {
            "" => None,
            raw => Some(position_from_cursor(raw).ok_or_else(|| {
                Error::invalid_field("cursor", "is not a cursor this server issued")
            })?),
        };
    let page = sessions.list_revoked(from, size).await?;
    Ok(ListRevokedSessionsResponse {
        sessions: page
            .entries
            .iter()
            .map(|entry| RevokedSession {
                session_id: entry.session_id.to_string(),
                revoked_at: Some(timestamp(entry.revoked_at)),
                expires_at: Some(timestamp(sessions.revocation_expires_at(entry.revoked_at))),
            })
            .collect(),
        next_cursor: cursor(&page.next),
        more: page.more,
    })
}

pub(crate) fn cursor(position: &ListPosition) -> String {
    let raw = match position {
        ListPosition::Since(since) => format!("s.{}", since.timestamp_micros()),
        ListPosition::Within {
            since,
            after,
            next_since,
        } => format!(
            "w.{}.{}.{}.{}",
            since.timestamp_micros(),
            next_since.timestamp_micros(),
            after.revoked_at.timestamp_micros(),
            after.session_id
        ),
    };
    URL_SAFE_NO_PAD.encode(raw)
}

pub(crate) fn position_from_cursor(cursor: &str) -> Option<ListPosition> {
    if cursor.len() > CURSOR_MAX_LEN {
        return None;
    }
    let raw = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let raw = std::str::from_utf8(&raw).ok()?;
    let mut parts = raw.split('.');
    let position = match parts.next()? {
        "s" => ListPosition::Since(time(parts.next()?)?),
        "w" => ListPosition::Within {
            since: time(parts.next()?)?,
            next_since: time(parts.next()?)?,
            after: RevocationCursor {
                revoked_at: time(parts.next()?)?,
                session_id: SessionId::parse("cursor", parts.next()?).ok()?,
            },
        },
        _ => return None,
    };
    parts.next().is_none().then_some(position)
}

fn time(micros: &str) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_micros(micros.parse().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_forgeries_are_refused() {
        let at = DateTime::<Utc>::from_timestamp(1_700_000_000, 123_456_000).unwrap();
        let since = ListPosition::Since(at);
        let within = ListPosition::Within {
            since: at,
            after: RevocationCursor {
                revoked_at: at + chrono::Duration::seconds(5),
                session_id: SessionId::generate().unwrap(),
            },
            next_since: at - chrono::Duration::seconds(10),
        };
        for position in [since, within] {
            let token = cursor(&position);
            assert!(token.len() <= CURSOR_MAX_LEN, "{token}");
            assert_eq!(position_from_cursor(&token), Some(position));
        }
        for forged in [
            "",
            "not base64!",
            &URL_SAFE_NO_PAD.encode("x.1"),
            &URL_SAFE_NO_PAD.encode("s.1.2"),
            &URL_SAFE_NO_PAD.encode("s.soon"),
            &URL_SAFE_NO_PAD.encode("w.1.2.3.not-a-session-id"),
            &"A".repeat(CURSOR_MAX_LEN + 1),
        ] {
            assert_eq!(position_from_cursor(forged), None, "{forged}");
        }
    }
}
