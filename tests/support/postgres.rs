//! A PostgreSQL database of its own for each test, in the cluster that
//! `CAMPAIGN_TEST_POSTGRES` names (`.ci/run` starts one and sets it).
//!
//! The rule: without the variable, a test that needs PostgreSQL prints a
//! note and passes on a developer's machine, and fails when `CI` is set, so
//! that CI never skips it silently.

/// A fresh database, dropped with the value.
pub struct TestDb {
    /// Its URL.
    pub url: String,
    admin: String,
    name: String,
}

/// The cluster's URL, or `None` (with a note) where PostgreSQL tests are
/// skipped; panics in CI without one.
pub fn cluster() -> Option<String> {
    match std::env::var("CAMPAIGN_TEST_POSTGRES") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!(
            "CI is set but CAMPAIGN_TEST_POSTGRES is not: the PostgreSQL tests must run in CI \
             (.ci/run starts a cluster and sets it)"
        ),
        _ => {
            eprintln!(
                "note: CAMPAIGN_TEST_POSTGRES is not set: skipping the PostgreSQL case \
                 (`source .ci/postgres && postgres_start` starts a throwaway cluster and sets it)"
            );
            None
        }
    }
}

/// Runs `sql` on the cluster's admin database, from a thread of its own (the
/// caller may be inside a runtime).
fn admin(url: &str, sql: String) {
    let url = url.to_string();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .unwrap_or_else(|e| panic!("cannot connect to CAMPAIGN_TEST_POSTGRES: {e}"));
                tokio::spawn(conn);
                client
                    .batch_execute(&sql)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
            })
    })
    .join()
    .unwrap();
}

impl TestDb {
    /// A new empty database, or `None` where PostgreSQL tests are skipped.
    pub fn create() -> Option<TestDb> {
        let admin_url = cluster()?;
        let name = format!(
            "campaign_test_{}_{:08x}",
            std::process::id(),
            fastrand::u32(..)
        );
        admin(&admin_url, format!("CREATE DATABASE {name}"));
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&format!("/{name}"));
        Some(TestDb {
            url: url.to_string(),
            admin: admin_url,
            name,
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        admin(
            &self.admin,
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}
