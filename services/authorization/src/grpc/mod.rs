//! `latch.authorization.v1.AuthorizationService`: thin handlers that check
//! the caller, convert the request, call [`crate::Roles`] and convert back.
//! Role and permission administration (CreateRole, GrantPermission, ...) is
//! not built yet and answers UNIMPLEMENTED through the generated defaults.

mod convert;
mod policy;

use std::sync::Arc;

use latch_domain::{
    Error, Result,
    model::builtin,
    model::permission,
    ports::{RoleDirectory, UserDataEraser},
};
use latch_proto::latch::authorization::v1::{
    self as pb,
    authorization_service_server::{AuthorizationService, AuthorizationServiceServer},
};
use latch_runtime::{
    ResultExt,
    auth::{Caller, Principal},
};
use tonic::{Request, Response, Status};

use crate::Roles;
pub use policy::POLICY;

/// The tonic service over [`Roles`]; wrap it with the auth layer and
/// [`POLICY`].
pub fn server(roles: Arc<Roles>) -> AuthorizationServiceServer<AuthorizationGrpc> {
    AuthorizationServiceServer::new(AuthorizationGrpc::new(roles))
}

pub struct AuthorizationGrpc {
    roles: Arc<Roles>,
}

impl AuthorizationGrpc {
    pub fn new(roles: Arc<Roles>) -> Self {
        Self { roles }
    }

    /// Admin callers need [roles.write]; SUPERADMIN is handed out or taken
    /// away only by a SUPERADMIN (or by Latch itself, e.g. at bootstrap).
    async fn authorize_role_change(&self, caller: &Caller, role: &str) -> Result<()> {
        caller
            .require_permission(permission::ROLES_WRITE, self.roles.as_ref())
            .await?;
        if let Principal::User(user) = &caller.principal
            && role.eq_ignore_ascii_case(builtin::SUPERADMIN)
            && !self.roles.is_superadmin(user.user_id).await?
        {
            return Err(Error::new(
                latch_domain::Reason::AccessDenied,
                "only a SUPERADMIN may assign or unassign SUPERADMIN",
            ));
        }
        Ok(())
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
        let target = caller.target_user("user_id", &req.user_id).or_status()?;
        // A user may ask only about itself: the answer about others would
        // reveal their roles.
        if let Principal::User(user) = &caller.principal
            && user.user_id != target
        {
            return Err(Error::access_denied()).or_status();
        }
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
            .authorized_target(
                "user_id",
                &request.get_ref().user_id,
                permission::ROLES_READ,
                self.roles.as_ref(),
            )
            .await
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
            .authorized_target(
                "user_id",
                &request.get_ref().user_id,
                permission::ROLES_READ,
                self.roles.as_ref(),
            )
            .await
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
        let caller = Caller::of(&request)?.clone();
        let req = request.into_inner();
        let user = latch_domain::UserId::parse("user_id", &req.user_id).or_status()?;
        let role = convert::name("role", &req.role).or_status()?;
        self.authorize_role_change(&caller, &role)
            .await
            .or_status()?;
        let assigned = self.roles.assign(user, &role).await.or_status()?;
        Ok(Response::new(pb::AssignRoleResponse { assigned }))
    }

    async fn unassign_role(
        &self,
        request: Request<pb::UnassignRoleRequest>,
    ) -> Result<Response<pb::UnassignRoleResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let req = request.into_inner();
        let user = latch_domain::UserId::parse("user_id", &req.user_id).or_status()?;
        let role = convert::name("role", &req.role).or_status()?;
        self.authorize_role_change(&caller, &role)
            .await
            .or_status()?;
        let unassigned = self.roles.unassign(user, &role).await.or_status()?;
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
}

#[cfg(test)]
mod tests;
