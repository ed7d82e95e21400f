//! The web front ends, embedded in the binary: the agent console (`/console`), the customer
//! widget (`/widget.js`) and a demo host page (`/demo`). Plain HTML, CSS and JavaScript, no
//! build step and no CDN.

use crate::AppState;
use axum::Router;
use axum::extract::Query;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

const CONSOLE_HTML: &str = include_str!("../../assets/console/index.html");
const CONSOLE_JS: &str = include_str!("../../assets/console/app.js");
const CONSOLE_ANALYTICS_JS: &str = include_str!("../../assets/console/analytics.js");
const CONSOLE_CSS: &str = include_str!("../../assets/console/app.css");
const WIDGET_JS: &str = include_str!("../../assets/widget/widget.js");
const DEMO_HTML: &str = include_str!("../../assets/widget/demo.html");

/// The web routes (not part of the API description).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route(
            "/console",
            get(|| async { asset("text/html; charset=utf-8", CONSOLE_HTML) }),
        )
        .route("/console/", get(|| async { Redirect::to("/console") }))
        .route(
            "/console/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", CONSOLE_JS) }),
        )
        .route(
            "/console/analytics.js",
            get(|| async { asset("text/javascript; charset=utf-8", CONSOLE_ANALYTICS_JS) }),
        )
        .route(
            "/console/app.css",
            get(|| async { asset("text/css; charset=utf-8", CONSOLE_CSS) }),
        )
        .route(
            "/widget.js",
            get(|| async { asset("text/javascript; charset=utf-8", WIDGET_JS) }),
        )
        .route("/demo", get(demo))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        body,
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct DemoQuery {
    key: Option<String>,
}

/// The demo host page with the widget embedded for the public key in `?key=`.
async fn demo(Query(q): Query<DemoQuery>) -> Response {
    // Only key characters reach the page: nothing to escape, nothing to inject.
    let key: String = q
        .key
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(100)
        .collect();
    let html = DEMO_HTML.replace("{{PUBLIC_KEY}}", &key);
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        html,
    )
        .into_response()
}
