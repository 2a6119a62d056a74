//! Who may hand out what. A caller who is not a SUPERADMIN may put into a
//! role only permissions it holds itself and never a SUPERADMIN-only one
//! (`roles.write`, `keys.write`), nor take one of those out; may not change
//! the SUPERADMIN role; and may not assign, unassign or delete a role that
//! grants a SUPERADMIN-only permission (SUPERADMIN itself included).
//! Without these, an administrator holding `roles.write` could make a role
//! with more than it has and give it to itself.

use latch_domain::{
    Error, Reason, Result, UserId,
    model::{Role, builtin, permission},
};

use crate::Roles;

/// Who makes an administrative change, as these rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// One of Latch's services or a service account: not a user, held to
    /// its RPCs by the auth layer, and not bounded here.
    Machine,
    /// A signed-in user.
    User(UserId),
}

/// What a user who is not a SUPERADMIN is held to; `None` where a caller
/// is not bounded (a SUPERADMIN, a machine caller).
pub(super) struct Bounds {
    /// The permissions the actor holds, sorted.
    held: Vec<String>,
}

impl Roles {
    /// The bounds of `actor`, read now (not from its token), so a fresh
    /// demotion counts at once.
    pub(super) async fn bounds(&self, actor: Actor) -> Result<Option<Bounds>> {
        match actor {
            Actor::Machine => Ok(None),
            Actor::User(user) if self.is_superadmin(user).await? => Ok(None),
            Actor::User(user) => Ok(Some(Bounds {
                held: self.user_permissions(user).await?,
            })),
        }
    }
}

fn denied(message: String) -> Error {
    Error::new(Reason::AccessDenied, message)
}

impl Bounds {
    /// Putting `name` into a role.
    pub(super) fn may_grant(&self, name: &str) -> Result<()> {
        if permission::is_superadmin_only(name) {
            return Err(denied(format!("only a SUPERADMIN may grant {name}")));
        }
        if self
            .held
            .binary_search_by(|p| p.as_str().cmp(name))
            .is_err()
        {
            return Err(denied(format!(
                "you may grant only permissions you hold yourself, and not {name}"
            )));
        }
        Ok(())
    }

    /// Taking `name` out of a role.
    pub(super) fn may_revoke(&self, name: &str) -> Result<()> {
        if permission::is_superadmin_only(name) {
            return Err(denied(format!("only a SUPERADMIN may revoke {name}")));
        }
        Ok(())
    }

    /// Changing `role`'s description or permissions.
    pub(super) fn may_change(&self, role: &Role) -> Result<()> {
        if builtin::is_superadmin(&role.name) {
            return Err(denied(
                "only a SUPERADMIN may change the SUPERADMIN role".to_owned(),
            ));
        }
        Ok(())
    }

    /// Assigning, unassigning or deleting the role named `role` that
    /// grants `grants`.
    pub(super) fn may_hand_out(&self, role: &str, grants: &[String]) -> Result<()> {
        if builtin::is_superadmin(role) {
            return Err(denied(format!(
                "only a SUPERADMIN may assign, unassign or delete {role}"
            )));
        }
        if let Some(reserved) = grants.iter().find(|p| permission::is_superadmin_only(p)) {
            return Err(denied(format!(
                "only a SUPERADMIN may assign, unassign or delete {role}: it grants {reserved}"
            )));
        }
        Ok(())
    }
}
