//! Tenants' policies, owned by the store: a tenant administrator changes them, each change a
//! numbered version with who, when, before and after; every step that depends on a policy is
//! decided against the version in force at its instant, read for the step and checked again
//! when it commits.

use std::sync::{Arc, PoisonError};

use chrono::{DateTime, Utc};
use tracing::Instrument;
use tracing::field::Empty;

use super::StoreError;
use super::backend::{Backend, PolicyWrite};
use super::columns::policy_history;
use super::handle::Store;
use crate::decision::{PolicyStatement, SignedChange};
use crate::policy::{PolicyChange, PolicyHistory, TenantPolicy};
use crate::values::{TenantAdminId, TenantId};

/// How many tenants' histories a store keeps before forgetting them all (each a few policies).
const REMEMBERED_TENANTS: usize = 4096;

impl<B: Backend> Store<B> {
    /// Makes `policy` its tenant's policy, as tenant administrator `admin` decided at `now`,
    /// and returns the change: its version, when it took effect, and the policy before it.
    ///
    /// A change happens now: `now` must be within [`MAX_CLOCK_SKEW`](crate::MAX_CLOCK_SKEW)
    /// of the store's clock, ahead or behind, or nothing is written. It takes effect at `now`,
    /// or just after the tenant's latest record or change if that is later (so it never
    /// reaches back over steps already taken). Steps decided under the previous version that
    /// have not committed yet are decided again. Requests already notified keep their deadline
    /// and the approvals they need; who may decide follows the new version at once, and so
    /// does whose approval counts (an approval given by someone the new version no longer
    /// designates stays on record, and no longer counts towards access), except that taking
    /// access away never waits for a change: an approver designated when access was
    /// granted, at any time during it, or now may revoke it, and one designated at any time while
    /// the request was pending may deny it (see DESIGN.md).
    ///
    /// ```no_run
    /// # async fn run(store: customer_lockbox::SqliteStore, tenant: customer_lockbox::TenantId) -> Result<(), Box<dyn std::error::Error>> {
    /// use customer_lockbox::*;
    ///
    /// let adele = TenantAdminId::new("adele@contoso.com")?;
    /// let megan = DesignatedApprover::new(ApproverId::new("megan@contoso.com")?, EmailAddress::new("megan@contoso.com")?);
    /// let lee = DesignatedApprover::new(ApproverId::new("lee@contoso.com")?, EmailAddress::new("lee@contoso.com")?);
    /// let two_person = TenantPolicy::new(tenant, vec![megan, lee])?.with_approvals_required(2)?;
    /// let change = store.set_policy(&adele, two_person, SystemClock.now()).await?;
    /// println!("version {} in force from {}", change.version(), change.at());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::PolicyConflict`] when another change was saved meanwhile (nothing was
    /// written: read the policy again and decide again); [`StoreError::ClockAhead`] or
    /// [`StoreError::ClockBehind`] when `now` is too far from the store's clock;
    /// [`StoreError::InvalidPolicy`] when the policy breaks a rule of [`TenantPolicy::new`]
    /// (deserialized, it skipped them) or the stored history does not follow, or, kept on
    /// record, when the policy in force or `policy` lists keys, so the change must be signed
    /// ([`set_policy_signed`](Self::set_policy_signed));
    /// [`StoreError::ReadOnly`], [`StoreError::Database`].
    pub async fn set_policy(
        &self,
        admin: &TenantAdminId,
        policy: TenantPolicy,
        now: DateTime<Utc>,
    ) -> Result<PolicyChange, StoreError> {
        self.change_policy(admin, policy, None, now).await
    }

    /// [`set_policy`](Self::set_policy), signed: `signature` is the armored SSH signature
    /// `ssh-keygen -Y sign -n customer-lockbox` made over the change's
    /// [`policy_statement`](Self::policy_statement). The change keeps it, so the customer
    /// checks it again offline.
    ///
    /// When the policy in force lists keys, the signature must be by a key it lists for
    /// `admin` (every change is signed by an administrator of the version before it, even one
    /// that removes the keys or stops requiring signatures); otherwise, when `policy` lists
    /// keys, by a key `policy` lists for `admin`: a tenant's first version with keys is its
    /// root of trust, and its message to the approvers shows each key's fingerprint so that
    /// the customer can check and pin it.
    ///
    /// # Errors
    ///
    /// As [`set_policy`](Self::set_policy); [`StoreError::InvalidPolicy`] for which
    /// [`Error::is_policy_change_unsigned`](crate::Error::is_policy_change_unsigned) is true
    /// when the signature does not hold: the policy stays as it is, and the attempt is kept in
    /// the tenant's log (a [`PolicyRefusal`](crate::PolicyRefusal)); [`StoreError::NoSigner`]
    /// without a checkpoint signer (the log's name is the signer's).
    pub async fn set_policy_signed(
        &self,
        admin: &TenantAdminId,
        policy: TenantPolicy,
        signature: &str,
        now: DateTime<Utc>,
    ) -> Result<PolicyChange, StoreError> {
        let log = self.log_name(policy.tenant())?;
        let signed = SignedChange::new(log, signature);
        self.change_policy(admin, policy, Some(signed), now).await
    }

    /// The statement `admin` signs to make `policy` the tenant's next version
    /// (`ssh-keygen -Y sign -n customer-lockbox`): every setting, person and key of it, the
    /// version it becomes, and the log. Once another change is saved first, the statement (and
    /// its signature) no longer applies: print it again.
    ///
    /// # Errors
    ///
    /// [`StoreError::NoSigner`] without a checkpoint signer; as [`policy`](Self::policy).
    pub async fn policy_statement(
        &self,
        admin: &TenantAdminId,
        policy: &TenantPolicy,
    ) -> Result<PolicyStatement, StoreError> {
        let log = self.log_name(policy.tenant())?;
        let history = self.policy_history(policy.tenant()).await?;
        Ok(history.statement(&log, admin, policy))
    }

