use super::text::{Alphabet, Normalization, TextRule, text_value};

text_value! {
    /// Why the engineer needs the customer's data, in the engineer's words.
    ///
    /// 1 to 1,000 characters of printable text on one line: no control characters (so no line
    /// breaks, tabs or NUL), no bidirectional formatting characters (which could make an
    /// approver read something other than what was stored), no surrounding white space.
    ///
    /// The text may contain anything else, including what looks like a link; the
    /// [`Notification`](crate::Notification) neutralises that when it quotes it.
    ///
    /// ```
    /// use customer_lockbox::Justification;
    ///
    /// assert!(Justification::new("mailbox of the CFO stopped syncing after migration").is_ok());
    /// assert!(Justification::new("line one\nline two").is_err());
    /// ```
    Justification,
    TextRule {
        what: "justification",
        empty_hint: "describe why the engineer needs the customer's data",
        max_chars: 1000,
        alphabet: Alphabet::Prose,
        normalization: Normalization::AsGiven,
    }
}
