//! Hashing on behalf of a use case: verdicts kept across re-decisions, the place in the hashing
//! pool taken before the account's turn, and the work an unknown account costs.

use super::CommandService;
use super::retry::Decision;
use crate::crypto::{HashPermit, Hasher, Plaintext};
use crate::error::AppError;
use pinauth_domain::{AttemptFlow, DomainError, Pin, SecretHash};

/// Verdicts already computed for this request, by hash: a re-decision after a conflict re-verifies
/// only if the stored hash changed meanwhile.
#[derive(Default)]
pub(super) struct Verdicts {
    known: Vec<(SecretHash, bool)>,
    /// The place in the hashing pool taken for the first verification.
    reserved: Option<HashPermit>,
    /// The dummy verification was spent: a re-decision does not spend it again.
    spent_nothing: bool,
    /// Secrets that were right under a hash of an earlier scheme: upgraded after the request.
    upgrades: Vec<(Plaintext, SecretHash)>,
}

impl Verdicts {
    /// Takes a place in the hashing pool before the request waits for its account's turn: when
    /// the pool is full the request is refused (429) at once, not after queueing behind others.
    pub(super) fn reserve(hasher: &Hasher) -> Result<Self, AppError> {
        Ok(Self {
            known: Vec::new(),
            reserved: Some(hasher.try_reserve()?),
            spent_nothing: false,
            upgrades: Vec::new(),
        })
    }

    /// Whether `secret` matches `hash`.
    pub(super) async fn check(
        &mut self,
        hasher: &Hasher,
        secret: &Plaintext,
        hash: &SecretHash,
    ) -> Result<bool, AppError> {
        if let Some((_, verdict)) = self.known.iter().find(|(h, _)| h == hash) {
            return Ok(*verdict);
        }
        let verdict = match self.reserved.take() {
            Some(permit) => hasher.verify_reserved(permit, secret, hash).await?,
            None => hasher.verify(secret, hash).await?,
        };
        self.known.push((hash.clone(), verdict));
        if verdict && !hasher.is_current(hash) {
            self.upgrades.push((secret.clone(), hash.clone()));
        }
        Ok(verdict)
    }

    /// Checks `secret` against the hash a guard gave for an attempt in `flow`: `None` when it is
    /// right; else what the retry loop records, a locked account's refused attempt or a wrong
    /// secret (answered `wrong` unless it locks the account). Other refusals of the guard are
    /// answered as they are. With `conceal` (a stranger, on a flow named by identifier) a lock is
    /// not told: the attempt is recorded as refused but answered `wrong`, after the verification a
    /// wrong secret costs, so that neither answer nor time tells a locked account from any other.
    pub(super) async fn refusal(
        &mut self,
        hasher: &Hasher,
        guard: Result<&SecretHash, DomainError>,
        secret: &Plaintext,
        flow: AttemptFlow,
        wrong: AppError,
        conceal: bool,
    ) -> Result<Option<Decision>, AppError> {
        let hash = match guard {
            Ok(hash) => hash,
            Err(DomainError::PinLocked { .. }) if conceal => {
                self.nothing(hasher, secret).await?;
                return Ok(Some(Decision::wrong(flow, wrong, true)));
            }
            Err(DomainError::PinLocked { until, .. }) => {
                return Ok(Some(Decision::locked(flow, until)));
            }
            Err(other) => return Err(other.into()),
        };
        Ok((!self.check(hasher, secret, hash).await?)
            .then_some(Decision::wrong(flow, wrong, conceal)))
    }

    /// The secrets found right under a hash of an earlier scheme, for
    /// [`CommandService::upgrade_later`].
    pub(super) fn take_upgrades(&mut self) -> Vec<(Plaintext, SecretHash)> {
        std::mem::take(&mut self.upgrades)
    }

    /// The work of a verification against an account that does not exist, in the same place;
    /// once per request, however often a conflict or a stale cache makes it decide again.
    pub(super) async fn nothing(
        &mut self,
        hasher: &Hasher,
        secret: &Plaintext,
    ) -> Result<(), AppError> {
        if std::mem::replace(&mut self.spent_nothing, true) {
            return Ok(());
        }
        match self.reserved.take() {
            Some(permit) => hasher.verify_nothing_reserved(permit, secret).await?,
            None => hasher.verify_nothing(secret).await?,
        }
        Ok(())
    }
}

/// A new PIN, hashed the first time a use case needs it and reused on every re-decision.
pub(super) struct NewPin<'a> {
    pin: &'a Pin,
    hash: Option<SecretHash>,
}

impl<'a> NewPin<'a> {
    pub(super) fn new(pin: &'a Pin) -> Self {
        Self { pin, hash: None }
    }

    pub(super) async fn hash(&mut self, service: &CommandService) -> Result<SecretHash, AppError> {
        if let Some(hash) = &self.hash {
            return Ok(hash.clone());
        }
        let hash = service
            .inner
            .hasher
            .hash(&Plaintext::new(self.pin.expose()))
            .await?;
        Ok(self.hash.insert(hash).clone())
    }
}
