//! Delivering notifications: who a notification goes to ([`Directory`]), who sends it
//! ([`Sender`]), and what a delivery attempt records ([`DeliveryFailure`](crate::DeliveryFailure)).

use std::collections::HashMap;
use std::fmt;

use crate::notification::Notification;
use crate::policy::TenantPolicy;
use crate::values::{ApproverId, EmailAddress, EngineerId, RequestId, TenantId};

/// Where people's email addresses come from when a notification is sent.
///
/// The engineer's address comes from the vendor's directory. An approver's comes from here if
/// the directory has one, else from the tenant's own policy in the store (the latest version
/// that designates them): the tenant's administrator keeps it there, so a directory of the
/// vendor's engineers is all a platform needs. A store asks at delivery time, so a corrected
/// address is used on the next attempt. The methods are `async`, so a directory may ask a
/// platform's user service.
///
/// ```
/// use customer_lockbox::{Directory, EmailAddress, EngineerId};
///
/// /// The vendor's engineers, from its own user service.
/// struct Staff;
///
/// impl Directory for Staff {
///     async fn engineer_address(&self, engineer: &EngineerId) -> Option<EmailAddress> {
///         // e.g. a call to the platform's user service
///         EmailAddress::new(engineer.as_str()).ok()
///     }
/// }
/// ```
pub trait Directory {
    /// The engineer's address, or `None` if the directory has none.
    fn engineer_address(
        &self,
        engineer: &EngineerId,
    ) -> impl std::future::Future<Output = Option<EmailAddress>> + Send;

    /// The address of one of `tenant`'s approvers, or `None` (the default) to use the one the
    /// tenant's policy gives.
    fn approver_address(
        &self,
        tenant: TenantId,
        approver: &ApproverId,
    ) -> impl std::future::Future<Output = Option<EmailAddress>> + Send {
        let _ = (tenant, approver);
        std::future::ready(None)
    }
}

/// A [`Directory`] held in memory: engineers' addresses, and the approvers of tenant policies.
///
/// ```
/// use customer_lockbox::*;
/// # let now: chrono::DateTime<chrono::Utc> = "2026-11-24T08:00:00Z".parse()?;
/// # let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
/// # let megan = ApproverId::new("megan")?;
/// # let policy = TenantPolicy::new(tenant, vec![DesignatedApprover::new(megan.clone(), EmailAddress::new("megan@contoso.com")?)])?;
///
/// let alex = EngineerId::new("alex")?;
/// let directory = AddressBook::new()
///     .with_engineer(alex.clone(), EmailAddress::new("alex@vendor.example")?)
///     .with_policy(&policy);
/// let address = futures_lite_block_on(directory.engineer_address(&alex));
/// assert_eq!(address.map(|a| a.to_string()), Some("alex@vendor.example".into()));
/// # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct AddressBook {
    engineers: HashMap<EngineerId, EmailAddress>,
    approvers: HashMap<(TenantId, ApproverId), EmailAddress>,
}

impl AddressBook {
    /// An empty address book.
    pub fn new() -> Self {
        AddressBook::default()
    }

    /// Adds (or replaces) an engineer's address.
    #[must_use]
    pub fn with_engineer(mut self, engineer: EngineerId, address: EmailAddress) -> Self {
        self.engineers.insert(engineer, address);
        self
    }

    /// Adds the addresses of every approver `policy` designates.
    #[must_use]
    pub fn with_policy(mut self, policy: &TenantPolicy) -> Self {
        for approver in policy.approvers() {
            self.approvers.insert(
                (policy.tenant(), approver.id().clone()),
                approver.email().clone(),
            );
        }
        self
    }
}

impl Directory for AddressBook {
    fn engineer_address(
        &self,
        engineer: &EngineerId,
    ) -> impl std::future::Future<Output = Option<EmailAddress>> + Send {
        std::future::ready(self.engineers.get(engineer).cloned())
    }

    fn approver_address(
        &self,
        tenant: TenantId,
        approver: &ApproverId,
    ) -> impl std::future::Future<Output = Option<EmailAddress>> + Send {
        std::future::ready(self.approvers.get(&(tenant, approver.clone())).cloned())
    }
}

/// One notification handed to a [`Sender`]: what to send, to whom, and a key that stays the
/// same on every attempt to send it.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub(crate) topic: Topic,
    pub(crate) attempt: u32,
    pub(crate) notification: Notification,
    pub(crate) evidence: Option<crate::evidence::Evidence>,
}

