//! `latchctl roles …`: ListUserRoles, AssignRole, UnassignRole.

use latch_proto::latch::authorization::v1::{
    AssignRoleRequest, ListUserRolesRequest, UnassignRoleRequest,
};
use serde::Serialize;

use crate::{
    api::Api,
    cli::{RoleArgs, RolesCommand},
    failure::Failure,
    output::{self, Output},
    resolve,
    view::RoleView,
};

pub(crate) async fn run(api: &mut Api, command: &RolesCommand, out: Output) -> Result<(), Failure> {
    match command {
        RolesCommand::List(args) => list(api, &args.user, out).await,
        RolesCommand::Assign(args) => change(api, args, true, out).await,
        RolesCommand::Unassign(args) => change(api, args, false, out).await,
    }
}

#[derive(Serialize)]
struct RoleList {
    user_id: String,
    roles: Vec<RoleView>,
}

async fn list(api: &mut Api, who: &str, out: Output) -> Result<(), Failure> {
    let user_id = resolve::user_id(api, who).await?;
    let client = api.authorization();
    let request = ListUserRolesRequest {
        user_id: user_id.clone(),
    };
    let answer = api
        .call("list roles", &client, request, |mut c, r| async move {
            c.list_user_roles(r).await
        })
        .await?;
    let shown = RoleList {
        user_id,
        roles: answer.roles.iter().map(RoleView::from).collect(),
    };
    out.show(&shown, || {
        let rows = shown.roles.iter().map(|r| {
            vec![
                r.name.clone(),
                r.description.clone(),
                r.permissions.join(", "),
            ]
        });
        output::table(&["ROLE", "DESCRIPTION", "PERMISSIONS"], rows)
    })
}

#[derive(Serialize)]
struct RoleChange<'a> {
    user_id: &'a str,
    role: &'a str,
    /// False when the user already held (or did not hold) the role.
    changed: bool,
}

async fn change(api: &mut Api, args: &RoleArgs, assign: bool, out: Output) -> Result<(), Failure> {
    let user_id = resolve::user_id(api, &args.user).await?;
    let client = api.authorization();
    let role = args.role.trim();
    let changed = if assign {
        let request = AssignRoleRequest {
            user_id: user_id.clone(),
            role: role.to_owned(),
        };
        api.call("assign the role", &client, request, |mut c, r| async move {
            c.assign_role(r).await
        })
        .await?
        .assigned
    } else {
        let request = UnassignRoleRequest {
            user_id: user_id.clone(),
            role: role.to_owned(),
        };
        api.call(
            "unassign the role",
            &client,
            request,
            |mut c, r| async move { c.unassign_role(r).await },
        )
        .await?
        .unassigned
    };
    let shown = RoleChange {
        user_id: &user_id,
        role,
        changed,
    };
    out.show(&shown, || match (assign, changed) {
        (true, true) => format!("Assigned {role} to user {user_id}"),
        (true, false) => format!("User {user_id} already held {role}"),
        (false, true) => format!("Unassigned {role} from user {user_id}"),
        (false, false) => format!("User {user_id} did not hold {role}"),
    })
}
