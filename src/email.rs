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

impl Notification {
    /// The notification as one RFC 5322 message per recipient, from `from`, dated `now`.
    ///
    /// ```
    /// use customer_lockbox::*;
    /// # let (granted, _policy, now) = customer_lockbox::doc_support::granted()?;
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
