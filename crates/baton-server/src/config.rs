//! Configuration: defaults, then a TOML file, then `BATON_*` environment variables.

use baton_channels::email::{Security, SmtpConfig};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// Everything `baton serve` can be told.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on. `BATON_LISTEN`.
    pub listen: String,
    /// `sqlite://PATH` or `postgres://...`. Default: `baton.db` in `data_dir`.
    /// `BATON_DATABASE_URL`.
    pub database_url: Option<String>,
    /// Where the embedded database lives. `BATON_DATA_DIR`.
    pub data_dir: PathBuf,
    /// Connections in the database pool; unset: 8 on SQLite (readers beside its one writer),
    /// 16 on PostgreSQL. `BATON_DATABASE_POOL_SIZE`.
    pub database_pool_size: Option<u32>,
    /// Login session lifetime in hours. `BATON_SESSION_TTL_HOURS`.
    pub session_ttl_hours: u32,
    /// Log filter (tracing `EnvFilter` syntax). `BATON_LOG`.
    pub log: String,
    /// An available or busy agent whose live connection to this instance has been gone this
    /// long is set `away` (their offers go to others). `BATON_STALE_PRESENCE_SECS`.
    pub stale_presence_secs: u32,
    /// An agent whose live connection to this instance has been gone this long is set
    /// `offline` (from `available`, `busy` or `away`); 0 never does. Longer than
    /// `stale_presence_secs`. `BATON_OFFLINE_PRESENCE_SECS`.
    pub offline_presence_secs: u32,
    /// The address people reach this instance at, e.g. `https://baton.example.com`: links in
    /// emails point there. Default: `http://` and the listen address. `BATON_PUBLIC_URL`.
    pub public_url: Option<String>,
    /// The SMTP server for email (handoff notifications, replies to deferred conversations,
    /// transcripts): the `[smtp]` table, or `BATON_SMTP_HOST`, `BATON_SMTP_PORT`,
    /// `BATON_SMTP_SECURITY` (`none` | `starttls` | `tls`), `BATON_SMTP_USERNAME`,
    /// `BATON_SMTP_PASSWORD` and `BATON_SMTP_FROM`. No email is sent without it.
    pub smtp: Option<SmtpConfig>,
    /// Conversations one client (the public key and the client's address) may start through
    /// the widget per minute, after a burst of `widget_starts_burst`; 0 turns the limit off.
    /// `BATON_WIDGET_STARTS_PER_MINUTE`.
    pub widget_starts_per_minute: u32,
    /// How many widget starts a client may make at once. `BATON_WIDGET_STARTS_BURST`.
    pub widget_starts_burst: u32,
    /// A header carrying the client's address, set by a reverse proxy every request passes
    /// through (`X-Forwarded-For`, `X-Real-IP`...). Unset: the TCP peer's address is used.
    /// `BATON_CLIENT_IP_HEADER`.
    pub client_ip_header: Option<String>,
    /// Lets outbound requests (webhooks, Slack/Teams, the webhook and LLM bots, the WhatsApp
    /// API) reach loopback, private, link-local and other internal addresses. Off by default:
    /// turn it on only for development or a trusted internal network.
    /// `BATON_ALLOW_PRIVATE_TARGETS` (`true`/`false`).
    pub allow_private_targets: bool,
    /// A bearer token `/metrics` asks for; unset, `/metrics` is open to whoever reaches it.
    /// `BATON_METRICS_TOKEN`.
    pub metrics_token: Option<String>,
    /// Label the queue gauges of `/metrics` by tenant id and queue (off: one sum over all).
    /// `BATON_METRICS_PER_TENANT`.
    pub metrics_per_tenant: bool,
    /// Seconds a client has to send a request's headers; also the longest idle keep-alive.
    /// `BATON_HEADER_READ_TIMEOUT_SECS`.
    pub header_read_timeout_secs: u32,
    /// Longest pause, in seconds, within a request body before `408`.
    /// `BATON_BODY_READ_TIMEOUT_SECS`.
    pub body_read_timeout_secs: u32,
    /// Connections served at once; more wait in the kernel's queue. Keep it below the
    /// process's open-file limit (`ulimit -n`). `BATON_MAX_CONNECTIONS`.
    pub max_connections: u32,
    /// Largest file (image or PDF) a customer or agent may attach, in bytes; 10 MiB by
    /// default. `BATON_MAX_ATTACHMENT_BYTES`.
    pub max_attachment_bytes: u32,
    /// How long finished data is kept: the `[retention]` table, or `BATON_RETENTION_*`
    /// variables (see [`crate::retention::RetentionConfig`]).
    pub retention: crate::retention::RetentionConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            database_url: None,
            data_dir: PathBuf::from("data"),
            database_pool_size: None,
            session_ttl_hours: 12,
            log: "info".into(),
            stale_presence_secs: 120,
            offline_presence_secs: 1800,
            public_url: None,
            smtp: None,
            widget_starts_per_minute: crate::rate_limit::DEFAULT_PER_MINUTE,
            widget_starts_burst: crate::rate_limit::DEFAULT_BURST,
            client_ip_header: None,
            allow_private_targets: false,
            metrics_token: None,
            metrics_per_tenant: false,
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 10,
            max_connections: 900,
            max_attachment_bytes: crate::routes::attachments::DEFAULT_MAX_ATTACHMENT_BYTES as u32,
            retention: Default::default(),
        }
    }
}

