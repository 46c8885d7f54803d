//! `lockbox verify`, `lockbox verify-offline` and `lockbox proof`: the evidence commands.

use std::collections::HashMap;

use base64::Engine as _;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::ExitCode;

use customer_lockbox::evidence::log_origin;
use customer_lockbox::evidence::{Evidence, ExportError, LogVerdict, verify_export};
use customer_lockbox::tlog::{SignerKey, VerifierKey};
use customer_lockbox::{Backend, ErrorClass, Store, StoreError};
use customer_lockbox::{ChainVerdict, Decision, RequestId, RequestsVerdict, Tampering, TenantId};
use serde::Serialize;

use crate::cli::{
    DecisionArgs, InclusionArgs, KeygenArgs, ProofCommand, VerifyArgs, VerifyOfflineArgs,
};
use crate::failure::{Code, Failure};
use crate::print::{CountingLines, Output};

/// The log's public key, given as its text or as a file holding it.
fn load_key(given: &str) -> Result<VerifierKey, Failure> {
    let text = if Path::new(given).is_file() {
        std::fs::read_to_string(given)
            .map_err(|err| Failure::io(&format!("reading the key file {given}"), err))?
    } else {
        given.to_owned()
    };
    VerifierKey::parse(text.trim()).map_err(|err| {
        Failure::usage(format!(
            "--key is not a note verifier key (NAME+HASH+KEY, as the vendor publishes it and `lockbox keygen` writes it to NAME.vkey), nor a file holding one: {err}"
        ))
    })
}

/// Evidence a customer holds, from a file: a message they received (its text, or the .eml
/// as saved, when its body is plain text), or a signed checkpoint on its own.
fn load_held(path: &Path) -> Result<Evidence, Failure> {
    let bytes = std::fs::read(path)
        .map_err(|err| Failure::io(&format!("reading {}", path.display()), err))?;
    // A saved message (.eml) carries its body in a transfer encoding (quoted-printable):
    // the evidence is in the decoded text.
    let decoded = mail_parser::MessageParser::default()
        .parse(&bytes)
        .and_then(|message| message.body_text(0).map(|body| body.into_owned()));
    let text = String::from_utf8_lossy(&bytes);
    match decoded
        .as_deref()
        .and_then(|body| Evidence::from_message(body).ok())
        .map_or_else(|| Evidence::from_text(&text), Ok)
    {
        Ok(evidence) => Ok(evidence),
        Err(err) => Err(Failure::new(
            Code::Refused,
            format!(
                "{} holds no evidence: {err} (give a message from the store as received, or a signed checkpoint)",
                path.display()
            ),
        )),
    }
}

/// Verifies the store's tenant logs.
pub async fn verify<B: Backend>(
    store: &Store<B>,
    args: VerifyArgs,
    out: &Output,
) -> Result<ExitCode, Failure> {
    let key = args.key.as_deref().map(load_key).transpose()?;
    let mut held: HashMap<String, Vec<Evidence>> = HashMap::new();
    for path in &args.held {
        let evidence = load_held(path)?;
        held.entry(evidence.origin().to_owned())
            .or_default()
            .push(evidence);
    }
    let tenants = if args.tenant.is_empty() {
        store.tenants().await?
    } else {
        args.tenant
    };
    // Each held message must be for one of the logs verified here.
    if let Some(key) = &key {
        let origins: Vec<String> = tenants.iter().map(|t| log_origin(key.name(), *t)).collect();
        if let Some(stray) = held.keys().find(|origin| !origins.contains(origin)) {
            return Err(Failure::usage(format!(
                "a held checkpoint is for the log {stray}, which is not among those verified (logs here are named {}/TENANT_ID): give its tenant with --tenant, or the key it was signed with",
                key.name()
            )));
        }
    }
    let mut sizes = Vec::with_capacity(tenants.len());
    for tenant in &tenants {
        sizes.push(
            store
                .chain_head(*tenant)
                .await?
                .map_or(0, |head| head.position),
        );
    }
    let bar = out.progress(sizes.iter().sum(), "verifying");
    let mut rows = Vec::new();
    let mut all_hold = true;
    for (tenant, size) in tenants.iter().zip(sizes) {
        bar.set_message(tenant.to_string());
        let row = verify_tenant(store, *tenant, key.as_ref(), &held).await?;
        all_hold &= row.holds();
        rows.push(row);
        bar.inc(size);
    }
    bar.finish_and_clear();
    if out.json() {
        out.json_of(&Verified {
            verified: all_hold,
            logs_checked: key.is_some(),
            tenants: &rows,
        });
    } else {
        out.table(
            &["TENANT", "ENTRIES", "CHAIN", "REQUESTS", "LOG"],
            rows.iter().map(TenantRow::cells),
            "no tenants in this store",
        );
        for row in &rows {
            for problem in &row.problems {
                out.line(&format!("tenant {}: {problem}", row.tenant));
            }
        }
        if key.is_none() {
            eprintln!(
                "only the hash chains and the requests were checked: give the log's public key with --key to check the Merkle logs and their signed checkpoints"
            );
        }
    }
    Ok(if all_hold {
        ExitCode::SUCCESS
    } else {
        Code::Refused.into()
    })
}

