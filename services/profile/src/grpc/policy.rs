//! The caller class of every `ProfileService` RPC, as written beside each
//! RPC in `proto/latch/profile/v1/profile.proto`. Admin access is `User`
//! here: the handler checks ownership or the named permission.

use latch_domain::model::permission;
use latch_runtime::auth::{Access, Rule, ServicePolicy};

pub const POLICY: ServicePolicy = ServicePolicy {
    service: "latch.profile.v1.ProfileService",
    methods: &[
        ("CreateProfile", Access::Internal, Rule::None),
        ("DeleteProfile", Access::Internal, Rule::None),
        // user, admin [profiles.read]
        (
            "GetProfile",
            Access::User,
            Rule::OwnerOr {
                field: "user_id",
                permission: permission::PROFILES_READ,
            },
        ),
        // user, admin [profiles.write]
        (
            "UpdateProfile",
            Access::User,
            Rule::OwnerOr {
                field: "user_id",
                permission: permission::PROFILES_WRITE,
            },
        ),
        ("UploadAvatar", Access::User, Rule::None),
        ("DeleteAvatar", Access::User, Rule::None),
    ],
    // No public RPC: nothing to rate limit here.
    rate_groups: &[],
};
