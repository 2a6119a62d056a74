//! StartPasskeyRegistration, FinishPasskeyRegistration (user),
//! StartPasskeyLogin, FinishPasskeyLogin (public): the handlers the trait
//! methods in `mod.rs` call. The WebAuthn JSON passes through as the
//! strings the browser's API takes and gives.

use latch_domain::secret::Secret;
use latch_proto::latch::identity::v1 as pb;
use latch_runtime::{
    ResultExt,
    auth::Caller,
    convert::{auth_result, client_info},
};
use tonic::{Request, Response, Status};

use super::passkey_admin::passkey_to_proto;
use crate::{Identity, PasskeyLogin, PasskeyRegistered};

pub(super) async fn start_registration(
    identity: &Identity,
    request: Request<pb::StartPasskeyRegistrationRequest>,
) -> Result<Response<pb::StartPasskeyRegistrationResponse>, Status> {
    let user = Caller::of(&request)?.user().or_status()?.user_id;
    let started = identity
        .start_passkey_registration(user)
        .await
        .or_status()?;
    Ok(Response::new(pb::StartPasskeyRegistrationResponse {
        registration_id: started.registration_id.expose().clone(),
        creation_options_json: started.creation_options_json,
    }))
}

pub(super) async fn finish_registration(
    identity: &Identity,
    request: Request<pb::FinishPasskeyRegistrationRequest>,
) -> Result<Response<pb::FinishPasskeyRegistrationResponse>, Status> {
    let user = Caller::of(&request)?.user().or_status()?.user_id;
    let req = request.into_inner();
    let passkey = identity
        .finish_passkey_registration(
            user,
            PasskeyRegistered {
                registration_id: Secret::new(req.registration_id),
                attestation_json: req.attestation_json,
                name: req.name,
                second_factor: req.second_factor,
            },
        )
        .await
        .or_status()?;
    Ok(Response::new(pb::FinishPasskeyRegistrationResponse {
        passkey: Some(passkey_to_proto(passkey)),
    }))
}

pub(super) async fn start_login(
    identity: &Identity,
    request: Request<pb::StartPasskeyLoginRequest>,
) -> Result<Response<pb::StartPasskeyLoginResponse>, Status> {
    let email = request.into_inner().email;
    let started = identity
        .start_passkey_login(email.as_deref())
        .await
        .or_status()?;
    Ok(Response::new(pb::StartPasskeyLoginResponse {
        login_id: started.login_id.expose().clone(),
        request_options_json: started.request_options_json,
    }))
}

pub(super) async fn finish_login(
    identity: &Identity,
    request: Request<pb::FinishPasskeyLoginRequest>,
) -> Result<Response<pb::FinishPasskeyLoginResponse>, Status> {
    let caller = Caller::of(&request)?.clone();
    let req = request.into_inner();
    let tokens = identity
        .finish_passkey_login(PasskeyLogin {
            login_id: Secret::new(req.login_id),
            assertion_json: req.assertion_json,
            client: caller.client_info(client_info(req.client)),
        })
        .await
        .or_status()?;
    Ok(Response::new(pb::FinishPasskeyLoginResponse {
        auth: Some(auth_result(tokens)),
    }))
}
