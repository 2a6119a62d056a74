//! Converters and checks of the administration RPCs (ListUsers,
//! SetUserStatus, DeleteUser, ListLoginHistory): the request's filters,
//! page and status, the refusal of acting on oneself, and history entries.
//! Their permissions are in the policy, applied by the auth layer.

use latch_domain::{
    Error, Result, UserId,
    device::parse_user_agent,
    model::{LoginCursor, LoginEvent, UserCursor, UserQuery, UserStatus},
    validate,
};
use latch_proto::latch::{common::v1 as common, identity::v1 as pb};
use latch_runtime::{
    auth::{Caller, Principal},
    convert::{datetime, timestamp, user_status},
    paging,
};

/// The query of a ListUsers request: its filters, page size and cursor.
/// Errors name the field: `page_size`, `page_token`, `status`,
/// `email_prefix`, `created_after`, `created_before`.
pub(super) fn user_query(req: &pb::ListUsersRequest) -> Result<UserQuery> {
    let limit = paging::page_size(req.page_size)?;
    let after = paging::cursor(&req.page_token, |id| UserId::parse("page_token", id))?
        .map(|(created_at, id)| UserCursor { created_at, id });
    let status = common::UserStatus::try_from(req.status)
        .map_err(|_| Error::invalid_field("status", "is not a user status"))
        .map(user_status)?;
    let prefix = req.email_prefix.trim().to_lowercase();
    if prefix.len() > validate::EMAIL_MAX || prefix.chars().any(char::is_control) {
        return Err(Error::invalid_field(
            "email_prefix",
            format!(
                "must be at most {} printable characters",
                validate::EMAIL_MAX
            ),
        ));
    }
    let created_from = req
        .created_after
        .as_ref()
        .map(|t| datetime("created_after", Some(t)))
        .transpose()?;
    let created_before = req
        .created_before
        .as_ref()
        .map(|t| datetime("created_before", Some(t)))
        .transpose()?;
    if let (Some(from), Some(before)) = (created_from, created_before)
        && before <= from
    {
        return Err(Error::invalid_field(
            "created_before",
            "must be after created_after",
        ));
    }
    Ok(UserQuery {
        status,
        email_prefix: (!prefix.is_empty()).then_some(prefix),
        created_from,
        created_before,
        after,
        limit: u64::try_from(limit).unwrap_or(u64::MAX),
    })
}

pub(super) fn users_page_token(next: Option<UserCursor>) -> String {
    next.map_or_else(String::new, |c| {
        paging::page_token(c.created_at, &c.id.to_string())
    })
}

/// The status SetUserStatus may set: active, suspended or deactivated;
/// anything else is `INVALID_ARGUMENT` on `status`.
pub(super) fn settable_status(raw: i32) -> Result<UserStatus> {
    match common::UserStatus::try_from(raw).ok().and_then(user_status) {
        Some(status @ (UserStatus::Active | UserStatus::Suspended | UserStatus::Deactivated)) => {
            Ok(status)
        }
        _ => Err(Error::invalid_field(
            "status",
            "must be ACTIVE, SUSPENDED or DEACTIVATED",
        )),
    }
}

/// The most a SetUserStatus reason may hold (it goes to the log).
pub(super) const REASON_MAX: usize = 256;

/// Refuses a change of one's own account (SetUserStatus, DeleteUser; the
/// policy already required [users.write], and SUPERADMIN for a
/// SUPERADMIN): an administrator suspending or deleting their own account
/// by mistake would lock themselves out (and the last one, everyone); a
/// user closes their own account another way.
pub(super) fn refuse_self_change(caller: &Caller, target: UserId) -> Result<()> {
    if let Principal::User(user) = &caller.principal
        && user.user_id == target
    {
        return Err(Error::new(
            latch_domain::Reason::AccessDenied,
            "an administrator cannot change their own status or delete themselves here",
        ));
    }
    Ok(())
}

/// The page size and cursor of a ListLoginHistory request.
pub(super) fn history_page(
    req: &pb::ListLoginHistoryRequest,
) -> Result<(usize, Option<LoginCursor>)> {
    let size = paging::page_size(req.page_size)?;
    let after = paging::cursor(&req.page_token, |id| {
        uuid::Uuid::parse_str(id).map_err(|_| Error::invalid_field("page_token", "bad id"))
    })?
    .map(|(at, id)| LoginCursor { at, id });
    Ok((size, after))
}

pub(super) fn history_page_token(next: Option<LoginCursor>) -> String {
    next.map_or_else(String::new, |c| paging::page_token(c.at, &c.id.to_string()))
}

