//! The stored columns, defined once: every insert, select and chain link of either backend is
//! built from these lists, so a column's name, position, text form and place in the hash input
//! are written in one place.
//!
//! An audit row is a record's canonical JSON (`record`) and the columns searches use, each
//! derived from the record and checked against it on every read, plus the tenant's hash chain
//! (`chain_position`, `previous_hash`, `hash`). A request row summarizes its trail for the
//! sweeper and for list pages; it too is checked against the trail on every load.

use chrono::{DateTime, SecondsFormat, Utc};

use super::StoreError;
use crate::audit::{AuditRecord, ChainHash};
use crate::policy::{PolicyChange, PolicyHistory};
use crate::record::{BrokenRule, RecordError};
use crate::request::{AnyRequest, Request, with_request};
use crate::state::{State, StateKind};
use crate::tlog::TreeHash;
use crate::values::{RequestId, TenantId};

/// The audit table's columns, in table order. Both schemas declare them in this order, and
/// every statement that names them joins this list.
pub(crate) const AUDIT_COLUMNS: [&str; 11] = [
    "tenant",
    "chain_position",
    "request_id",
    "sequence",
    "at",
    "actor_role",
    "actor_id",
    "kind",
    "record",
    "previous_hash",
    "hash",
];

/// Where each column stands in [`AUDIT_COLUMNS`], for rows read in that order.
pub(crate) mod audit_at {
    pub(crate) const TENANT: usize = 0;
    pub(crate) const CHAIN_POSITION: usize = 1;
    pub(crate) const REQUEST_ID: usize = 2;
    pub(crate) const SEQUENCE: usize = 3;
    pub(crate) const AT: usize = 4;
    pub(crate) const ACTOR_ROLE: usize = 5;
    pub(crate) const ACTOR_ID: usize = 6;
    pub(crate) const KIND: usize = 7;
    pub(crate) const RECORD: usize = 8;
    pub(crate) const PREVIOUS_HASH: usize = 9;
    pub(crate) const HASH: usize = 10;
}

/// The request table's columns, in table order.
pub(crate) const REQUEST_COLUMNS: [&str; 10] = [
    "id",
    "tenant",
    "state",
    "revision",
    "due_at",
    "record_version",
    "service_request",
    "services",
    "engineer",
    "drafted_at",
];

/// `columns` joined for a statement: `a, b, c`.
pub(crate) fn list(columns: &[&str]) -> String {
    columns.join(", ")
}

/// An instant as stored in indexed text columns: RFC 3339 in UTC with nine fractional digits,
/// so that text order is time order for the years 1970 to 9999 the workflow accepts.
pub(crate) fn instant_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// A UUID in its stored text form (lowercase, hyphenated).
pub(crate) fn uuid_text(uuid: uuid::Uuid) -> String {
    uuid.hyphenated().to_string()
}

/// One value bound to a statement, for either driver.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Text(String),
    Int(i64),
    Bytes(Vec<u8>),
    Null,
}

impl Value {
    pub(crate) fn int(value: u64) -> Value {
        Value::Int(i64::try_from(value).unwrap_or(i64::MAX))
    }
}

/// An audit row, as written and as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    pub(crate) tenant: String,
    pub(crate) chain_position: u64,
    pub(crate) request_id: String,
    pub(crate) sequence: u64,
    pub(crate) at: String,
    pub(crate) actor_role: String,
    pub(crate) actor_id: String,
    pub(crate) kind: String,
    pub(crate) record: String,
    pub(crate) previous_hash: Vec<u8>,
    pub(crate) hash: Vec<u8>,
}

impl AuditRow {
    /// The row of `record`, not yet linked into its tenant's chain.
    pub(crate) fn of(record: &AuditRecord) -> Result<AuditRow, serde_json::Error> {
        Ok(AuditRow {
            tenant: uuid_text(record.tenant().as_uuid()),
            chain_position: 0,
            request_id: uuid_text(record.request().as_uuid()),
            sequence: record.sequence(),
            at: instant_text(record.at()),
            actor_role: record.actor().role().to_owned(),
            actor_id: record.actor().id().to_owned(),
            kind: record.event().kind().as_str().to_owned(),
            record: serde_json::to_string(record)?,
            previous_hash: Vec::new(),
            hash: Vec::new(),
        })
    }

