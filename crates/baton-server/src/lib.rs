//! Baton's HTTP and WebSocket server.
//!
//! Handlers are thin: parse and validate (extractors and `dto`), authorize (`auth`), call the
//! engine (`baton_engine`), map errors once (`error`). The server starts from a bound listener and
//! a shutdown future, so tests run many instances on port 0 side by side.

pub mod auth;
pub mod config;
pub mod contract;
pub mod deliveries;
pub mod dto;
pub mod error;
mod idempotency;
mod input;
pub mod listen;
mod metrics;
pub mod presence;
pub mod rate_limit;
pub mod retention;
mod routes;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use baton_store::Store;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use config::Config;
pub use metrics::Metrics;
pub use routes::widget::{rotate_widget_key, widget_key};

/// Largest accepted request body, in bytes.
pub const BODY_LIMIT: usize = 256 * 1024;

/// Shared state of one server instance: cloned for every request, so one pointer.
///
/// Its settings are read through [`std::ops::Deref`]; they are set through
/// [`std::ops::DerefMut`] before the server starts (a clone made meanwhile keeps the settings
/// it was cloned with).
#[derive(Debug, Clone)]
pub struct AppState(Arc<Instance>);

impl std::ops::Deref for AppState {
    type Target = Instance;
    fn deref(&self) -> &Instance {
        &self.0
    }
}

impl std::ops::DerefMut for AppState {
    fn deref_mut(&mut self) -> &mut Instance {
        Arc::make_mut(&mut self.0)
    }
}

/// What one server instance shares between its requests (see [`AppState`]).
#[derive(Debug, Clone)]
pub struct Instance {
    /// The use cases: every write goes through it; its store is the one handlers read from
    /// ([`Instance::store`]).
    pub engine: baton_engine::Engine,
    /// Prometheus metrics of this instance.
    pub metrics: Arc<Metrics>,
    /// How long a login session lasts, in milliseconds.
    pub session_ttl_ms: i64,
    /// Live connections of agents to this instance (stale presence).
    pub presence: Arc<presence::Presence>,
    /// An available or busy agent whose live connection to this instance has been gone this
    /// long (ms) is set away.
    pub stale_presence_ms: i64,
    /// An agent whose live connection to this instance has been gone this long (ms) is set
    /// offline; 0 never does.
    pub offline_presence_ms: i64,
    /// The instance's SMTP server (`[smtp]`), for handoff notifications, replies to deferred
    /// conversations and transcripts; `None` when email is not configured.
    pub mailer: Option<baton_channels::email::Mailer>,
    /// Where people reach this instance (`public_url`), for console links in emails.
    pub public_url: String,
    /// The delivery worker's settings (retry timing; tests may turn the worker off).
    pub deliveries: deliveries::Settings,
    /// How many widget conversations a client may start (see [`rate_limit`]).
    pub widget_limit: Arc<rate_limit::WidgetLimit>,
    /// The bearer token `/metrics` asks for (`metrics_token`); `None`: open to anyone who can
    /// reach it.
    pub metrics_token: Option<String>,
    /// Failed-login limits and the cap on concurrent password hashing (see
    /// [`auth::LoginGuard`]).
    pub login: Arc<auth::LoginGuard>,
    /// Read timeouts and the connection cap of the listener (see [`listen`]).
    pub limits: listen::Limits,
    /// The retention pruning worker's settings (see [`retention`]); `None` runs no pruning.
    pub pruning: Option<retention::Pruning>,
    /// Typing indicators of this instance's clients (see [`routes::typing`]).
    pub typing: routes::typing::TypingHub,
    /// Largest attachment accepted, in bytes (see [`routes::attachments`]).
    pub max_attachment_bytes: usize,
    /// API keys found valid lately (see [`auth::KeyCache`]).
    pub api_keys: Arc<auth::KeyCache>,
    /// Who may see a conversation, read once for all live streams (see [`routes::sight`]).
    pub sights: Arc<routes::sight::Sights>,
}

impl Instance {
    /// The database, for the reads handlers answer from (the engine's).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.engine.store
    }
}

impl AppState {
    /// State over a store with default settings.
    pub fn new(store: Arc<dyn Store>) -> Self {
        AppState(Arc::new(Instance {
            engine: baton_engine::Engine::new(store),
            metrics: Arc::new(Metrics::default()),
            session_ttl_ms: 12 * 3600 * 1000,
            presence: Arc::new(presence::Presence::default()),
            stale_presence_ms: 120_000,
            offline_presence_ms: 1_800_000,
            mailer: None,
            public_url: "http://127.0.0.1:8080".into(),
            deliveries: deliveries::Settings::default(),
            widget_limit: Arc::new(rate_limit::WidgetLimit::default()),
            metrics_token: None,
            login: Arc::new(auth::LoginGuard::default()),
            limits: listen::Limits::default(),
            pruning: None,
            typing: routes::typing::TypingHub::default(),
            max_attachment_bytes: routes::attachments::DEFAULT_MAX_ATTACHMENT_BYTES,
            api_keys: Arc::new(auth::KeyCache::default()),
            sights: Arc::new(routes::sight::Sights::default()),
        }))
    }

