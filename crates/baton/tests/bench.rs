//! `baton bench load`, small: it starts its own servers, drives them, and reports every
//! handoff offered with no errors, on SQLite and (when `BATON_TEST_POSTGRES_URL` is set) on
//! PostgreSQL with two instances.

mod support;

use serde_json::Value;
use std::time::Duration;
use support::*;

/// A small run: 40 messages, 4 handoffs, 3 agents; its JSON report.
async fn small_run(name: &str, extra: &[&str]) -> Value {
    let dir = TempDir::new(name);
    let json = dir.path().join("bench.json");
    let json_arg = json.display().to_string();
    let mut args = vec![
        "bench",
        "load",
        "--duration",
        "2",
        "--rate",
        "20",
        "--handoffs",
        "2",
        "--agents",
        "3",
        "--conversations",
        "20",
        "--baseline-secs",
        "1",
        "--json",
        &json_arg,
    ];
    args.extend_from_slice(extra);
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        baton(&args, &[])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .output(),
    )
    .await
    .expect("the bench finishes within 60 s")
    .expect("run baton bench load");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "{}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(stdout.contains("trigger → offer"), "{stdout}");
    let text = std::fs::read_to_string(&json).expect("the JSON report");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn check(report: &Value) {
    let load = &report["load"];
    assert_eq!(report["outcome"], "completed", "{report:#}");
    assert_eq!(report["server_died"], false, "{report:#}");
    assert!(
        report["command"].as_str().unwrap().contains("bench load"),
        "{report:#}"
    );
    assert!(
        report["baseline"]["rows_per_sec"].as_f64().unwrap() > 0.0,
        "{report:#}"
    );
    assert!(load["messages"]["sent"].as_u64().unwrap() > 0, "{report:#}");
    assert_eq!(
        load["messages"]["ok"], load["messages"]["scheduled"],
        "{report:#}"
    );
    assert_eq!(load["errors"], 0, "{report:#}");
    let handoffs = load["handoffs"]["scheduled"].as_u64().unwrap();
    assert_eq!(handoffs, 4, "{report:#}");
    let offer = &load["trigger_to_offer"];
    assert_eq!(offer["handed_off"], handoffs, "{report:#}");
    assert_eq!(offer["offered"], handoffs, "{report:#}");
    assert_eq!(offer["never_offered"], 0, "{report:#}");
    assert!(offer["latency"]["p50_ms"].as_f64().is_some(), "{report:#}");
    // Every offer accepted (or lost to a 409) and every accepted conversation closed.
    let agents = &load["agents"];
    assert!(agents["accepted"].as_u64().unwrap() >= 1, "{report:#}");
    assert_eq!(agents["still_held"], 0, "{report:#}");
    assert_eq!(agents["closed"], agents["accepted"], "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_load_smoke_sqlite() {
    let report = small_run("bench-sqlite", &[]).await;
    check(&report);
    assert_eq!(report["backend"], "sqlite");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_load_smoke_postgres() {
    let Some(url) = std::env::var("BATON_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("skipping the PostgreSQL bench: BATON_TEST_POSTGRES_URL is not set");
        return;
    };
    let report = small_run(
        "bench-postgres",
        &[
            "--backend",
            "postgres",
            "--postgres-url",
            &url,
            "--instances",
            "2",
        ],
    )
    .await;
    check(&report);
    assert_eq!(report["backend"], "postgres");
    assert_eq!(report["servers"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_load_refuses_unbounded_or_impossible_runs() {
    for (args, needle) in [
        (vec!["--instances", "2"], "needs --backend postgres"),
        (vec!["--rate", "0"], "--rate"),
        (vec!["--duration", "100000"], "--duration"),
    ] {
        let mut all = vec!["bench", "load"];
        all.extend(args);
        let out = run(&all, &[]).await;
        assert!(out.failed().contains(needle), "{}", out.stderr);
    }
}
