//! What a notification is about: the kinds of message the lockbox sends, as stored and shown.

use std::fmt;

/// What a notification is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NotificationKind {
    /// To the tenant's designated approvers: a request awaits their decision.
    DecisionNeeded,
    /// To the engineer: the customer granted access.
    AccessGranted,
    /// To the engineer: the customer denied the request, or it expired unanswered.
    NoAccess,
    /// To the tenant's designated approvers: access has ended; the post-access report.
    AccessEnded,
    /// To the approvers designated before and after a change of the tenant's policy: who
    /// changed what, and when.
    PolicyChanged,
}

impl NotificationKind {
    /// The kind as stored: the serde name, such as `decision_needed`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::DecisionNeeded => "decision_needed",
            NotificationKind::AccessGranted => "access_granted",
            NotificationKind::NoAccess => "no_access",
            NotificationKind::AccessEnded => "access_ended",
            NotificationKind::PolicyChanged => "policy_changed",
        }
    }

    /// The kind named by its stored text.
    pub fn parse(text: &str) -> Option<NotificationKind> {
        [
            NotificationKind::DecisionNeeded,
            NotificationKind::AccessGranted,
            NotificationKind::NoAccess,
            NotificationKind::AccessEnded,
            NotificationKind::PolicyChanged,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }

    /// Whether it goes to the engineer (otherwise to the tenant's approvers).
    pub fn to_engineer(self) -> bool {
        matches!(
            self,
            NotificationKind::AccessGranted | NotificationKind::NoAccess
        )
    }
}

impl fmt::Display for NotificationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotificationKind::DecisionNeeded => "decision needed",
            NotificationKind::AccessGranted => "access granted",
            NotificationKind::NoAccess => "no access",
            NotificationKind::AccessEnded => "access ended",
            NotificationKind::PolicyChanged => "policy changed",
        })
    }
}
