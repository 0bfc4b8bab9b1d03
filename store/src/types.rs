//! The values that cross the port.

use std::fmt;
use std::sync::Arc;
use uuid::Uuid;

/// Longest stream name accepted.
pub const MAX_STREAM_NAME_LEN: usize = 200;

/// Default limit on one event's size (type, data and metadata together).
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1 << 20;

/// A valid stream name: 1 to 200 ASCII letters, digits and `-_.:@`, not starting with `$`
/// (KurrentDB reserves `$` for system streams).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamName(Arc<str>);

impl StreamName {
    /// Parses a stream name.
    pub fn parse(name: &str) -> Result<Self, StoreError> {
        let reason = if name.is_empty() {
            Some("is empty")
        } else if name.len() > MAX_STREAM_NAME_LEN {
            Some("is longer than 200 bytes")
        } else if name.starts_with('$') {
            Some("starts with '$', which is reserved")
        } else if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b))
        {
            Some("has characters other than letters, digits and -_.:@")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(StoreError::InvalidStreamName { reason }),
            None => Ok(Self(Arc::from(name))),
        }
    }

    /// A name read back from storage, where only parsed names were ever written.
    pub(crate) fn from_stored(name: &str) -> Self {
        Self(Arc::from(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamName({})", self.0)
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A global position in the store, totally ordered. KurrentDB has a commit and a prepare position;
/// the SQLite log uses its row id for both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Commit position.
    pub commit: u64,
    /// Prepare position.
    pub prepare: u64,
}

impl Position {
    /// A position whose commit and prepare parts are the same (single-log adapters).
    pub const fn at(n: u64) -> Self {
        Self {
            commit: n,
            prepare: n,
        }
    }
}

/// The revision a writer expects the stream to be at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedRevision {
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have this revision.
    Exact(u64),
    /// The stream must exist.
    StreamExists,
    /// No check.
    Any,
}

impl ExpectedRevision {
    /// Whether a stream whose last revision is `actual` meets the expectation.
    pub fn accepts(self, actual: Option<u64>) -> bool {
        match self {
            Self::NoStream => actual.is_none(),
            Self::Exact(rev) => actual == Some(rev),
            Self::StreamExists => actual.is_some(),
            Self::Any => true,
        }
    }
}

/// An event to append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    /// Set by the caller, derived from the request, so that a retry is idempotent. As in KurrentDB,
    /// a retry is recognised within its stream by its first event's id.
    pub id: Uuid,
    /// The event's type name (1 to 128 bytes).
    pub event_type: String,
    /// The event's payload (JSON for pinauth).
    pub data: Vec<u8>,
    /// Metadata (JSON for pinauth).
    pub metadata: Vec<u8>,
}

impl NewEvent {
    /// Bytes this event takes: type, data and metadata.
    pub fn size(&self) -> usize {
        self.event_type.len() + self.data.len() + self.metadata.len()
    }
}

/// An event as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedEvent {
    /// Its stream.
    pub stream: StreamName,
    /// Its revision within the stream, from 0.
    pub revision: u64,
    /// Its global position.
    pub position: Position,
    /// The id the writer gave it.
    pub id: Uuid,
    /// Its type name (shared between events of one type read together).
    pub event_type: Arc<str>,
    /// Its payload (a slice of a buffer shared by the events read together).
    pub data: bytes::Bytes,
    /// Its metadata (a slice of a buffer shared by the events read together).
    pub metadata: bytes::Bytes,
    /// When the store recorded it, in milliseconds since the Unix epoch.
    pub recorded_at_ms: i64,
}

/// A stream's state folded up to a revision, kept beside the log so that a reader can start from
/// it instead of the stream's first event. The store keeps the bytes and knows nothing of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The revision of the last event folded into it.
    pub revision: u64,
    /// The state, as the writer encoded it.
    pub data: Vec<u8>,
}

/// The outcome of a successful append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendResult {
    /// The revision of the last event now in the stream (the next `Exact` to expect).
    pub next_revision: u64,
    /// The position of the last event appended.
    pub position: Position,
}

/// Which streams a read of `$all` or a subscription sees.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Filter {
    /// Every stream.
    #[default]
    All,
    /// Streams whose name starts with one of these prefixes.
    StreamPrefixes(Vec<String>),
}

impl Filter {
    /// Streams starting with `prefix`.
    pub fn prefix(prefix: &str) -> Self {
        Self::StreamPrefixes(vec![prefix.to_owned()])
    }

    /// Whether `stream` passes.
    pub fn matches(&self, stream: &StreamName) -> bool {
        match self {
            Self::All => true,
            Self::StreamPrefixes(prefixes) => prefixes
                .iter()
                .any(|p| stream.as_str().starts_with(p.as_str())),
        }
    }
}

/// Why the store refused or failed an operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream was not at the expected revision; nothing was written.
    #[error("stream {stream} is at revision {actual:?}, not {expected:?}")]
    WrongExpectedRevision {
        /// The stream.
        stream: StreamName,
        /// What the writer expected.
        expected: ExpectedRevision,
        /// The last revision actually in the stream (`None`: no stream).
        actual: Option<u64>,
    },
    /// The stream name is not valid.
    #[error("invalid stream name: it {reason}")]
    InvalidStreamName {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An append with no events.
    #[error("an append needs at least one event")]
    EmptyAppend,
    /// An event larger than the configured limit.
    #[error("an event of {size} bytes exceeds the limit of {limit} bytes")]
    EventTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// An event type that is empty or longer than 128 bytes.
    #[error("an event type must be 1 to 128 bytes")]
    InvalidEventType,
    /// A retry whose first event id matches an earlier append but whose other events do not:
    /// the ids were reused for different events.
    #[error("event id {id} does not match the earlier append it retries")]
    DuplicateEventId {
        /// The id.
        id: Uuid,
    },
    /// The store cannot be reached or has shut down; the operation may be retried.
    #[error("the event store is unavailable: {0}")]
    Unavailable(String),
    /// The backend failed; what was acknowledged before stays durable.
    #[error("the event store failed: {0}")]
    Backend(String),
}
