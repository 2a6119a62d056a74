//! The caller class of every `ProfileService` RPC, as written beside each
//! RPC in `proto/latch/profile/v1/profile.proto`. Admin access is `User`
//! here: the handler checks ownership or the named permission.

use latch_runtime::auth::{Access, ServicePolicy};

pub const POLICY: ServicePolicy = ServicePolicy {
    service: "latch.profile.v1.ProfileService",
    methods: &[
        ("CreateProfile", Access::Internal),
        ("DeleteProfile", Access::Internal),
        // user, admin [profiles.read]
        ("GetProfile", Access::User),
        // user, admin [profiles.write]
        ("UpdateProfile", Access::User),
        ("UploadAvatar", Access::User),
        ("DeleteAvatar", Access::User),
    ],
    // No public RPC: nothing to rate limit here.
    rate_groups: &[],
};
