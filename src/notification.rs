//! The email notification that asks a tenant's designated approvers to decide.
//!
//! Customer Lockbox notifications contain no links: an approver is told to sign in to their
//! admin center, so a phishing message that imitates a notification has nothing legitimate to
//! imitate. That holds whatever text the engineer or the tenant supplied: every free-text value
//! is quoted with the characters that make a link (`.`, `@`, `:`, `/`, `\`, and every Unicode
//! character that normalizes to one of them, such as the fullwidth full stop) neutralized in
//! brackets, so `https://evil.example` is shown as `https[:][/][/]evil[.]example`.

use std::fmt::Write as _;

use unicode_normalization::UnicodeNormalization;

use crate::policy::{DesignatedApprover, TenantPolicy};
use crate::request::Request;
use crate::state::PendingCustomer;

/// A message to send: recipients, subject and plain-text body, rendered by this crate.
///
/// The subject and body contain nothing that a mail client's link detection would turn into a
/// link. The recipients' addresses belong in the envelope and headers, never in the body.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[must_use = "a notification must be sent: the approvers cannot decide a request they never hear of"]
pub struct Notification {
    recipients: Vec<DesignatedApprover>,
    subject: String,
    body: String,
}

impl Notification {
    /// The notification asking `policy`'s designated approvers to decide on `pending`.
    pub(crate) fn decision_needed(
        pending: &Request<PendingCustomer>,
        policy: &TenantPolicy,
    ) -> Self {
        let subject = format!(
            "Customer Lockbox request for service request {} awaits your decision",
            neutralize_links(pending.service_request().as_str())
        );
        let mut body = String::new();
        // Writing to a String cannot fail.
        let _ = write!(
            body,
            "A support engineer asks for temporary access to your organization's data to resolve a \
support case. Nothing has been accessed: access starts only if a designated approver grants \
this request.\n\
\n\
Request ID:        {request}\n\
Tenant ID:         {tenant}\n\
Service request:   {service_request}\n\
Engineer:          {engineer}\n\
Approved by:       {manager} (support manager)\n\
Services:          {services}\n\
Access duration:   {duration}\n\
Justification:     {justification}\n\
Decide by:         {deadline}\n\
\n\
If nobody grants the request by then, it expires and gives no access.\n\
\n\
To grant or deny it, sign in to your admin center and open Customer Lockbox requests. This \
message contains no links; do not trust a message about this request that does.\n",
            request = pending.id(),
            tenant = pending.tenant(),
            service_request = neutralize_links(pending.service_request().as_str()),
            engineer = neutralize_links(pending.engineer().as_str()),
            manager = neutralize_links(pending.approved_by().as_str()),
            services = pending.services(),
            duration = pending.access_duration(),
            justification = neutralize_links(pending.justification().as_str()),
            deadline = pending.decision_deadline().format("%Y-%m-%d %H:%M:%S UTC"),
        );
        Notification {
            recipients: policy.approvers().to_vec(),
            subject,
            body,
        }
    }

    /// Who it goes to: the tenant's designated approvers.
    pub fn recipients(&self) -> &[DesignatedApprover] {
        &self.recipients
    }

    /// The subject line.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The plain-text body, lines ending in `\n`.
    pub fn body(&self) -> &str {
        &self.body
    }
}

/// Quotes free text with every link-forming character bracketed: `.` as `[.]`, `@` as `[at]`,
/// `:` as `[:]`, `/` as `[/]`, `\` as `[\]`, including Unicode look-alikes that normalize
/// (NFKC) to them.
pub(crate) fn neutralize_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match link_character(c) {
            Some(replacement) => out.push_str(replacement),
            None => out.push(c),
        }
    }
    out
}

fn link_character(c: char) -> Option<&'static str> {
    let bracket = |ascii: char| match ascii {
        '.' => Some("[.]"),
        '@' => Some("[at]"),
        ':' => Some("[:]"),
        '/' => Some("[/]"),
        '\\' => Some("[\\]"),
        _ => None,
    };
    if c.is_ascii() {
        return bracket(c);
    }
    // IDNA treats the ideographic full stops as label separators too, though NFKC keeps them.
    if matches!(c, '\u{3002}' | '\u{FF61}') {
        return Some("[.]");
    }
    std::iter::once(c).nfkc().find_map(bracket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_link_characters_and_look_alikes() {
        assert_eq!(
            neutralize_links("see https://evil.example or bob@evil.example"),
            "see https[:][/][/]evil[.]example or bob[at]evil[.]example"
        );
        assert_eq!(neutralize_links("evil\u{FF0E}example"), "evil[.]example");
        assert_eq!(neutralize_links("a\u{FE6B}b"), "a[at]b");
        assert_eq!(neutralize_links("evil\u{3002}example"), "evil[.]example");
        assert_eq!(neutralize_links(r"\\server\share"), r"[\][\]server[\]share");
        assert_eq!(neutralize_links("plain text, 24h"), "plain text, 24h");
    }
}