/// What `verify --json` prints.
#[derive(Serialize)]
struct Verified<'a> {
    verified: bool,
    logs_checked: bool,
    tenants: &'a [TenantRow],
}

/// One tenant's verification, as printed: a row of the table, an object of the JSON.
#[derive(Serialize)]
struct TenantRow {
    tenant: TenantId,
    entries: u64,
    chain: String,
    #[serde(skip)]
    requests_cell: String,
    requests: Checked<RequestsVerdict>,
    log: String,
    log_coverage: Option<Coverage>,
    problems: Vec<String>,
}

impl TenantRow {
    fn holds(&self) -> bool {
        self.problems.is_empty()
    }

    fn cells(&self) -> [String; 5] {
        [
            self.tenant.to_string(),
            self.entries.to_string(),
            self.chain.clone(),
            self.requests_cell.clone(),
            self.log.clone(),
        ]
    }
}

/// A check's verdict, or the store's refusal to give one.
#[derive(Serialize)]
#[serde(untagged)]
enum Checked<T> {
    Verdict(T),
    Refused { error: StoreError },
}

/// How much of a tenant's log its signed checkpoints cover, or where it broke.
#[derive(Serialize)]
#[serde(untagged)]
enum Coverage {
    Covered {
        verified: bool,
        size: u64,
        checkpoints: usize,
        covered: u64,
        uncovered: u64,
        signed_decisions: u64,
        unsigned_decisions: u64,
    },
    Broken {
        verified: bool,
        position: u64,
    },
    Refused {
        verified: bool,
        error: StoreError,
    },
}

/// Whether a store error says the evidence does not hold (exit 3) rather than that the store
/// failed (exit 1): a refused record, a broken log or checkpoint, a history that does not read.
fn refuses(err: &StoreError) -> bool {
    err.class() == ErrorClass::Corrupt
}

