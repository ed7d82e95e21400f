//! Configuration: defaults, then a TOML file, then `BATON_*` environment variables.

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
    /// Login session lifetime in hours. `BATON_SESSION_TTL_HOURS`.
    pub session_ttl_hours: u32,
    /// Log filter (tracing `EnvFilter` syntax). `BATON_LOG`.
    pub log: String,
    /// An available or busy agent whose live connection to this instance has been gone this
    /// long is set `away` (their offers go to others). `BATON_STALE_PRESENCE_SECS`.
    pub stale_presence_secs: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            database_url: None,
            data_dir: PathBuf::from("data"),
            session_ttl_hours: 12,
            log: "info".into(),
            stale_presence_secs: 120,
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
            .field("session_ttl_hours", &self.session_ttl_hours)
            .field("log", &self.log)
            .field("stale_presence_secs", &self.stale_presence_secs)
            .finish()
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
                _ => {}
            }
        }
        Ok(config)
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
    }
}
