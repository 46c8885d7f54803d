//! `lockbox sweep`, `lockbox deliver` and `lockbox migrate`: the operator's scheduled work.

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use customer_lockbox::tlog::SignerKey;
use customer_lockbox::{
    AddressBook, Clock, Delivery, EmailAddress, EngineerId, OutboxQuery, OutboxView, PageSize,
    RequestId, RequestQuery, Sender, StateKind, SystemClock, TenantId, Topic,
};
use customer_lockbox::{Backend, Store};
use lettre::Transport;
use lettre::message::Mailbox;
use serde::Serialize;

use crate::cli::{DeliverArgs, SweepArgs};
use crate::failure::{Code, Failure};
use crate::print::{Output, instant};

/// Gives the store the log's signing key from `path`, if one is given, so the steps it takes
/// sign checkpoints and its messages carry them.
pub fn use_signer<B: Backend>(store: &Store<B>, path: Option<&Path>) -> Result<(), Failure> {
    if let Some(path) = path {
        let text = std::fs::read_to_string(path).map_err(|err| {
            Failure::io(&format!("reading the signer key {}", path.display()), err)
        })?;
        let key = SignerKey::parse(text.trim()).map_err(|err| {
            Failure::usage(format!(
                "{} is not a note signer key (PRIVATE+KEY+NAME+HASH+KEY; make one with `lockbox keygen --name NAME`): {err}",
                path.display()
            ))
        })?;
        store.set_checkpoint_signer(key);
    }
    Ok(())
}

