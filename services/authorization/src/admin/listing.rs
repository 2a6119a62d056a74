//! ListRoles and ListPermissions: by name, a page at a time.

use std::collections::HashMap;

use latch_domain::{Result, RoleId, model::Permission};

use crate::{RoleWithPermissions, Roles};

/// One page of a listing by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The name the next page starts after; `None` on the last page.
    pub next_after: Option<String>,
}

impl<T> Page<T> {
    /// A page of at most `limit` of `rows` (fetched one more than `limit`,
    /// so a full last page is known to be the last).
    fn of(mut rows: Vec<T>, limit: usize, name: impl Fn(&T) -> &str) -> Self {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_after = more
            .then(|| rows.last().map(|row| name(row).to_owned()))
            .flatten();
        Self {
            items: rows,
            next_after,
        }
    }
}

/// One more than `limit`, as the store counts.
fn fetch(limit: usize) -> u64 {
    u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1)
}

impl Roles {
    /// Roles by name after `after`, at most `limit`, each with its
    /// permissions sorted.
    pub async fn list_roles(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<RoleWithPermissions>> {
        let roles = self.repo.list_roles_after(after, fetch(limit)).await?;
        let page = Page::of(roles, limit, |role| role.name.as_str());
        let ids: Vec<RoleId> = page.items.iter().map(|role| role.id).collect();
        let mut grants: HashMap<RoleId, Vec<String>> = HashMap::new();
        for (role, permission) in self.repo.grants_of_roles(&ids).await? {
            grants.entry(role).or_default().push(permission);
        }
        let items = page
            .items
            .into_iter()
            .map(|role| {
                let mut permissions = grants.remove(&role.id).unwrap_or_default();
                permissions.sort();
                RoleWithPermissions { role, permissions }
            })
            .collect();
        Ok(Page {
            items,
            next_after: page.next_after,
        })
    }

    /// Permissions by name after `after`, at most `limit`.
    pub async fn list_permissions(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Permission>> {
        let permissions = self
            .repo
            .list_permissions_after(after, fetch(limit))
            .await?;
        Ok(Page::of(permissions, limit, |p| p.name.as_str()))
    }
}
