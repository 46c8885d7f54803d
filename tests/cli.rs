//! The `lockbox` binary, driven as an operator and an auditor drive it, against real stores:
//! a SQLite file, and a database on the suite's throwaway PostgreSQL server. Outputs and
//! `--help` texts are snapshots (tests/snapshots/cli__*.snap).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use base64::Engine as _;
use customer_lockbox::evidence::LogEntry;
use customer_lockbox::evidence::log_origin;
use customer_lockbox::tlog::{SignerKey, TlogProof, VerifierKey};
use customer_lockbox::*;

use common::insider;
use common::*;

const SEED: [u8; 32] = [7; 32];

/// The log's signer, in process.
fn signer() -> SignerKey {
    SignerKey::from_seed("lockbox.vendor.example", &SEED).unwrap()
}

fn key() -> VerifierKey {
    signer().verifier()
}

/// The signer's key in its text form, as a deployment would keep it in a file.
fn signer_text() -> String {
    let public = key().to_string();
    let mut parts = public.splitn(3, '+');
    let (name, hash) = (parts.next().unwrap(), parts.next().unwrap());
    let mut seed = vec![1u8];
    seed.extend_from_slice(&SEED);
    format!(
        "PRIVATE+KEY+{name}+{hash}+{}",
        base64::engine::general_purpose::STANDARD.encode(seed)
    )
}

/// Contoso's history in `store`: request 1 granted, two actions, revoked (its report in the
/// outbox); request 2 pending (its deadline t0 + 12 h 20 min). With the signer, so checkpoints
/// are kept.
async fn history<B: Backend>(store: &Store<B>) {
    store.set_checkpoint_signer(signer());
    let id = granted_as(store, 1).await;
    let report = store
        .record_actions(id, &alex(), [mailbox_read(), mailbox_read()], at(hours(2)))
        .await
        .unwrap();
    assert!(report.is_all_recorded(), "{report:?}");
    store.revoke(id, &megan(), at(hours(3))).await.unwrap();
    let other = Draft {
        id: request_id(2),
        ..draft()
    };
    store.draft(other, at(hours(4))).await.unwrap();
    store
        .approve(request_id(2), &sam(), at(hours(4)))
        .await
        .unwrap();
    store.notify(request_id(2), at(hours(4))).await.unwrap();
}