/// One tenant: its hash chain, every request loaded under its policy history, and, with the
/// log's key, its Merkle log against every signed checkpoint (the kept ones and those held).
async fn verify_tenant<B: Backend>(
    store: &Store<B>,
    tenant: TenantId,
    key: Option<&VerifierKey>,
    held: &HashMap<String, Vec<Evidence>>,
) -> Result<TenantRow, Failure> {
    let mut problems = Vec::new();
    let (entries, chain) = match store.verify_chain(tenant).await {
        Ok(ChainVerdict::Intact { head }) => (head.map_or(0, |h| h.position), "intact".to_owned()),
        Ok(ChainVerdict::Broken(at)) => {
            problems.push(format!("chain: {at}"));
            (0, format!("BROKEN at {}", at.position))
        }
        Err(err) if refuses(&err) => {
            problems.push(format!("chain: {err}"));
            (0, "REFUSED".to_owned())
        }
        Err(err) => return Err(err.into()),
    };
    let (requests_cell, requests) = match store.verify_requests(tenant).await {
        Ok(verdict) => {
            for (request, err) in &verdict.refused {
                problems.push(format!("request {request}: {err}"));
            }
            let cell = if verdict.all_load() {
                format!("{} load", verdict.loaded)
            } else {
                format!(
                    "{} of {} REFUSED",
                    verdict.refused.len(),
                    verdict.loaded + verdict.refused.len() as u64
                )
            };
            (cell, Checked::Verdict(verdict))
        }
        Err(err) if refuses(&err) => {
            problems.push(format!("requests not checked: {err}"));
            ("REFUSED".to_owned(), Checked::Refused { error: err })
        }
        Err(err) => return Err(err.into()),
    };
    let (log, log_coverage) = match key {
        None => ("not checked".to_owned(), None),
        Some(key) => {
            let kept = held
                .get(&log_origin(key.name(), tenant))
                .map_or(&[][..], Vec::as_slice);
            match store.verify_log(tenant, key, kept).await {
                Ok(
                    verdict @ LogVerdict::Verified {
                        size,
                        checkpoints,
                        covered,
                        decisions,
                        ..
                    },
                ) => {
                    let uncovered = verdict.uncovered();
                    let coverage = Coverage::Covered {
                        verified: size == 0 || checkpoints > 0,
                        size,
                        checkpoints,
                        covered,
                        uncovered,
                        signed_decisions: decisions.signed,
                        unsigned_decisions: decisions.unsigned,
                    };
                    let cell = if size > 0 && checkpoints == 0 {
                        problems.push(format!(
                            "log: NOT VERIFIED: {size} entries and no signed checkpoint: nothing the log's key signed vouches for any of them (its checkpoints were deleted, or the store never had a signer)"
                        ));
                        format!("NOT VERIFIED ({size} entries, no checkpoint)")
                    } else if uncovered > 0 {
                        format!(
                            "verified: {covered} of {size} entries signed ({uncovered} not yet), {checkpoints} checkpoints, {} decisions signed, {} unsigned",
                            decisions.signed, decisions.unsigned
                        )
                    } else {
                        format!(
                            "verified: {size} of {size} entries signed, {checkpoints} checkpoints, {} decisions signed, {} unsigned",
                            decisions.signed, decisions.unsigned
                        )
                    };
                    (cell, Some(coverage))
                }
                Ok(LogVerdict::Broken(at)) => {
                    let text = format!("BROKEN at {}", at.position);
                    problems.push(format!("log: {at}"));
                    let coverage = Coverage::Broken {
                        verified: false,
                        position: at.position,
                    };
                    (text, Some(coverage))
                }
                Err(err) if refuses(&err) => {
                    problems.push(format!("log: {err}"));
                    let coverage = Coverage::Refused {
                        verified: false,
                        error: err,
                    };
                    ("REFUSED".to_owned(), Some(coverage))
                }
                Err(err) => return Err(err.into()),
            }
        }
    };
    Ok(TenantRow {
        tenant,
        entries,
        chain,
        requests_cell,
        requests,
        log,
        log_coverage,
        problems,
    })
}

/// Writes a tenant's log export.
pub async fn export_log<B: Backend>(
    store: &Store<B>,
    tenant: TenantId,
    output: Option<std::path::PathBuf>,
    out: &Output,
) -> Result<ExitCode, Failure> {
    use std::io::Write as _;
    let written = match &output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|err| Failure::io(&format!("creating {}", path.display()), err))?;
            let mut file = CountingLines::new(std::io::BufWriter::new(file), out, "exporting");
            let written = store.export_log(tenant, &mut file).await?;
            file.flush()
                .map_err(|err| Failure::io(&format!("writing {}", path.display()), err))?;
            written
        }
        None => {
            let to = std::io::BufWriter::new(std::io::stdout());
            let mut stdout = CountingLines::new(to, out, "exporting");
            let written = store.export_log(tenant, &mut stdout).await?;
            stdout
                .flush()
                .map_err(|err| Failure::io("writing the export", err))?;
            written
        }
    };
    if written == 0 {
        return Err(Failure::new(
            Code::NotFound,
            format!("tenant {tenant} has no log in this store: check the tenant id"),
        ));
    }
    let to = output.map_or("standard output".to_owned(), |p| p.display().to_string());
    eprintln!("exported {written} lines of the log of tenant {tenant} to {to}");
    Ok(ExitCode::SUCCESS)
}

