//! Test harness: real servers on port 0, each on its own fresh database, with typed helpers.
#![allow(dead_code)]

use baton_server::AppState;
use baton_store::Store;
use baton_store::testing::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Runs each named `async fn name(backend: Backend)` once on SQLite and once on PostgreSQL (a
/// test module per name, with `sqlite` and `postgres` tests).
#[allow(unused_macros)]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Backend::Postgres).await
            }
        }
    )*};
}

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database for one test; `None` when PostgreSQL is not configured (the test is
/// skipped; under `CI` it fails instead).
pub async fn database(backend: Backend, name: &str) -> Option<TestDatabase> {
    match backend {
        Backend::Sqlite => Some(TestDatabase::sqlite(name).await),
        // Skipped without BATON_TEST_POSTGRES_URL, except under CI (a failure there).
        Backend::Postgres => TestDatabase::postgres(name).await,
    }
}

/// One running server instance.
pub struct Instance {
    pub base: String,
    pub addr: SocketAddr,
    pub store: Arc<dyn Store>,
    /// The instance's live routing (to wait until it has caught up).
    pub routing: baton_engine::Routing,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Instance {
    /// Waits until the follow-up jobs committed so far ran (the handoff brief) and this
    /// instance's router of `tenant` has handled everything committed so far (requests answer
    /// before both; tests that assert on the brief or the routed state wait for them).
    pub async fn settle(&self, tenant: &str) {
        jobs_done(self.store.as_ref()).await;
        let tenant = baton_core::TenantId::parse(tenant).expect("tenant id");
        self.routing
            .settled(&tenant, std::time::Duration::from_secs(10))
            .await;
    }
}

/// Waits (up to 10 s) until no follow-up job is left in the database (see `baton_engine::jobs`).
pub async fn jobs_done(store: &dyn Store) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.next_timer_due().await.expect("jobs").is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "follow-up jobs still pending after 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts a server on port 0 over the database at `url`.
pub async fn start_instance(url: &str) -> Instance {
    start_instance_with_state(url).await.0
}

/// Like [`start_instance`], also returning (a clone of) the server's state, whose caches and
/// background work (e.g. `bots.settled()`) tests may inspect.
pub async fn start_instance_with_state(url: &str) -> (Instance, AppState) {
    start_instance_configured(url, |_| {}).await
}

/// Like [`start_instance_with_state`], with `configure` applied to the state before serving
/// (an SMTP mailer, a public URL...).
pub async fn start_instance_configured(
    url: &str,
    configure: impl FnOnce(&mut AppState),
) -> (Instance, AppState) {
    // `RUST_LOG=baton_engine=debug cargo test ...` shows the server's logs with a test's output.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let store = baton_store::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let mut state = AppState::new(store.clone());
    // Tests talk to bots, webhooks and providers on loopback; a test of the refusal turns
    // this off again in `configure`.
    state.allow_private_targets(true);
    configure(&mut state);
    let shared = state.clone();
    tokio::spawn(async move {
        baton_server::serve(listener, state, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    let instance = Instance {
        base: format!("http://{addr}"),
        addr,
        routing: shared.engine.routing.clone(),
        store,
        shutdown: Some(tx),
    };
    (instance, shared)
}

/// A tenant with an admin session and an API key, on one instance.
pub struct TestApp {
    pub db: TestDatabase,
    pub instance: Instance,
    pub client: reqwest::Client,
    pub tenant: String,
    pub api_key: String,
    pub admin_token: String,
    pub admin_id: String,
}

pub const PASSWORD: &str = "correct-horse-battery";

/// A response: status and JSON body (Null when empty).
#[derive(Debug)]
pub struct Res {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Res {
    /// The error code of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or("<no error code>")
    }

    /// Asserts an error status and code, and that the message is non-empty.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.code(), code, "body: {}", self.body);
        assert!(
            !self.body["error"]["message"]
                .as_str()
                .unwrap_or("")
                .is_empty(),
            "error without message: {}",
            self.body
        );
    }
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
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Res {
        status,
        body,
        headers,
    }
}

impl TestApp {
    /// A fresh database, one instance, a tenant with an admin and a key.
    pub async fn spawn(backend: Backend, name: &str) -> Option<TestApp> {
        let db = database(backend, name).await?;
        let instance = start_instance(db.url()).await;
        Some(Self::with_instance(db, instance).await)
    }

    /// Seeds a tenant on an already started instance.
    pub async fn with_instance(db: TestDatabase, instance: Instance) -> TestApp {
        let (tenant, api_key, admin_email) =
            create_tenant(instance.store.as_ref(), "Test Co").await;
        let client = reqwest::Client::new();
        let login = send(
            &client,
            Method::POST,
            &format!("{}/v1/auth/login", instance.base),
            None,
            Some(json!({"email": admin_email, "password": PASSWORD})),
        )
        .await;
        assert_eq!(login.status, 200, "{}", login.body);
        TestApp {
            db,
            tenant,
            api_key,
            admin_token: login.body["token"].as_str().unwrap().to_string(),
            admin_id: login.body["agent"]["id"].as_str().unwrap().to_string(),
            instance,
            client,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.instance.base, path)
    }

    pub async fn get(&self, path: &str, token: &str) -> Res {
        send(
            &self.client,
            Method::GET,
            &self.url(path),
            Some(token),
            None,
        )
        .await
    }

    /// Sends a change, then waits until routing has caught up with it (requests answer
    /// before routing): a conversation in the answer is read again, as routed.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Res {
        let res = send(
            &self.client,
            Method::POST,
            &self.url(path),
            Some(token),
            Some(body),
        )
        .await;
        self.routed(res, token).await
    }

    /// Like [`TestApp::post`], with PUT.
    pub async fn put(&self, path: &str, token: &str, body: Value) -> Res {
        let res = send(
            &self.client,
            Method::PUT,
            &self.url(path),
            Some(token),
            Some(body),
        )
        .await;
        self.routed(res, token).await
    }

    /// DELETE `path`.
    pub async fn delete(&self, path: &str, token: &str) -> Res {
        let res = send(
            &self.client,
            Method::DELETE,
            &self.url(path),
            Some(token),
            None,
        )
        .await;
        self.routed(res, token).await
    }

    /// Waits until this instance's router has handled everything committed so far.
    pub async fn settle(&self) {
        self.instance.settle(&self.tenant).await;
    }

    /// `res` after routing settled: a conversation view in it (the body itself, or its
    /// `conversation`) is read again, as the team sees it (a customer as the customer does:
    /// the caller may no longer see a conversation routing moved on).
    async fn routed(&self, mut res: Res, token: &str) -> Res {
        self.settle().await;
        if !res.status.is_success() {
            return res;
        }
        let token = if token.starts_with("bc_") {
            token
        } else {
            self.admin_token.as_str()
        };
        let read = |v: &Value| {
            v["id"]
                .as_str()
                .filter(|id| id.starts_with("conv_") && v.get("state").is_some())
                .map(String::from)
        };
        if let Some(id) = read(&res.body) {
            let now = self.get(&format!("/v1/conversations/{id}"), token).await;
            if now.status.is_success() {
                res.body = now.body;
            }
        } else if let Some(id) = read(&res.body["conversation"]) {
            let now = self.get(&format!("/v1/conversations/{id}"), token).await;
            if now.status.is_success() {
                res.body["state"] = now.body["state"].clone();
                res.body["conversation"] = now.body;
            }
        }
        res
    }

    /// Creates a person with `role` and logs them in; returns (agent id, token).
    pub async fn person(&self, email: &str, role: &str) -> (String, String) {
        let created = self
            .post(
                "/v1/agents",
                &self.admin_token,
                json!({
                    "email": email, "name": email.split('@').next().unwrap(), "password": PASSWORD,
                    "role": role, "skills": [{"name": "billing", "level": 5}], "languages": ["en"],
                }),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        let login = send(
            &self.client,
            Method::POST,
            &self.url("/v1/auth/login"),
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await;
        assert_eq!(login.status, 200, "{}", login.body);
        (
            created.body["id"].as_str().unwrap().to_string(),
            login.body["token"].as_str().unwrap().to_string(),
        )
    }

    /// Starts a conversation through the integration API; returns its id.
    pub async fn conversation(&self) -> String {
        self.conversation_for("c-1", "John").await
    }

    /// Starts a conversation of the customer `external_id`, called `name`; returns its id.
    pub async fn conversation_for(&self, external_id: &str, name: &str) -> String {
        let res = self
            .post(
                "/v1/conversations",
                &self.api_key,
                json!({"customer": {"external_id": external_id, "name": name}, "channel": "web"}),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
        res.body["id"].as_str().unwrap().to_string()
    }

    /// Puts a `busy` agent on the tenant's queues: they count as staffed (so a handoff waits
    /// `queued` instead of being deferred for lack of anyone online) but get no offers.
    pub async fn staff(&self) -> String {
        let (id, token) = self.person("staffed@test.example", "agent").await;
        self.set_status(&token, "busy").await;
        id
    }

    /// Sets the presence of the person whose session `token` is.
    pub async fn set_status(&self, token: &str, status: &str) {
        let res = self
            .put("/v1/agents/me/status", token, json!({"status": status}))
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
    }

    /// Starts a conversation and hands it off to the default queue; returns its id.
    pub async fn queued_conversation(&self) -> String {
        let id = self.conversation().await;
        self.hand_off(&id, None).await;
        id
    }

    /// Hands a conversation off at the customer's request, to `queue` (else the default one).
    pub async fn hand_off(&self, conversation: &str, queue: Option<&str>) {
        let mut body = json!({"reason": "customer_request"});
        if let Some(q) = queue {
            body["queue"] = json!(q);
        }
        let res = self
            .post(
                &format!("/v1/conversations/{conversation}/handoff"),
                &self.api_key,
                body,
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
    }

    /// Number of events of a conversation (through the store, so it is independent of the API).
    pub async fn event_count(&self, conversation: &str) -> usize {
        let tenant = baton_core::TenantId::parse(self.tenant.as_str()).unwrap();
        let id = baton_core::ConversationId::parse(conversation).unwrap();
        let page = baton_store::PageRequest {
            limit: 500,
            cursor: None,
        };
        self.instance
            .store
            .events(&tenant, &id, &page)
            .await
            .unwrap()
            .items
            .len()
    }
}

/// Creates a tenant directly through the service layer; returns (tenant id, api key, admin email).
pub async fn create_tenant(store: &dyn Store, name: &str) -> (String, String, String) {
    let email = format!("admin-{}@test.example", baton_store::ids::new_suffix());
    let hash = baton_server::auth::hash_password_blocking(PASSWORD).unwrap();
    let created =
        baton_engine::service::create_tenant(store, name, &email, &hash, baton_server::now())
            .await
            .unwrap();
    (created.tenant.id.to_string(), created.api_key_secret, email)
}
