//! The text a tenant administrator signs to change the tenant's policy, and the rule of who
//! must sign a change.

use serde::{Deserialize, Serialize};

use super::{CustomerKey, DecisionSignature, SignatureFault};
use crate::notification::neutralize_links;
use crate::policy::TenantPolicy;
use crate::values::TenantAdminId;

/// The text a tenant administrator signs to make `policy` version `version` of the tenant's
/// policy (`ssh-keygen -Y sign -n customer-lockbox`): every setting, every person and every key
/// of the new version, the version it becomes, the administrator, and the log. A signature over
/// it is worth nothing for another version, tenant, log, administrator or policy.
///
/// Link-free, as the decision statements are: every free-text value has the characters that
/// make a link neutralized, so the bytes shown are the bytes signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyStatement {
    text: String,
}

impl PolicyStatement {
    /// The statement of `admin` making `policy` version `version` in `log`.
    pub fn new(log: &str, version: u32, admin: &TenantAdminId, policy: &TenantPolicy) -> Self {
        use std::fmt::Write as _;
        let mut text = format!(
            "Customer Lockbox policy change, to sign with: ssh-keygen -Y sign -n customer-lockbox\n\
             \n\
             Change:            make this version {version} of the tenant's policy\n\
             By:                {admin} (tenant administrator)\n\
             Tenant ID:         {tenant}\n\
             Log:               {log}\n\
             Approvals needed:  {needed} of the designated approvers\n\
             Decision window:   {window}\n\
             Longest access:    {longest}\n",
            admin = neutralize_links(admin.as_str()),
            tenant = policy.tenant(),
            log = neutralize_links(log),
            needed = policy.approvals_required(),
            window = policy.decision_window(),
            longest = policy.max_access_duration(),
        );
        let keys = |text: &mut String, keys: &[CustomerKey]| {
            for key in keys {
                let _ = writeln!(text, "  key:             {} {}", key.fingerprint(), key);
            }
        };
        for approver in policy.approvers() {
            let _ = writeln!(
                text,
                "Approver:          {} <{}>",
                neutralize_links(approver.id().as_str()),
                neutralize_links(approver.email().as_str()),
            );
            keys(&mut text, approver.keys());
        }
        for admin in policy.administrators() {
            let _ = writeln!(
                text,
                "Administrator:     {}",
                neutralize_links(admin.id().as_str())
            );
            keys(&mut text, admin.keys());
        }
        PolicyStatement { text }
    }

    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The bytes a signature is over.
    pub fn as_bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }
}

/// A tenant administrator's signature over a policy change, as the change keeps it: the log
/// the statement names and the signature as `ssh-keygen -Y sign` wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignedChange {
    log: String,
    signature: String,
}

impl SignedChange {
    /// The signature `armor` over the statement of a change in `log`.
    pub fn new(log: impl Into<String>, armor: &str) -> Self {
        SignedChange {
            log: log.into(),
            signature: armor.trim().to_owned(),
        }
    }

    /// The log the statement names.
    pub fn log(&self) -> &str {
        &self.log
    }

    /// The signature, as armored text.
    pub fn armor(&self) -> &str {
        &self.signature
    }
}

/// Checks that the change making `after` version `version`, by `admin`, after `before`, is
/// signed as the rule requires:
///
/// - when `before` lists keys, by a key `admin` holds in `before` (every later change is
///   signed by an administrator of the version before it, even one that removes the keys);
/// - otherwise, when `after` lists keys, by a key `admin` holds in `after` (a tenant's first
///   keyed version is its root of trust, and proves that its administrator holds the key);
/// - otherwise no signature is required, and one given must still verify by `admin`'s key in
///   `after` (there is none, so it is refused: a signature is never taken unchecked).
///
/// `Err(None)` when a required signature is missing; `Err(Some(fault))` when the given one
/// does not hold.
pub(crate) fn check_change(
    before: Option<&TenantPolicy>,
    version: u32,
    admin: &TenantAdminId,
    after: &TenantPolicy,
    signed: Option<&SignedChange>,
) -> Result<(), Option<SignatureFault>> {
    let signing = match before {
        Some(before) if before.requires_signatures() => before,
        _ => after,
    };
    let Some(signed) = signed else {
        return if signing.requires_signatures() {
            Err(None)
        } else {
            Ok(())
        };
    };
    let keys = signing.admin_keys(admin);
    let statement = PolicyStatement::new(&signed.log, version, admin, after);
    DecisionSignature::parse(&signed.signature)
        .and_then(|signature| signature.verify(statement.as_bytes(), keys))
        .map(|_| ())
        .map_err(|err| Some(err.into()))
}
