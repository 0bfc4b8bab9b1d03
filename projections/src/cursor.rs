//! What every model folded from the `account-` streams does before it looks at an event: skip what
//! it has applied (applying is idempotent by position), number the event's account, decode it.
//!
//! Accounts are numbered densely in the order the log first names them: a model keeps per-account
//! data in a `Vec` indexed by number, and its tables hold a 4-byte number where an id is 16. The
//! number of the last stream seen is kept, since an account's events often come one after another.

use pinauth_domain::{AccountId, Event};
use pinauth_store::{RecordedEvent, StreamName};
use std::collections::HashMap;

/// Where a model stands in the log, and its account numbers.
#[derive(Clone, Debug, Default)]
pub(crate) struct Cursor {
    /// Commit position of the last event applied.
    position: Option<u64>,
    numbers: HashMap<AccountId, u32>,
    /// The stream of the last event applied, and its account's number.
    last_stream: Option<(StreamName, u32)>,
}

/// What a model does with the next recorded event.
// Made and consumed once per event, never stored: boxing the event would only add an allocation
// to every event applied.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Next {
    /// Applied before: skip it.
    Seen,
    /// Past, but nothing to apply (not an account's event).
    Passed,
    /// Apply `event` to account `number`; `new` when it is the account's first (the model adds the
    /// account's slot first). `event` is `None` when it does not decode (logged): the account is
    /// numbered all the same.
    Apply {
        number: u32,
        new: Option<AccountId>,
        event: Option<Event>,
    },
}

impl Cursor {
    /// A cursor at `position` (restored from a snapshot; numbers are then added by `restore`).
    pub(crate) fn at(position: Option<u64>) -> Self {
        Self {
            position,
            ..Self::default()
        }
    }

    /// The commit position of the last event applied.
    pub(crate) fn position(&self) -> Option<u64> {
        self.position
    }

    /// The number of account `id`, if it has one.
    pub(crate) fn number(&self, id: &AccountId) -> Option<u32> {
        self.numbers.get(id).copied()
    }

    /// Gives account `id` the next number when restoring a snapshot; false if it has one already.
    pub(crate) fn restore(&mut self, id: AccountId) -> bool {
        let Ok(next) = u32::try_from(self.numbers.len()) else {
            return false;
        };
        self.numbers.insert(id, next).is_none()
    }

    /// What to do with `recorded`; `model` names the model in the log lines of what is skipped.
    pub(crate) fn next(&mut self, recorded: &RecordedEvent, model: &str) -> Next {
        let position = recorded.position.commit;
        if self.position.is_some_and(|p| position <= p) {
            return Next::Seen;
        }
        self.position = Some(position);
        let known = self
            .last_stream
            .as_ref()
            .filter(|(stream, _)| *stream == recorded.stream)
            .map(|(_, number)| *number);
        let (number, new) = match known {
            Some(number) => (number, None),
            None => {
                let Some(id) = account_of(recorded) else {
                    return Next::Passed;
                };
                let (number, new) = match self.numbers.get(&id) {
                    Some(number) => (*number, None),
                    None => {
                        let Ok(number) = u32::try_from(self.numbers.len()) else {
                            tracing::error!(stream = %recorded.stream, model, "more accounts than can be numbered; event skipped");
                            return Next::Passed;
                        };
                        self.numbers.insert(id, number);
                        (number, Some(id))
                    }
                };
                self.last_stream = Some((recorded.stream.clone(), number));
                (number, new)
            }
        };
        let event = Event::from_stored(&recorded.event_type, &recorded.data)
            .inspect_err(|error| {
                tracing::error!(%error, stream = %recorded.stream, revision = recorded.revision, model, "unreadable event skipped");
            })
            .ok();
        Next::Apply { number, new, event }
    }
}

/// The account an `account-{uuid}` stream belongs to.
pub fn account_of(recorded: &RecordedEvent) -> Option<AccountId> {
    let id = recorded.stream.as_str().strip_prefix("account-")?;
    uuid::Uuid::try_parse(id).ok().map(AccountId::from_uuid)
}
