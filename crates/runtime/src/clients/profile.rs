use async_trait::async_trait;
use latch_domain::{
    Result, UserId,
    ports::{ProfileDirectory, UserDataEraser},
};
use latch_proto::latch::profile::v1::{self as pb, profile_service_client::ProfileServiceClient};

use super::{ServiceChannel, error_from_status};

/// [`ProfileDirectory`] over gRPC.
#[derive(Clone)]
pub struct ProfileClient(ProfileServiceClient<ServiceChannel>);

impl ProfileClient {
    pub fn new(channel: ServiceChannel) -> Self {
        Self(ProfileServiceClient::new(channel))
    }
}

#[async_trait]
impl ProfileDirectory for ProfileClient {
    async fn create(&self, user: UserId, first_name: &str, last_name: &str) -> Result<bool> {
        let request = pb::CreateProfileRequest {
            user_id: user.to_string(),
            first_name: first_name.to_owned(),
            last_name: last_name.to_owned(),
        };
        let response = self
            .0
            .clone()
            .create_profile(request)
            .await
            .map_err(error_from_status)?;
        Ok(response.into_inner().created)
    }

    async fn delete(&self, user: UserId) -> Result<bool> {
        let request = pb::DeleteProfileRequest {
            user_id: user.to_string(),
        };
        self.0
            .clone()
            .delete_profile(request)
            .await
            .map_err(error_from_status)?;
        Ok(true)
    }
}

/// DeleteProfile (idempotent): the profile is the one row profile keeps.
/// DeleteProfile does not say whether there was one: counted as 1.
#[async_trait]
impl UserDataEraser for ProfileClient {
    async fn erase_user(&self, user: UserId) -> Result<u64> {
        ProfileDirectory::delete(self, user).await.map(u64::from)
    }
}
