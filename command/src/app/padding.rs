//! The time an unknown identifier's request takes: padded to what a known one's usually takes on
//! the same flow, so that neither the answer nor its timing tells whether the account exists.
//! The verifications are the same already (a dummy one where a known account has a hash); the
//! padding covers what only a known account costs: its load and the append that records the
//! attempt. Both are timed from the account's turn (an unknown identifier takes one of its own),
//! not from the request's arrival: parallel requests for one account queue for its turn, and a
//! pad learnt with the queueing in it would make an unknown identifier's parallel requests slower
//! than a known one's. BENCHMARKS.md ("no enumeration") shows both distributions.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The flows an identifier is named at.
#[derive(Clone, Copy, Debug)]
pub(super) enum Flow {
    /// Forgot-PIN requests.
    Forgot,
    /// Password logins.
    Login,
    /// OTP resets.
    Otp,
    /// Security-answer resets.
    Answers,
}

/// An unknown identifier's request being served: its turn, and when it began.
pub(super) struct Unknown<'a> {
    padding: &'a Padding,
    flow: Flow,
    served: Instant,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl Unknown<'_> {
    /// Pads the request to a known one's usual time, then gives its turn back.
    pub(super) async fn finish(self) {
        self.padding.pad(self.flow, self.served).await;
    }
}

/// A moving average of how long known requests take, per flow.
#[derive(Default)]
pub(super) struct Padding {
    micros: Mutex<[f64; 4]>,
}

impl Padding {
    /// A known request of `flow`, served from `started` (its turn), is done.
    pub(super) fn record(&self, flow: Flow, started: Instant) {
        let sample = started.elapsed().as_micros() as f64;
        let mut micros = self.micros.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(average) = micros.get_mut(flow as usize) {
            *average = if *average == 0.0 {
                sample
            } else {
                *average * 0.9 + sample * 0.1
            };
        }
    }

    /// An unknown request of `flow`, served from now, holding `turn`.
    pub(super) fn unknown(
        &self,
        flow: Flow,
        turn: tokio::sync::OwnedMutexGuard<()>,
    ) -> Unknown<'_> {
        Unknown {
            padding: self,
            flow,
            served: Instant::now(),
            _turn: turn,
        }
    }

    /// Waits until an unknown request of `flow`, served from `started` (its turn), has taken as
    /// long as a known one usually does.
    /// Tokio's timer wakes on millisecond ticks and a known request may take well under one, so
    /// the last millisecond is waited by yielding to other tasks rather than sleeping (a sleep
    /// alone made unknown forgot requests 2.5 times as slow as known ones).
    async fn pad(&self, flow: Flow, started: Instant) {
        let typical = {
            let micros = self.micros.lock().unwrap_or_else(|p| p.into_inner());
            Duration::from_micros(micros.get(flow as usize).copied().unwrap_or(0.0) as u64)
        };
        let tick = Duration::from_millis(1);
        let coarse = typical
            .saturating_sub(started.elapsed())
            .saturating_sub(tick);
        if !coarse.is_zero() {
            tokio::time::sleep(coarse).await;
        }
        while started.elapsed() < typical {
            tokio::task::yield_now().await;
        }
    }
}
