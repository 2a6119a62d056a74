//! Free converters between domain values and `latch.identity.v1` /
//! `latch.common.v1` messages.

use chrono::{DateTime, Utc};
use latch_domain::{
    Error, Result, UserId,
    model::{ClientInfo, TokenPair, User, UserStatus},
};
use latch_proto::latch::common::v1 as common;
use latch_runtime::auth::Caller;

pub(crate) fn client_from_proto(client: common::ClientInfo) -> ClientInfo {
    let some = |s: String| {
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_owned())
    };
    ClientInfo {
        ip: some(client.ip),
        user_agent: some(client.user_agent),
    }
}

pub(crate) fn user_to_proto(user: User) -> common::User {
    common::User {
        id: user.id.to_string(),
        email: user.email,
        email_verified: user.email_verified,
        phone: user.phone,
        phone_verified: user.phone_verified,
        status: status_to_proto(user.status) as i32,
        totp_enabled: user.totp_enabled,
        created_at: Some(timestamp(user.created_at)),
        updated_at: Some(timestamp(user.updated_at)),
        last_login_at: user.last_login_at.map(timestamp),
    }
}

pub(crate) fn status_to_proto(status: UserStatus) -> common::UserStatus {
    match status {
        UserStatus::Pending => common::UserStatus::Pending,
        UserStatus::Active => common::UserStatus::Active,
        UserStatus::Suspended => common::UserStatus::Suspended,
        UserStatus::Deactivated => common::UserStatus::Deactivated,
    }
}

pub(crate) fn auth_to_proto(tokens: TokenPair) -> common::AuthResult {
    common::AuthResult {
        user_id: tokens.user_id.to_string(),
        session_id: tokens.session_id.to_string(),
        access_token: tokens.access_token,
        access_token_expires_at: Some(timestamp(tokens.access_token_expires_at)),
        refresh_token: tokens.refresh_token,
        refresh_token_expires_at: Some(timestamp(tokens.refresh_token_expires_at)),
    }
}

pub(crate) fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        // Always in 0..1e9, so the cast is lossless.
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// The user a request is about: `user_id` when given, else the signed-in
/// caller (an internal caller must name the user).
pub(crate) fn target_user(caller: &Caller, user_id: &str) -> Result<UserId> {
    if user_id.trim().is_empty() {
        if caller.is_service() {
            return Err(Error::invalid_field(
                "user_id",
                "is required for internal callers",
            ));
        }
        return Ok(caller.user()?.user_id);
    }
    UserId::parse("user_id", user_id)
}
