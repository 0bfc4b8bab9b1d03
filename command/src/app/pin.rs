//! Changing the PIN with an access token, and re-authenticating with the PIN before a sensitive
//! operation. (Setting or skipping an optional PIN through the profile is in `profile.rs`.)

use super::retry::Decision;
use super::verdicts::{NewPin, Verdicts};
use super::{CommandService, Done, IssuedToken, RequestContext};
use crate::crypto::{Plaintext, Token};
use crate::error::AppError;
use pinauth_domain::{
    Account, AccountId, AttemptFlow, ChangePin, Command, EventKind, Pin, ReauthenticateWithPin,
    TokenKind, UseReauthToken,
};

impl CommandService {
    /// Changes the PIN with the old one and an access token.
    pub async fn change_pin(
        &self,
        access_token: &str,
        old_pin: &Plaintext,
        new_pin: &Pin,
        ctx: &RequestContext,
    ) -> Result<Done<()>, AppError> {
        let (id, access) = self
            .account_of_token(access_token, TokenKind::Access)
            .await?;
        let hasher = &self.inner.hasher;
        let mut verdicts = Verdicts::reserve(hasher)?;
        let mut new_pin = NewPin::new(new_pin);
        let (origin, policy) = (ctx.origin, self.policy());
        let committed = self
            .decide_and_commit(id, ctx, async |state: &Account, at| {
                let guard = state.change_pin_guard(at, &access, origin.as_ref(), policy);
                let (flow, wrong) = (AttemptFlow::ChangePin, AppError::CurrentPinInvalid);
                if let Some(refused) = verdicts
                    .refusal(hasher, guard, old_pin, flow, wrong, false)
                    .await?
                {
                    return Ok(refused);
                }
                Ok(Decision::Decide(Command::ChangePin(ChangePin {
                    at,
                    access_token: access,
                    new_pin_hash: new_pin.hash(self).await?,
                    origin,
                })))
            })
            .await;
        // The old PIN's hash is replaced by the change itself: nothing of it to upgrade.
        let committed = committed?;
        Ok(committed.done(()))
    }

    /// Re-authenticates with the PIN under an access token: a `SecondFactorValidationToken` the
    /// app's backend validates once ([`Self::use_reauth_token`]). A wrong PIN counts and locks as
    /// at PIN login; a locked account is refused before any hashing.
    pub async fn reauthenticate_with_pin(
        &self,
        access_token: &str,
        pin: &Plaintext,
        ctx: &RequestContext,
    ) -> Result<Done<IssuedToken>, AppError> {
        let (id, access) = self
            .account_of_token(access_token, TokenKind::Access)
            .await?;
        let hasher = &self.inner.hasher;
        let mut verdicts = Verdicts::reserve(hasher)?;
        let token =
            Token::generate(&self.inner.rng).map_err(|e| AppError::Corrupt(e.to_string()))?;
        let (origin, policy) = (ctx.origin, self.policy());
        let committed = self
            .decide_and_commit(id, ctx, async |state: &Account, at| {
                // The access token names the account already: a lock is told, as it is.
                let guard = state.reauth_guard(at, &access, origin.as_ref(), policy);
                let (flow, wrong) = (AttemptFlow::Reauthentication, AppError::InvalidPin);
                if let Some(refused) = verdicts
                    .refusal(hasher, guard, pin, flow, wrong, false)
                    .await?
                {
                    return Ok(refused);
                }
                Ok(Decision::Decide(Command::ReauthenticateWithPin(
                    ReauthenticateWithPin {
                        at,
                        access_token: access,
                        token: token.digest(),
                        origin,
                    },
                )))
            })
            .await;
        self.upgrade_later(id, &mut verdicts, ctx);
        let committed = committed?;
        let expires_at = committed
            .events
            .iter()
            .find_map(|e| match &e.kind {
                EventKind::PinReauthenticated { token, .. } => Some(token.expires_at),
                _ => None,
            })
            .ok_or_else(|| AppError::Corrupt("a re-authentication issued no token".into()))?;
        Ok(committed.done(IssuedToken { token, expires_at }))
    }

    /// The app's backend validates a `SecondFactorValidationToken` of `account`: valid once,
    /// within its lifetime, while the access token it was issued under lives.
    pub async fn use_reauth_token(
        &self,
        account: AccountId,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<Done<()>, AppError> {
        let token = Token::parse(token)
            .ok_or(AppError::UnknownToken(TokenKind::Reauth))?
            .digest();
        let committed = self
            .run_command(account, ctx, |at| {
                Command::UseReauthToken(UseReauthToken { at, token })
            })
            .await?;
        Ok(committed.done(()))
    }
}
