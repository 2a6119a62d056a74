//! ListPasskeys, RenamePasskey, DeletePasskey through the policy's rules
//! (as the auth layer applies them) and the handlers: the messages, the
//! owner, an administrator with and without the permission, and the
//! SUPERADMIN shield.

use latch_authorization::Actor;
use latch_domain::{
    Reason, SessionId, UserId,
    model::builtin,
    ports::{PasskeyRepository, RoleDirectory},
};
use latch_proto::latch::identity::v1::{self as pb, identity_service_server::IdentityService};
use latch_runtime::{
    auth::{Caller, request_through},
    convert::timestamp,
    status::reason_of,
};
use tonic::{Code, Status};

use super::passkey_id;
use crate::{
    grpc::{IdentityGrpc, POLICY},
    passkey_admin::tests::{add, credential, passwordless},
    testing::Harness,
};

fn as_user(user: UserId) -> Caller {
    Caller::for_user(user, SessionId::generate().expect("session id"))
}

/// The three RPCs as `caller`, each through its policy rule first.
struct Calls<'a> {
    h: &'a Harness,
    grpc: IdentityGrpc,
}

impl Calls<'_> {
    fn new(h: &Harness) -> Calls<'_> {
        Calls {
            h,
            grpc: IdentityGrpc::new(h.identity.clone()),
        }
    }

    async fn list(&self, caller: Caller, user_id: &str) -> Result<Vec<pb::Passkey>, Status> {
        let message = pb::ListPasskeysRequest {
            user_id: user_id.to_owned(),
        };
        let request = request_through(
            &POLICY,
            "ListPasskeys",
            caller,
            message,
            self.h.roles.as_ref(),
        )
        .await?;
        Ok(self
            .grpc
            .list_passkeys(request)
            .await?
            .into_inner()
            .passkeys)
    }

    async fn rename(
        &self,
        caller: Caller,
        user_id: &str,
        passkey_id: &str,
        name: &str,
    ) -> Result<pb::Passkey, Status> {
        let message = pb::RenamePasskeyRequest {
            passkey_id: passkey_id.to_owned(),
            name: name.to_owned(),
            user_id: user_id.to_owned(),
        };
        let request = request_through(
            &POLICY,
            "RenamePasskey",
            caller,
            message,
            self.h.roles.as_ref(),
        )
        .await?;
        let renamed = self.grpc.rename_passkey(request).await?.into_inner();
        Ok(renamed.passkey.expect("the passkey"))
    }

    async fn delete(&self, caller: Caller, user_id: &str, passkey_id: &str) -> Result<(), Status> {
        let message = pb::DeletePasskeyRequest {
            passkey_id: passkey_id.to_owned(),
            user_id: user_id.to_owned(),
        };
        let request = request_through(
            &POLICY,
            "DeletePasskey",
            caller,
            message,
            self.h.roles.as_ref(),
        )
        .await?;
        self.grpc.delete_passkey(request).await?;
        Ok(())
    }
}

#[track_caller]
fn assert_status<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, reason: &str) {
    match result {
        Err(status) => assert_eq!(
            (status.code(), reason_of(&status).as_deref()),
            (code, Some(reason)),
            "{status:?}"
        ),
        Ok(value) => panic!("expected {reason}, got Ok({value:?})"),
    }
}

#[tokio::test]
async fn the_owner_lists_renames_and_deletes_their_passkeys() {
    let h = Harness::new().await;
    let calls = Calls::new(&h);
    let ada = h.sign_up("ada@example.com").await.unwrap().user.id;
    let laptop = add(&h, ada, "Laptop").await.unwrap();
    h.clock.advance(chrono::Duration::minutes(1));
    let mut synced = credential(&h, ada, "Phone");
    synced.second_factor = true;
    synced.backup_state = true;
    synced.backup_eligible = true;
    h.passkeys.add(&synced, &[]).await.unwrap();
    let suspected = h.clock_now();
    h.passkeys
        .mark_clone_suspected(laptop.id, suspected)
        .await
        .unwrap();

    let listed = calls.list(as_user(ada), "").await.unwrap();
    assert_eq!(
        listed,
        [
            pb::Passkey {
                id: laptop.id.to_string(),
                name: "Laptop".into(),
                created_at: Some(timestamp(laptop.created_at)),
                last_used_at: None,
                clone_suspected_at: Some(timestamp(suspected)),
                second_factor: false,
                backed_up: false,
            },
            pb::Passkey {
                id: synced.id.to_string(),
                name: "Phone".into(),
                created_at: Some(timestamp(synced.created_at)),
                last_used_at: None,
                clone_suspected_at: None,
                second_factor: true,
                backed_up: true,
            },
        ]
    );
    // Naming oneself is the same as naming nobody.
    assert_eq!(
        calls.list(as_user(ada), &ada.to_string()).await.unwrap(),
        listed
    );

    let renamed = calls
        .rename(as_user(ada), "", &laptop.id.to_string(), " Old laptop ")
        .await
        .unwrap();
    assert_eq!(renamed.name, "Old laptop");
    assert_eq!(renamed.clone_suspected_at, Some(timestamp(suspected)));
    assert_status(
        calls
            .rename(as_user(ada), "", &laptop.id.to_string(), "")
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    let malformed = calls.rename(as_user(ada), "", "laptop", "New").await;
    assert_status(malformed, Code::InvalidArgument, "INVALID_ARGUMENT");
    let malformed = calls.delete(as_user(ada), "", "").await;
    assert_status(malformed, Code::InvalidArgument, "INVALID_ARGUMENT");
    let malformed = calls.list(as_user(ada), "not-a-user").await;
    assert_status(malformed, Code::InvalidArgument, "INVALID_ARGUMENT");

    calls
        .delete(as_user(ada), "", &laptop.id.to_string())
        .await
        .unwrap();
    let left = calls.list(as_user(ada), "").await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, synced.id.to_string());
    assert_status(
        calls.delete(as_user(ada), "", &laptop.id.to_string()).await,
        Code::NotFound,
        "NOT_FOUND",
    );
}

