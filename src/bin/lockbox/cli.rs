//! The command line: every command, argument and help text (clap derive).

use std::path::PathBuf;

use chrono::{DateTime, TimeDelta, Utc};
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use customer_lockbox::{
    Actor, ApproverId, AuditEventKind, EmailAddress, EngineerId, RequestId, ServiceRequestNumber,
    StateKind, TenantAdminId, TenantId,
};

const ABOUT: &str = "Look after a Customer Lockbox store, and check its evidence";

const LONG_ABOUT: &str = "\
Look after a Customer Lockbox store, and check its evidence.

An operator lists requests and their trails, searches and exports the audit log, looks after \
tenants' approval policies, expires overdue requests and delivers the outbox. A customer's \
auditor verifies the tenant's log offline, from an export, the log's public key and a \
checkpoint the customer received by email: no database, no trust in the vendor.

The store is a SQLite file's path (or sqlite://PATH) or a PostgreSQL URL (postgres://...), \
given with --store or in LOCKBOX_STORE. Output is a table for people; --json prints one JSON \
document for scripts.";

const EXIT_CODES: &str = "\
Exit codes:
  0  done: the command did what it says (for verify: the evidence holds)
  1  the store, a file or the mail transport failed; the message says what to do
  2  usage: an argument is missing, unknown or not a valid value
  3  evidence refused: a log or chain that does not verify, a tampered export,
     a checkpoint that does not open with the key, a record the workflow could not produce
  4  not found: no store at the path, or no such request, tenant policy or checkpoint

Examples:
  lockbox --store lockbox.db requests --tenant 8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90
  lockbox --store lockbox.db show 019ab5c0-0000-7000-8000-000000000001
  lockbox --store postgres://lockbox@db/lockbox audit export --tenant 8b5a... --format csv
  lockbox verify-offline --export log.jsonl --key vendor.vkey --held message.eml";

