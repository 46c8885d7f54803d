//! Each tenant's verifiable log: the Merkle tree over its entries that both backends keep, the
//! checkpoints of it the store has signed, proofs from it, and its verification.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use chrono::{DateTime, Utc};

use super::StoreError;
use super::backend::{Backend, Kept};
use super::checkpoints::{Extension, StepSigning, StoredCheckpoint, extension};
use super::columns::{CheckpointRow, instant_text, uuid_text};
use super::handle::Store;
use crate::evidence::{
    CheckpointSigner, LogEntry, LogVerdict, LogVerifier, SignerError, log_origin,
};
use crate::tlog::{
    Checkpoint, ConsistencyProof, Frontier, NodeId, TlogProof, TreeHash, VerifierKey,
};
use crate::values::TenantId;

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
            .ok_or_else(|| StoreError::missing_node(tenant, size, id))?;
        hashes.push(hash);
    }
    Frontier::from_nodes(size, hashes).ok_or_else(|| {
        StoreError::missing_node(
            tenant,
            size,
            NodeId {
                level: 0,
                index: size,
            },
        )
    })
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

    pub(super) fn signer(&self) -> Option<Arc<dyn CheckpointSigner>> {
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
        let head = super::select::log_head(self.backend(), tenant).await?;
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
            crate::tlog::open_note(latest.note(), std::slice::from_ref(&verifier)).map_err(
                |err| {
                    broken(format!(
                        "its checkpoint of {} entries does not open with the signer's key ({err})",
                        signed.size()
                    ))
                },
            )?;
            let ids = crate::tlog::nodes_read(|node| extension(signed, size, &root, node));
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
        let signed = crate::tlog::signed_note(&text, &verifier, &signature);
        crate::tlog::open_note(&signed, std::slice::from_ref(&verifier)).map_err(|_| {
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
        super::select::checkpoints(self.backend(), tenant, Kept::All)
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
        super::select::checkpoints(self.backend(), tenant, Kept::Latest)
            .await?
            .into_iter()
            .next()
            .map(StoredCheckpoint::read)
            .transpose()
    }

    /// The root of `tenant`'s tree of `size` entries, from its stored edge.
    async fn tree_root(&self, tenant: TenantId, size: u64) -> Result<TreeHash, StoreError> {
        let nodes = super::select::log_nodes(self.backend(), tenant, &Frontier::ids(size)).await?;
        Ok(frontier_of(&uuid_text(tenant.as_uuid()), size, nodes)?.root())
    }

    /// The stored subtrees `ids` of `tenant`'s tree, in one read (those stored and well formed).
    async fn fetch_nodes(
        &self,
        tenant: TenantId,
        ids: Vec<NodeId>,
    ) -> Result<HashMap<NodeId, TreeHash>, StoreError> {
        let fetched = super::select::log_nodes(self.backend(), tenant, &ids).await?;
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
        let ids = crate::tlog::nodes_read(|node| build(node));
        let nodes = self.fetch_nodes(tenant, ids.clone()).await?;
        let missing = ids.iter().find(|id| !nodes.contains_key(id)).copied();
        build(&mut |id| nodes.get(&id).copied()).ok_or_else(|| {
            StoreError::missing_node(
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
        super::select::record_positions(self.backend(), request).await
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
                crate::tlog::inclusion_proof_from(index, size, node)
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
                crate::tlog::consistency_proof_from(old_size, size, node)
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
            let positions: std::collections::HashMap<u64, u64> =
                super::select::record_positions(self.backend(), request)
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
