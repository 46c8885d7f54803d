use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::text::{Alphabet, Normalization, TextRule, text_value};
use crate::error::{Error, ErrorKind};

/// A service whose customer content an engineer may need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// Exchange Online: mailboxes.
    ExchangeOnline,
    /// SharePoint Online: sites and their libraries.
    SharePointOnline,
    /// OneDrive for Business: users' files.
    OneDriveForBusiness,
}

impl Service {
    /// Every service, in display order.
    pub const ALL: [Service; 3] = [
        Service::ExchangeOnline,
        Service::SharePointOnline,
        Service::OneDriveForBusiness,
    ];

    /// The service's product name, as shown to approvers.
    pub fn name(self) -> &'static str {
        match self {
            Service::ExchangeOnline => "Exchange Online",
            Service::SharePointOnline => "SharePoint Online",
            Service::OneDriveForBusiness => "OneDrive for Business",
        }
    }
}

impl Service {
    /// The stable identifier used in stored records and SQL: `exchange_online`,
    /// `share_point_online`, `one_drive_for_business` (the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            Service::ExchangeOnline => "exchange_online",
            Service::SharePointOnline => "share_point_online",
            Service::OneDriveForBusiness => "one_drive_for_business",
        }
    }

    /// The service named by its stable identifier.
    pub fn parse(text: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The services a request covers: a set with at least one member.
///
/// ```
/// use customer_lockbox::{Service, Services};
///
/// let services = Services::new([Service::SharePointOnline, Service::ExchangeOnline])?;
/// assert!(services.contains(Service::ExchangeOnline));
/// assert_eq!(services.to_string(), "Exchange Online, SharePoint Online");
/// # Ok::<(), customer_lockbox::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<Service>", into = "Vec<Service>")]
pub struct Services(BTreeSet<Service>);

impl Services {
    /// Collects `services`; duplicates count once.
    ///
    /// # Errors
    ///
    /// Returns an error for which [`Error::is_no_services`] is true when `services` is empty.
    pub fn new(services: impl IntoIterator<Item = Service>) -> Result<Self, Error> {
        let set: BTreeSet<Service> = services.into_iter().collect();
        if set.is_empty() {
            return Err(ErrorKind::NoServices.into());
        }
        Ok(Services(set))
    }

    /// A set of exactly one service; cannot fail.
    pub fn one(service: Service) -> Self {
        Services(BTreeSet::from([service]))
    }

    /// Whether `service` is in the set.
    pub fn contains(&self, service: Service) -> bool {
        self.0.contains(&service)
    }

    /// The services, in display order.
    pub fn iter(&self) -> impl Iterator<Item = Service> + '_ {
        self.0.iter().copied()
    }
}

impl fmt::Display for Services {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, service) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(service.name())?;
        }
        Ok(())
    }
}

impl TryFrom<Vec<Service>> for Services {
    type Error = Error;
    fn try_from(value: Vec<Service>) -> Result<Self, Error> {
        Self::new(value)
    }
}

impl From<Services> for Vec<Service> {
    fn from(value: Services) -> Self {
        value.0.into_iter().collect()
    }
}

text_value! {
    /// The vendor's support case number, such as `2611240010001234`.
    ///
    /// 1 to 40 ASCII letters, digits and hyphens. Dots, slashes and `@` are refused, so the
    /// number can never read as a domain name or a link in a notification.
    ///
    /// ```
    /// use customer_lockbox::ServiceRequestNumber;
    ///
    /// assert!(ServiceRequestNumber::new("2611240010001234").is_ok());
    /// assert!(ServiceRequestNumber::new("case.example.com").is_err());
    /// ```
    ServiceRequestNumber,
    TextRule {
        what: "service request number",
        empty_hint: "give the support case number this access is for",
        max_chars: 40,
        alphabet: Alphabet::Reference,
        normalization: Normalization::AsGiven,
    }
}
