//! Identifiers. User, family, token and role ids are UUIDs (v7, so indexes
//! stay ordered); a session id is 128 random bits, because it is a bearer
//! secret in the cache keys and the `sid` claim.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, Result, secret};

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Parses a request field; a malformed value names `field`.
            pub fn parse(field: &str, value: &str) -> Result<Self> {
                Uuid::parse_str(value.trim())
                    .map(Self)
                    .map_err(|_| Error::invalid_field(field, "must be a UUID"))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A user, owned by identity.
    UserId
);
uuid_id!(
    /// A refresh-token family: one per session.
    FamilyId
);
uuid_id!(
    /// One refresh token inside a family.
    TokenId
);
uuid_id!(
    /// A role, owned by authorization.
    RoleId
);

/// A session id: 128 random bits, base64url without padding (22 chars).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(String);

impl SessionId {
    pub const LEN: usize = 22;

    pub fn generate() -> Result<Self> {
        Ok(Self(secret::random_token(16)?))
    }

    pub fn parse(field: &str, value: &str) -> Result<Self> {
        let ok = value.len() == Self::LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(Error::invalid_field(field, "is not a session id"))
        }
    }

    /// For values read back from storage, which wrote only valid ids.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_random_and_parse_back() -> Result<()> {
        let a = SessionId::generate()?;
        let b = SessionId::generate()?;
        assert_ne!(a, b);
        assert_eq!(SessionId::parse("session_id", a.as_str())?, a);
        Ok(())
    }

    #[test]
    fn malformed_ids_name_the_field() {
        let err = SessionId::parse("session_id", "../../etc").unwrap_err();
        assert_eq!(
            err.violation().map(|v| v.field.as_str()),
            Some("session_id")
        );
        let err = UserId::parse("user_id", "nope").unwrap_err();
        assert_eq!(err.violation().map(|v| v.field.as_str()), Some("user_id"));
    }
}
