//! Checks every adapter makes before it writes anything.

use crate::{ExpectedRevision, NewEvent, StoreError, StreamName};

/// Refuses empty appends, bad event types and events over `max_event_bytes`.
pub(crate) fn validate(events: &[NewEvent], max_event_bytes: usize) -> Result<(), StoreError> {
    if events.is_empty() {
        return Err(StoreError::EmptyAppend);
    }
    for event in events {
        if event.event_type.is_empty() || event.event_type.len() > 128 {
            return Err(StoreError::InvalidEventType);
        }
        let size = event.size();
        if size > max_event_bytes {
            return Err(StoreError::EventTooLarge {
                size,
                limit: max_event_bytes,
            });
        }
    }
    Ok(())
}

/// The typed conflict when `actual` does not meet `expected`.
pub(crate) fn check_expected(
    stream: &StreamName,
    expected: ExpectedRevision,
    actual: Option<u64>,
) -> Result<(), StoreError> {
    if expected.accepts(actual) {
        Ok(())
    } else {
        Err(StoreError::WrongExpectedRevision {
            stream: stream.clone(),
            expected,
            actual,
        })
    }
}

/// Milliseconds since the Unix epoch, for `recorded_at_ms`.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
