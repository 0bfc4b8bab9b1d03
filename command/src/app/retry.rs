//! The one loop every use case that changes an account runs: take the account's turn, load,
//! decide, append at the revision decided on, and on a conflict decide again on the new state.
//!
//! - A use case says what it would do on a given state ([`Decision`]); the loop decides the command
//!   with the domain and appends. N parallel wrong PINs therefore count as N (each is re-decided on
//!   the state the others left), and none is evaluated after the lock.
//! - The first attempt runs on the cached state without reading the store; the append's expected
//!   revision refuses it if another process moved the account on. So a refusal is only answered
//!   when it was decided on state just read.
//! - A wrong secret is recorded (`FailPinAttempt`, with the request's origin) by the same loop,
//!   and answered as wrong, or as locked when it was the one that locked the account for that
//!   origin; an attempt on a locked account is recorded as refused the same way. A concealed
//!   failure (a stranger's, on a flow named by identifier) is always answered as wrong: strangers
//!   learn nothing of an account's locks, so a lock cannot tell them that the account exists.

use super::CommandService;
use super::RequestContext;
use super::repository::Committed;
use crate::error::AppError;
use pinauth_domain::{Account, AccountId, AttemptFlow, Command, FailPinAttempt, Timestamp, decide};

/// How many times a use case re-decides after a conflict before giving up.
const MAX_TRIES: usize = 32;

/// What a use case concludes on one state.
// Made and consumed once per attempt, never stored: boxing the command would only add an
// allocation to every request.
#[allow(clippy::large_enum_variant)]
pub(super) enum Decision {
    /// Append what this command decides.
    Decide(Command),
    /// A wrong secret, or an attempt on a locked account, in `flow`: record it, then answer
    /// `answer`, or `Locked` if the account is locked for the request's origin after it (unless
    /// `conceal`).
    Fail {
        /// Where.
        flow: AttemptFlow,
        /// The answer when the account is not locked after the record.
        answer: AppError,
        /// Answer `answer` even when locked.
        conceal: bool,
    },
    /// Append what these commands decide, each on the state the ones before it leave, in one
    /// append: all of them or none.
    DecideAll(Vec<Command>),
    /// Write nothing and answer as done.
    Nothing,
}

impl Decision {
    /// The decision for an attempt the guards found locked.
    pub(super) fn locked(flow: AttemptFlow, until: Option<Timestamp>) -> Self {
        Self::Fail {
            flow,
            answer: AppError::Locked { until },
            conceal: false,
        }
    }

    /// A wrong secret in `flow`, answered `answer` (always, when `conceal`).
    pub(super) fn wrong(flow: AttemptFlow, answer: AppError, conceal: bool) -> Self {
        Self::Fail {
            flow,
            answer,
            conceal,
        }
    }
}

impl CommandService {
    /// Runs `attempt` on account `id` until what it decides is appended (see the module header).
    /// `attempt` may be run again after a conflict: what it must not repeat (a hash of the new PIN,
    /// a verification of the same secret against the same hash) it keeps across runs.
    pub(super) async fn decide_and_commit(
        &self,
        id: AccountId,
        ctx: &RequestContext,
        mut attempt: impl AsyncFnMut(&Account, Timestamp) -> Result<Decision, AppError>,
    ) -> Result<Committed, AppError> {
        let repository = &self.inner.repository;
        pinauth_wire::scope::note_account(id);
        let origin = ctx.origin;
        let _turn = repository.turn(id).await;
        for round in 0..MAX_TRIES {
            let at = self.now();
            let (loaded, fresh) = match repository.cached(id).filter(|_| round == 0) {
                Some(cached) => (cached, false),
                None => (repository.load(id).await?, true),
            };
            let decision = match attempt(&loaded.state, at).await {
                Ok(decision) => decision,
                Err(_) if !fresh => continue,
                Err(refused) => return Err(refused),
            };
            let (command, failed) = match decision {
                Decision::Decide(command) => (command, None),
                Decision::Fail {
                    flow,
                    answer,
                    conceal,
                } => (
                    Command::FailPinAttempt(FailPinAttempt { at, flow, origin }),
                    Some((answer, conceal)),
                ),
                // Nothing to write, decided on a cached state: another process may have moved the
                // account on (changed what "nothing" was measured against, or ended the token the
                // attempt checked), so decide again on the state read now.
                Decision::Nothing if !fresh => continue,
                Decision::Nothing => {
                    return repository
                        .append(id, loaded, Vec::new(), ctx, self.now())
                        .await;
                }
                Decision::DecideAll(commands) => {
                    let mut state = Account::clone(&loaded.state);
                    let mut events = Vec::new();
                    let mut refused = None;
                    for command in commands {
                        match decide(&state, command, self.policy()) {
                            Ok(decided) => {
                                state = decided.iter().fold(state, pinauth_domain::evolve);
                                events.extend(decided);
                            }
                            Err(e) => {
                                refused = Some(e);
                                break;
                            }
                        }
                    }
                    match refused {
                        Some(_) if !fresh => continue,
                        Some(e) => return Err(e.into()),
                        None => {}
                    }
                    match repository.append(id, loaded, events, ctx, self.now()).await {
                        Err(e) if e.is_conflict() => continue,
                        other => return other,
                    }
                }
            };
            let events = match decide(&loaded.state, command, self.policy()) {
                Ok(events) => events,
                Err(_) if !fresh => continue,
                Err(refused) => return Err(refused.into()),
            };
            let committed = match repository.append(id, loaded, events, ctx, self.now()).await {
                Ok(committed) => committed,
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(e),
            };
            let now = self.now();
            let standing = committed
                .state
                .standing(now, origin.as_ref(), self.policy());
            return match failed {
                None => Ok(committed),
                Some((answer, true)) => Err(answer),
                Some((answer, false)) => {
                    Err(match committed.state.lockout().lock_for(now, standing) {
                        Some((lock, _)) => AppError::Locked { until: lock.until },
                        None => answer,
                    })
                }
            };
        }
        Err(AppError::Contention)
    }

    /// [`Self::decide_and_commit`] for a use case that needs nothing of the state to choose its
    /// command: `make(now)` is decided on each state in turn.
    pub(super) async fn run_command(
        &self,
        id: AccountId,
        ctx: &RequestContext,
        make: impl Fn(Timestamp) -> Command,
    ) -> Result<Committed, AppError> {
        self.decide_and_commit(id, ctx, async |_: &Account, at| {
            Ok(Decision::Decide(make(at)))
        })
        .await
    }
}
