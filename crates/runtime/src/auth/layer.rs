//! The tower layer that enforces each RPC's whole rule (its [`Access`] and
//! its [`Rule`](super::Rule)) and limits every public RPC ([`PublicRateLimits`]): one
//! place where callers are authenticated, authorized and rate limited, so a
//! handler never forgets to.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use async_trait::async_trait;
use http::{HeaderMap, Request, Response};
use latch_domain::{Error, Kind, Reason, Result, ports::RoleDirectory};
use tonic::{body::Body, transport::server::TcpConnectInfo};
use tower::{Layer, Service};

use super::{
    Access, AccountPrincipal, Caller, MachineCallers, PolicyTable, Principal, PublicRateLimits,
    RateGroup, Route, SERVICE_ACCOUNT_HEADER, SERVICE_TOKEN_HEADER, ServiceAccount, UserPrincipal,
    request_field,
};
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
    machines: MachineCallers,
    limits: PublicRateLimits,
    /// Where a user's permissions are read (a per-process cache in front of
    /// the authorization service).
    roles: Arc<dyn RoleDirectory>,
}

/// Checks every request against the server's [`PolicyTable`] and leaves a
/// [`Caller`] in its extensions; a refused request never reaches a handler.
#[derive(Clone)]
pub struct AuthLayer {
    gate: Arc<Gate>,
}

impl AuthLayer {
    /// Fails when an account is granted an RPC of this server that it may
    /// not hold (see [`ServiceAccounts::check_against`]). Every public RPC
    /// of `table` is limited by `limits`; a user's permissions are read
    /// from `roles`.
    pub fn new(
        table: PolicyTable,
        authenticator: Arc<dyn Authenticator>,
        machines: MachineCallers,
        limits: PublicRateLimits,
        roles: Arc<dyn RoleDirectory>,
    ) -> Result<Self> {
        machines.accounts().check_against(&table)?;
        Ok(Self {
            gate: Arc::new(Gate {
                table,
                authenticator,
                machines,
                limits,
                roles,
            }),
        })
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

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The service that was polled ready is the one to call.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let gate = self.gate.clone();
        // Read what the gate needs now: the request body is not `Sync`, so
        // no borrow of the request may live across an await.
        let facts = gate.facts(&request);
        Box::pin(async move {
            let path = facts.path.clone();
            let (group, forwarded_for) = (facts.rate_group, facts.forwarded_for.clone());
            match gate.admit(facts).await {
                Ok(mut caller) => {
                    // After admission, which says whose address counts (a
                    // gateway's client, or no one for Latch's services).
                    if let Some(group) = group
                        && let Err(err) = gate.limit(group, &caller, forwarded_for).await
                    {
                        return Ok(err.into_status().into_http());
                    }
                    let who = caller.describe();
                    let (parts, body) = request.into_parts();
                    let body = match gate.authorize(&mut caller, &path, body).await {
                        Ok(body) => body,
                        Err(err) => {
                            if err.reason().kind() == Kind::PermissionDenied {
                                log_denied(&who, &path);
                            }
                            return Ok(err.into_status().into_http());
                        }
                    };
                    let mut request = Request::from_parts(parts, body);
                    request.extensions_mut().insert(caller);
                    let response = inner.call(request).await?;
                    if is_permission_denied(&response) {
                        log_denied(&who, &path);
                    }
                    Ok(response)
                }
                Err(err) => {
                    if err.reason().kind() == Kind::PermissionDenied {
                        tracing::info!(rpc = %path, refusal = %err, "permission denied at the gate");
                    }
                    Ok(err.into_status().into_http())
                }
            }
        })
    }
}

/// A handler's refusal travels as a trailers-only response, so its status
/// is in the headers.
fn is_permission_denied<B>(response: &Response<B>) -> bool {
    response
        .headers()
        .get("grpc-status")
        .is_some_and(|code| code.as_bytes() == b"7")
}

/// Refused authorization is worth seeing (a probing caller, a misconfigured
/// account), and never carries a secret: the caller is a name or an id.
fn log_denied(caller: &str, rpc: &str) {
    tracing::info!(caller, rpc, "permission denied");
}

/// What the gate reads off a request before deciding.
struct Facts {
    path: String,
    route: Route,
    /// Set for a public RPC: the limit it counts against.
    rate_group: Option<RateGroup>,
    /// The last `x-forwarded-for` header (believed only from a gateway).
    forwarded_for: Option<String>,
    peer_ip: Option<String>,
    user_agent: Option<String>,
    service_token: Option<String>,
    account: Option<String>,
    bearer: Result<Option<String>>,
}

impl Gate {
    fn facts(&self, request: &Request<Body>) -> Facts {
        let headers = request.headers();
        let path = request.uri().path().to_owned();
        Facts {
            route: self.table.route(&path),
            rate_group: self.table.rate_group(&path),
            forwarded_for: headers
                .get_all("x-forwarded-for")
                .iter()
                .next_back()
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            path,
            peer_ip: request
                .extensions()
                .get::<TcpConnectInfo>()
                .and_then(TcpConnectInfo::remote_addr)
                .map(|addr| addr.ip().to_string()),
            user_agent: header(headers, "user-agent").map(str::to_owned),
            service_token: header(headers, SERVICE_TOKEN_HEADER).map(str::to_owned),
            account: header(headers, SERVICE_ACCOUNT_HEADER).map(str::to_owned),
            bearer: bearer(headers).map(|b| b.map(str::to_owned)),
        }
    }

