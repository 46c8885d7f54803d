//! The audit trail: one record for every step, every refused attempt and every engineer action,
//! and a search over it.

mod chain;
mod log;
mod query;
mod record;

pub use chain::{ChainBreak, ChainHash, ChainHead, ChainVerdict, Tampering};
pub use log::AuditLog;
pub use query::{AuditCursor, AuditPage, AuditQuery, PageSize};
pub use record::{Actor, AuditEvent, AuditEventKind, AuditRecord};
