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
