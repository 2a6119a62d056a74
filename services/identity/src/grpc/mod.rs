//! `latch.identity.v1.IdentityService`: thin handlers that check the caller,
//! convert the request, call [`crate::Identity`] and convert back. RPCs not
//! built yet (verification, password reset, TOTP, passkeys, OAuth, user
//! administration) answer UNIMPLEMENTED through the generated defaults.

mod convert;
mod policy;

use std::sync::Arc;

use latch_domain::{model::permission, ports::RoleDirectory, secret::Secret};
use latch_proto::latch::identity::v1::{
    self as pb,
    identity_service_server::{IdentityService, IdentityServiceServer},
    login_response,
};
use latch_runtime::{
    ResultExt,
    auth::Caller,
    convert::{auth_result, client_info},
};
use tonic::{Request, Response, Status};

use crate::{Credentials, Identity, LoginOutcome, SignUp};
pub use policy::POLICY;

/// The tonic service; wrap it with the auth layer and [`POLICY`].
pub fn server(
    identity: Arc<Identity>,
    roles: Arc<dyn RoleDirectory>,
) -> IdentityServiceServer<IdentityGrpc> {
    IdentityServiceServer::new(IdentityGrpc::new(identity, roles))
}

pub struct IdentityGrpc {
    identity: Arc<Identity>,
    roles: Arc<dyn RoleDirectory>,
}

impl IdentityGrpc {
    pub fn new(identity: Arc<Identity>, roles: Arc<dyn RoleDirectory>) -> Self {
        Self { identity, roles }
    }
}

#[tonic::async_trait]
impl IdentityService for IdentityGrpc {
    async fn sign_up(
        &self,
        request: Request<pb::SignUpRequest>,
    ) -> Result<Response<pb::SignUpResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let req = request.into_inner();
        let signed_up = self
            .identity
            .sign_up(SignUp {
                email: req.email,
                password: Secret::new(req.password),
                first_name: req.first_name,
                last_name: req.last_name,
                phone: req.phone,
                client: caller.client_info(client_info(req.client)),
            })
            .await
            .or_status()?;
        Ok(Response::new(pb::SignUpResponse {
            user: Some(convert::user_to_proto(signed_up.user)),
            auth: signed_up.tokens.map(auth_result),
        }))
    }

    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let req = request.into_inner();
        let outcome = self
            .identity
            .login(Credentials {
                email: req.email,
                password: Secret::new(req.password),
                client: caller.client_info(client_info(req.client)),
            })
            .await
            .or_status()?;
        let result = match outcome {
            LoginOutcome::SignedIn(tokens) => login_response::Result::Auth(auth_result(tokens)),
        };
        Ok(Response::new(pb::LoginResponse {
            result: Some(result),
        }))
    }

    async fn logout(
        &self,
        request: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::LogoutResponse>, Status> {
        let caller = Caller::of(&request)?;
        let session = caller.user().or_status()?.session_id.clone();
        self.identity.logout(&session).await.or_status()?;
        Ok(Response::new(pb::LogoutResponse {}))
    }

    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::GetUserResponse>, Status> {
        let caller = Caller::of(&request)?;
        let target = caller
            .authorized_target(
                "user_id",
                &request.get_ref().user_id,
                permission::USERS_READ,
                self.roles.as_ref(),
            )
            .await
            .or_status()?;
        let user = self.identity.get_user(target).await.or_status()?;
        Ok(Response::new(pb::GetUserResponse {
            user: Some(convert::user_to_proto(user)),
        }))
    }
}

#[cfg(test)]
mod tests;
