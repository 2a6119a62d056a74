//! [`WebhookSink`]: a minimal, real HTTP/1.1 listener on `127.0.0.1` that
//! records every request (method, path, headers, body) and answers each
//! with a status the test sets, for tests of the SMS webhook.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU16, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::Notify,
    task::JoinSet,
};

/// The largest body the sink reads.
const MAX_BODY: usize = 1024 * 1024;

/// One request as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRequest {
    pub method: String,
    pub path: String,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ReceivedRequest {
    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

struct Shared {
    received: Mutex<Vec<ReceivedRequest>>,
    status: AtomicU16,
    arrived: Notify,
}

/// A running HTTP listener.
pub struct WebhookSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _tasks: JoinSet<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl WebhookSink {
    /// A listener on a free port of `127.0.0.1`, answering `204` until
    /// told otherwise. It stops when dropped.
    pub async fn start() -> WebhookSink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the webhook sink");
        let addr = listener.local_addr().expect("webhook sink address");
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            status: AtomicU16::new(204),
            arrived: Notify::new(),
        });
        let mut tasks = JoinSet::new();
        let accepting = shared.clone();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = accepting.clone();
                connections.spawn(async move {
                    let _ = serve(stream, &shared).await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        WebhookSink {
            addr,
            shared,
            _tasks: tasks,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>/sms`.
    pub fn url(&self) -> String {
        format!("http://{}/sms", self.addr)
    }

    /// The status every following request is answered with.
    pub fn respond_with(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        lock(&self.shared.received).clone()
    }

    /// Waits until at least `count` requests arrived, at most `timeout`.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedRequest> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.arrived.notified();
            let received = self.requests();
            if received.len() >= count {
                return received;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.requests();
            }
        }
    }
}

/// One request per connection (answered with `connection: close`).
async fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut request_line = String::new();
    if read.read_line(&mut request_line).await? == 0 {
        return Ok(());
    }
    let mut words = request_line.split_whitespace();
    let method = words.next().unwrap_or("").to_owned();
    let path = words.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if read.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_BODY);
    let mut body = vec![0; length];
    read.read_exact(&mut body).await?;
    lock(&shared.received).push(ReceivedRequest {
        method,
        path,
        headers,
        body,
    });
    shared.arrived.notify_waiters();
    let status = shared.status.load(Ordering::SeqCst);
    let response =
        format!("HTTP/1.1 {status} Test\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    write.write_all(response.as_bytes()).await?;
    write.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_post_is_recorded_and_answered_with_the_set_status() {
        let sink = WebhookSink::start().await;
        sink.respond_with(503);
        let mut stream = TcpStream::connect(sink.addr()).await.unwrap();
        stream
            .write_all(
                b"POST /sms HTTP/1.1\r\nHost: x\r\nX-Latch-Signature: t=1,v1=ab\r\nContent-Length: 11\r\n\r\n{\"to\":\"+1\"}",
            )
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        let got = sink.wait_for(1, Duration::from_secs(5)).await;
        assert_eq!(got[0].method, "POST");
        assert_eq!(got[0].path, "/sms");
        assert_eq!(got[0].header("x-latch-signature"), Some("t=1,v1=ab"));
        assert_eq!(got[0].json()["to"], "+1");
    }
}