/// What a notification is about: a step of a request, or a change of a tenant's policy.
///
/// Serialized as `{"request": ..., "cause": ...}` or `{"tenant": ..., "version": ...}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(untagged)]
pub enum Topic {
    /// A step of a request.
    Request {
        /// The request.
        request: RequestId,
        /// The sequence of the audit record whose step caused the notification.
        cause: u64,
    },
    /// A change of a tenant's policy.
    Policy {
        /// The tenant.
        tenant: TenantId,
        /// The version the change made.
        version: u32,
    },
}

impl Topic {
    /// The request it is about; `None` for a policy change.
    pub fn request(&self) -> Option<RequestId> {
        match *self {
            Topic::Request { request, .. } => Some(request),
            Topic::Policy { .. } => None,
        }
    }

    /// The sequence of the request's audit record whose step caused it; `None` for a policy
    /// change.
    pub fn cause(&self) -> Option<u64> {
        match *self {
            Topic::Request { cause, .. } => Some(cause),
            Topic::Policy { .. } => None,
        }
    }
}

impl Delivery {
    /// The request the notification is about; `None` for a policy change's message.
    pub fn request(&self) -> Option<RequestId> {
        self.topic.request()
    }

    /// The sequence of the audit record whose step caused the notification; `None` for a
    /// policy change's message.
    pub fn cause(&self) -> Option<u64> {
        self.topic.cause()
    }

    /// The tenant and version of the policy change the notification is about, if it is about
    /// one.
    pub fn policy_change(&self) -> Option<(TenantId, u32)> {
        match self.topic {
            Topic::Policy { tenant, version } => Some((tenant, version)),
            Topic::Request { .. } => None,
        }
    }

    /// Which attempt this is, from 1. An attempt that crashed before it was recorded counts.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The message, addressed. A message to a tenant's approvers from a store with a
    /// checkpoint signer ends with its [`evidence`](Self::evidence).
    pub fn notification(&self) -> &Notification {
        &self.notification
    }

    /// The evidence the message carries (already at the end of its body): the tenant's latest
    /// signed checkpoint, and a report's proofs of its actions. `None` for a message to the
    /// engineer, or from a store without a checkpoint signer.
    pub fn evidence(&self) -> Option<&crate::evidence::Evidence> {
        self.evidence.as_ref()
    }

    /// A key that is the same on every attempt to send this notification, such as
    /// `01a20c91-a000-7096-8a81-ad3efe772748.3`: give it to a transport that deduplicates, since
    /// an attempt that crashed after sending is sent again once its lease expires.
    /// A policy change's message has the key `policy.<tenant>.<version>`.
    pub fn key(&self) -> String {
        match self.topic {
            Topic::Request { request, cause } => format!("{request}.{cause}"),
            Topic::Policy { tenant, version } => format!("policy.{tenant}.{version}"),
        }
    }
}

/// Hands notifications to the platform's mail transport.
///
/// The store calls [`send`](Sender::send) once per notification it has claimed, outside any
/// database transaction. Return `Ok` only once the transport has accepted the message: the store
/// then marks it sent and never hands it out again. An error keeps it in the outbox for a later
/// attempt, with the error's text recorded.
///
/// ```
/// use customer_lockbox::{Delivery, Sender};
///
/// /// Hands each message to the platform's mail queue.
/// struct Queue(Vec<String>);
///
/// impl Sender for Queue {
///     type Error = std::convert::Infallible;
///
///     async fn send(&mut self, delivery: &Delivery) -> Result<(), Self::Error> {
///         self.0.push(delivery.key()); // the transport deduplicates on the key
///         Ok(())
///     }
/// }
/// ```
///
/// A store writes each notification to its outbox in the same transaction as the step that
/// caused it, without addresses: people's addresses live in the vendor's and the tenant's
/// directories, which change, so they are looked up when the message is sent. Every attempt is
/// an audit record in the request's trail: [`AuditEvent::NotificationSent`] with the addresses
/// it went to, [`AuditEvent::DeliveryFailed`] with the sender's reason, or
/// [`AuditEvent::NotificationDropped`] for a request to decide that nobody needs to decide any
/// more.
///
/// [`AuditEvent::NotificationSent`]: crate::AuditEvent::NotificationSent
/// [`AuditEvent::DeliveryFailed`]: crate::AuditEvent::DeliveryFailed
/// [`AuditEvent::NotificationDropped`]: crate::AuditEvent::NotificationDropped
pub trait Sender: Send {
    /// Why a message could not be sent; its text is recorded in the audit trail.
    type Error: fmt::Display;

    /// Sends `delivery`.
    ///
    /// # Errors
    ///
    /// When the transport did not accept the message.
    fn send(
        &mut self,
        delivery: &Delivery,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send;
}

impl<T: Sender> Sender for &mut T {
    type Error = T::Error;

    fn send(
        &mut self,
        delivery: &Delivery,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send {
        (**self).send(delivery)
    }
}
