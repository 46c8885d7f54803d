//! The checkpoints a store keeps, and the rule it signs by: only a tree that extends the last
//! checkpoint kept, whether it signs after a step or inside one (a backend whose signer signs at
//! once, [`StepSigning`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::StoreError;
use super::columns::{CheckpointRow, instant_text, uuid_text};
use crate::evidence::{CheckpointSigner, log_origin};
use crate::tlog::{Checkpoint, NodeId, TreeHash, VerifierKey};
use crate::values::TenantId;

/// A checkpoint the store signed and keeps: the checkpoint, the signed note as the customer
/// receives it, and when it was signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub(super) checkpoint: Checkpoint,
    pub(super) note: String,
    pub(super) signed_at: DateTime<Utc>,
}

/// Serialized as `{"origin", "size", "root" (base64), "note", "signed_at"}`.
impl serde::Serialize for StoredCheckpoint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        use serde::ser::SerializeStruct;
        let mut shown = serializer.serialize_struct("StoredCheckpoint", 5)?;
        shown.serialize_field("origin", self.checkpoint.origin())?;
        shown.serialize_field("size", &self.checkpoint.size())?;
        shown.serialize_field(
            "root",
            &base64::engine::general_purpose::STANDARD.encode(self.checkpoint.root().as_bytes()),
        )?;
        shown.serialize_field("note", &self.note)?;
        shown.serialize_field("signed_at", &instant_text(self.signed_at))?;
        shown.end()
    }
}

impl StoredCheckpoint {
    /// The checkpoint: origin, size, root.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The signed note, verbatim: what messages carry and customers keep.
    pub fn note(&self) -> &str {
        &self.note
    }

    /// When the store signed it.
    pub fn signed_at(&self) -> DateTime<Utc> {
        self.signed_at
    }

    /// A kept row, if its note's checkpoint is the row's size and root (the signature is
    /// checked by verification, against the key the reader trusts).
    pub(super) fn read(row: CheckpointRow) -> Result<StoredCheckpoint, StoreError> {
        let broken = |reason: &str| StoreError::LogBroken {
            tenant: row.tenant.clone(),
            reason: format!("its checkpoint of {} entries {reason}", row.size),
        };
        let body = row
            .note
            .split_once("\n\n")
            .map(|(text, _)| format!("{text}\n"))
            .ok_or_else(|| broken("is not a signed note"))?;
        let checkpoint = Checkpoint::parse(&body).map_err(|_| broken("is not a checkpoint"))?;
        if checkpoint.size() != row.size || checkpoint.root().as_bytes().as_slice() != row.root {
            return Err(broken("signs another size or root than its row holds"));
        }
        let signed_at = DateTime::parse_from_rfc3339(&row.signed_at)
            .map_err(|_| broken("has no signing instant"))?
            .with_timezone(&Utc);
        Ok(StoredCheckpoint {
            checkpoint,
            note: row.note,
            signed_at,
        })
    }
}

/// What a backend needs to sign a tenant's checkpoint inside a step's transaction, with a
/// signer that signs at once. (Only SQLite does; PostgreSQL signs after the commit.)
#[derive(Clone)]
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) struct StepSigning {
    pub(crate) signer: Arc<dyn CheckpointSigner>,
    pub(crate) verifier: VerifierKey,
    pub(crate) tenant: TenantId,
    pub(crate) signed_at: String,
    /// The note of the checkpoint this store last kept or checked for the tenant: a kept
    /// latest checkpoint with these very bytes needs no second signature check.
    pub(crate) known: Option<String>,
    /// Whether to check the new signature against the signer's public key: the first one of
    /// each signer given to the store is checked (a signer set up with another key than it
    /// publishes fails there, at once); later ones of the same signer are not.
    pub(crate) check_signature: bool,
}

