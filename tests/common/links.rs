//! Every link detector the tests run over what the crate sends, because a ticket system or a
//! chat tool may render a plain-text email as Markdown or as HTML:
//!
//! - **linkify**, in its most eager configuration (what mail clients do to plain text);
//! - **comrak**, a GitHub Flavored Markdown renderer, with its autolink extension and raw HTML
//!   allowed (what a ticket system does to a pasted email);
//! - **bleach**'s `linkify`, the HTML sanitizer's (Python), over the text taken as HTML, over
//!   the text escaped first, and over what an HTML renderer displays of it (character references
//!   decoded). `bash .ci/test` installs it; a run without it fails, saying so.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::process::{Command, Stdio};

/// The most eager link detector linkify offers: URLs without a scheme (`evil.example`), IRIs,
/// and email addresses whose domain has no dot.
pub fn eager_finder() -> linkify::LinkFinder {
    let mut finder = linkify::LinkFinder::new();
    finder
        .kinds(&[linkify::LinkKind::Url, linkify::LinkKind::Email])
        .url_must_have_scheme(false)
        .url_can_be_iri(true)
        .email_domain_must_have_dot(false);
    finder
}

/// The links linkify finds in `text`, line by line.
pub fn linkify_links(text: &str) -> Vec<String> {
    let finder = eager_finder();
    text.lines()
        .flat_map(|line| finder.links(line).map(|l| l.as_str().to_owned()))
        .collect()
}

/// The links and images comrak renders `text` into, as GFM with every extension that makes
/// links (autolink, footnotes) and raw HTML passed through.
pub fn markdown_links(text: &str) -> Vec<String> {
    let mut options = comrak::Options::default();
    options.extension.autolink = true;
    options.extension.strikethrough = true;
    options.extension.table = true;
    options.extension.tasklist = true;
    options.extension.footnotes = true;
    options.render.r#unsafe = true;
    let html = comrak::markdown_to_html(text, &options);
    tags(&html)
}

/// The `<a ...>` and `<img ...>` tags in rendered HTML (text that merely reads `<a` is escaped
/// as `&lt;a`, so what starts with `<` is a tag).
fn tags(html: &str) -> Vec<String> {
    let lower = html.to_lowercase();
    let mut found = Vec::new();
    for marker in ["<a ", "<a>", "<img", "<area", "<link"] {
        for (at, _) in lower.match_indices(marker) {
            let end = lower[at..].find('>').map_or(lower.len(), |e| at + e + 1);
            found.push(html[at..end].to_owned());
        }
    }
    found
}

/// Free text a hostile engineer or tenant might type, each a link somewhere: for mail
/// clients, Markdown renderers or HTML linkifiers.
pub const HOSTILE_TEXT: &[&str] = &[
    "see https://evil.example/reset?user=cfo",
    "go to www.evil.example now",
    "evil.example",
    "mail bob@evil.example",
    "mailto:bob@evil.example",
    "ftp://files.evil.example",
    "file:///etc/passwd",
    r"\\fileserver\share\payroll.xlsx",
    "javascript:alert(1)",
    "data:text/html,<a href=x>",
    "evil\u{FF0E}example and evil\u{3002}example and evil\u{FF61}example",
    "bob\u{FF20}evil\u{FF0E}example",
    "http\u{FF1A}//evil.example",
    "xn--80ak6aa92e.com",
    "192.168.0.1:8080/admin",
    "[link](https://evil.example)",
    "<https://evil.example>",
    "https://evil.example.",
    "(https://evil.example)",
    "user:password@evil.example",
    "tel:+15555550100",
    "evil.example\u{200B}.com",
    "ex\u{00AD}ample.com",
    "https://\u{0435}vil.example",
    // What Markdown and HTML renderers turn into links.
    "[login](https&#58;&#47;&#47;evil&#46;com)",
    "ceo&#64;contoso&#46;com",
    "ceo&commat;contoso&period;com",
    "[x](y)",
    "![status](https://evil.example/pixel.png)",
    "<a href=\"https://evil.example\">open the admin center</a>",
    "<a href=x>x</a>",
    "<bob@evil.example>",
    "[admin center]: https://evil.example",
    "[admin center][1] and [1]: https://evil.example",
    "https%3A%2F%2Fevil%2Eexample",
    "evil\u{FE12}example",
    "\u{FF3B}x\u{FF3D}\u{FF08}https\u{FF1A}\u{FF0F}\u{FF0F}evil\u{FF0E}example\u{FF09}",
    "see [.](y) and [at](z)",
    "a.(b) and x@(y)",
];