/// The `lockbox` command line.
#[derive(Debug, Parser)]
#[command(
    name = "lockbox",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = "Exit codes: 0 done, 1 failure, 2 usage, 3 evidence refused, 4 not found (--help: more)",
    after_long_help = EXIT_CODES,
    propagate_version = true
)]
pub struct Cli {
    /// The store: a SQLite file's path, sqlite://PATH, or postgres://USER@HOST/DATABASE.
    #[arg(
        long,
        short = 's',
        env = "LOCKBOX_STORE",
        global = true,
        value_name = "URL"
    )]
    pub store: Option<String>,

    /// Print one JSON document instead of tables (for scripts).
    #[arg(long, global = true)]
    pub json: bool,

    /// The instant the store takes as its own clock (RFC 3339), for a replay on a copy or a
    /// test; the system's clock (SQLite) or the server's (PostgreSQL) if unset. Steps, sweeps,
    /// deliveries and policy changes are checked against it.
    #[arg(long, global = true, value_name = "INSTANT", value_parser = parse_instant)]
    pub store_clock: Option<DateTime<Utc>>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List requests: a tenant's (optionally in one state), an engineer's, a support case's,
    /// or those due before an instant. Newest first, one page at a time.
    Requests(RequestsArgs),

    /// Show one request: its state, its deadline or access window, and its whole audit trail
    /// with each record's place in the tenant's log.
    Show {
        /// The request's id (a UUID).
        request: RequestId,
    },

    /// Search the audit log, or export it as JSON Lines or CSV.
    #[command(subcommand)]
    Audit(AuditCommand),

    /// Show a tenant's approval policy and its history, or change it (as a tenant
    /// administrator).
    #[command(subcommand)]
    Policy(PolicyCommand),

    /// Verify the store's tenants: hash chains, every request, and, with the log's public key,
    /// the signed logs.
    ///
    /// For each tenant: its hash chain; every request, loaded under the tenant's policy history
    /// (each one refused is named, with its record and rule); and, with --key, its Merkle log
    /// against its signed checkpoints and the checkpoints customers hold (--held), saying how
    /// many entries the latest checkpoint covers. A log with entries and no checkpoint is not
    /// verified. Exits 3 when anything does not hold.
    Verify(VerifyArgs),

    /// Export a tenant's log for its customer's auditor (JSON Lines: the signed checkpoints,
    /// then every entry with every stored column): what `verify-offline` checks.
    ExportLog {
        /// The tenant.
        #[arg(long, value_name = "TENANT_ID")]
        tenant: TenantId,

        /// Write here instead of to standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },

    /// Verify an exported log with no database: the export, the log's public key and a
    /// checkpoint (or a whole message) the customer received.
    VerifyOffline(VerifyOfflineArgs),

    /// Write a demo store to look at: Contoso's policy, a request granted, acted on and
    /// closed, one pending, one expired, each step signed; its signing key and the engineers'
    /// addresses beside it (STORE's name with .key, .vkey and -engineers.csv).
    ///
    /// Made through the library's public API, as a platform makes a store. The store is a new
    /// SQLite file (--store demo.db); nothing existing is overwritten.
    Demo(DemoArgs),

    /// Make a log signing key: writes NAME.key (secret: what --signer-key takes) and NAME.vkey
    /// (public: what --key takes, to publish to customers), and prints the public key.
    ///
    /// The key's name is the log's name: each tenant's log is NAME/TENANT_ID. Neither file is
    /// overwritten; the secret one is readable by its owner only.
    Keygen(KeygenArgs),

    /// Print the statement a designated approver signs to grant, deny or revoke a request
    /// (`ssh-keygen -Y sign -n customer-lockbox -f ~/.ssh/id_ed25519 statement`), or, with
    /// --signature, take the decision the approver signed.
    ///
    /// The statement names the request and all it asks for, the record the decision answers
    /// with its link in the tenant's log, the log (named by the signing key), and until when the
    /// decision may be taken; a signature over it is worth nothing for any other decision. A
    /// grant whose signature does not hold is refused, and the attempt kept on the request's
    /// record (exit 3).
    Decision(DecisionArgs),

    /// Print a proof from a tenant's log in the C2SP tlog-proof text form: a record's
    /// inclusion, or the consistency of a smaller checkpoint with the latest.
    #[command(subcommand)]
    Proof(ProofCommand),

    /// Move on the requests time has moved on: expire unanswered ones, end access whose
    /// window is over.
    Sweep(SweepArgs),

    /// Send the outbox's due notifications (through a pickup directory or sendmail), recording
    /// each attempt in the request's trail.
    Deliver(DeliverArgs),

    /// Bring the store's schema up to this build's version (creates a new SQLite store).
    Migrate,

    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

impl Command {
    /// Whether the command writes to the store (so opens it for writing).
    pub fn writes(&self) -> bool {
        match self {
            Command::Policy(PolicyCommand::Set(args)) => !args.statement,
            Command::Decision(args) => args.signature.is_some(),
            Command::Migrate => true,
            Command::Sweep(args) => !args.dry_run,
            Command::Deliver(args) => !args.dry_run,
            _ => false,
        }
    }
}

/// When the demo's history happens.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The instant the demo's history ends at (RFC 3339); now if unset. Its steps happen in the
    /// two days before it, and the pending request's window runs 11 h 20 min past it.
    #[arg(long, value_name = "INSTANT", value_parser = parse_instant)]
    pub now: Option<DateTime<Utc>>,
}

/// Which decision's statement to print.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("decision").required(true).multiple(false)
    .args(["grant", "deny", "revoke"])))]
pub struct DecisionArgs {
    /// The request.
    #[arg(long, value_name = "REQUEST_ID")]
    pub request: RequestId,

    /// The designated approver who decides.
    #[arg(long, value_name = "APPROVER_ID")]
    pub approver: ApproverId,

    /// Grant access (a pending request).
    #[arg(long)]
    pub grant: bool,

