//! `baton doctor`: checks what a deployment depends on (configuration, the database and its
//! migrations, the clock, SMTP, the public URL) and says what to fix. Exits non-zero when a
//! check fails; warnings do not fail.

use baton_server::Config;
use baton_server::config::redact_url;
use baton_store::Store;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

/// How long a network check may take.
const NETWORK_TIMEOUT: Duration = Duration::from_secs(5);
/// Clock difference with the database that is worth a warning, and one that fails.
const SKEW_WARN_MS: i64 = 1_000;
const SKEW_FAIL_MS: i64 = 5_000;

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    Skip,
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn new(name: &'static str, status: Status, detail: impl Into<String>) -> Check {
        Check {
            name,
            status,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

/// Runs every check and prints them; an error when one failed.
pub async fn run(config: anyhow::Result<Config>, json: bool) -> anyhow::Result<()> {
    let checks = checks(config).await;
    if json {
        let ok = checks.iter().all(|c| c.status != Status::Fail);
        println!("{}", serde_json::json!({ "ok": ok, "checks": checks }));
    } else {
        for c in &checks {
            let tag = match c.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            println!("{tag}  {:<11} {}", c.name, c.detail);
            if let Some(fix) = &c.fix {
                println!("      {:<11} fix: {fix}", "");
            }
        }
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    anyhow::ensure!(failed == 0, "{failed} check(s) failed");
    Ok(())
}

async fn checks(config: anyhow::Result<Config>) -> Vec<Check> {
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            return vec![
                Check::new("config", Status::Fail, format!("{e:#}"))
                    .fix("correct the file or variable named above; nothing else was checked"),
            ];
        }
    };
    let mut out = vec![Check::new(
        "config",
        Status::Ok,
        format!(
            "read; listen {}, database {}",
            config.listen,
            redact_url(&config.database_url())
        ),
    )];
    let store = database(&config, &mut out).await;
    if let Some(store) = &store {
        migrations(store.as_ref(), &mut out).await;
    }
    clock(store.as_deref(), &mut out).await;
    out.push(smtp(&config).await);
    out.push(public_url(&config).await);
    out
}

/// Opens the database without creating or migrating anything.
async fn database(config: &Config, out: &mut Vec<Check>) -> Option<Arc<dyn Store>> {
    let url = config.database_url();
    let shown = redact_url(&url);
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or(path);
        if !std::path::Path::new(path).exists() {
            out.push(
                Check::new(
                    "database",
                    Status::Fail,
                    format!("no database file at {path}"),
                )
                .fix(format!(
                    "check database_url / BATON_DATABASE_URL / data_dir, or create it with \
                         `baton migrate --database {shown}`"
                )),
            );
            return None;
        }
    }
    let options = baton_store::ConnectOptions {
        max_connections: 2,
        create_if_missing: false,
        open_whole_pool: false,
    };
    let opened = tokio::time::timeout(
        Duration::from_secs(15),
        baton_store::connect_with(&url, options),
    )
    .await;
    let store = match opened {
        Ok(Ok(store)) => store,
        Ok(Err(e)) => {
            out.push(
                Check::new(
                    "database",
                    Status::Fail,
                    format!("cannot open {shown}: {e}"),
                )
                .fix(
                    "check the URL, that the database server runs and is reachable from here, \
                     and the user's rights",
                ),
            );
            return None;
        }
        Err(_) => {
            out.push(
                Check::new(
                    "database",
                    Status::Fail,
                    format!("{shown} did not answer within 15 s"),
                )
                .fix("check the host, port and any firewall between here and the database"),
            );
            return None;
        }
    };
    match store.ping().await {
        Ok(()) => {
            out.push(Check::new(
                "database",
                Status::Ok,
                format!("{shown} answers ({:?})", store.backend()),
            ));
            Some(store)
        }
        Err(e) => {
            out.push(
                Check::new(
                    "database",
                    Status::Fail,
                    format!("{shown} does not answer: {e}"),
                )
                .fix("check that the database server runs"),
            );
            None
        }
    }
}

