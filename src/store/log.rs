//! Each tenant's verifiable log: the Merkle tree over its entries that both backends keep, the
//! checkpoints of it the store has signed, proofs from it, and its verification.

use crate::evidence::{Frontier, NodeId, TreeHash};
use crate::store::StoreError;

/// The edge of `tenant`'s tree of `size` leaves from its subtrees [`Frontier::ids`] names, as
/// stored (`None` for one missing).
pub(crate) fn frontier_of(
    tenant: &str,
    size: u64,
    nodes: impl IntoIterator<Item = Option<Vec<u8>>>,
) -> Result<Frontier, StoreError> {
    let ids = Frontier::ids(size);
    let mut hashes = Vec::with_capacity(ids.len());
    let mut nodes = nodes.into_iter();
    for id in ids {
        let hash = nodes
            .next()
            .flatten()
            .and_then(|bytes| TreeHash::from_slice(&bytes))
            .ok_or_else(|| missing_node(tenant, size, id))?;
        hashes.push(hash);
    }
    Frontier::from_nodes(size, hashes).ok_or_else(|| {
        missing_node(
            tenant,
            size,
            NodeId {
                level: 0,
                index: size,
            },
        )
    })
}

/// The error for a tree that lacks a subtree it must have: the database was edited (or a
/// migration is missing).
pub(crate) fn missing_node(tenant: &str, size: u64, id: NodeId) -> StoreError {
    StoreError::LogBroken {
        tenant: tenant.to_owned(),
        reason: format!(
            "its tree of {size} entries lacks its subtree at level {} index {}",
            id.level, id.index
        ),
    }
}

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use chrono::{DateTime, Utc};

use super::backend::{Backend, Kept};
use super::columns::{CheckpointRow, instant_text, uuid_text};
use super::handle::Store;
use crate::evidence::{
    Checkpoint, CheckpointSigner, ConsistencyProof, LogEntry, LogVerdict, LogVerifier, SignerError,
    TlogProof, VerifierKey, merkle, note,
};
use crate::values::TenantId;

