//! The role and permission administration RPCs: convert the request,
//! call the flow in [`crate::admin`] as the caller's [`Actor`], convert
//! back. The auth layer already required `roles.write` / `roles.read`.

use latch_domain::{
    Error, Result,
    model::RoleUpdate,
    validate::{self, RBAC_DESCRIPTION_MAX},
};
use latch_proto::latch::authorization::v1 as pb;
use latch_runtime::{ResultExt, auth::Caller, paging};
use tonic::{Request, Response, Status};

use super::convert;
use crate::{Actor, Roles};

type Reply<T> = Result<Response<T>, Status>;

/// The caller as the administration rules see it.
pub(super) fn actor<T>(request: &Request<T>) -> Result<Actor, Status> {
    let caller = Caller::of(request)?;
    if caller.is_service() {
        return Ok(Actor::Machine);
    }
    Ok(Actor::User(caller.user().or_status()?.user_id))
}

pub(super) async fn create_role(
    roles: &Roles,
    request: Request<pb::CreateRoleRequest>,
) -> Reply<pb::CreateRoleResponse> {
    let actor = actor(&request)?;
    let req = request.into_inner();
    let name = validate::role_name("name", &req.name).or_status()?;
    let description = description("description", &req.description).or_status()?;
    let permissions = permission_names("permissions", &req.permissions).or_status()?;
    let role = roles
        .create_role(actor, name, description, permissions)
        .await
        .or_status()?;
    Ok(Response::new(pb::CreateRoleResponse {
        role: Some(convert::role_to_proto(role)),
    }))
}

pub(super) async fn update_role(
    roles: &Roles,
    request: Request<pb::UpdateRoleRequest>,
) -> Reply<pb::UpdateRoleResponse> {
    let actor = actor(&request)?;
    let req = request.into_inner();
    let role = req
        .role
        .ok_or_else(|| Error::invalid_field("role", "is required"))
        .or_status()?;
    let name = validate::role_name("role.name", &role.name).or_status()?;
    let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
    let update = role_update(&paths, &role).or_status()?;
    let updated = roles.update_role(actor, &name, update).await.or_status()?;
    Ok(Response::new(pb::UpdateRoleResponse {
        role: Some(convert::role_to_proto(updated)),
    }))
}

pub(super) async fn delete_role(
    roles: &Roles,
    request: Request<pb::DeleteRoleRequest>,
) -> Reply<pb::DeleteRoleResponse> {
    let actor = actor(&request)?;
    let req = request.into_inner();
    let name = validate::role_name("role", &req.role).or_status()?;
    roles
        .delete_role(actor, &name, req.force)
        .await
        .or_status()?;
    Ok(Response::new(pb::DeleteRoleResponse {}))
}

pub(super) async fn list_roles(
    roles: &Roles,
    request: Request<pb::ListRolesRequest>,
) -> Reply<pb::ListRolesResponse> {
    let req = request.into_inner();
    let limit = paging::page_size(req.page_size).or_status()?;
    let after = paging::name_cursor(&req.page_token).or_status()?;
    let page = roles
        .list_roles(after.as_deref(), limit)
        .await
        .or_status()?;
    Ok(Response::new(pb::ListRolesResponse {
        roles: page.items.into_iter().map(convert::role_to_proto).collect(),
        next_page_token: next_token(page.next_after),
    }))
}

pub(super) async fn create_permission(
    roles: &Roles,
    request: Request<pb::CreatePermissionRequest>,
) -> Reply<pb::CreatePermissionResponse> {
    let req = request.into_inner();
    let name = validate::permission_name("name", &req.name).or_status()?;
    let description = description("description", &req.description).or_status()?;
    let permission = roles
        .create_permission(name, description)
        .await
        .or_status()?;
    Ok(Response::new(pb::CreatePermissionResponse {
        permission: Some(convert::permission_to_proto(permission)),
    }))
}

