//! The bench's environment: a scratch folder, a fresh database, and `baton serve` children
//! whose output goes to log files in that folder. Everything is undone by [`Env::cleanup`]
//! (and, as a fallback, on drop): the servers are killed, the PostgreSQL database is dropped
//! and the SQLite files are deleted; the logs stay for reading.

use super::Backend;
use anyhow::{Context, bail};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long a server may take to listen and be ready, or a CLI command to finish.
const STARTUP: Duration = Duration::from_secs(60);

/// Variables that could point a child at another configuration, database or address.
const CLEARED_VARS: [&str; 4] = [
    "BATON_CONFIG",
    "BATON_LISTEN",
    "BATON_DATABASE_URL",
    "BATON_DATA_DIR",
];

/// A scratch PostgreSQL database created for this run.
#[derive(Debug, Clone)]
struct PgScratch {
    admin_url: String,
    name: String,
}

/// One `baton serve` child.
#[derive(Debug)]
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its stdout and stderr.
    pub log: PathBuf,
    /// Its process id.
    pub pid: Option<u32>,
    /// Set when the process exited on its own (its exit status).
    exited: watch::Receiver<Option<String>>,
    kill: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// What one server's log held at the end.
#[derive(Debug, Clone, Serialize)]
pub struct LogSummary {
    /// The file.
    pub path: String,
    /// Lines containing ` ERROR `.
    pub error_lines: u64,
    /// Lines containing ` WARN `.
    pub warn_lines: u64,
    /// The first few of them, for a first look.
    pub first: Vec<String>,
    /// The exit status if the server died during the run.
    pub died: Option<String>,
}

/// The scratch folder, database and servers of one run.
#[derive(Debug)]
pub struct Env {
    /// Scratch folder (the SQLite files and the logs).
    pub dir: PathBuf,
    /// The database every server and the CLI use.
    pub database_url: String,
    /// The database, with any password hidden, for printing.
    pub database_shown: String,
    /// The running servers.
    pub servers: Vec<Server>,
    pg: Option<PgScratch>,
    cleaned: bool,
}

impl Env {
    /// A scratch folder and a fresh database: a file in the folder for SQLite, a new
    /// `baton_bench_<random>` database on the server of `postgres_url` for PostgreSQL.
    pub async fn create(backend: Backend, postgres_url: &str) -> anyhow::Result<Env> {
        let suffix = baton_store::ids::new_suffix();
        let dir = std::env::temp_dir().join(format!("baton-bench-{suffix}"));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the scratch folder {}", dir.display()))?;
        let mut env = Env {
            database_url: String::new(),
            database_shown: String::new(),
            dir,
            servers: Vec::new(),
            pg: None,
            cleaned: false,
        };
        match backend {
            Backend::Sqlite => {
                env.database_url = format!("sqlite://{}", env.dir.join("baton.db").display());
            }
            Backend::Postgres => {
                use sqlx::Connection;
                let name = format!(
                    "baton_bench_{}",
                    suffix.replace(|c: char| !c.is_ascii_alphanumeric(), "")
                );
                let mut admin = tokio::time::timeout(
                    Duration::from_secs(10),
                    sqlx::PgConnection::connect(postgres_url),
                )
                .await
                .map_err(|_| anyhow::anyhow!("no answer from PostgreSQL within 10 s"))?
                .with_context(|| {
                    format!(
                        "cannot connect to PostgreSQL at {}; pass --postgres-url",
                        baton_server::config::redact_url(postgres_url)
                    )
                })?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .with_context(|| format!("cannot create the database {name}"))?;
                admin.close().await.ok();
                env.pg = Some(PgScratch {
                    admin_url: postgres_url.to_string(),
                    name: name.clone(),
                });
                env.database_url = with_database(postgres_url, &name)?;
            }
        }
        env.database_shown = baton_server::config::redact_url(&env.database_url);
        Ok(env)
    }

