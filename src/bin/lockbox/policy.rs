//! `lockbox policy show`, `history` and `set`.

use std::process::ExitCode;

use customer_lockbox::{
    AccessDuration, Clock, CustomerKey, DecisionWindow, DesignatedApprover, PolicyChange,
    SystemClock, TenantAdminId, TenantAdministrator, TenantId, TenantPolicy,
};
use customer_lockbox::{Backend, Store};
use serde::Serialize;

use crate::cli::{PolicyCommand, PolicySetArgs};
use crate::failure::{Code, Failure};
use crate::print::{Output, instant};

/// Runs a policy command.
pub async fn run<B: Backend>(
    store: &Store<B>,
    command: PolicyCommand,
    out: &Output,
) -> Result<ExitCode, Failure> {
    match command {
        PolicyCommand::Show { tenant } => show(store, tenant, out).await,
        PolicyCommand::History { tenant } => history(store, tenant, out).await,
        PolicyCommand::Set(args) => set(store, args, out).await,
    }
}

fn no_policy(tenant: TenantId) -> Failure {
    Failure::new(
        Code::NotFound,
        format!(
            "tenant {tenant} has no policy in this store: check the tenant id, or set one with `lockbox policy set`"
        ),
    )
}

fn approvers(policy: &TenantPolicy) -> String {
    policy
        .approvers()
        .iter()
        .map(|a| format!("{} <{}>", a.id(), a.email()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The keys a policy lists, by whom: none for a policy that requires no signatures.
fn keys(policy: &TenantPolicy) -> String {
    let approvers = policy
        .approvers()
        .iter()
        .map(|a| (a.id().as_str(), a.keys()));
    let admins = policy
        .administrators()
        .iter()
        .map(|a| (a.id().as_str(), a.keys()));
    let listed: Vec<String> = approvers
        .chain(admins)
        .flat_map(|(who, keys)| {
            keys.iter()
                .map(move |key| format!("{who} {}", key.fingerprint()))
        })
        .collect();
    if listed.is_empty() {
        "none (grants and changes are not signed)".to_owned()
    } else {
        listed.join(", ")
    }
}

/// Who signed a change: the key's fingerprint, or `unsigned`.
fn signed_by(change: &PolicyChange) -> String {
    change
        .signature()
        .and_then(|signed| customer_lockbox::DecisionSignature::parse(signed.armor()).ok())
        .map_or_else(|| "unsigned".to_owned(), |s| s.signer_fingerprint())
}

/// A tenant's policy history, as `policy history --json` prints it: each change in the
/// library's form (its version, instant, administrator, and the policy before and after).
#[derive(Serialize)]
struct History<'a> {
    tenant: TenantId,
    changes: &'a [PolicyChange],
}

async fn show<B: Backend>(
    store: &Store<B>,
    tenant: TenantId,
    out: &Output,
) -> Result<ExitCode, Failure> {
    let history = store.policy_history(tenant).await?;
    let change = history.changes().last().ok_or_else(|| no_policy(tenant))?;
    let policy = change.after();
    if out.json() {
        out.json_of(change);
    } else {
        out.fields(&[
            ("Tenant", tenant.to_string()),
            (
                "Version",
                format!(
                    "{} (since {}, by {})",
                    change.version(),
                    instant(change.at()),
                    change.changed_by()
                ),
            ),
            ("Approvers", approvers(policy)),
            ("Approvals needed", policy.approvals_required().to_string()),
            ("Decision window", policy.decision_window().to_string()),
            ("Longest access", policy.max_access_duration().to_string()),
            ("Keys", keys(policy)),
            ("Signed", signed_by(change)),
        ]);
    }
    Ok(ExitCode::SUCCESS)
}

async fn history<B: Backend>(
    store: &Store<B>,
    tenant: TenantId,
    out: &Output,
) -> Result<ExitCode, Failure> {
    let history = store.policy_history(tenant).await?;
    if history.changes().is_empty() {
        return Err(no_policy(tenant));
    }
    if out.json() {
        out.json_of(&History {
            tenant,
            changes: history.changes(),
        });
    } else {
        out.table(
            &[
                "VERSION",
                "AT",
                "CHANGED BY",
                "APPROVERS",
                "NEEDED",
                "WINDOW",
                "LONGEST ACCESS",
                "SIGNED BY",
            ],
            history.changes().iter().map(|change| {
                let policy = change.after();
                [
                    change.version().to_string(),
                    instant(change.at()),
                    change.changed_by().to_string(),
                    approvers(policy),
                    policy.approvals_required().to_string(),
                    policy.decision_window().to_string(),
                    policy.max_access_duration().to_string(),
                    signed_by(change),
                ]
            }),
            "no changes",
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn set<B: Backend>(
    store: &Store<B>,
    args: PolicySetArgs,
    out: &Output,
) -> Result<ExitCode, Failure> {
    let mut keys: Vec<(String, CustomerKey)> = Vec::new();
    for (id, file) in &args.keys {
        let line = std::fs::read_to_string(file)
            .map_err(|err| Failure::io(&format!("reading the key {}", file.display()), err))?;
        let key = CustomerKey::parse(&line)
            .map_err(|err| Failure::usage(format!("{}: {err}", file.display())))?;
        keys.push((id.clone(), key));
    }
    let keys_of = |id: &str| -> Vec<CustomerKey> {
        keys.iter()
            .filter(|(holder, _)| holder == id)
            .map(|(_, key)| key.clone())
            .collect()
    };
    let approvers: Vec<DesignatedApprover> = args
        .approvers
        .into_iter()
        .map(|(id, email)| {
            let keys = keys_of(id.as_str());
            DesignatedApprover::new(id, email).with_keys(keys)
        })
        .collect();
    let mut administrators: Vec<TenantAdministrator> = Vec::new();
    for (id, _) in &keys {
        let is_approver = approvers.iter().any(|a| a.id().as_str() == id);
        if !is_approver && !administrators.iter().any(|a| a.id().as_str() == id) {
            let admin = TenantAdminId::new(id.as_str()).map_err(Failure::usage)?;
            administrators.push(TenantAdministrator::new(admin, keys_of(id)));
        }
    }
    let mut policy = TenantPolicy::new(args.tenant, approvers)
        .and_then(|policy| policy.with_approvals_required(args.approvals))
        .map_err(Failure::usage)?
        .with_decision_window(DecisionWindow::new(args.decision_window).map_err(Failure::usage)?)
        .with_administrators(administrators);
    if let Some(max) = args.max_access {
        policy = policy.with_max_access_duration(AccessDuration::new(max).map_err(Failure::usage)?);
    }
    let now = args.now.unwrap_or_else(|| SystemClock.now());
    crate::operate::use_signer(store, args.signer_key.as_deref())?;
    if args.statement {
        let statement = store.policy_statement(&args.admin, &policy).await?;
        if out.json() {
            out.json_of(&Stated {
                tenant: args.tenant,
                admin: &args.admin,
                statement: statement.text(),
            });
        } else {
            print!("{}", statement.text());
            eprintln!(
                "save it as change.txt, sign it with `ssh-keygen -Y sign -n customer-lockbox -f ~/.ssh/id_ed25519 change.txt`, then run this command again with --signature change.txt.sig instead of --statement"
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let change = match &args.signature {
        Some(file) => {
            let armor = std::fs::read_to_string(file).map_err(|err| {
                Failure::io(&format!("reading the signature {}", file.display()), err)
            })?;
            store
                .set_policy_signed(&args.admin, policy, &armor, now)
                .await?
        }
        None => store.set_policy(&args.admin, policy, now).await?,
    };
    if out.json() {
        out.json_of(&change);
    } else {
        let signed = if change.signature().is_some() {
            ", signed by its administrator"
        } else {
            ""
        };
        out.line(&format!(
            "tenant {}: policy version {} in force from {}{signed}; its approvers are told by email on the next `lockbox deliver`",
            change.tenant(),
            change.version(),
            instant(change.at())
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// What `policy set --statement --json` prints.
#[derive(Serialize)]
struct Stated<'a> {
    tenant: TenantId,
    admin: &'a TenantAdminId,
    statement: &'a str,
}
