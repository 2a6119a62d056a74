//! AssignRole and UnassignRole by an administrator: the assignment itself
//! (and its announcement) is [`latch_domain::ports::RoleDirectory`]'s.

use latch_domain::{
    Error, Reason, Result, UserId,
    ports::{RoleDirectory, UserDirectory},
};

use super::Actor;
use crate::Roles;

impl Roles {
    /// Assigns `role` to `user` for `actor`; false when already held. A
    /// user's assignment must name a user `users` knows (not deleted);
    /// Latch's own services assign during sign-up, before anyone could
    /// look the user up, and are trusted to name one.
    /// Errors: `NOT_FOUND` (role or user), `ACCESS_DENIED` (see
    /// [`super::bounds`]).
    pub async fn assign_as(
        &self,
        actor: Actor,
        users: &dyn UserDirectory,
        user: UserId,
        role: &str,
    ) -> Result<bool> {
        self.may_hand_out(actor, role).await?;
        if matches!(actor, Actor::User(_)) && users.status(user).await?.is_none() {
            return Err(Error::new(
                Reason::NotFound,
                format!("user {user} does not exist"),
            ));
        }
        self.assign(user, role).await
    }

    /// Takes `role` from `user` for `actor`; false when not held (an
    /// unknown user holds nothing). Errors: `NOT_FOUND` (role),
    /// `ACCESS_DENIED`.
    pub async fn unassign_as(&self, actor: Actor, user: UserId, role: &str) -> Result<bool> {
        self.may_hand_out(actor, role).await?;
        self.unassign(user, role).await
    }

    async fn may_hand_out(&self, actor: Actor, role: &str) -> Result<()> {
        let Some(bounds) = self.bounds(actor).await? else {
            return Ok(());
        };
        // SUPERADMIN in any spelling is refused before it is looked up.
        bounds.may_hand_out(role, &[])?;
        let role = self.existing_role(role).await?;
        let grants = self.repo.permissions_of_role(role.id).await?;
        bounds.may_hand_out(&role.name, &grants)
    }
}
