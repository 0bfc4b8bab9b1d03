//! What an administrator does to an account with the app's secret.

use super::{CommandService, Done, RequestContext};
use crate::error::AppError;
use pinauth_domain::{AccountId, Command, UnlockPin};

impl CommandService {
    /// An administrator clears an account's lock and failure counts (a permanent lock included).
    pub async fn unlock_pin(
        &self,
        account: AccountId,
        ctx: &RequestContext,
    ) -> Result<Done<()>, AppError> {
        let committed = self
            .run_command(account, ctx, |at| Command::UnlockPin(UnlockPin { at }))
            .await?;
        Ok(committed.done(()))
    }
}
