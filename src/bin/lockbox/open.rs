//! A store by URL: a SQLite file's path (or `sqlite://PATH`), or a `postgres://` URL.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use customer_lockbox::ManualClock;
use customer_lockbox::{Backend, PostgresStore, SqliteStore, Store};

use crate::cli::Command;
use crate::failure::{Code, Failure};
use crate::print::Output;

/// How a command uses the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Reads only: a SQLite file is opened read-only (an auditor's copy works).
    Read,
    /// Writes; `create` makes a new SQLite file (only `migrate` does).
    Write { create: bool },
}

/// Where the store is.
#[derive(Debug, PartialEq, Eq)]
enum Location {
    Sqlite(PathBuf),
    Postgres(String),
    /// A URL of a kind this build opens none of.
    Other(String),
}

fn locate(url: &str) -> Location {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Location::Postgres(url.to_owned());
    }
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        return Location::Sqlite(PathBuf::from(path));
    }
    match url.split_once("://") {
        Some((scheme, _)) => Location::Other(scheme.to_owned()),
        None => Location::Sqlite(PathBuf::from(url)),
    }
}

/// Whether `err` says the database itself could not be opened or reached (rather than, say,
/// that its schema is newer than this build's, which says so itself).
fn opening(err: &customer_lockbox::StoreError) -> bool {
    matches!(
        err,
        customer_lockbox::StoreError::Database { .. }
            | customer_lockbox::StoreError::Unavailable { .. }
    )
}

/// Why a SQLite store at `path` did not open, with the cause and what to do.
fn sqlite_failure(path: &std::path::Path, err: customer_lockbox::StoreError) -> Failure {
    if !opening(&err) {
        return err.into();
    }
    let shown = path.display();
    let cause = crate::failure::with_causes(&err);
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let hint = if parent.is_some_and(|p| !p.is_dir()) {
        format!(
            "the directory {} does not exist: create it, or give another path",
            parent.map_or(shown.to_string(), |p| p.display().to_string())
        )
    } else if cause.contains("not a database") {
        format!("{shown} is not a SQLite database: give a store's path, or a new path to migrate")
    } else {
        "check the path and its permissions".to_owned()
    };
    Failure::new(
        Code::Failed,
        format!("opening the SQLite store {shown} failed ({cause}): {hint}"),
    )
}

/// Why the PostgreSQL store at `url` did not open, naming its hosts (never its password).
fn postgres_failure(url: &str, err: customer_lockbox::StoreError) -> Failure {
    if !opening(&err) {
        return err.into();
    }
    let hosts = url
        .parse::<customer_lockbox::tokio_postgres::Config>()
        .map(|config| {
            let ports = config.get_ports();
            config
                .get_hosts()
                .iter()
                .enumerate()
                .map(|(i, host)| {
                    let host = match host {
                        customer_lockbox::tokio_postgres::config::Host::Tcp(name) => name.clone(),
                        #[cfg(unix)]
                        customer_lockbox::tokio_postgres::config::Host::Unix(path) => {
                            path.display().to_string()
                        }
                    };
                    let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
                    format!("{host}:{port}")
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_else(|_| "the URL's host".to_owned());
    let code = if matches!(err, customer_lockbox::StoreError::Database { .. }) {
        Code::Usage
    } else {
        Code::Failed
    };
    Failure::new(
        code,
        format!(
            "connecting to PostgreSQL at {hosts} failed ({}): check that the server runs there and the URL's host, port, user and database",
            crate::failure::with_causes(&err)
        ),
    )
}

/// Opens the store at `url` and runs `command` on it.
pub async fn with_store(
    url: &str,
    access: Access,
    store_clock: Option<DateTime<Utc>>,
    command: Command,
    out: &Output,
) -> Result<ExitCode, Failure> {
    match locate(url) {
        Location::Other(scheme) => Err(Failure::usage(format!(
            "{scheme}:// is no store this build opens: give a SQLite file's path (or sqlite://PATH) or a postgres:// URL"
        ))),
        Location::Sqlite(path) if path.is_dir() => Err(Failure::new(
            Code::NotFound,
            format!(
                "{} is a directory, not a store: give a SQLite file's path, such as {}",
                path.display(),
                path.join("lockbox.db").display()
            ),
        )),
        Location::Sqlite(path) => {
            if access != (Access::Write { create: true }) && !path.is_file() {
                return Err(Failure::new(
                    Code::NotFound,
                    format!(
                        "no store at {}: check the path (a SQLite file), or create one with `lockbox migrate --store {}`",
                        path.display(),
                        path.display()
                    ),
                ));
            }
            let opened = match access {
                Access::Read => SqliteStore::open_read_only(&path).await,
                Access::Write { .. } => SqliteStore::open(&path).await,
            };
            let store = opened.map_err(|err| sqlite_failure(&path, err))?;
            on_store(&store, store_clock, command, out).await
        }
        Location::Postgres(url) => {
            let store = PostgresStore::connect(&url)
                .await
                .map_err(|err| postgres_failure(&url, err))?;
            on_store(&store, store_clock, command, out).await
        }
    }
}

/// Runs a store command.
async fn on_store<B: Backend>(
    store: &Store<B>,
    store_clock: Option<DateTime<Utc>>,
    command: Command,
    out: &Output,
) -> Result<ExitCode, Failure> {
    if let Some(instant) = store_clock {
        store.set_clock(ManualClock::new(instant));
    }
    match command {
        Command::Requests(args) => crate::requests::list(store, args, out).await,
        Command::Show { request } => crate::requests::show(store, request, out).await,
        Command::Audit(command) => crate::audit::run(store, command, out).await,
        Command::Policy(command) => crate::policy::run(store, command, out).await,
        Command::Verify(args) => crate::evidence::verify(store, args, out).await,
        Command::ExportLog { tenant, output } => {
            crate::evidence::export_log(store, tenant, output, out).await
        }
        Command::Proof(command) => crate::evidence::proof(store, command, out).await,
        Command::Sweep(args) => crate::operate::sweep(store, args, out).await,
        Command::Deliver(args) => crate::operate::deliver(store, args, out).await,
        Command::Migrate => crate::operate::migrate(store, out).await,
        Command::Decision(args) => crate::evidence::decision(store, args, out).await,
        // Run before any store is opened (main.rs); never routed here.
        Command::Completions { .. }
        | Command::VerifyOffline(_)
        | Command::Keygen(_)
        | Command::Demo(_) => Err(Failure::usage(
            "this command opens no store of its own: run it without --store",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_store() {
        assert_eq!(
            locate("postgres://lockbox@db/lockbox"),
            Location::Postgres("postgres://lockbox@db/lockbox".into())
        );
        assert_eq!(locate("sqlite://a/b.db"), Location::Sqlite("a/b.db".into()));
        assert_eq!(locate("sqlite:b.db"), Location::Sqlite("b.db".into()));
        assert_eq!(
            locate("/var/lib/lockbox.db"),
            Location::Sqlite("/var/lib/lockbox.db".into())
        );
    }
}
