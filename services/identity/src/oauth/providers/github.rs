//! Kind `github`: GitHub's OAuth 2.0 (no OpenID Connect, so no ID token
//! and no discovery). The user is read with the access token from the REST
//! API: `/user` for the stable numeric `id` (the subject; logins can be
//! renamed) and the name, `/user/emails` for the address.
//!
//! Only the account's primary email, and only when GitHub verified it, is
//! given to the flow (`email_verified` true); any other address is none at
//! all, so a GitHub account can never be linked to, or create, an account
//! by an address its owner has not proven. The access token is used for
//! those two reads and dropped.
//!
//! GitHub answers a refused code (used, expired, another client's, a wrong
//! PKCE verifier or redirect URI) with `200 OK` and `{"error": ...}`: any
//! `error` from the token endpoint is a refusal (`INVALID_CREDENTIALS`);
//! no answer, a 5xx or an answer that is not GitHub's is `UNAVAILABLE`.
//! Every request goes through identity's bounded client ([`Http`]).

use latch_domain::{
    Error, Reason, Result,
    ports::{AuthorizationStart, CodeExchange, VerifiedClaims},
    secret::Secret,
};
use openidconnect::{
    CsrfToken, HttpRequest, HttpResponse, Nonce, PkceCodeChallenge,
    http::{self as http_types, HeaderValue, Method, StatusCode, header},
    url::{Url, form_urlencoded},
};
use serde::{Deserialize, de::DeserializeOwned};

use super::{
    config::{GitHubEndpoints, ProviderConfig},
    http::Http,
};

/// GitHub's API refuses requests without a User-Agent.
const USER_AGENT: &str = "Latch";
const API_ACCEPT: &str = "application/vnd.github+json";
const API_VERSION: &str = "2022-11-28";
/// GitHub's largest page: an account's primary address is always in it.
const EMAILS_PATH: &str = "/user/emails?per_page=100";

/// The authorization URL: client, redirect URI, scopes, `state` and a PKCE
/// S256 challenge. The nonce is made for the flow's record like any
/// other provider's, but GitHub has no ID token to carry it.
pub(super) fn start(
    config: &ProviderConfig,
    endpoints: &GitHubEndpoints,
    redirect_uri: &str,
) -> Result<AuthorizationStart> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state = CsrfToken::new_random();
    let mut url = Url::parse(&endpoints.authorization_url).map_err(Error::internal)?;
    url.query_pairs_mut()
        .append_pair("client_id", &config.client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", &config.scopes.join(" "))
        .append_pair("state", state.secret())
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", challenge.method().as_str());
    Ok(AuthorizationStart {
        url: url.to_string(),
        state: Secret::new(state.secret().clone()),
        pkce_verifier: Secret::new(verifier.secret().clone()),
        nonce: Secret::new(Nonce::new_random().secret().clone()),
    })
}

/// The code for an access token, then the user it belongs to.
pub(super) async fn exchange(
    http: &Http,
    config: &ProviderConfig,
    endpoints: &GitHubEndpoints,
    exchange: &CodeExchange,
) -> Result<VerifiedClaims> {
    let token = access_token(http, config, endpoints, exchange).await?;
    let user: User = match api_get(http, &config.name, endpoints, "/user", &token).await? {
        Answer::Ok(user) => user,
        Answer::Missing(status) => {
            tracing::warn!(provider = %config.name, %status, "github /user refused a fresh token");
            return Err(unavailable());
        }
    };
    let emails: Vec<Email> =
        match api_get(http, &config.name, endpoints, EMAILS_PATH, &token).await? {
            Answer::Ok(emails) => emails,
            // Without the `user:email` scope (the user may decline it): no
            // address, which signs in a known identity but creates none.
            Answer::Missing(status) => {
                tracing::info!(provider = %config.name, %status, "github emails not readable");
                Vec::new()
            }
        };
    let email = emails
        .into_iter()
        .find(|e| e.primary && e.verified)
        .map(|e| e.email.to_lowercase());
    Ok(VerifiedClaims {
        subject: user.id.to_string(),
        email_verified: email.is_some(),
        email,
        given_name: None,
        family_name: None,
        name: user.name.filter(|n| !n.trim().is_empty()),
    })
}

