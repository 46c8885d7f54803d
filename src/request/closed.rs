use chrono::{DateTime, Utc};

use super::Request;
use crate::state::{Closed, ClosureReason};

/// A closed request. It has no steps: it is the end of the workflow, and it only tells why and
/// when it closed. Its audit trail remains.
///
/// ```
/// use customer_lockbox::*;
/// # let (drafted, _policy, now) = customer_lockbox::doc_support::drafted()?;
///
/// let closed = drafted.reject(&SupportManagerId::new("sam")?, now)?;
/// assert_eq!(closed.reason(), ClosureReason::RejectedByManager);
/// assert!(!closed.reason().had_access());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl Request<Closed> {
    /// Why it closed.
    pub fn reason(&self) -> ClosureReason {
        self.state.reason
    }

    /// When it closed. For an expiry this is the decision deadline; for an elapsed window, the
    /// window's end; otherwise the instant of the closing step.
    pub fn closed_at(&self) -> DateTime<Utc> {
        self.state.closed_at
    }
}