    /// `baton ARGS --database URL` run to completion; its stdout.
    pub async fn run_cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let exe = std::env::current_exe().context("cannot find the baton executable")?;
        let mut cmd = Command::new(exe);
        cmd.args(args)
            .args(["--database", &self.database_url])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        clear_env(&mut cmd);
        let out = tokio::time::timeout(STARTUP, cmd.output())
            .await
            .map_err(|_| anyhow::anyhow!("`baton {}` took over {STARTUP:?}", args.join(" ")))?
            .context("cannot run baton")?;
        if !out.status.success() {
            bail!(
                "`baton {}` failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts `count` more `baton serve` children on the database, each on a free port of
    /// 127.0.0.1, and waits until each answers `/readyz`.
    pub async fn start_servers(&mut self, count: usize) -> anyhow::Result<()> {
        let exe = std::env::current_exe().context("cannot find the baton executable")?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        for _ in 0..count {
            let i = self.servers.len();
            let log = self.dir.join(format!("server-{i}.log"));
            let file = std::fs::File::create(&log)
                .with_context(|| format!("cannot create {}", log.display()))?;
            let mut cmd = Command::new(&exe);
            cmd.args(["serve", "--database", &self.database_url])
                .args(["--listen", "127.0.0.1:0"])
                .current_dir(&self.dir)
                .stdin(Stdio::null())
                .stdout(Stdio::from(file.try_clone()?))
                .stderr(Stdio::from(file))
                .kill_on_drop(true);
            clear_env(&mut cmd);
            let mut child = cmd.spawn().context("cannot start `baton serve`")?;
            eprintln!("bench: server {i} log: {}", log.display());
            let addr = match listening_address(&mut child, &log).await {
                Ok(addr) => addr,
                Err(e) => {
                    let _ = child.kill().await;
                    return Err(e);
                }
            };
            let pid = child.id();
            let (exited_tx, exited) = watch::channel(None);
            let (kill, killed) = oneshot::channel::<()>();
            let task = tokio::spawn(async move {
                tokio::select! {
                    status = child.wait() => {
                        let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                        let _ = exited_tx.send(Some(status));
                    }
                    _ = killed => {
                        let _ = child.kill().await;
                    }
                }
            });
            let server = Server {
                base: format!("http://{addr}"),
                log,
                pid,
                exited,
                kill: Some(kill),
                task: Some(task),
            };
            wait_ready(&client, &server).await?;
            self.servers.push(server);
        }
        Ok(())
    }

    /// Server `i`'s resident memory in MiB (Linux: `VmRSS` of `/proc/PID/status`), if known.
    pub fn rss_mib(&self, i: usize) -> Option<f64> {
        let pid = self.servers.get(i)?.pid?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some((kib / 1024.0 * 10.0).round() / 10.0)
    }

    /// Servers that exited on their own so far: (index, exit status).
    pub fn deaths(&self) -> Vec<(usize, String)> {
        self.servers
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.exited.borrow().clone().map(|st| (i, st)))
            .collect()
    }

    /// Fails naming the first server that died.
    pub fn ensure_alive(&self) -> anyhow::Result<()> {
        if let Some((i, status)) = self.deaths().into_iter().next() {
            bail!(
                "server {i} died ({status}); see {}",
                self.servers[i].log.display()
            );
        }
        Ok(())
    }

    /// Every server's log: warning and error lines, and whether it died.
    pub fn log_summaries(&self) -> Vec<LogSummary> {
        let deaths = self.deaths();
        self.servers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut summary = summarise_log(&s.log);
                summary.died = deaths
                    .iter()
                    .find(|(j, _)| *j == i)
                    .map(|(_, st)| st.clone());
                summary
            })
            .collect()
    }

    /// Kills the servers, drops the PostgreSQL database and deletes the SQLite files (unless
    /// `keep_data`); the logs stay.
    pub async fn cleanup(&mut self, keep_data: bool) {
        for server in &mut self.servers {
            if let Some(kill) = server.kill.take() {
                let _ = kill.send(());
            }
            if let Some(task) = server.task.take() {
                let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
            }
        }
        self.cleaned = true;
        if keep_data {
            eprintln!("bench: the database is kept: {}", self.database_shown);
            return;
        }
        if let Some(pg) = self.pg.take()
            && let Err(e) = drop_database(&pg).await
        {
            eprintln!("bench: could not drop the database {}: {e:#}", pg.name);
        }
        remove_sqlite_files(&self.dir);
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        // An early return or a panic: the children die with their tasks (kill_on_drop); the
        // database is dropped from a thread of its own, as Drop cannot await.
        for server in &mut self.servers {
            if let Some(kill) = server.kill.take() {
                let _ = kill.send(());
            }
        }
        if let Some(pg) = self.pg.take() {
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    let _ = rt.block_on(drop_database(&pg));
                }
            })
            .join();
        }
        remove_sqlite_files(&self.dir);
    }
}