    /// The row's record and derived columns.
    pub(crate) fn columns(&self) -> AuditColumns<'_> {
        AuditColumns {
            tenant: &self.tenant,
            request_id: &self.request_id,
            sequence: self.sequence,
            at: &self.at,
            actor_role: &self.actor_role,
            actor_id: &self.actor_id,
            kind: &self.kind,
            record: &self.record,
        }
    }

    /// The row's leaf in its tenant's tree, once linked.
    pub(crate) fn leaf_hash(&self) -> TreeHash {
        TreeHash::leaf(&self.hash)
    }

    /// Links the row into its tenant's chain at `position`, after `previous`; returns its hash.
    pub(crate) fn link(&mut self, previous: ChainHash, position: u64) -> ChainHash {
        let hash = self.columns().link(&previous, position);
        self.chain_position = position;
        self.previous_hash = previous.as_bytes().to_vec();
        self.hash = hash.as_bytes().to_vec();
        hash
    }

    /// The values, in [`AUDIT_COLUMNS`] order.
    pub(crate) fn values(&self) -> [Value; 11] {
        [
            Value::Text(self.tenant.clone()),
            Value::int(self.chain_position),
            Value::Text(self.request_id.clone()),
            Value::int(self.sequence),
            Value::Text(self.at.clone()),
            Value::Text(self.actor_role.clone()),
            Value::Text(self.actor_id.clone()),
            Value::Text(self.kind.clone()),
            Value::Text(self.record.clone()),
            Value::Bytes(self.previous_hash.clone()),
            Value::Bytes(self.hash.clone()),
        ]
    }
}

/// An audit row's record and the columns derived from it, borrowed from wherever the driver
/// holds them: backends decode rows as they read them, without copying a column. The columns
/// a link hashes are the log's [`Entry`](crate::evidence::entry::Entry).
pub(crate) type AuditColumns<'a> = crate::evidence::entry::Entry<'a>;

impl AuditColumns<'_> {
    /// The leaf these columns make at `position` after `previous` (the stored bytes: a
    /// previous hash that is not 32 bytes links nothing, and makes the leaf of no link) in the
    /// tenant's Merkle tree.
    pub(crate) fn leaf_hash(&self, previous: &[u8], position: u64) -> TreeHash {
        match ChainHash::from_slice(previous) {
            Some(previous) => crate::evidence::entry::leaf_hash(&self.link(&previous, position)),
            None => TreeHash::leaf(previous),
        }
    }

    /// The entry these columns make at `position`, linked by `previous_hash` and `hash`: what
    /// an export writes.
    pub(crate) fn entry(
        &self,
        position: u64,
        previous_hash: ChainHash,
        hash: ChainHash,
    ) -> crate::evidence::LogEntry {
        crate::evidence::LogEntry::new(position, *self, previous_hash, hash)
    }

    /// Checks that the row's stored `hash` links these columns at `position` after
    /// `previous_hash`, as the write did: an edited record (or column) whose hash was left
    /// alone is refused on load, without walking the chain. An editor who recomputes the hash
    /// breaks the next link instead, which [`verify_chain`](crate::store::Store::verify_chain)
    /// reports.
    pub(crate) fn check_link(
        &self,
        position: u64,
        previous_hash: &[u8],
        hash: &[u8],
    ) -> Result<(), RecordError> {
        let linked =
            ChainHash::from_slice(previous_hash).map(|previous| self.link(&previous, position));
        match linked {
            Some(linked) if linked.as_bytes().as_slice() == hash => Ok(()),
            _ => Err(RecordError::new(
                RequestId::parse(self.request_id).ok(),
                Some(self.sequence),
                BrokenRule::LinkDisagrees,
            )),
        }
    }

    /// Whether this row is a notification written in record format 1, which had no
    /// `approvals_required` (format 2 always writes it). Such a request was notified by a store
    /// that kept no policies, so its decisions are checked by replay alone
    /// ([`RequestRecord::load_under`](crate::record::RequestRecord::load_under)); the bytes that
    /// say so are the ones the tenant's hash chain and signed checkpoints cover.
    pub(crate) fn is_format_1_notification(&self) -> bool {
        self.kind == "approvers_notified"
            && serde_json::from_str::<serde_json::Value>(self.record).is_ok_and(|record| {
                record
                    .pointer("/event/details/approvals_required")
                    .is_none()
            })
    }

    /// The record, if its JSON decodes and every column agrees with it.
    pub(crate) fn decode(&self) -> Result<AuditRecord, RecordError> {
        let refuse = |rule| {
            RecordError::new(
                RequestId::parse(self.request_id).ok(),
                Some(self.sequence),
                rule,
            )
        };
        let record: AuditRecord = serde_json::from_str(self.record).map_err(|err| {
            refuse(BrokenRule::Malformed {
                reason: err.to_string(),
            })
        })?;
        let disagrees = [
            (
                "request_id",
                uuid_text(record.request().as_uuid()) == self.request_id,
            ),
            ("sequence", record.sequence() == self.sequence),
            (
                "tenant",
                uuid_text(record.tenant().as_uuid()) == self.tenant,
            ),
            ("at", instant_text(record.at()) == self.at),
            ("actor_role", record.actor().role() == self.actor_role),
            ("actor_id", record.actor().id() == self.actor_id),
            ("kind", record.event().kind().as_str() == self.kind),
        ]
        .into_iter()
        .find(|(_, agrees)| !agrees);
        match disagrees {
            Some((column, _)) => Err(refuse(BrokenRule::StoredColumnDisagrees { column })),
            None => Ok(record),
        }
    }
}

