//! ListPasskeys, RenamePasskey, DeletePasskey: the handlers (the trait
//! methods in `mod.rs` call these) and the `Passkey` message. The auth
//! layer already applied the RPC's `OwnerOr` rule to `user_id`, so the user
//! named (or the caller) is the one acted on.

use latch_domain::{Error, Result, model::PasskeyCredential};
use latch_proto::latch::identity::v1 as pb;
use latch_runtime::{
    ResultExt,
    auth::Caller,
    convert::{opt_timestamp, timestamp},
};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::Identity;

/// The message for one passkey; what verifies it (public key, counter,
/// credential id) stays on the server.
pub(crate) fn passkey_to_proto(passkey: PasskeyCredential) -> pb::Passkey {
    pb::Passkey {
        id: passkey.id.to_string(),
        name: passkey.name,
        created_at: Some(timestamp(passkey.created_at)),
        last_used_at: opt_timestamp(passkey.last_used_at),
        clone_suspected_at: opt_timestamp(passkey.clone_suspected_at),
        second_factor: passkey.second_factor,
        backed_up: passkey.backup_state,
    }
}

/// `passkey_id`, which must be a passkey's id.
pub(crate) fn passkey_id(raw: &str) -> Result<Uuid> {
    Uuid::parse_str(raw.trim())
        .map_err(|_| Error::invalid_field("passkey_id", "is not a passkey id"))
}

pub(super) async fn list(
    identity: &Identity,
    request: Request<pb::ListPasskeysRequest>,
) -> Result<Response<pb::ListPasskeysResponse>, Status> {
    let caller = Caller::of(&request)?;
    let user = caller
        .target_user("user_id", &request.get_ref().user_id)
        .or_status()?;
    let passkeys = identity.list_passkeys(user).await.or_status()?;
    Ok(Response::new(pb::ListPasskeysResponse {
        passkeys: passkeys.into_iter().map(passkey_to_proto).collect(),
    }))
}

pub(super) async fn rename(
    identity: &Identity,
    request: Request<pb::RenamePasskeyRequest>,
) -> Result<Response<pb::RenamePasskeyResponse>, Status> {
    let caller = Caller::of(&request)?;
    let req = request.get_ref();
    let user = caller.target_user("user_id", &req.user_id).or_status()?;
    let id = passkey_id(&req.passkey_id).or_status()?;
    let renamed = identity
        .rename_passkey(user, id, &req.name)
        .await
        .or_status()?;
    Ok(Response::new(pb::RenamePasskeyResponse {
        passkey: Some(passkey_to_proto(renamed)),
    }))
}

pub(super) async fn delete(
    identity: &Identity,
    request: Request<pb::DeletePasskeyRequest>,
) -> Result<Response<pb::DeletePasskeyResponse>, Status> {
    let caller = Caller::of(&request)?;
    let req = request.get_ref();
    let user = caller.target_user("user_id", &req.user_id).or_status()?;
    let id = passkey_id(&req.passkey_id).or_status()?;
    identity.delete_passkey(user, id).await.or_status()?;
    if caller.user().ok().map(|me| me.user_id) != Some(user) {
        // An administrator removed someone else's credential: say who.
        tracing::info!(by = %caller.describe(), %user, passkey = %id, "passkey deleted for a user");
    }
    Ok(Response::new(pb::DeletePasskeyResponse {}))
}

#[cfg(test)]
mod tests;
