//! Real servers on loopback for tests (feature `testing`).
//!
//! - [`SmtpServer`] runs [aiosmtpd](https://aiosmtpd.aio-libs.org) — a Python SMTP server,
//!   `python3 -m pip install aiosmtpd` — with its `Mailbox` handler, so every accepted message
//!   lands in a Maildir that [`SmtpServer::messages`] reads back. To test error handling, the
//!   handler refuses recipients whose local part starts with `tempfail` (451, transient) or
//!   `reject` (550, permanent). Set `BATON_PYTHON` to use another interpreter than `python3`.
//! - [`RecordingServer`] is an axum HTTP server that records every request and answers from a
//!   script of [`Reply`]s, standing in for Slack, Teams or the Graph API.
//!
//! Both bind `127.0.0.1` on a free port, so tests run in parallel, and stop when dropped.
//!
//! ```no_run
//! # async fn demo() {
//! use baton_channels::testing::{RecordingServer, Reply};
//!
//! let server = RecordingServer::start(vec![Reply::new(429, "rate_limited"), Reply::new(200, "ok")]).await;
//! let url = server.url("/services/T000/B000/XXX");
//! // ... post twice to `url` ...
//! assert_eq!(server.requests().len(), 2);
//! # }
//! ```

use crate::email::{Security, SmtpConfig};
use axum::body::{Body, to_bytes};
use axum::http::{Request, Response, StatusCode};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long [`SmtpServer::start`] waits for aiosmtpd to accept connections.
const SMTP_START_TIMEOUT: Duration = Duration::from_secs(20);

/// aiosmtpd's Maildir handler, refusing some recipients so tests can see SMTP errors.
const HANDLER_MODULE: &str = r#"from aiosmtpd.handlers import Mailbox


