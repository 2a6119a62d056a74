//! Free converters between domain values and `latch.identity.v1` /
//! `latch.common.v1` messages; the ones other services share live in
//! `latch_runtime::convert`.

use latch_domain::model::User;
use latch_proto::latch::common::v1 as common;
use latch_runtime::convert::{timestamp, user_status_pb};

pub(crate) fn user_to_proto(user: User) -> common::User {
    common::User {
        id: user.id.to_string(),
        email: user.email,
        email_verified: user.email_verified,
        phone: user.phone,
        phone_verified: user.phone_verified,
        status: user_status_pb(user.status) as i32,
        totp_enabled: user.totp_enabled,
        created_at: Some(timestamp(user.created_at)),
        updated_at: Some(timestamp(user.updated_at)),
        last_login_at: user.last_login_at.map(timestamp),
    }
}
