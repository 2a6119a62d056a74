//! The user's name as a provider posts it once, beside the code: Sign in
//! with Apple puts no name in its ID token and sends it only on the first
//! authorization, as the `user` form field (JSON:
//! `{"name":{"firstName":"…","lastName":"…"},"email":"…"}`). CompleteOAuth
//! carries it as `provider_user_json`.
//!
//! Only the name is used, only where the ID token has none, and only when
//! the sign-in creates the user (names are read nowhere else): it is not
//! signed, so it never overrides a verified claim, and its `email` is
//! ignored (the verified ID token's is the one that counts).

use latch_domain::{Error, Result, ports::VerifiedClaims};
use serde::Deserialize;

/// The request field, as errors name it.
pub(crate) const FIELD: &str = "provider_user_json";
/// Apple's object is well under a kilobyte; more is not it.
const MAX_LEN: usize = 4096;

/// The names a provider posted, trimmed; empty ones dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FirstLoginNames {
    given: Option<String>,
    family: Option<String>,
}

#[derive(Deserialize)]
struct Posted {
    name: Option<PostedName>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostedName {
    first_name: Option<String>,
    last_name: Option<String>,
}

impl FirstLoginNames {
    /// Reads the field as received; empty is "not sent".
    ///
    /// Errors: `INVALID_ARGUMENT` naming `provider_user_json` when it is
    /// longer than 4 KiB or not such a JSON object.
    pub(crate) fn parse(raw: &str) -> Result<Self> {
        if raw.trim().is_empty() {
            return Ok(Self::default());
        }
        if raw.len() > MAX_LEN {
            return Err(Error::invalid_field(FIELD, "is too long"));
        }
        let posted: Posted = serde_json::from_str(raw)
            .map_err(|_| Error::invalid_field(FIELD, "is not the provider's user JSON object"))?;
        let keep =
            |name: Option<String>| name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        let name = posted.name.unwrap_or(PostedName {
            first_name: None,
            last_name: None,
        });
        Ok(Self {
            given: keep(name.first_name),
            family: keep(name.last_name),
        })
    }

    /// `claims` with the posted names where the ID token had none.
    pub(crate) fn fill(self, mut claims: VerifiedClaims) -> VerifiedClaims {
        if claims.given_name.is_none() {
            claims.given_name = self.given;
        }
        if claims.family_name.is_none() {
            claims.family_name = self.family;
        }
        claims
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests {
    use latch_domain::Reason;

    use super::*;

    fn claims(given: Option<&str>) -> VerifiedClaims {
        VerifiedClaims {
            subject: "001234.abcd".to_owned(),
            email: Some("ada@privaterelay.appleid.com".to_owned()),
            email_verified: true,
            given_name: given.map(str::to_owned),
            family_name: None,
            name: None,
        }
    }

    #[test]
    fn apples_user_object_fills_missing_names_only() {
        let names = FirstLoginNames::parse(
            r#"{"name":{"firstName":" Ada ","lastName":"Lovelace"},"email":"other@example.com"}"#,
        )
        .unwrap();
        let filled = names.clone().fill(claims(None));
        assert_eq!(filled.given_name.as_deref(), Some("Ada"));
        assert_eq!(filled.family_name.as_deref(), Some("Lovelace"));
        assert_eq!(
            filled.email.as_deref(),
            Some("ada@privaterelay.appleid.com"),
            "the posted email is never used"
        );
        // A name the ID token gave stays.
        let kept = names.fill(claims(Some("Augusta")));
        assert_eq!(kept.given_name.as_deref(), Some("Augusta"));
        assert_eq!(kept.family_name.as_deref(), Some("Lovelace"));
    }

    #[test]
    fn absent_or_partial_objects_are_no_names() {
        for raw in ["", "  ", "{}", r#"{"email":"a@b.c"}"#, r#"{"name":{}}"#] {
            assert_eq!(
                FirstLoginNames::parse(raw).unwrap(),
                FirstLoginNames::default(),
                "{raw:?}"
            );
        }
        let only_first = FirstLoginNames::parse(r#"{"name":{"firstName":"Ada","lastName":""}}"#)
            .unwrap()
            .fill(claims(None));
        assert_eq!(only_first.given_name.as_deref(), Some("Ada"));
        assert_eq!(only_first.family_name, None);
    }

    #[test]
    fn malformed_or_oversized_input_is_refused_naming_the_field() {
        let long = format!(r#"{{"name":{{"firstName":"{}"}}}}"#, "a".repeat(MAX_LEN));
        for raw in [
            "not json",
            "[1,2]",
            r#"{"name":"Ada Lovelace"}"#,
            r#"{"name":{"firstName":7}}"#,
            long.as_str(),
        ] {
            let err = FirstLoginNames::parse(raw).expect_err(raw);
            assert!(err.is(Reason::InvalidArgument), "{err:?}");
            assert_eq!(
                err.violation().map(|v| v.field.as_str()),
                Some(FIELD),
                "{raw}"
            );
        }
    }
}
