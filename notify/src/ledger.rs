//! The notifier's own store: its checkpoint in the event log, and a record of every delivery.

use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::Mutex;

/// A delivery waiting to be sent.
#[derive(Clone, Debug)]
pub struct Pending {
    /// The challenge (the idempotency key).
    pub challenge_id: String,
    /// The account it is for (empty in ledgers written before accounts were recorded).
    pub account: String,
    /// The `PinResetRequested` event, as stored.
    pub event: String,
    /// Attempts so far.
    pub attempts: u32,
}

/// What the notifier takes in from the log.
#[derive(Clone, Debug)]
pub enum Intake {
    /// A message to deliver.
    Deliver {
        /// Its id (the idempotency key).
        challenge_id: String,
        /// The account it is for.
        account: String,
        /// The event, as stored.
        event: String,
    },
    /// The account was deleted: its deliveries are dropped.
    Forget {
        /// The account.
        account: String,
    },
}

/// A delivery and its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub challenge_id: String,
    /// `pending`, `delivered`, `expired` or `unreadable`.
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// Why the ledger failed.
#[derive(Debug, thiserror::Error)]
#[error("notifier ledger: {0}")]
pub struct LedgerError(#[from] rusqlite::Error);

/// Checkpoint and deliveries, in one SQLite file.
pub struct Ledger {
    conn: Mutex<Connection>,
}

impl Ledger {
    /// Opens (creating) the ledger at `path`.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // A deleted account's rows are overwritten, not left in free pages.
        conn.pragma_update(None, "secure_delete", true)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), position INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS deliveries (
                 challenge_id TEXT PRIMARY KEY, event TEXT NOT NULL, status TEXT NOT NULL,
                 attempts INTEGER NOT NULL DEFAULT 0, next_attempt_ms INTEGER NOT NULL,
                 last_error TEXT, updated_ms INTEGER NOT NULL);",
        )?;
        // Ledgers written before account deletion have no account column; their rows keep none.
        let has_account: bool = conn
            .prepare("SELECT 1 FROM pragma_table_info('deliveries') WHERE name = 'account'")?
            .exists([])?;
        if !has_account {
            conn.execute_batch("ALTER TABLE deliveries ADD COLUMN account TEXT")?;
        }
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The position of the last event taken in.
    pub fn checkpoint(&self) -> Result<Option<u64>, LedgerError> {
        let position: Option<i64> = self
            .conn()
            .query_row("SELECT position FROM checkpoint WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(position.and_then(|p| u64::try_from(p).ok()))
    }

    /// Records new deliveries and the checkpoint after them, in one transaction.
    pub fn take_in(
        &self,
        deliveries: &[Intake],
        checkpoint: u64,
        now_ms: i64,
    ) -> Result<(), LedgerError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for intake in deliveries {
            match intake {
                Intake::Deliver {
                    challenge_id,
                    account,
                    event,
                } => {
                    tx.execute(
                        "INSERT OR IGNORE INTO deliveries (challenge_id, event, status, next_attempt_ms, updated_ms, account) VALUES (?1, ?2, 'pending', ?3, ?3, ?4)",
                        params![challenge_id, event, now_ms, account],
                    )?;
                }
                Intake::Forget { account } => {
                    tx.execute("DELETE FROM deliveries WHERE account = ?1", [account])?;
                }
            }
        }
        tx.execute(
            "INSERT INTO checkpoint (id, position) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET position = excluded.position",
            params![i64::try_from(checkpoint).unwrap_or(i64::MAX)],
        )?;
        tx.commit()?;
        if deliveries
            .iter()
            .any(|i| matches!(i, Intake::Forget { .. }))
        {
            // The write-ahead log still holds the pages as they were before the delete.
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        Ok(())
    }

    /// Pending deliveries due at `now_ms`.
    pub fn due(&self, now_ms: i64) -> Result<Vec<Pending>, LedgerError> {
        let conn = self.conn();
        let mut select = conn.prepare("SELECT challenge_id, event, attempts, COALESCE(account, '') FROM deliveries WHERE status = 'pending' AND next_attempt_ms <= ?1 ORDER BY next_attempt_ms LIMIT 100")?;
        let rows = select.query_map([now_ms], |r| {
            Ok(Pending {
                challenge_id: r.get(0)?,
                event: r.get(1)?,
                attempts: r.get(2)?,
                account: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records an outcome: `status` with the attempt count, the next attempt and the last error.
    pub fn record(
        &self,
        challenge_id: &str,
        status: &str,
        attempts: u32,
        next_attempt_ms: i64,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<(), LedgerError> {
        self.conn().execute(
            "UPDATE deliveries SET status = ?2, attempts = ?3, next_attempt_ms = ?4, last_error = ?5, updated_ms = ?6 WHERE challenge_id = ?1",
            params![challenge_id, status, attempts, next_attempt_ms, error, now_ms],
        )?;
        Ok(())
    }

    /// Every delivery, oldest first.
    pub fn deliveries(&self) -> Result<Vec<Delivery>, LedgerError> {
        let conn = self.conn();
        let mut select = conn.prepare(
            "SELECT challenge_id, status, attempts, last_error FROM deliveries ORDER BY rowid",
        )?;
        let rows = select.query_map([], |r| {
            Ok(Delivery {
                challenge_id: r.get(0)?,
                status: r.get(1)?,
                attempts: r.get(2)?,
                last_error: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