// The database URL may hold a password: never print it.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("data_dir", &self.data_dir)
            .field("database_pool_size", &self.database_pool_size)
            .field("session_ttl_hours", &self.session_ttl_hours)
            .field("log", &self.log)
            .field("stale_presence_secs", &self.stale_presence_secs)
            .field("offline_presence_secs", &self.offline_presence_secs)
            .field("public_url", &self.public_url)
            // SmtpConfig's Debug hides the password.
            .field("smtp", &self.smtp)
            .field("widget_starts_per_minute", &self.widget_starts_per_minute)
            .field("widget_starts_burst", &self.widget_starts_burst)
            .field("client_ip_header", &self.client_ip_header)
            .field("allow_private_targets", &self.allow_private_targets)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "***"))
            .field("metrics_per_tenant", &self.metrics_per_tenant)
            .field("header_read_timeout_secs", &self.header_read_timeout_secs)
            .field("body_read_timeout_secs", &self.body_read_timeout_secs)
            .field("max_connections", &self.max_connections)
            .field("max_attachment_bytes", &self.max_attachment_bytes)
            .field("retention", &self.retention)
            .finish()
    }
}

/// An `[smtp]` table to fill from `BATON_SMTP_*` variables when the file has none; `validate`
/// then says what is still missing.
fn empty_smtp() -> SmtpConfig {
    SmtpConfig {
        host: String::new(),
        port: None,
        security: Security::default(),
        username: None,
        password: None,
        from: String::new(),
    }
}