    /// Lets outbound requests reach loopback and private addresses (development and tests
    /// with local servers), or not (the default).
    pub fn allow_private_targets(&mut self, allow: bool) {
        self.engine.allow_private_targets(allow);
    }
}

/// The current time as a core timestamp. The only clock read of the server.
pub use baton_engine::now;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Baton",
        description = "Hand customer conversations from an AI assistant to human agents, with full context.",
        license(name = "Apache-2.0")
    ),
    components(schemas(error::ErrorBody)),
    modifiers(&SecurityAddon),
    tags(
        (name = "conversations", description = "The conversation lifecycle"),
        (name = "agents", description = "People and their status"),
        (name = "configuration", description = "Queues, rules, business hours and API keys"),
        (name = "knowledge", description = "Knowledge-base articles and search"),
        (name = "copilot", description = "Drafted replies, canned responses and review mode"),
        (name = "auth", description = "Login and sessions"),
        (name = "notifications", description = "Signed webhooks, Slack and Teams notifications, deliveries"),
        (name = "operations", description = "Health, readiness, metrics, live events, audit trail"),
        (name = "analytics", description = "Handoff figures, per agent and per day, with drill-down"),
    )
)]
struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A tenant API key (bk_...) or a session token (bs_...)",
                    ))
                    .build(),
            ),
        );
    }
}

fn documented_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::conversations::router())
        .merge(routes::attachments::router())
        .merge(routes::people::router())
        .merge(routes::config::router())
        .merge(routes::ops::router())
        .merge(routes::rules::router())
        .merge(routes::kb::router())
        .merge(routes::copilot::router())
        .merge(routes::bot::router())
        .merge(routes::widget::router())
        .merge(routes::widget_identity::router())
        .merge(routes::typing::router())
        .merge(routes::webhooks::router())
        .merge(routes::notifications::router())
        .merge(routes::channels::router())
        .merge(routes::analytics::router())
        .merge(routes::audit::router())
        .merge(routes::customers::router())
        .split_for_parts();
    doc.openapi = utoipa::openapi::OpenApiVersion::Version31;
    contract::document_errors(&mut doc);
    contract::constrain_documents(&mut doc);
    contract::constrain_strings(&mut doc);
    (router, doc)
}

/// The OpenAPI document, as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented_routes().1
}

/// The full application: routes, OpenAPI document, middleware.
pub fn app(state: AppState) -> Router {
    let (api, openapi) = documented_routes();
    let openapi = Arc::new(openapi);
    api.route(
        "/openapi.json",
        axum::routing::get(move || {
            let doc = openapi.clone();
            async move { axum::Json(doc.as_ref().clone()) }
        }),
    )
    .merge(routes::web::router())
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        idempotency::layer,
    ))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::resolve,
    ))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        metrics::track,
    ))
    .layer(axum::middleware::from_fn(input::refuse_nul))
    .layer(DefaultBodyLimit::max(BODY_LIMIT))
    .layer(axum::middleware::from_fn(routes::widget::cors))
    .layer(axum::middleware::from_fn(routes::web::security_headers))
    .layer(axum::middleware::from_fn(listen::close_on_refusal))
    .fallback(|| async { error::ApiError::NotFound("route") })
    .with_state(state)
}

/// Serves the app on `listener` until `shutdown` resolves, then drains connections.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    state.engine.spawn_invalidation();
    state.api_keys.spawn_invalidation(state.store().as_ref());
    metrics::spawn_event_counter(state.store().clone(), state.metrics.clone());
    // Live routing and the presence worker run alongside and stop at shutdown.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let router = {
        let routing = state.engine.routing.clone();
        let stopped = stopped.clone();
        tokio::spawn(async move { routing.run(stopped).await })
    };
    let worker = tokio::spawn(presence::run_worker(state.clone(), stopped.clone()));
    let jobs = tokio::spawn(baton_engine::jobs::run_worker(
        state.engine.clone(),
        stopped.clone(),
    ));
    let deliveries = state
        .deliveries
        .run_worker
        .then(|| tokio::spawn(deliveries::run_worker(state.clone(), stopped)));
    let pruning = state
        .pruning
        .is_some()
        .then(|| tokio::spawn(retention::run_worker(state.clone(), stop.subscribe())));
    let stop_on_shutdown = stop.clone();
    // The listener gives handlers the peer address (the client's for rate limits, unless a
    // proxy header is trusted).
    let limits = state.limits;
    let served = listen::run(listener, app(state), limits, async move {
        shutdown.await;
        let _ = stop_on_shutdown.send(true);
    })
    .await;
    let _ = stop.send(true);
    let _ = worker.await;
    let _ = jobs.await;
    let _ = router.await;
    if let Some(deliveries) = deliveries {
        let _ = deliveries.await;
    }
    if let Some(pruning) = pruning {
        let _ = pruning.await;
    }
    served
}
