//! `latchctl users …`: ListUsers, GetUser, SetUserStatus, DeleteUser.

use chrono::{DateTime, NaiveDate, Utc};
use latch_proto::latch::{
    common::v1::UserStatus,
    identity::v1::{DeleteUserRequest, GetUserRequest, ListUsersRequest, SetUserStatusRequest},
};
use serde::Serialize;

use crate::{
    api::Api,
    cli::{DeleteArgs, ListUsersArgs, StatusArg, StatusChange, UsersCommand},
    failure::Failure,
    output::{self, Output},
    pages::{self, Pages},
    prompt, resolve,
    view::{self, UserView},
};

pub(crate) async fn run(api: &mut Api, command: &UsersCommand, out: Output) -> Result<(), Failure> {
    match command {
        UsersCommand::List(args) => list(api, args, out).await,
        UsersCommand::Show(args) => show(api, &args.user, out).await,
        UsersCommand::Suspend(args) => set_status(api, args, UserStatus::Suspended, out).await,
        UsersCommand::Activate(args) => set_status(api, args, UserStatus::Active, out).await,
        UsersCommand::Deactivate(args) => set_status(api, args, UserStatus::Deactivated, out).await,
        UsersCommand::Delete(args) => delete(api, args, out).await,
    }
}

#[derive(Serialize)]
struct UserList {
    users: Vec<UserView>,
    /// Empty when there is nothing more (always with `--all`).
    next_page_token: String,
}

async fn list(api: &mut Api, args: &ListUsersArgs, out: Output) -> Result<(), Failure> {
    let identity = api.identity();
    let template = ListUsersRequest {
        page_size: args.paging.size(),
        status: args.status.map_or(UserStatus::Unspecified, status_of) as i32,
        email_prefix: args.email_prefix.clone().unwrap_or_default(),
        created_after: args.created_after.as_deref().map(timestamp).transpose()?,
        created_before: args.created_before.as_deref().map(timestamp).transpose()?,
        page_token: String::new(),
    };
    let mut pages = Pages::new(&args.paging, "users");
    let mut users = Vec::new();
    while let Some(page_token) = pages.token() {
        let request = ListUsersRequest {
            page_token,
            ..template.clone()
        };
        let page = api
            .call("list users", &identity, request, |mut c, r| async move {
                c.list_users(r).await
            })
            .await?;
        pages.arrived(page.users.len(), page.next_page_token)?;
        users.extend(page.users.iter().map(UserView::from));
    }
    let shown = UserList {
        users,
        next_page_token: pages.finish(),
    };
    out.show(&shown, || {
        let rows = shown.users.iter().map(|u| {
            vec![
                u.id.clone(),
                u.email.clone(),
                u.status.to_owned(),
                output::yes_no(u.email_verified),
                output::yes_no(u.totp_enabled),
                view::short(u.created_at.as_ref()),
                view::short(u.last_login_at.as_ref()),
            ]
        });
        let header = [
            "ID",
            "EMAIL",
            "STATUS",
            "VERIFIED",
            "TOTP",
            "CREATED",
            "LAST LOGIN",
        ];
        format!(
            "{}\n{} user(s){}",
            output::table(&header, rows),
            shown.users.len(),
            pages::more_hint(&shown.next_page_token)
        )
    })
}

async fn show(api: &mut Api, who: &str, out: Output) -> Result<(), Failure> {
    let user_id = resolve::user_id(api, who).await?;
    let identity = api.identity();
    let answer = api
        .call(
            "show user",
            &identity,
            GetUserRequest { user_id },
            |mut c, r| async move { c.get_user(r).await },
        )
        .await?;
    let user = answer
        .user
        .ok_or_else(|| Failure::other("GetUser answered no user"))?;
    let shown = UserView::from(&user);
    out.show(&shown, || user_record(&shown))
}

fn user_record(u: &UserView) -> String {
    output::record(&[
        ("id", u.id.clone()),
        ("email", u.email.clone()),
        ("email verified", output::yes_no(u.email_verified)),
        ("phone", u.phone.clone().unwrap_or_else(|| "-".to_owned())),
        ("phone verified", output::yes_no(u.phone_verified)),
        ("status", u.status.to_owned()),
        ("totp", output::yes_no(u.totp_enabled)),
        ("created", view::short(u.created_at.as_ref())),
        ("updated", view::short(u.updated_at.as_ref())),
        ("last login", view::short(u.last_login_at.as_ref())),
    ])
}

async fn set_status(
    api: &mut Api,
    args: &StatusChange,
    status: UserStatus,
    out: Output,
) -> Result<(), Failure> {
    let user_id = resolve::user_id(api, &args.user).await?;
    let identity = api.identity();
    let request = SetUserStatusRequest {
        user_id,
        status: status as i32,
        reason: args.reason.clone(),
    };
    let answer = api
        .call(
            "set the status",
            &identity,
            request,
            |mut c, r| async move { c.set_user_status(r).await },
        )
        .await?;
    let user = answer
        .user
        .ok_or_else(|| Failure::other("SetUserStatus answered no user"))?;
    let shown = UserView::from(&user);
    out.show(&shown, || {
        format!(
            "User {} ({}) is now {}",
            shown.email, shown.id, shown.status
        )
    })
}

async fn delete(api: &mut Api, args: &DeleteArgs, out: Output) -> Result<(), Failure> {
    let user_id = resolve::user_id(api, &args.user).await?;
    if !args.yes {
        let question = format!(
            "Delete user {} ({user_id}), their sessions, tokens, roles and profile?",
            args.user
        );
        if !prompt::confirm(&question)? {
            return Err(Failure::other("not deleted"));
        }
    }
    let identity = api.identity();
    let request = DeleteUserRequest {
        user_id: user_id.clone(),
    };
    api.call("delete user", &identity, request, |mut c, r| async move {
        c.delete_user(r).await
    })
    .await?;
    out.show(&serde_json::json!({ "deleted": user_id }), || {
        format!("Deleted user {user_id}")
    })
}

fn status_of(status: StatusArg) -> UserStatus {
    match status {
        StatusArg::Pending => UserStatus::Pending,
        StatusArg::Active => UserStatus::Active,
        StatusArg::Suspended => UserStatus::Suspended,
        StatusArg::Deactivated => UserStatus::Deactivated,
    }
}

/// An RFC 3339 time, or a date (its midnight, UTC).
fn timestamp(text: &str) -> Result<prost_types::Timestamp, Failure> {
    let time = DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        })
        .map_err(|_| {
            Failure::usage(format!(
                "{text:?} is not a time: write 2026-12-01 or 2026-12-01T10:00:00Z"
            ))
        })?;
    Ok(prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_dates() {
        let day = timestamp("2026-12-01").map(|t| t.seconds).ok();
        let exact = timestamp("2026-12-01T00:00:00Z").map(|t| t.seconds).ok();
        assert!(day.is_some());
        assert_eq!(day, exact);
        assert!(timestamp("yesterday").is_err());
    }
}
