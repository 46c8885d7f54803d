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
}

fn locate(url: &str) -> Location {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Location::Postgres(url.to_owned());
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    Location::Sqlite(PathBuf::from(path))
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
            let store = match access {
                Access::Read => SqliteStore::open_read_only(&path).await?,
                Access::Write { .. } => SqliteStore::open(&path).await?,
            };
            on_store(&store, store_clock, command, out).await
        }
        Location::Postgres(url) => {
            let store = PostgresStore::connect(&url).await?;
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
