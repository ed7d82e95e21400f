//! The few Baton API calls the bench makes, over one HTTP client with a timeout on every request.

use anyhow::bail;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Why a request brought no HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoAnswer {
    /// The request timeout passed.
    Timeout,
    /// Connect, send or read failed.
    Transport,
}

impl NoAnswer {
    /// The failure kind in the report.
    pub fn kind(self) -> &'static str {
        match self {
            NoAnswer::Timeout => "timeout",
            NoAnswer::Transport => "transport",
        }
    }
}

/// An HTTP answer: status and JSON body (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    /// Status.
    pub status: StatusCode,
    /// Body.
    pub body: Value,
}

/// The servers under test and a client for them.
#[derive(Debug, Clone)]
pub struct Api {
    client: reqwest::Client,
    bases: Arc<Vec<String>>,
}

impl Api {
    /// A client for the servers at `bases` (`http://host:port`), with `timeout` on every
    /// request and room for `connections` idle connections per server.
    pub fn new(bases: Vec<String>, timeout: Duration, connections: usize) -> anyhow::Result<Api> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(connections)
            .tcp_nodelay(true)
            .build()?;
        Ok(Api {
            client,
            bases: Arc::new(bases),
        })
    }

    /// How many servers.
    pub fn instances(&self) -> usize {
        self.bases.len()
    }

    /// The address (`host:port`) of server `i`, for WebSockets.
    pub fn addr(&self, i: usize) -> &str {
        let base = &self.bases[i % self.bases.len()];
        base.strip_prefix("http://").unwrap_or(base)
    }

    /// One request to server `i` (modulo the number of servers).
    pub async fn call(
        &self,
        i: usize,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Result<Answer, NoAnswer> {
        let url = format!("{}{path}", self.bases[i % self.bases.len()]);
        let mut req = self.client.request(method, url);
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let classify = |e: reqwest::Error| {
            if e.is_timeout() {
                NoAnswer::Timeout
            } else {
                NoAnswer::Transport
            }
        };
        let resp = req.send().await.map_err(classify)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(classify)?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    /// A request of the set-up, which must succeed with `expect`.
    pub async fn setup(
        &self,
        i: usize,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        expect: u16,
    ) -> anyhow::Result<Value> {
        let what = format!("{method} {path}");
        match self.call(i, method, path, token, body).await {
            Ok(a) if a.status.as_u16() == expect => Ok(a.body),
            Ok(a) => bail!("{what}: expected {expect}, got {}: {}", a.status, a.body),
            Err(e) => bail!("{what}: {}", e.kind()),
        }
    }

    /// `POST /v1/auth/login`: (agent id, session token).
    pub async fn login(
        &self,
        i: usize,
        email: &str,
        password: &str,
    ) -> anyhow::Result<(String, String)> {
        let body = self
            .setup(
                i,
                Method::POST,
                "/v1/auth/login",
                "",
                Some(json!({"email": email, "password": password})),
                200,
            )
            .await?;
        Ok((str_field(&body["agent"]["id"])?, str_field(&body["token"])?))
    }

    /// `POST /v1/conversations` for customer `n`: the conversation id.
    pub async fn start_conversation(
        &self,
        i: usize,
        key: &str,
        n: usize,
    ) -> anyhow::Result<String> {
        let body = self
            .setup(
                i,
                Method::POST,
                "/v1/conversations",
                key,
                Some(start_body(n)),
                201,
            )
            .await?;
        str_field(&body["id"])
    }

    /// `PUT /v1/agents/me/status`.
    pub async fn set_status(&self, i: usize, token: &str, status: &str) -> anyhow::Result<()> {
        self.setup(
            i,
            Method::PUT,
            "/v1/agents/me/status",
            token,
            Some(json!({"status": status})),
            200,
        )
        .await
        .map(drop)
    }
}

impl Api {
    /// Conversations by state, as server `i`'s `/metrics` counts them (`baton_conversations`);
    /// `None` when it does not answer.
    pub async fn states(&self, i: usize) -> Option<BTreeMap<String, i64>> {
        let url = format!("{}/metrics", self.bases[i % self.bases.len()]);
        let text = self.client.get(url).send().await.ok()?.text().await.ok()?;
        Some(parse_states(&text))
    }
}

impl Api {
    /// Every conversation in `state` (as someone who sees them all), with the agent its pending
    /// offer is out to: at most `pages` pages of 500; `None` when the server does not answer.
    pub async fn conversations_in(
        &self,
        token: &str,
        state: &str,
        pages: usize,
    ) -> Option<HashMap<String, Option<String>>> {
        let mut found = HashMap::new();
        let mut cursor: Option<String> = None;
        for _ in 0..pages {
            let mut path = format!("/v1/conversations?state={state}&limit=500");
            if let Some(c) = &cursor {
                path.push_str("&cursor=");
                path.push_str(c);
            }
            let page = self.call(0, Method::GET, &path, token, None).await.ok()?;
            if !page.status.is_success() {
                return None;
            }
            for item in page.body["items"].as_array()? {
                let id = item["id"].as_str()?.to_string();
                let offer = item["offer"]["agent"].as_str().map(str::to_string);
                found.insert(id, offer);
            }
            match page.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        Some(found)
    }
}

/// SQLite's writer counters as `/metrics` shows them (absent on PostgreSQL).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WriterReading {
    /// Write transactions committed.
    pub transactions: f64,
    /// Commits.
    pub commits: f64,
    /// Seconds the writer was held by transactions.
    pub held_seconds: f64,
    /// Seconds spent committing.
    pub commit_seconds: f64,
}

impl Api {
    /// Server `i`'s SQLite writer counters; `None` when it does not answer or has none.
    pub async fn writer(&self, i: usize) -> Option<WriterReading> {
        let url = format!("{}/metrics", self.bases[i % self.bases.len()]);
        let text = self.client.get(url).send().await.ok()?.text().await.ok()?;
        parse_writer(&text)
    }
}

fn parse_writer(metrics: &str) -> Option<WriterReading> {
    let value = |name: &str| {
        metrics.lines().find_map(|line| {
            let (metric, value) = line.split_once(' ')?;
            (metric == name).then(|| value.trim().parse::<f64>().ok())?
        })
    };
    Some(WriterReading {
        transactions: value("baton_sqlite_write_transactions_total")?,
        commits: value("baton_sqlite_write_commits_total")?,
        held_seconds: value("baton_sqlite_writer_held_seconds_total")?,
        commit_seconds: value("baton_sqlite_commit_seconds_total")?,
    })
}

/// `baton_conversations{state="queued"} 12` lines → `{"queued": 12}` (zeros left out).
fn parse_states(metrics: &str) -> BTreeMap<String, i64> {
    metrics
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("baton_conversations{state=\"")?;
            let (state, value) = rest.split_once("\"}")?;
            let n: i64 = value.trim().parse().ok()?;
            (n != 0).then(|| (state.to_string(), n))
        })
        .collect()
}

