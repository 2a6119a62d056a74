//! `latch.authorization.v1.AuthorizationService`: thin handlers that check
//! the caller, convert the request, call [`crate::Roles`] and convert back.
//! Role and permission administration (CreateRole, GrantPermission, ...)
//! delegates to [`admin`], one function per RPC.

mod admin;
pub(crate) mod convert;
mod policy;

use std::sync::Arc;

use latch_domain::{
    Result,
    ports::{UserDataEraser, UserDirectory},
};
use latch_proto::latch::authorization::v1::{
    self as pb,
    authorization_service_server::{AuthorizationService, AuthorizationServiceServer},
};
use latch_runtime::{ResultExt, auth::Caller};
use tonic::{Request, Response, Status};

use crate::Roles;
pub use policy::POLICY;

/// The tonic service over [`Roles`]; wrap it with the auth layer and
/// [`POLICY`]. `users` (identity) says whether a user an administrator
/// assigns a role to exists.
pub fn server(
    roles: Arc<Roles>,
    users: Arc<dyn UserDirectory>,
) -> AuthorizationServiceServer<AuthorizationGrpc> {
    AuthorizationServiceServer::new(AuthorizationGrpc::new(roles, users))
}

pub struct AuthorizationGrpc {
    roles: Arc<Roles>,
    users: Arc<dyn UserDirectory>,
}

impl AuthorizationGrpc {
    pub fn new(roles: Arc<Roles>, users: Arc<dyn UserDirectory>) -> Self {
        Self { roles, users }
    }
}

#[tonic::async_trait]
impl AuthorizationService for AuthorizationGrpc {
    async fn check(
        &self,
        request: Request<pb::CheckRequest>,
    ) -> Result<Response<pb::CheckResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let req = request.into_inner();
        // A user may ask only about itself: the policy's rule saw to it.
        let target = caller.target_user("user_id", &req.user_id).or_status()?;
        let permission = convert::name("permission", &req.permission).or_status()?;
        // RBAC grants are global: a resource, when named, is allowed exactly
        // when the permission is held in general.
        let decision = self.roles.check(target, &permission).await.or_status()?;
        Ok(Response::new(pb::CheckResponse {
            allowed: decision.allowed,
            reason: decision.reason.unwrap_or_default(),
        }))
    }

    async fn list_user_permissions(
        &self,
        request: Request<pb::ListUserPermissionsRequest>,
    ) -> Result<Response<pb::ListUserPermissionsResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let target = caller
            .target_user("user_id", &request.get_ref().user_id)
            .or_status()?;
        let permissions = self.roles.user_permissions(target).await.or_status()?;
        Ok(Response::new(pb::ListUserPermissionsResponse {
            permissions,
        }))
    }

    async fn list_user_roles(
        &self,
        request: Request<pb::ListUserRolesRequest>,
    ) -> Result<Response<pb::ListUserRolesResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let target = caller
            .target_user("user_id", &request.get_ref().user_id)
            .or_status()?;
        let roles = self.roles.user_roles(target).await.or_status()?;
        Ok(Response::new(pb::ListUserRolesResponse {
            roles: roles.into_iter().map(convert::role_to_proto).collect(),
        }))
    }

    async fn assign_role(
        &self,
        request: Request<pb::AssignRoleRequest>,
    ) -> Result<Response<pb::AssignRoleResponse>, Status> {
        // The policy required [roles.write]; what a non-SUPERADMIN may
        // hand out is the flow's to decide.
        let actor = admin::actor(&request)?;
        let req = request.into_inner();
        let user = latch_domain::UserId::parse("user_id", &req.user_id).or_status()?;
        let role = convert::name("role", &req.role).or_status()?;
        let assigned = self
            .roles
            .assign_as(actor, self.users.as_ref(), user, &role)
            .await
            .or_status()?;
        Ok(Response::new(pb::AssignRoleResponse { assigned }))
    }

    async fn unassign_role(
        &self,
        request: Request<pb::UnassignRoleRequest>,
    ) -> Result<Response<pb::UnassignRoleResponse>, Status> {
        let actor = admin::actor(&request)?;
        let req = request.into_inner();
        let user = latch_domain::UserId::parse("user_id", &req.user_id).or_status()?;
        let role = convert::name("role", &req.role).or_status()?;
        let unassigned = self
            .roles
            .unassign_as(actor, user, &role)
            .await
            .or_status()?;
        Ok(Response::new(pb::UnassignRoleResponse { unassigned }))
    }

    async fn delete_user_roles(
        &self,
        request: Request<pb::DeleteUserRolesRequest>,
    ) -> Result<Response<pb::DeleteUserRolesResponse>, Status> {
        let user =
            latch_domain::UserId::parse("user_id", &request.get_ref().user_id).or_status()?;
        let deleted = self.roles.erase_user(user).await.or_status()?;
        Ok(Response::new(pb::DeleteUserRolesResponse { deleted }))
    }

    async fn create_role(
        &self,
        request: Request<pb::CreateRoleRequest>,
    ) -> Result<Response<pb::CreateRoleResponse>, Status> {
        admin::create_role(&self.roles, request).await
    }

    async fn update_role(
        &self,
        request: Request<pb::UpdateRoleRequest>,
    ) -> Result<Response<pb::UpdateRoleResponse>, Status> {
        admin::update_role(&self.roles, request).await
    }

    async fn delete_role(
        &self,
        request: Request<pb::DeleteRoleRequest>,
    ) -> Result<Response<pb::DeleteRoleResponse>, Status> {
        admin::delete_role(&self.roles, request).await
    }

    async fn list_roles(
        &self,
        request: Request<pb::ListRolesRequest>,
    ) -> Result<Response<pb::ListRolesResponse>, Status> {
        admin::list_roles(&self.roles, request).await
    }

    async fn create_permission(
        &self,
        request: Request<pb::CreatePermissionRequest>,
    ) -> Result<Response<pb::CreatePermissionResponse>, Status> {
        admin::create_permission(&self.roles, request).await
    }

    async fn delete_permission(
        &self,
        request: Request<pb::DeletePermissionRequest>,
    ) -> Result<Response<pb::DeletePermissionResponse>, Status> {
        admin::delete_permission(&self.roles, request).await
    }

    async fn list_permissions(
        &self,
        request: Request<pb::ListPermissionsRequest>,
    ) -> Result<Response<pb::ListPermissionsResponse>, Status> {
        admin::list_permissions(&self.roles, request).await
    }

    async fn grant_permission(
        &self,
        request: Request<pb::GrantPermissionRequest>,
    ) -> Result<Response<pb::GrantPermissionResponse>, Status> {
        admin::grant_permission(&self.roles, request).await
    }

    async fn revoke_permission(
        &self,
        request: Request<pb::RevokePermissionRequest>,
    ) -> Result<Response<pb::RevokePermissionResponse>, Status> {
        admin::revoke_permission(&self.roles, request).await
    }
}

#[cfg(test)]
mod tests;