fn clear_env(cmd: &mut Command) {
    for var in CLEARED_VARS {
        cmd.env_remove(var);
    }
    // Plain log lines, so they can be counted by level.
    cmd.env("NO_COLOR", "1");
}

/// `url` with its path set to `/name`.
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let mut parsed =
        reqwest::Url::parse(url).with_context(|| "--postgres-url is not a URL".to_string())?;
    parsed.set_path(&format!("/{name}"));
    Ok(parsed.to_string())
}

async fn drop_database(pg: &PgScratch) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&pg.admin_url).await?;
    let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", pg.name);
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut admin)
        .await?;
    admin.close().await.ok();
    Ok(())
}

fn remove_sqlite_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".db") || name.ends_with(".db-wal") || name.ends_with(".db-shm") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Waits for the "listening on http://ADDR" line the server prints once bound.
async fn listening_address(
    child: &mut tokio::process::Child,
    log: &Path,
) -> anyhow::Result<String> {
    let deadline = Instant::now() + STARTUP;
    loop {
        let text = tokio::fs::read_to_string(log).await.unwrap_or_default();
        if let Some(rest) = text.split("listening on http://").nth(1) {
            let addr = rest.split_whitespace().next().unwrap_or_default();
            if !addr.is_empty() {
                return Ok(addr.to_string());
            }
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "`baton serve` exited ({status}) before listening:\n{}",
                tail(&text, 20)
            );
        }
        if Instant::now() > deadline {
            bail!(
                "`baton serve` did not listen within {STARTUP:?}:\n{}",
                tail(&text, 20)
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn wait_ready(client: &reqwest::Client, server: &Server) -> anyhow::Result<()> {
    let deadline = Instant::now() + STARTUP;
    let url = format!("{}/readyz", server.base);
    loop {
        if let Ok(r) = client.get(&url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if let Some(status) = server.exited.borrow().clone() {
            bail!("the server exited ({status}); see {}", server.log.display());
        }
        if Instant::now() > deadline {
            bail!(
                "{url} not ready within {STARTUP:?}; see {}",
                server.log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Most warning and error lines quoted in the report.
const QUOTED_LINES: usize = 5;

fn summarise_log(path: &Path) -> LogSummary {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let mut summary = LogSummary {
        path: path.display().to_string(),
        error_lines: 0,
        warn_lines: 0,
        first: Vec::new(),
        died: None,
    };
    for line in text.lines() {
        let line = strip_ansi(line);
        let (error, warn) = (line.contains(" ERROR "), line.contains(" WARN "));
        summary.error_lines += u64::from(error);
        summary.warn_lines += u64::from(warn);
        if (error || warn) && summary.first.len() < QUOTED_LINES {
            summary.first.push(line.chars().take(300).collect());
        }
    }
    summary
}

/// The line without terminal colour codes (`ESC [ ... m`), in case a child coloured it anyway.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_codes_do_not_hide_levels() {
        assert_eq!(
            strip_ansi("2026-01-01T00:00:00Z \u{1b}[33m WARN\u{1b}[0m baton: slow"),
            "2026-01-01T00:00:00Z  WARN baton: slow"
        );
    }

    #[test]
    fn database_name_replaces_the_path() {
        assert_eq!(
            with_database(
                "postgres://postgres@127.0.0.1:5432/postgres",
                "baton_bench_x"
            )
            .unwrap(),
            "postgres://postgres@127.0.0.1:5432/baton_bench_x"
        );
    }
}
