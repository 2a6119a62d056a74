//! The caller class of every `IdentityService` RPC, as written beside each
//! RPC in `proto/latch/identity/v1/identity.proto`. Admin access is `User`
//! here: the handler checks ownership or the named permission.

use latch_runtime::auth::{Access, RateGroup, ServicePolicy};

pub const POLICY: ServicePolicy = ServicePolicy {
    service: "latch.identity.v1.IdentityService",
    methods: &[
        ("SignUp", Access::Public),
        ("Login", Access::Public),
        ("CompleteSecondFactor", Access::Public),
        ("Logout", Access::User),
        ("SendEmailVerification", Access::Public),
        ("VerifyEmail", Access::Public),
        ("SendPhoneVerification", Access::User),
        ("VerifyPhone", Access::User),
        ("RequestPasswordReset", Access::Public),
        ("ResetPassword", Access::Public),
        ("ChangePassword", Access::User),
        ("ChangeEmail", Access::User),
        ("BeginTotpEnrollment", Access::User),
        ("ConfirmTotpEnrollment", Access::User),
        ("DisableTotp", Access::User),
        ("RegenerateRecoveryCodes", Access::User),
        ("StartPasskeyRegistration", Access::User),
        ("FinishPasskeyRegistration", Access::User),
        ("StartPasskeyLogin", Access::Public),
        ("FinishPasskeyLogin", Access::Public),
        ("ListPasskeys", Access::User),
        ("RenamePasskey", Access::User),
        ("DeletePasskey", Access::User),
        ("StartOAuth", Access::Public),
        ("CompleteOAuth", Access::Public),
        ("ListIdentities", Access::User),
        ("LinkIdentity", Access::User),
        ("UnlinkIdentity", Access::User),
        // user, admin [users.read], internal, service account
        ("GetUser", Access::UserOrService),
        // admin [users.read] / [users.write], service account (latchctl
        // for automation); the handler checks the permission
        ("ListUsers", Access::UserOrService),
        ("SetUserStatus", Access::UserOrService),
        ("DeleteUser", Access::UserOrService),
        // user, admin [users.read], service account
        ("ListLoginHistory", Access::UserOrService),
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