#[tokio::test]
async fn another_users_passkeys_take_the_permission() {
    let h = Harness::new().await;
    let calls = Calls::new(&h);
    let ada = h.sign_up("ada@example.com").await.unwrap().user.id;
    let bob = h.sign_up("bob@example.com").await.unwrap().user.id;
    let key = add(&h, ada, "Laptop").await.unwrap();
    let (ada_id, key_id) = (ada.to_string(), key.id.to_string());

    // A plain user: refused by the rule, for the whole user and for the
    // passkey alone (their own user_id, Ada's passkey).
    let denied = |r| assert_status(r, Code::PermissionDenied, "ACCESS_DENIED");
    denied(calls.list(as_user(bob), &ada_id).await.map(|_| ()));
    denied(
        calls
            .rename(as_user(bob), &ada_id, &key_id, "Bob's")
            .await
            .map(|_| ()),
    );
    denied(calls.delete(as_user(bob), &ada_id, &key_id).await);
    assert_status(
        calls.delete(as_user(bob), "", &key_id).await,
        Code::NotFound,
        "NOT_FOUND",
    );
    assert_status(
        calls.rename(as_user(bob), "", &key_id, "Bob's").await,
        Code::NotFound,
        "NOT_FOUND",
    );
    assert_eq!(
        h.identity.list_passkeys(ada).await.unwrap(),
        vec![key.clone()],
        "no refusal changed anything"
    );

    // [users.read] lists, but does not change.
    h.roles
        .create_role(
            Actor::Machine,
            "AUDITOR".into(),
            None,
            vec!["users.read".into()],
        )
        .await
        .unwrap();
    h.roles.assign(bob, "AUDITOR").await.unwrap();
    let listed = calls.list(as_user(bob), &ada_id).await.unwrap();
    assert_eq!(listed.len(), 1);
    denied(calls.delete(as_user(bob), &ada_id, &key_id).await);

    // An ADMIN ([users.write]) renames and deletes Ada's.
    h.roles.assign(bob, builtin::ADMIN).await.unwrap();
    let renamed = calls
        .rename(as_user(bob), &ada_id, &key_id, "Lost laptop")
        .await
        .unwrap();
    assert_eq!(renamed.name, "Lost laptop");
    calls.delete(as_user(bob), &ada_id, &key_id).await.unwrap();
    assert!(h.identity.list_passkeys(ada).await.unwrap().is_empty());
    // An unknown user has no passkeys to list.
    assert_status(
        calls.list(as_user(bob), &UserId::new().to_string()).await,
        Code::NotFound,
        "NOT_FOUND",
    );

    // A SUPERADMIN's passkeys: an ADMIN may read them, not change them.
    let root = h.sign_up("root@example.com").await.unwrap().user.id;
    h.roles.assign(root, builtin::SUPERADMIN).await.unwrap();
    let root_key = add(&h, root, "Root key").await.unwrap();
    let (root_id, root_key_id) = (root.to_string(), root_key.id.to_string());
    assert_eq!(calls.list(as_user(bob), &root_id).await.unwrap().len(), 1);
    denied(calls.delete(as_user(bob), &root_id, &root_key_id).await);
    denied(
        calls
            .rename(as_user(bob), &root_id, &root_key_id, "Mine")
            .await
            .map(|_| ()),
    );
    assert_eq!(
        h.identity.list_passkeys(root).await.unwrap(),
        vec![root_key]
    );
}

#[tokio::test]
async fn deleting_the_last_way_in_is_refused_and_changes_nothing() {
    let h = Harness::new().await;
    let calls = Calls::new(&h);
    let ada = passwordless(&h, "ada@example.com").await.unwrap();
    let key = add(&h, ada, "Only key").await.unwrap();

    let refused = calls.delete(as_user(ada), "", &key.id.to_string()).await;
    assert_status(refused, Code::FailedPrecondition, "LAST_SIGN_IN_METHOD");
    assert_eq!(h.identity.list_passkeys(ada).await.unwrap(), vec![key]);
}

#[test]
fn a_malformed_passkey_id_names_the_field() {
    for raw in ["", "laptop", "123"] {
        let err = passkey_id(raw).unwrap_err();
        assert_eq!(err.reason(), Reason::InvalidArgument);
        assert_eq!(
            err.violation().map(|v| v.field.as_str()),
            Some("passkey_id")
        );
    }
    let id = uuid::Uuid::new_v4();
    assert_eq!(passkey_id(&format!(" {id} ")).unwrap(), id);
}
