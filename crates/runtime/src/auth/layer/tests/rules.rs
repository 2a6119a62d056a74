//! Each RPC's rule applied by the layer: the request field it names is read
//! from the body, the decision is made before the handler, and the body
//! reaches the handler unchanged.

use std::collections::HashMap;

use latch_domain::model::{builtin, permission};
use latch_proto::latch::profile::v1::{GetProfileRequest, UpdateProfileRequest};
use prost::Message;

use super::*;

/// Permissions and roles by user, fixed for a test.
#[derive(Default)]
pub(super) struct Grants {
    permissions: HashMap<UserId, Vec<&'static str>>,
    roles: HashMap<UserId, Vec<String>>,
}

#[async_trait]
impl RoleDirectory for Grants {
    async fn role_names(&self, user: UserId) -> Result<Vec<String>> {
        Ok(self.roles.get(&user).cloned().unwrap_or_default())
    }
    async fn has_permission(&self, user: UserId, permission: &str) -> Result<bool> {
        Ok(self
            .permissions
            .get(&user)
            .is_some_and(|held| held.contains(&permission)))
    }
    async fn assign(&self, _: UserId, _: &str) -> Result<bool> {
        Ok(false)
    }
    async fn unassign(&self, _: UserId, _: &str) -> Result<bool> {
        Ok(false)
    }
}

const PROFILES: ServicePolicy = ServicePolicy {
    service: "latch.profile.v1.ProfileService",
    methods: &[
        (
            "GetProfile",
            Access::UserOrInternal,
            Rule::OwnerOr {
                field: "user_id",
                permission: permission::PROFILES_READ,
            },
        ),
        (
            "UpdateProfile",
            Access::UserOrInternal,
            Rule::OwnerOr {
                field: "user_id",
                permission: permission::PROFILES_WRITE,
            },
        ),
        (
            "DeleteProfile",
            Access::UserOrInternal,
            Rule::Permission(permission::USERS_WRITE),
        ),
    ],
    rate_groups: &[],
};

/// `user:<id>` is that user.
struct Named;

#[async_trait]
impl Authenticator for Named {
    async fn authenticate(&self, bearer: &str) -> Result<UserPrincipal> {
        let id = bearer
            .strip_prefix("user:")
            .ok_or_else(|| Error::new(Reason::TokenInvalid, "bad token"))?;
        Ok(UserPrincipal {
            user_id: UserId::parse("sub", id)?,
            session_id: SessionId::generate()?,
            roles: Vec::new(),
        })
    }
}

struct People {
    ada: UserId,
    admin: UserId,
    root: UserId,
}

fn gate() -> (AuthLayer, People) {
    let people = People {
        ada: UserId::new(),
        admin: UserId::new(),
        root: UserId::new(),
    };
    let mut grants = Grants::default();
    let admin_holds = vec![permission::PROFILES_READ, permission::PROFILES_WRITE];
    grants.permissions.insert(people.admin, admin_holds.clone());
    grants.permissions.insert(people.root, admin_holds);
    grants
        .roles
        .insert(people.admin, vec![builtin::ADMIN.to_owned()]);
    grants
        .roles
        .insert(people.root, vec![builtin::SUPERADMIN.to_owned()]);
    let layer = AuthLayer::new(
        PolicyTable::new(&[PROFILES]).unwrap(),
        Arc::new(Named),
        MachineCallers::latch_only(Secret::new(TOKEN.to_owned())),
        PublicRateLimits::new(
            Arc::new(MemoryRateLimiter::new(
                Arc::new(ManualClock::starting_now()),
            )),
            GroupRates::default(),
        ),
        Arc::new(grants),
    )
    .unwrap();
    (layer, people)
}

fn framed(message: &impl Message) -> Body {
    let encoded = message.encode_to_vec();
    let mut out = vec![0u8];
    out.extend_from_slice(&u32::try_from(encoded.len()).unwrap().to_be_bytes());
    out.extend_from_slice(&encoded);
    Body::new(http_body_util::Full::new(bytes::Bytes::from(out)))
}

/// Answers OK with the request body's length, so a test sees the handler
/// got the message whole.
async fn echo_length(request: Request<Body>) -> Result<Response<Body>, Infallible> {
    use http_body_util::BodyExt;
    let length = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().len())
        .unwrap_or(usize::MAX);
    let mut response = Response::new(Body::empty());
    response
        .headers_mut()
        .insert("x-body-length", length.to_string().parse().unwrap());
    Ok(response)
}