pub(super) async fn delete_permission(
    roles: &Roles,
    request: Request<pb::DeletePermissionRequest>,
) -> Reply<pb::DeletePermissionResponse> {
    let name =
        validate::permission_name("permission", &request.get_ref().permission).or_status()?;
    roles.delete_permission(&name).await.or_status()?;
    Ok(Response::new(pb::DeletePermissionResponse {}))
}

pub(super) async fn list_permissions(
    roles: &Roles,
    request: Request<pb::ListPermissionsRequest>,
) -> Reply<pb::ListPermissionsResponse> {
    let req = request.into_inner();
    let limit = paging::page_size(req.page_size).or_status()?;
    let after = paging::name_cursor(&req.page_token).or_status()?;
    let page = roles
        .list_permissions(after.as_deref(), limit)
        .await
        .or_status()?;
    Ok(Response::new(pb::ListPermissionsResponse {
        permissions: page
            .items
            .into_iter()
            .map(convert::permission_to_proto)
            .collect(),
        next_page_token: next_token(page.next_after),
    }))
}

pub(super) async fn grant_permission(
    roles: &Roles,
    request: Request<pb::GrantPermissionRequest>,
) -> Reply<pb::GrantPermissionResponse> {
    let actor = actor(&request)?;
    let (role, permission) = grant_of(&request.get_ref().role, &request.get_ref().permission)?;
    let granted = roles
        .grant_permission(actor, &role, &permission)
        .await
        .or_status()?;
    Ok(Response::new(pb::GrantPermissionResponse { granted }))
}

pub(super) async fn revoke_permission(
    roles: &Roles,
    request: Request<pb::RevokePermissionRequest>,
) -> Reply<pb::RevokePermissionResponse> {
    let actor = actor(&request)?;
    let (role, permission) = grant_of(&request.get_ref().role, &request.get_ref().permission)?;
    let revoked = roles
        .revoke_permission(actor, &role, &permission)
        .await
        .or_status()?;
    Ok(Response::new(pb::RevokePermissionResponse { revoked }))
}

/// The role and permission names of a grant or revocation.
fn grant_of(role: &str, permission: &str) -> Result<(String, String), Status> {
    Ok((
        validate::role_name("role", role).or_status()?,
        validate::permission_name("permission", permission).or_status()?,
    ))
}

/// An optional description: at most [`RBAC_DESCRIPTION_MAX`] characters.
fn description(field: &str, raw: &str) -> Result<Option<String>> {
    validate::optional_text(field, raw, RBAC_DESCRIPTION_MAX)
}

/// Every name valid, or `INVALID_ARGUMENT` on `field` saying which.
fn permission_names(field: &str, raw: &[String]) -> Result<Vec<String>> {
    raw.iter()
        .map(|name| {
            validate::permission_name(field, name).map_err(|_| {
                Error::invalid_field(
                    field,
                    format!("{name:?} is not a permission name (resource.action)"),
                )
            })
        })
        .collect()
}

/// UpdateRole's mask applied to `role`: `description` and/or
/// `permissions` (the whole set). An empty mask, or any other path, is
/// `INVALID_ARGUMENT` on `update_mask`.
fn role_update(paths: &[String], role: &pb::Role) -> Result<RoleUpdate> {
    if paths.is_empty() {
        return Err(Error::invalid_field(
            "update_mask",
            "must name at least one of: description, permissions",
        ));
    }
    let mut update = RoleUpdate::default();
    for path in paths {
        match path.trim() {
            "description" => {
                update.description = Some(description("role.description", &role.description)?);
            }
            "permissions" => {
                update.permissions = Some(permission_names("role.permissions", &role.permissions)?);
            }
            other => {
                return Err(Error::invalid_field(
                    "update_mask",
                    format!("{other:?} cannot be updated; allowed: description, permissions"),
                ));
            }
        }
    }
    Ok(update)
}

fn next_token(after: Option<String>) -> String {
    after.as_deref().map(paging::name_token).unwrap_or_default()
}

#[cfg(test)]
mod tests;
