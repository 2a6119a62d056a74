//! UploadAvatar and DeleteAvatar: the caller's own avatar only (the
//! messages name no user; an administrator removes another user's avatar
//! by deleting the profile). The upload stream becomes a stream of plain
//! byte chunks here, so protobuf stops at the handler; [`Avatars`] counts
//! them as they come and drops the stream at the first refusal.

use futures::StreamExt as _;
use latch_domain::{Error, Reason, UserId};
use latch_proto::latch::profile::v1::{self as pb, upload_avatar_request::Part};
use latch_runtime::{IntoStatus as _, ResultExt, auth::Caller};
use tonic::{Request, Response, Status, Streaming};

use super::convert;
use crate::avatar::{Avatars, Declared};

fn caller<T>(request: &Request<T>) -> Result<UserId, Status> {
    Ok(Caller::of(request)?.user().or_status()?.user_id)
}

fn not_configured() -> Status {
    Error::new(Reason::Unimplemented, "avatars are not configured here").into_status()
}

pub(super) async fn upload(
    avatars: Option<&Avatars>,
    request: Request<Streaming<pb::UploadAvatarRequest>>,
) -> Result<Response<pb::UploadAvatarResponse>, Status> {
    let avatars = avatars.ok_or_else(not_configured)?;
    let user = caller(&request)?;
    let mut stream = request.into_inner();
    let declared = match stream.message().await?.and_then(|m| m.part) {
        Some(Part::Metadata(m)) => Declared {
            content_type: m.content_type,
            size: m.size,
        },
        _ => {
            return Err(Error::field(
                Reason::AvatarInvalid,
                "metadata",
                "the stream must start with the metadata",
            ))
            .or_status();
        }
    };
    let chunks = stream.map(|message| match message {
        Ok(pb::UploadAvatarRequest {
            part: Some(Part::Chunk(bytes)),
        }) => Ok(bytes),
        Ok(_) => Err(Error::field(
            Reason::AvatarInvalid,
            "metadata",
            "only chunks may follow the metadata",
        )),
        // The client went away or broke the stream: nothing is stored.
        Err(status) => Err(
            Error::new(Reason::AvatarInvalid, "the upload stream broke off").with_source(status),
        ),
    });
    let profile = avatars.upload(user, declared, chunks).await.or_status()?;
    Ok(Response::new(pb::UploadAvatarResponse {
        profile: Some(convert::profile_to_proto(profile)),
    }))
}

pub(super) async fn delete(
    avatars: Option<&Avatars>,
    request: Request<pb::DeleteAvatarRequest>,
) -> Result<Response<pb::DeleteAvatarResponse>, Status> {
    let avatars = avatars.ok_or_else(not_configured)?;
    let user = caller(&request)?;
    let profile = avatars.delete(user).await.or_status()?;
    Ok(Response::new(pb::DeleteAvatarResponse {
        profile: Some(convert::profile_to_proto(profile)),
    }))
}