/// Moves on overdue requests, or lists them.
pub async fn sweep<B: Backend>(
    store: &Store<B>,
    args: SweepArgs,
    out: &Output,
) -> Result<ExitCode, Failure> {
    let now = args.now.unwrap_or_else(|| SystemClock.now());
    if args.dry_run {
        let mut due = Vec::new();
        store
            .pages(RequestQuery::due_by(now).page_size(PageSize::MAX), |page| {
                due.extend(page);
                true
            })
            .await?;
        let would = |state: StateKind| match state {
            StateKind::PendingCustomer => "expire",
            StateKind::Granted => "end access",
            _ => "move on",
        };
        if out.json() {
            out.json_of(&DryRun {
                dry_run: true,
                at: now,
                due: due
                    .iter()
                    .map(|r| Due {
                        request: r.id,
                        tenant: r.tenant,
                        state: r.state,
                        due_at: r.due_at,
                        would: would(r.state),
                    })
                    .collect(),
            });
        } else {
            out.table(
                &["REQUEST", "TENANT", "STATE", "DUE", "WOULD"],
                due.iter().map(|r| {
                    [
                        r.id.to_string(),
                        r.tenant.to_string(),
                        r.state.to_string(),
                        r.due_at.map(instant).unwrap_or_default(),
                        would(r.state).to_owned(),
                    ]
                }),
                &format!("nothing is due at {}", instant(now)),
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    use_signer(store, args.signer_key.as_deref())?;
    let report = store.sweep(now).await?;
    if out.json() {
        out.json_of(&Swept {
            at: now,
            report: &report,
        });
    } else {
        let rows = report
            .expired
            .iter()
            .map(|id| [id.to_string(), "expired".to_owned()])
            .chain(
                report
                    .access_ended
                    .iter()
                    .map(|id| [id.to_string(), "access ended".to_owned()]),
            )
            .chain(report.skipped.iter().map(|id| {
                [
                    id.to_string(),
                    "skipped: another writer moved it".to_owned(),
                ]
            }))
            .chain(
                report
                    .failed
                    .iter()
                    .map(|(id, err)| [id.to_string(), format!("FAILED: {err}")]),
            );
        out.table(
            &["REQUEST", "OUTCOME"],
            rows,
            &format!("nothing was due at {}", instant(now)),
        );
        eprintln!("sweep at {}: {report}", instant(now));
    }
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        Code::Failed.into()
    })
}

/// Hands each message to a mail transport.
struct MailSender {
    from: Mailbox,
    now: DateTime<Utc>,
    transport: MailTransport,
}

enum MailTransport {
    /// A directory each message is written into as an .eml file.
    Pickup(std::path::PathBuf),
    Sendmail(lettre::SendmailTransport),
}

/// The pickup file of a delivery's `n`th message (one per recipient): named so that a person
/// can sort the files by time and find one by what it is,
/// `20261124T110000Z-access-ended-019ab5c0-...-1.eml` (a policy change's:
/// `...-policy-changed-TENANT-v2-1.eml`). Delivered again, a message is written again under
/// the same name if the run's instant is the same.
fn pickup_name(delivery: &Delivery, now: DateTime<Utc>, n: usize) -> String {
    let about = match (delivery.request(), delivery.policy_change()) {
        (Some(request), _) => request.to_string(),
        (None, Some((tenant, version))) => format!("{tenant}-v{version}"),
        (None, None) => "message".to_owned(),
    };
    format!(
        "{}-{}-{about}-{}.eml",
        now.format("%Y%m%dT%H%M%SZ"),
        delivery.notification().kind().as_str().replace('_', "-"),
        n + 1
    )
}

impl Sender for MailSender {
    type Error = String;

    fn send(
        &mut self,
        delivery: &Delivery,
    ) -> impl std::future::Future<Output = Result<(), String>> + Send {
        let sent = (|| {
            let messages = delivery
                .notification()
                .to_messages(&self.from, self.now)
                .map_err(|err| err.to_string())?;
            for (n, message) in messages.into_iter().enumerate() {
                match &self.transport {
                    MailTransport::Pickup(dir) => {
                        let path = dir.join(pickup_name(delivery, self.now, n));
                        std::fs::write(&path, message.formatted())
                            .map_err(|err| format!("writing {}: {err}", path.display()))?;
                    }
                    MailTransport::Sendmail(transport) => transport
                        .send(&message)
                        .map_err(|err| format!("sendmail: {err}"))?,
                }
            }
            Ok(())
        })();
        std::future::ready(sent)
    }
}

/// The engineers' addresses in a CSV file of `ENGINEER_ID,ADDRESS` lines (`#` comments).
fn engineers(path: &Path, book: AddressBook) -> Result<AddressBook, Failure> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|err| Failure::io(&format!("reading {}", path.display()), err))?;
    let mut book = book;
    for (n, row) in reader.records().enumerate() {
        let row = row.map_err(|err| Failure::io(&format!("reading {}", path.display()), err))?;
        let wrong = |what: String| {
            Failure::usage(format!(
                "line {} of {}: {what}: give ENGINEER_ID,ADDRESS",
                n + 1,
                path.display()
            ))
        };
        let (Some(id), Some(address), None) = (row.get(0), row.get(1), row.get(2)) else {
            return Err(wrong("not two fields".to_owned()));
        };
        let id = EngineerId::new(id).map_err(|err| wrong(err.to_string()))?;
        let address = EmailAddress::new(address).map_err(|err| wrong(err.to_string()))?;
        book = book.with_engineer(id, address);
    }
    Ok(book)
}