    /// Deny it (a pending request).
    #[arg(long)]
    pub deny: bool,

    /// Revoke access (a granted request).
    #[arg(long)]
    pub revoke: bool,

    /// The log's signing key (a file, as `lockbox keygen` writes it): its name is the log's.
    #[arg(long, value_name = "FILE")]
    pub signer_key: PathBuf,

    /// Take the decision, signed: the approver's signature over the statement, the file
    /// `ssh-keygen -Y sign -n customer-lockbox` wrote. Without it the statement is printed
    /// and nothing changes.
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,

    /// The instant of the decision (RFC 3339), with --signature; now if unset.
    #[arg(long, value_name = "INSTANT", value_parser = parse_instant, requires = "signature")]
    pub now: Option<DateTime<Utc>>,
}

/// What `keygen` makes.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The key's (and the log's) name, such as lockbox.vendor.example: no spaces, no `+`.
    #[arg(long)]
    pub name: String,

    /// The directory to write NAME.key and NAME.vkey in.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

/// Which requests to list.
#[derive(Debug, Args)]
#[group(skip)]
#[command(group(ArgGroup::new("listing").required(true).multiple(false)
    .args(["tenant", "engineer", "service_request", "due_before"])))]
pub struct RequestsArgs {
    /// A tenant's requests.
    #[arg(long, value_name = "TENANT_ID")]
    pub tenant: Option<TenantId>,

    /// Only those in this state (with --tenant).
    #[arg(long, requires = "tenant", value_parser = parse_name::<StateKind>)]
    pub state: Option<StateKind>,

    /// The requests an engineer drafted.
    #[arg(long, value_name = "ENGINEER_ID")]
    pub engineer: Option<EngineerId>,

    /// The requests of one support case.
    #[arg(long, value_name = "NUMBER")]
    pub service_request: Option<ServiceRequestNumber>,

    /// Pending and granted requests due strictly before this instant (RFC 3339), soonest
    /// first.
    #[arg(long, value_name = "INSTANT", value_parser = parse_instant)]
    pub due_before: Option<DateTime<Utc>>,

    /// Where to go on from: the cursor the previous page printed.
    #[arg(long, value_name = "CURSOR")]
    pub after: Option<customer_lockbox::RequestCursor>,

    #[command(flatten)]
    pub pages: Pages,
}

/// Paging of a listing.
#[derive(Debug, Args)]
pub struct Pages {
    /// Rows per page (1 to 1000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub page_size: u32,

    /// Every page, following the cursors, instead of one.
    #[arg(long)]
    pub all: bool,
}

/// `lockbox audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Search audit records, ordered by instant, request and sequence; one page at a time.
    Search {
        #[command(flatten)]
        filters: AuditFilters,

        /// Where to go on from: the cursor the previous page printed.
        #[arg(long, value_name = "CURSOR")]
        after: Option<customer_lockbox::AuditCursor>,

        #[command(flatten)]
        pages: Pages,
    },

    /// Export every matching audit record, as JSON Lines (each line a record, as the library
    /// serializes it) or CSV (one row per record, its record as JSON in the last column).
    Export {
        #[command(flatten)]
        filters: AuditFilters,

        /// The format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,

        /// Write here instead of to standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// Every filter of the audit query; unset filters match anything.
#[derive(Debug, Args)]
pub struct AuditFilters {
    /// Only this tenant's records.
    #[arg(long, value_name = "TENANT_ID")]
    pub tenant: Option<TenantId>,

    /// Only this request's records.
    #[arg(long, value_name = "REQUEST_ID")]
    pub request: Option<RequestId>,

    /// Only this actor's: engineer:ID, support_manager:ID, approver:ID or system.
    #[arg(long, value_parser = parse_name::<Actor>)]
    pub actor: Option<Actor>,

    /// Only records of this kind (repeat for more kinds): drafted, granted, engineer_acted...
    #[arg(long, value_parser = parse_name::<AuditEventKind>, value_name = "KIND")]
    pub kind: Vec<AuditEventKind>,

    /// Only records at or after this instant (RFC 3339).
    #[arg(long, value_name = "INSTANT", value_parser = parse_instant)]
    pub since: Option<DateTime<Utc>>,

    /// Only records strictly before this instant (RFC 3339).
    #[arg(long, value_name = "INSTANT", value_parser = parse_instant)]
    pub before: Option<DateTime<Utc>>,
}

/// The formats of `audit export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// JSON Lines: one record per line.
    Jsonl,
    /// CSV with a header row.
    Csv,
}

