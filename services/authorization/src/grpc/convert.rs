//! Free converters between domain values and `latch.authorization.v1`
//! messages, so protobuf types stop at the handler.

use latch_domain::{Error, Result, model::Permission, validate};
use latch_proto::latch::authorization::v1 as pb;
use latch_runtime::convert::timestamp;

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

pub(crate) fn permission_to_proto(permission: Permission) -> pb::Permission {
    pb::Permission {
        name: permission.name,
        description: permission.description.unwrap_or_default(),
        builtin: permission.builtin,
    }
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
