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

/// Creates an empty database on the server and returns parameters that connect to it.
pub fn fresh_database() -> String {
    let server = server();
    let name = format!("lockbox_{}", uuid::Uuid::now_v7().simple());
    let mut admin = postgres::Client::connect(&server, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    format!("{server} dbname={name}")
}