/// The policy-change table's columns, in table order.
pub(crate) const POLICY_COLUMNS: [&str; 8] = [
    "tenant",
    "version",
    "at",
    "changed_by",
    "record",
    "chain_position",
    "previous_hash",
    "hash",
];

/// How a policy change stands in the tenant's hash chain, in an audit row's shape: no request,
/// its version as the sequence, the tenant administrator as the actor, this kind.
pub(crate) mod policy_link {
    /// The request id column of a policy change: none.
    pub(crate) const REQUEST_ID: &str = "";
    /// Its actor role.
    pub(crate) const ACTOR_ROLE: &str = "tenant_admin";
    /// Its kind.
    pub(crate) const KIND: &str = crate::evidence::POLICY_CHANGED;
    /// The kind of a change refused for its signature.
    pub(crate) const KIND_REFUSED: &str = crate::evidence::POLICY_CHANGE_REFUSED;
}

/// A row of a tenant's policy history: the change's canonical JSON (`record`) and the columns
/// derived from it, checked against it on every read, and its link in the tenant's chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRow {
    pub(crate) tenant: String,
    pub(crate) version: u64,
    pub(crate) at: String,
    pub(crate) changed_by: String,
    pub(crate) record: String,
    pub(crate) chain_position: u64,
    pub(crate) previous_hash: Vec<u8>,
    pub(crate) hash: Vec<u8>,
    /// Whether it is a change refused for its signature (a row of `policy_refusals`, its
    /// record a [`PolicyRefusal`](crate::PolicyRefusal)).
    pub(crate) refused: bool,
}

impl PolicyRow {
    /// The row of `change`, not yet linked into its tenant's chain.
    pub(crate) fn of(change: &PolicyChange) -> Result<PolicyRow, serde_json::Error> {
        Ok(PolicyRow {
            tenant: uuid_text(change.tenant().as_uuid()),
            version: u64::from(change.version()),
            at: instant_text(change.at()),
            changed_by: change.changed_by().as_str().to_owned(),
            record: serde_json::to_string(change)?,
            chain_position: 0,
            previous_hash: Vec::new(),
            hash: Vec::new(),
            refused: false,
        })
    }

    /// The row of `refusal`, not yet linked into its tenant's chain.
    pub(crate) fn refusal(
        refusal: &crate::policy::PolicyRefusal,
    ) -> Result<PolicyRow, serde_json::Error> {
        Ok(PolicyRow {
            tenant: uuid_text(refusal.tenant().as_uuid()),
            version: u64::from(refusal.version()),
            at: instant_text(refusal.at()),
            changed_by: refusal.attempted_by().as_str().to_owned(),
            record: serde_json::to_string(refusal)?,
            chain_position: 0,
            previous_hash: Vec::new(),
            hash: Vec::new(),
            refused: true,
        })
    }

