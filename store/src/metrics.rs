//! What the adapters measure of their durable writes, for `/metrics`: how many events one commit
//! makes durable (SQLite's group commit takes every append queued behind the writer into one
//! transaction) and how long the commit takes.

use prometheus::{Histogram, HistogramOpts};

/// The histograms of an adapter's commits. Clones share their counts; a service registers them in
/// its own registry ([`crate::EventStore::write_metrics`]).
#[derive(Clone)]
pub struct WriteMetrics {
    /// Events made durable by one commit.
    pub events: Histogram,
    /// How long one commit took: SQLite's `COMMIT` (its `fsync` of the WAL), or a KurrentDB
    /// append call (the server answers after its own `fsync`).
    pub seconds: Histogram,
}

impl WriteMetrics {
    /// Histograms under literal names and buckets, which cannot fail to be made.
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
                .expect("a literal metric name, help and buckets are valid")
        };
        Self {
            events: histogram(
                "pinauth_store_commit_events",
                "Events made durable by one commit of the event store (SQLite: a group commit of every append queued behind the writer; KurrentDB: one append call).",
                vec![
                    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0, 4096.0,
                ],
            ),
            seconds: histogram(
                "pinauth_store_commit_seconds",
                "Time of one durable commit of the event store (SQLite: COMMIT, its fsync of the WAL; KurrentDB: an append call).",
                vec![
                    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
                ],
            ),
        }
    }

    /// Counts one commit of `events` events that took `took`.
    pub fn commit(&self, events: usize, took: std::time::Duration) {
        self.events.observe(events as f64);
        self.seconds.observe(took.as_secs_f64());
    }

    /// Both histograms, to register.
    pub fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.events.clone()),
            Box::new(self.seconds.clone()),
        ]
    }
}

impl Default for WriteMetrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use crate::sqlite::{SqliteOptions, SqliteStore};
    use crate::{EventStore, ExpectedRevision, NewEvent, StreamName};

    fn event(n: u8) -> NewEvent {
        NewEvent {
            id: uuid::Uuid::new_v4(),
            event_type: "Noted".into(),
            data: vec![b'0' + n],
            metadata: b"{}".to_vec(),
        }
    }

    #[tokio::test]
    async fn the_sqlite_writer_counts_each_commit_and_its_events() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("log.db"), SqliteOptions::default()).unwrap();
        let stream = StreamName::parse("account-1").unwrap();
        store
            .append(
                stream.clone(),
                ExpectedRevision::NoStream,
                vec![event(1), event(2), event(3)],
            )
            .await
            .unwrap();
        // A refused append (the revision is wrong) makes nothing durable: no commit is counted.
        store
            .append(stream, ExpectedRevision::NoStream, vec![event(4)])
            .await
            .unwrap_err();
        let metrics = store.write_metrics().unwrap();
        assert_eq!(metrics.events.get_sample_count(), 1);
        assert_eq!(metrics.events.get_sample_sum(), 3.0);
        assert_eq!(metrics.seconds.get_sample_count(), 1);
        assert!(metrics.seconds.get_sample_sum() > 0.0);
        assert_eq!(metrics.collectors().len(), 2);
    }
}