/// The method as the enum names it: `password+totp` is TOTP,
/// `password+passkey` PASSKEY, any `oauth:<provider>` (or `oidc:`) is OAUTH.
fn method(recorded: &str) -> pb::LoginMethod {
    match recorded {
        "password" => pb::LoginMethod::Password,
        "password+totp" => pb::LoginMethod::Totp,
        "password+recovery_code" => pb::LoginMethod::RecoveryCode,
        "passkey" | "password+passkey" => pb::LoginMethod::Passkey,
        m if m.starts_with("oauth:") || m.starts_with("oidc:") => pb::LoginMethod::Oauth,
        _ => pb::LoginMethod::Unspecified,
    }
}

pub(super) fn history_entry(event: LoginEvent) -> pb::LoginHistoryEntry {
    let device = parse_user_agent(event.user_agent.as_deref().unwrap_or_default());
    pb::LoginHistoryEntry {
        time: Some(timestamp(event.at)),
        ip: event.ip.unwrap_or_default(),
        user_agent: event.user_agent.unwrap_or_default(),
        method: method(&event.method) as i32,
        success: event.success,
        failure_reason: event.failure_reason.unwrap_or_default(),
        browser: device.browser.unwrap_or_default(),
        os: device.os.unwrap_or_default(),
        device: device.device.unwrap_or_default(),
        method_name: event.method,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(err: &Error) -> Option<&str> {
        err.violation().map(|v| v.field.as_str())
    }

    #[test]
    fn only_three_statuses_can_be_set() {
        for ok in [
            common::UserStatus::Active,
            common::UserStatus::Suspended,
            common::UserStatus::Deactivated,
        ] {
            assert!(settable_status(ok as i32).is_ok(), "{ok:?}");
        }
        for bad in [
            common::UserStatus::Unspecified as i32,
            common::UserStatus::Pending as i32,
            99,
            -1,
        ] {
            assert_eq!(field(&settable_status(bad).unwrap_err()), Some("status"));
        }
    }

    #[test]
    fn a_list_request_names_its_bad_field() {
        let bad =
            |req: pb::ListUsersRequest| field(&user_query(&req).unwrap_err()).map(String::from);
        assert_eq!(
            bad(pb::ListUsersRequest {
                page_size: -1,
                ..Default::default()
            })
            .as_deref(),
            Some("page_size")
        );
        assert_eq!(
            bad(pb::ListUsersRequest {
                page_token: "garbage".into(),
                ..Default::default()
            })
            .as_deref(),
            Some("page_token")
        );
        assert_eq!(
            bad(pb::ListUsersRequest {
                status: 42,
                ..Default::default()
            })
            .as_deref(),
            Some("status")
        );
        assert_eq!(
            bad(pb::ListUsersRequest {
                email_prefix: "a".repeat(300),
                ..Default::default()
            })
            .as_deref(),
            Some("email_prefix")
        );
        let t = |seconds| timestamp(chrono::DateTime::from_timestamp(seconds, 0).unwrap());
        assert_eq!(
            bad(pb::ListUsersRequest {
                created_after: Some(t(2_000)),
                created_before: Some(t(1_000)),
                ..Default::default()
            })
            .as_deref(),
            Some("created_before")
        );
    }

    #[test]
    fn a_list_request_becomes_its_query() {
        let req = pb::ListUsersRequest {
            page_size: 10_000,
            status: common::UserStatus::Suspended as i32,
            email_prefix: "  Ada@Ex ".into(),
            ..Default::default()
        };
        let query = user_query(&req).unwrap();
        assert_eq!(query.limit, paging::MAX_PAGE_SIZE as u64, "capped");
        assert_eq!(query.status, Some(UserStatus::Suspended));
        assert_eq!(query.email_prefix.as_deref(), Some("ada@ex"));
        assert_eq!(query.after, None);
    }

    #[test]
    fn methods_map_to_the_enum_and_keep_their_name() {
        let event = |method: &str| LoginEvent {
            id: uuid::Uuid::now_v7(),
            user_id: UserId::new(),
            at: chrono::Utc::now(),
            ip: None,
            user_agent: Some(
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0".into(),
            ),
            method: method.into(),
            success: true,
            failure_reason: None,
            device: None,
        };
        for (recorded, expected) in [
            ("password", pb::LoginMethod::Password),
            ("password+totp", pb::LoginMethod::Totp),
            ("password+recovery_code", pb::LoginMethod::RecoveryCode),
            ("passkey", pb::LoginMethod::Passkey),
            ("password+passkey", pb::LoginMethod::Passkey),
            ("oauth:github", pb::LoginMethod::Oauth),
            ("something-new", pb::LoginMethod::Unspecified),
        ] {
            let entry = history_entry(event(recorded));
            assert_eq!(entry.method, expected as i32, "{recorded}");
            assert_eq!(entry.method_name, recorded);
            assert_eq!(entry.browser, "Firefox");
            assert_eq!(entry.os, "Linux");
        }
    }
}
