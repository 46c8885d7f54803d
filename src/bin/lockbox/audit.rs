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
            let tenant = policy_changes_wanted(&filters);
            let (since, before) = (filters.since, filters.before);
            let mut query =
                query(filters).page_size(PageSize::new(pages.page_size).map_err(Failure::usage)?);
            let from = after.map(|cursor| cursor.at()).or(since);
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
            // A tenant's log holds its policy changes too: those in the pages' span are shown
            // with them (the span ends at the last record shown when another page follows).
            let until = next.map(|cursor| cursor.at()).or(before);
            let changes = match tenant {
                Some(tenant) => store
                    .policy_history(tenant)
                    .await?
                    .changes()
                    .iter()
                    .filter(|change| {
                        from.is_none_or(|from| change.at() >= from)
                            && until.is_none_or(|until| change.at() < until)
                    })
                    .cloned()
                    .collect(),
                None => Vec::new(),
            };
            if out.json() {
                out.json_of(&Found {
                    records: &records,
                    policy_changes: &changes,
                    next: next.map(|cursor| cursor.to_string()),
                });
            } else {
                let mut rows: Vec<(chrono::DateTime<chrono::Utc>, [String; 5])> = records
                    .iter()
                    .map(|record| {
                        (
                            record.at(),
                            [
                                instant(record.at()),
                                record.request().to_string(),
                                record.sequence().to_string(),
                                record.actor().to_string(),
                                record.event().to_string(),
                            ],
                        )
                    })
                    .collect();
                rows.extend(changes.iter().map(|change| {
                    (
                        change.at(),
                        [
                            instant(change.at()),
                            "-".to_owned(),
                            change.version().to_string(),
                            format!("tenant admin {}", change.changed_by()),
                            format!("policy changed to version {}", change.version()),
                        ],
                    )
                }));
                rows.sort_by_key(|(at, _)| *at);
                out.table(
                    &["AT", "REQUEST", "#", "ACTOR", "EVENT"],
                    rows.into_iter().map(|(_, row)| row),
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

/// What `audit search --json` prints: the records, the tenant's policy changes in their span,
/// and where the next page starts (the cursor's text form, which `--after` takes).
#[derive(serde::Serialize)]
struct Found<'a> {
    records: &'a [customer_lockbox::AuditRecord],
    policy_changes: &'a [customer_lockbox::PolicyChange],
    next: Option<String>,
}

/// The tenant whose policy changes a search shows beside its records: a search of one tenant's
/// log that no filter on requests, actors or kinds narrows (a policy change is none of those).
fn policy_changes_wanted(filters: &AuditFilters) -> Option<customer_lockbox::TenantId> {
    let narrowed = filters.request.is_some() || filters.actor.is_some() || !filters.kind.is_empty();
    filters.tenant.filter(|_| !narrowed)
}