    /// The name of `tenant`'s log, as statements name it: the store's signer's, with the
    /// tenant.
    pub(super) fn log_name(&self, tenant: TenantId) -> Result<String, StoreError> {
        let signer = self.signer().ok_or(StoreError::NoSigner)?;
        Ok(crate::evidence::log_origin(
            signer.verifier().name(),
            tenant,
        ))
    }

    async fn change_policy(
        &self,
        admin: &TenantAdminId,
        policy: TenantPolicy,
        signature: Option<SignedChange>,
        now: DateTime<Utc>,
    ) -> Result<PolicyChange, StoreError> {
        let tenant = policy.tenant();
        let span = tracing::info_span!(
            "lockbox.set_policy",
            backend = B::NAME,
            tenant = %tenant,
            version = Empty,
        );
        async move {
            self.ready().await?;
            self.check_clock(now).await?;
            let store_clock = self.store_clock().await?;
            if store_clock
                .checked_sub_signed(crate::clock::MAX_CLOCK_SKEW)
                .is_some_and(|limit| now < limit)
            {
                return Err(StoreError::ClockBehind {
                    given: now,
                    store_clock,
                });
            }
            // However the policy was made (a deserialized one skips its constructors), what
            // becomes the tenant's is checked by every rule.
            policy.check().map_err(StoreError::InvalidPolicy)?;
            self.forget_history(tenant);
            let history = self.history(tenant).await?;
            let replaces = u32::try_from(history.changes().len()).unwrap_or(u32::MAX);
            // Signed as the rules require (the same check every read of the history makes), or
            // the attempt is written to the tenant's log instead, and the policy stays.
            let refused = crate::decision::check_change(
                history.current(),
                replaces.saturating_add(1),
                admin,
                &policy,
                signature.as_ref(),
            )
            .err();
            let write = PolicyWrite {
                tenant,
                replaces,
                changed_by: admin.clone(),
                before: history.current().cloned(),
                after: policy,
                signature,
                refused,
                now,
            };
            if let Some(fault) = refused {
                return Err(self.refuse_change(write, fault).await);
            }
            self.forget_history(tenant);
            let row = self
                .backend()
                .write_policy(write)
                .await?
                .ok_or(StoreError::PolicyConflict { tenant })?;
            let change = row.decode(tenant)?;
            tracing::Span::current().record("version", change.version());
            // The change's message to the approvers carries a checkpoint that covers it.
            self.sign_after_step(tenant, change.at()).await;
            Ok(change)
        }
        .instrument(span)
        .await
    }

    /// Keeps the attempt `write` (a change refused for its signature) in the tenant's log, and
    /// returns the refusal to give the caller. A refusal that cannot be kept is still given,
    /// and the failure to keep it logged.
    async fn refuse_change(
        &self,
        write: PolicyWrite,
        fault: Option<crate::decision::SignatureFault>,
    ) -> StoreError {
        let (tenant, version) = (write.tenant, write.replaces.saturating_add(1));
        let at = write.now;
        match self.backend().write_policy(write).await {
            Ok(Some(_)) => self.sign_after_step(tenant, at).await,
            Ok(None) => {
                tracing::warn!(tenant = %tenant, "a refused policy change was not kept: another change was saved meanwhile")
            }
            Err(err) => {
                tracing::warn!(tenant = %tenant, error = %err, "a refused policy change was not kept")
            }
        }
        tracing::info!(tenant = %tenant, version, "policy change refused for its signature");
        StoreError::InvalidPolicy(
            crate::error::ErrorKind::PolicyChangeSignature {
                tenant,
                version,
                fault,
            }
            .into(),
        )
    }

    /// The tenant's policy in force now (its latest version), if it has one.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidPolicy`] when the stored history does not follow;
    /// [`StoreError::Database`].
    #[tracing::instrument(name = "lockbox.policy", skip_all, fields(backend = B::NAME, tenant = %tenant))]
    pub async fn policy(&self, tenant: TenantId) -> Result<Option<TenantPolicy>, StoreError> {
        Ok(self.policy_history(tenant).await?.current().cloned())
    }

    /// Every version of the tenant's policy, oldest first: who changed what, and when.
    ///
    /// # Errors
    ///
    /// As [`policy`](Self::policy).
    #[tracing::instrument(name = "lockbox.policy_history", skip_all, fields(backend = B::NAME, tenant = %tenant))]
    pub async fn policy_history(&self, tenant: TenantId) -> Result<PolicyHistory, StoreError> {
        self.ready().await?;
        let rows = super::select::policies(self.backend(), tenant).await?;
        policy_history(tenant, &rows)
    }

    /// The tenant's history for deciding a step: the cached one, or read.
    pub(super) async fn history(&self, tenant: TenantId) -> Result<Arc<PolicyHistory>, StoreError> {
        if let Some(history) = self.policies().get(&tenant) {
            return Ok(Arc::clone(history));
        }
        let history = Arc::new(self.policy_history(tenant).await?);
        let mut policies = self.policies();
        if policies.len() >= REMEMBERED_TENANTS {
            policies.clear();
        }
        policies.insert(tenant, Arc::clone(&history));
        Ok(history)
    }

    /// Forgets the cached history of `tenant`: its policy changed.
    pub(super) fn forget_history(&self, tenant: TenantId) {
        self.policies().remove(&tenant);
    }

    fn policies(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<TenantId, Arc<PolicyHistory>>> {
        self.inner
            .policies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
