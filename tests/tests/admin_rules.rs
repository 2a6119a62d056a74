//! Every admin RPC's permission is declared in its policy entry and
//! enforced by the server layer: walked from the policy tables themselves,
//! each RPC that needs a permission is called by a plain user (refused with
//! ACCESS_DENIED, nothing done) and by a SUPERADMIN (let through to the
//! handler), over real gRPC, on both backends. A new admin RPC is covered
//! the day its policy entry is written.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use bytes::{Buf, BufMut};
use latch_domain::model::builtin;
use latch_proto::latch::{common::v1::AuthResult, session::v1::ValidateSessionRequest};
use latch_runtime::auth::{Rule, request_field_number};
use latch_tests::{POLICIES, TestLatchd, e2e, must, reason};
use tonic::{
    Code, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
};

e2e!(every_admin_rpc_refuses_a_user_and_admits_a_superadmin);

/// Messages as bytes: the test builds each request by field number, so one
/// loop can call any RPC.
#[derive(Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

/// The request to `method` that names `user` (its rule's field) or the
/// session `session` (an RPC whose owner is known once loaded).
fn request_naming(service: &str, method: &str, rule: Rule, whom: &AuthResult) -> Vec<u8> {
    let mut message = Vec::new();
    let (field, value) = match rule {
        Rule::Loaded { .. } => ("session_id", &whom.session_id),
        _ => match rule.field() {
            Some(field) => (field, &whom.user_id),
            None => return message,
        },
    };
    if let Ok(number) = request_field_number(service, method, field) {
        prost::encoding::string::encode(number, value, &mut message);
    }
    message
}

async fn call(
    latchd: &TestLatchd,
    path: &str,
    message: Vec<u8>,
    token: &str,
) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(latchd.channel());
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("metadata"),
    );
    let path = http::uri::PathAndQuery::try_from(path).expect("a path");
    grpc.unary(request, path, Raw)
        .await
        .map(tonic::Response::into_inner)
}

async fn every_admin_rpc_refuses_a_user_and_admits_a_superadmin(latchd: TestLatchd) {
    let plain = latchd.signed_up("plain@example.org").await;
    let root = latchd
        .with_role("root@example.org", builtin::SUPERADMIN)
        .await;
    let bystander = latchd.signed_up("bystander@example.org").await;

    let admin_rpcs: Vec<(&str, &str, Rule)> = POLICIES
        .iter()
        .flat_map(|p| {
            p.methods
                .iter()
                .map(move |(m, a, r)| (p.service, *m, *a, *r))
        })
        .filter(|(_, _, access, rule)| access.admits_users() && rule.permission().is_some())
        .map(|(service, method, _, rule)| (service, method, rule))
        .collect();
    assert!(admin_rpcs.len() >= 20, "{} admin RPCs", admin_rpcs.len());

    // A plain user, about the SUPERADMIN (or their session): refused by
    // the layer, whatever the RPC would have done.
    for (service, method, rule) in &admin_rpcs {
        let path = format!("/{service}/{method}");
        let message = request_naming(service, method, *rule, &root);
        let err = call(&latchd, &path, message, &plain.access_token)
            .await
            .expect_err(&path);
        assert_eq!(
            (err.code(), reason(&err).as_str()),
            (Code::PermissionDenied, "ACCESS_DENIED"),
            "{path}: {err:?}"
        );
    }
    // Nothing was done to the SUPERADMIN: their session is live.
    let valid = must(
        latchd
            .session()
            .validate_session(latchd.internal(ValidateSessionRequest {
                session_id: root.session_id.clone(),
            }))
            .await,
        "validate",
    )
    .into_inner();
    assert!(valid.valid, "a refused call changed nothing");

    // The SUPERADMIN, about a bystander: past the layer (the handler may
    // still find the hand-built request wanting, or the RPC not built).
    for (service, method, rule) in &admin_rpcs {
        let path = format!("/{service}/{method}");
        let message = request_naming(service, method, *rule, &bystander);
        if let Err(err) = call(&latchd, &path, message, &root.access_token).await {
            assert!(
                !matches!(err.code(), Code::PermissionDenied | Code::Unauthenticated),
                "{path}: {err:?}"
            );
        }
    }
}
