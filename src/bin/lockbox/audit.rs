//! `lockbox audit search` and `lockbox audit export`.

use std::io::Write;
use std::process::ExitCode;

use customer_lockbox::{AuditQuery, AuditRecord, PageSize};
use customer_lockbox::{Backend, Store};

use crate::cli::{AuditCommand, AuditFilters, ExportFormat};
use crate::failure::Failure;
use crate::print::{CountingLines, Output, instant};

/// Runs an audit command.
pub async fn run<B: Backend>(
    store: &Store<B>,
    command: AuditCommand,
    out: &Output,
) -> Result<ExitCode, Failure> {
    match command {
        AuditCommand::Search {
            filters,
            after,
            pages,
        } => {
            let mut query =
                query(filters).page_size(PageSize::new(pages.page_size).map_err(Failure::usage)?);
            if let Some(cursor) = after {
                query = query.after(cursor);
            }
            let mut records = Vec::new();
            let next = store
                .pages(query, |page| {
                    records.extend(page);
                    pages.all
                })
                .await?;
            if out.json() {
                out.json_of(&Found {
                    records: &records,
                    next: next.map(|cursor| cursor.to_string()),
                });
            } else {
                out.table(
                    &["AT", "REQUEST", "#", "ACTOR", "EVENT"],
                    records.iter().map(|record| {
                        [
                            instant(record.at()),
                            record.request().to_string(),
                            record.sequence().to_string(),
                            record.actor().to_string(),
                            record.event().to_string(),
                        ]
                    }),
                    "no records match",
                );
                if let Some(cursor) = next {
                    eprintln!("more records: add --after {cursor} for the next page, or --all");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export {
            filters,
            format,
            output,
        } => {
            let query = query(filters);
            let written = match &output {
                Some(path) => {
                    let file = std::fs::File::create(path)
                        .map_err(|err| Failure::io(&format!("creating {}", path.display()), err))?;
                    let to = CountingLines::new(std::io::BufWriter::new(file), out, "exporting");
                    export(store, &query, format, to).await?
                }
                None => {
                    let to = std::io::BufWriter::new(std::io::stdout());
                    export(
                        store,
                        &query,
                        format,
                        CountingLines::new(to, out, "exporting"),
                    )
                    .await?
                }
            };
            let to = output.map_or("standard output".to_owned(), |p| p.display().to_string());
            eprintln!("exported {written} records to {to}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The audit query of the filters given.
fn query(filters: AuditFilters) -> AuditQuery {
    let mut query = AuditQuery::new();
    if let Some(tenant) = filters.tenant {
        query = query.tenant(tenant);
    }
    if let Some(request) = filters.request {
        query = query.request(request);
    }
    if let Some(actor) = filters.actor {
        query = query.actor(actor);
    }
    for kind in filters.kind {
        query = query.kind(kind);
    }
    if let Some(since) = filters.since {
        query = query.since(since);
    }
    if let Some(before) = filters.before {
        query = query.before(before);
    }
    query
}

/// The CSV columns: the searchable ones, the record in words, and the record itself.
const CSV_HEADER: [&str; 9] = [
    "at",
    "tenant",
    "request",
    "sequence",
    "actor_role",
    "actor_id",
    "kind",
    "text",
    "record",
];

/// Writes every record `query` matches to `to`; how many.
async fn export<B: Backend>(
    store: &Store<B>,
    query: &AuditQuery,
    format: ExportFormat,
    mut to: impl Write + Send,
) -> Result<u64, Failure> {
    let written = match format {
        ExportFormat::Jsonl => store.export_jsonl(query, &mut to).await?,
        ExportFormat::Csv => {
            let mut csv = csv::Writer::from_writer(&mut to);
            let fail = |err: csv::Error| Failure::io("writing the CSV export", err);
            csv.write_record(CSV_HEADER).map_err(fail)?;
            let mut written = 0;
            let mut failed = None;
            store
                .pages(query.clone().page_size(PageSize::MAX), |page| {
                    for record in &page {
                        let row =
                            csv_row(record).and_then(|row| csv.write_record(row).map_err(fail));
                        if let Err(failure) = row {
                            failed = Some(failure);
                            return false;
                        }
                        written += 1;
                    }
                    true
                })
                .await?;
            if let Some(failure) = failed {
                return Err(failure);
            }
            csv.flush()
                .map_err(|err| Failure::io("writing the CSV export", err))?;
            written
        }
    };
    to.flush()
        .map_err(|err| Failure::io("writing the export", err))?;
    Ok(written)
}

fn csv_row(record: &AuditRecord) -> Result<[String; 9], Failure> {
    Ok([
        crate::print::rfc3339(record.at()),
        record.tenant().to_string(),
        record.request().to_string(),
        record.sequence().to_string(),
        record.actor().role().to_owned(),
        inert(record.actor().id()),
        record.event().kind().as_str().to_owned(),
        inert(&record.to_string()),
        serde_json::to_string(record).map_err(|err| Failure::io("encoding a record", err))?,
    ])
}

/// A cell a spreadsheet shows as text, never runs: one that starts like a formula (`=`, `+`,
/// `-`, `@`, a tab or a carriage return) gets a leading `'` (OWASP's CSV injection advice).
/// The record column (JSON, starting with `{`) keeps every byte for machines.
fn inert(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::inert;

    #[test]
    fn a_cell_that_starts_like_a_formula_is_shown_as_text() {
        for hostile in [
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            assert_eq!(inert(hostile), format!("'{hostile}"));
        }
        assert_eq!(inert("#5 2026-11-24"), "#5 2026-11-24");
        assert_eq!(
            inert("alex@support.vendor.example"),
            "alex@support.vendor.example"
        );
    }
}

/// What `audit search --json` prints: the records, and where the next page starts (the
/// cursor's text form, which `--after` takes).
#[derive(serde::Serialize)]
struct Found<'a> {
    records: &'a [customer_lockbox::AuditRecord],
    next: Option<String>,
}
