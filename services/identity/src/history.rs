//! Reading login history: a user's own, or any user's for an
//! administrator (the handler checks who), newest first, a page at a time.
//! What is recorded is decided where the attempt happens (`login`,
//! `second_factor`, `sign_in`); old rows go with the retention (`cleanup`).

use latch_domain::{
    Error, Result, UserId,
    model::{LoginCursor, LoginEvent},
};

use crate::Identity;

impl Identity {
    /// At most `size` (at least one) attempts of `user` after `after`,
    /// newest first, and the cursor of the next page (`None` on the last).
    /// `NOT_FOUND` for an unknown or deleted user.
    pub async fn list_login_history(
        &self,
        user: UserId,
        after: Option<LoginCursor>,
        size: usize,
    ) -> Result<(Vec<LoginEvent>, Option<LoginCursor>)> {
        if self.deps.users.get(user).await?.is_none() {
            return Err(Error::not_found("user"));
        }
        let size = size.max(1);
        let limit = u64::try_from(size).unwrap_or(u64::MAX).saturating_add(1);
        let mut events = self.deps.login_history.page(user, after, limit).await?;
        let next = if events.len() > size {
            events.truncate(size);
            events.last().map(LoginCursor::after)
        } else {
            None
        };
        Ok((events, next))
    }
}