/// Delivers the outbox, or lists it.
pub async fn deliver<B: Backend>(
    store: &Store<B>,
    args: DeliverArgs,
    out: &Output,
) -> Result<ExitCode, Failure> {
    let now = args.now.unwrap_or_else(|| SystemClock.now());
    if args.dry_run {
        let mut pending = Vec::new();
        store
            .pages(
                OutboxQuery::new(OutboxView::Pending).page_size(PageSize::MAX),
                |page| {
                    pending.extend(page);
                    true
                },
            )
            .await?;
        if out.json() {
            out.json_of(&Pending {
                dry_run: true,
                pending: &pending,
            });
        } else {
            out.table(
                &[
                    "MESSAGE OF",
                    "CAUSE",
                    "MESSAGE",
                    "ATTEMPTS",
                    "NEXT ATTEMPT",
                    "LAST ERROR",
                ],
                pending.iter().map(|e| {
                    let [of, cause] = topic_cells(Some(e.topic));
                    [
                        of,
                        cause,
                        e.kind.to_string(),
                        e.attempts.to_string(),
                        instant(e.next_attempt_at),
                        e.last_error
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default(),
                    ]
                }),
                "the outbox is empty",
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let from: Mailbox = args
        .from
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(|err| Failure::usage(format!("--from is not a mail address: {err}")))?;
    let transport = match (&args.pickup_dir, &args.sendmail) {
        (Some(dir), _) => {
            if !dir.is_dir() {
                return Err(Failure::new(
                    Code::NotFound,
                    format!("the pickup directory {} does not exist", dir.display()),
                ));
            }
            MailTransport::Pickup(dir.clone())
        }
        (None, Some(program)) => MailTransport::Sendmail(
            lettre::SendmailTransport::new_with_command(program.as_os_str()),
        ),
        (None, None) => {
            return Err(Failure::usage(
                "say how to send: --pickup-dir DIR or --sendmail [PATH]",
            ));
        }
    };
    use_signer(store, args.signer_key.as_deref())?;
    // Approvers' addresses from the tenants' policies, engineers' from the file.
    let mut book = AddressBook::new();
    for tenant in store.tenants().await? {
        if let Some(policy) = store.policy(tenant).await? {
            book = book.with_policy(&policy);
        }
    }
    if let Some(path) = &args.engineers {
        book = engineers(path, book)?;
    }
    let mut sender = MailSender {
        from,
        now,
        transport,
    };
    let report = store.deliver(&book, &mut sender, now, args.lease).await?;
    if out.json() {
        out.json_of(&report);
    } else {
        out.table(
            &["MESSAGE OF", "CAUSE", "OUTCOME"],
            report.messages.iter().map(|message| {
                let [of, cause] = topic_cells(message.topic);
                [of, cause, message.outcome.to_string()]
            }),
            "nothing was due",
        );
        eprintln!("delivery at {}: {report}", instant(now));
    }
    if !report.failed().is_empty() && args.engineers.is_none() {
        eprintln!(
            "no --engineers FILE was given: a message to an engineer has no address without one (ENGINEER_ID,ADDRESS lines); the failed messages are tried again on the next run"
        );
    }
    Ok(if report.has_trouble() {
        Code::Failed.into()
    } else {
        ExitCode::SUCCESS
    })
}

/// Brings the schema up to date.
pub async fn migrate<B: Backend>(store: &Store<B>, out: &Output) -> Result<ExitCode, Failure> {
    let (before, supported) = store.schema_version().await?;
    store.migrate().await?;
    let (after, _) = store.schema_version().await?;
    if out.json() {
        out.json_of(&Migrated {
            before,
            after,
            supported,
        });
    } else if before == after {
        out.line(&format!("schema already at version {after}: nothing to do"));
    } else {
        out.line(&format!("schema migrated from version {before} to {after}"));
    }
    Ok(ExitCode::SUCCESS)
}

/// What `sweep --dry-run --json` prints: the requests due at `at`, and what a sweep would do.
#[derive(Serialize)]
struct DryRun {
    dry_run: bool,
    at: DateTime<Utc>,
    due: Vec<Due>,
}

/// A request a sweep would move on.
#[derive(Serialize)]
struct Due {
    request: RequestId,
    tenant: TenantId,
    state: StateKind,
    due_at: Option<DateTime<Utc>>,
    would: &'static str,
}

/// What `sweep --json` prints: the instant swept at, and the store's report.
#[derive(Serialize)]
struct Swept<'a> {
    at: DateTime<Utc>,
    #[serde(flatten)]
    report: &'a customer_lockbox::SweepReport,
}

/// What `deliver --dry-run --json` prints: the outbox's pending messages.
#[derive(Serialize)]
struct Pending<'a> {
    dry_run: bool,
    pending: &'a [customer_lockbox::OutboxEntry],
}

/// What `migrate --json` prints: the schema version before and after, and the newest this
/// build knows.
#[derive(Serialize)]
struct Migrated {
    before: u32,
    after: u32,
    supported: u32,
}

/// What a message is of, and its cause, as two cells of a table.
fn topic_cells(topic: Option<Topic>) -> [String; 2] {
    match topic {
        Some(Topic::Request { request, cause }) => [request.to_string(), format!("#{cause}")],
        Some(Topic::Policy { tenant, version }) => {
            [format!("policy of {tenant}"), format!("v{version}")]
        }
        None => ["an unreadable outbox row".to_owned(), String::new()],
    }
}