impl std::fmt::Debug for StepSigning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepSigning")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl StepSigning {
    /// The checkpoint to keep with the step, for the tree of `size` leaves with `root` whose
    /// latest kept checkpoint is `latest`, reading the stored subtrees through `node`. `None`
    /// whenever anything is not as it should be (a kept checkpoint that does not open, a tree
    /// that does not extend it, a signer that cannot sign at once or signs wrongly): the store
    /// then signs after the commit, where the same checks fail by name.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn checkpoint(
        &self,
        size: u64,
        root: TreeHash,
        latest: Option<CheckpointRow>,
        mut node: impl FnMut(NodeId) -> Option<TreeHash>,
    ) -> Option<CheckpointRow> {
        // A signer that must be awaited says so at once; nothing signed here leaves this
        // function unless every check below passes.
        let checkpoint =
            Checkpoint::new(&log_origin(self.verifier.name(), self.tenant), size, root).ok()?;
        let text = checkpoint.to_text();
        let signature = self.signer.sign_at_once(text.as_bytes())?.ok()?;
        if let Some(row) = latest {
            if self.known.as_deref() != Some(row.note.as_str()) {
                crate::tlog::open_note(&row.note, std::slice::from_ref(&self.verifier)).ok()?;
            }
            let kept = StoredCheckpoint::read(row).ok()?;
            match extension(kept.checkpoint(), size, &root, &mut node) {
                Ok(Extension::Extends) => {}
                Ok(Extension::Signed) | Err(_) => return None,
            }
        }
        let signed = crate::tlog::signed_note(&text, &self.verifier, &signature);
        if self.check_signature {
            crate::tlog::open_note(&signed, std::slice::from_ref(&self.verifier)).ok()?;
        }
        Some(CheckpointRow {
            tenant: uuid_text(self.tenant.as_uuid()),
            size,
            root: root.as_bytes().to_vec(),
            note: signed,
            signed_at: self.signed_at.clone(),
        })
    }
}

/// How a tree stands to the last checkpoint kept of its log.
#[derive(Debug)]
pub(crate) enum Extension {
    /// It extends the checkpoint's tree: it may be signed.
    Extends,
    /// It is the checkpoint's tree: it is signed already.
    Signed,
}

/// Why a tree may not be signed.
#[derive(Debug)]
pub(crate) enum Unsignable {
    /// A subtree the consistency proof needs is not stored.
    Missing(NodeId),
    /// The tree does not extend the signed one: the reason.
    Rewritten(String),
}

impl Unsignable {
    /// The error that refuses signing `tenant`'s tree of `size` entries.
    pub(crate) fn error(self, tenant: &str, size: u64) -> StoreError {
        match self {
            Unsignable::Missing(id) => StoreError::missing_node(tenant, size, id),
            Unsignable::Rewritten(reason) => StoreError::LogBroken {
                tenant: tenant.to_owned(),
                reason,
            },
        }
    }
}

/// The rule every signing follows, written once: the store signs only a tree that extends the
/// last one it signed, proved from the stored subtrees (`node`) by a consistency proof checked
/// against the signed root, so a rewritten log is never signed over.
pub(crate) fn extension(
    signed: &Checkpoint,
    size: u64,
    root: &TreeHash,
    mut node: impl FnMut(NodeId) -> Option<TreeHash>,
) -> Result<Extension, Unsignable> {
    if signed.size() > size {
        return Err(Unsignable::Rewritten(format!(
            "it holds {size} entries, fewer than the {} its last checkpoint signs",
            signed.size()
        )));
    }
    if signed.size() == size {
        return if signed.root() == root {
            Ok(Extension::Signed)
        } else {
            Err(Unsignable::Rewritten(format!(
                "its tree of {size} entries is not the one its checkpoint signs"
            )))
        };
    }
    let mut missing = None;
    let proof = crate::tlog::consistency_proof_from(signed.size(), size, |id| {
        let hash = node(id);
        if hash.is_none() {
            missing.get_or_insert(id);
        }
        hash
    })
    .ok_or(Unsignable::Missing(missing.unwrap_or(NodeId {
        level: 0,
        index: size,
    })))?;
    crate::tlog::verify_consistency(signed.size(), size, &proof, signed.root(), root)
        .map(|()| Extension::Extends)
        .map_err(|err| {
            Unsignable::Rewritten(format!(
                "its tree of {size} entries does not extend the checkpoint of {} entries signed before ({err})",
                signed.size()
            ))
        })
}
