//! The HTTP port (`LATCH_HTTP_ADDR`), beside the gRPC one: plain HTTP/1.1
//! documents for peers that do not speak gRPC (gateways fetching the JWKS
//! and the discovery document). A binary merges the [`Router`]s of what it
//! serves, binds an [`HttpListener`] and [`serve`]s them until shutdown;
//! probes and metrics join the same router.
//!
//! The listener is bound before the routes are built, so a document that
//! names its own URL (`jwks_uri`) can name the bound address when no public
//! URL (`LATCH_PUBLIC_URL`) is configured.

use std::{future::Future, net::SocketAddr};

pub use axum::Router;
use axum::{http::StatusCode, serve::ListenerExt};
use latch_domain::{Error, Result};
use tokio::net::TcpListener;

use crate::config::{ConfigSource, parse_or};

/// latchd's `LATCH_HTTP_ADDR` when unset; the per-service binaries serve
/// HTTP only when it is set.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";

/// Where to serve HTTP, and under which URL the world reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// `LATCH_HTTP_ADDR`; `None` (the value `off`) serves no HTTP.
    pub addr: Option<SocketAddr>,
    /// `LATCH_PUBLIC_URL`: the base URL clients reach this port at (behind
    /// a load balancer or ingress, e.g. `https://auth.example.com`), with
    /// no trailing slash; unset, `http://<bound address>`.
    pub public_url: Option<String>,
}

impl HttpConfig {
    /// Reads `LATCH_HTTP_ADDR` (`off` for none; `default` when unset) and
    /// `LATCH_PUBLIC_URL`; a malformed value stops the start.
    pub fn from_source(source: &dyn ConfigSource, default: Option<SocketAddr>) -> Result<Self> {
        let addr = match source.get("LATCH_HTTP_ADDR") {
            Some(raw) if raw.trim().eq_ignore_ascii_case("off") => None,
            Some(_) => Some(parse_or(source, "LATCH_HTTP_ADDR", default_addr())?),
            None => default,
        };
        let public_url = source
            .get("LATCH_PUBLIC_URL")
            .map(|raw| public_url(&raw))
            .transpose()?;
        Ok(Self { addr, public_url })
    }

    /// latchd's default address, [`DEFAULT_HTTP_ADDR`].
    pub fn latchd_default() -> Option<SocketAddr> {
        Some(default_addr())
    }
}

fn default_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

/// A base URL: `http://` or `https://`, a host, no query or fragment; the
/// trailing slash is dropped so paths can be appended.
fn public_url(raw: &str) -> Result<String> {
    let url = raw.trim().trim_end_matches('/');
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match host {
        Some(rest) if !rest.is_empty() && !rest.contains(['?', '#', ' ']) => Ok(url.to_owned()),
        _ => Err(Error::internal_msg(format!(
            "LATCH_PUBLIC_URL: {raw:?} is not an http:// or https:// base URL (no query or fragment)"
        ))),
    }
}

/// A bound HTTP port and the URL it is reached at.
#[derive(Debug)]
pub struct HttpListener {
    listener: TcpListener,
    local_addr: SocketAddr,
    public_url: String,
}

impl HttpListener {
    /// Binds `config.addr`; `None` when HTTP is off. An address that cannot
    /// be bound stops the start, naming it.
    pub async fn bind(config: &HttpConfig) -> Result<Option<Self>> {
        let Some(addr) = config.addr else {
            return Ok(None);
        };
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            Error::internal_msg(format!("LATCH_HTTP_ADDR: cannot listen on {addr}: {e}"))
        })?;
        let local_addr = listener.local_addr().map_err(Error::internal)?;
        let public_url = match &config.public_url {
            Some(url) => url.clone(),
            None => {
                if local_addr.ip().is_unspecified() {
                    tracing::warn!(addr = %local_addr, "LATCH_PUBLIC_URL is unset and HTTP listens on every interface: documents name http://{local_addr}, which clients cannot reach; set LATCH_PUBLIC_URL");
                }
                format!("http://{local_addr}")
            }
        };
        Ok(Some(Self {
            listener,
            local_addr,
            public_url,
        }))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The base URL documents name this port by, without a trailing slash.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }
}

