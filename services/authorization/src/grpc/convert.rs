//! Free converters between domain values and `latch.authorization.v1`
//! messages, so protobuf types stop at the handler.

use chrono::{DateTime, Utc};
use latch_domain::{Error, Result, UserId, validate};
use latch_proto::latch::authorization::v1 as pb;
use latch_runtime::auth::Caller;

use crate::RoleWithPermissions;

/// Longest role or permission name accepted in a request.
const NAME_MAX: usize = validate::NAME_MAX;

pub(crate) fn role_to_proto(role: RoleWithPermissions) -> pb::Role {
    let RoleWithPermissions { role, permissions } = role;
    pb::Role {
        id: role.id.to_string(),
        name: role.name,
        description: role.description.unwrap_or_default(),
        builtin: role.builtin,
        permissions,
        created_at: Some(timestamp(role.created_at)),
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

/// A role or permission name from a request: trimmed, required, bounded.
pub(crate) fn name(field: &str, raw: &str) -> Result<String> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(Error::invalid_field(field, "is required"));
    }
    if value.chars().count() > NAME_MAX
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
    {
        return Err(Error::invalid_field(
            field,
            format!("must be at most {NAME_MAX} letters, digits, '_', '-', '.' or ':'"),
        ));
    }
    Ok(value.to_owned())
}
