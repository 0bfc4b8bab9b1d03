//! Hashes upgraded after the request that verified them: a password, PIN or security answer that
//! verified under anything but the current scheme (a hash kept from an import, a wrapped weak
//! digest, argon2id under earlier parameters) is hashed again under the current one, off the
//! request's critical path, and `HashUpgraded` records it. The secret is known right then and
//! only then; if the upgrade fails (the pool is busy, the account moved on), the next successful
//! verification tries again.

use super::verdicts::Verdicts;
use super::{CommandService, RequestContext};
use crate::crypto::{Plaintext, scheme_of};
use crate::error::AppError;
use pinauth_domain::{AccountId, Command, SecretHash, UpgradeHash};

impl CommandService {
    /// Upgrades, in the background, the hashes `verdicts` found right under an earlier scheme.
    pub(super) fn upgrade_later(
        &self,
        id: AccountId,
        verdicts: &mut Verdicts,
        ctx: &RequestContext,
    ) {
        let upgrades = verdicts.take_upgrades();
        if upgrades.is_empty() {
            return;
        }
        let (service, ctx) = (self.clone(), ctx.clone());
        // On the worker's own thread (the retry loop's future is not `Send`): the wait for the
        // hashing pool and the append leave it free meanwhile.
        actix_web::rt::spawn(async move {
            for (secret, old) in upgrades {
                if let Err(error) = service.upgrade_hash(id, &secret, old, &ctx).await {
                    tracing::warn!(account = %id, %error, "a hash was not upgraded: its next verification tries again");
                }
            }
        });
    }

    async fn upgrade_hash(
        &self,
        id: AccountId,
        secret: &Plaintext,
        old: SecretHash,
        ctx: &RequestContext,
    ) -> Result<(), AppError> {
        let hasher = &self.inner.hasher;
        let from = scheme_of(&old, hasher.current());
        let new = hasher.hash(secret).await?;
        let committed = self
            .run_command(id, ctx, |at| {
                Command::UpgradeHash(UpgradeHash {
                    at,
                    old: old.clone(),
                    new: new.clone(),
                    from: from.clone(),
                })
            })
            .await?;
        if !committed.events.is_empty() {
            tracing::info!(account = %id, from = %from, "hash upgraded");
        }
        Ok(())
    }
}