/// The token endpoint's answer, either form (GitHub's is 200 for both).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    error: Option<String>,
}

/// The parts of `/user` Latch reads.
#[derive(Deserialize)]
struct User {
    id: u64,
    name: Option<String>,
}

/// An entry of `/user/emails`.
#[derive(Deserialize)]
struct Email {
    email: String,
    primary: bool,
    verified: bool,
}

async fn access_token(
    http: &Http,
    config: &ProviderConfig,
    endpoints: &GitHubEndpoints,
    exchange: &CodeExchange,
) -> Result<Secret<String>> {
    // The client secret in the body, as GitHub documents it.
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &config.client_id)
        .append_pair("client_secret", config.client_secret.expose())
        .append_pair("code", exchange.code.expose())
        .append_pair("redirect_uri", &exchange.redirect_uri)
        .append_pair("code_verifier", exchange.pkce_verifier.expose())
        .finish();
    let request = http_types::Request::builder()
        .method(Method::POST)
        .uri(&endpoints.token_url)
        .header(header::ACCEPT, HeaderValue::from_static("application/json"))
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        )
        .header(header::USER_AGENT, HeaderValue::from_static(USER_AGENT))
        .body(body.into_bytes())
        .map_err(Error::internal)?;
    let response = send(http, &config.name, request).await?;
    let status = response.status();
    // 4xx answers carry the same `error` form as the 200 ones.
    let answer = (status.is_success() || status.is_client_error())
        .then(|| serde_json::from_slice::<TokenAnswer>(response.body()).ok())
        .flatten();
    match answer {
        Some(TokenAnswer {
            error: Some(error), ..
        }) => {
            // GitHub's error codes say nothing secret (bad_verification_code,
            // incorrect_client_credentials, redirect_uri_mismatch, ...).
            tracing::info!(provider = %config.name, %status, error = %error, "github refused the code");
            Err(Error::new(
                Reason::InvalidCredentials,
                "the provider refused the code",
            ))
        }
        Some(TokenAnswer {
            access_token: Some(token),
            error: None,
        }) if status.is_success() && !token.is_empty() => Ok(Secret::new(token)),
        _ => {
            tracing::warn!(provider = %config.name, %status, "github token endpoint gave no token");
            Err(unavailable())
        }
    }
}

/// A read of GitHub's API: its JSON, or the status of a 403 or 404 (a
/// scope not granted); anything else is `UNAVAILABLE`.
enum Answer<T> {
    Ok(T),
    Missing(StatusCode),
}

async fn api_get<T: DeserializeOwned>(
    http: &Http,
    provider: &str,
    endpoints: &GitHubEndpoints,
    path: &str,
    token: &Secret<String>,
) -> Result<Answer<T>> {
    let bearer =
        HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| unavailable())?;
    let request = http_types::Request::builder()
        .method(Method::GET)
        .uri(format!("{}{path}", endpoints.api_url))
        .header(header::AUTHORIZATION, bearer)
        .header(header::ACCEPT, HeaderValue::from_static(API_ACCEPT))
        .header(header::USER_AGENT, HeaderValue::from_static(USER_AGENT))
        .header(
            "x-github-api-version",
            HeaderValue::from_static(API_VERSION),
        )
        .body(Vec::new())
        .map_err(Error::internal)?;
    let response = send(http, provider, request).await?;
    let status = response.status();
    if status.is_success() {
        return serde_json::from_slice(response.body())
            .map(Answer::Ok)
            .map_err(|err| {
                // serde's message may quote the body: only where it broke.
                tracing::warn!(
                    provider,
                    path,
                    line = err.line(),
                    column = err.column(),
                    "github API answer not understood"
                );
                unavailable()
            });
    }
    if status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND {
        return Ok(Answer::Missing(status));
    }
    tracing::warn!(provider, path, %status, "github API refused the request");
    Err(unavailable())
}

async fn send(http: &Http, provider: &str, request: HttpRequest) -> Result<HttpResponse> {
    http.fetch(request).await.map_err(|err| {
        tracing::warn!(provider, error = %err, "github request failed");
        unavailable()
    })
}

fn unavailable() -> Error {
    Error::new(Reason::Unavailable, "the provider could not be reached")
}
