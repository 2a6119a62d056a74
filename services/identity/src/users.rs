//! Reading users: by id for GetUser, and their status for token refresh.

use std::sync::Arc;

use async_trait::async_trait;
use latch_domain::{
    Error, Result, UserId,
    model::{User, UserStatus},
    ports::{UserDirectory, UserRepository},
};

use crate::Identity;

impl Identity {
    /// The user, or `NOT_FOUND`. Callers check who may read it.
    pub async fn get_user(&self, id: UserId) -> Result<User> {
        self.deps
            .users
            .get(id)
            .await?
            .ok_or_else(|| Error::not_found("user"))
    }
}

/// The in-process [`UserDirectory`]: the token service asks it whether a
/// user may still refresh.
pub struct UserStatusReader {
    users: Arc<dyn UserRepository>,
}

impl UserStatusReader {
    pub fn new(users: Arc<dyn UserRepository>) -> Arc<Self> {
        Arc::new(Self { users })
    }
}

#[async_trait]
impl UserDirectory for UserStatusReader {
    async fn status(&self, user: UserId) -> Result<Option<UserStatus>> {
        Ok(self.users.get(user).await?.map(|u| u.status))
    }
}
