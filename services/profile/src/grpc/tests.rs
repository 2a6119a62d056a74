use latch_domain::{
    SessionId, UserId,
    model::{builtin, permission},
    ports::RoleDirectory,
};
use latch_runtime::auth::{request_as, request_through};
use serde_json::json;
use tonic::Code;
use tonic::{Request, Response, Status};

use super::*;
use crate::testing::Harness;

/// The handlers behind the policy's rules, applied as the auth layer
/// applies them, with `roles` as the permission source.
struct Gated {
    grpc: ProfileGrpc,
    roles: Arc<dyn RoleDirectory>,
}

/// What a test sends: the caller and the message.
fn via<M>(caller: Caller, message: M) -> (Caller, M) {
    (caller, message)
}

impl Gated {
    async fn through<M: prost::Message>(
        &self,
        rpc: &str,
        (caller, message): (Caller, M),
    ) -> Result<Request<M>, Status> {
        request_through(&POLICY, rpc, caller, message, self.roles.as_ref()).await
    }

    async fn get_profile(
        &self,
        sent: (Caller, pb::GetProfileRequest),
    ) -> Result<Response<pb::GetProfileResponse>, Status> {
        self.grpc
            .get_profile(self.through("GetProfile", sent).await?)
            .await
    }

    async fn update_profile(
        &self,
        sent: (Caller, pb::UpdateProfileRequest),
    ) -> Result<Response<pb::UpdateProfileResponse>, Status> {
        self.grpc
            .update_profile(self.through("UpdateProfile", sent).await?)
            .await
    }
}

fn grpc(h: &Harness) -> Gated {
    gated(h, h.roles.clone())
}

fn gated(h: &Harness, roles: Arc<dyn RoleDirectory>) -> Gated {
    Gated {
        grpc: ProfileGrpc::new(h.profiles.clone()),
        roles,
    }
}