async fn migrations(store: &dyn Store, out: &mut Vec<Check>) {
    let status = match store.migration_status().await {
        Ok(s) => s,
        Err(e) => {
            out.push(Check::new(
                "migrations",
                Status::Fail,
                format!("cannot read the migration table: {e}"),
            ));
            return;
        }
    };
    let list = |v: &[i64]| {
        v.iter()
            .map(|n| format!("{n:04}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let check = if !status.unknown.is_empty() {
        Check::new(
            "migrations",
            Status::Fail,
            format!(
                "the database has migrations this build does not know ({}): it was upgraded by \
                 a newer Baton",
                list(&status.unknown)
            ),
        )
        .fix(
            "run the newer Baton again, or restore the backup taken before the upgrade; an older \
             build must not run on this database",
        )
    } else if !status.failed.is_empty() || !status.changed.is_empty() {
        Check::new(
            "migrations",
            Status::Fail,
            format!(
                "migrations failed part-way ({}) or differ from this build's ({})",
                list(&status.failed),
                list(&status.changed)
            ),
        )
        .fix("restore the backup taken before the upgrade and run the upgrade again")
    } else if !status.pending.is_empty() {
        Check::new(
            "migrations",
            Status::Warn,
            format!(
                "{} applied, {} pending ({}): this build is newer than the database",
                status.applied.len(),
                status.pending.len(),
                list(&status.pending)
            ),
        )
        .fix("take a backup; the next `baton serve` or `baton migrate` applies them")
    } else {
        Check::new(
            "migrations",
            Status::Ok,
            format!(
                "all {} applied (latest {})",
                status.applied.len(),
                list(&status.applied[status.applied.len().saturating_sub(1)..])
            ),
        )
    };
    out.push(check);
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

async fn clock(store: Option<&dyn Store>, out: &mut Vec<Check>) {
    let now = now_ms();
    // 2024-01-01: anything earlier is a clock that was never set.
    if now < 1_704_067_200_000 {
        out.push(
            Check::new("clock", Status::Fail, "this machine's clock is before 2024")
                .fix("set the clock (enable NTP: timedatectl set-ntp true)"),
        );
        return;
    }
    let Some(store) = store else {
        out.push(Check::new(
            "clock",
            Status::Skip,
            "no database to compare with",
        ));
        return;
    };
    let mut notes = Vec::new();
    match store.database_now().await {
        Ok(Some(db)) => {
            let skew = now - db.millis();
            let detail = format!("{skew} ms ahead of the database server");
            if skew.abs() >= SKEW_FAIL_MS {
                out.push(Check::new("clock", Status::Fail, detail).fix(
                    "synchronise the clocks of every Baton instance and the database (NTP): \
                         offers, timers and routing leases are timed in the database",
                ));
                return;
            }
            if skew.abs() >= SKEW_WARN_MS {
                out.push(
                    Check::new("clock", Status::Warn, detail).fix("synchronise the clocks (NTP)"),
                );
                return;
            }
            notes.push(detail);
        }
        Ok(None) => {}
        Err(e) => notes.push(format!("cannot read the database's clock: {e}")),
    }
    match store.newest_event_at().await {
        Ok(Some(at)) if at.millis() > now + SKEW_FAIL_MS => {
            out.push(
                Check::new(
                    "clock",
                    Status::Fail,
                    format!(
                        "the newest event was written {} s in this machine's future",
                        (at.millis() - now) / 1000
                    ),
                )
                .fix("this clock is behind the one that wrote the log: synchronise it (NTP)"),
            );
            return;
        }
        Ok(_) => notes.push("the newest event is not in the future".into()),
        Err(e) => notes.push(format!("cannot read the newest event: {e}")),
    }
    out.push(Check::new("clock", Status::Ok, notes.join("; ")));
}

async fn smtp(config: &Config) -> Check {
    let Some(smtp) = &config.smtp else {
        return Check::new(
            "smtp",
            Status::Skip,
            "not configured: no email is sent (handoff notices, replies to deferred \
             conversations, transcripts)",
        );
    };
    let address = format!("{}:{}", smtp.host.trim(), smtp.effective_port());
    let connected =
        tokio::time::timeout(NETWORK_TIMEOUT, tokio::net::TcpStream::connect(&address)).await;
    let stream = match connected {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return Check::new("smtp", Status::Fail, format!("cannot connect to {address}: {e}"))
                .fix("check [smtp] host and port (BATON_SMTP_HOST, BATON_SMTP_PORT) and that the server accepts connections from here");
        }
        Err(_) => {
            return Check::new(
                "smtp",
                Status::Fail,
                format!("{address} did not answer within 5 s"),
            )
            .fix("check the host, the port and any firewall");
        }
    };
    if smtp.security == baton_channels::email::Security::Tls {
        return Check::new(
            "smtp",
            Status::Ok,
            format!("{address} accepts connections (TLS from the first byte: greeting not read)"),
        );
    }
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(stream);
    match tokio::time::timeout(NETWORK_TIMEOUT, reader.read_line(&mut line)).await {
        Ok(Ok(_)) if line.starts_with("220") => Check::new(
            "smtp",
            Status::Ok,
            format!("{address} greets: {}", line.trim()),
        ),
        Ok(Ok(_)) => Check::new(
            "smtp",
            Status::Fail,
            format!(
                "{address} does not greet like an SMTP server: {:?}",
                line.trim()
            ),
        )
        .fix("check the port: is an SMTP server listening there?"),
        Ok(Err(e)) => Check::new("smtp", Status::Fail, format!("{address}: {e}")),
        Err(_) => Check::new(
            "smtp",
            Status::Fail,
            format!("{address} accepted the connection but sent no greeting within 5 s"),
        )
        .fix("check the port and security ([smtp] security = \"tls\" for port 465)"),
    }
}

async fn public_url(config: &Config) -> Check {
    let Some(url) = &config.public_url else {
        return Check::new(
            "public_url",
            Status::Warn,
            format!(
                "not set: links in emails and notifications point at http://{}",
                config.listen
            ),
        )
        .fix("set public_url (BATON_PUBLIC_URL) to the address people reach Baton at, e.g. https://baton.example.com");
    };
    let parsed = match reqwest::Url::parse(url) {
        Ok(u) if u.host_str().is_some() => u,
        _ => {
            return Check::new("public_url", Status::Fail, format!("{url:?} is not a URL"))
                .fix("e.g. public_url = \"https://baton.example.com\"");
        }
    };
    let host = parsed.host_str().unwrap_or_default().to_string();
    let local = host == "localhost" || host.starts_with("127.") || host == "[::1]";
    let port = parsed.port_or_known_default().unwrap_or(80);
    let reach = tokio::time::timeout(
        NETWORK_TIMEOUT,
        tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port)),
    )
    .await;
    let reachable = matches!(reach, Ok(Ok(_)));
    if parsed.scheme() == "http" && !local {
        return Check::new(
            "public_url",
            Status::Warn,
            format!("{url} is plain http: session tokens and customer messages cross the network unencrypted"),
        )
        .fix("put Baton behind a TLS-terminating proxy and use its https:// address");
    }
    if !reachable {
        return Check::new(
            "public_url",
            Status::Warn,
            format!("{url}: nothing answers at {host}:{port} from this machine"),
        )
        .fix("check DNS and the reverse proxy (it may only be reachable from outside)");
    }
    Check::new(
        "public_url",
        Status::Ok,
        format!("{url} ({host}:{port} accepts connections)"),
    )
}
