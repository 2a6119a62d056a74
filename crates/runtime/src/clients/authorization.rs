use async_trait::async_trait;
use latch_domain::{
    Result, UserId,
    ports::{RoleDirectory, UserDataEraser},
};
use latch_proto::latch::authorization::v1::{
    self as pb, authorization_service_client::AuthorizationServiceClient,
};

use super::{ServiceChannel, error_from_status};

/// [`RoleDirectory`] over gRPC.
#[derive(Clone)]
pub struct AuthorizationClient(AuthorizationServiceClient<ServiceChannel>);

impl AuthorizationClient {
    pub fn new(channel: ServiceChannel) -> Self {
        Self(AuthorizationServiceClient::new(channel))
    }
}

#[async_trait]
impl RoleDirectory for AuthorizationClient {
    async fn role_names(&self, user: UserId) -> Result<Vec<String>> {
        let request = pb::ListUserRolesRequest {
            user_id: user.to_string(),
        };
        let response = self
            .0
            .clone()
            .list_user_roles(request)
            .await
            .map_err(error_from_status)?;
        Ok(response
            .into_inner()
            .roles
            .into_iter()
            .map(|r| r.name)
            .collect())
    }

    async fn has_permission(&self, user: UserId, permission: &str) -> Result<bool> {
        let request = pb::CheckRequest {
            user_id: user.to_string(),
            permission: permission.to_owned(),
            resource: String::new(),
        };
        let response = self
            .0
            .clone()
            .check(request)
            .await
            .map_err(error_from_status)?;
        Ok(response.into_inner().allowed)
    }

    async fn assign(&self, user: UserId, role: &str) -> Result<bool> {
        let request = pb::AssignRoleRequest {
            user_id: user.to_string(),
            role: role.to_owned(),
        };
        let response = self
            .0
            .clone()
            .assign_role(request)
            .await
            .map_err(error_from_status)?;
        Ok(response.into_inner().assigned)
    }

    async fn unassign(&self, user: UserId, role: &str) -> Result<bool> {
        let request = pb::UnassignRoleRequest {
            user_id: user.to_string(),
            role: role.to_owned(),
        };
        let response = self
            .0
            .clone()
            .unassign_role(request)
            .await
            .map_err(error_from_status)?;
        Ok(response.into_inner().unassigned)
    }
}

/// DeleteUserRoles: every role assignment of the user.
#[async_trait]
impl UserDataEraser for AuthorizationClient {
    async fn erase_user(&self, user: UserId) -> Result<u64> {
        let request = pb::DeleteUserRolesRequest {
            user_id: user.to_string(),
        };
        let response = self
            .0
            .clone()
            .delete_user_roles(request)
            .await
            .map_err(error_from_status)?;
        Ok(response.into_inner().deleted)
    }
}