/// Verifies an export with no database.
pub fn verify_offline(args: VerifyOfflineArgs, out: &Output) -> Result<ExitCode, Failure> {
    let key = load_key(&args.key)?;
    let held = args
        .held
        .iter()
        .map(|path| load_held(path))
        .collect::<Result<Vec<_>, _>>()?;
    let origin = match (&args.origin, held.first()) {
        (Some(origin), _) => origin.clone(),
        (None, Some(first)) => first.origin().to_owned(),
        (None, None) => return Err(Failure::usage("give at least one --held checkpoint")),
    };
    let reader: Box<dyn BufRead> = if args.export.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin().lock()))
    } else {
        let file = std::fs::File::open(&args.export).map_err(|err| {
            Failure::new(
                if err.kind() == std::io::ErrorKind::NotFound {
                    Code::NotFound
                } else {
                    Code::Failed
                },
                format!("opening the export {}: {err}", args.export.display()),
            )
        })?;
        let length = file.metadata().map_or(0, |m| m.len());
        let bar = out.progress(length, "reading the export");
        Box::new(BufReader::new(bar.wrap_read(file)))
    };
    let pins: Vec<&str> = args.pin.iter().map(String::as_str).collect();
    let verdict = verify_export(reader, &origin, std::slice::from_ref(&key), &held, &pins);
    let (code, report, text) = match verdict {
        Ok(LogVerdict::Verified {
            size,
            root,
            checkpoints,
            covered,
            decisions,
        }) => {
            let root = base64::engine::general_purpose::STANDARD.encode(root.as_bytes());
            let uncovered = size - covered.min(size);
            let pinned = if pins.is_empty() {
                "no key pinned (give --pin with your administrators' key fingerprints)"
            } else {
                "every root of trust lists a pinned key"
            };
            (
                ExitCode::SUCCESS,
                Offline::Verified {
                    verified: true,
                    origin: &origin,
                    size,
                    root: root.clone(),
                    checkpoints,
                    covered,
                    uncovered,
                    signed_decisions: decisions.signed,
                    unsigned_decisions: decisions.unsigned,
                    pinned: !pins.is_empty(),
                },
                format!(
                    "verified: the log {origin} holds: {size} entries, root {root}, {checkpoints} signed checkpoints checked (yours among them); the latest covers {covered} entries, {uncovered} are in no signed checkpoint yet\n\
                     decisions: {signed} signed by their approvers' keys, each verified; {unsigned} unsigned (under a policy without keys, or written before decisions were signed); {pinned}",
                    signed = decisions.signed,
                    unsigned = decisions.unsigned,
                ),
            )
        }
        Ok(LogVerdict::Broken(at)) => (
            Code::Refused.into(),
            Offline::Broken {
                verified: false,
                origin: &origin,
                position: at.position,
                request: at.record.map(|(request, _)| request),
                sequence: at.record.map(|(_, sequence)| sequence),
                tampering: at.tampering,
                reason: at.to_string(),
            },
            format!("REFUSED: {at}"),
        ),
        Err(ExportError::Read(err)) => return Err(Failure::io("reading the export", err)),
        Err(err) => (
            Code::Refused.into(),
            Offline::Refused {
                verified: false,
                origin: &origin,
                reason: err.to_string(),
            },
            format!("REFUSED: {err}"),
        ),
    };
    if out.json() {
        out.json_of(&report);
    } else {
        out.line(&text);
    }
    Ok(code)
}

