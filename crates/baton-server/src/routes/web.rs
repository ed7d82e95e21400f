//! The web front ends, embedded in the binary: the agent console (`/console`), the customer
//! widget (`/widget.js`), a demo host page (`/demo`) and the API reference (`/docs`, Swagger UI
//! over `/openapi.json`). Plain HTML, CSS and JavaScript, no build step and no CDN.

use crate::AppState;
use axum::Router;
use axum::extract::Query;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use std::sync::{Arc, LazyLock};

const CONSOLE_HTML: &str = include_str!("../../assets/console/index.html");
const CONSOLE_JS: &str = include_str!("../../assets/console/app.js");
const CONSOLE_ANALYTICS_JS: &str = include_str!("../../assets/console/analytics.js");
const CONSOLE_ADMIN_JS: &str = include_str!("../../assets/console/admin.js");
const CONSOLE_CSS: &str = include_str!("../../assets/console/app.css");
const WIDGET_JS: &str = include_str!("../../assets/widget/widget.js");
const DEMO_HTML: &str = include_str!("../../assets/widget/demo.html");

/// The console's Content-Security-Policy: scripts, styles and connections (API and WebSocket)
/// from this origin only, no inline script, and no framing by any page. Images may also be
/// `blob:` URLs: attachments are fetched with the session token and shown from memory.
pub const CONSOLE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The demo host page's policy: like the console's, with the page's own `<style>` block
/// (styles only; scripts stay external).
pub const DEMO_CSP: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'";

/// The API reference's policy: Swagger UI's own files and the API description from this origin;
/// its React components set inline `style` attributes, and its icons are `data:` images.
pub const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Swagger UI reads `/openapi.json`; nothing is fetched from elsewhere (no validator badge).
static DOCS_CONFIG: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> = LazyLock::new(|| {
    Arc::new(
        utoipa_swagger_ui::Config::from("/openapi.json")
            .validator_url("none")
            .try_it_out_enabled(false)
            .display_request_duration(true),
    )
});

/// Middleware: every answer says `X-Content-Type-Options: nosniff` and
/// `Referrer-Policy: no-referrer` (no URL of this server leaks to other sites).
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn page(csp: &'static str, frames: Option<&'static str>, html: impl IntoResponse) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, csp),
        ],
        html,
    )
        .into_response();
    if let Some(frames) = frames {
        response
            .headers_mut()
            .insert(header::X_FRAME_OPTIONS, HeaderValue::from_static(frames));
    }
    response
}

/// The web routes (not part of the API description).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route(
            "/console",
            get(|| async { page(CONSOLE_CSP, Some("DENY"), CONSOLE_HTML) }),
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
            "/console/admin.js",
            get(|| async { asset("text/javascript; charset=utf-8", CONSOLE_ADMIN_JS) }),
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
        .route("/docs", get(|| async { Redirect::permanent("/docs/") }))
        .route("/docs/", get(|| docs_file(String::new())))
        .route(
            "/docs/{*file}",
            get(|axum::extract::Path(file): axum::extract::Path<String>| docs_file(file)),
        )
}

/// A file of the API reference (Swagger UI, embedded by `utoipa-swagger-ui`'s `vendored`
/// feature); the page itself gets the docs policy.
async fn docs_file(file: String) -> Response {
    match utoipa_swagger_ui::serve(&file, DOCS_CONFIG.clone()) {
        Ok(Some(found)) => {
            let mut response = (
                [
                    (header::CONTENT_TYPE, found.content_type),
                    (header::CACHE_CONTROL, "no-cache".to_string()),
                ],
                found.bytes.into_owned(),
            )
                .into_response();
            let headers = response.headers_mut();
            if found.gzpipped {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            if file.is_empty() || file.ends_with(".html") {
                headers.insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(DOCS_CSP),
                );
                headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            }
            response
        }
        Ok(None) => crate::error::ApiError::NotFound("route").into_response(),
        Err(e) => {
            crate::error::ApiError::Internal(format!("the API reference: {e}")).into_response()
        }
    }
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
    // Without a key the page says how to get one (no inline script decides it).
    let html = DEMO_HTML
        .replace(
            "{{NO_KEY_HIDDEN}}",
            if key.is_empty() { "" } else { "hidden" },
        )
        .replace("{{PUBLIC_KEY}}", &key);
    page(DEMO_CSP, Some("SAMEORIGIN"), html)
}