/// `lockbox policy ...`
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// The policy in force: who may grant, how many must, how long they have, the longest
    /// access.
    Show {
        /// The tenant.
        tenant: TenantId,
    },

    /// Every version of the tenant's policy, who changed it and when.
    History {
        /// The tenant.
        tenant: TenantId,
    },

    /// Set a new version of the tenant's policy, as a tenant administrator. The approvers
    /// before and after are told by email (through the outbox: run `deliver`).
    ///
    /// With keys (--key), the policy requires every grant signed by its approver and every
    /// later change by its administrator. A change of a policy with keys (and the first policy
    /// with keys) is signed: run the command with --statement to print what the administrator
    /// signs, sign it with `ssh-keygen -Y sign -n customer-lockbox -f ~/.ssh/id_ed25519 FILE`,
    /// then run it again with --signature FILE.sig.
    Set(PolicySetArgs),
}

/// A new policy version.
#[derive(Debug, Args)]
pub struct PolicySetArgs {
    /// The tenant.
    pub tenant: TenantId,

    /// The tenant administrator making the change (recorded in the log).
    #[arg(long, value_name = "ADMIN_ID")]
    pub admin: TenantAdminId,

    /// A designated approver, as ID=EMAIL (repeat for each; the new list replaces the old).
    #[arg(long = "approver", value_name = "ID=EMAIL", required = true, value_parser = parse_approver)]
    pub approvers: Vec<(ApproverId, EmailAddress)>,

    /// How many different approvers must grant a request.
    #[arg(long, default_value_t = 1)]
    pub approvals: u32,

    /// How long approvers have to decide before a request expires: 1h to 96h (e.g. 12h,
    /// 90m, 1h30m).
    #[arg(long, value_parser = parse_duration, default_value = "12h", value_name = "DURATION")]
    pub decision_window: TimeDelta,

    /// The longest access a request may ask for (e.g. 8h); the workflow's own maximum if
    /// unset.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub max_access: Option<TimeDelta>,

    /// The instant of the change (RFC 3339); now if unset.
    #[arg(long, value_name = "INSTANT", value_parser = parse_instant)]
    pub now: Option<DateTime<Utc>>,

    /// A public key that signs for ID, as ID=FILE with FILE its OpenSSH .pub file: an
    /// approver's key signs their grants; any other ID is a tenant administrator whose key
    /// signs the policy's changes. Repeat for each key.
    #[arg(long = "key", value_name = "ID=FILE", value_parser = parse_key_file)]
    pub keys: Vec<(String, PathBuf)>,

    /// Print the statement the administrator signs for this change, and change nothing.
    #[arg(long, conflicts_with = "signature")]
    pub statement: bool,

    /// The administrator's signature over the change's statement: the file
    /// `ssh-keygen -Y sign -n customer-lockbox` wrote.
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,

    /// The log's signing key (a note signer key, PRIVATE+KEY+NAME+HASH+KEY), in a file: the
    /// steps taken sign a checkpoint, and messages carry it. Without it none is signed; a
    /// signed change (and its statement) needs it, for the log's name.
    #[arg(long, value_name = "FILE")]
    pub signer_key: Option<PathBuf>,
}

