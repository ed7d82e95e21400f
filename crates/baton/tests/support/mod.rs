//! Harness for black-box tests of the `baton` binary: run it as a child process, wait for it to
//! listen by reading its stderr, talk to it over HTTP, kill it on drop.
#![allow(dead_code)]

use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

/// How long a server may take to start listening, or a one-shot command to finish.
pub const STARTUP: Duration = Duration::from_secs(20);

/// Every environment variable the binary reads; cleared so the developer's shell cannot leak in.
const BATON_VARS: [&str; 6] = [
    "BATON_CONFIG",
    "BATON_LISTEN",
    "BATON_DATABASE_URL",
    "BATON_DATA_DIR",
    "BATON_LOG",
    "BATON_SESSION_TTL_HOURS",
];

/// A temporary folder removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "baton-cli-{name}-{}-{}",
            std::process::id(),
            baton_store::ids::new_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `sqlite://` URL of a database file inside this folder.
    pub fn sqlite_url(&self, file: &str) -> String {
        format!("sqlite://{}", self.0.join(file).display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `baton ARGS` with a clean environment (plus `envs`), run from the system temp folder so a
/// default `data/` folder never lands in the repository.
pub fn baton(args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_baton"));
    cmd.args(args)
        .current_dir(std::env::temp_dir())
        .kill_on_drop(true)
        .stdin(Stdio::null());
    for var in BATON_VARS {
        cmd.env_remove(var);
    }
    // Keep the server's own logging quiet; the "listening on" line is printed regardless.
    cmd.env("BATON_LOG", "warn");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    /// Asserts success and returns stdout.
    pub fn ok(&self) -> &str {
        assert!(
            self.status.success(),
            "expected success, got {}\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        &self.stdout
    }

    /// Asserts a non-zero exit and returns stderr.
    pub fn failed(&self) -> &str {
        assert!(
            !self.status.success(),
            "expected failure, got success\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert_eq!(
            self.status.code(),
            Some(1),
            "expected exit code 1\nstderr:\n{}",
            self.stderr
        );
        &self.stderr
    }
}

/// Runs `baton ARGS` to completion within [`STARTUP`].
pub async fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let started = Instant::now();
    let child = baton(args, envs)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn baton");
    let out = tokio::time::timeout(STARTUP, child.wait_with_output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "`baton {}` did not finish within {STARTUP:?}",
                args.join(" ")
            )
        })
        .expect("wait for baton");
    Output {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// `baton tenant create NAME --admin-email EMAIL --json --database URL`, parsed.
#[derive(Debug, Clone)]
pub struct CreatedTenant {
    pub tenant_id: String,
    pub api_key: String,
    pub email: String,
    pub password: String,
}

pub async fn create_tenant(database: &str, name: &str, email: &str) -> CreatedTenant {
    let out = run(
        &[
            "tenant",
            "create",
            name,
            "--admin-email",
            email,
            "--json",
            "--database",
            database,
        ],
        &[],
    )
    .await;
    let stdout = out.ok();
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "--json must print exactly one line:\n{stdout}"
    );
    let json: Value =
        serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    assert!(json.is_object(), "{json}");
    let field = |v: &Value| {
        v.as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| panic!("missing field in {json}"))
            .to_string()
    };
    CreatedTenant {
        tenant_id: field(&json["tenant_id"]),
        api_key: field(&json["api_key"]),
        email: field(&json["admin"]["email"]),
        password: field(&json["admin"]["password"]),
    }
}

/// Lines a child printed so far, shared with the task reading them.
type Lines = Arc<Mutex<Vec<String>>>;

fn drain(
    stream: impl AsyncRead + Unpin + Send + 'static,
    lines: Lines,
    mut listening: Option<oneshot::Sender<String>>,
) {
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            if let Some(addr) = line.split("listening on http://").nth(1) {
                let addr = addr
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                if let Some(tx) = listening.take() {
                    let _ = tx.send(addr);
                }
            }
            lines.lock().unwrap().push(line);
        }
    });
}

/// A running `baton serve` / `baton demo`, killed on drop.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// `host:port` from the "listening on" line.
    pub addr: String,
    /// `http://host:port`.
    pub base: String,
    stdout: Lines,
    stderr: Lines,
}

