//! Converters for the second-factor RPCs (TOTP enrolment, the login
//! challenge and its completion) between `latch.identity.v1` and the flows'
//! types; no logic beyond the shape of the messages.

use latch_domain::{Error, Result, secret::Secret};
use latch_proto::latch::identity::v1::{
    self as pb, complete_second_factor_request, disable_totp_request,
};
use latch_runtime::convert::timestamp;

use crate::{SecondFactorChallenge, SecondFactorMethod, SecondFactorProof, TotpProof};

pub(crate) fn challenge_to_proto(challenge: SecondFactorChallenge) -> pb::SecondFactorChallenge {
    pb::SecondFactorChallenge {
        login_token: challenge.login_token.expose().clone(),
        methods: challenge
            .methods
            .into_iter()
            .map(|m| method_to_proto(m) as i32)
            .collect(),
        passkey_request_options_json: challenge.passkey_request_options_json.unwrap_or_default(),
        expires_at: Some(timestamp(challenge.expires_at)),
    }
}

fn method_to_proto(method: SecondFactorMethod) -> pb::SecondFactorMethod {
    match method {
        SecondFactorMethod::Totp => pb::SecondFactorMethod::Totp,
        SecondFactorMethod::RecoveryCode => pb::SecondFactorMethod::RecoveryCode,
        SecondFactorMethod::Passkey => pb::SecondFactorMethod::Passkey,
    }
}

/// The proof of a CompleteSecondFactor request. A passkey assertion is
/// checked against the challenge by the flow (refused as bad input when
/// the challenge offered no passkey).
pub(crate) fn second_factor_proof(
    proof: Option<complete_second_factor_request::Proof>,
) -> Result<SecondFactorProof> {
    use complete_second_factor_request::Proof;
    match proof {
        Some(Proof::TotpCode(code)) => Ok(SecondFactorProof::TotpCode(code)),
        Some(Proof::RecoveryCode(code)) => Ok(SecondFactorProof::RecoveryCode(Secret::new(code))),
        Some(Proof::PasskeyAssertionJson(json)) => Ok(SecondFactorProof::PasskeyAssertion(json)),
        None => Err(Error::invalid_field(
            "proof",
            "a totp_code, a recovery_code or a passkey_assertion_json is required",
        )),
    }
}

pub(crate) fn totp_proof(proof: Option<disable_totp_request::Proof>) -> Result<TotpProof> {
    use disable_totp_request::Proof;
    match proof {
        Some(Proof::TotpCode(code)) => Ok(TotpProof::Code(code)),
        Some(Proof::Password(password)) => Ok(TotpProof::Password(Secret::new(password))),
        None => Err(Error::invalid_field(
            "proof",
            "a totp_code or the password is required",
        )),
    }
}

pub(crate) fn codes_to_proto(codes: Vec<Secret<String>>) -> Vec<String> {
    codes.into_iter().map(|c| c.expose().clone()).collect()
}
