//! `ext_authz_check`: Envoy's external authorization check of one proxied
//! HTTP request, sent as Envoy sends it (the generated
//! `envoy.service.auth.v3` client, the request's headers in the message).
//! Each worker checks its own user's bearer token: the token verified (the
//! verified-token cache), its session checked (the session cache), the
//! answer built with the upstream headers. latchd runs without a rules
//! file here, so no permission is read.

use std::collections::HashMap;

use envoy_types::pb::envoy::service::auth::v3::{
    AttributeContext, CheckRequest, attribute_context, authorization_client::AuthorizationClient,
};
use futures::future::BoxFuture;
use tonic::Request;

use crate::{
    baselines::ECHO,
    error::{Result, fail},
    load::{Call, call},
    scenario::{Ctx, Scenario, Server, Target, pick},
};

/// The header Latch's own credential travels in (the bench does not link
/// the runtime). Envoy would send a service account's
/// `x-latch-service-account`; the layer's cost differs by one SHA-256.
const SERVICE_TOKEN_HEADER: &str = "x-latch-service-token";

pub(crate) fn scenario() -> Scenario {
    Scenario {
        name: "ext_authz_check",
        label: "ext_authz_check",
        baseline: Some(ECHO),
        target: Target::ratio(0.6),
        server: Server::Latchd,
        rerun_at_scale: false,
        setup: ext_authz_check,
    }
}

fn ext_authz_check(ctx: &Ctx) -> BoxFuture<'_, Result<Call>> {
    Box::pin(async move {
        let users = ctx.users().await?;
        let channels = ctx.latchd.clone();
        let credential = ctx.service_credential()?;
        Ok(call(move |w| {
            let mut client = AuthorizationClient::new(pick(&channels, w));
            let token = &users[w % users.len()].access_token;
            let mut request = Request::new(http_check(token));
            request
                .metadata_mut()
                .insert(SERVICE_TOKEN_HEADER, credential.clone());
            async move {
                let response = client.check(request).await?.into_inner();
                match response.status.map(|s| s.code) {
                    Some(0) => Ok(()),
                    other => Err(fail(format!("the check denied the request: {other:?}"))),
                }
            }
        }))
    })
}

/// A GET with the user's bearer token and a few ordinary headers.
fn http_check(access_token: &str) -> CheckRequest {
    let headers = HashMap::from([
        ("authorization".to_owned(), format!("Bearer {access_token}")),
        ("accept".to_owned(), "application/json".to_owned()),
        ("user-agent".to_owned(), "latch-bench/1".to_owned()),
    ]);
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(attribute_context::Request {
                http: Some(attribute_context::HttpRequest {
                    method: "GET".to_owned(),
                    path: "/orders/42".to_owned(),
                    host: "api.example.com".to_owned(),
                    scheme: "https".to_owned(),
                    headers,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}
