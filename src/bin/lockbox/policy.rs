//! `lockbox policy show`, `history` and `set`.

use std::process::ExitCode;

use customer_lockbox::{
    AccessDuration, Clock, DecisionWindow, DesignatedApprover, PolicyChange, SystemClock, TenantId,
    TenantPolicy,
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
    let approvers = args
        .approvers
        .into_iter()
        .map(|(id, email)| DesignatedApprover::new(id, email))
        .collect();
    let mut policy = TenantPolicy::new(args.tenant, approvers)
        .and_then(|policy| policy.with_approvals_required(args.approvals))
        .map_err(Failure::usage)?
        .with_decision_window(DecisionWindow::new(args.decision_window).map_err(Failure::usage)?);
    if let Some(max) = args.max_access {
        policy = policy.with_max_access_duration(AccessDuration::new(max).map_err(Failure::usage)?);
    }
    let now = args.now.unwrap_or_else(|| SystemClock.now());
    crate::operate::use_signer(store, args.signer_key.as_deref())?;
    let change = store.set_policy(&args.admin, policy, now).await?;
    if out.json() {
        out.json_of(&change);
    } else {
        out.line(&format!(
            "tenant {}: policy version {} in force from {}; its approvers are told by email on the next `lockbox deliver`",
            change.tenant(),
            change.version(),
            instant(change.at())
        ));
    }
    Ok(ExitCode::SUCCESS)
}