class BatonMailbox(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("tempfail"):
            return "451 4.3.0 Mailbox busy, try again later"
        if local.startswith("reject"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"
"#;

// ---------------------------------------------------------------------------------------------
// SMTP
// ---------------------------------------------------------------------------------------------

/// A running aiosmtpd that stores every message it accepts; killed when dropped.
#[derive(Debug)]
pub struct SmtpServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

/// One message as the SMTP server stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedEmail {
    /// The `From` address.
    pub from: String,
    /// The `To` addresses.
    pub to: Vec<String>,
    /// The decoded subject.
    pub subject: String,
    /// The decoded plain-text body.
    pub body_text: String,
    /// The decoded HTML body, if the message had one.
    pub body_html: Option<String>,
    /// Every header as `(name, value)`, values unfolded and trimmed, in message order.
    pub headers: Vec<(String, String)>,
}

impl ReceivedEmail {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl SmtpServer {
    /// Starts aiosmtpd like [`SmtpServer::start`], or returns `None` (saying why, so the test
    /// can skip) when Python or aiosmtpd is not installed and `CI` is not set. Under `CI` a
    /// missing aiosmtpd is a failure: `.ci/run` installs it.
    pub fn start_or_skip(test: &str) -> Option<Self> {
        let python = std::env::var("BATON_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let installed = Command::new(&python)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed && std::env::var_os("CI").is_none() {
            eprintln!(
                "skipping {test}: aiosmtpd is not installed (python3 -m pip install aiosmtpd)"
            );
            return None;
        }
        Some(Self::start())
    }

    /// Starts aiosmtpd on a free loopback port and waits until it accepts connections.
    ///
    /// # Panics
    ///
    /// If Python or aiosmtpd is missing, or the server does not come up in time; the message
    /// says how to install it.
    pub fn start() -> Self {
        let dir = unique_temp_dir("baton-smtp");
        let maildir = dir.join("Maildir");
        let log = dir.join("aiosmtpd.log");
        let port = free_port();
        let python = std::env::var("BATON_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let log_file = std::fs::File::create(&log).expect("create the aiosmtpd log file");
        std::fs::write(dir.join("baton_smtp_handler.py"), HANDLER_MODULE)
            .expect("write the aiosmtpd handler");
        let python_path = match std::env::var_os("PYTHONPATH") {
            Some(existing) => std::env::join_paths(
                std::iter::once(dir.clone()).chain(std::env::split_paths(&existing)),
            )
            .expect("a valid PYTHONPATH"),
            None => dir.clone().into_os_string(),
        };
        let child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "baton_smtp_handler.BatonMailbox"])
            .env("PYTHONPATH", python_path)
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone the log file handle"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {python}: {e}; install Python 3 and `python3 -m pip install aiosmtpd`"));
        let mut server = Self { child, port, dir };
        server.wait_until_ready(&log);
        server
    }

    fn wait_until_ready(&mut self, log: &Path) {
        let deadline = Instant::now() + SMTP_START_TIMEOUT;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let output = std::fs::read_to_string(log).unwrap_or_default();
                panic!(
                    "aiosmtpd exited ({status}) before accepting connections; is it installed? \
                     `python3 -m pip install aiosmtpd`\n{output}"
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not accept connections on {addr} within {SMTP_START_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Always `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A configuration that sends to this server in plain text, without login.
    pub fn config(&self, from: &str) -> SmtpConfig {
        SmtpConfig {
            host: self.host().to_owned(),
            port: Some(self.port),
            security: Security::None,
            username: None,
            password: None,
            from: from.to_owned(),
        }
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedEmail> {
        let maildir = self.dir.join("Maildir");
        let mut files: Vec<(u64, u64, PathBuf)> = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(maildir.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let (secs, seq) = maildir_order(&name);
                files.push((secs, seq, entry.path()));
            }
        }
        files.sort();
        files
            .into_iter()
            .map(|(_, _, path)| {
                let raw = std::fs::read(&path).expect("read a stored message");
                parse_email(&raw)
            })
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Python's Maildir names files `<secs>.M<micros>P<pid>Q<counter>.<host>`; the counter orders
/// messages from one process.
fn maildir_order(name: &str) -> (u64, u64) {
    let secs = name
        .split('.')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let seq = name
        .split_once('Q')
        .and_then(|(_, rest)| rest.split('.').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (secs, seq)
}

fn parse_email(raw: &[u8]) -> ReceivedEmail {
    let message = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("the stored message parses");
    let addresses = |a: Option<&mail_parser::Address>| -> Vec<String> {
        a.map(|a| {
            a.iter()
                .filter_map(|addr| addr.address().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
    };
    ReceivedEmail {
        from: addresses(message.from())
            .into_iter()
            .next()
            .unwrap_or_default(),
        to: addresses(message.to()),
        subject: message.subject().unwrap_or_default().to_owned(),
        body_text: message
            .body_text(0)
            .map(|b| b.into_owned())
            .unwrap_or_default(),
        // mail-parser renders a text-only message as HTML; report only real HTML parts.
        body_html: message
            .html_bodies()
            .find(|part| part.is_text_html())
            .and_then(|part| part.text_contents())
            .map(str::to_owned),
        headers: message
            .headers_raw()
            .map(|(name, value)| {
                let value = value.replace("\r\n", "").replace('\n', "");
                (name.to_owned(), value.trim().to_owned())
            })
            .collect(),
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
        .port()
}

fn unique_temp_dir(prefix: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// One scripted HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Extra headers, such as `Retry-After`.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl Reply {
    /// An answer with a text body.
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// An answer with a JSON body and `Content-Type: application/json`.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self::new(status, body.to_string()).header("content-type", "application/json")
    }

    /// The same answer with one more header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// One request as the [`RecordingServer`] received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `POST`, `GET`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// Every header as `(lower-case name, value)`.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    ///
    /// # Panics
    ///
    /// If the body is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "request body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Debug, Default)]
struct Recorder {
    script: Vec<Reply>,
    served: usize,
    requests: Vec<RecordedRequest>,
}

/// An HTTP server on loopback that records requests and answers from a script: the n-th
/// request gets the n-th [`Reply`], and once the script runs out the last reply repeats (an
/// empty script answers `200` with an empty body). Stops when dropped.
#[derive(Debug)]
pub struct RecordingServer {
    addr: SocketAddr,
    recorder: Arc<Mutex<Recorder>>,
    task: tokio::task::JoinHandle<()>,
}

impl RecordingServer {
    /// Binds a free loopback port and starts serving; it accepts connections on return.
    pub async fn start(script: Vec<Reply>) -> Self {
        let recorder = Arc::new(Mutex::new(Recorder {
            script,
            ..Recorder::default()
        }));
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("a bound address");
        let state = Arc::clone(&recorder);
        let app = axum::Router::new().fallback(move |request: Request<Body>| {
            let state = Arc::clone(&state);
            async move { record(state, request).await }
        });
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the recording server runs");
        });
        Self {
            addr,
            recorder,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The base URL followed by `path` (which should start with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.recorder
            .lock()
            .expect("recorder lock")
            .requests
            .clone()
    }
}

impl Drop for RecordingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(state: Arc<Mutex<Recorder>>, request: Request<Body>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 16 * 1024 * 1024).await.unwrap_or_default();
    let reply = {
        let mut recorder = state.lock().expect("recorder lock");
        recorder.requests.push(RecordedRequest {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: body.to_vec(),
        });
        let index = recorder.served.min(recorder.script.len().saturating_sub(1));
        recorder.served += 1;
        recorder
            .script
            .get(index)
            .cloned()
            .unwrap_or_else(|| Reply::new(200, ""))
    };
    let mut response = Response::builder()
        .status(StatusCode::from_u16(reply.status).expect("a valid scripted status"));
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    response
        .body(Body::from(reply.body))
        .expect("a valid scripted response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maildir_names_order_by_time_then_counter() {
        assert_eq!(
            maildir_order("1750000000.M12P345Q7.host"),
            (1_750_000_000, 7)
        );
        assert_eq!(maildir_order("garbage"), (0, 0));
    }
}
