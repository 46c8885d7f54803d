//! `lockbox policy show`, `history` and `set`.

use std::process::ExitCode;

use customer_lockbox::{
    AccessDuration, Clock, DecisionWindow, DesignatedApprover, PolicyChange, SystemClock, TenantId,
    TenantPolicy,
};
use customer_lockbox::{Backend, Store};
use serde_json::{Value, json};

use crate::cli::{PolicyCommand, PolicySetArgs};
use crate::failure::{Code, Failure};
use crate::print::{Output, instant, rfc3339};

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

fn policy_json(policy: &TenantPolicy) -> Value {
    json!({
        "tenant": policy.tenant().to_string(),
        "approvers": policy.approvers().iter().map(|a| json!({
            "id": a.id().to_string(),
            "email": a.email().to_string(),
        })).collect::<Vec<_>>(),
        "approvals_required": policy.approvals_required(),
        "decision_window_minutes": policy.decision_window().minutes(),
        "max_access_minutes": policy.max_access_duration().minutes(),
    })
}

fn change_json(change: &PolicyChange) -> Value {
    json!({
        "version": change.version(),
        "at": rfc3339(change.at()),
        "changed_by": change.changed_by().to_string(),
        "policy": policy_json(change.after()),
    })
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
        out.json_value(&change_json(change));
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
        out.json_value(&json!({
            "tenant": tenant.to_string(),
            "changes": history.changes().iter().map(change_json).collect::<Vec<_>>(),
        }));
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
        out.json_value(&change_json(&change));
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