/// A checkpoint the store signed and keeps: the checkpoint, the signed note as the customer
/// receives it, and when it was signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    checkpoint: Checkpoint,
    note: String,
    signed_at: DateTime<Utc>,
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
    fn read(row: CheckpointRow) -> Result<StoredCheckpoint, StoreError> {
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

/// The origin of `tenant`'s log under the log name `name`: `<name>/<tenant id>`.
pub fn log_origin(name: &str, tenant: TenantId) -> String {
    format!("{name}/{tenant}")
}

impl<B: Backend> Store<B> {
    /// Gives the store the signer of its checkpoints (every clone of the store shares it). The
    /// store signs a checkpoint of a tenant's log after each step that sends a message (see
    /// [`sign_checkpoint`](Self::sign_checkpoint)); without a signer it signs none.
    pub fn set_checkpoint_signer(&self, signer: impl CheckpointSigner + 'static) {
        self.inner.signer_checked.store(false, Ordering::Release);
        *self
            .inner
            .signer
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(signer));
    }

    fn signer(&self) -> Option<Arc<dyn CheckpointSigner>> {
        self.inner
            .signer
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Signs a checkpoint of `tenant`'s log as it stands, and keeps it; returns the latest
    /// checkpoint (the one just signed, or the one already kept at this size). `None` for a
    /// tenant with no entries.
    ///
    /// The store signs only a tree that extends the last one it signed: it proves that from the
    /// stored subtrees (a consistency proof, checked against the signed root) before it asks the
    /// signer, so a rewritten log is never signed over.
    ///
    /// # Errors
    ///
    /// [`StoreError::NoSigner`] without a signer, [`StoreError::Signer`] when it fails or signs
    /// with another key, and [`StoreError::LogBroken`] for a tree that lacks a subtree or does
    /// not extend the last checkpoint (nothing is signed).
    pub async fn sign_checkpoint(
        &self,
        tenant: TenantId,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.ready().await?;
        let signer = self.signer().ok_or(StoreError::NoSigner)?;
        let verifier = signer.verifier();
        let stored = uuid_text(tenant.as_uuid());
        let head = self.backend().log_head(tenant).await?;
        let size = head.size;
        if size == 0 {
            return Ok(None);
        }
        let root = frontier_of(&stored, size, head.frontier)?.root();
        let broken = |reason: String| StoreError::LogBroken {
            tenant: stored.clone(),
            reason,
        };
        if let Some(latest) = head.latest.map(StoredCheckpoint::read).transpose()? {
            let signed = latest.checkpoint();
            note::open(latest.note(), std::slice::from_ref(&verifier)).map_err(|err| {
                broken(format!(
                    "its checkpoint of {} entries does not open with the signer's key ({err})",
                    signed.size()
                ))
            })?;
            let ids = merkle::nodes_read(|node| extension(signed, size, &root, node));
            let nodes = self.fetch_nodes(tenant, ids).await?;
            match extension(signed, size, &root, |id| nodes.get(&id).copied()) {
                Ok(Extension::Extends) => {}
                Ok(Extension::Signed) => return Ok(Some(latest)),
                Err(unsignable) => return Err(unsignable.error(&stored, size)),
            }
        }
        let checkpoint = Checkpoint::new(&log_origin(verifier.name(), tenant), size, root)
            .map_err(|err| broken(err.to_string()))?;
        let text = checkpoint.to_text();
        let signature = signer
            .sign(text.as_bytes())
            .await
            .map_err(StoreError::Signer)?;
        let signed = note::signed(&text, &verifier, &signature);
        note::open(&signed, std::slice::from_ref(&verifier)).map_err(|_| {
            StoreError::Signer(SignerError::new(
                "its signature does not verify with its own public key",
            ))
        })?;
        let kept = StoredCheckpoint {
            checkpoint,
            note: signed,
            signed_at: now,
        };
        let added = self
            .backend()
            .add_checkpoint(CheckpointRow {
                tenant: stored,
                size,
                root: root.as_bytes().to_vec(),
                note: kept.note.clone(),
                signed_at: instant_text(kept.signed_at),
            })
            .await?;
        if added {
            self.remember_checkpoint(tenant, kept.note.clone());
            Ok(Some(kept))
        } else {
            // Another node signed this size meanwhile: the kept one is the checkpoint.
            self.latest_checkpoint(tenant).await
        }
    }

    /// What a backend needs to sign `tenant`'s checkpoint inside a step's transaction, when
    /// the store's signer signs at once.
    pub(super) fn step_signing(&self, tenant: TenantId, at: DateTime<Utc>) -> Option<StepSigning> {
        let signer = self.signer()?;
        Some(StepSigning {
            verifier: signer.verifier(),
            signer,
            tenant,
            signed_at: instant_text(at),
            known: self.known_checkpoint(tenant),
            check_signature: !self.inner.signer_checked.load(Ordering::Acquire),
        })
    }

    fn known_checkpoint(&self, tenant: TenantId) -> Option<String> {
        self.inner
            .known_checkpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&tenant)
            .cloned()
    }

    /// Remembers the note of the checkpoint this store kept or checked last for `tenant`: its
    /// signature was checked, so the signer's at-once signatures need no further check.
    pub(super) fn remember_checkpoint(&self, tenant: TenantId, note: String) {
        self.inner.signer_checked.store(true, Ordering::Release);
        let mut known = self
            .inner
            .known_checkpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if known.len() >= 4096 {
            known.clear();
        }
        known.insert(tenant, note);
    }

    /// Signs after a step that sends a message: a failure is logged, not returned, since the
    /// step is committed; the next signing covers it.
    pub(super) async fn sign_after_step(&self, tenant: TenantId, now: DateTime<Utc>) {
        if self.signer().is_none() {
            return;
        }
        if let Err(err) = self.sign_checkpoint(tenant, now).await {
            tracing::warn!(tenant = %tenant, error = %err, "signing a checkpoint failed");
        }
    }

    /// Every checkpoint kept of `tenant`'s log, in size order.
    ///
    /// # Errors
    ///
    /// [`StoreError::LogBroken`] for a kept checkpoint whose note disagrees with its row.
    pub async fn checkpoints(&self, tenant: TenantId) -> Result<Vec<StoredCheckpoint>, StoreError> {
        self.ready().await?;
        self.backend()
            .checkpoint_rows(tenant, Kept::All)
            .await?
            .into_iter()
            .map(StoredCheckpoint::read)
            .collect()
    }

    /// The latest checkpoint kept of `tenant`'s log.
    ///
    /// # Errors
    ///
    /// As [`checkpoints`](Self::checkpoints).
    pub async fn latest_checkpoint(
        &self,
        tenant: TenantId,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.ready().await?;
        self.backend()
            .checkpoint_rows(tenant, Kept::Latest)
            .await?
            .into_iter()
            .next()
            .map(StoredCheckpoint::read)
            .transpose()
    }

    /// The root of `tenant`'s tree of `size` entries, from its stored edge.
    async fn tree_root(&self, tenant: TenantId, size: u64) -> Result<TreeHash, StoreError> {
        let nodes = self
            .backend()
            .log_nodes(tenant, Frontier::ids(size))
            .await?;
        Ok(frontier_of(&uuid_text(tenant.as_uuid()), size, nodes)?.root())
    }

    /// The stored subtrees `ids` of `tenant`'s tree, in one read (those stored and well formed).
    async fn fetch_nodes(
        &self,
        tenant: TenantId,
        ids: Vec<NodeId>,
    ) -> Result<HashMap<NodeId, TreeHash>, StoreError> {
        let fetched = self.backend().log_nodes(tenant, ids.clone()).await?;
        Ok(ids
            .iter()
            .zip(fetched)
            .filter_map(|(id, node)| Some((*id, TreeHash::from_slice(node.as_deref()?)?)))
            .collect())
    }

    /// A proof built by `build` from the stored subtrees it reads, fetched in one read.
    async fn proof_from_nodes(
        &self,
        tenant: TenantId,
        size: u64,
        build: impl Fn(&mut dyn FnMut(NodeId) -> Option<TreeHash>) -> Option<Vec<TreeHash>>,
    ) -> Result<Vec<TreeHash>, StoreError> {
        let ids = merkle::nodes_read(|node| build(node));
        let nodes = self.fetch_nodes(tenant, ids.clone()).await?;
        let missing = ids.iter().find(|id| !nodes.contains_key(id)).copied();
        build(&mut |id| nodes.get(&id).copied()).ok_or_else(|| {
            missing_node(
                &uuid_text(tenant.as_uuid()),
                size,
                missing.unwrap_or(NodeId {
                    level: 0,
                    index: size,
                }),
            )
        })
    }

    /// The inclusion proof of the entry at `position` (from 1) of `tenant`'s log in the tree
    /// of its latest checkpoint, in the C2SP tlog-proof form, with that checkpoint.
    ///
    /// # Errors
    ///
    /// [`StoreError::NoCheckpoint`] when no checkpoint covers the entry yet (sign one), and
    /// [`StoreError::LogBroken`] when the stored tree lacks a subtree the proof needs.
    pub async fn inclusion_proof(
        &self,
        tenant: TenantId,
        position: u64,
    ) -> Result<TlogProof, StoreError> {
        let latest = self
            .latest_checkpoint(tenant)
            .await?
            .ok_or(StoreError::NoCheckpoint { position })?;
        self.inclusion_proof_in(tenant, position, &latest).await
    }

    /// Where each record of `request` stands in its tenant's log: (sequence, position from 1),
    /// in sequence order; empty for an unknown request. A record's position is what
    /// [`inclusion_proof`](Self::inclusion_proof) takes.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when it cannot be read.
    pub async fn log_positions(
        &self,
        request: crate::values::RequestId,
    ) -> Result<Vec<(u64, u64)>, StoreError> {
        self.ready().await?;
        self.backend().record_positions(request).await
    }

    /// The inclusion proof of the entry at `position` in the tree of `checkpoint`.
    async fn inclusion_proof_in(
        &self,
        tenant: TenantId,
        position: u64,
        checkpoint: &StoredCheckpoint,
    ) -> Result<TlogProof, StoreError> {
        let size = checkpoint.checkpoint().size();
        if position == 0 || position > size {
            return Err(StoreError::NoCheckpoint { position });
        }
        let latest = checkpoint;
        let index = position - 1;
        let proof = self
            .proof_from_nodes(tenant, size, |node| {
                merkle::inclusion_proof_from(index, size, node)
            })
            .await?;
        Ok(TlogProof::new(index, proof, latest.note().to_owned()))
    }

    /// The consistency proof from `tenant`'s log at `old_size` entries (a checkpoint the reader
    /// holds) to its latest checkpoint.
    ///
    /// # Errors
    ///
    /// [`StoreError::NoCheckpoint`] when the latest checkpoint is smaller than `old_size` (or
    /// there is none), and [`StoreError::LogBroken`] when the stored tree lacks a subtree.
    pub async fn consistency_proof(
        &self,
        tenant: TenantId,
        old_size: u64,
    ) -> Result<ConsistencyProof, StoreError> {
        let latest = self
            .latest_checkpoint(tenant)
            .await?
            .filter(|latest| old_size >= 1 && old_size <= latest.checkpoint().size())
            .ok_or(StoreError::NoCheckpoint { position: old_size })?;
        let size = latest.checkpoint().size();
        let proof = self
            .proof_from_nodes(tenant, size, |node| {
                merkle::consistency_proof_from(old_size, size, node)
            })
            .await?;
        Ok(ConsistencyProof::new(
            old_size,
            proof,
            latest.note().to_owned(),
        ))
    }

    /// The evidence a message to `tenant`'s approvers carries: the latest checkpoint, and with
    /// `records` (a request and the sequences of some of its records) each record's inclusion
    /// proof in it. `None` without a signer or a checkpoint (the message goes without).
    pub(super) async fn message_evidence(
        &self,
        tenant: TenantId,
        records: Option<(crate::values::RequestId, Vec<u64>)>,
    ) -> Result<Option<crate::evidence::Evidence>, StoreError> {
        if self.signer().is_none() {
            return Ok(None);
        }
        let Some(latest) = self.latest_checkpoint(tenant).await? else {
            return Ok(None);
        };
        let mut proofs = Vec::new();
        if let Some((request, sequences)) = records
            && !sequences.is_empty()
        {
            let positions: std::collections::HashMap<u64, u64> = self
                .backend()
                .record_positions(request)
                .await?
                .into_iter()
                .collect();
            for sequence in sequences {
                let Some(&position) = positions.get(&sequence) else {
                    continue;
                };
                proofs.push(crate::evidence::RecordProof {
                    record: (request, sequence),
                    proof: self.inclusion_proof_in(tenant, position, &latest).await?,
                });
            }
        }
        Ok(Some(crate::evidence::Evidence::new(
            latest.note().to_owned(),
            proofs,
        )))
    }

    /// `tenant`'s log entries, in order, each with every stored column.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when reading fails.
    pub async fn log_entries(&self, tenant: TenantId) -> Result<Vec<LogEntry>, StoreError> {
        self.ready().await?;
        let (sink, mut batches) = tokio::sync::mpsc::channel::<super::chain::ChainBatch>(4);
        let collect = tokio::spawn(async move {
            let mut entries = Vec::new();
            while let Some(batch) = batches.recv().await {
                batch.entries(&mut entries);
            }
            entries
        });
        let read = self.backend().chain(tenant, sink).await;
        let entries = collect.await.map_err(super::chain::hashing_failed)?;
        read?;
        Ok(entries)
    }

    /// Writes `tenant`'s log as JSON Lines ([`ExportLine`](crate::evidence::ExportLine)): every
    /// checkpoint kept, then every entry in log order, with every stored column. What
    /// [`verify_export`](crate::evidence::verify_export) checks offline. Returns how many lines
    /// were written.
    ///
    /// # Errors
    ///
    /// [`StoreError::Export`] when `out` fails; [`StoreError::Database`] when reading fails.
    pub async fn export_log(
        &self,
        tenant: TenantId,
        mut out: impl std::io::Write,
    ) -> Result<u64, StoreError> {
        use crate::evidence::ExportLine;
        let mut written = 0;
        let mut line = |item: &ExportLine| -> Result<(), StoreError> {
            serde_json::to_writer(&mut out, item).map_err(|err| StoreError::Export(err.into()))?;
            out.write_all(b"\n").map_err(StoreError::Export)?;
            written += 1;
            Ok(())
        };
        for kept in self.checkpoints(tenant).await? {
            line(&ExportLine::Checkpoint(kept.note))?;
        }
        for entry in self.log_entries(tenant).await? {
            line(&ExportLine::Entry(Box::new(entry)))?;
        }
        out.flush().map_err(StoreError::Export)?;
        Ok(written)
    }

    /// Verifies `tenant`'s log against the checkpoints `key` signed: the ones the store kept
    /// and the evidence the caller gives (what the customer's messages carried: checkpoints and
    /// the reports' record proofs). See [`LogVerifier`] for what is checked
    /// and how a break is named. The stored tree must also be the tree of the entries (it is
    /// what proofs are made from).
    ///
    /// # Errors
    ///
    /// [`StoreError::Checkpoint`] when a checkpoint (kept or given) does not open with `key`
    /// for this log, or two of one size disagree (a fork: keep both);
    /// [`StoreError::LogBroken`] when the stored tree is not the entries' tree.
    pub async fn verify_log(
        &self,
        tenant: TenantId,
        key: &VerifierKey,
        held: &[crate::evidence::Evidence],
    ) -> Result<LogVerdict, StoreError> {
        let mut verifier =
            LogVerifier::new(&log_origin(key.name(), tenant), std::slice::from_ref(key));
        for kept in self.checkpoints(tenant).await? {
            verifier.hold(kept.note()).map_err(StoreError::Checkpoint)?;
        }
        for evidence in held {
            verifier
                .hold_evidence(evidence)
                .map_err(StoreError::Checkpoint)?;
        }
        self.ready().await?;
        // Read on the backend's side, hashed on a blocking thread as batches arrive.
        let (sink, mut batches) = tokio::sync::mpsc::channel::<super::chain::ChainBatch>(4);
        let hashing = tokio::task::spawn_blocking(move || {
            while let Some(batch) = batches.blocking_recv() {
                batch.verify_into(&mut verifier);
            }
            verifier.finish()
        });
        let read = self.backend().chain(tenant, sink).await;
        let verdict = hashing.await.map_err(super::chain::hashing_failed)?;
        read?;
        if let LogVerdict::Verified { size, root, .. } = &verdict
            && *size > 0
        {
            let stored = uuid_text(tenant.as_uuid());
            if self.tree_root(tenant, *size).await? != *root {
                return Err(StoreError::LogBroken {
                    tenant: stored,
                    reason: "its stored tree is not the tree of its entries".to_owned(),
                });
            }
        }
        Ok(verdict)
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
                note::open(&row.note, std::slice::from_ref(&self.verifier)).ok()?;
            }
            let kept = StoredCheckpoint::read(row).ok()?;
            match extension(kept.checkpoint(), size, &root, &mut node) {
                Ok(Extension::Extends) => {}
                Ok(Extension::Signed) | Err(_) => return None,
            }
        }
        let signed = note::signed(&text, &self.verifier, &signature);
        if self.check_signature {
            note::open(&signed, std::slice::from_ref(&self.verifier)).ok()?;
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
            Unsignable::Missing(id) => missing_node(tenant, size, id),
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
    let proof = merkle::consistency_proof_from(signed.size(), size, |id| {
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
    merkle::verify_consistency(signed.size(), size, &proof, signed.root(), root)
        .map(|()| Extension::Extends)
        .map_err(|err| {
            Unsignable::Rewritten(format!(
                "its tree of {size} entries does not extend the checkpoint of {} entries signed before ({err})",
                signed.size()
            ))
        })
}
