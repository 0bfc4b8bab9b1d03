//! Lookup-key rotation, per account: its identifiers claimed under the lookup key in use and its
//! data key wrapped under the wrapping key in use, so that the older key can be retired. Done at
//! the account's next password login that found it under an older key only (in the background,
//! off the request's path), and for every account by `pinauth keys reclaim`.

use super::{CommandService, RequestContext};
use crate::error::AppError;
use crate::lookup::lookups_of;
use pinauth_contract::vault::Rewrap;
use pinauth_domain::AccountId;

/// Where an account stands in a lookup-key rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reclaimed {
    /// Not registered, or deleted: nothing of it needs a lookup key.
    Gone,
    /// Its identifiers are claimed, and its data key wrapped, under the keys in use; `moved`
    /// when this call moved something.
    Current {
        /// Whether anything was written.
        moved: bool,
    },
    /// It still needs an older key, for the reason given.
    Behind(&'static str),
}

impl CommandService {
    /// [`CommandService::reclaim`] of `id` in the background: a login found it under an older
    /// lookup key.
    pub(super) fn reclaim_later(&self, id: AccountId, ctx: &RequestContext) {
        let (service, ctx) = (self.clone(), ctx.clone());
        // On the worker's own thread, as the hash upgrades are.
        actix_web::rt::spawn(async move {
            match service.reclaim(id, &ctx, true).await {
                Ok(Reclaimed::Behind(why)) => {
                    tracing::warn!(account = %id, why, "an account was not moved onto the lookup key in use; pinauth keys reclaim tries again");
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(account = %id, %error, "an account was not moved onto the lookup key in use; its next login or pinauth keys reclaim tries again");
                }
            }
        });
    }

    /// Where account `id` stands in a lookup-key rotation; with `write`, moves it onto the keys
    /// in use first: claims each of its identifiers under the lookup key in use (a claim of its
    /// own under an older key stays until that key is retired, so that no lookup is lost
    /// meanwhile) and rewraps its data key.
    pub async fn reclaim(
        &self,
        id: AccountId,
        ctx: &RequestContext,
        write: bool,
    ) -> Result<Reclaimed, AppError> {
        let state = self.inner.repository.load(id).await?.state;
        let Ok(profile) = state.profile() else {
            return Ok(Reclaimed::Gone);
        };
        let identifiers = match self.identifiers(profile).await {
            Ok(identifiers) => identifiers,
            Err(AppError::Sealing(_)) => return Ok(Reclaimed::Behind("identifiers unreadable")),
            Err(other) => return Err(other),
        };
        let lookups = &self.inner.lookups;
        let mut moved = false;
        for (kind, value) in lookups_of(&identifiers) {
            if lookups.is_current(kind, value, id).await? {
                continue;
            }
            if !write {
                return Ok(Reclaimed::Behind(
                    "an identifier not claimed under the lookup key in use",
                ));
            }
            let is_registered = |other| self.is_registered(other);
            match lookups
                .claim(kind, value, id, self.now(), ctx.request_id, is_registered)
                .await
            {
                Ok(_) => moved = true,
                Err(AppError::IdentifierTaken(_)) => {
                    return Ok(Reclaimed::Behind(
                        "an identifier claimed by another account under the lookup key in use",
                    ));
                }
                Err(other) => return Err(other),
            }
        }
        let vault = &self.inner.vault;
        let wrapped_under = vault.wrapped_under(&id).await?;
        if wrapped_under.is_some_and(|under| under != vault.wrapping_in_use()) {
            if !write {
                return Ok(Reclaimed::Behind("a data key wrapped under an older key"));
            }
            match vault.rewrap(&id).await? {
                Rewrap::Rewrapped => moved = true,
                Rewrap::Current | Rewrap::NoKey => {}
            }
        }
        Ok(Reclaimed::Current { moved })
    }
}
