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