async fn send(layer: &AuthLayer, rpc: &str, who: &str, body: Body) -> (String, Option<String>) {
    let mut builder = Request::builder().uri(format!(
        "http://latch/latch.profile.v1.ProfileService/{rpc}"
    ));
    builder = if who == "latch" {
        builder.header(SERVICE_TOKEN_HEADER, TOKEN)
    } else {
        builder.header("authorization", format!("Bearer user:{who}"))
    };
    let service = layer.clone().layer(tower::service_fn(echo_length));
    let response = service.oneshot(builder.body(body).unwrap()).await.unwrap();
    let length = response
        .headers()
        .get("x-body-length")
        .map(|v| v.to_str().unwrap().to_owned());
    let reason = if status_of(&response) == "0" {
        "OK".to_owned()
    } else {
        refusal(&response).0
    };
    (reason, length)
}

fn get(user: &str) -> GetProfileRequest {
    GetProfileRequest {
        user_id: user.to_owned(),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn owners_pass_and_others_need_the_permission() {
    let (layer, people) = gate();
    let (ada, admin) = (people.ada.to_string(), people.admin.to_string());

    // Ada's own profile, named or implied by an empty field.
    for named in ["", ada.as_str()] {
        let message = get(named);
        let (reason, length) = send(&layer, "GetProfile", &ada, framed(&message)).await;
        assert_eq!(reason, "OK");
        // The handler got the whole frame, as sent.
        assert_eq!(length, Some((5 + message.encoded_len()).to_string()));
    }
    // Ada may not read the admin's; the admin may read Ada's.
    let (reason, length) = send(&layer, "GetProfile", &ada, framed(&get(&admin))).await;
    assert_eq!((reason.as_str(), length), ("ACCESS_DENIED", None));
    let (reason, _) = send(&layer, "GetProfile", &admin, framed(&get(&ada))).await;
    assert_eq!(reason, "OK");
    // A malformed id is the caller's mistake, whoever calls.
    let (reason, _) = send(&layer, "GetProfile", &ada, framed(&get("nope"))).await;
    assert_eq!(reason, "INVALID_ARGUMENT");
    // Latch's own services are not held to user rules; the body is untouched.
    let (reason, length) = send(&layer, "GetProfile", "latch", framed(&get(&admin))).await;
    assert_eq!(reason, "OK");
    assert!(length.is_some());
}

#[tokio::test(flavor = "current_thread")]
async fn a_superadmins_data_is_changed_only_by_a_superadmin() {
    let (layer, people) = gate();
    let update = |user: UserId| UpdateProfileRequest {
        user_id: user.to_string(),
        ..UpdateProfileRequest::default()
    };
    let admin = people.admin.to_string();
    let root = people.root.to_string();
    let (reason, _) = send(
        &layer,
        "UpdateProfile",
        &admin,
        framed(&update(people.root)),
    )
    .await;
    assert_eq!(reason, "ACCESS_DENIED");
    let (reason, _) = send(&layer, "UpdateProfile", &admin, framed(&update(people.ada))).await;
    assert_eq!(reason, "OK");
    let (reason, _) = send(
        &layer,
        "UpdateProfile",
        &root,
        framed(&update(people.admin)),
    )
    .await;
    assert_eq!(reason, "OK");
    // Reading is not shielded: an administrator may see it.
    let (reason, _) = send(&layer, "GetProfile", &admin, framed(&get(&root))).await;
    assert_eq!(reason, "OK");
}

#[tokio::test(flavor = "current_thread")]
async fn a_permission_rule_needs_the_permission_itself() {
    let (layer, people) = gate();
    let body = || framed(&get(""));
    let (reason, _) = send(&layer, "DeleteProfile", &people.root.to_string(), body()).await;
    assert_eq!(reason, "ACCESS_DENIED", "profiles.* is not users.write");
    let (reason, _) = send(&layer, "DeleteProfile", "latch", body()).await;
    assert_eq!(reason, "OK");
}

#[test]
fn a_rule_naming_a_field_the_contract_lacks_stops_the_start() {
    const WRONG: ServicePolicy = ServicePolicy {
        service: "latch.profile.v1.ProfileService",
        methods: &[(
            "GetProfile",
            Access::User,
            Rule::OwnerOr {
                field: "owner",
                permission: permission::PROFILES_READ,
            },
        )],
        rate_groups: &[],
    };
    let err = PolicyTable::new(&[WRONG]).unwrap_err();
    assert!(err.to_string().contains("owner"), "{err}");
}
