use async_trait::async_trait;
use latch_domain::{Reason, Result, UserId, model::UserStatus, ports::UserDirectory};
use latch_proto::latch::identity::v1::{
    self as pb, identity_service_client::IdentityServiceClient,
};

use super::{ServiceChannel, error_from_status};
use crate::convert::user_status;

/// [`UserDirectory`] over gRPC (GetUser as an internal caller).
#[derive(Clone)]
pub struct IdentityClient(IdentityServiceClient<ServiceChannel>);

impl IdentityClient {
    pub fn new(channel: ServiceChannel) -> Self {
        Self(IdentityServiceClient::new(channel))
    }
}

#[async_trait]
impl UserDirectory for IdentityClient {
    async fn status(&self, user: UserId) -> Result<Option<UserStatus>> {
        let request = pb::GetUserRequest {
            user_id: user.to_string(),
        };
        match self
            .0
            .clone()
            .get_user(request)
            .await
            .map_err(error_from_status)
        {
            Ok(response) => Ok(response
                .into_inner()
                .user
                .and_then(|u| user_status(u.status()))),
            Err(err) if err.is(Reason::NotFound) => Ok(None),
            Err(err) => Err(err),
        }
    }
}
