//! What a *user* caller must hold to make an RPC, written beside the RPC in
//! its service's policy and enforced by the auth layer before the handler
//! runs. Machine callers (Latch's services, service accounts) are not users:
//! the caller class and an account's RPC list already decided for them.

/// The permission part of an RPC's rule. `field` names a top-level string
/// field of the request that holds a user id; empty means the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// No permission involved: a public or machine-only RPC, or one that
    /// acts on the signed-in user's own data.
    None,
    /// The user named by `field` must be the caller (`Check`: the answer
    /// about someone else would reveal their roles).
    SelfOnly { field: &'static str },
    /// The user named by `field` is the caller, or the caller holds
    /// `permission`; for a `*.write` permission a SUPERADMIN's data needs a
    /// SUPERADMIN.
    OwnerOr {
        field: &'static str,
        permission: &'static str,
    },
    /// The caller holds `permission` (administration).
    Permission(&'static str),
    /// The caller holds `permission` to act on the user named by `field`,
    /// and is a SUPERADMIN when that user is one.
    PermissionOver {
        field: &'static str,
        permission: &'static str,
    },
    /// The owner is known only once the handler loaded the resource (a
    /// session, a refresh family): the handler makes the one call
    /// [`super::Caller::authorize_loaded`]. With `owner_may`, the owner
    /// passes without `permission`; without it, the layer already required
    /// `permission` and the handler adds the SUPERADMIN shield.
    Loaded {
        owner_may: bool,
        permission: &'static str,
    },
}

impl Rule {
    /// The request field naming the user this rule is about, if any.
    pub fn field(self) -> Option<&'static str> {
        match self {
            Self::SelfOnly { field }
            | Self::OwnerOr { field, .. }
            | Self::PermissionOver { field, .. } => Some(field),
            Self::None | Self::Permission(_) | Self::Loaded { .. } => None,
        }
    }

    /// The permission an administrator needs, if any.
    pub fn permission(self) -> Option<&'static str> {
        match self {
            Self::OwnerOr { permission, .. }
            | Self::Permission(permission)
            | Self::PermissionOver { permission, .. }
            | Self::Loaded { permission, .. } => Some(permission),
            Self::None | Self::SelfOnly { .. } => None,
        }
    }

    /// Whether the user the request is about may make it without any
    /// permission (API.md's `user` in a `// Caller:` comment).
    pub fn owner_may(self) -> bool {
        match self {
            Self::SelfOnly { .. } | Self::OwnerOr { .. } => true,
            Self::Loaded { owner_may, .. } => owner_may,
            Self::None | Self::Permission(_) | Self::PermissionOver { .. } => false,
        }
    }
}

/// Permissions that change data (`users.write`, `sessions.write`, …), as
/// opposed to reading it: these are the ones a SUPERADMIN is shielded from.
pub(super) fn is_write(permission: &str) -> bool {
    permission.ends_with(".write")
}
