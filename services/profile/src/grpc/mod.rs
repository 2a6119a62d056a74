//! `latch.profile.v1.ProfileService`: thin handlers (the auth layer already
//! applied [`POLICY`]) that convert the request, call [`crate::Profiles`] and convert back. Avatars
//! go through [`crate::avatar::Avatars`] (`avatar.rs`); a server built
//! without them answers their RPCs UNIMPLEMENTED.

mod avatar;
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

use crate::{Profiles, avatar::Avatars};
pub use convert::{json_to_value, object_to_struct, struct_to_json};
pub use policy::POLICY;

/// The tonic service, with UploadAvatar and DeleteAvatar served by
/// `avatars` and every profile's `avatar_url` derived from its key; wrap
/// it with the auth layer and [`POLICY`].
pub fn server(profiles: Arc<Profiles>, avatars: Arc<Avatars>) -> ProfileServiceServer<ProfileGrpc> {
    ProfileServiceServer::new(ProfileGrpc::new(profiles).with_avatars(avatars))
}

pub struct ProfileGrpc {
    profiles: Arc<Profiles>,
    avatars: Option<Arc<Avatars>>,
}

impl ProfileGrpc {
    pub fn new(profiles: Arc<Profiles>) -> Self {
        Self {
            profiles,
            avatars: None,
        }
    }

    pub fn with_avatars(mut self, avatars: Arc<Avatars>) -> Self {
        self.avatars = Some(avatars);
        self
    }

    /// A profile as sent: `avatar_url` from its key when avatars are served.
    fn out(&self, profile: latch_domain::model::Profile) -> pb::Profile {
        let profile = match &self.avatars {
            Some(avatars) => avatars.with_url(profile),
            None => profile,
        };
        convert::profile_to_proto(profile)
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
            profile: Some(self.out(profile)),
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
            profile: Some(self.out(profile)),
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
        let expected = convert::expected_version(req.expected_version).or_status()?;
        let profile = self
            .profiles
            .update(target, changes, &mask, expected)
            .await
            .or_status()?;
        Ok(Response::new(pb::UpdateProfileResponse {
            profile: Some(self.out(profile)),
        }))
    }

    async fn upload_avatar(
        &self,
        request: Request<tonic::Streaming<pb::UploadAvatarRequest>>,
    ) -> Result<Response<pb::UploadAvatarResponse>, Status> {
        avatar::upload(self.avatars.as_deref(), request).await
    }

    async fn delete_avatar(
        &self,
        request: Request<pb::DeleteAvatarRequest>,
    ) -> Result<Response<pb::DeleteAvatarResponse>, Status> {
        avatar::delete(self.avatars.as_deref(), request).await
    }
}

#[cfg(test)]
mod tests;