/// Prints a proof.
pub async fn proof<B: Backend>(
    store: &Store<B>,
    command: ProofCommand,
    out: &Output,
) -> Result<ExitCode, Failure> {
    let (proved, text) = match command {
        ProofCommand::Inclusion(InclusionArgs {
            tenant,
            position,
            request,
            sequence,
        }) => {
            let (tenant, position) = match (tenant, position, request, sequence) {
                (Some(tenant), Some(position), _, _) => (tenant, position),
                (_, _, Some(request), Some(sequence)) => {
                    let tenant = store.load(request).await?.tenant();
                    let position = store
                        .log_positions(request)
                        .await?
                        .into_iter()
                        .find_map(|(s, position)| (s == sequence).then_some(position))
                        .ok_or_else(|| {
                            Failure::new(
                                Code::NotFound,
                                format!("request {request} has no record #{sequence}"),
                            )
                        })?;
                    (tenant, position)
                }
                _ => {
                    return Err(Failure::usage(
                        "say which record: --tenant and --position, or --request and --sequence",
                    ));
                }
            };
            let proof = store.inclusion_proof(tenant, position).await?;
            let text = proof.to_text();
            let proved = Proved {
                tenant,
                position: Some(position),
                from: None,
                proof: text.clone(),
            };
            (proved, text)
        }
        ProofCommand::Consistency { tenant, from } => {
            let proof = store.consistency_proof(tenant, from).await?;
            let text = proof.to_text();
            let proved = Proved {
                tenant,
                position: None,
                from: Some(from),
                proof: text.clone(),
            };
            (proved, text)
        }
    };
    if out.json() {
        out.json_of(&proved);
    } else {
        print!("{text}");
        if let Some(position) = proved.position {
            eprintln!(
                "the proof's index {} is the entry at position {position}: C2SP's tlog-proof counts entries from 0, the log's positions count from 1",
                position.saturating_sub(1)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `verify-offline --json` prints.
#[derive(Serialize)]
#[serde(untagged)]
enum Offline<'a> {
    Verified {
        verified: bool,
        origin: &'a str,
        size: u64,
        root: String,
        checkpoints: usize,
        covered: u64,
        uncovered: u64,
        signed_decisions: u64,
        unsigned_decisions: u64,
        pinned: bool,
    },
    Broken {
        verified: bool,
        origin: &'a str,
        position: u64,
        request: Option<RequestId>,
        sequence: Option<u64>,
        tampering: Tampering,
        reason: String,
    },
    Refused {
        verified: bool,
        origin: &'a str,
        reason: String,
    },
}

/// What `proof --json` prints: the proof's text, and what it is of (an entry's position, or
/// the size a consistency proof is from).
#[derive(Serialize)]
struct Proved {
    tenant: TenantId,
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<u64>,
    proof: String,
}

/// Makes a signing key: writes its secret and public halves beside each other and prints the
/// public one.
pub fn keygen(args: KeygenArgs, out: &Output) -> Result<ExitCode, Failure> {
    let key = new_key(&args.name)?;
    let verifier = key.verifier();
    let secret = args.dir.join(format!("{}.key", args.name));
    let public = args.dir.join(format!("{}.vkey", args.name));
    write_new(&secret, &key.to_secret_text(), true)?;
    write_new(&public, &verifier.to_string(), false)?;
    if out.json() {
        out.json_of(&Keys {
            name: &args.name,
            verifier_key: verifier.to_string(),
            signer_key_file: &secret,
            verifier_key_file: &public,
        });
    } else {
        out.line(&verifier.to_string());
        eprintln!(
            "wrote {} (secret: give it to --signer-key, keep it from everyone else) and {} (public: --key, and publish it to customers)",
            secret.display(),
            public.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A new signing key named `name`, from the system's random bytes.
pub fn new_key(name: &str) -> Result<SignerKey, Failure> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|err| {
        Failure::new(
            Code::Failed,
            format!("the system gave no random bytes for the key: {err}"),
        )
    })?;
    SignerKey::from_seed(name, &seed).map_err(|_| {
        Failure::usage(format!(
            "--name {name:?} cannot name a key: give a non-empty name without spaces or `+`"
        ))
    })
}

/// What `keygen --json` prints.
#[derive(Serialize)]
struct Keys<'a> {
    name: &'a str,
    verifier_key: String,
    signer_key_file: &'a Path,
    verifier_key_file: &'a Path,
}

/// Writes `text` and a newline to a new file at `path` (never over an existing one), readable
/// by its owner only when `secret`.
fn write_new(path: &Path, text: &str, secret: bool) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path).map_err(|err| {
        if err.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::usage(format!(
                "{} exists: keygen never overwrites a key; choose another --name or --dir",
                path.display()
            ))
        } else {
            Failure::io(&format!("creating {}", path.display()), err)
        }
    })?;
    writeln!(file, "{text}").map_err(|err| Failure::io(&format!("writing {}", path.display()), err))
}

