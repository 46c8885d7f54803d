//! The PostgreSQL server the tests run against: `LOCKBOX_POSTGRES_URL`, set by `bash .ci/test`
//! after it starts a throwaway cluster. Each test gets a database of its own.

/// The server's connection parameters.
pub fn server() -> String {
    std::env::var("LOCKBOX_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "LOCKBOX_POSTGRES_URL is not set: run `bash .ci/test`, which starts a PostgreSQL \
             server for the tests, or set it to libpq parameters of a server you started"
        )
    })
}

/// A raw client on `url`, its connection driven by a task of the current runtime.
pub async fn client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Creates an empty database on the server and returns parameters that connect to it.
pub async fn fresh_database() -> String {
    let server = server();
    let name = format!("lockbox_{}", uuid::Uuid::now_v7().simple());
    client(&server)
        .await
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    format!("{server} dbname={name}")
}

/// Drops the database `url` names, closing its sessions: a suite run creates one database per
/// test, and without this a run's databases (7 to 8 MB each) would fill a small disk. Runs on a
/// thread of its own, so it can be called from `Drop` inside a test's runtime.
pub fn drop_database(url: &str) {
    let Some(name) = url
        .split_whitespace()
        .filter_map(|part| part.strip_prefix("dbname="))
        .next_back()
        .map(str::to_owned)
    else {
        return;
    };
    let server = server();
    let _ = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async move {
            if let Ok((client, connection)) =
                tokio_postgres::connect(&server, tokio_postgres::NoTls).await
            {
                tokio::spawn(connection);
                let _ = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            }
        });
    })
    .join();
}

/// Parameters for a role on the database at `url` that may only read the store's tables.
pub async fn reader(url: &str) -> String {
    let role = format!("reader_{}", uuid::Uuid::now_v7().simple());
    client(url)
        .await
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN; \
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role};"
        ))
        .await
        .unwrap();
    let without_user: Vec<&str> = url
        .split_whitespace()
        .filter(|part| !part.starts_with("user="))
        .collect();
    format!("{} user={role}", without_user.join(" "))
}

/// A database of a test's own on the server, dropped (with its sessions) when the guard is.
pub struct Database(String);

impl Database {
    /// A fresh, empty database.
    pub async fn fresh() -> Database {
        Database(fresh_database().await)
    }
}

impl std::ops::Deref for Database {
    type Target = String;
    fn deref(&self) -> &String {
        &self.0
    }
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        drop_database(&self.0);
    }
}
