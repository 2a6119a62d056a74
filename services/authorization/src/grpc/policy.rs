//! The caller class of every `AuthorizationService` RPC, as written beside
//! each RPC in `proto/latch/authorization/v1/authorization.proto`. Admin
//! RPCs are `User` here: the handler checks the named permission.

use latch_runtime::auth::{Access, ServicePolicy};

pub const POLICY: ServicePolicy = ServicePolicy {
    service: "latch.authorization.v1.AuthorizationService",
    methods: &[
        // user, internal, service account
        ("Check", Access::UserOrService),
        // user, admin [roles.read], internal, service account
        ("ListUserPermissions", Access::UserOrService),
        ("ListUserRoles", Access::UserOrService),
        // admin [roles.write] / [roles.read]
        ("CreateRole", Access::User),
        ("UpdateRole", Access::User),
        ("DeleteRole", Access::User),
        ("ListRoles", Access::User),
        ("CreatePermission", Access::User),
        ("DeletePermission", Access::User),
        ("ListPermissions", Access::User),
        ("GrantPermission", Access::User),
        ("RevokePermission", Access::User),
        // admin [roles.write], internal
        ("AssignRole", Access::UserOrInternal),
        ("UnassignRole", Access::UserOrInternal),
        // internal: a deleted user's part, from identity's outbox
        ("DeleteUserRoles", Access::Internal),
    ],
    // No public RPC: nothing to rate limit here.
    rate_groups: &[],
};