const BLEACH: &str = r#"
import html, json, re, sys
try:
    import bleach
except ImportError:
    print(json.dumps({"missing": "bleach"}))
    sys.exit(0)
out = []
for text in json.load(sys.stdin):
    found = []
    # As HTML; as text escaped first; and as the text an HTML renderer shows (references
    # decoded), linkified again, as a client that links what it displays does.
    for markup in (text, html.escape(text), html.escape(html.unescape(text))):
        rendered = bleach.linkify(markup, parse_email=True)
        found += re.findall(r"<a\b[^>]*>", rendered)
    out.append(found)
print(json.dumps(out))
"#;

/// The anchors bleach's `linkify` makes of each of `texts` (taken as HTML, escaped, and as
/// displayed); `None` when Python or bleach is missing outside CI (`CI` unset), after saying
/// so: a plain `cargo test` on a machine without them skips bleach's check, never CI, which
/// installs bleach (`.ci/test`).
pub fn bleach_links(texts: &[String]) -> Option<Vec<Vec<String>>> {
    let missing = |why: &str| {
        assert!(
            std::env::var_os("CI").is_none(),
            "{why}: run `bash .ci/test`, which installs it, or `python3 -m pip install bleach==6.4.0`"
        );
        // Straight to the process's standard error: the test harness captures `eprintln!`.
        let _ = writeln!(
            std::io::stderr(),
            "skipping bleach's link check: {why} (CI is unset; `bash .ci/test` installs it)"
        );
        None
    };
    let Ok(mut child) = Command::new("python3")
        .args(["-c", BLEACH])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    else {
        return missing("python3 does not run");
    };
    let input = serde_json::to_vec(texts).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "bleach failed");
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    if value.get("missing").is_some() {
        return missing("Python's bleach is not installed");
    }
    Some(serde_json::from_value(value).unwrap())
}

/// Panics naming every link any detector finds in any of `texts` (each a label and a text).
pub fn assert_link_free(texts: &[(String, String)]) {
    let mut found = Vec::new();
    for (label, text) in texts {
        for link in linkify_links(text) {
            found.push(format!("{label}: linkify found {link:?}"));
        }
        for link in markdown_links(text) {
            found.push(format!("{label}: the GFM renderer made {link:?}"));
        }
    }
    let plain: Vec<String> = texts.iter().map(|(_, text)| text.clone()).collect();
    for ((label, _), links) in texts.iter().zip(bleach_links(&plain).unwrap_or_default()) {
        for link in links {
            found.push(format!("{label}: bleach made {link:?}"));
        }
    }
    assert!(found.is_empty(), "links found:\n{}", found.join("\n"));
}

/// A detector that misses the links it must find is no test: each must find these.
pub fn assert_detectors_work() {
    let finds = |text: &str| {
        (
            !linkify_links(text).is_empty(),
            !markdown_links(text).is_empty(),
        )
    };
    assert!(finds("see evil.example").0);
    for text in [
        "www.evil.example",
        "https://evil.example",
        "bob@evil.example",
    ] {
        assert_eq!(finds(text), (true, true), "{text}");
    }
    assert!(finds("[login](https&#58;&#47;&#47;evil&#46;com)").1);
    assert!(finds("<a href=\"https://evil.example\">x</a>").1);
    assert!(finds("![x](y)").1);
    let Some(bleached) = bleach_links(&[
        "ceo&#64;contoso&#46;com".to_owned(),
        "<a href=x>x</a>".to_owned(),
        "evil.com".to_owned(),
        "plain text".to_owned(),
    ]) else {
        return;
    };
    assert!(!bleached[0].is_empty(), "bleach decodes references");
    assert!(!bleached[1].is_empty(), "bleach keeps raw anchors");
    assert!(!bleached[2].is_empty(), "bleach links bare domains");
    assert!(bleached[3].is_empty());
}
