//! `baton serve`: open the store, bind, serve until Ctrl-C or SIGTERM.

use anyhow::Context;
use baton_server::config::redact_url;
use baton_server::{AppState, Config};
use baton_store::Store;
use std::sync::Arc;

/// Sets up logging to stderr: colours only on a terminal (and never with `NO_COLOR` set), and
/// PostgreSQL's notices ("relation ... already exists, skipping" while migrating) at `warn`
/// unless the filter names sqlx itself.
pub fn init_tracing(filter: &str) {
    use std::io::IsTerminal;
    let mut env_filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if !filter.contains("sqlx") {
        env_filter = env_filter.add_directive(
            "sqlx::postgres::notice=warn"
                .parse()
                .expect("a valid directive"),
        );
    }
    let colours = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_ansi(colours)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Connects to the configured database and applies migrations, explaining failures.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    open_store_quietly(config, false).await
}

/// [`open_store`], saying which database it opens unless `quiet` (output meant for scripts).
pub async fn open_store_quietly(config: &Config, quiet: bool) -> anyhow::Result<Arc<dyn Store>> {
    let url = config.database_url();
    let shown = redact_url(&url);
    if !quiet {
        eprintln!("baton: opening database {shown}");
    }
    let defaults = baton_store::ConnectOptions::default();
    let options = baton_store::ConnectOptions {
        max_connections: config
            .database_pool_size
            .unwrap_or(if url.starts_with("sqlite:") {
                defaults.max_connections
            } else {
                16
            }),
        open_whole_pool: true,
        ..defaults
    };
    let store = baton_store::connect_with(&url, options).await.with_context(|| {
        format!("cannot open the database {shown}; check --database / BATON_DATABASE_URL and that the server is running")
    })?;
    store
        .migrate()
        .await
        .with_context(|| format!("cannot migrate the database {shown}"))?;
    Ok(store)
}

/// Binds and serves; prints `banner` once listening.
pub async fn run(
    config: Config,
    store: Arc<dyn Store>,
    banner: Option<String>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&config.listen).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow::anyhow!(
                "cannot listen on {}: the port is in use; stop the other process or pass --listen 127.0.0.1:PORT",
                config.listen
            )
        } else {
            anyhow::anyhow!("cannot listen on {}: {e}", config.listen)
        }
    })?;
    let addr = listener.local_addr()?;
    let mut state = AppState::new(store);
    state.session_ttl_ms = i64::from(config.session_ttl_hours) * 3600 * 1000;
    state.stale_presence_ms = i64::from(config.stale_presence_secs) * 1000;
    state.offline_presence_ms = i64::from(config.offline_presence_secs) * 1000;
    state.public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_string();
    state.mailer = config.mailer()?;
    state.widget_limit = std::sync::Arc::new(config.widget_limit()?);
    state.allow_private_targets(config.allow_private_targets);
    state.metrics_token = config.metrics_token.clone();
    state.limits = config.limits();
    state.max_attachment_bytes = config.max_attachment_bytes.max(1) as usize;
    state.pruning = Some(baton_server::retention::Pruning::from(&config.retention));
    state.metrics = std::sync::Arc::new(baton_server::Metrics::with_tenant_labels(
        config.metrics_per_tenant,
    ));
    if config.allow_private_targets {
        eprintln!(
            "baton: allow_private_targets is on: webhooks, bots and channels may reach internal addresses"
        );
    }
    if let Some(mailer) = &state.mailer {
        eprintln!("baton: email through {mailer:?}");
    }
    if let Some(banner) = banner {
        println!("{}", banner.replace("{base}", &format!("http://{addr}")));
    }
    let shutdown = shutdown_signal();
    eprintln!("baton: listening on http://{addr} (API under /v1, description at /openapi.json)");
    baton_server::serve(listener, state, shutdown).await?;
    eprintln!("baton: stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled: a signal sent once "listening" is printed stops the server cleanly
/// instead of killing it with the signal's default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        let terminate = signal(SignalKind::terminate()).ok();
        let interrupt = signal(SignalKind::interrupt()).ok();
        async fn received(signal: Option<Signal>) {
            match signal {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        async move {
            tokio::select! { _ = received(terminate) => {}, _ = received(interrupt) => {} }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
