//! Neutralizing links: every character that makes a link, in any mail client, ticket system
//! or chat tool that renders a pasted message, is shown in brackets.

use unicode_normalization::UnicodeNormalization;

/// Quotes free text with every character that a mail client, a Markdown renderer or an HTML
/// linkifier builds a link from bracketed: `.` as `[.]`, `@` as `[at]`, `:` as `[:]`, `/` as
/// `[/]`, `\` as `[\]`; `<` and `>` (autolinks, raw HTML) as `[<]` and `[>]`; `&` (character
/// references such as `&#58;`) as `[&]`; `%` (percent escapes) as `[%]`; `(` and `)` as `[(]` and
/// `[)]`, so that no `](` ever follows a bracket (Markdown's inline links and images). Unicode
/// look-alikes count as what they normalize to (NFKC), and the ideographic full stops count as
/// `.` (IDNA treats them as dots).
///
/// Why that suffices for Markdown: every link form needs `](` (inline links, images), a `]:`
/// at a line start (reference definitions, without which `[text]` and `[text][label]` stay
/// text), a `<` (autolinks, HTML), a `&` (references that hide the rest), or a raw `.`, `@` or
/// `:` (GFM's extended autolinks). Once bracketed, none of them is left in quoted text, and a
/// bracket never closes next to an opening parenthesis.
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

/// What `c` is shown as when it can form a link.
fn link_character(c: char) -> Option<&'static str> {
    if c.is_ascii() {
        return bracket(c);
    }
    // Either `c` itself or a character of its compatibility form (U+FE12, the vertical
    // ideographic full stop, normalizes to U+3002, the ideographic full stop).
    std::iter::once(c)
        .chain(std::iter::once(c).nfkc())
        .find_map(|d| {
            if d.is_ascii() {
                bracket(d)
            } else {
                ideographic_stop(d)
            }
        })
}

fn bracket(ascii: char) -> Option<&'static str> {
    match ascii {
        '.' => Some("[.]"),
        '@' => Some("[at]"),
        ':' => Some("[:]"),
        '/' => Some("[/]"),
        '\\' => Some("[\\]"),
        '<' => Some("[<]"),
        '>' => Some("[>]"),
        '&' => Some("[&]"),
        '%' => Some("[%]"),
        '(' => Some("[(]"),
        ')' => Some("[)]"),
        _ => None,
    }
}

/// The full stops IDNA treats as dots, though NFKC keeps them apart from `.`.
fn ideographic_stop(c: char) -> Option<&'static str> {
    matches!(c, '\u{3002}' | '\u{FF61}').then_some("[.]")
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
        assert_eq!(
            neutralize_links("[login](https&#58;&#47;&#47;evil&#46;com)"),
            "[login][(]https[&]#58;[&]#47;[&]#47;evil[&]#46;com[)]"
        );
        assert_eq!(neutralize_links("<a href=x>"), "[<]a href=x[>]");
        assert_eq!(neutralize_links("100%2F"), "100[%]2F");
        assert_eq!(neutralize_links("evil\u{FE12}example"), "evil[.]example");
    }
}
