//! Converters for the OAuth / OpenID Connect RPCs between
//! `latch.identity.v1` and the flows' types; no logic beyond the shape of
//! the messages.

use latch_domain::{Result, model::ExternalIdentity};
use latch_proto::latch::identity::v1 as pb;
use latch_runtime::convert::{auth_result, timestamp};
use uuid::Uuid;

use super::{convert::user_to_proto, second_factor::challenge_to_proto};
use crate::{OAuthMatch, OAuthOutcome, OAuthSignedIn};

pub(crate) fn identity_to_proto(identity: ExternalIdentity) -> pb::Identity {
    pb::Identity {
        id: identity.id.to_string(),
        provider: identity.provider,
        subject: identity.subject,
        email: identity.email.unwrap_or_default(),
        created_at: Some(timestamp(identity.created_at)),
    }
}

pub(crate) fn signed_in_to_proto(signed_in: OAuthSignedIn) -> pb::CompleteOAuthResponse {
    let (auth, second_factor) = match signed_in.outcome {
        OAuthOutcome::SignedIn(tokens) => (Some(auth_result(tokens)), None),
        OAuthOutcome::SecondFactor(challenge) => (None, Some(challenge_to_proto(challenge))),
    };
    pb::CompleteOAuthResponse {
        auth,
        user_created: signed_in.matched == OAuthMatch::Created,
        identity_linked: signed_in.matched == OAuthMatch::Linked,
        user: Some(user_to_proto(signed_in.user)),
        second_factor,
    }
}

/// `identity_id`, which must be an identity's id.
pub(crate) fn identity_id(raw: &str) -> Result<Uuid> {
    Uuid::parse_str(raw.trim())
        .map_err(|_| latch_domain::Error::invalid_field("identity_id", "is not an identity id"))
}

#[cfg(test)]
mod tests;
