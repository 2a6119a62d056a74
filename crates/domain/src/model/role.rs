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

impl Role {
    /// Whether this role may never lose `permission`: SUPERADMIN holds
    /// every permission, ADMIN every built-in one but the SUPERADMIN-only
    /// ones (its seeded grants); USER and custom roles keep nothing.
    pub fn must_keep(&self, permission: &Permission) -> bool {
        if !self.builtin {
            return false;
        }
        match self.name.as_str() {
            builtin::SUPERADMIN => true,
            builtin::ADMIN => {
                permission.builtin && !permission::is_superadmin_only(&permission.name)
            }
            _ => false,
        }
    }
}

/// A permission roles grant, named `resource.action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub name: String,
    pub description: Option<String>,
    /// One Latch itself checks, seeded by migration: cannot be deleted.
    pub builtin: bool,
    pub created_at: DateTime<Utc>,
}

/// What an UpdateRole changes; `None` leaves that part as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleUpdate {
    /// The new description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// The whole new set of permission names.
    pub permissions: Option<Vec<String>>,
}

/// How a role deletion went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleDeletion {
    /// Deleted, with how many users it was taken from (forced only).
    Deleted { unassigned: u64 },
    /// Refused: users hold the role and the deletion was not forced.
    InUse { holders: u64 },
    /// No such custom role (absent, or built in).
    NotFound,
}

/// The built-in roles, seeded by migration.
pub mod builtin {
    pub const SUPERADMIN: &str = "SUPERADMIN";
    pub const ADMIN: &str = "ADMIN";
    pub const USER: &str = "USER";
    /// The role every new user gets.
    pub const DEFAULT: &str = USER;
    /// Every built-in role.
    pub const ALL: [&str; 3] = [SUPERADMIN, ADMIN, USER];

    /// Whether `name` is SUPERADMIN in any case: an unknown spelling is no
    /// way around the rules about it.
    pub fn is_superadmin(name: &str) -> bool {
        name.eq_ignore_ascii_case(SUPERADMIN)
    }
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

    /// Every permission Latch checks itself (the built-in ones).
    pub const BUILTIN: [&str; 9] = [
        USERS_READ,
        USERS_WRITE,
        SESSIONS_READ,
        SESSIONS_WRITE,
        ROLES_READ,
        ROLES_WRITE,
        KEYS_WRITE,
        PROFILES_READ,
        PROFILES_WRITE,
    ];

    /// The built-in permissions ADMIN does not hold: whoever holds one can
    /// hand out roles or sign tokens, so only a SUPERADMIN puts them into a
    /// role, takes them out, or assigns a role that grants one.
    pub const SUPERADMIN_ONLY: [&str; 2] = [ROLES_WRITE, KEYS_WRITE];

    pub fn is_superadmin_only(name: &str) -> bool {
        SUPERADMIN_ONLY.contains(&name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Clock, ManualClock};

    fn role(name: &str, builtin: bool) -> Role {
        Role {
            id: RoleId::new(),
            name: name.to_owned(),
            description: None,
            builtin,
            created_at: ManualClock::starting_now().now(),
        }
    }

    fn perm(name: &str, builtin: bool) -> Permission {
        Permission {
            name: name.to_owned(),
            description: None,
            builtin,
            created_at: ManualClock::starting_now().now(),
        }
    }

    #[test]
    fn built_in_roles_keep_their_seeded_grants_and_nothing_else() {
        let superadmin = role(builtin::SUPERADMIN, true);
        let admin = role(builtin::ADMIN, true);
        let user = role(builtin::USER, true);
        let custom = role("AUDITOR", false);
        let users_read = perm(permission::USERS_READ, true);
        let keys_write = perm(permission::KEYS_WRITE, true);
        let invoices = perm("invoices.read", false);

        assert!(superadmin.must_keep(&users_read));
        assert!(superadmin.must_keep(&keys_write));
        assert!(superadmin.must_keep(&invoices), "SUPERADMIN holds all");
        assert!(admin.must_keep(&users_read));
        assert!(!admin.must_keep(&keys_write));
        assert!(!admin.must_keep(&invoices), "a later grant may go");
        assert!(!user.must_keep(&users_read));
        assert!(!custom.must_keep(&users_read));
        // A custom role that took a built-in name's spelling is no built-in.
        assert!(!role(builtin::ADMIN, false).must_keep(&users_read));
    }

    #[test]
    fn superadmin_only_permissions_are_the_ones_admin_lacks() {
        for name in permission::BUILTIN {
            let admin_holds = role(builtin::ADMIN, true).must_keep(&perm(name, true));
            assert_eq!(permission::is_superadmin_only(name), !admin_holds, "{name}");
        }
        assert!(builtin::is_superadmin("superAdmin"));
        assert!(!builtin::is_superadmin("ADMIN"));
    }
}
