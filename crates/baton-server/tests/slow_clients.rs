//! The listener against slow and greedy clients: header and body read timeouts, idle
//! keep-alive, the connection cap, and `Connection: close` on early refusals. Raw sockets, so
//! the client can misbehave exactly.

mod common;

use baton_server::listen::Limits;
use common::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection (or `within` passes); returns what it sent.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&out).into_owned()),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

async fn app_with(limits: Limits) -> Option<TestApp> {
    let db = database(Backend::Sqlite, "slow_clients").await?;
    let (instance, _) =
        start_instance_configured(db.url(), move |state| state.limits = limits).await;
    Some(TestApp::with_instance(db, instance).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_stalled_bodies_and_idle_connections_are_closed() {
    let limits = Limits {
        header_read_timeout: Duration::from_secs(1),
        body_read_timeout: Duration::from_secs(1),
        max_connections: 100,
    };
    let Some(app) = app_with(limits).await else {
        return;
    };
    let addr = app.instance.addr;

    // Half a request's headers, then nothing: closed after the header timeout.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: baton\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let got = read_until_closed(&mut slow, Duration::from_secs(5))
        .await
        .expect("a slow header sender is cut off");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(!got.contains("200 OK"), "{got}");

    // A body that stalls: 408, and the connection closes.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/conversations HTTP/1.1\r\nHost: baton\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"customer\":",
        app.api_key
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    let got = read_until_closed(&mut stalled, Duration::from_secs(5))
        .await
        .expect("a stalled body is cut off");
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(
        got.to_ascii_lowercase().contains("connection: close"),
        "{got}"
    );
    assert!(got.contains("request_timeout"), "{got}");

    // One complete request, then idle: the keep-alive connection closes too.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: baton\r\n\r\n")
        .await
        .unwrap();
    let got = read_until_closed(&mut idle, Duration::from_secs(5))
        .await
        .expect("an idle keep-alive connection is closed");
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped() {
    let limits = Limits {
        header_read_timeout: Duration::from_secs(30),
        body_read_timeout: Duration::from_secs(30),
        max_connections: 2,
    };
    let db = database(Backend::Sqlite, "slow_cap").await.unwrap();
    let (instance, _) =
        start_instance_configured(db.url(), move |state| state.limits = limits).await;
    let addr = instance.addr;
    // Two connections that say nothing hold both slots.
    let first = TcpStream::connect(addr).await.unwrap();
    let _second = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = TcpStream::connect(addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: baton\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(
        read_until_closed(&mut third, Duration::from_millis(700))
            .await
            .is_none(),
        "a connection beyond the cap was served"
    );
    // A slot frees: the waiting connection is served.
    drop(first);
    let got = read_until_closed(&mut third, Duration::from_secs(5))
        .await
        .expect("served once a slot is free");
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_refusals_say_connection_close() {
    let Some(app) = app_with(Limits::default()).await else {
        return;
    };
    let res = app
        .client
        .post(app.url("/v1/conversations"))
        .bearer_auth("bk_not_a_key")
        .json(&serde_json::json!({"customer": {"name": "x".repeat(1000)}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["connection"], "close");
    // A refusal without a body to skip keeps the connection.
    let res = app
        .client
        .get(app.url("/v1/agents/me"))
        .bearer_auth("bs_not_a_session")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers().get("connection").is_none());
}
