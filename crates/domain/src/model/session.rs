use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::{SessionId, UserId};

/// Where a request came from. Trusted from the request body only when the
/// caller holds the service credential (a gateway); otherwise taken from the
/// connection and the caller's own user-agent header.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Parsed from the user agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub browser: Option<String>,
    pub os: Option<String>,
    pub device: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub client: ClientInfo,
    pub device: DeviceInfo,
    pub location: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_active_at: DateTime<Utc>,
    /// The absolute end, whatever the activity.
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
}

impl Session {
    pub fn idle_expires_at(&self, idle: Duration) -> DateTime<Utc> {
        (self.last_active_at + idle).min(self.expires_at)
    }

    /// Not revoked, not past its absolute end, not idle too long.
    pub fn is_active(&self, now: DateTime<Utc>, idle: Duration) -> bool {
        self.revoked_at.is_none() && now < self.idle_expires_at(idle)
    }
}

/// Where a page of a user's sessions resumes: after this one, in the order
/// most recently active first (`last_active_at`, then `id`, descending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCursor {
    pub last_active_at: DateTime<Utc>,
    pub id: SessionId,
}

impl SessionCursor {
    /// The cursor that resumes after `session`.
    pub fn after(session: &Session) -> Self {
        Self {
            last_active_at: session.last_active_at,
            id: session.id.clone(),
        }
    }
}

/// One page of a user's sessions, most recently active first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionQuery {
    /// Only sessions live at this instant with this idle timeout (not
    /// revoked, not past their absolute end, active within `idle`); `None`
    /// lists every stored one.
    pub live_at: Option<(DateTime<Utc>, Duration)>,
    pub after: Option<SessionCursor>,
    pub limit: u64,
}

/// An entry of the revocation list: a session revoked at `revoked_at`.
/// Kept apart from the session row, with nothing personal in it, so that a
/// deleted user's sessions stay on the list (and retention does not shorten
/// it) while their access tokens may still verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRevocation {
    pub session_id: SessionId,
    pub revoked_at: DateTime<Utc>,
}

/// Where a read of the revocation list resumes: strictly after this entry,
/// in the order oldest first (`revoked_at`, then the session id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationCursor {
    pub revoked_at: DateTime<Utc>,
    pub session_id: SessionId,
}

impl RevocationCursor {
    /// The cursor that resumes after `entry`.
    pub fn after(entry: &SessionRevocation) -> Self {
        Self {
            revoked_at: entry.revoked_at,
            session_id: entry.session_id.clone(),
        }
    }
}
