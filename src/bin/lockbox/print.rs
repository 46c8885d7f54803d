//! Output: tables for people, one JSON document for scripts, progress on a terminal only.

use std::io::{IsTerminal, Write};

use chrono::{DateTime, Utc};
use comfy_table::{Table, presets};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where and how a command prints.
#[derive(Debug)]
pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Output { json }
    }

    /// Whether the caller asked for JSON.
    pub fn json(&self) -> bool {
        self.json
    }

    /// Prints `value` as one pretty JSON document.
    fn json_value(&self, value: &serde_json::Value) {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
        self.line(&text);
    }

    /// Prints `value`'s serialization as one pretty JSON document.
    pub fn json_of(&self, value: &impl serde::Serialize) {
        match serde_json::to_value(value) {
            Ok(value) => self.json_value(&value),
            Err(err) => eprintln!("lockbox: the result does not serialize: {err}"),
        }
    }

    /// Prints a line on standard output; a closed pipe (`| head`) ends the output quietly.
    pub fn line(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
    }

    /// Prints a table of `header` and `rows`, columns separated by spaces (as `ps` or
    /// `kubectl get` print them), or `empty` when there are no rows.
    pub fn table<R: IntoIterator<Item = String>>(
        &self,
        header: &[&str],
        rows: impl IntoIterator<Item = R>,
        empty: &str,
    ) {
        let mut table = Table::new();
        table
            .load_style(presets::NOTHING)
            .set_header(header.to_vec());
        let mut any = false;
        for row in rows {
            table.add_row(row.into_iter().collect::<Vec<_>>());
            any = true;
        }
        for column in table.column_iter_mut() {
            column.set_padding((0, 2));
        }
        if any {
            for line in table.to_string().lines() {
                self.line(line.trim_end());
            }
        } else {
            self.line(empty);
        }
    }

    /// Prints `label value` pairs aligned, as a record's fields.
    pub fn fields(&self, pairs: &[(&str, String)]) {
        let width = pairs
            .iter()
            .map(|(label, _)| label.len())
            .max()
            .unwrap_or(0);
        for (label, value) in pairs {
            self.line(&format!("{label:<width$}  {value}"));
        }
    }

    /// A progress bar of `total` steps on standard error, drawn only on a terminal and never
    /// with `--json`: quiet when piped or scripted.
    pub fn progress(&self, total: u64, what: &str) -> ProgressBar {
        if self.json || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix} [{bar:30}] {human_pos}/{human_len} {msg} ({eta} left)",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(what.to_owned());
        bar
    }
}

/// A writer that ticks a progress bar for each line written through it: exports show how far
/// they are on a terminal (a spinner: their length is not known before the end).
pub struct CountingLines<W> {
    inner: W,
    bar: ProgressBar,
}

impl<W: Write> CountingLines<W> {
    pub fn new(inner: W, out: &Output, what: &str) -> Self {
        let bar = if out.json || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::new_spinner();
            bar.set_draw_target(ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {prefix}: {human_pos} lines")
            {
                bar.set_style(style);
            }
            bar.set_prefix(what.to_owned());
            bar
        };
        CountingLines { inner, bar }
    }
}

impl<W: Write> Write for CountingLines<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        let lines = buf.iter().take(written).filter(|b| **b == b'\n').count();
        self.bar.inc(lines as u64);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<W> Drop for CountingLines<W> {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// An instant as people read it: `2026-11-24 08:00 UTC` (seconds when there are some).
pub fn instant(at: DateTime<Utc>) -> String {
    if at.timestamp_subsec_nanos() == 0 && at.timestamp() % 60 == 0 {
        at.format("%Y-%m-%d %H:%M UTC").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    }
}

/// An instant for scripts: RFC 3339, in UTC.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// An optional value, or `-`.
pub fn or_dash(value: Option<String>) -> String {
    value.unwrap_or_else(|| "-".to_owned())
}
