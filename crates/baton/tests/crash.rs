//! Crash durability: `kill -9` the server while customers are writing; after a restart every
//! acknowledged message is there exactly once and the audit trail matches the transcript.

mod support;

use baton_store::testing::TestDatabase;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

const WRITERS: usize = 8;
/// Kill after this many acknowledged messages, or after [`MAX_WRITING`], whichever is first.
const ENOUGH_ACKS: usize = 400;
const MAX_WRITING: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_messages_survive_sigkill_sqlite() {
    let db = TestDatabase::sqlite("cli_crash").await;
    crash_and_recover(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_messages_survive_sigkill_postgres() {
    let Some(db) = TestDatabase::postgres("cli_crash").await else {
        eprintln!("skipping the PostgreSQL crash test: BATON_TEST_POSTGRES_URL is not set");
        return;
    };
    crash_and_recover(&db).await;
}

async fn crash_and_recover(db: &TestDatabase) {
    let tenant = create_tenant(db.url(), "Crash Co", "ops@crash.example").await;
    let server = Server::serve(db.url()).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let started = send(&client, Method::POST, &server.url("/v1/conversations"), Some(&tenant.api_key),
        Some(json!({"customer": {"external_id": "crash-customer", "name": "Kim"}, "channel": "whatsapp"}))).await;
    assert_eq!(started.status, 201, "{}", started.body);
    let conversation = started.body["id"].as_str().unwrap().to_string();
    let messages_url = server.url(&format!("/v1/conversations/{conversation}/messages"));

    // Writers post until the server dies under them, recording what was acknowledged.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let ack_count = Arc::new(AtomicUsize::new(0));
    let unexpected = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (client, url, key) = (client.clone(), messages_url.clone(), tenant.api_key.clone());
        let (acked, ack_count, unexpected, stop) = (
            acked.clone(),
            ack_count.clone(),
            unexpected.clone(),
            stop.clone(),
        );
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let external_id = format!("w{w}-m{i}");
                let body = json!({"role": "customer", "text": format!("note {i} from writer {w}"), "external_id": external_id});
                match client.post(&url).bearer_auth(&key).json(&body).send().await {
                    Ok(resp) if resp.status().is_success() => {
                        acked.lock().unwrap().push(external_id);
                        ack_count.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(resp) => {
                        let status = resp.status();
                        let text = resp.text().await.unwrap_or_default();
                        unexpected.lock().unwrap().push(format!("{external_id}: {status} {text}"));
                    }
                    // The server is gone: connection refused or reset.
                    Err(_) => break,
                }
            }
        }));
    }
    let writing = Instant::now();
    while ack_count.load(Ordering::SeqCst) < ENOUGH_ACKS && writing.elapsed() < MAX_WRITING {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Requests are in flight now: every writer loops without pause.
    server.kill().await;
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        tokio::time::timeout(Duration::from_secs(15), writer)
            .await
            .expect("writer stuck after the kill")
            .unwrap();
    }
    let unexpected = unexpected.lock().unwrap().clone();
    assert!(
        unexpected.is_empty(),
        "non-2xx answers while writing: {unexpected:#?}"
    );
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 20,
        "too few messages acknowledged before the kill to mean anything: {}",
        acked.len()
    );
    eprintln!(
        "{} messages acknowledged in {:?} before SIGKILL",
        acked.len(),
        writing.elapsed()
    );

    // Restart on the same database.
    let server = Server::serve(db.url()).await;
    let admin = login(&client, &server, &tenant.email, &tenant.password).await;
    let messages = all_pages(
        &client,
        &server,
        &format!("/v1/conversations/{conversation}/messages"),
        &tenant.api_key,
    )
    .await;
    let mut stored = BTreeMap::<String, usize>::new();
    for m in &messages {
        let ext = m["external_id"]
            .as_str()
            .unwrap_or_else(|| panic!("message without external_id: {m}"));
        *stored.entry(ext.to_string()).or_default() += 1;
    }
    let duplicated: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicated.is_empty(),
        "stored more than once: {duplicated:?}"
    );
    let lost: Vec<_> = acked
        .iter()
        .filter(|ext| !stored.contains_key(*ext))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged messages lost after SIGKILL: {lost:?}",
        lost.len()
    );
    eprintln!(
        "after restart: {} stored, {} acknowledged",
        messages.len(),
        acked.len()
    );
    // At most the requests in flight at the kill were stored without an answer.
    assert!(
        messages.len() <= acked.len() + WRITERS,
        "{} stored, {} acknowledged",
        messages.len(),
        acked.len()
    );

    // One `message_added` per stored message, naming exactly the stored messages.
    let events = all_pages(
        &client,
        &server,
        &format!("/v1/conversations/{conversation}/events"),
        &admin,
    )
    .await;
    let added: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "message_added")
        .collect();
    assert_eq!(added.len(), messages.len(), "events vs transcript");
    let event_ids: BTreeSet<&str> = added
        .iter()
        .map(|e| {
            e["data"]["message"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{e}"))
        })
        .collect();
    let message_ids: BTreeSet<&str> = messages.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(event_ids, message_ids);
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "event log out of order: {seqs:?}"
    );

    // The recovered server deduplicates a retried acknowledged message and takes new ones.
    let url = server.url(&format!("/v1/conversations/{conversation}/messages"));
    let again = send(
        &client,
        Method::POST,
        &url,
        Some(&tenant.api_key),
        Some(json!({"role": "customer", "text": "retry", "external_id": acked[0]})),
    )
    .await;
    assert!(again.status.is_success(), "{}", again.body);
    assert_eq!(again.body["duplicate"], true, "{}", again.body);
    let fresh = send(
        &client,
        Method::POST,
        &url,
        Some(&tenant.api_key),
        Some(
            json!({"role": "customer", "text": "after the crash", "external_id": "after-restart"}),
        ),
    )
    .await;
    assert_eq!(fresh.status, 201, "{}", fresh.body);
    let after = all_pages(
        &client,
        &server,
        &format!("/v1/conversations/{conversation}/messages"),
        &tenant.api_key,
    )
    .await;
    assert_eq!(after.len(), messages.len() + 1);
}