    async fn limit(
        &self,
        group: RateGroup,
        caller: &Caller,
        forwarded_for: Option<String>,
    ) -> Result<()> {
        self.limits
            .check(group, caller, forwarded_for.as_deref())
            .await
    }

    /// Applies the RPC's [`super::Rule`] to an admitted caller, reading the one
    /// request field it names only when a user's call depends on it; the
    /// body goes on to the handler unchanged.
    async fn authorize(&self, caller: &mut Caller, path: &str, body: Body) -> Result<Body> {
        let Some(entry) = self.table.entry(path) else {
            return Ok(body);
        };
        caller.rule = entry.rule;
        let (body, named) = match entry.field_number {
            Some(number) if matches!(caller.principal, Principal::User(_)) => {
                request_field::read(body, number).await?
            }
            _ => (body, String::new()),
        };
        caller
            .enforce(entry.rule, &named, self.roles.as_ref())
            .await?;
        Ok(body)
    }

    async fn admit(&self, facts: Facts) -> Result<Caller> {
        let anonymous = Caller::anonymous(facts.peer_ip, facts.user_agent);
        let access = match facts.route {
            Route::Open => return Ok(anonymous),
            Route::Unknown => {
                return Err(Error::new(Reason::Unimplemented, "no such RPC"));
            }
            Route::Rpc(access) => access,
        };
        // A credential that is present but wrong is refused rather than
        // ignored, so a misconfigured caller learns at once.
        let credential =
            self.credential(facts.service_token.as_deref(), facts.account.as_deref())?;
        // A public RPC ignores whatever authorization it was sent.
        let bearer = if access == Access::Public {
            None
        } else {
            facts.bearer?
        };
        let principal = match (bearer, credential) {
            // A bearer token makes the call the user's, whatever credential
            // rides along: a gateway that adds its header to all traffic
            // must not lend its rights to the people behind it.
            (Some(token), _) if access.admits_users() => {
                Principal::User(self.authenticator.authenticate(&token).await?)
            }
            (Some(_), _) => {
                return Err(Error::new(
                    Reason::ServiceCredentialRequired,
                    "this RPC is for Latch services and granted service accounts, not users",
                ));
            }
            (None, Some(Credential::Latch)) if access.admits_latch() => Principal::Service,
            (None, Some(Credential::Account(account))) => {
                if !access.grantable() || !account.may_call(&facts.path) {
                    return Err(Error::new(
                        Reason::AccessDenied,
                        format!("service account {:?} may not call this RPC", account.name()),
                    ));
                }
                Principal::Account(AccountPrincipal {
                    name: account.name().to_owned(),
                    forwards_client_info: account.forwards_client_info(),
                })
            }
            (None, _) if access.is_public() => Principal::Anonymous,
            (None, _) if access.admits_users() => {
                return Err(Error::new(
                    Reason::AuthenticationRequired,
                    "send `authorization: Bearer <access token>`",
                ));
            }
            (None, _) => {
                return Err(Error::new(
                    Reason::ServiceCredentialRequired,
                    "this RPC is for Latch services and granted service accounts only",
                ));
            }
        };
        Ok(Caller {
            principal,
            ..anonymous
        })
    }

    /// The machine credential a request carries, checked.
    fn credential(
        &self,
        service_token: Option<&str>,
        account: Option<&str>,
    ) -> Result<Option<Credential<'_>>> {
        match (service_token, account) {
            (None, None) => Ok(None),
            (Some(_), Some(_)) => Err(Error::new(
                Reason::CredentialInvalid,
                "send one credential, not both",
            )),
            (Some(token), None) => {
                if self.machines.is_latch(token) {
                    Ok(Some(Credential::Latch))
                } else {
                    Err(Error::new(
                        Reason::CredentialInvalid,
                        "invalid service credential",
                    ))
                }
            }
            (None, Some(credential)) => Ok(Some(Credential::Account(
                self.machines.accounts().authenticate(credential)?,
            ))),
        }
    }
}

/// A machine credential that checked out.
enum Credential<'a> {
    /// `LATCH_SERVICE_TOKEN`: one of Latch's own services.
    Latch,
    Account(&'a ServiceAccount),
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
    bearer_token(value).map(Some)
}

/// The token of an `authorization` header value: scheme `Bearer` in any
/// case and a non-empty token, else `TOKEN_INVALID`. The one rule for every
/// place Latch reads a bearer token (the layer, Envoy's ext_authz).
pub fn bearer_token(value: &str) -> Result<&str> {
    match value.trim().split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(Error::new(
            Reason::TokenInvalid,
            "authorization must be `Bearer <token>`",
        )),
    }
}

#[cfg(test)]
mod tests;
