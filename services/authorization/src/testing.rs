//! Roles over a freshly migrated SQLite database (roles seeded), and a
//! repository wrapper that grants one user an extra permission, standing in
//! for custom roles until they can be created.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latch_domain::{
    Clock, ManualClock, Result, RoleId, UserId, model::Role, ports::RoleRepository,
};
use latch_store::sql::SqlRoles;
use latch_testkit::TestDatabase;

use crate::Roles;

pub(crate) struct Harness {
    pub(crate) roles: Arc<Roles>,
    pub(crate) repo: Arc<SqlRoles>,
    pub(crate) clock: Arc<dyn Clock>,
    _db: TestDatabase,
}

impl Harness {
    pub(crate) async fn new() -> Harness {
        let db = TestDatabase::new().await;
        let repo = Arc::new(SqlRoles::new(db.db().clone()));
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::starting_now());
        Harness {
            roles: Roles::new(repo.clone(), clock.clone()),
            repo,
            clock,
            _db: db,
        }
    }

    /// Roles where `user` also holds `permission`, whatever its roles.
    pub(crate) fn granting(&self, user: UserId, permission: &'static str) -> Arc<Roles> {
        Roles::new(
            Arc::new(ExtraPermission {
                inner: self.repo.clone(),
                user,
                permission,
            }),
            self.clock.clone(),
        )
    }
}

struct ExtraPermission {
    inner: Arc<SqlRoles>,
    user: UserId,
    permission: &'static str,
}

#[async_trait]
impl RoleRepository for ExtraPermission {
    async fn list_roles(&self) -> Result<Vec<Role>> {
        self.inner.list_roles().await
    }
    async fn find_role(&self, name: &str) -> Result<Option<Role>> {
        self.inner.find_role(name).await
    }
    async fn roles_of_user(&self, user: UserId) -> Result<Vec<Role>> {
        self.inner.roles_of_user(user).await
    }
    async fn permissions_of_user(&self, user: UserId) -> Result<Vec<String>> {
        let mut permissions = self.inner.permissions_of_user(user).await?;
        if user == self.user {
            permissions.push(self.permission.to_owned());
        }
        Ok(permissions)
    }
    async fn permissions_of_role(&self, role: RoleId) -> Result<Vec<String>> {
        self.inner.permissions_of_role(role).await
    }
    async fn assign(&self, user: UserId, role: RoleId, at: DateTime<Utc>) -> Result<bool> {
        self.inner.assign(user, role, at).await
    }
    async fn unassign(&self, user: UserId, role: RoleId) -> Result<bool> {
        self.inner.unassign(user, role).await
    }
    async fn unassign_all(&self, user: UserId) -> Result<u64> {
        self.inner.unassign_all(user).await
    }
}
