//! The tower layer that enforces each RPC's [`Access`]: one place where
//! callers are authenticated, so a handler never forgets to.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use async_trait::async_trait;
use http::{HeaderMap, Request, Response};
use latch_domain::{
    Error, Reason, Result,
    secret::{self, Secret},
};
use tonic::{body::Body, transport::server::TcpConnectInfo};
use tower::{Layer, Service};

use super::{Access, Caller, PolicyTable, Principal, SERVICE_TOKEN_HEADER, UserPrincipal};
use crate::status::IntoStatus;

/// Turns a bearer access token into a user: signature, issuer, audience,
/// expiry and type checked, and the session behind it still live.
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    async fn authenticate(&self, bearer: &str) -> Result<UserPrincipal>;
}

struct Gate {
    table: PolicyTable,
    authenticator: Arc<dyn Authenticator>,
    service_token: Secret<String>,
}

/// Checks every request against the server's [`PolicyTable`] and leaves a
/// [`Caller`] in its extensions; a refused request never reaches a handler.
#[derive(Clone)]
pub struct AuthLayer {
    gate: Arc<Gate>,
}

impl AuthLayer {
    pub fn new(
        table: PolicyTable,
        authenticator: Arc<dyn Authenticator>,
        service_token: Secret<String>,
    ) -> Self {
        Self {
            gate: Arc::new(Gate {
                table,
                authenticator,
                service_token,
            }),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            gate: self.gate.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    gate: Arc<Gate>,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, ResBody> Service<Request<Body>> for AuthService<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        // The service that was polled ready is the one to call.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let gate = self.gate.clone();
        // Read what the gate needs now: the request body is not `Sync`, so
        // no borrow of the request may live across an await.
        let facts = gate.facts(&request);
        Box::pin(async move {
            match gate.admit(facts).await {
                Ok(caller) => {
                    request.extensions_mut().insert(caller);
                    inner.call(request).await
                }
                Err(err) => Ok(err.into_status().into_http()),
            }
        })
    }
}

/// What the gate reads off a request before deciding.
struct Facts {
    access: Option<Access>,
    peer_ip: Option<String>,
    user_agent: Option<String>,
    is_service: bool,
    bearer: Result<Option<String>>,
}

impl Gate {
    fn facts(&self, request: &Request<Body>) -> Facts {
        let headers = request.headers();
        Facts {
            access: self.table.access(request.uri().path()),
            peer_ip: request
                .extensions()
                .get::<TcpConnectInfo>()
                .and_then(TcpConnectInfo::remote_addr)
                .map(|addr| addr.ip().to_string()),
            user_agent: header(headers, "user-agent").map(str::to_owned),
            is_service: self.holds_service_token(headers),
            bearer: bearer(headers).map(|b| b.map(str::to_owned)),
        }
    }

    async fn admit(&self, facts: Facts) -> Result<Caller> {
        let anonymous = Caller::anonymous(facts.peer_ip, facts.user_agent);
        let Some(access) = facts.access else {
            return Ok(anonymous);
        };
        let principal = match (access, facts.is_service) {
            (Access::Public, true) => Principal::Service,
            // A public RPC ignores whatever authorization it was sent.
            (Access::Public, false) => Principal::Anonymous,
            (Access::Internal | Access::UserOrInternal, true) => Principal::Service,
            (Access::Internal, false) => {
                return Err(Error::new(
                    Reason::ServiceCredentialRequired,
                    "this RPC is for Latch services only",
                ));
            }
            (Access::User | Access::UserOrInternal, _) => match facts.bearer? {
                Some(token) => Principal::User(self.authenticator.authenticate(&token).await?),
                None => {
                    return Err(Error::new(
                        Reason::AuthenticationRequired,
                        "send `authorization: Bearer <access token>`",
                    ));
                }
            },
        };
        Ok(Caller {
            principal,
            ..anonymous
        })
    }

    fn holds_service_token(&self, headers: &HeaderMap) -> bool {
        header(headers, SERVICE_TOKEN_HEADER).is_some_and(|presented| {
            secret::constant_time_eq(presented.as_bytes(), self.service_token.expose().as_bytes())
        })
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The bearer token, if an `authorization` header is present; a header of
/// another scheme is refused rather than ignored.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>> {
    let Some(value) = headers.get("authorization") else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| Error::new(Reason::TokenInvalid, "malformed authorization header"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(Error::new(
            Reason::TokenInvalid,
            "authorization must be `Bearer <token>`",
        )),
    }
}