/// Serves `routes` on `listener` until `shutdown` resolves, then lets
/// requests in flight finish. A path no route claims is `404`.
pub async fn serve(
    routes: Router,
    listener: HttpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let addr = listener.local_addr;
    // Nagle off, as on the gRPC port: a small response is not held back
    // waiting for the client's delayed ACK.
    let incoming = listener.listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "cannot turn Nagle off on an HTTP connection");
        }
    });
    tracing::info!(%addr, url = %listener.public_url, "serving HTTP");
    let routes = routes.fallback(|| async { StatusCode::NOT_FOUND });
    axum::serve(incoming, routes)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| Error::internal_msg(format!("HTTP server on {addr}: {e}")))
}

/// [`serve`] on a task of its own, logging how it ended: for a binary whose
/// main task serves gRPC.
pub fn spawn(
    routes: Router,
    listener: HttpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(err) = serve(routes, listener, shutdown).await {
            tracing::error!(%err, "the HTTP port stopped");
        }
    })
}

#[cfg(test)]
mod tests {
    use axum::routing::get;

    use super::*;
    use crate::config::MapSource;

    #[test]
    fn unset_is_the_default_given_and_off_is_none() -> Result<()> {
        let none = HttpConfig::from_source(&MapSource::new(), None)?;
        assert_eq!(none.addr, None);
        let latchd = HttpConfig::from_source(&MapSource::new(), HttpConfig::latchd_default())?;
        assert_eq!(
            latchd.addr.map(|a| a.to_string()).as_deref(),
            Some(DEFAULT_HTTP_ADDR)
        );
        let off = MapSource::new().with("LATCH_HTTP_ADDR", "off");
        assert_eq!(
            HttpConfig::from_source(&off, HttpConfig::latchd_default())?.addr,
            None
        );
        let set = MapSource::new().with("LATCH_HTTP_ADDR", "0.0.0.0:9000");
        assert_eq!(
            HttpConfig::from_source(&set, None)?.addr,
            Some(SocketAddr::from(([0, 0, 0, 0], 9000)))
        );
        Ok(())
    }

    #[test]
    fn malformed_values_stop_the_start_naming_the_key() {
        for (key, raw) in [
            ("LATCH_HTTP_ADDR", "localhost"),
            ("LATCH_PUBLIC_URL", "auth.example.com"),
            ("LATCH_PUBLIC_URL", "https://"),
            ("LATCH_PUBLIC_URL", "https://auth.example.com/?x=1"),
            ("LATCH_PUBLIC_URL", "ftp://auth.example.com"),
        ] {
            let source = MapSource::new().with(key, raw);
            let err = HttpConfig::from_source(&source, None).unwrap_err();
            assert!(format!("{err}").contains(key), "{key}={raw}: {err}");
        }
    }

    #[test]
    fn the_public_url_loses_its_trailing_slash() -> Result<()> {
        let source = MapSource::new().with("LATCH_PUBLIC_URL", "https://auth.example.com/latch/");
        assert_eq!(
            HttpConfig::from_source(&source, None)?
                .public_url
                .as_deref(),
            Some("https://auth.example.com/latch")
        );
        Ok(())
    }

    #[tokio::test]
    async fn serves_routes_until_shutdown_and_names_its_bound_address() -> Result<()> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let config = HttpConfig {
            addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            public_url: None,
        };
        let listener = HttpListener::bind(&config).await?.expect("bound");
        let addr = listener.local_addr();
        assert_ne!(addr.port(), 0);
        assert_eq!(listener.public_url(), format!("http://{addr}"));

        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = spawn(
            Router::new().route("/hello", get(|| async { "hi" })),
            listener,
            async {
                let _ = stopped.await;
            },
        );
        let get = |path: &'static str| async move {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
            tcp.write_all(request.as_bytes()).await.unwrap();
            let mut response = String::new();
            tcp.read_to_string(&mut response).await.unwrap();
            response
        };
        let hello = get("/hello").await;
        assert!(hello.starts_with("HTTP/1.1 200"), "{hello}");
        assert!(hello.ends_with("hi"), "{hello}");
        let missing = get("/nothing").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");

        stop.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), server)
            .await
            .expect("stops on shutdown")
            .unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
        Ok(())
    }
}
