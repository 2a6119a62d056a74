//! [`SmtpSink`]: a small, real SMTP server on `127.0.0.1` that keeps every
//! message it is given, for tests that send mail through a real socket
//! (lettre talks to it as to any server). It can be stopped (the port then
//! refuses connections, as a mail server that is down does) and started
//! again on the same port.
//!
//! It speaks EHLO/HELO, MAIL FROM, RCPT TO, DATA (dot-unstuffed), RSET,
//! NOOP and QUIT; no TLS, no authentication.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::Notify,
    task::JoinSet,
};

use crate::mail::ReceivedMail;

/// The longest message the sink takes.
const MAX_MESSAGE: usize = 10 * 1024 * 1024;

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<ReceivedMail>>,
    /// A reply to give to RCPT TO instead of 250 (e.g. `550` or `451`).
    rcpt_reply: Mutex<Option<u16>>,
    arrived: Notify,
}

/// A running (or stopped) SMTP sink.
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// The accept loop and its connections; dropped (aborted) on stop.
    tasks: Mutex<Option<JoinSet<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SmtpSink {
    /// A sink listening on a free port of `127.0.0.1`.
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the SMTP sink");
        let addr = listener.local_addr().expect("SMTP sink address");
        let sink = SmtpSink {
            addr,
            shared: Arc::new(Shared::default()),
            tasks: Mutex::new(None),
        };
        sink.serve(listener);
        sink
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `smtp://127.0.0.1:<port>`, for `LATCH_SMTP_URL` (the sink offers
    /// no STARTTLS, so Latch's default, STARTTLS when offered, talks plain).
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Closes the port and every open connection: once this returns the
    /// server is down. Messages received so far are kept.
    pub async fn stop(&self) {
        let tasks = lock(&self.tasks).take();
        if let Some(mut tasks) = tasks {
            // The accept loop ends (its listener closed) before this
            // returns; its connections are aborted with it.
            tasks.shutdown().await;
        }
    }

    /// Listens again on the same port (retrying a moment while the old
    /// socket is released).
    pub async fn restart(&self) {
        self.stop().await;
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(_) if tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("SMTP sink cannot listen on {} again: {e}", self.addr),
            }
        };
        self.serve(listener);
    }

    /// From now on RCPT TO is answered with `code` (`550` refuses the
    /// recipient for good, `451` for now); `None` accepts again.
    pub fn reply_to_rcpt(&self, code: Option<u16>) {
        *lock(&self.shared.rcpt_reply) = code;
    }

    /// Every message received so far, in order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        lock(&self.shared.received).clone()
    }

    /// Waits until at least `count` messages arrived, at most `timeout`;
    /// returns what arrived (fewer when the time ran out).
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.arrived.notified();
            let received = self.messages();
            if received.len() >= count {
                return received;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.messages();
            }
        }
    }

    fn serve(&self, listener: TcpListener) {
        let mut tasks = JoinSet::new();
        let shared = self.shared.clone();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = shared.clone();
                connections.spawn(async move {
                    let _ = session(stream, &shared).await;
                });
                // Reap finished connections so the set does not grow.
                while connections.try_join_next().is_some() {}
            }
        });
        *lock(&self.tasks) = Some(tasks);
    }
}

/// One SMTP conversation.
async fn session(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 latch-testkit SMTP sink\r\n").await?;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line).trim_end().to_owned();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "EHLO" => {
                "250-latch-testkit\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760".into()
            }
            "HELO" => "250 latch-testkit".into(),
            "MAIL" => match path_after(&command, "MAIL FROM:") {
                Some(path) => {
                    from = Some(path);
                    to.clear();
                    "250 OK".into()
                }
                None => "501 Syntax: MAIL FROM:<address>".into(),
            },
            "RCPT" if from.is_none() => "503 MAIL first".into(),
            "RCPT" => match path_after(&command, "RCPT TO:") {
                Some(path) => match *lock(&shared.rcpt_reply) {
                    Some(code) => format!("{code} recipient refused by the test"),
                    None => {
                        to.push(path);
                        "250 OK".into()
                    }
                },
                None => "501 Syntax: RCPT TO:<address>".into(),
            },
            "DATA" if from.is_none() || to.is_empty() => "503 MAIL and RCPT first".into(),
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let Some(data) = read_data(&mut lines).await? else {
                    return Ok(());
                };
                let mail =
                    ReceivedMail::new(from.take().unwrap_or_default(), to.split_off(0), data);
                lock(&shared.received).push(mail);
                shared.arrived.notify_waiters();
                "250 OK queued".into()
            }
            "RSET" => {
                from = None;
                to.clear();
                "250 OK".into()
            }
            "NOOP" => "250 OK".into(),
            "QUIT" => {
                write.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            }
            _ => "502 Command not implemented".into(),
        };
        write.write_all(reply.as_bytes()).await?;
        write.write_all(b"\r\n").await?;
    }
}

/// The `<path>` of `MAIL FROM:<a@b> BODY=8BITMIME`, case-insensitively
/// after `prefix`; parameters after it are ignored.
fn path_after(command: &str, prefix: &str) -> Option<String> {
    let head = command.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = command[prefix.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some(rest[..end].to_owned())
}

/// The message after DATA up to the lone `.`, dot-unstuffed, line endings
/// kept as CRLF; `None` when the client went away first.
async fn read_data<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut R,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(Some(data));
        }
        // Dot-unstuffing (RFC 5321 4.5.2): a leading dot was doubled.
        let content = if line.starts_with(b"..") {
            &line[1..]
        } else {
            &line[..]
        };
        if data.len() + content.len() > MAX_MESSAGE {
            return Ok(None);
        }
        data.extend_from_slice(content);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_raw_conversation_is_received_dot_unstuffed() {
        let sink = SmtpSink::start().await;
        let stream = TcpStream::connect(sink.addr()).await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        let mut line = String::new();
        read.read_line(&mut line).await.unwrap();
        assert!(line.starts_with("220"), "{line}");
        let mut say = async |cmd: &str| {
            write.write_all(cmd.as_bytes()).await.unwrap();
        };
        say("HELO me\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n").await;
        say("Subject: hi\r\n\r\n..leading dot\r\nend\r\n.\r\nQUIT\r\n").await;
        let mut rest = String::new();
        while read.read_line(&mut rest).await.unwrap() > 0 {}
        assert!(rest.contains("250 OK queued"), "{rest}");
        let mail = sink.wait_for(1, Duration::from_secs(5)).await;
        assert_eq!(mail.len(), 1);
        assert_eq!(mail[0].from, "a@example.com");
        assert_eq!(mail[0].to, vec!["b@example.com".to_owned()]);
        assert_eq!(mail[0].subject(), "hi");
        assert_eq!(mail[0].text(), ".leading dot\r\nend\r\n");
    }

    #[tokio::test]
    async fn a_stopped_sink_refuses_and_a_restarted_one_listens_on_the_same_port() {
        let sink = SmtpSink::start().await;
        let addr = sink.addr();
        sink.stop().await;
        assert!(TcpStream::connect(addr).await.is_err());
        sink.restart().await;
        assert_eq!(sink.addr(), addr);
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut read = BufReader::new(stream);
        let mut line = String::new();
        read.read_line(&mut line).await.unwrap();
        assert!(line.starts_with("220"), "{line}");
    }
}