/// Applies one `BATON_SMTP_*` variable.
fn smtp_env(smtp: &mut SmtpConfig, name: &str, value: String) -> Result<(), ConfigError> {
    let env_error = |message: String| ConfigError::Env {
        name: name.to_string(),
        message,
    };
    match name {
        "BATON_SMTP_HOST" => smtp.host = value,
        "BATON_SMTP_PORT" => {
            smtp.port = Some(
                value
                    .parse()
                    .map_err(|_| env_error(format!("'{value}' is not a port number (1-65535)")))?,
            )
        }
        "BATON_SMTP_SECURITY" => {
            smtp.security = match value.to_ascii_lowercase().as_str() {
                "none" => Security::None,
                "starttls" | "start_tls" => Security::StartTls,
                "tls" => Security::Tls,
                _ => {
                    return Err(env_error(format!(
                        "'{value}' is not one of none, starttls, tls"
                    )));
                }
            }
        }
        "BATON_SMTP_USERNAME" => smtp.username = Some(value),
        "BATON_SMTP_PASSWORD" => smtp.password = Some(value),
        "BATON_SMTP_FROM" => smtp.from = value,
        _ => {
            return Err(env_error(
                "unknown SMTP setting: use BATON_SMTP_HOST, _PORT, _SECURITY, _USERNAME, \
                 _PASSWORD or _FROM"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// A `true`/`false` variable (also `1`/`0`, `yes`/`no`, `on`/`off`).
fn env_bool(name: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(ConfigError::Env {
            name: name.to_string(),
            message: format!("'{value}' is not true or false"),
        }),
    }
}

/// A URL with any password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Why configuration could not be loaded, with what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for Baton.
    #[error("config file {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        message: String,
    },
    /// An environment variable has a bad value.
    #[error("environment variable {name} is invalid: {message}")]
    Env {
        /// The variable.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The SMTP settings are incomplete or wrong.
    #[error(
        "the SMTP configuration ([smtp] in the config file, BATON_SMTP_* variables) is invalid: {0}"
    )]
    Smtp(String),
    /// `client_ip_header` is not a header name.
    #[error(
        "client_ip_header (BATON_CLIENT_IP_HEADER) {0:?} is not an HTTP header name, e.g. X-Forwarded-For"
    )]
    ClientIpHeader(String),
    /// `offline_presence_secs` is not longer than `stale_presence_secs`.
    #[error(
        "offline_presence_secs (BATON_OFFLINE_PRESENCE_SECS) {offline} must be 0 (never) or longer than stale_presence_secs ({stale})"
    )]
    OfflinePresence {
        /// The offline delay.
        offline: u32,
        /// The away delay.
        stale: u32,
    },
    /// `public_url` is not an http(s) URL.
    #[error(
        "public_url (BATON_PUBLIC_URL) {0:?} must be an http:// or https:// URL, e.g. https://baton.example.com"
    )]
    PublicUrl(String),
    /// A `[retention]` setting is out of range.
    #[error("{0} ([retention] in the config file, BATON_RETENTION_* variables)")]
    Retention(String),
}