/// A SQLite store with [`history`], in a temporary directory.
fn sqlite_store() -> (tempfile::TempDir, PathBuf) {
    let (dir, path) = store_file();
    runtime().block_on(async {
        let store = SqliteStore::open(&path).await.unwrap();
        store.migrate().await.unwrap();
        history(&store).await;
    });
    (dir, path)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `lockbox` with `args` on the store at `url`.
fn lockbox(url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lockbox"));
    command
        .env_remove("LOCKBOX_STORE")
        .arg("--store")
        .arg(url)
        .args(args);
    command
}

/// Runs `lockbox` and returns its exit code and standard output, with standard error shown
/// on failure of the expectation.
fn run(url: &str, args: &[&str]) -> (i32, String, String) {
    let output = lockbox(url, args).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// Runs `lockbox`, which must succeed, and returns its standard output.
fn ok(url: &str, args: &[&str]) -> String {
    let (code, out, err) = run(url, args);
    assert_eq!(code, 0, "lockbox {args:?} failed:\n{err}\n{out}");
    out
}

fn path_text(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn tenant() -> String {
    contoso().to_string()
}

#[test]
fn help_teaches_every_command_and_the_exit_codes() {
    let help = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_lockbox"))
            .args(args)
            .env_remove("LOCKBOX_STORE")
            .env("COLUMNS", "100")
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    insta::assert_snapshot!("help", help(&["--help"]));
    for command in [
        "requests",
        "show",
        "audit search",
        "audit export",
        "policy set",
        "verify",
        "export-log",
        "verify-offline",
        "proof inclusion",
        "proof consistency",
        "sweep",
        "deliver",
        "migrate",
        "keygen",
        "decision",
    ] {
        let mut args: Vec<&str> = command.split(' ').collect();
        args.push("--help");
        insta::assert_snapshot!(format!("help_{}", command.replace(' ', "_")), help(&args));
    }
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let output = Command::new(env!("CARGO_BIN_EXE_lockbox"))
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(output.status.success());
        let script = String::from_utf8(output.stdout).unwrap();
        assert!(script.contains("verify-offline"), "{shell}");
    }
}

#[test]
fn requests_are_listed_and_one_is_shown_with_its_trail() {
    let (_dir, path) = sqlite_store();
    let url = path_text(&path);
    insta::assert_snapshot!("requests", ok(url, &["requests", "--tenant", &tenant()]));
    insta::assert_snapshot!(
        "requests_pending",
        ok(
            url,
            &[
                "requests",
                "--tenant",
                &tenant(),
                "--state",
                "pending_customer"
            ]
        )
    );
    // One page of one, then the next through the cursor the first printed.
    let engineer = alex().to_string();
    let (code, first, err) = run(
        url,
        &["requests", "--engineer", &engineer, "--page-size", "1"],
    );
    assert_eq!(code, 0);
    let cursor = err
        .split_whitespace()
        .skip_while(|word| *word != "--after")
        .nth(1)
        .unwrap();
    let second = ok(
        url,
        &[
            "requests",
            "--engineer",
            &engineer,
            "--page-size",
            "1",
            "--after",
            cursor,
        ],
    );
    assert!(first.contains(&request_id(2).to_string()), "{first}");
    assert!(second.contains(&request_id(1).to_string()), "{second}");
    let all: serde_json::Value = serde_json::from_str(&ok(
        url,
        &[
            "--json",
            "requests",
            "--engineer",
            &engineer,
            "--page-size",
            "1",
            "--all",
        ],
    ))
    .unwrap();
    assert_eq!(all["requests"].as_array().unwrap().len(), 2);
    assert!(all["next"].is_null());

    insta::assert_snapshot!("show", ok(url, &["show", &request_id(1).to_string()]));
    let shown: serde_json::Value =
        serde_json::from_str(&ok(url, &["--json", "show", &request_id(2).to_string()])).unwrap();
    assert_eq!(shown["state"], "pending_customer");
    assert_eq!(shown["decide_by"], "2026-11-25T00:00:00Z");
}

#[test]
fn audit_search_pages_and_exports_as_json_lines_and_csv() {
    let (dir, path) = sqlite_store();
    let url = path_text(&path);
    let acted = [
        "audit",
        "search",
        "--tenant",
        &tenant(),
        "--kind",
        "engineer_acted",
    ];
    insta::assert_snapshot!("audit_search", ok(url, &acted));
    let json: serde_json::Value = serde_json::from_str(&ok(
        url,
        &[
            "--json",
            "audit",
            "search",
            "--request",
            &request_id(1).to_string(),
            "--page-size",
            "3",
        ],
    ))
    .unwrap();
    assert_eq!(json["records"].as_array().unwrap().len(), 3);
    let cursor = json["next"].as_str().unwrap();
    let rest: serde_json::Value = serde_json::from_str(&ok(
        url,
        &[
            "--json",
            "audit",
            "search",
            "--request",
            &request_id(1).to_string(),
            "--after",
            cursor,
            "--all",
        ],
    ))
    .unwrap();
    assert_eq!(rest["records"][0]["sequence"], 4);

    // JSON Lines: every record, each as the library reads it back.
    let lines = ok(url, &["audit", "export", "--tenant", &tenant()]);
    let records: Vec<AuditRecord> = lines
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let searched: serde_json::Value = serde_json::from_str(&ok(
        url,
        &["--json", "audit", "search", "--tenant", &tenant(), "--all"],
    ))
    .unwrap();
    assert_eq!(records.len(), searched["records"].as_array().unwrap().len());
    // CSV, to a file, with the actor filter.
    let csv = dir.path().join("acted.csv");
    ok(
        url,
        &[
            "audit",
            "export",
            "--actor",
            &format!("engineer:{}", alex()),
            "--format",
            "csv",
            "--output",
            path_text(&csv),
        ],
    );
    insta::assert_snapshot!("audit_export_csv", std::fs::read_to_string(&csv).unwrap());
}

#[test]
fn policies_are_shown_with_their_history_and_set_by_an_administrator() {
    let (_dir, path) = sqlite_store();
    let url = path_text(&path);
    insta::assert_snapshot!("policy_show", ok(url, &["policy", "show", &tenant()]));
    let set = ok(
        url,
        &[
            "policy",
            "set",
            &tenant(),
            "--admin",
            "adele",
            "--approver",
            "megan=megan@contoso.com",
            "--approver",
            "lee=lee@contoso.com",
            "--approvals",
            "2",
            "--decision-window",
            "8h",
            "--max-access",
            "4h",
            "--now",
            "2026-11-24T12:00:00Z",
            "--store-clock",
            "2026-11-24T12:00:00Z",
        ],
    );
    insta::assert_snapshot!("policy_set", set);
    let history = ok(url, &["policy", "history", &tenant()]);
    insta::assert_snapshot!("policy_history", history);
    // A policy the library refuses is a usage error, and nothing is written.
    let (code, _, err) = run(
        url,
        &[
            "policy",
            "set",
            &tenant(),
            "--admin",
            "adele",
            "--approver",
            "megan=megan@contoso.com",
            "--approvals",
            "2",
        ],
    );
    assert_eq!(code, 2, "{err}");
    // A node with a clock far ahead: the store refuses the change (exit 1, saying why).
    let (code, _, err) = run(
        url,
        &[
            "policy",
            "set",
            &tenant(),
            "--admin",
            "adele",
            "--approver",
            "megan=megan@contoso.com",
            "--now",
            "2100-01-01T00:00:00Z",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("ahead"), "{err}");
    // Neither refused change was written.
    assert_eq!(ok(url, &["policy", "history", &tenant()]), history);
    let (code, _, err) = run(url, &["policy", "show", &fabrikam().to_string()]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("has no policy"), "{err}");
}

#[test]
fn verify_checks_every_tenant_and_proofs_verify_with_the_public_key_alone() {
    let (_dir, path) = sqlite_store();
    let url = path_text(&path);
    let public = key().to_string();
    let (code, out, err) = run(url, &["verify", "--key", &public]);
    assert_eq!(code, 0, "{err}");
    // Piped, the progress bar stays quiet.
    assert_eq!(err, "");
    insta::assert_snapshot!("verify", out);
    let (code, out, err) = run(url, &["verify"]);
    assert_eq!(code, 0);
    assert!(out.contains("not checked"), "{out}");
    assert!(err.contains("--key"), "{err}");

    // The inclusion proof of request 1's grant, by record, verifies offline.
    let proof = ok(
        url,
        &[
            "proof",
            "inclusion",
            "--request",
            &request_id(1).to_string(),
            "--sequence",
            "5",
        ],
    );
    let entries = runtime().block_on(async {
        let store = SqliteStore::open_read_only(&path).await.unwrap();
        store.log_entries(contoso()).await.unwrap()
    });
    insta::assert_snapshot!("proof_inclusion", proof);
    let proof = TlogProof::parse(&proof).unwrap();
    let entry = &entries[proof.index() as usize];
    assert_eq!(entry.request(), Some(request_id(1)));
    assert_eq!(entry.sequence(), 5);
    proof
        .verify(
            &entry.leaf_hash(),
            &log_origin(key().name(), contoso()),
            &[key()],
        )
        .unwrap();
    // The same entry by position; consistency from the first checkpoint to the latest.
    let by_position = ok(
        url,
        &[
            "proof",
            "inclusion",
            "--tenant",
            &tenant(),
            "--position",
            &(proof.index() + 1).to_string(),
        ],
    );
    assert_eq!(by_position, proof.to_text());
    let consistency = ok(
        url,
        &["proof", "consistency", "--tenant", &tenant(), "--from", "3"],
    );
    assert!(
        consistency.starts_with("customer-lockbox/consistency-proof@v1\nold 3\n"),
        "{consistency}"
    );
    // An entry no checkpoint covers, and a record that does not exist: not found.
    let (code, _, err) = run(
        url,
        &[
            "proof",
            "inclusion",
            "--tenant",
            &tenant(),
            "--position",
            "999",
        ],
    );
    assert_eq!(code, 4, "{err}");
    let (code, _, err) = run(
        url,
        &[
            "proof",
            "inclusion",
            "--request",
            &request_id(1).to_string(),
            "--sequence",
            "99",
        ],
    );
    assert_eq!(code, 4, "{err}");
}

/// An insider with write access to the database, and no key, edits an engineer action in
/// place: `verify` names the record and exits 3.
#[test]
fn verify_names_a_record_an_insider_edited_in_the_database() {
    let (_dir, path) = sqlite_store();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let edited = conn
        .execute(
            "UPDATE audit SET record = replace(record, 'Get-MailboxFolderStatistics', 'Get-Mailbox') \
             WHERE request_id = ?1 AND sequence = 6",
            [request_id(1).to_string()],
        )
        .unwrap();
    assert_eq!(edited, 1);
    drop(conn);
    let (code, out, err) = run(path_text(&path), &["verify", "--key", &key().to_string()]);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(out.contains(&format!("request {}", request_id(1))), "{out}");
    assert!(out.contains("record #6"), "{out}");
}

/// The customer's auditor: the report as delivered (an .eml in a pickup directory), the
/// vendor's export and public key; then the export an insider rewrote, relinking every hash.
#[test]
fn verify_offline_accepts_the_export_and_refuses_the_insiders_rewrite() {
    let (dir, path) = sqlite_store();
    let url = path_text(&path);
    let signer_key = dir.path().join("signer.key");
    std::fs::write(&signer_key, signer_text()).unwrap();
    let pickup = dir.path().join("outgoing");
    std::fs::create_dir(&pickup).unwrap();
    let engineers = dir.path().join("engineers.csv");
    std::fs::write(
        &engineers,
        format!(
            "# id,address\n{},alex.mail@support.vendor.example\n",
            alex()
        ),
    )
    .unwrap();
    let delivered = ok(
        url,
        &[
            "deliver",
            "--from",
            "lockbox@vendor.example",
            "--pickup-dir",
            path_text(&pickup),
            "--engineers",
            path_text(&engineers),
            "--signer-key",
            path_text(&signer_key),
            "--now",
            "2026-11-24T12:30:00Z",
        ],
    );
    insta::assert_snapshot!("deliver", delivered);
    let report = std::fs::read_dir(&pickup)
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .find(|message| message.contains("BEGIN CUSTOMER LOCKBOX PROOF"))
        .expect("the report was delivered with its proofs");
    let report_file = dir.path().join("report.eml");
    std::fs::write(&report_file, &report).unwrap();

    let export = dir.path().join("log.jsonl");
    ok(
        url,
        &[
            "export-log",
            "--tenant",
            &tenant(),
            "-o",
            path_text(&export),
        ],
    );
    let (code, _, err) = run(url, &["export-log", "--tenant", &fabrikam().to_string()]);
    assert_eq!(code, 4, "{err}");
    let key_file = dir.path().join("vendor.vkey");
    std::fs::write(&key_file, format!("{}\n", key())).unwrap();
    let offline = |export: &Path| {
        let output = Command::new(env!("CARGO_BIN_EXE_lockbox"))
            .env_remove("LOCKBOX_STORE")
            .args(["verify-offline", "--export", path_text(export), "--key"])
            .arg(&key_file)
            .arg("--held")
            .arg(&report_file)
            .output()
            .unwrap();
        (
            output.status.code().unwrap(),
            String::from_utf8(output.stdout).unwrap() + &String::from_utf8(output.stderr).unwrap(),
        )
    };
    let (code, out) = offline(&export);
    assert_eq!(code, 0, "{out}\n{report}");
    insta::assert_snapshot!("verify_offline", out);
    // A checkpoint kept on its own (not a whole message) serves as well.
    let note = runtime().block_on(async {
        let store = SqliteStore::open_read_only(&path).await.unwrap();
        store.checkpoints(contoso()).await.unwrap()[1]
            .note()
            .to_owned()
    });
    let held_note = dir.path().join("checkpoint.txt");
    std::fs::write(&held_note, &note).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .env_remove("LOCKBOX_STORE")
        .args(["verify-offline", "--export", path_text(&export), "--key"])
        .arg(&key_file)
        .arg("--held")
        .arg(&held_note)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");

    // The insider turns the first mailbox read into another, relinks the whole chain and
    // drops the checkpoints they cannot sign again.
    let rewritten = dir.path().join("rewritten.jsonl");
    let mut previous = ChainHash::GENESIS;
    let mut text = String::new();
    let mut done = false;
    for line in std::fs::read_to_string(&export).unwrap().lines() {
        let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
        let Some(entry) = value.get_mut("entry") else {
            continue;
        };
        if let Some(record) = entry["record"]
            .as_str()
            .filter(|r| !done && r.contains("cfo@"))
        {
            entry["record"] = serde_json::json!(record.replace("cfo@", "ceo@"));
            done = true;
        }
        entry["previous_hash"] = serde_json::json!(previous.to_string());
        let relinked: LogEntry = serde_json::from_value(entry.clone()).unwrap();
        previous = relinked.link_hash();
        entry["hash"] = serde_json::json!(previous.to_string());
        text.push_str(&value.to_string());
        text.push('\n');
    }
    assert!(done, "the export has the action to rewrite");
    std::fs::write(&rewritten, text).unwrap();
    let (code, out) = offline(&rewritten);
    assert_eq!(code, 3, "{out}");
    insta::assert_snapshot!("verify_offline_refused", out.replace(&tenant(), "TENANT"));

    // What else a hostile vendor might hand the auditor: a line that is not an export line,
    // and a checkpoint signed with another key of the same name (the report's held checkpoint
    // is the one the export must match). Both refused, exit 3, saying where.
    let broken = dir.path().join("broken.jsonl");
    let mut lines: Vec<String> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.insert(2, r#"{"entry":"not an entry"}"#.to_owned());
    std::fs::write(&broken, lines.join("\n") + "\n").unwrap();
    let (code, out) = offline(&broken);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("line 3 of the export"), "{out}");
    let forger = SignerKey::from_seed("lockbox.vendor.example", &[8; 32]).unwrap();
    let forged = dir.path().join("forged.jsonl");
    let size = runtime().block_on(async {
        let store = SqliteStore::open_read_only(&path).await.unwrap();
        store
            .latest_checkpoint(contoso())
            .await
            .unwrap()
            .unwrap()
            .checkpoint()
            .clone()
    });
    let note = serde_json::json!({ "checkpoint": size.sign(&forger).unwrap() }).to_string();
    std::fs::write(
        &forged,
        format!("{note}\n{}", std::fs::read_to_string(&export).unwrap()),
    )
    .unwrap();
    let (code, out) = offline(&forged);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("checkpoint at line 1 does not hold"), "{out}");
}

#[test]
fn sweep_and_deliver_dry_runs_change_nothing() {
    let (dir, path) = sqlite_store();
    let url = path_text(&path);
    let late = "2026-11-25T00:00:00Z";
    insta::assert_snapshot!(
        "sweep_dry_run",
        ok(url, &["sweep", "--dry-run", "--now", late])
    );
    insta::assert_snapshot!("deliver_dry_run", ok(url, &["deliver", "--dry-run"]));
    // Nothing moved: the same again.
    assert_eq!(
        ok(url, &["sweep", "--dry-run", "--now", late]),
        ok(url, &["sweep", "--dry-run", "--now", late])
    );
    let swept = ok(url, &["sweep", "--now", late]);
    insta::assert_snapshot!("sweep", swept);
    insta::assert_snapshot!(
        "sweep_after",
        ok(url, &["sweep", "--dry-run", "--now", late])
    );
    // A pickup directory that is not there: not found, nothing claimed.
    let (code, _, err) = run(
        url,
        &[
            "deliver",
            "--from",
            "lockbox@vendor.example",
            "--pickup-dir",
            path_text(&dir.path().join("missing")),
        ],
    );
    assert_eq!(code, 4, "{err}");
}

#[test]
fn migrate_creates_a_store_and_reports_the_version() {
    let (dir, _) = store_file();
    let fresh = dir.path().join("new.db");
    let url = path_text(&fresh);
    let first = ok(url, &["migrate"]);
    insta::assert_snapshot!("migrate", first);
    let again = ok(url, &["migrate"]);
    assert!(again.starts_with("schema already at version"), "{again}");
    assert_eq!(
        ok(url, &["requests", "--tenant", &tenant()]),
        "no requests\n"
    );
}

/// Usage errors exit 2, missing things 4, each saying what to do.
#[test]
fn errors_say_what_was_wrong_with_distinct_exit_codes() {
    let (dir, path) = sqlite_store();
    let url = path_text(&path);
    let cases: [(&[&str], i32, &str); 6] = [
        (&["requests"], 2, "required"),
        (&["show", "not-a-request"], 2, "request"),
        (
            &["audit", "search", "--kind", "hacked"],
            2,
            "one of drafted",
        ),
        (&["audit", "search", "--actor", "root"], 2, "engineer:ID"),
        (&["show", &request_id(9).to_string()], 4, "no request"),
        (&["verify", "--key", "not a key"], 2, "NAME+HASH+KEY"),
    ];
    for (args, expected, says) in cases {
        let (code, _, err) = run(url, args);
        assert_eq!(code, expected, "{args:?}: {err}");
        assert!(
            err.to_lowercase().contains(&says.to_lowercase()),
            "{args:?}: {err}"
        );
    }
    let missing = dir.path().join("nowhere.db");
    let (code, _, err) = run(path_text(&missing), &["requests", "--tenant", &tenant()]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("lockbox migrate"), "{err}");
    assert!(!missing.exists(), "a read never creates a store");
    let output = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .env_remove("LOCKBOX_STORE")
        .args(["requests", "--tenant", &tenant()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    // With --json, the error is a JSON document too.
    let (code, out, _) = run(url, &["--json", "show", &request_id(9).to_string()]);
    assert_eq!(code, 4);
    let error: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(error["exit_code"], 4);
}

/// The same commands on PostgreSQL print what they print on SQLite.
#[test]
fn a_postgres_store_by_url_prints_what_a_sqlite_store_prints() {
    let Ok(server) = std::env::var("LOCKBOX_POSTGRES_URL") else {
        eprintln!("LOCKBOX_POSTGRES_URL is not set: `bash .ci/test` sets it");
        return;
    };
    let rt = runtime();
    let params = rt.block_on(pg::fresh_database());
    let url = postgres_url(&params);
    let _drop = DropDatabase(params.clone());
    assert!(ok(&url, &["migrate"]).starts_with("schema migrated"));
    rt.block_on(async {
        let store = PostgresStore::connect(&params).await.unwrap();
        history(&store).await;
    });
    let (_dir, path) = sqlite_store();
    let sqlite = path_text(&path);
    let key = key().to_string();
    let request = request_id(1).to_string();
    for args in [
        vec!["requests", "--tenant", &tenant()],
        vec!["show", &request],
        vec!["audit", "search", "--tenant", &tenant()],
        vec!["audit", "export", "--tenant", &tenant(), "--format", "csv"],
        vec!["policy", "history", &tenant()],
        vec!["verify", "--key", &key],
        vec!["export-log", "--tenant", &tenant()],
        vec![
            "proof",
            "inclusion",
            "--request",
            &request,
            "--sequence",
            "5",
        ],
        vec!["sweep", "--dry-run", "--now", "2026-11-25T00:00:00Z"],
        vec!["deliver", "--dry-run"],
    ] {
        assert_eq!(ok(&url, &args), ok(sqlite, &args), "{args:?} on {server}");
    }
    let swept = ok(&url, &["sweep", "--now", "2026-11-25T00:00:00Z"]);
    assert!(swept.contains("expired"), "{swept}");
}

/// A libpq key=value string as a postgres:// URL.
fn postgres_url(params: &str) -> String {
    let field = |name: &str| {
        params
            .split_whitespace()
            .filter_map(|part| part.strip_prefix(&format!("{name}=")))
            .next_back()
            .map(str::to_owned)
    };
    format!(
        "postgres://{}@{}:{}/{}",
        field("user").unwrap_or_else(|| "postgres".into()),
        field("host").unwrap_or_else(|| "127.0.0.1".into()),
        field("port").unwrap_or_else(|| "5432".into()),
        field("dbname").unwrap()
    )
}

struct DropDatabase(String);

impl Drop for DropDatabase {
    fn drop(&mut self) {
        pg::drop_database(&self.0);
    }
}

/// A store with [`history`] for an insider to edit: on SQLite, and on PostgreSQL when the
/// suite's server is there.
struct Victim {
    url: String,
    postgres: Option<String>,
    _dir: Option<tempfile::TempDir>,
    _drop: Option<DropDatabase>,
}

impl Victim {
    fn sqlite() -> Self {
        let (dir, path) = sqlite_store();
        Victim {
            url: path_text(&path).to_owned(),
            postgres: None,
            _dir: Some(dir),
            _drop: None,
        }
    }

    fn postgres() -> Option<Self> {
        std::env::var("LOCKBOX_POSTGRES_URL").ok()?;
        let params = runtime().block_on(async {
            let params = pg::fresh_database().await;
            let store = PostgresStore::connect(&params).await.unwrap();
            store.migrate().await.unwrap();
            history(&store).await;
            params
        });
        Some(Victim {
            url: postgres_url(&params),
            postgres: Some(params.clone()),
            _dir: None,
            _drop: Some(DropDatabase(params)),
        })
    }

    /// One of each store this run can reach.
    fn each() -> Vec<Victim> {
        std::iter::once(Victim::sqlite())
            .chain(Victim::postgres())
            .collect()
    }

    /// Runs `sql` as an insider does: the foreign keys, which the stores enforce, off.
    fn sql(&self, sql: &str) {
        match &self.postgres {
            None => {
                let conn = rusqlite::Connection::open(&self.url).unwrap();
                conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
                conn.execute_batch(sql).unwrap();
            }
            Some(params) => runtime().block_on(async {
                pg::client(params)
                    .await
                    .batch_execute(&format!("SET session_replication_role = replica; {sql}"))
                    .await
                    .unwrap()
            }),
        }
    }

    /// Rewrites Contoso's log with `edit` as an insider with write access and no key does
    /// (relinked, its tree rebuilt, the checkpoints it broke deleted:
    /// [`insider::rewrite_sql`]).
    fn rewrite(&self, edit: impl FnOnce(&mut Vec<serde_json::Value>)) {
        let sql = runtime().block_on(async {
            match &self.postgres {
                None => {
                    let store = SqliteStore::open_read_only(&self.url).await.unwrap();
                    insider::rewrite_sql(&store, contoso(), false, edit).await
                }
                Some(params) => {
                    let store = PostgresStore::connect(params).await.unwrap();
                    insider::rewrite_sql(&store, contoso(), true, edit).await
                }
            }
        });
        self.sql(&sql);
    }

    /// `lockbox verify --key`: its exit code, and its standard output, which must name each
    /// of `named` (and, with `--json`, say the same).
    fn verify(&self, code: i32, named: &[&str]) -> String {
        let (got, out, err) = run(&self.url, &["verify", "--key", &key().to_string()]);
        assert_eq!(got, code, "{}\n{out}\n{err}", self.url);
        for name in named {
            assert!(out.contains(name), "{name:?} not in\n{out}");
        }
        let (got, json, _) = run(
            &self.url,
            &["--json", "verify", "--key", &key().to_string()],
        );
        assert_eq!(got, code, "{json}");
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["verified"], code == 0, "{json}");
        out
    }
}

/// The sequence of request 1's `nth` record of `kind` among `values`.
fn sequence_in(values: &[serde_json::Value], kind: &str, nth: usize) -> u64 {
    values
        .iter()
        .filter(|v| v["request_id"] == request_id(1).to_string() && v["kind"] == kind)
        .nth(nth)
        .unwrap()["sequence"]
        .as_u64()
        .unwrap()
}

/// An insider with write access and no key rewrites the log so it is consistent in itself
/// (every hash relinked, the tree rebuilt, the checkpoints the rewrite broke deleted): the
/// chain is intact and the remaining checkpoints verify, but `verify` loads every request, so
/// each one the workflow could not have produced is named, with its record and rule, and the
/// run exits 3. Rewriting from the oldest entry leaves no checkpoint at all: not verified.
#[test]
fn verify_names_each_request_an_insider_rewrote_consistently() {
    let id = request_id(1);
    let request = format!("request {id}");
    for victim in Victim::each() {
        // The honest store: every request loads, every entry is under a signed checkpoint.
        victim.verify(
            0,
            &["2 load", "verified: 11 of 11 entries signed, 5 checkpoints"],
        );
    }
    // Deleting an action (the second of two).
    for victim in Victim::each() {
        victim.rewrite(|values| {
            let second = sequence_in(values, "engineer_acted", 1);
            values.remove(insider::index_of(values, id, second));
        });
        victim.verify(3, &[&request, "record #7", "1 of 2 REFUSED"]);
    }
    // Moving the grant earlier (within the decision window).
    for victim in Victim::each() {
        victim.rewrite(|values| {
            let granted = sequence_in(values, "granted", 0);
            let at = insider::index_of(values, id, granted);
            for column in ["record", "at"] {
                let text = values[at][column]
                    .as_str()
                    .unwrap()
                    .replace("2026-11-24T09:00:00", "2026-11-24T08:21:00");
                values[at][column] = serde_json::json!(text);
            }
        });
        victim.verify(
            3,
            &[&request, "record #4", "not exactly the requested duration"],
        );
    }
    // Truncating a trail: its revocation.
    for victim in Victim::each() {
        victim.rewrite(|values| {
            let revoked = sequence_in(values, "revoked", 0);
            values.remove(insider::index_of(values, id, revoked));
        });
        victim.verify(3, &[&request, "its trail leads to granted"]);
    }
    // Rewriting the oldest entry (the policy change, to designate the insider): every
    // checkpoint is gone, and every request notified under the real policy is refused.
    for victim in Victim::each() {
        victim.rewrite(|values| {
            let text = values[0]["record"]
                .as_str()
                .unwrap()
                .replace("lee@contoso.com", "mallory@vendor.example");
            values[0]["record"] = serde_json::json!(text);
        });
        let out = victim.verify(
            3,
            &[
                &request,
                &format!("request {}", request_id(2)),
                "the notification's approvers",
                "NOT VERIFIED (11 entries, no checkpoint)",
            ],
        );
        assert!(!out.contains("verified:"), "{out}");
    }
}

/// What no load refuses, `verify` still tells: every checkpoint deleted (the log verifies
/// against nothing: "not verified", exit 3); an action deleted and the later records
/// renumbered (a trail the workflow could have produced: the entries after the last checkpoint
/// the insider kept are counted as signed by nothing); a request's row deleted, to hide it
/// from every listing (named by its records in the log); a policy history edited (exit 3, not
/// 1: the evidence does not hold).
#[test]
fn verify_says_what_no_checkpoint_covers_and_what_was_deleted() {
    for victim in Victim::each() {
        victim.sql("DELETE FROM checkpoints");
        let out = victim.verify(3, &["2 load", "NOT VERIFIED (11 entries, no checkpoint)"]);
        assert!(
            out.contains("nothing the log's key signed vouches"),
            "{out}"
        );
    }
    let id = request_id(1);
    for victim in Victim::each() {
        victim.rewrite(|values| {
            let second = sequence_in(values, "engineer_acted", 1);
            values.remove(insider::index_of(values, id, second));
            for v in values
                .iter_mut()
                .filter(|v| v["request_id"] == id.to_string())
            {
                let sequence = v["sequence"].as_u64().unwrap();
                if sequence > second {
                    let record = v["record"].as_str().unwrap().replacen(
                        &format!("\"sequence\":{sequence}"),
                        &format!("\"sequence\":{}", sequence - 1),
                        1,
                    );
                    v["sequence"] = serde_json::json!(sequence - 1);
                    v["record"] = serde_json::json!(record);
                }
            }
        });
        victim.verify(
            0,
            &["2 load", "verified: 5 of 10 entries signed (5 not yet)"],
        );
    }
    for victim in Victim::each() {
        victim.sql(&format!(
            "DELETE FROM outbox WHERE request_id = '{id}'; DELETE FROM requests WHERE id = '{id}'"
        ));
        victim.verify(
            3,
            &[
                &format!("request {id}"),
                "its row is missing",
                "1 of 2 REFUSED",
            ],
        );
    }
    for victim in Victim::each() {
        victim.sql("UPDATE policy_changes SET changed_by = 'mallory@contoso.com'");
        victim.verify(3, &["requests not checked", "policy"]);
    }
}

/// A store whose only tenant has only a policy change (set, its message not delivered yet).
fn policy_only_store() -> (tempfile::TempDir, PathBuf) {
    let (dir, path) = store_file();
    runtime().block_on(async {
        let store = SqliteStore::open(&path).await.unwrap();
        store.migrate().await.unwrap();
        store.set_checkpoint_signer(signer());
        set_policy_at(&store, policy(), at(hours(-24)))
            .await
            .unwrap();
    });
    (dir, path)
}

/// The dry run lists the policy change's message that the real `deliver` sends.
#[test]
fn a_deliver_dry_run_lists_a_policy_changes_message() {
    let (_dir, path) = policy_only_store();
    let url = path_text(&path);
    let dry: serde_json::Value =
        serde_json::from_str(&ok(url, &["--json", "deliver", "--dry-run"])).unwrap();
    let pending = dry["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{dry:#}");
    assert_eq!(pending[0]["tenant"], tenant());
    assert_eq!(pending[0]["kind"], "policy_changed");
    let table = ok(url, &["deliver", "--dry-run"]);
    assert!(
        table.contains(&format!("policy of {}", tenant())),
        "{table}"
    );
    assert!(!table.contains("the outbox is empty"), "{table}");
}

/// `verify` without `--tenant` checks a tenant whose log holds only policy records.
#[test]
fn verify_checks_a_tenant_with_only_a_policy_change() {
    let (_dir, path) = policy_only_store();
    let url = path_text(&path);
    let verified: serde_json::Value =
        serde_json::from_str(&ok(url, &["--json", "verify"])).unwrap();
    let tenants = verified["tenants"].as_array().unwrap();
    assert_eq!(tenants.len(), 1, "{verified:#}");
    assert_eq!(tenants[0]["tenant"], tenant());
    assert_eq!(tenants[0]["entries"], 1);
    let table = ok(url, &["verify"]);
    assert!(!table.contains("no tenants in this store"), "{table}");
}

/// A tenant's audit search shows its policy changes, which `export-log` exports; a search
/// narrowed to a request does not.
#[test]
fn a_tenants_audit_search_shows_its_policy_changes() {
    let (_dir, path) = policy_only_store();
    let url = path_text(&path);
    let exported = ok(url, &["export-log", "--tenant", &tenant()]);
    assert!(exported.contains("\"policy_changed\""), "{exported}");
    let found = ok(url, &["audit", "search", "--tenant", &tenant()]);
    assert!(found.contains("policy changed to version 1"), "{found}");
    let found: serde_json::Value = serde_json::from_str(&ok(
        url,
        &["--json", "audit", "search", "--tenant", &tenant()],
    ))
    .unwrap();
    assert_eq!(
        found["policy_changes"].as_array().unwrap().len(),
        1,
        "{found:#}"
    );
    let narrowed = ok(
        url,
        &[
            "audit",
            "search",
            "--tenant",
            &tenant(),
            "--request",
            &request_id(1).to_string(),
        ],
    );
    assert!(!narrowed.contains("policy changed"), "{narrowed}");
}

/// `keygen` makes a key the other commands take: the store signs with the secret half, and
/// `verify` checks the log with the public half. It never overwrites a key.
#[test]
fn keygen_makes_a_key_the_other_commands_take() {
    let (dir, path) = store_file();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let printed = lockbox(
        "unused",
        &[
            "keygen",
            "--name",
            "lockbox.test",
            "--dir",
            path_text(&keys),
        ],
    )
    .env_remove("LOCKBOX_STORE")
    .output()
    .unwrap();
    assert!(printed.status.success(), "{printed:?}");
    let public = String::from_utf8(printed.stdout).unwrap();
    let verifier = VerifierKey::parse(public.trim()).unwrap();
    assert_eq!(verifier.name(), "lockbox.test");
    let secret_file = keys.join("lockbox.test.key");
    let signer = SignerKey::parse(std::fs::read_to_string(&secret_file).unwrap().trim()).unwrap();
    assert_eq!(signer.verifier(), verifier);
    assert_eq!(
        VerifierKey::parse(
            std::fs::read_to_string(keys.join("lockbox.test.vkey"))
                .unwrap()
                .trim()
        )
        .unwrap(),
        verifier
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    // Again: refused, the key kept.
    let again = lockbox(
        "unused",
        &[
            "keygen",
            "--name",
            "lockbox.test",
            "--dir",
            path_text(&keys),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwrites"));
    assert_eq!(
        SignerKey::parse(std::fs::read_to_string(&secret_file).unwrap().trim())
            .unwrap()
            .verifier(),
        verifier
    );
    // The store signs with it; verify checks the log with its public half.
    let url = path_text(&path);
    ok(url, &["migrate"]);
    ok(
        url,
        &[
            "policy",
            "set",
            &tenant(),
            "--admin",
            "adele@contoso.com",
            "--approver",
            "megan=megan@contoso.com",
            "--signer-key",
            path_text(&secret_file),
        ],
    );
    let verified = ok(
        url,
        &[
            "verify",
            "--key",
            path_text(&keys.join("lockbox.test.vkey")),
        ],
    );
    assert!(
        verified.contains("verified: 1 of 1 entries signed"),
        "{verified}"
    );
}

/// README's walk through the demo store, run as printed: every `sh` block of its "Operating a
/// store" section, in order, in one shell (`-e`: a line that fails fails the walk) in an empty
/// directory, with this build's `lockbox` first on the `PATH`. Prints the transcript.
#[test]
fn readme_walk_runs_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("## Operating a store")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap();
    let mut script = String::from("set -e\nexec 2>&1\n");
    let mut lines = Vec::new();
    for block in section.split("```sh\n").skip(1) {
        let block = block.split("```").next().unwrap();
        for line in block.lines().filter(|line| !line.trim().is_empty()) {
            lines.push(line.to_owned());
            script.push_str(&format!(
                "echo '$ {}'\n{line}\n",
                line.replace('\'', "'\\''")
            ));
        }
    }
    assert!(lines.len() >= 15, "{lines:#?}");
    assert!(
        lines[0].starts_with("lockbox demo --store demo.db"),
        "{lines:#?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_lockbox")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("PATH", path)
        .env_remove("LOCKBOX_STORE")
        .output()
        .unwrap();
    let transcript = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{transcript}");
    assert!(output.status.success(), "{transcript}");
    for expected in [
        "pending_customer",
        "Get-MobileDeviceStatistics",
        "verified: the log lockbox.demo.example/8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90 holds",
        "refused (exit 3)",
    ] {
        assert!(transcript.contains(expected), "{expected}: {transcript}");
    }
}

/// A store that does not open is named with the cause and what to do, and the exit codes stay
/// as documented; an instant that does not parse says which forms it takes.
#[test]
fn store_errors_name_the_path_or_host_and_the_cause() {
    let (dir, _) = store_file();
    let tenant = tenant();
    let listing = ["requests", "--tenant", tenant.as_str()];
    let failing = |url: &str, args: &[&str], code: i32, says: &[&str]| {
        let (got, _, err) = run(url, args);
        assert_eq!(got, code, "{url} {args:?}: {err}");
        for text in says {
            assert!(
                err.contains(text),
                "{url} {args:?}: expected {text:?} in {err}"
            );
        }
    };
    let missing = dir.path().join("no-such-dir").join("lockbox.db");
    failing(
        path_text(&missing),
        &["migrate"],
        1,
        &[
            path_text(&missing),
            "unable to open database file",
            "does not exist: create it",
        ],
    );
    let not_sqlite = dir.path().join("notes.txt");
    std::fs::write(&not_sqlite, "not a database, just notes\n".repeat(200)).unwrap();
    failing(
        path_text(&not_sqlite),
        &listing,
        1,
        &[
            path_text(&not_sqlite),
            "file is not a database",
            "is not a SQLite database",
        ],
    );
    failing(
        "postgres://lockbox@127.0.0.1:1/lockbox",
        &listing,
        1,
        &[
            "127.0.0.1:1",
            "Connection refused",
            "check that the server runs",
        ],
    );
    failing(
        path_text(dir.path()),
        &listing,
        4,
        &["is a directory, not a store", "lockbox.db"],
    );
    failing(
        "mysql://lockbox@db/lockbox",
        &listing,
        2,
        &["mysql:// is no store this build opens", "postgres://"],
    );
    failing(
        "unused.db",
        &["audit", "search", "--since", "yesterday"],
        2,
        &["\"yesterday\" is not an instant", "RFC 3339", "2026-11-24"],
    );
}

/// README's `deliver` without `--engineers`: the engineers' messages fail, and the failure
/// names the option that gives their addresses.
#[test]
fn a_delivery_without_engineers_names_the_option() {
    let (dir, _) = store_file();
    let store = dir.path().join("demo.db");
    let demo = lockbox(path_text(&store), &["demo"]).output().unwrap();
    assert!(demo.status.success(), "{demo:?}");
    let mail = dir.path().join("mail");
    std::fs::create_dir(&mail).unwrap();
    let (code, _, err) = run(
        path_text(&store),
        &[
            "deliver",
            "--from",
            "lockbox@vendor.example",
            "--pickup-dir",
            path_text(&mail),
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no --engineers FILE was given"), "{err}");
    // The messages that went are named to be found: instant, kind, what they are about.
    let names: Vec<String> = std::fs::read_dir(&mail)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .any(|name| name.contains("-access-ended-019ab5c0-0000-7000-8000-000000000001-1.eml")),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|name| name
                .contains("-policy-changed-8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90-v1-1.eml")),
        "{names:?}"
    );
}

/// `decision` prints the statement an approver signs; the bytes printed are the bytes signed,
/// and the signature verifies over them (here made in-process with a published test key).
#[test]
fn decision_prints_the_statement_an_approver_signs() {
    let (dir, _) = store_file();
    let store = dir.path().join("demo.db");
    assert!(
        lockbox(path_text(&store), &["demo"])
            .output()
            .unwrap()
            .status
            .success()
    );
    let key_file = dir.path().join("demo.key");
    let pending = "019ab5c0-0000-7000-8000-000000000002";
    let args = [
        "decision",
        "--request",
        pending,
        "--grant",
        "--approver",
        "megan@contoso.com",
        "--signer-key",
        path_text(&key_file),
    ];
    let statement = ok(path_text(&store), &args);
    assert!(
        statement.contains("Decision:          GRANT access"),
        "{statement}"
    );
    assert!(
        statement.contains(&format!("Request ID:        {pending}")),
        "{statement}"
    );
    assert!(
        statement.contains("lockbox[.]demo[.]example[/]8b5a0c4e"),
        "{statement}"
    );
    assert_eq!(
        statement,
        ok(path_text(&store), &args),
        "the same statement each time"
    );
    let armor = common::signing::signed_by_megan(statement.as_bytes());
    let public = common::signing::megans_key();
    let signature = DecisionSignature::parse(&armor).unwrap();
    assert_eq!(
        signature.verify(statement.as_bytes(), std::slice::from_ref(&public)),
        Ok(0)
    );
    // Nothing to revoke on a pending request, said by name.
    let mut revoke = args;
    revoke[3] = "--revoke";
    let (code, _, err) = run(path_text(&store), &revoke);
    assert_ne!(code, 0);
    assert!(err.contains("pending_customer"), "{err}");
}

/// A tenant's administrator gives its policy keys through `policy set`: `--statement` prints
/// what she signs (and changes nothing), the change without her signature is refused by name,
/// with it the change is made and shown signed; `decision` then prints the grant statement of
/// the keyed policy's approver, and `verify-offline --pin` holds the log to her key's
/// fingerprint and refuses another.
#[test]
fn a_keyed_policy_is_set_with_its_administrators_signature_and_pinned_offline() {
    let (dir, _) = store_file();
    let store = dir.path().join("demo.db");
    let store = path_text(&store).to_owned();
    ok(&store, &["demo"]);
    let signer_key = dir.path().join("demo.key");
    let megan_pub = dir.path().join("megan.pub");
    let adele_pub = dir.path().join("adele.pub");
    std::fs::write(&megan_pub, signing::megans_key().to_line()).unwrap();
    let adele = signing::adeles_key();
    std::fs::write(&adele_pub, adele.public().to_line()).unwrap();
    let megan_key = format!("megan@contoso.com={}", path_text(&megan_pub));
    let adele_key = format!("adele@contoso.com={}", path_text(&adele_pub));
    let change = [
        "policy",
        "set",
        &tenant(),
        "--admin",
        "adele@contoso.com",
        "--approver",
        "megan@contoso.com=megan@contoso.com",
        "--key",
        &megan_key,
        "--key",
        &adele_key,
        "--signer-key",
        path_text(&signer_key),
    ];
    fn with<'a>(change: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        [change, extra].concat()
    }
    let statement = ok(&store, &with(&change, &["--statement"]));
    assert!(
        statement.contains("Administrator:     adele[at]contoso[.]com"),
        "{statement}"
    );
    assert!(
        statement.contains(&adele.public().fingerprint()),
        "{statement}"
    );
    let (code, _, err) = run(&store, &change);
    assert_ne!(code, 0, "an unsigned keyed policy was set");
    assert!(err.contains("is unsigned"), "{err}");
    let signature = dir.path().join("change.sig");
    std::fs::write(&signature, adele.sign(statement.as_bytes())).unwrap();
    let set = ok(
        &store,
        &with(&change, &["--signature", path_text(&signature)]),
    );
    assert!(set.contains("signed by its administrator"), "{set}");
    let shown = ok(&store, &["policy", "show", &tenant()]);
    assert!(shown.contains(&adele.public().fingerprint()), "{shown}");
    assert!(
        shown.contains(&signing::megans_key().fingerprint()),
        "{shown}"
    );
    // The same signature does not make another change.
    let (code, _, err) = run(
        &store,
        &with(
            &change,
            &["--signature", path_text(&signature), "--max-access", "2h"],
        ),
    );
    assert_ne!(code, 0, "a signature made another change");
    assert!(err.contains("does not hold"), "{err}");
    // The demo's pending request, now under the keyed policy: a grant signed by another key is
    // refused (exit 3) and kept on record; Megan's own signature grants it.
    let pending = "019ab5c0-0000-7000-8000-000000000002";
    let decision = [
        "decision",
        "--request",
        pending,
        "--grant",
        "--approver",
        "megan@contoso.com",
        "--signer-key",
        path_text(&signer_key),
    ];
    let statement = ok(&store, &decision);
    let forged = dir.path().join("forged.sig");
    std::fs::write(&forged, signing::insiders_key().sign(statement.as_bytes())).unwrap();
    let (code, _, err) = run(
        &store,
        &with(&decision, &["--signature", path_text(&forged)]),
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("not the person's"), "{err}");
    let signed = dir.path().join("statement.sig");
    std::fs::write(&signed, signing::signed_by_megan(statement.as_bytes())).unwrap();
    let granted = ok(
        &store,
        &with(&decision, &["--signature", path_text(&signed)]),
    );
    assert!(granted.contains("is granted"), "{granted}");
    assert!(
        granted.contains(&format!(
            "(signed by {})",
            signing::megans_key().fingerprint()
        )),
        "{granted}"
    );
    // Offline: pinned to Adele's key, the log holds; pinned to another, it is refused.
    let export = dir.path().join("contoso.jsonl");
    ok(
        &store,
        &[
            "export-log",
            "--tenant",
            &tenant(),
            "-o",
            path_text(&export),
        ],
    );
    let note = runtime().block_on(async {
        let opened = SqliteStore::open_read_only(&store).await.unwrap();
        opened.set_checkpoint_signer(
            SignerKey::parse(std::fs::read_to_string(&signer_key).unwrap().trim()).unwrap(),
        );
        opened
            .checkpoints(contoso())
            .await
            .unwrap()
            .last()
            .unwrap()
            .note()
            .to_owned()
    });
    let held = dir.path().join("checkpoint.txt");
    std::fs::write(&held, note).unwrap();
    let offline = |pin: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_lockbox"))
            .env_remove("LOCKBOX_STORE")
            .args(["verify-offline", "--export", path_text(&export), "--key"])
            .arg(dir.path().join("demo.vkey"))
            .arg("--held")
            .arg(&held)
            .args(["--pin", pin])
            .output()
            .unwrap();
        (
            output.status.code().unwrap(),
            String::from_utf8(output.stdout).unwrap() + &String::from_utf8(output.stderr).unwrap(),
        )
    };
    let (code, out) = offline(&adele.public().fingerprint());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("every root of trust lists a pinned key"),
        "{out}"
    );
    let (code, out) = offline(&signing::insiders_key().public().fingerprint());
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("forged") && out.contains("pinned"), "{out}");
}