/// Prints the statement an approver signs for a decision.
pub async fn decision<B: Backend>(
    store: &Store<B>,
    args: DecisionArgs,
    out: &Output,
) -> Result<ExitCode, Failure> {
    crate::operate::use_signer(store, Some(&args.signer_key))?;
    let decision = match (args.grant, args.deny) {
        (true, _) => Decision::Grant,
        (_, true) => Decision::Deny,
        _ => Decision::Revoke,
    };
    if let Some(file) = &args.signature {
        return take_decision(store, &args, decision, file, out).await;
    }
    let statement = store
        .decision_statement(args.request, &args.approver, decision)
        .await?;
    if out.json() {
        out.json_of(&Stated {
            request: args.request,
            approver: &args.approver,
            decision,
            statement: statement.text(),
        });
    } else {
        print!("{}", statement.text());
        eprintln!(
            "save it as a file named statement and sign it: ssh-keygen -Y sign -n customer-lockbox -f ~/.ssh/id_ed25519 statement (which writes statement.sig: give it with --signature to take the decision)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Takes the decision `args` names, signed by the approver in `file`.
async fn take_decision<B: Backend>(
    store: &Store<B>,
    args: &DecisionArgs,
    decision: Decision,
    file: &std::path::Path,
    out: &Output,
) -> Result<ExitCode, Failure> {
    let armor = std::fs::read_to_string(file)
        .map_err(|err| Failure::io(&format!("reading the signature {}", file.display()), err))?;
    let now = args
        .now
        .unwrap_or_else(|| customer_lockbox::Clock::now(&customer_lockbox::SystemClock));
    let (id, approver) = (args.request, &args.approver);
    let request = match decision {
        Decision::Grant => match store.grant_signed(id, approver, &armor, now).await? {
            customer_lockbox::GrantOutcome::Granted(granted) => {
                customer_lockbox::AnyRequest::from(granted)
            }
            customer_lockbox::GrantOutcome::AwaitingApprovals { pending, .. } => {
                customer_lockbox::AnyRequest::from(pending)
            }
            customer_lockbox::GrantOutcome::Expired(closed) => {
                customer_lockbox::AnyRequest::from(closed)
            }
        },
        Decision::Deny => match store.deny_signed(id, approver, &armor, now).await? {
            customer_lockbox::DenyOutcome::Denied(closed)
            | customer_lockbox::DenyOutcome::Expired(closed) => {
                customer_lockbox::AnyRequest::from(closed)
            }
        },
        Decision::Revoke => customer_lockbox::AnyRequest::from(
            store.revoke_signed(id, approver, &armor, now).await?,
        ),
    };
    let last = request.audit_trail().last().map(ToString::to_string);
    if out.json() {
        out.json_of(&request.view());
    } else {
        out.line(&format!(
            "request {id} is {}: {}",
            request.state(),
            last.unwrap_or_default()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// What `decision --json` prints.
#[derive(Serialize)]
struct Stated<'a> {
    request: RequestId,
    approver: &'a customer_lockbox::ApproverId,
    decision: Decision,
    statement: &'a str,
}