async fn create(grpc: &Gated, id: UserId) -> pb::CreateProfileResponse {
    grpc.grpc
        .create_profile(request_as(
            Caller::for_service(),
            pb::CreateProfileRequest {
                user_id: id.to_string(),
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

fn update(user_id: &str, profile: pb::Profile, paths: &[&str]) -> pb::UpdateProfileRequest {
    pb::UpdateProfileRequest {
        user_id: user_id.into(),
        profile: Some(profile),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }),
        expected_version: 0,
    }
}

#[tokio::test]
async fn create_profile_is_idempotent() {
    let h = Harness::new().await;
    let grpc = grpc(&h);
    let ada = UserId::new();
    let first = create(&grpc, ada).await;
    let second = create(&grpc, ada).await;
    assert!(first.created);
    assert!(!second.created);
    assert_eq!(first.profile, second.profile);
}

#[tokio::test]
async fn owners_and_admins_read_and_write_others_do_not() {
    let h = Harness::new().await;
    let grpc = grpc(&h);
    let ada = UserId::new();
    let eve = UserId::new();
    let admin = UserId::new();
    create(&grpc, ada).await;
    h.roles.assign(admin, builtin::ADMIN).await.unwrap();

    let own = grpc
        .get_profile(via(
            Caller::for_user(ada, SessionId::generate().unwrap()),
            pb::GetProfileRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.profile.unwrap().first_name, "Ada");

    let target = ada.to_string();
    let denied = grpc
        .get_profile(via(
            Caller::for_user(eve, SessionId::generate().unwrap()),
            pb::GetProfileRequest {
                user_id: target.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = grpc
        .update_profile(via(
            Caller::for_user(eve, SessionId::generate().unwrap()),
            update(&target, pb::Profile::default(), &["phone"]),
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    grpc.get_profile(via(
        Caller::for_user(admin, SessionId::generate().unwrap()),
        pb::GetProfileRequest {
            user_id: target.clone(),
        },
    ))
    .await
    .unwrap();
    let changed = pb::Profile {
        display_name: "Countess".into(),
        ..pb::Profile::default()
    };
    let updated = grpc
        .update_profile(via(
            Caller::for_user(admin, SessionId::generate().unwrap()),
            update(&target, changed, &["display_name"]),
        ))
        .await
        .unwrap()
        .into_inner()
        .profile
        .unwrap();
    assert_eq!(updated.display_name, "Countess");
    assert_eq!(updated.first_name, "Ada");
}

#[tokio::test]
async fn metadata_and_dates_round_trip_through_the_wire() {
    let h = Harness::new().await;
    let grpc = grpc(&h);
    let ada = UserId::new();
    create(&grpc, ada).await;
    let json = json!({"theme": "dark", "beta": true, "visits": 3});
    let serde_json::Value::Object(map) = &json else {
        unreachable!()
    };
    let changed = pb::Profile {
        date_of_birth: "1815-12-10".into(),
        metadata: Some(object_to_struct(map)),
        ..pb::Profile::default()
    };
    let updated = grpc
        .update_profile(via(
            Caller::for_user(ada, SessionId::generate().unwrap()),
            update("", changed, &["date_of_birth", "metadata"]),
        ))
        .await
        .unwrap()
        .into_inner()
        .profile
        .unwrap();
    assert_eq!(updated.date_of_birth, "1815-12-10");
    assert_eq!(struct_to_json(updated.metadata.unwrap()).unwrap(), json);
}

/// A client's read-modify-write: it sends the version it read and gets
/// FAILED_PRECONDITION (PROFILE_VERSION_CONFLICT), not a lost write, when
/// another write came first.
#[tokio::test]
async fn an_update_over_a_version_not_read_is_refused() {
    let h = Harness::new().await;
    let grpc = grpc(&h);
    let ada = UserId::new();
    let read = create(&grpc, ada).await.profile.unwrap();
    assert_eq!(read.version, 1);
    let as_ada = || Caller::for_user(ada, SessionId::generate().unwrap());
    let rename = |name: &str, version: u64| pb::UpdateProfileRequest {
        expected_version: version,
        ..update(
            "",
            pb::Profile {
                first_name: name.into(),
                ..pb::Profile::default()
            },
            &["first_name"],
        )
    };

    let first = grpc
        .update_profile(via(as_ada(), rename("Augusta", read.version)))
        .await
        .unwrap()
        .into_inner()
        .profile
        .unwrap();
    assert_eq!(first.version, read.version + 1);

    let status = grpc
        .update_profile(via(as_ada(), rename("Grace", read.version)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        latch_runtime::status::reason_of(&status).as_deref(),
        Some("PROFILE_VERSION_CONFLICT")
    );
    let stored = h.profiles.get(ada).await.unwrap();
    assert_eq!(stored.first_name, "Augusta");

    // A version beyond any profile's is bad input, not a conflict.
    let status = grpc
        .update_profile(via(as_ada(), rename("Grace", u64::MAX)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_missing_mask_is_refused() {
    let h = Harness::new().await;
    let grpc = grpc(&h);
    let ada = UserId::new();
    create(&grpc, ada).await;
    let status = grpc
        .update_profile(via(
            Caller::for_user(ada, SessionId::generate().unwrap()),
            pb::UpdateProfileRequest {
                user_id: String::new(),
                profile: Some(pb::Profile::default()),
                update_mask: None,
                expected_version: 0,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        latch_runtime::status::reason_of(&status).as_deref(),
        Some("INVALID_ARGUMENT")
    );
}

/// A role directory in which each user holds exactly the permissions
/// listed for them, as a custom role would grant them.
struct Grants(Vec<(UserId, &'static str)>);

#[async_trait::async_trait]
impl RoleDirectory for Grants {
    async fn role_names(&self, user: UserId) -> latch_domain::Result<Vec<String>> {
        let any = self.0.iter().any(|(u, _)| *u == user);
        Ok(if any { vec!["CUSTOM".into()] } else { vec![] })
    }
    async fn has_permission(&self, user: UserId, permission: &str) -> latch_domain::Result<bool> {
        Ok(self.0.contains(&(user, permission)))
    }
    async fn assign(&self, _: UserId, _: &str) -> latch_domain::Result<bool> {
        Ok(false)
    }
    async fn unassign(&self, _: UserId, _: &str) -> latch_domain::Result<bool> {
        Ok(false)
    }
}

/// Another user's profile is read with `profiles.read` and written with
/// `profiles.write`, the permissions the seed defines for it; `users.*`
/// grant nothing here.
#[tokio::test]
async fn other_profiles_need_the_profiles_permissions_not_the_users_ones() {
    let h = Harness::new().await;
    let ada = UserId::new();
    let reader = UserId::new();
    let writer = UserId::new();
    let user_admin = UserId::new();
    let grpc = gated(
        &h,
        Arc::new(Grants(vec![
            (reader, permission::PROFILES_READ),
            (writer, permission::PROFILES_WRITE),
            (user_admin, permission::USERS_READ),
            (user_admin, permission::USERS_WRITE),
        ])),
    );
    create(&grpc, ada).await;
    let target = ada.to_string();
    let as_user = |user| Caller::for_user(user, SessionId::generate().unwrap());
    let get = |caller| {
        grpc.get_profile(via(
            caller,
            pb::GetProfileRequest {
                user_id: target.clone(),
            },
        ))
    };
    let rename = |caller| {
        let changed = pb::Profile {
            display_name: "Countess".into(),
            ..pb::Profile::default()
        };
        grpc.update_profile(via(caller, update(&target, changed, &["display_name"])))
    };

    let read = get(as_user(reader)).await.unwrap().into_inner();
    assert_eq!(read.profile.unwrap().first_name, "Ada");
    let err = rename(as_user(reader)).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "read is not write");

    let written = rename(as_user(writer)).await.unwrap().into_inner();
    assert_eq!(written.profile.unwrap().display_name, "Countess");
    let err = get(as_user(writer)).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "write is not read");

    let err = get(as_user(user_admin)).await.unwrap_err();
    assert_eq!(
        err.code(),
        Code::PermissionDenied,
        "users.read is not profiles.read"
    );
    let err = rename(as_user(user_admin)).await.unwrap_err();
    assert_eq!(
        err.code(),
        Code::PermissionDenied,
        "users.write is not profiles.write"
    );
}
