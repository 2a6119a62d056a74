//! The HTTP client openidconnect talks to providers through: reqwest on
//! rustls, no redirects (a provider endpoint that redirects is refused,
//! never followed to wherever it points), connect and total timeouts, and
//! responses read up to a bound so a provider cannot fill memory.

use std::{future::Future, pin::Pin, time::Duration};

use latch_domain::{Error, Result};
use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse, http};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Discovery documents, JWKS and token responses are a few KiB.
const MAX_BODY: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
}

/// Why a provider request failed: no body or secret in it.
#[derive(Debug)]
pub(crate) struct HttpError(String);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HttpError {}

impl Http {
    pub(crate) fn new() -> Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TOTAL_TIMEOUT)
            .build()
            .map_err(Error::internal)?;
        Ok(Self { client })
    }

    /// A request outside openidconnect (GitHub's plain OAuth 2.0 and
    /// API), under the same rules.
    pub(crate) async fn fetch(
        &self,
        request: HttpRequest,
    ) -> std::result::Result<HttpResponse, HttpError> {
        self.send(request).await
    }

    async fn send(&self, request: HttpRequest) -> std::result::Result<HttpResponse, HttpError> {
        let (parts, body) = request.into_parts();
        let mut response = self
            .client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            // Without the URL: a token request's URL carries nothing
            // secret, but reqwest's text may quote more than needed.
            .map_err(|err| HttpError(format!("request failed: {}", err.without_url())))?;
        if response
            .content_length()
            .is_some_and(|len| len > MAX_BODY as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| HttpError(format!("reading the response: {}", err.without_url())))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        let mut out = http::Response::builder().status(response.status());
        if let Some(headers) = out.headers_mut() {
            *headers = response.headers().clone();
        }
        out.body(body)
            .map_err(|err| HttpError(format!("response: {err}")))
    }
}

fn too_large() -> HttpError {
    HttpError(format!("response larger than {MAX_BODY} bytes"))
}

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future =
        Pin<Box<dyn Future<Output = std::result::Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}