/// Which logs to verify, and against what.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Only this tenant (repeat for more); every tenant of the store if unset.
    #[arg(long, value_name = "TENANT_ID")]
    pub tenant: Vec<TenantId>,

    /// The log's public key (a note verifier key, NAME+HASH+KEY), or a file holding it.
    /// Without it the hash chains and the requests are checked, not the Merkle logs or their
    /// checkpoints.
    #[arg(long, value_name = "KEY|FILE")]
    pub key: Option<String>,

    /// Evidence a customer holds: a message they received (with its checkpoint and proofs),
    /// or a signed checkpoint on its own. Repeat for more; each is held to its tenant's log.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub held: Vec<PathBuf>,
}

/// An offline verification.
#[derive(Debug, Args)]
pub struct VerifyOfflineArgs {
    /// The export (JSON Lines, from the vendor's `lockbox export-log`); - for standard input.
    #[arg(long, value_name = "FILE")]
    pub export: PathBuf,

    /// The log's public key (NAME+HASH+KEY), or a file holding it: from the vendor, kept
    /// apart from the export.
    #[arg(long, value_name = "KEY|FILE")]
    pub key: String,

    /// Evidence you hold: a message you received (with its checkpoint and proofs), or a
    /// signed checkpoint on its own. Repeat for more; at least one.
    #[arg(long, value_name = "FILE", required = true)]
    pub held: Vec<PathBuf>,

    /// The log's origin (KEY_NAME/TENANT_ID); taken from the first held checkpoint if unset.
    #[arg(long)]
    pub origin: Option<String>,

    /// The fingerprint (SHA256:..., as `ssh-keygen -l` prints it) of your tenant
    /// administrator's key, as the first policy's message showed it and you checked it: the
    /// tenant's first policy with keys must list it. Repeat for more.
    #[arg(long, value_name = "SHA256:...")]
    pub pin: Vec<String>,
}

/// `lockbox proof ...`
#[derive(Debug, Subcommand)]
pub enum ProofCommand {
    /// A record's inclusion in its tenant's log, in the tree of the latest checkpoint.
    Inclusion(InclusionArgs),

    /// The consistency of a smaller checkpoint (a size) with the tenant's latest checkpoint.
    Consistency {
        /// The tenant.
        #[arg(long, value_name = "TENANT_ID")]
        tenant: TenantId,

        /// The size of the checkpoint you hold.
        #[arg(long, value_name = "SIZE")]
        from: u64,
    },
}

/// Which record to prove.
#[derive(Debug, Args)]
#[group(skip)]
#[command(group(ArgGroup::new("record").required(true).multiple(false)
    .args(["position", "request"])))]
pub struct InclusionArgs {
    /// The tenant (with --position).
    #[arg(long, value_name = "TENANT_ID", requires = "position")]
    pub tenant: Option<TenantId>,

    /// The entry's position in the tenant's log, from 1.
    #[arg(long, requires = "tenant")]
    pub position: Option<u64>,

    /// The request whose record to prove (with --sequence).
    #[arg(long, value_name = "REQUEST_ID", requires = "sequence")]
    pub request: Option<RequestId>,

    /// The record's number in the request's trail, from 1.
    #[arg(long, requires = "request")]
    pub sequence: Option<u64>,
}

/// A sweep.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// List what would be moved on, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// The instant to sweep at (RFC 3339); now if unset.
    #[arg(long, value_name = "INSTANT", value_parser = parse_instant)]
    pub now: Option<DateTime<Utc>>,

    /// The log's signing key (a note signer key, PRIVATE+KEY+NAME+HASH+KEY), in a file: the
    /// steps taken sign a checkpoint, and messages carry it. Without it none is signed.
    #[arg(long, value_name = "FILE")]
    pub signer_key: Option<PathBuf>,
}

/// A delivery run.
#[derive(Debug, Args)]
#[group(skip)]
pub struct DeliverArgs {
    /// List the notifications not sent yet, and send nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// The sender's address on every message.
    #[arg(long, value_name = "ADDRESS", required_unless_present = "dry_run")]
    pub from: Option<String>,