impl Server {
    /// Starts `baton ARGS` and waits for its "listening on" line; `Err` with what it printed
    /// when it exits (or stays silent for [`STARTUP`]) first.
    pub async fn try_start(args: &[&str], envs: &[(&str, &str)]) -> Result<Server, String> {
        let mut child = baton(args, envs)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn baton");
        let (stdout, stderr) = (Lines::default(), Lines::default());
        let (tx, rx) = oneshot::channel();
        drain(child.stdout.take().unwrap(), stdout.clone(), None);
        drain(child.stderr.take().unwrap(), stderr.clone(), Some(tx));
        let printed = |stderr: &Lines| stderr.lock().unwrap().join("\n");
        match tokio::time::timeout(STARTUP, rx).await {
            Ok(Ok(addr)) => {
                let server = Server {
                    child,
                    base: format!("http://{addr}"),
                    addr,
                    stdout,
                    stderr,
                };
                server.wait_healthy().await;
                Ok(server)
            }
            // The reader saw end of file without the line: the process is exiting.
            Ok(Err(_)) => {
                let status = tokio::time::timeout(STARTUP, child.wait()).await;
                Err(format!(
                    "`baton {}` exited ({status:?}) before listening:\n{}",
                    args.join(" "),
                    printed(&stderr)
                ))
            }
            Err(_) => Err(format!(
                "`baton {}` did not listen within {STARTUP:?}:\n{}",
                args.join(" "),
                printed(&stderr)
            )),
        }
    }

    pub async fn start(args: &[&str], envs: &[(&str, &str)]) -> Server {
        Self::try_start(args, envs)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `baton serve --database URL --listen 127.0.0.1:0`.
    pub async fn serve(database: &str) -> Server {
        Self::start(
            &["serve", "--database", database, "--listen", "127.0.0.1:0"],
            &[],
        )
        .await
    }

    /// Polls `/healthz` until it answers 200, for at most [`STARTUP`].
    async fn wait_healthy(&self) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Ok(r) = client.get(format!("{}/healthz", self.base)).send().await
                && r.status().is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} not healthy within {STARTUP:?}:\n{}",
                self.base,
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().join("\n")
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Waits (bounded) until stdout contains `needle`; returns all of stdout.
    pub async fn wait_stdout(&self, needle: &str) -> String {
        let deadline = Instant::now() + STARTUP;
        loop {
            let out = self.stdout();
            if out.contains(needle) {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "stdout never showed {needle:?}:\n{out}\nstderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit; returns its status.
    #[cfg(unix)]
    pub async fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().expect("still running").to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        tokio::time::timeout(STARTUP, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("no exit within {STARTUP:?} of SIGTERM:\n{}", self.stderr()))
            .expect("wait for baton")
    }

    /// Waits (bounded) until stderr contains `needle`; returns all of stderr.
    pub async fn wait_stderr(&self, needle: &str) -> String {
        let deadline = Instant::now() + STARTUP;
        loop {
            let err = self.stderr();
            if err.contains(needle) {
                return err;
            }
            assert!(
                Instant::now() < deadline,
                "stderr never showed {needle:?}:\n{err}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL (on Unix) and reap.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("kill baton");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// A response: status and JSON body (Null when empty).
#[derive(Debug)]
pub struct Res {
    pub status: StatusCode,
    pub body: Value,
}

/// Sends a request with an optional bearer token and JSON body.
pub async fn send(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Res {
    let mut req = client.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("request {url}: {e}"));
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Res { status, body }
}

/// `POST /v1/auth/login`; returns the session token.
pub async fn login(
    client: &reqwest::Client,
    server: &Server,
    email: &str,
    password: &str,
) -> String {
    let res = send(
        client,
        Method::POST,
        &server.url("/v1/auth/login"),
        None,
        Some(serde_json::json!({"email": email, "password": password})),
    )
    .await;
    assert_eq!(res.status, 200, "login {email}: {}", res.body);
    res.body["token"].as_str().expect("token").to_string()
}

/// Every item of a paginated list, following `next_cursor` (`?limit=500`).
pub async fn all_pages(
    client: &reqwest::Client,
    server: &Server,
    path: &str,
    token: &str,
) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let mut url = reqwest::Url::parse(&server.url(path)).unwrap();
        url.query_pairs_mut().append_pair("limit", "500");
        if let Some(c) = &cursor {
            url.query_pairs_mut().append_pair("cursor", c);
        }
        let url = url.to_string();
        let page = send(client, Method::GET, &url, Some(token), None).await;
        assert_eq!(page.status, 200, "GET {url}: {}", page.body);
        items.extend(
            page.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .cloned(),
        );
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return items,
        }
    }
    panic!("{path}: pagination did not end");
}
