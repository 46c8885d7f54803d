//! Notifications as RFC 5322 messages (feature `email`), built with lettre, for a platform to
//! hand to its own transport.
//!
//! One message per recipient: each approver gets a message addressed to them alone, so no
//! recipient learns the others' addresses (which a shared `To` would show) and no transport
//! quietly drops a `Bcc`, and a platform can track each delivery separately. Messages are plain
//! text in UTF-8 (`Content-Type: text/plain; charset=utf-8`); lettre picks the transfer encoding.
//! The `Date` header is the `now` passed in, like every instant in this crate. No `Message-ID`
//! is set: the relay that accepts the message assigns one.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;

use crate::error::{Error, ErrorKind};
use crate::notification::Notification;
use crate::values::tenant::truncate_for_message;

#[cfg_attr(docsrs, doc(cfg(feature = "email")))]
impl Notification {
    /// The notification as one RFC 5322 message per recipient, from `from`, dated `now`.
    ///
    /// ```
    /// use customer_lockbox::*;
    /// # let now: chrono::DateTime<chrono::Utc> = "2026-11-24T08:00:00Z".parse()?;
    /// # let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
    /// # let megan = ApproverId::new("megan")?;
    /// # let policy = TenantPolicy::new(tenant, vec![DesignatedApprover::new(megan.clone(), EmailAddress::new("megan@contoso.com")?)])?;
    /// # let draft = Draft { id: RequestId::new(now), tenant, service_request: ServiceRequestNumber::new("2611240010001234")?, services: Services::one(Service::ExchangeOnline), access_duration: AccessDuration::from_hours(4)?, justification: Justification::new("CFO mailbox stopped syncing after migration")?, engineer: EngineerId::new("alex")? };
    /// # let drafted = Request::draft(draft, &policy, now)?;
    /// # let approved = drafted.approve(&SupportManagerId::new("sam")?, now)?;
    /// # let (pending, _message) = approved.notify(&policy, now)?;
    /// # let GrantOutcome::Granted(granted) = pending.grant(&megan, &policy, now)? else { return Err("granted before the deadline".into()) };
    ///
    /// let from: lettre::message::Mailbox = "Customer Lockbox <lockbox@vendor.example>".parse()?;
    /// let notification = Notification::access_granted(&granted, EmailAddress::new("alex@vendor.example")?);
    /// let messages = notification.to_messages(&from, now)?;
    /// let text = String::from_utf8(messages[0].formatted())?;
    /// assert!(text.contains("To: alex@vendor.example"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Returns an error for which [`Error::is_invalid_email`] is true when lettre refuses a
    /// recipient address this crate accepted, and an error naming lettre's complaint when the
    /// message cannot be built.
    pub fn to_messages(&self, from: &Mailbox, now: DateTime<Utc>) -> Result<Vec<Message>, Error> {
        self.recipients()
            .iter()
            .map(|address| {
                let to = address
                    .as_str()
                    .parse()
                    .map_err(|_| ErrorKind::InvalidEmail {
                        input: truncate_for_message(address.as_str()),
                    })?;
                Message::builder()
                    .from(from.clone())
                    .to(Mailbox::new(None, to))
                    .subject(self.subject())
                    .date(SystemTime::from(now))
                    .header(ContentType::TEXT_PLAIN)
                    .body(self.body().to_owned())
                    .map_err(|err| {
                        Error::from(ErrorKind::MessageBuild {
                            reason: err.to_string(),
                        })
                    })
            })
            .collect()
    }
}
