//! Why a command failed, and the exit code that tells a script which way (documented in
//! `lockbox --help`).

use std::process::ExitCode;

use customer_lockbox::{ErrorClass, StoreError};

use crate::print::Output;

/// The exit codes. 2 (usage) is clap's own, for arguments; values the store refuses as
/// arguments use it too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// The store, a file or the transport failed.
    Failed = 1,
    /// An argument is missing or not valid.
    Usage = 2,
    /// Evidence does not hold: tampering, forgery, a fork.
    Refused = 3,
    /// No such store, request, policy or checkpoint.
    NotFound = 4,
}

impl From<Code> for ExitCode {
    fn from(code: Code) -> ExitCode {
        ExitCode::from(code as u8)
    }
}

/// A failed command: its exit code, what was wrong, and what to do.
#[derive(Debug)]
pub struct Failure {
    pub code: Code,
    pub message: String,
}

impl Failure {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// No `--store` and no `LOCKBOX_STORE`.
    pub fn no_store() -> Self {
        Failure::new(
            Code::Usage,
            "no store given: pass --store PATH (a SQLite file) or --store postgres://..., or set LOCKBOX_STORE",
        )
    }

    /// A file or stream failed while `doing`.
    pub fn io(doing: &str, err: impl std::fmt::Display) -> Self {
        Failure::new(Code::Failed, format!("{doing} failed: {err}"))
    }

    /// A value given on the command line that the library refuses.
    pub fn usage(err: impl std::fmt::Display) -> Self {
        Failure::new(Code::Usage, err.to_string())
    }

    /// Prints the failure on standard error (as JSON too, with `--json`, on standard output)
    /// and gives its exit code.
    pub fn report(&self, out: &Output) -> ExitCode {
        eprintln!("lockbox: error: {}", self.message);
        if out.json() {
            #[derive(serde::Serialize)]
            struct Reported<'a> {
                error: &'a str,
                exit_code: u8,
            }
            out.json_of(&Reported {
                error: &self.message,
                exit_code: self.code as u8,
            });
        }
        self.code.into()
    }
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        let code = if err.is_not_found() || matches!(err, StoreError::NoCheckpoint { .. }) {
            Code::NotFound
        } else if err.class() == ErrorClass::Corrupt || unsigned(&err) {
            // A refused record, a broken log or checkpoint, a policy history that does not
            // read, a decision or a change its person did not sign: the evidence does not hold.
            Code::Refused
        } else {
            Code::Failed
        };
        let mut message = with_causes(&err);
        if let StoreError::SchemaBehind { .. } = err {
            message.push_str(" (lockbox migrate --store ... brings it up to date)");
        }
        Failure::new(code, message)
    }
}

/// Whether `err` refuses a decision or a policy change for its signature: a forgery, as far
/// as the store can tell.
fn unsigned(err: &StoreError) -> bool {
    use customer_lockbox::Refusal;
    match err {
        StoreError::Refused { refusal, .. } => matches!(
            refusal,
            Refusal::UnsignedDecision | Refusal::DecisionSignatureRefused { .. }
        ),
        StoreError::InvalidPolicy(inner) => inner.is_policy_change_unsigned(),
        _ => false,
    }
}

/// `err`'s message followed by each of its sources' that adds something (the driver's
/// "connection refused", SQLite's "file is not a database"), joined with `: `.
pub fn with_causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut message = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !text.is_empty() && !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        next = cause.source();
    }
    message
}
