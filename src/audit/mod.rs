//! The audit trail: one record for every step, every refused attempt and every engineer action,
//! and a search over it.
//!
//! Records are produced by the request itself, inside each transition, and travel with it
//! ([`Request::audit_trail`](crate::Request::audit_trail)): a step cannot happen without its
//! record, and a record cannot be dropped without dropping the request. [`AuditLog`] collects
//! them from requests for searching in memory; the stores implement the same [`AuditQuery`]
//! over SQL.

pub mod chain;
mod log;
mod query;
mod record;

pub use chain::{ChainBreak, ChainHash, ChainHead, ChainVerdict, Tampering};
pub use log::AuditLog;
pub use query::{AuditCursor, AuditPage, AuditQuery, PageSize};
pub use record::{Actor, AuditEvent, AuditEventKind, AuditRecord};
