//! Why a delivery attempt failed: the text a failed attempt records.

use std::fmt;

use super::text::{Alphabet, Normalization, TextRule, is_bidi_control, text_value};

const FAILURE_MAX: usize = 500;

text_value! {
    /// Why a delivery attempt failed, as recorded in the audit trail: 1 to 500 printable
    /// characters, with no control or bidirectional formatting characters.
    ///
    /// [`DeliveryFailure::from_report`] makes one from any sender's error text.
    DeliveryFailure,
    TextRule {
        what: "delivery failure",
        empty_hint: "say why the message could not be sent",
        max_chars: FAILURE_MAX,
        alphabet: Alphabet::Prose,
        normalization: Normalization::AsGiven,
    }
}

impl DeliveryFailure {
    /// Records `report` (a sender's error), made to fit: control and bidirectional formatting
    /// characters become spaces, runs of whitespace one space, and text beyond 500 characters is
    /// cut with `...`. Empty text becomes "the sender gave no reason".
    pub fn from_report(report: impl fmt::Display) -> Self {
        let text = report.to_string();
        let mut clean = String::with_capacity(text.len().min(FAILURE_MAX * 4));
        let mut chars = 0;
        for c in text.chars() {
            let c = if c.is_control() || is_bidi_control(c) || c.is_whitespace() {
                ' '
            } else {
                c
            };
            if c == ' ' && (clean.is_empty() || clean.ends_with(' ')) {
                continue;
            }
            if chars == FAILURE_MAX - 3 {
                clean.truncate(clean.trim_end().len());
                clean.push_str("...");
                break;
            }
            clean.push(c);
            chars += 1;
        }
        let clean = clean.trim_end();
        DeliveryFailure::new(clean)
            .unwrap_or_else(|_| DeliveryFailure("the sender gave no reason".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_made_to_fit() {
        assert_eq!(
            DeliveryFailure::from_report("550 5.1.1\r\n  user\u{202E} unknown\n").as_str(),
            "550 5.1.1 user unknown"
        );
        assert_eq!(
            DeliveryFailure::from_report("\n\t ").as_str(),
            "the sender gave no reason"
        );
        let long = DeliveryFailure::from_report("x".repeat(2000));
        assert_eq!(long.as_str().chars().count(), FAILURE_MAX);
        assert!(long.as_str().ends_with("..."));
        assert!(DeliveryFailure::new("a\u{0}b").is_err());
    }
}
