//! `latchctl login` and `latchctl logout`: signing an admin in (password,
//! then a TOTP or recovery code when Latch asks for one) and keeping the
//! tokens; ending the session and forgetting them.

use latch_proto::latch::{
    common::v1::AuthResult,
    identity::v1::{
        CompleteSecondFactorRequest, LoginRequest, LogoutRequest, complete_second_factor_request,
        login_response,
    },
    token::v1::RevokeTokenRequest,
};
use serde::Serialize;

use crate::{
    api::{self, Api},
    cli::LoginArgs,
    failure::{Exit, Failure},
    output::Output,
    prompt,
    store::{Credentials, Store},
};

#[derive(Serialize)]
struct SignedIn<'a> {
    server: &'a str,
    user_id: &'a str,
    email: &'a str,
    session_id: &'a str,
    credentials_file: String,
}

pub(crate) async fn login(
    server: &str,
    store: Store,
    args: &LoginArgs,
    out: Output,
) -> Result<(), Failure> {
    let channel = api::channel(server)?;
    let key = api::server_key(server);
    let mut identity =
        latch_proto::latch::identity::v1::identity_service_client::IdentityServiceClient::new(
            channel.clone(),
        );
    let password = prompt::password(args.password_file.as_deref())?;
    let request = LoginRequest {
        email: args.email.trim().to_owned(),
        password,
        client: None,
    };
    let answer = identity
        .login(request)
        .await
        .map_err(|status| Failure::from_sign_in("log in", &status))?
        .into_inner();
    let auth = match answer.result {
        Some(login_response::Result::Auth(auth)) => auth,
        Some(login_response::Result::SecondFactor(challenge)) => {
            let code = prompt::second_factor_code()?;
            // Six digits are an authenticator's code; anything else is a
            // recovery code (Latch forgives dashes, spaces and case).
            let proof = if code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()) {
                complete_second_factor_request::Proof::TotpCode(code)
            } else {
                complete_second_factor_request::Proof::RecoveryCode(code)
            };
            let request = CompleteSecondFactorRequest {
                login_token: challenge.login_token,
                proof: Some(proof),
                client: None,
            };
            identity
                .complete_second_factor(request)
                .await
                .map_err(|status| Failure::from_sign_in("second factor", &status))?
                .into_inner()
                .auth
                .ok_or_else(|| Failure::other("CompleteSecondFactor answered no tokens"))?
        }
        None => {
            return Err(Failure::other(
                "Login answered neither tokens nor a challenge",
            ));
        }
    };
    // A sign-in this one replaces is ended, not left to idle out.
    if let Ok(Some(previous)) = store.load(&key) {
        let mut token =
            latch_proto::latch::token::v1::token_service_client::TokenServiceClient::new(channel);
        let revoke = RevokeTokenRequest {
            token: previous.refresh_token,
            token_type_hint: "refresh_token".to_owned(),
        };
        let _ = token.revoke_token(revoke).await;
    }
    let credentials = credentials_of(&args.email, &auth);
    store.save(&key, &credentials)?;
    let shown = SignedIn {
        server: &key,
        user_id: &credentials.user_id,
        email: &credentials.email,
        session_id: &credentials.session_id,
        credentials_file: store.path().display().to_string(),
    };
    out.show(&shown, || {
        format!(
            "Signed in to {key} as {} (user {}); sign-in kept in {}",
            shown.email, shown.user_id, shown.credentials_file
        )
    })
}

fn credentials_of(email: &str, auth: &AuthResult) -> Credentials {
    let mut credentials = Credentials {
        user_id: auth.user_id.clone(),
        email: email.trim().to_owned(),
        session_id: String::new(),
        access_token: String::new(),
        access_token_expires_at: chrono::Utc::now(),
        refresh_token: String::new(),
        refresh_token_expires_at: None,
    };
    api::apply(&mut credentials, auth);
    credentials
}

/// Ends the signed-in session (its refresh tokens with it) and forgets
/// it. A session Latch already ended is forgotten all the same.
pub(crate) async fn logout(server: &str, store: Store, out: Output) -> Result<(), Failure> {
    let mut api = match Api::open(server, store.clone(), None) {
        Ok(api) => api,
        Err(failure) if failure.exit() == Exit::Auth => {
            return out.show(&serde_json::json!({ "signed_out": false }), || {
                format!("Not signed in to {}", api::server_key(server))
            });
        }
        Err(failure) => return Err(failure),
    };
    let identity = api.identity();
    let ended = api
        .call(
            "log out",
            &identity,
            LogoutRequest {},
            |mut c, r| async move { c.logout(r).await },
        )
        .await;
    match ended {
        Ok(_) => {}
        // Refused as signed out: nothing left to end.
        Err(failure) if failure.exit() == Exit::Auth => {}
        Err(failure) => return Err(failure),
    }
    store.forget(api.server())?;
    out.show(&serde_json::json!({ "signed_out": true }), || {
        format!("Signed out of {}", api.server())
    })
}
