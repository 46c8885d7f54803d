//! The key a caller gives a step so that taking it again records nothing twice.

use crate::values::text::{Alphabet, Normalization, TextRule, text_value};

text_value! {
    /// A key that makes a store call safe to repeat: the first call with it takes the step; a
    /// later call on the same request with the same key takes nothing and returns what the
    /// first one did (its outcome, or its refusal). A client makes one per action of its user
    /// (a UUID is usual) and sends it again with every retry of that action, in particular
    /// after [`StoreError::OutcomeUnknown`](crate::StoreError::OutcomeUnknown).
    ///
    /// 1 to 255 printable ASCII characters without spaces. Keys belong to a request: the same
    /// key on two requests is two keys.
    ///
    /// ```
    /// use customer_lockbox::IdempotencyKey;
    ///
    /// let key = IdempotencyKey::new("9f1c2a7e-4b3d-4e8f-a1c2-3d4e5f6a7b8c")?;
    /// assert!(IdempotencyKey::new("two words").is_err());
    /// # Ok::<(), customer_lockbox::Error>(())
    /// ```
    IdempotencyKey,
    TextRule {
        what: "idempotency key",
        empty_hint: "give each action of a client its own key, such as a UUID, and send it again with each retry",
        max_chars: 255,
        alphabet: Alphabet::Token,
        normalization: Normalization::AsGiven,
    }
}