impl Config {
    /// Loads defaults, then `file` (if given), then variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?
            }
            None => Config::default(),
        };
        for (name, value) in env {
            match name.as_str() {
                "BATON_LISTEN" => config.listen = value,
                "BATON_DATABASE_URL" => config.database_url = Some(value),
                "BATON_DATA_DIR" => config.data_dir = PathBuf::from(value),
                "BATON_DATABASE_POOL_SIZE" => {
                    config.database_pool_size = Some(
                        value
                            .parse()
                            .ok()
                            .filter(|n| (1..=1000).contains(n))
                            .ok_or_else(|| ConfigError::Env {
                                name,
                                message: format!(
                                    "'{value}' is not a number of connections from 1 to 1000"
                                ),
                            })?,
                    )
                }
                "BATON_LOG" => config.log = value,
                "BATON_SESSION_TTL_HOURS" => {
                    config.session_ttl_hours = value.parse().map_err(|_| ConfigError::Env {
                        name,
                        message: format!("'{value}' is not a whole number of hours"),
                    })?
                }
                "BATON_STALE_PRESENCE_SECS" => {
                    config.stale_presence_secs = value.parse().map_err(|_| ConfigError::Env {
                        name,
                        message: format!("'{value}' is not a whole number of seconds"),
                    })?
                }
                "BATON_OFFLINE_PRESENCE_SECS" => {
                    config.offline_presence_secs =
                        value.parse().map_err(|_| ConfigError::Env {
                            name,
                            message: format!(
                                "'{value}' is not a whole number of seconds (0: never)"
                            ),
                        })?
                }
                "BATON_PUBLIC_URL" => config.public_url = Some(value),
                "BATON_WIDGET_STARTS_PER_MINUTE" => {
                    config.widget_starts_per_minute =
                        value.parse().map_err(|_| ConfigError::Env {
                            name,
                            message: format!(
                                "'{value}' is not a whole number of starts per minute (0 turns the limit off)"
                            ),
                        })?
                }
                "BATON_WIDGET_STARTS_BURST" => {
                    config.widget_starts_burst = value.parse().map_err(|_| ConfigError::Env {
                        name,
                        message: format!("'{value}' is not a whole number of starts"),
                    })?
                }
                "BATON_CLIENT_IP_HEADER" => {
                    config.client_ip_header = Some(value).filter(|v| !v.trim().is_empty())
                }
                "BATON_ALLOW_PRIVATE_TARGETS" => {
                    config.allow_private_targets = env_bool(&name, &value)?
                }
                "BATON_METRICS_PER_TENANT" => {
                    config.metrics_per_tenant = env_bool(&name, &value)?
                }
                "BATON_HEADER_READ_TIMEOUT_SECS"
                | "BATON_BODY_READ_TIMEOUT_SECS"
                | "BATON_MAX_CONNECTIONS"
                | "BATON_MAX_ATTACHMENT_BYTES" => {
                    let n: u32 = value
                        .parse()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| ConfigError::Env {
                            name: name.clone(),
                            message: format!("'{value}' is not a whole number from 1"),
                        })?;
                    match name.as_str() {
                        "BATON_HEADER_READ_TIMEOUT_SECS" => config.header_read_timeout_secs = n,
                        "BATON_BODY_READ_TIMEOUT_SECS" => config.body_read_timeout_secs = n,
                        "BATON_MAX_ATTACHMENT_BYTES" => config.max_attachment_bytes = n,
                        _ => config.max_connections = n,
                    }
                }
                "BATON_METRICS_TOKEN" => {
                    config.metrics_token = Some(value).filter(|v| !v.trim().is_empty())
                }
                retention if retention.starts_with("BATON_RETENTION_") => {
                    let known = config
                        .retention
                        .set_env(retention, &value)
                        .map_err(|message| ConfigError::Env {
                            name: name.clone(),
                            message,
                        })?;
                    if !known {
                        return Err(ConfigError::Env {
                            name,
                            message: "unknown retention setting: use BATON_RETENTION_DELIVERIES_DAYS, \
                                      _IDEMPOTENCY_HOURS, _EXPIRED_SESSIONS_DAYS, \
                                      _CLOSED_CONVERSATIONS_DAYS, _INTERVAL_SECS or _BATCH"
                                .into(),
                        });
                    }
                }
                smtp if smtp.starts_with("BATON_SMTP_") => {
                    let target = config.smtp.get_or_insert_with(empty_smtp);
                    smtp_env(target, &name, value)?;
                }
                _ => {}
            }
        }
        if let Some(smtp) = &config.smtp {
            smtp.validate()
                .map_err(|e| ConfigError::Smtp(e.to_string()))?;
        }
        if let Some(url) = &config.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::PublicUrl(url.clone()));
        }
        if config.offline_presence_secs != 0
            && config.offline_presence_secs <= config.stale_presence_secs
        {
            return Err(ConfigError::OfflinePresence {
                offline: config.offline_presence_secs,
                stale: config.stale_presence_secs,
            });
        }
        config.client_ip_header()?;
        if let Some(problem) = config.retention.problem() {
            return Err(ConfigError::Retention(problem));
        }
        Ok(config)
    }

    /// The trusted client address header, parsed.
    pub fn client_ip_header(&self) -> Result<Option<axum::http::HeaderName>, ConfigError> {
        self.client_ip_header
            .as_deref()
            .map(|h| {
                axum::http::HeaderName::from_bytes(h.trim().as_bytes())
                    .map_err(|_| ConfigError::ClientIpHeader(h.to_string()))
            })
            .transpose()
    }

    /// The listener's limits these settings ask for (0 in the file counts as 1).
    pub fn limits(&self) -> crate::listen::Limits {
        let secs = |n: u32| std::time::Duration::from_secs(u64::from(n.max(1)));
        crate::listen::Limits {
            header_read_timeout: secs(self.header_read_timeout_secs),
            body_read_timeout: secs(self.body_read_timeout_secs),
            max_connections: self.max_connections.max(1) as usize,
        }
    }

    /// The widget's start limit these settings ask for.
    pub fn widget_limit(&self) -> Result<crate::rate_limit::WidgetLimit, ConfigError> {
        Ok(crate::rate_limit::WidgetLimit::new(
            self.widget_starts_per_minute,
            self.widget_starts_burst,
            self.client_ip_header()?,
        ))
    }

    /// The mailer for the `[smtp]` settings, when there are any (nothing connects yet).
    pub fn mailer(&self) -> Result<Option<baton_channels::email::Mailer>, ConfigError> {
        self.smtp
            .clone()
            .map(baton_channels::email::Mailer::new)
            .transpose()
            .map_err(|e| ConfigError::Smtp(e.to_string()))
    }

    /// The database URL to use: the configured one, or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("baton.db").display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The commented example at the repository's root: as shipped it states the defaults, and
    /// every commented-out setting in it is a real key with a valid value.
    #[test]
    fn the_example_file_parses_and_states_the_defaults() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../baton.example.toml");
        let config = Config::load(Some(&example), []).unwrap();
        assert_eq!(format!("{config:?}"), format!("{:?}", Config::default()));

        let uncommented: String = std::fs::read_to_string(&example)
            .unwrap()
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest)
                    if rest == "[smtp]"
                        || rest.split_once(" = ").is_some_and(|(key, _)| {
                            key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                        }) =>
                {
                    rest.to_string()
                }
                _ => line.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let dir = std::env::temp_dir().join(format!("baton-config-example-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("baton.toml");
        std::fs::write(&file, &uncommented).unwrap();
        let config = Config::load(Some(&file), []).unwrap();
        assert!(
            config.database_url().starts_with("postgres://"),
            "{uncommented}"
        );
        assert_eq!(config.database_pool_size, Some(16));
        assert!(config.public_url.is_some() && config.metrics_token.is_some());
        assert_eq!(config.client_ip_header.as_deref(), Some("X-Forwarded-For"));
        let smtp = config.smtp.expect("the [smtp] example");
        assert_eq!(smtp.host, "smtp.example.com");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn env_overrides_file_and_secrets_do_not_print() {
        let dir = std::env::temp_dir().join(format!("baton-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("baton.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\ndatabase_url = \"postgres://u:secret@db/baton\"\n",
        )
        .unwrap();
        let config =
            Config::load(Some(&file), [("BATON_LISTEN".into(), "127.0.0.1:1".into())]).unwrap();
        assert_eq!(config.listen, "127.0.0.1:1");
        assert_eq!(config.database_url(), "postgres://u:secret@db/baton");
        let printed = format!("{config:?}");
        assert!(!printed.contains("secret"), "{printed}");
        assert!(printed.contains("u:***@db"), "{printed}");
    }

    #[test]
    fn bad_file_and_env_say_what_to_fix() {
        let dir = std::env::temp_dir().join(format!("baton-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.toml");
        std::fs::write(&file, "listen = 12\n").unwrap();
        let err = Config::load(Some(&file), []).unwrap_err().to_string();
        assert!(err.contains("bad.toml") && err.contains("listen"), "{err}");
        let err = Config::load(None, [("BATON_SESSION_TTL_HOURS".into(), "soon".into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("BATON_SESSION_TTL_HOURS"), "{err}");
        let missing = Config::load(Some(&dir.join("nope.toml")), [])
            .unwrap_err()
            .to_string();
        assert!(missing.contains("nope.toml"), "{missing}");
        assert_eq!(Config::default().database_url(), "sqlite://data/baton.db");
        let pool = |v: &str| Config::load(None, [("BATON_DATABASE_POOL_SIZE".into(), v.into())]);
        assert_eq!(pool("32").unwrap().database_pool_size, Some(32));
        for bad in ["0", "many", "5000"] {
            let err = pool(bad).unwrap_err().to_string();
            assert!(
                err.contains("BATON_DATABASE_POOL_SIZE") && err.contains("1 to 1000"),
                "{err}"
            );
        }
    }

    #[test]
    fn smtp_from_file_and_env_with_the_password_hidden() {
        let dir = std::env::temp_dir().join(format!("baton-config-smtp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("smtp.toml");
        std::fs::write(
            &file,
            "[smtp]\nhost = \"smtp.example.com\"\nfrom = \"Acme <support@example.com>\"\n",
        )
        .unwrap();
        let config = Config::load(
            Some(&file),
            [
                ("BATON_SMTP_PORT".into(), "2525".into()),
                ("BATON_SMTP_SECURITY".into(), "tls".into()),
                ("BATON_SMTP_USERNAME".into(), "baton".into()),
                ("BATON_SMTP_PASSWORD".into(), "hunter2".into()),
            ],
        )
        .unwrap();
        let smtp = config.smtp.clone().unwrap();
        assert_eq!(smtp.host, "smtp.example.com");
        assert_eq!(smtp.port, Some(2525));
        assert_eq!(smtp.security, Security::Tls);
        assert!(!format!("{config:?}").contains("hunter2"));

        // Variables alone are enough, and what is missing is named.
        let only_env = Config::load(
            None,
            [
                ("BATON_SMTP_HOST".into(), "127.0.0.1".into()),
                ("BATON_SMTP_SECURITY".into(), "none".into()),
                ("BATON_SMTP_FROM".into(), "support@example.com".into()),
            ],
        )
        .unwrap();
        assert_eq!(only_env.smtp.unwrap().effective_port(), 25);
        let err = Config::load(None, [("BATON_SMTP_HOST".into(), "mail".into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("SMTP") && err.contains("smtp.from"), "{err}");
        let err = Config::load(None, [("BATON_SMTP_SECURITY".into(), "ssl".into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("BATON_SMTP_SECURITY"), "{err}");
        std::fs::write(
            &file,
            "[smtp]\nhost = \"m\"\nfrom = \"a@b.c\"\nsecure = true\n",
        )
        .unwrap();
        let err = Config::load(Some(&file), []).unwrap_err().to_string();
        assert!(err.contains("secure"), "{err}");
        let err = Config::load(None, [("BATON_PUBLIC_URL".into(), "baton.example".into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("public_url"), "{err}");
    }

    #[test]
    fn private_targets_are_refused_unless_allowed() {
        assert!(!Config::load(None, []).unwrap().allow_private_targets);
        let allow =
            |v: &str| Config::load(None, [("BATON_ALLOW_PRIVATE_TARGETS".into(), v.into())]);
        assert!(allow("true").unwrap().allow_private_targets);
        assert!(!allow("false").unwrap().allow_private_targets);
        let err = allow("maybe").unwrap_err().to_string();
        assert!(err.contains("BATON_ALLOW_PRIVATE_TARGETS"), "{err}");
        let config = Config::load(
            None,
            [
                ("BATON_METRICS_TOKEN".into(), "m3trics".into()),
                ("BATON_METRICS_PER_TENANT".into(), "true".into()),
            ],
        )
        .unwrap();
        assert_eq!(config.metrics_token.as_deref(), Some("m3trics"));
        let limits = Config::load(None, [("BATON_MAX_CONNECTIONS".into(), "64".into())])
            .unwrap()
            .limits();
        assert_eq!(limits.max_connections, 64);
        assert_eq!(limits.header_read_timeout.as_secs(), 10);
        assert!(Config::load(None, [("BATON_BODY_READ_TIMEOUT_SECS".into(), "0".into())]).is_err());
        assert!(config.metrics_per_tenant);
        assert!(!format!("{config:?}").contains("m3trics"));
    }

    #[test]
    fn offline_presence_is_longer_than_stale_presence() {
        let config = Config::load(None, []).unwrap();
        assert_eq!(
            (config.stale_presence_secs, config.offline_presence_secs),
            (120, 1800)
        );
        let env = |v: &str| [("BATON_OFFLINE_PRESENCE_SECS".to_string(), v.to_string())];
        assert_eq!(
            Config::load(None, env("0")).unwrap().offline_presence_secs,
            0
        );
        let err = Config::load(None, env("60")).unwrap_err().to_string();
        assert!(err.contains("longer than stale_presence_secs"), "{err}");
        assert!(Config::load(None, env("soon")).is_err());
    }

    #[test]
    fn widget_rate_limit_settings() {
        let config = Config::load(None, []).unwrap();
        assert_eq!(config.widget_starts_per_minute, 20);
        assert_eq!(config.widget_starts_burst, 10);
        assert_eq!(config.client_ip_header, None);
        let dir = std::env::temp_dir().join(format!("baton-config-rl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("rl.toml");
        std::fs::write(
            &file,
            "widget_starts_per_minute = 5\nclient_ip_header = \"X-Forwarded-For\"\n",
        )
        .unwrap();
        let config = Config::load(
            Some(&file),
            [("BATON_WIDGET_STARTS_BURST".into(), "2".into())],
        )
        .unwrap();
        assert_eq!(config.widget_starts_per_minute, 5);
        assert_eq!(config.widget_starts_burst, 2);
        assert_eq!(
            config.client_ip_header().unwrap().unwrap().as_str(),
            "x-forwarded-for"
        );
        let err = Config::load(
            None,
            [("BATON_WIDGET_STARTS_PER_MINUTE".into(), "lots".into())],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("BATON_WIDGET_STARTS_PER_MINUTE"), "{err}");
        let err = Config::load(
            None,
            [("BATON_CLIENT_IP_HEADER".into(), "X Real IP".into())],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("client_ip_header"), "{err}");
    }

    #[test]
    fn retention_defaults_file_and_variables() {
        let defaults = Config::load(None, Vec::new()).unwrap().retention.policy();
        assert_eq!(defaults.deliveries_ms, Some(30 * 86_400_000));
        assert_eq!(defaults.idempotency_ms, Some(48 * 3_600_000));
        assert_eq!(defaults.expired_sessions_ms, Some(7 * 86_400_000));
        assert_eq!(
            defaults.closed_conversations_ms, None,
            "kept forever by default"
        );

        let dir = std::env::temp_dir().join(format!("baton-retention-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("baton.toml");
        std::fs::write(
            &file,
            "[retention]\ndeliveries_days = 0\nclosed_conversations_days = 90\n",
        )
        .unwrap();
        let env = vec![(
            "BATON_RETENTION_IDEMPOTENCY_HOURS".to_string(),
            "6".to_string(),
        )];
        let config = Config::load(Some(&file), env).unwrap();
        let policy = config.retention.policy();
        assert_eq!(policy.deliveries_ms, None, "0 keeps forever");
        assert_eq!(policy.closed_conversations_ms, Some(90 * 86_400_000));
        assert_eq!(policy.idempotency_ms, Some(6 * 3_600_000));

        for (name, value, says) in [
            ("BATON_RETENTION_BATCH", "0", "retention.batch"),
            (
                "BATON_RETENTION_DELIVERIES_DAYS",
                "soon",
                "BATON_RETENTION_DELIVERIES_DAYS",
            ),
            ("BATON_RETENTION_FOREVER", "1", "unknown retention setting"),
        ] {
            let err = Config::load(None, vec![(name.to_string(), value.to_string())])
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{name}={value}: {err}");
        }
        std::fs::write(&file, "[retention]\nkeep_everything = true\n").unwrap();
        let err = Config::load(Some(&file), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("keep_everything"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