    /// The table it is a row of.
    pub(crate) fn table(&self) -> &'static str {
        if self.refused {
            "policy_refusals"
        } else {
            "policy_changes"
        }
    }

    /// The row in the chain's audit-row shape (see [`policy_link`]).
    pub(crate) fn chain_columns(&self) -> AuditColumns<'_> {
        AuditColumns {
            tenant: &self.tenant,
            request_id: policy_link::REQUEST_ID,
            sequence: self.version,
            at: &self.at,
            actor_role: policy_link::ACTOR_ROLE,
            actor_id: &self.changed_by,
            kind: if self.refused {
                policy_link::KIND_REFUSED
            } else {
                policy_link::KIND
            },
            record: &self.record,
        }
    }

    /// The row's leaf in its tenant's tree, once linked.
    pub(crate) fn leaf_hash(&self) -> TreeHash {
        TreeHash::leaf(&self.hash)
    }

    /// Links the row into its tenant's chain at `position`, after `previous`; returns its hash.
    pub(crate) fn link(&mut self, previous: ChainHash, position: u64) -> ChainHash {
        let hash = self.chain_columns().link(&previous, position);
        self.chain_position = position;
        self.previous_hash = previous.as_bytes().to_vec();
        self.hash = hash.as_bytes().to_vec();
        hash
    }

    /// The values, in [`POLICY_COLUMNS`] order.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn values(&self) -> [Value; 8] {
        [
            Value::Text(self.tenant.clone()),
            Value::int(self.version),
            Value::Text(self.at.clone()),
            Value::Text(self.changed_by.clone()),
            Value::Text(self.record.clone()),
            Value::int(self.chain_position),
            Value::Bytes(self.previous_hash.clone()),
            Value::Bytes(self.hash.clone()),
        ]
    }

    /// The refusal, if its JSON decodes and every column agrees with it.
    pub(crate) fn decode_refusal(
        &self,
        tenant: TenantId,
    ) -> Result<crate::policy::PolicyRefusal, StoreError> {
        let broken = || {
            StoreError::InvalidPolicy(
                crate::error::ErrorKind::BrokenPolicyHistory {
                    tenant,
                    version: u32::try_from(self.version).unwrap_or(u32::MAX),
                }
                .into(),
            )
        };
        let refusal: crate::policy::PolicyRefusal =
            serde_json::from_str(&self.record).map_err(|_| broken())?;
        let derived = PolicyRow::refusal(&refusal).map_err(|_| broken())?;
        if !self.agrees(&derived) || refusal.tenant() != tenant {
            return Err(broken());
        }
        Ok(refusal)
    }

    /// Whether its columns are `derived`'s (the row its record makes) and its stored link the
    /// hash of its columns.
    fn agrees(&self, derived: &PolicyRow) -> bool {
        let linked = ChainHash::from_slice(&self.previous_hash)
            .map(|previous| self.chain_columns().link(&previous, self.chain_position))
            .is_some_and(|hash| hash.as_bytes().as_slice() == self.hash.as_slice());
        derived.tenant == self.tenant
            && derived.version == self.version
            && derived.at == self.at
            && derived.changed_by == self.changed_by
            && derived.record == self.record
            && linked
    }

    /// The change, if its JSON decodes and every column agrees with it.
    pub(crate) fn decode(&self, tenant: TenantId) -> Result<PolicyChange, StoreError> {
        let broken = || {
            StoreError::InvalidPolicy(
                crate::error::ErrorKind::BrokenPolicyHistory {
                    tenant,
                    version: u32::try_from(self.version).unwrap_or(u32::MAX),
                }
                .into(),
            )
        };
        let change: PolicyChange = serde_json::from_str(&self.record).map_err(|_| broken())?;
        let derived = PolicyRow::of(&change).map_err(|_| broken())?;
        if !self.agrees(&derived) {
            return Err(broken());
        }
        Ok(change)
    }
}

/// Assembles a tenant's history from its rows, oldest first, each decoded and checked (a
/// refused change's row too, though it changed nothing).
pub(crate) fn policy_history(
    tenant: TenantId,
    rows: &[PolicyRow],
) -> Result<PolicyHistory, StoreError> {
    let mut changes = Vec::with_capacity(rows.len());
    for row in rows {
        if row.refused {
            row.decode_refusal(tenant)?;
        } else {
            changes.push(row.decode(tenant)?);
        }
    }
    PolicyHistory::from_changes(tenant, changes).map_err(StoreError::InvalidPolicy)
}

/// A request row, as written and as read back: the request's state and revision, the instant
/// time alone moves it on, and the summary a list page shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRow {
    pub(crate) id: String,
    pub(crate) tenant: String,
    pub(crate) state: String,
    pub(crate) revision: u64,
    pub(crate) due_at: Option<String>,
    pub(crate) record_version: u32,
    pub(crate) service_request: String,
    pub(crate) services: String,
    pub(crate) engineer: String,
    pub(crate) drafted_at: String,
}

