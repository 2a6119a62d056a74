//! `latch.identity.v1.IdentityService`: thin handlers (the auth layer already
//! applied [`POLICY`]) that convert the request, call [`crate::Identity`] and convert back. RPCs not
//! built yet answer UNIMPLEMENTED through the generated defaults.

mod admin;
mod convert;
mod oauth;
mod passkey_admin;
mod passkeys;
mod policy;
mod second_factor;

use std::sync::Arc;

use latch_domain::{UserId, secret::Secret, validate};
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

use crate::{Credentials, Identity, LoginOutcome, OAuthReturn, SecondFactor, SignUp};
pub use policy::POLICY;

/// The tonic service; wrap it with the auth layer and [`POLICY`].
pub fn server(identity: Arc<Identity>) -> IdentityServiceServer<IdentityGrpc> {
    IdentityServiceServer::new(IdentityGrpc::new(identity))
}

pub struct IdentityGrpc {
    identity: Arc<Identity>,
}

impl IdentityGrpc {
    pub fn new(identity: Arc<Identity>) -> Self {
        Self { identity }
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
            LoginOutcome::SecondFactor(challenge) => {
                login_response::Result::SecondFactor(second_factor::challenge_to_proto(challenge))
            }
        };
        Ok(Response::new(pb::LoginResponse {
            result: Some(result),
        }))
    }

    async fn complete_second_factor(
        &self,
        request: Request<pb::CompleteSecondFactorRequest>,
    ) -> Result<Response<pb::CompleteSecondFactorResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let req = request.into_inner();
        let proof = second_factor::second_factor_proof(req.proof).or_status()?;
        let tokens = self
            .identity
            .complete_second_factor(SecondFactor {
                login_token: Secret::new(req.login_token),
                proof,
                client: caller.client_info(client_info(req.client)),
            })
            .await
            .or_status()?;
        Ok(Response::new(pb::CompleteSecondFactorResponse {
            auth: Some(auth_result(tokens)),
        }))
    }

    async fn begin_totp_enrollment(
        &self,
        request: Request<pb::BeginTotpEnrollmentRequest>,
    ) -> Result<Response<pb::BeginTotpEnrollmentResponse>, Status> {
        let user = Caller::of(&request)?.user().or_status()?.user_id;
        let enrollment = self
            .identity
            .begin_totp_enrollment(user)
            .await
            .or_status()?;
        Ok(Response::new(pb::BeginTotpEnrollmentResponse {
            secret: enrollment.secret.expose().clone(),
            otpauth_uri: enrollment.otpauth_uri.expose().clone(),
        }))
    }

    async fn confirm_totp_enrollment(
        &self,
        request: Request<pb::ConfirmTotpEnrollmentRequest>,
    ) -> Result<Response<pb::ConfirmTotpEnrollmentResponse>, Status> {
        let user = Caller::of(&request)?.user().or_status()?.user_id;
        let codes = self
            .identity
            .confirm_totp_enrollment(user, &request.get_ref().code)
            .await
            .or_status()?;
        Ok(Response::new(pb::ConfirmTotpEnrollmentResponse {
            recovery_codes: second_factor::codes_to_proto(codes),
        }))
    }

    async fn disable_totp(
        &self,
        request: Request<pb::DisableTotpRequest>,
    ) -> Result<Response<pb::DisableTotpResponse>, Status> {
        let user = Caller::of(&request)?.user().or_status()?.user_id;
        let proof = second_factor::totp_proof(request.into_inner().proof).or_status()?;
        self.identity.disable_totp(user, proof).await.or_status()?;
        Ok(Response::new(pb::DisableTotpResponse {}))
    }

    async fn regenerate_recovery_codes(
        &self,
        request: Request<pb::RegenerateRecoveryCodesRequest>,
    ) -> Result<Response<pb::RegenerateRecoveryCodesResponse>, Status> {
        let user = Caller::of(&request)?.user().or_status()?.user_id;
        let codes = self
            .identity
            .regenerate_recovery_codes(user)
            .await
            .or_status()?;
        Ok(Response::new(pb::RegenerateRecoveryCodesResponse {
            recovery_codes: second_factor::codes_to_proto(codes),
        }))
    }

    async fn send_email_verification(
        &self,
        request: Request<pb::SendEmailVerificationRequest>,
    ) -> Result<Response<pb::SendEmailVerificationResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let req = request.into_inner();
        let client = caller.client_info(client_info(req.client));
        self.identity
            .send_email_verification(&req.email, &client)
            .await
            .or_status()?;
        Ok(Response::new(pb::SendEmailVerificationResponse {}))
    }

    async fn verify_email(
        &self,
        request: Request<pb::VerifyEmailRequest>,
    ) -> Result<Response<pb::VerifyEmailResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let req = request.into_inner();
        let client = caller.client_info(client_info(req.client));
        let user = self
            .identity
            .verify_email(&req.email, &req.code, &client)
            .await
            .or_status()?;
        Ok(Response::new(pb::VerifyEmailResponse {
            user: Some(convert::user_to_proto(user)),
        }))
    }

    async fn send_phone_verification(
        &self,
        request: Request<pb::SendPhoneVerificationRequest>,
    ) -> Result<Response<pb::SendPhoneVerificationResponse>, Status> {
        let user = Caller::of(&request)?.user().or_status()?.user_id;
        self.identity
            .send_phone_verification(user, request.get_ref().phone.as_deref())
            .await
            .or_status()?;
        Ok(Response::new(pb::SendPhoneVerificationResponse {}))
    }

    async fn verify_phone(
        &self,
        request: Request<pb::VerifyPhoneRequest>,
    ) -> Result<Response<pb::VerifyPhoneResponse>, Status> {
        let user = Caller::of(&request)?.user().or_status()?.user_id;
        let user = self
            .identity
            .verify_phone(user, &request.get_ref().code)
            .await
            .or_status()?;
        Ok(Response::new(pb::VerifyPhoneResponse {
            user: Some(convert::user_to_proto(user)),
        }))
    }

    async fn request_password_reset(
        &self,
        request: Request<pb::RequestPasswordResetRequest>,
    ) -> Result<Response<pb::RequestPasswordResetResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let req = request.into_inner();
        let client = caller.client_info(client_info(req.client));
        self.identity
            .request_password_reset(&req.email, &client)
            .await
            .or_status()?;
        Ok(Response::new(pb::RequestPasswordResetResponse {}))
    }

    async fn reset_password(
        &self,
        request: Request<pb::ResetPasswordRequest>,
    ) -> Result<Response<pb::ResetPasswordResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let req = request.into_inner();
        let client = caller.client_info(client_info(req.client));
        self.identity
            .reset_password(&req.reset_token, &Secret::new(req.new_password), &client)
            .await
            .or_status()?;
        Ok(Response::new(pb::ResetPasswordResponse {}))
    }

    async fn change_password(
        &self,
        request: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::ChangePasswordResponse>, Status> {
        let principal = Caller::of(&request)?.user().or_status()?.clone();
        let req = request.into_inner();
        self.identity
            .change_password(
                principal.user_id,
                &principal.session_id,
                &Secret::new(req.current_password),
                &Secret::new(req.new_password),
            )
            .await
            .or_status()?;
        Ok(Response::new(pb::ChangePasswordResponse {}))
    }

    async fn change_email(
        &self,
        request: Request<pb::ChangeEmailRequest>,
    ) -> Result<Response<pb::ChangeEmailResponse>, Status> {
        let user = Caller::of(&request)?.user().or_status()?.user_id;
        let req = request.into_inner();
        let user = self
            .identity
            .change_email(user, &req.new_email, &Secret::new(req.current_password))
            .await
            .or_status()?;
        Ok(Response::new(pb::ChangeEmailResponse {
            user: Some(convert::user_to_proto(user)),
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
            .target_user("user_id", &request.get_ref().user_id)
            .or_status()?;
        let user = self.identity.get_user(target).await.or_status()?;
        Ok(Response::new(pb::GetUserResponse {
            user: Some(convert::user_to_proto(user)),
        }))
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        let query = admin::user_query(request.get_ref()).or_status()?;
        let (users, next) = self.identity.list_users(query).await.or_status()?;
        Ok(Response::new(pb::ListUsersResponse {
            users: users.into_iter().map(convert::user_to_proto).collect(),
            next_page_token: admin::users_page_token(next),
        }))
    }

    async fn set_user_status(
        &self,
        request: Request<pb::SetUserStatusRequest>,
    ) -> Result<Response<pb::SetUserStatusResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let req = request.into_inner();
        let target = UserId::parse("user_id", &req.user_id).or_status()?;
        let status = admin::settable_status(req.status).or_status()?;
        let why = validate::optional_text("reason", &req.reason, admin::REASON_MAX).or_status()?;
        admin::refuse_self_change(&caller, target).or_status()?;
        let user = self
            .identity
            .set_user_status(target, status)
            .await
            .or_status()?;
        tracing::info!(
            by = %caller.describe(), user = %target, status = status.as_str(),
            reason = why.as_deref().unwrap_or(""), "user status set"
        );
        Ok(Response::new(pb::SetUserStatusResponse {
            user: Some(convert::user_to_proto(user)),
        }))
    }

    async fn delete_user(
        &self,
        request: Request<pb::DeleteUserRequest>,
    ) -> Result<Response<pb::DeleteUserResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let target = UserId::parse("user_id", &request.get_ref().user_id).or_status()?;
        admin::refuse_self_change(&caller, target).or_status()?;
        self.identity.delete_user(target).await.or_status()?;
        tracing::info!(by = %caller.describe(), user = %target, "user deletion started");
        Ok(Response::new(pb::DeleteUserResponse {}))
    }

    async fn list_login_history(
        &self,
        request: Request<pb::ListLoginHistoryRequest>,
    ) -> Result<Response<pb::ListLoginHistoryResponse>, Status> {
        let caller = Caller::of(&request)?;
        let (size, after) = admin::history_page(request.get_ref()).or_status()?;
        let target = caller
            .target_user("user_id", &request.get_ref().user_id)
            .or_status()?;
        let (entries, next) = self
            .identity
            .list_login_history(target, after, size)
            .await
            .or_status()?;
        Ok(Response::new(pb::ListLoginHistoryResponse {
            entries: entries.into_iter().map(admin::history_entry).collect(),
            next_page_token: admin::history_page_token(next),
        }))
    }

    async fn start_o_auth(
        &self,
        request: Request<pb::StartOAuthRequest>,
    ) -> Result<Response<pb::StartOAuthResponse>, Status> {
        // Public, but a signed-in caller starts a link: only they may
        // finish it with LinkIdentity.
        let user = Caller::of(&request)?.user().ok().map(|u| u.user_id);
        let req = request.into_inner();
        let started = self
            .identity
            .start_oauth(&req.provider, &req.redirect_uri, user)
            .await
            .or_status()?;
        Ok(Response::new(pb::StartOAuthResponse {
            authorization_url: started.authorization_url,
            state: started.state.expose().clone(),
        }))
    }

    async fn complete_o_auth(
        &self,
        request: Request<pb::CompleteOAuthRequest>,
    ) -> Result<Response<pb::CompleteOAuthResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let req = request.into_inner();
        let signed_in = self
            .identity
            .complete_oauth_posted(
                OAuthReturn {
                    provider: req.provider,
                    code: Secret::new(req.code),
                    state: Secret::new(req.state),
                    client: caller.client_info(client_info(req.client)),
                },
                &req.provider_user_json,
            )
            .await
            .or_status()?;
        Ok(Response::new(oauth::signed_in_to_proto(signed_in)))
    }

    async fn list_identities(
        &self,
        request: Request<pb::ListIdentitiesRequest>,
    ) -> Result<Response<pb::ListIdentitiesResponse>, Status> {
        let user = Caller::of(&request)?.user().or_status()?.user_id;
        let identities = self.identity.list_identities(user).await.or_status()?;
        Ok(Response::new(pb::ListIdentitiesResponse {
            identities: identities
                .into_iter()
                .map(oauth::identity_to_proto)
                .collect(),
        }))
    }

    async fn link_identity(
        &self,
        request: Request<pb::LinkIdentityRequest>,
    ) -> Result<Response<pb::LinkIdentityResponse>, Status> {
        let user = Caller::of(&request)?.user().or_status()?.user_id;
        let req = request.into_inner();
        let linked = self
            .identity
            .link_identity(
                user,
                &req.provider,
                Secret::new(req.code),
                Secret::new(req.state),
            )
            .await
            .or_status()?;
        Ok(Response::new(pb::LinkIdentityResponse {
            identity: Some(oauth::identity_to_proto(linked)),
        }))
    }

    async fn unlink_identity(
        &self,
        request: Request<pb::UnlinkIdentityRequest>,
    ) -> Result<Response<pb::UnlinkIdentityResponse>, Status> {
        let user = Caller::of(&request)?.user().or_status()?.user_id;
        let id = oauth::identity_id(&request.get_ref().identity_id).or_status()?;
        self.identity.unlink_identity(user, id).await.or_status()?;
        Ok(Response::new(pb::UnlinkIdentityResponse {}))
    }

    async fn list_passkeys(
        &self,
        request: Request<pb::ListPasskeysRequest>,
    ) -> Result<Response<pb::ListPasskeysResponse>, Status> {
        passkey_admin::list(&self.identity, request).await
    }

    async fn rename_passkey(
        &self,
        request: Request<pb::RenamePasskeyRequest>,
    ) -> Result<Response<pb::RenamePasskeyResponse>, Status> {
        passkey_admin::rename(&self.identity, request).await
    }

    async fn delete_passkey(
        &self,
        request: Request<pb::DeletePasskeyRequest>,
    ) -> Result<Response<pb::DeletePasskeyResponse>, Status> {
        passkey_admin::delete(&self.identity, request).await
    }

    async fn start_passkey_registration(
        &self,
        request: Request<pb::StartPasskeyRegistrationRequest>,
    ) -> Result<Response<pb::StartPasskeyRegistrationResponse>, Status> {
        passkeys::start_registration(&self.identity, request).await
    }

    async fn finish_passkey_registration(
        &self,
        request: Request<pb::FinishPasskeyRegistrationRequest>,
    ) -> Result<Response<pb::FinishPasskeyRegistrationResponse>, Status> {
        passkeys::finish_registration(&self.identity, request).await
    }

    async fn start_passkey_login(
        &self,
        request: Request<pb::StartPasskeyLoginRequest>,
    ) -> Result<Response<pb::StartPasskeyLoginResponse>, Status> {
        passkeys::start_login(&self.identity, request).await
    }

    async fn finish_passkey_login(
        &self,
        request: Request<pb::FinishPasskeyLoginRequest>,
    ) -> Result<Response<pb::FinishPasskeyLoginResponse>, Status> {
        passkeys::finish_login(&self.identity, request).await
    }
}

#[cfg(test)]
mod tests;
