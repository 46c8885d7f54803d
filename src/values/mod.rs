//! Validated domain values.

pub(crate) mod action;
pub(crate) mod delivery_failure;
pub(crate) mod duration;
pub(crate) mod idempotency;
pub(crate) mod justification;
pub(crate) mod notification_kind;
pub(crate) mod people;
pub(crate) mod request_id;
pub(crate) mod service;
pub(crate) mod tenant;
pub(crate) mod text;

pub use action::{EngineerAction, Operation, Target};
pub use delivery_failure::DeliveryFailure;
pub use duration::{AccessDuration, DecisionWindow};
pub use idempotency::IdempotencyKey;
pub use justification::Justification;
pub use notification_kind::NotificationKind;
pub use people::{ApproverId, EmailAddress, EngineerId, Person, SupportManagerId, TenantAdminId};
pub use request_id::RequestId;
pub use service::{Service, ServiceRequestNumber, Services};
pub use tenant::TenantId;