impl RequestRow {
    /// The row `request` leaves.
    pub(crate) fn of<S: State>(r: &Request<S>) -> RequestRow {
        RequestRow {
            id: uuid_text(r.id().as_uuid()),
            tenant: uuid_text(r.tenant().as_uuid()),
            state: S::KIND.as_str().to_owned(),
            revision: r.audit_trail().len() as u64,
            due_at: r.due_at().map(instant_text),
            record_version: crate::record::RECORD_VERSION,
            service_request: r.service_request().as_str().to_owned(),
            services: services_text(r.services()),
            engineer: r.engineer().as_str().to_owned(),
            drafted_at: instant_text(r.drafted_at()),
        }
    }

    /// The values, in [`REQUEST_COLUMNS`] order.
    pub(crate) fn values(&self) -> [Value; 10] {
        [
            Value::Text(self.id.clone()),
            Value::Text(self.tenant.clone()),
            Value::Text(self.state.clone()),
            Value::int(self.revision),
            self.due_at.clone().map_or(Value::Null, Value::Text),
            Value::Int(i64::from(self.record_version)),
            Value::Text(self.service_request.clone()),
            Value::Text(self.services.clone()),
            Value::Text(self.engineer.clone()),
            Value::Text(self.drafted_at.clone()),
        ]
    }

    /// Refuses the row unless every column agrees with `loaded`, the request its trail replays
    /// to. `record_version` is the format the row was last written in: any this build reads
    /// (a request written by the format-1 build and not stepped since says 1).
    pub(crate) fn check(&self, loaded: &AnyRequest) -> Result<(), RecordError> {
        let mut expected = with_request!(loaded, r => RequestRow::of(r));
        if crate::record::readable(self.record_version) {
            expected.record_version = self.record_version;
        }
        let column = REQUEST_COLUMNS
            .iter()
            .zip(self.values().iter().zip(expected.values().iter()))
            .find(|(_, (stored, derived))| stored != derived)
            .map(|(name, _)| *name);
        match column {
            Some(column) => Err(RecordError::new(
                Some(loaded.id()),
                None,
                BrokenRule::StoredColumnDisagrees {
                    column: stored_column_name(column),
                },
            )),
            None => Ok(()),
        }
    }

    /// The request's id and tenant, parsed.
    pub(crate) fn ids(&self) -> Option<(RequestId, TenantId)> {
        Some((
            RequestId::parse(&self.id).ok()?,
            TenantId::parse(&self.tenant).ok()?,
        ))
    }

    /// The state, parsed.
    pub(crate) fn state_kind(&self) -> Option<StateKind> {
        StateKind::parse(&self.state)
    }
}

/// The names of columns as [`BrokenRule::StoredColumnDisagrees`] reports them (a `'static`
/// name for any column of [`REQUEST_COLUMNS`]).
fn stored_column_name(column: &str) -> &'static str {
    REQUEST_COLUMNS
        .iter()
        .find(|name| **name == column)
        .copied()
        .unwrap_or("requests")
}

/// Services as stored in the `services` column: their stable names, comma-separated.
pub(crate) fn services_text(services: &crate::values::Services) -> String {
    services
        .iter()
        .map(crate::values::Service::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_positions_name_their_columns() {
        use audit_at::*;
        let named = [
            (TENANT, "tenant"),
            (CHAIN_POSITION, "chain_position"),
            (REQUEST_ID, "request_id"),
            (SEQUENCE, "sequence"),
            (AT, "at"),
            (ACTOR_ROLE, "actor_role"),
            (ACTOR_ID, "actor_id"),
            (KIND, "kind"),
            (RECORD, "record"),
            (PREVIOUS_HASH, "previous_hash"),
            (HASH, "hash"),
        ];
        for (position, name) in named {
            assert_eq!(AUDIT_COLUMNS.get(position), Some(&name));
        }
        assert_eq!(named.len(), AUDIT_COLUMNS.len());
    }
}

/// The checkpoint table's columns, in table order.
pub(crate) const CHECKPOINT_COLUMNS: [&str; 5] = ["tenant", "size", "root", "note", "signed_at"];

/// A signed checkpoint as kept: the tenant, the tree's size and root, the signed note as the
/// customer receives it, and when the store signed it. Checked against its note on every read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointRow {
    pub(crate) tenant: String,
    pub(crate) size: u64,
    pub(crate) root: Vec<u8>,
    pub(crate) note: String,
    pub(crate) signed_at: String,
}

impl CheckpointRow {
    /// The values, in [`CHECKPOINT_COLUMNS`] order.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn values(&self) -> [Value; 5] {
        [
            Value::Text(self.tenant.clone()),
            Value::int(self.size),
            Value::Bytes(self.root.clone()),
            Value::Text(self.note.clone()),
            Value::Text(self.signed_at.clone()),
        ]
    }
}
