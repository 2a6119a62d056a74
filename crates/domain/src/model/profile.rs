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
}

impl Profile {
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
        }
    }
}
