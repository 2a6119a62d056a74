//! What latchctl prints about Latch's messages: one serializable view per
//! message, the same for the table and for `--json`, so a script reads the
//! fields a person sees. Times are RFC 3339 in JSON; absent values are
//! `null`, never an empty string standing for "none".

use chrono::{DateTime, SecondsFormat, Utc};
use latch_proto::latch::{
    authorization::v1::Role,
    common::v1::{User, UserStatus},
    identity::v1::{LoginHistoryEntry, LoginMethod},
    session::v1::Session,
};
use serde::Serialize;

pub(crate) fn time(ts: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(ts.nanos).ok()?;
    DateTime::from_timestamp(ts.seconds, nanos)
}

/// A time for a table: to the second, UTC.
pub(crate) fn short(time: Option<&String>) -> String {
    match time {
        Some(t) => DateTime::parse_from_rfc3339(t)
            .map(|t| {
                t.with_timezone(&Utc)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .unwrap_or_else(|_| t.clone()),
        None => "-".to_owned(),
    }
}

fn rfc3339(ts: Option<&prost_types::Timestamp>) -> Option<String> {
    ts.and_then(time)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

pub(crate) fn status_name(status: i32) -> &'static str {
    match UserStatus::try_from(status) {
        Ok(UserStatus::Pending) => "pending",
        Ok(UserStatus::Active) => "active",
        Ok(UserStatus::Suspended) => "suspended",
        Ok(UserStatus::Deactivated) => "deactivated",
        Ok(UserStatus::Unspecified) | Err(_) => "unknown",
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct UserView {
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) email_verified: bool,
    pub(crate) phone: Option<String>,
    pub(crate) phone_verified: bool,
    pub(crate) status: &'static str,
    pub(crate) totp_enabled: bool,
    pub(crate) created_at: Option<String>,
    pub(crate) updated_at: Option<String>,
    pub(crate) last_login_at: Option<String>,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.clone(),
            email: user.email.clone(),
            email_verified: user.email_verified,
            phone: user.phone.clone(),
            phone_verified: user.phone_verified,
            status: status_name(user.status),
            totp_enabled: user.totp_enabled,
            created_at: rfc3339(user.created_at.as_ref()),
            updated_at: rfc3339(user.updated_at.as_ref()),
            last_login_at: rfc3339(user.last_login_at.as_ref()),
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct SessionView {
    pub(crate) id: String,
    pub(crate) user_id: String,
    pub(crate) ip: String,
    pub(crate) user_agent: String,
    pub(crate) browser: String,
    pub(crate) os: String,
    pub(crate) device: String,
    pub(crate) location: String,
    pub(crate) created_at: Option<String>,
    pub(crate) last_active_at: Option<String>,
    pub(crate) expires_at: Option<String>,
    pub(crate) idle_expires_at: Option<String>,
    pub(crate) revoked_at: Option<String>,
    pub(crate) revoked_reason: Option<String>,
    /// The session latchctl itself calls with.
    pub(crate) current: bool,
}

impl From<&Session> for SessionView {
    fn from(s: &Session) -> Self {
        Self {
            id: s.id.clone(),
            user_id: s.user_id.clone(),
            ip: s.ip.clone(),
            user_agent: s.user_agent.clone(),
            browser: s.browser.clone(),
            os: s.os.clone(),
            device: s.device.clone(),
            location: s.location.clone(),
            created_at: rfc3339(s.created_at.as_ref()),
            last_active_at: rfc3339(s.last_active_at.as_ref()),
            expires_at: rfc3339(s.expires_at.as_ref()),
            idle_expires_at: rfc3339(s.idle_expires_at.as_ref()),
            revoked_at: rfc3339(s.revoked_at.as_ref()),
            revoked_reason: Some(s.revoked_reason.clone()).filter(|r| !r.is_empty()),
            current: s.current,
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct RoleView {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) builtin: bool,
    pub(crate) permissions: Vec<String>,
}

impl From<&Role> for RoleView {
    fn from(r: &Role) -> Self {
        Self {
            name: r.name.clone(),
            description: r.description.clone(),
            builtin: r.builtin,
            permissions: r.permissions.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct HistoryView {
    pub(crate) time: Option<String>,
    pub(crate) success: bool,
    /// As Latch records it: `password`, `password+totp`, `oauth:<provider>` …
    pub(crate) method: String,
    pub(crate) failure_reason: Option<String>,
    pub(crate) ip: String,
    pub(crate) user_agent: String,
    pub(crate) browser: String,
    pub(crate) os: String,
    pub(crate) device: String,
}

impl From<&LoginHistoryEntry> for HistoryView {
    fn from(e: &LoginHistoryEntry) -> Self {
        let method = if e.method_name.is_empty() {
            method_name(e.method).to_owned()
        } else {
            e.method_name.clone()
        };
        Self {
            time: rfc3339(e.time.as_ref()),
            success: e.success,
            method,
            failure_reason: Some(e.failure_reason.clone()).filter(|r| !r.is_empty()),
            ip: e.ip.clone(),
            user_agent: e.user_agent.clone(),
            browser: e.browser.clone(),
            os: e.os.clone(),
            device: e.device.clone(),
        }
    }
}

/// The method of an entry that carries only the enum.
fn method_name(method: i32) -> &'static str {
    match LoginMethod::try_from(method) {
        Ok(LoginMethod::Password) => "password",
        Ok(LoginMethod::Totp) => "password+totp",
        Ok(LoginMethod::RecoveryCode) => "password+recovery_code",
        Ok(LoginMethod::Passkey) => "passkey",
        Ok(LoginMethod::Oauth) => "oauth",
        Ok(LoginMethod::Unspecified) | Err(_) => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_reads_the_same_in_json_as_in_its_fields() {
        let user = User {
            id: "u1".into(),
            email: "a@example.com".into(),
            status: UserStatus::Suspended as i32,
            created_at: Some(prost_types::Timestamp {
                seconds: 1_800_000_000,
                nanos: 0,
            }),
            ..Default::default()
        };
        let json = serde_json::to_value(UserView::from(&user)).unwrap_or_default();
        assert_eq!(json["status"], "suspended");
        assert_eq!(json["created_at"], "2027-01-15T08:00:00Z");
        assert!(json["last_login_at"].is_null());
        assert!(json["phone"].is_null());
    }
}
