//! Throwaway databases for tests: a fresh SQLite file, or a fresh PostgreSQL database on the
//! server named by `BATON_TEST_POSTGRES_URL`, removed when dropped.

use std::path::PathBuf;

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Dir(PathBuf),
    Postgres { admin_url: String, name: String },
}

fn unique(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(30)
        .collect();
    format!("baton_test_{clean}_{}", crate::ids::new_suffix())
}

/// `admin` with its database path replaced by `db` (query string kept).
pub fn with_database(admin: &str, db: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| i + scheme_end);
    format!("{}/{db}{query}", &base[..host_end])
}

/// `BATON_TEST_POSTGRES_URL`, or `None` (the PostgreSQL case is skipped) when it is unset;
/// with `CI` set a missing PostgreSQL is a failure, not a skip.
///
/// # Panics
///
/// Under `CI` when the variable is unset.
pub fn postgres_url(test: &str) -> Option<String> {
    match std::env::var("BATON_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "{test}: BATON_TEST_POSTGRES_URL is not set, and CI is: PostgreSQL cases must run"
            )
        }
        _ => {
            eprintln!("skipping {test} on PostgreSQL: BATON_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

impl TestDatabase {
    /// A fresh SQLite file in its own temporary folder.
    pub async fn sqlite(name: &str) -> TestDatabase {
        let dir = std::env::temp_dir().join(unique(name));
        let url = format!("sqlite://{}", dir.join("baton.db").display());
        TestDatabase {
            url,
            cleanup: Cleanup::Dir(dir),
        }
    }

    /// A fresh PostgreSQL database, or `None` when `BATON_TEST_POSTGRES_URL` is not set (under
    /// `CI` a missing PostgreSQL fails the test instead: see [`postgres_url`]).
    pub async fn postgres(name: &str) -> Option<TestDatabase> {
        use sqlx::Connection;
        let admin_url = postgres_url(name)?;
        let db = unique(name);
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("connect to BATON_TEST_POSTGRES_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        Some(TestDatabase {
            url: with_database(&admin_url, &db),
            cleanup: Cleanup::Postgres {
                admin_url,
                name: db,
            },
        })
    }

    /// Its connection URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside a runtime; do the async cleanup on a thread of its own.
                let _ = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    rt.block_on(async {
                        use sqlx::Connection;
                        if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                                .execute(&mut admin)
                                .await;
                        }
                    });
                })
                .join();
            }
        }
    }
}
