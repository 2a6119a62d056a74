//! Free converters between Envoy's `envoy.service.auth.v3` messages and the
//! decision's types, so protobuf types stop at the handler.

use envoy_types::{
    ext_authz::v3::pb::{
        CheckRequest, CheckResponse, DeniedHttpResponse, HeaderAppendAction, HeaderValue,
        HeaderValueOption, HttpResponse, HttpStatus, HttpStatusCode, OkHttpResponse,
    },
    pb::google::rpc,
};
use latch_domain::{Error, Kind};
use latch_runtime::status::code_of;

use super::{
    decision::{Allowed, HttpRequest, Verdict},
    headers::{LATCH_PREFIX, ROLES, SESSION_ID, USER_ID},
};

/// What the handler takes from a `CheckRequest`.
pub(super) struct Incoming {
    /// `None` when Envoy sent no `attributes.request.http`.
    pub(super) request: Option<HttpRequest>,
    /// The client's own `x-latch-*` header names, lower case: none of them
    /// may reach the upstream, which trusts Latch's.
    pub(super) client_latch_headers: Vec<String>,
}

/// Reads the HTTP request: `headers` (lower-case keys, repeated headers
/// merged with commas) or, when Envoy sends raw headers
/// (`encode_raw_headers`), `header_map` with one entry per line.
pub(super) fn incoming(check: CheckRequest) -> Incoming {
    let Some(http) = check
        .attributes
        .and_then(|a| a.request)
        .and_then(|r| r.http)
    else {
        return Incoming {
            request: None,
            client_latch_headers: Vec::new(),
        };
    };
    let lines: Vec<(String, String)> = match http.header_map {
        Some(map) if !map.headers.is_empty() => map.headers.into_iter().map(line).collect(),
        _ => http.headers.into_iter().collect(),
    };
    let mut authorization = Vec::new();
    let mut client_latch_headers: Vec<String> = Vec::new();
    for (key, value) in lines {
        let key = key.to_ascii_lowercase();
        if key == "authorization" {
            authorization.push(value);
        } else if key.starts_with(LATCH_PREFIX) && !client_latch_headers.contains(&key) {
            client_latch_headers.push(key);
        }
    }
    let path = http
        .path
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_owned();
    Incoming {
        request: Some(HttpRequest {
            method: http.method,
            path,
            authorization,
        }),
        client_latch_headers,
    }
}

/// One raw header line; a value that is not UTF-8 is kept recognisably
/// broken, so a token in it fails verification rather than vanishing.
fn line(header: HeaderValue) -> (String, String) {
    let value = if header.raw_value.is_empty() {
        header.value
    } else {
        String::from_utf8_lossy(&header.raw_value).into_owned()
    };
    (header.key, value)
}

/// The answer for Envoy: OK with the user's headers for the upstream, or a
/// denial Envoy sends the client as is.
pub(super) fn response(verdict: Verdict, client_latch_headers: Vec<String>) -> CheckResponse {
    match verdict {
        Verdict::Allow(allowed) => allow(allowed, client_latch_headers),
        Verdict::Deny(err) => deny(&err),
    }
}

fn allow(allowed: Allowed, client_latch_headers: Vec<String>) -> CheckResponse {
    let set = [
        (USER_ID, allowed.user_id.to_string()),
        (SESSION_ID, allowed.session_id.to_string()),
        (ROLES, allowed.roles.join(",")),
    ];
    // Envoy removes after it sets: a header named here would lose Latch's
    // value too, so the three set are overwritten instead.
    let headers_to_remove = client_latch_headers
        .into_iter()
        .filter(|name| !set.iter().any(|(ours, _)| name == ours))
        .collect();
    let ok = OkHttpResponse {
        headers: set
            .into_iter()
            // Kept when empty (a user without roles): an empty value left
            // out would leave the client's own header in place.
            .map(|(key, value)| header(key, value, HeaderAppendAction::OverwriteIfExistsOrAdd))
            .collect(),
        headers_to_remove,
        ..Default::default()
    };
    CheckResponse {
        status: Some(rpc::Status {
            code: tonic::Code::Ok as i32,
            ..Default::default()
        }),
        http_response: Some(HttpResponse::OkResponse(ok)),
        ..Default::default()
    }
}

fn deny(err: &Error) -> CheckResponse {
    let (http, bearer_challenge) = match err.kind() {
        Kind::PermissionDenied => (HttpStatusCode::Forbidden, false),
        _ => (HttpStatusCode::Unauthorized, true),
    };
    let mut headers = vec![header(
        "content-type",
        "application/json".to_owned(),
        HeaderAppendAction::OverwriteIfExistsOrAdd,
    )];
    if bearer_challenge {
        // RFC 6750: a 401 names the scheme it wants.
        headers.push(header(
            "www-authenticate",
            "Bearer".to_owned(),
            HeaderAppendAction::OverwriteIfExistsOrAdd,
        ));
    }
    let body = serde_json::json!({
        "error": err.reason().as_str(),
        "message": err.message(),
    })
    .to_string();
    CheckResponse {
        status: Some(rpc::Status {
            code: code_of(err.kind()) as i32,
            message: err.message().to_owned(),
            ..Default::default()
        }),
        http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
            status: Some(HttpStatus { code: http as i32 }),
            headers,
            body,
        })),
        ..Default::default()
    }
}

fn header(key: &str, value: String, action: HeaderAppendAction) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key: key.to_owned(),
            value,
            ..Default::default()
        }),
        append_action: action as i32,
        keep_empty_value: true,
        ..Default::default()
    }
}
