use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::UserId;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

/// A user's profile, owned by the profile service.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub user_id: UserId,
    pub first_name: String,
    pub last_name: String,
    pub display_name: Option<String>,
    pub avatar_key: Option<String>,
    pub avatar_url: Option<String>,
    pub avatar_size: Option<i64>,
    pub avatar_mime: Option<String>,
    pub address: Option<Address>,
    pub phone: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    /// A JSON object of the caller's own keys.
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The stored row's version when this copy was read: every write of a
    /// profile increments it, and a new profile starts at
    /// [`Profile::FIRST_VERSION`]. An update writes only over the version
    /// it read, so it never overwrites a change it has not seen.
    pub version: i64,
}

impl Profile {
    /// The version a profile is created at.
    pub const FIRST_VERSION: i64 = 1;

    /// A profile with only the names set, created `at` (what sign-up makes).
    pub fn named(
        user_id: UserId,
        first_name: String,
        last_name: String,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            user_id,
            first_name,
            last_name,
            display_name: None,
            avatar_key: None,
            avatar_url: None,
            avatar_size: None,
            avatar_mime: None,
            address: None,
            phone: None,
            date_of_birth: None,
            metadata: serde_json::Value::Object(serde_json::Map::new()),
            created_at: at,
            updated_at: at,
            version: Self::FIRST_VERSION,
        }
    }
}

/// An avatar as the profile keeps it: the object's key in the avatar
/// store, its size in bytes and its MIME type (what was stored, after
/// re-encoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAvatar {
    pub key: String,
    pub size: i64,
    pub mime: String,
}
