//! The caller class of every `IdentityService` RPC, as written beside each
//! RPC in `proto/latch/identity/v1/identity.proto`. Admin access is `User`
//! here: the handler checks ownership or the named permission.

use latch_domain::model::permission;
use latch_runtime::auth::{Access, RateGroup, Rule, ServicePolicy};

pub const POLICY: ServicePolicy = ServicePolicy {
    service: "latch.identity.v1.IdentityService",
    methods: &[
        ("SignUp", Access::Public, Rule::None),
        ("Login", Access::Public, Rule::None),
        ("CompleteSecondFactor", Access::Public, Rule::None),
        ("Logout", Access::User, Rule::None),
        ("SendEmailVerification", Access::Public, Rule::None),
        ("VerifyEmail", Access::Public, Rule::None),
        ("SendPhoneVerification", Access::User, Rule::None),
        ("VerifyPhone", Access::User, Rule::None),
        ("RequestPasswordReset", Access::Public, Rule::None),
        ("ResetPassword", Access::Public, Rule::None),
        ("ChangePassword", Access::User, Rule::None),
        ("ChangeEmail", Access::User, Rule::None),
        ("BeginTotpEnrollment", Access::User, Rule::None),
        ("ConfirmTotpEnrollment", Access::User, Rule::None),
        ("DisableTotp", Access::User, Rule::None),
        ("RegenerateRecoveryCodes", Access::User, Rule::None),
        ("StartPasskeyRegistration", Access::User, Rule::None),
        ("FinishPasskeyRegistration", Access::User, Rule::None),
        ("StartPasskeyLogin", Access::Public, Rule::None),
        ("FinishPasskeyLogin", Access::Public, Rule::None),
        // user, admin [users.read] / [users.write]: one's own passkeys, or
        // another user's (user_id) for an administrator
        (
            "ListPasskeys",
            Access::User,
            Rule::OwnerOr {
                field: "user_id",
                permission: permission::USERS_READ,
            },
        ),
        (
            "RenamePasskey",
            Access::User,
            Rule::OwnerOr {
                field: "user_id",
                permission: permission::USERS_WRITE,
            },
        ),
        (
            "DeletePasskey",
            Access::User,
            Rule::OwnerOr {
                field: "user_id",
                permission: permission::USERS_WRITE,
            },
        ),
        // Public; a signed-in caller (bearer sent) starts a link.
        ("StartOAuth", Access::PublicOrUser, Rule::None),
        ("CompleteOAuth", Access::Public, Rule::None),
        ("ListIdentities", Access::User, Rule::None),
        ("LinkIdentity", Access::User, Rule::None),
        ("UnlinkIdentity", Access::User, Rule::None),
        // user, admin [users.read], internal, service account
        (
            "GetUser",
            Access::UserOrService,
            Rule::OwnerOr {
                field: "user_id",
                permission: permission::USERS_READ,
            },
        ),
        // admin [users.read] / [users.write], service account (latchctl
        // for automation); the handler checks the permission
        (
            "ListUsers",
            Access::UserOrService,
            Rule::Permission(permission::USERS_READ),
        ),
        (
            "SetUserStatus",
            Access::UserOrService,
            Rule::PermissionOver {
                field: "user_id",
                permission: permission::USERS_WRITE,
            },
        ),
        (
            "DeleteUser",
            Access::UserOrService,
            Rule::PermissionOver {
                field: "user_id",
                permission: permission::USERS_WRITE,
            },
        ),
        // user, admin [users.read], service account
        (
            "ListLoginHistory",
            Access::UserOrService,
            Rule::OwnerOr {
                field: "user_id",
                permission: permission::USERS_READ,
            },
        ),
    ],
    // Every public RPC is limited per client address by the auth layer;
    // one not named here counts in the default group.
    rate_groups: &[
        ("SignUp", RateGroup::SignUp),
        ("Login", RateGroup::SignIn),
        ("CompleteSecondFactor", RateGroup::SignIn),
        ("StartPasskeyLogin", RateGroup::SignIn),
        ("FinishPasskeyLogin", RateGroup::SignIn),
        ("StartOAuth", RateGroup::SignIn),
        ("CompleteOAuth", RateGroup::SignIn),
        ("SendEmailVerification", RateGroup::Recovery),
        ("VerifyEmail", RateGroup::Recovery),
        ("RequestPasswordReset", RateGroup::Recovery),
        ("ResetPassword", RateGroup::Recovery),
    ],
};
