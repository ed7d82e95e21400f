//! `baton backup DEST`: a consistent copy of a SQLite database while servers keep writing to
//! it. Restoring is starting Baton on the copy.

use anyhow::Context;
use baton_server::Config;
use baton_server::config::redact_url;
use sqlx::Connection as _;
use std::path::{Path, PathBuf};

/// Copies the configured SQLite database to `dest` (a new file), then checks the copy.
pub async fn run(config: &Config, dest: &Path) -> anyhow::Result<()> {
    let url = config.database_url();
    let shown = redact_url(&url);
    if !url.starts_with("sqlite:") {
        anyhow::bail!(
            "{shown} is PostgreSQL: back it up with pg_dump --format=custom --file=baton.dump \
             '<database URL>' and restore with pg_restore (docs/operations.md); baton backup \
             copies SQLite databases"
        );
    }
    if dest.exists() {
        anyhow::bail!(
            "{} already exists: baton backup never overwrites a file; pick a new name",
            dest.display()
        );
    }
    if let Some(parent) = dest.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the folder {}", parent.display()))?;
    }
    let options = baton_store::ConnectOptions {
        max_connections: 2,
        create_if_missing: false,
        open_whole_pool: false,
    };
    let store = baton_store::connect_with(&url, options)
        .await
        .with_context(|| format!("cannot open {shown}"))?;
    // Written under a temporary name and renamed once checked: a backup file that exists is
    // complete.
    let partial = PathBuf::from(format!("{}.partial", dest.display()));
    let _ = std::fs::remove_file(&partial);
    store
        .backup_to(&partial)
        .await
        .with_context(|| format!("copying {shown} to {}", partial.display()))?;
    drop(store);
    let checked = check_copy(&partial).await;
    let (events, conversations) = match checked {
        Ok(counts) => counts,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e.context("the copy does not check out; nothing was kept"));
        }
    };
    std::fs::rename(&partial, dest)
        .with_context(|| format!("renaming {} to {}", partial.display(), dest.display()))?;
    let bytes = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
    println!(
        "backup of {shown} written to {} ({bytes} bytes, {events} events, {conversations} \
         conversations; integrity check ok)",
        dest.display()
    );
    println!(
        "restore: stop Baton, then start it on the copy: baton serve --database sqlite://{}",
        dest.display()
    );
    Ok(())
}

/// Opens the copy on its own and checks its pages; returns its events and conversations.
async fn check_copy(path: &Path) -> anyhow::Result<(i64, i64)> {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .context("opening the copy")?;
    let verdict: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await?;
    anyhow::ensure!(verdict == "ok", "integrity check: {verdict}");
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(&mut conn)
        .await?;
    let conversations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM conversations")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await.ok();
    Ok((events, conversations))
}
