//! `latch.profile.v1.ProfileService`: thin handlers (the auth layer already
//! applied [`POLICY`]) that convert the request, call [`crate::Profiles`] and convert back. Avatars
//! are not built yet and answer UNIMPLEMENTED through the generated
//! defaults.

mod convert;
mod policy;

use std::sync::Arc;

use latch_domain::{UserId, ports::ProfileDirectory};
use latch_proto::latch::profile::v1::{
    self as pb,
    profile_service_server::{ProfileService, ProfileServiceServer},
};
use latch_runtime::{ResultExt, auth::Caller};
use tonic::{Request, Response, Status};

use crate::Profiles;
pub use convert::{json_to_value, object_to_struct, struct_to_json};
pub use policy::POLICY;

/// The tonic service; wrap it with the auth layer and [`POLICY`].
pub fn server(profiles: Arc<Profiles>) -> ProfileServiceServer<ProfileGrpc> {
    ProfileServiceServer::new(ProfileGrpc::new(profiles))
}

pub struct ProfileGrpc {
    profiles: Arc<Profiles>,
}

impl ProfileGrpc {
    pub fn new(profiles: Arc<Profiles>) -> Self {
        Self { profiles }
    }
}

#[tonic::async_trait]
impl ProfileService for ProfileGrpc {
    async fn create_profile(
        &self,
        request: Request<pb::CreateProfileRequest>,
    ) -> Result<Response<pb::CreateProfileResponse>, Status> {
        let req = request.into_inner();
        let user = UserId::parse("user_id", &req.user_id).or_status()?;
        let created = self
            .profiles
            .create(user, &req.first_name, &req.last_name)
            .await
            .or_status()?;
        let profile = self.profiles.get(user).await.or_status()?;
        Ok(Response::new(pb::CreateProfileResponse {
            profile: Some(convert::profile_to_proto(profile)),
            created,
        }))
    }

    async fn delete_profile(
        &self,
        request: Request<pb::DeleteProfileRequest>,
    ) -> Result<Response<pb::DeleteProfileResponse>, Status> {
        let user = UserId::parse("user_id", &request.get_ref().user_id).or_status()?;
        self.profiles.delete(user).await.or_status()?;
        Ok(Response::new(pb::DeleteProfileResponse {}))
    }

    async fn get_profile(
        &self,
        request: Request<pb::GetProfileRequest>,
    ) -> Result<Response<pb::GetProfileResponse>, Status> {
        let caller = Caller::of(&request)?;
        let target = caller
            .target_user("user_id", &request.get_ref().user_id)
            .or_status()?;
        let profile = self.profiles.get(target).await.or_status()?;
        Ok(Response::new(pb::GetProfileResponse {
            profile: Some(convert::profile_to_proto(profile)),
        }))
    }

    async fn update_profile(
        &self,
        request: Request<pb::UpdateProfileRequest>,
    ) -> Result<Response<pb::UpdateProfileResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let req = request.into_inner();
        let target = caller.target_user("user_id", &req.user_id).or_status()?;
        let mask = req.update_mask.map(|m| m.paths).unwrap_or_default();
        let changes = convert::update_from_proto(req.profile).or_status()?;
        let profile = self
            .profiles
            .update(target, changes, &mask)
            .await
            .or_status()?;
        Ok(Response::new(pb::UpdateProfileResponse {
            profile: Some(convert::profile_to_proto(profile)),
        }))
    }
}

#[cfg(test)]
mod tests;
