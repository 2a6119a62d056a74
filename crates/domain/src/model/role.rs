use chrono::{DateTime, Utc};

use crate::RoleId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub id: RoleId,
    pub name: String,
    pub description: Option<String>,
    /// Seeded by migration; cannot be deleted.
    pub builtin: bool,
    pub created_at: DateTime<Utc>,
}

/// The built-in roles, seeded by migration.
pub mod builtin {
    pub const SUPERADMIN: &str = "SUPERADMIN";
    pub const ADMIN: &str = "ADMIN";
    pub const USER: &str = "USER";
    /// The role every new user gets.
    pub const DEFAULT: &str = USER;
}

/// Permissions that RPCs name; seeded by migration.
pub mod permission {
    pub const USERS_READ: &str = "users.read";
    pub const USERS_WRITE: &str = "users.write";
    pub const SESSIONS_READ: &str = "sessions.read";
    pub const SESSIONS_WRITE: &str = "sessions.write";
    pub const ROLES_READ: &str = "roles.read";
    pub const ROLES_WRITE: &str = "roles.write";
    pub const KEYS_WRITE: &str = "keys.write";
    pub const PROFILES_READ: &str = "profiles.read";
    pub const PROFILES_WRITE: &str = "profiles.write";
}