fn str_field(v: &Value) -> anyhow::Result<String> {
    match v.as_str() {
        Some(s) if !s.is_empty() => Ok(s.to_string()),
        _ => bail!("expected a string, got {v}"),
    }
}

/// The body that starts a web conversation of customer `n`.
pub fn start_body(n: usize) -> Value {
    json!({
        "customer": {"external_id": format!("bench-customer-{n}"), "name": format!("Customer {n}"), "language": "en"},
        "channel": "web",
    })
}

/// A customer turn.
pub fn customer_message(text: &str, external_id: &str) -> Value {
    json!({"role": "customer", "text": text, "external_id": external_id})
}

/// The explicit handoff of `--handoff-via api`.
pub fn handoff_request() -> Value {
    json!({"reason": "customer_request", "source": "customer"})
}

/// Ordinary customer questions: nothing a default rule escalates (no request for a person, no
/// sensitive topic, no frustration), and different enough that a conversation never looks
/// like a loop.
pub const QUESTIONS: &[&str] = &[
    "what are your opening hours?",
    "do you ship to Canada?",
    "how long does delivery take to Lyon?",
    "can I change the delivery address on my order?",
    "which sizes does the blue jacket come in?",
    "is the store on Main Street open on Sundays?",
    "how do I reset my password?",
    "do you have a student discount?",
    "can I pick up my order in a shop?",
    "what payment methods do you accept?",
    "is the coffee grinder in stock again?",
    "how do I update my email address?",
    "do you gift wrap?",
    "where can I find the user manual for the kettle?",
    "are your t-shirts organic cotton?",
    "how do I track my parcel?",
    "can I add a note for the courier?",
    "what is the warranty on headphones?",
    "do you sell gift cards?",
    "do you deliver on Saturdays?",
    "is there parking near the Oxford Street shop?",
    "what time does customer support open tomorrow?",
    "can I order by phone?",
    "does the lamp come with a bulb?",
];

/// The customer's request for a person that `--handoff-via message` sends.
pub const HUMAN_REQUEST: &str = "I want to talk to a human";

/// The `k`-th message of pool conversation `c`: neighbours in one conversation always differ.
pub fn question(c: usize, k: usize) -> &'static str {
    QUESTIONS[(c.wrapping_mul(7) + k) % QUESTIONS.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_come_from_the_conversations_gauge() {
        let text = "# HELP baton_conversations Conversations by state.\n\
                    # TYPE baton_conversations gauge\n\
                    baton_conversations{state=\"bot\"} 411\n\
                    baton_conversations{state=\"queued\"} 766\n\
                    baton_conversations{state=\"closed\"} 0\n\
                    baton_queue_depth{tenant=\"t\",queue=\"default\"} 766\n";
        let states = parse_states(text);
        assert_eq!(states.len(), 2, "{states:?}");
        assert_eq!(states["bot"], 411);
        assert_eq!(states["queued"], 766);
    }

    #[test]
    fn writer_counters_come_from_the_sqlite_series() {
        let text = "# TYPE baton_sqlite_write_transactions counter\n\
                    baton_sqlite_write_transactions_total 12411\n\
                    baton_sqlite_write_commits_total 1533\n\
                    baton_sqlite_writer_held_seconds_total 12.5\n\
                    baton_sqlite_commit_seconds_total 2.25\n";
        let w = parse_writer(text).unwrap();
        assert_eq!(w.transactions, 12411.0);
        assert_eq!(w.commits, 1533.0);
        assert_eq!(w.held_seconds, 12.5);
        assert_eq!(w.commit_seconds, 2.25);
        // PostgreSQL: no writer series.
        assert_eq!(parse_writer("baton_conversations{state=\"bot\"} 1\n"), None);
    }
}
