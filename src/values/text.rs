//! Shared validation for the crate's text values, and the macro that declares them.

use caseless::Caseless;
use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, ErrorKind};

/// Which characters a text value may hold.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Alphabet {
    /// Any printable character: no control characters, no bidirectional formatting characters.
    Prose,
    /// ASCII letters, digits and `. _ - @ +`: sign-in names and object ids.
    Identifier,
    /// ASCII letters, digits and `-`.
    Reference,
    /// Printable ASCII without spaces: tokens a program makes, such as UUIDs and base64.
    Token,
}

impl Alphabet {
    fn allows(self, c: char) -> bool {
        match self {
            Alphabet::Prose => true,
            Alphabet::Identifier => c.is_ascii_alphanumeric() || "._-@+".contains(c),
            Alphabet::Reference => c.is_ascii_alphanumeric() || c == '-',
            Alphabet::Token => c.is_ascii_graphic(),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Alphabet::Prose => "printable characters",
            Alphabet::Identifier => "ASCII letters, digits and . _ - @ +",
            Alphabet::Reference => "ASCII letters, digits and -",
            Alphabet::Token => "printable ASCII characters without spaces",
        }
    }
}

/// Unicode's bidirectional formatting characters (the "Trojan Source" set): they reorder how
/// text displays, so an approver could read something other than what was stored.
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// How a text value is stored: as given, or as a person's normalized identity.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Normalization {
    /// Stored exactly as given (and refused if it has surrounding white space).
    AsGiven,
    /// Stored as [`identity`]: two spellings of one sign-in name are one value.
    Identity,
}

/// A person's identity: the compatibility caseless form of Unicode 3.13 (D146), composed, of
/// `input` without its surrounding white space. That is NFD, full case folding, NFKD, full case
/// folding again, then NFKC, so `ALEX@Support.Vendor.Example`, ` alex@support.vendor.example `
/// and the fullwidth `ａｌｅｘ＠ｓｕｐｐｏｒｔ．ｖｅｎｄｏｒ．ｅｘａｍｐｌｅ` are one identity.
pub(crate) fn identity(input: &str) -> String {
    let trimmed = input.trim();
    if trimmed.is_ascii() {
        // For ASCII, NFD, NFKD and NFKC change nothing and full case folding is lowercasing.
        return trimmed.to_ascii_lowercase();
    }
    let folded = compatibility_caseless(trimmed);
    // Compatibility forms of white space (such as U+3000) become spaces only when normalized.
    match folded.trim() {
        trimmed if trimmed.len() == folded.len() => folded,
        trimmed => trimmed.to_owned(),
    }
}

/// Unicode's compatibility caseless form, composed: NFD, full case folding, NFKD, full case
/// folding, NFKC.
fn compatibility_caseless(text: &str) -> String {
    text.chars()
        .nfd()
        .default_case_fold()
        .nfkd()
        .default_case_fold()
        .nfkc()
        .collect()
}

/// The rules every text value follows, with what it is called and what to do when empty.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TextRule {
    pub(crate) what: &'static str,
    pub(crate) empty_hint: &'static str,
    pub(crate) max_chars: usize,
    pub(crate) alphabet: Alphabet,
    pub(crate) normalization: Normalization,
}

impl TextRule {
    /// The value `input` stands for: itself, or its normalized identity.
    pub(crate) fn normalize(&self, input: String) -> String {
        match self.normalization {
            Normalization::AsGiven => input,
            Normalization::Identity => identity(&input),
        }
    }

    /// Checks `input` against the rule; on success the input is stored as given.
    pub(crate) fn check(&self, input: &str) -> Result<(), Error> {
        let what = self.what;
        if input.trim().is_empty() {
            return Err(ErrorKind::Empty {
                what,
                hint: self.empty_hint,
            }
            .into());
        }
        let len = input.chars().count();
        if len > self.max_chars {
            return Err(ErrorKind::TooLong {
                what,
                len,
                max: self.max_chars,
            }
            .into());
        }
        for (index, c) in input.chars().enumerate() {
            let at = index + 1; // people count characters from 1
            let code = u32::from(c);
            if c.is_control() {
                return Err(ErrorKind::ControlCharacter { what, code, at }.into());
            }
            if is_bidi_control(c) {
                return Err(ErrorKind::BidiControl { what, code, at }.into());
            }
            if !self.alphabet.allows(c) {
                return Err(ErrorKind::InvalidCharacter {
                    what,
                    found: c,
                    at,
                    allowed: self.alphabet.describe(),
                }
                .into());
            }
        }
        if input.trim() != input {
            return Err(ErrorKind::SurroundingWhitespace { what }.into());
        }
        Ok(())
    }
}

/// Declares a validated text newtype: private field, `new` that validates, `as_str`, `Display`,
/// `FromStr`, `AsRef<str>` and serde that validates on the way in.
macro_rules! text_value {
    (
        $(#[$meta:meta])*
        $name:ident, $rule:expr
    ) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The rule this value follows; see the type's documentation.
            const RULE: $crate::values::text::TextRule = $rule;

            /// Validates `value` (normalized first, for the types the documentation says are).
            ///
            /// # Errors
            ///
            /// Returns an [`Error`](crate::Error) for which
            /// [`is_invalid_text`](crate::Error::is_invalid_text) is true when the value breaks
            /// a rule in the type's documentation.
            pub fn new(value: impl Into<String>) -> Result<Self, $crate::Error> {
                let value = Self::RULE.normalize(value.into());
                Self::RULE.check(&value)?;
                Ok($name(value))
            }

            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::Error;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

pub(crate) use text_value;

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: TextRule = TextRule {
        what: "test value",
        empty_hint: "fill it in",
        max_chars: 5,
        alphabet: Alphabet::Reference,
        normalization: Normalization::AsGiven,
    };

    #[test]
    fn counts_characters_not_bytes() {
        let prose = TextRule {
            alphabet: Alphabet::Prose,
            ..RULE
        };
        assert!(prose.check("ééééé").is_ok());
        assert!(prose.check("éééééé").is_err());
    }

    #[test]
    fn refuses_each_kind_of_bad_text() {
        for bad in ["", "   ", "abcdef", "a\u{0}b", "a\u{202E}b", "a.b", " ab"] {
            assert!(RULE.check(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(RULE.check("A-1").is_ok());
    }

    #[test]
    fn identity_folds_case_width_and_surrounding_space() {
        for spelling in [
            "alex@support.vendor.example",
            "ALEX@SUPPORT.VENDOR.EXAMPLE",
            "Alex@support.vendor.example",
            "  alex@support.vendor.example\t",
            "\u{3000}alex@support.vendor.example",
            "\u{FF41}\u{FF4C}\u{FF45}\u{FF58}\u{FF20}support.vendor.example",
        ] {
            assert_eq!(
                identity(spelling),
                "alex@support.vendor.example",
                "{spelling:?}"
            );
        }
        // The Kelvin sign is a K, the long s an s, and ß folds to ss.
        assert_eq!(identity("\u{212A}elvin"), "kelvin");
        assert_eq!(identity("\u{17F}am"), "sam");
        assert_eq!(identity("STRAẞE"), "strasse");
        // The ASCII shortcut agrees with the full algorithm.
        for ascii in ["Alex@Vendor.Example", " x_Y-z+1 ", "\tMEGAN\n"] {
            assert_eq!(identity(ascii), compatibility_caseless(ascii.trim()));
        }
    }
}
