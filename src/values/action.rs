use serde::{Deserialize, Serialize};

use super::text::{Alphabet, Normalization, TextRule, text_value};
use crate::values::Service;

text_value! {
    /// What the engineer did, such as `Get-MailboxFolderStatistics` or `read item`.
    ///
    /// 1 to 200 printable characters; the same character rules as
    /// [`Justification`](crate::Justification).
    Operation,
    TextRule {
        what: "operation",
        empty_hint: "name the operation the engineer performed",
        max_chars: 200,
        alphabet: Alphabet::Prose,
        normalization: Normalization::AsGiven,
    }
}

text_value! {
    /// What the engineer acted on, such as a mailbox, a site or a file path.
    ///
    /// 1 to 1,000 printable characters; the same character rules as
    /// [`Justification`](crate::Justification).
    Target,
    TextRule {
        what: "target",
        empty_hint: "name what the engineer acted on (a mailbox, a site, a file)",
        max_chars: 1000,
        alphabet: Alphabet::Prose,
        normalization: Normalization::AsGiven,
    }
}

/// One thing the engineer did with the customer's data while access was granted.
///
/// ```
/// use customer_lockbox::{EngineerAction, Operation, Service, Target};
///
/// let action = EngineerAction::new(
///     Service::ExchangeOnline,
///     Operation::new("Get-MailboxFolderStatistics")?,
///     Target::new("cfo mailbox")?,
/// );
/// assert_eq!(action.service(), Service::ExchangeOnline);
/// # Ok::<(), customer_lockbox::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EngineerAction {
    service: Service,
    operation: Operation,
    target: Target,
}

impl EngineerAction {
    /// An action on `target` in `service`.
    pub fn new(service: Service, operation: Operation, target: Target) -> Self {
        EngineerAction {
            service,
            operation,
            target,
        }
    }

    /// The service acted in.
    pub fn service(&self) -> Service {
        self.service
    }

    /// What was done.
    pub fn operation(&self) -> &Operation {
        &self.operation
    }

    /// What it was done to.
    pub fn target(&self) -> &Target {
        &self.target
    }
}