    /// Write each message as an .eml file into this directory (a mail server's pickup
    /// directory).
    #[arg(long, value_name = "DIR", required_unless_present_any = ["dry_run", "sendmail"])]
    pub pickup_dir: Option<PathBuf>,

    /// Hand each message to this sendmail program.
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "/usr/sbin/sendmail", conflicts_with = "pickup_dir")]
    pub sendmail: Option<PathBuf>,

    /// Engineers' addresses: a CSV file of ENGINEER_ID,ADDRESS lines (approvers' addresses
    /// come from the tenants' policies).
    #[arg(long, value_name = "FILE")]
    pub engineers: Option<PathBuf>,

    /// How long a run holds each message it claims (e.g. 5m): well longer than a send takes.
    #[arg(long, value_parser = parse_duration, default_value = "5m", value_name = "DURATION")]
    pub lease: TimeDelta,

    /// The instant to deliver at (RFC 3339); now if unset.
    #[arg(long, value_name = "INSTANT", value_parser = parse_instant)]
    pub now: Option<DateTime<Utc>>,

    /// The log's signing key (a note signer key, PRIVATE+KEY+NAME+HASH+KEY), in a file: the
    /// steps taken sign a checkpoint, and messages carry it. Without it none is signed.
    #[arg(long, value_name = "FILE")]
    pub signer_key: Option<PathBuf>,
}

/// A state, an event kind or an actor, by the library's own names.
fn parse_name<T: std::str::FromStr<Err = customer_lockbox::Error>>(
    text: &str,
) -> Result<T, String> {
    text.parse()
        .map_err(|err: customer_lockbox::Error| err.to_string())
}

/// A designated approver as ID=EMAIL.
fn parse_approver(text: &str) -> Result<(ApproverId, EmailAddress), String> {
    let (id, email) = text
        .split_once('=')
        .ok_or("give the approver as ID=EMAIL, e.g. megan@contoso.com=megan@contoso.com")?;
    Ok((
        ApproverId::new(id).map_err(|err| err.to_string())?,
        EmailAddress::new(email).map_err(|err| err.to_string())?,
    ))
}

fn parse_key_file(text: &str) -> Result<(String, PathBuf), String> {
    let (id, file) = text
        .split_once('=')
        .ok_or("give the key as ID=FILE, e.g. megan@contoso.com=megan.pub")?;
    if id.is_empty() || file.is_empty() {
        return Err("give the key as ID=FILE, e.g. megan@contoso.com=megan.pub".to_owned());
    }
    Ok((id.to_owned(), PathBuf::from(file)))
}

/// An instant in RFC 3339 (`2026-11-24T08:00:00Z`, any offset), or a date (`2026-11-24`) for
/// its start in UTC.
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    Err(format!(
        "{text:?} is not an instant: give one in RFC 3339, such as 2026-11-24T08:00:00Z or 2026-11-24T09:00:00+01:00, or a date such as 2026-11-24 (its start, in UTC)"
    ))
}

/// A length such as `12h`, `90m` or `1h30m`.
pub fn parse_duration(text: &str) -> Result<TimeDelta, String> {
    let wrong =
        || format!("{text:?} is not a length: give hours and minutes, as 12h, 90m or 1h30m");
    let (mut minutes, mut digits, mut any) = (0i64, String::new(), false);
    for c in text.trim().chars() {
        match c {
            '0'..='9' => digits.push(c),
            'h' | 'm' => {
                let n: i64 = digits.parse().map_err(|_| wrong())?;
                let scale = if c == 'h' { 60 } else { 1 };
                minutes = n
                    .checked_mul(scale)
                    .and_then(|n| minutes.checked_add(n))
                    .filter(|m| *m <= 100_000_000)
                    .ok_or_else(wrong)?;
                digits.clear();
                any = true;
            }
            _ => return Err(wrong()),
        }
    }
    if !any || !digits.is_empty() {
        return Err(wrong());
    }
    Ok(TimeDelta::minutes(minutes))
}
