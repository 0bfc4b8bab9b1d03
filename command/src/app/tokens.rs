//! Ending tokens, refreshing an access token, and routing a presented token to its account.

use super::login::Candidates;
use super::{CommandService, Done, IssuedToken, RequestContext};
use crate::crypto::Token;
use crate::error::AppError;
use pinauth_domain::{
    Account, AccountId, Command, Digest, EventKind, InvalidateAccessToken, InvalidatePinSession,
    RefreshAccessToken, RevokeRefreshToken, TokenKind,
};
use std::sync::Arc;

impl CommandService {
    /// Ends one PIN session token.
    pub async fn invalidate_pin_session(
        &self,
        session_token: &str,
        ctx: &RequestContext,
    ) -> Result<Done<()>, AppError> {
        let (id, session_token) = self
            .account_of_token(session_token, TokenKind::PinSession)
            .await?;
        let committed = self
            .run_command(id, ctx, |at| {
                Command::InvalidatePinSession(InvalidatePinSession { at, session_token })
            })
            .await?;
        Ok(committed.done(()))
    }

    /// Ends one access token, and its refresh tokens when `prevent_refresh`.
    pub async fn invalidate_access_token(
        &self,
        access_token: &str,
        prevent_refresh: bool,
        ctx: &RequestContext,
    ) -> Result<Done<()>, AppError> {
        let (id, access_token) = self
            .account_of_token(access_token, TokenKind::Access)
            .await?;
        let committed = self
            .run_command(id, ctx, |at| {
                Command::InvalidateAccessToken(InvalidateAccessToken {
                    at,
                    access_token,
                    prevent_refresh,
                })
            })
            .await?;
        Ok(committed.done(()))
    }

    /// Ends a refresh token at the app backend's request; its access token lives on.
    pub async fn revoke_refresh_token(
        &self,
        refresh_token: &str,
        ctx: &RequestContext,
    ) -> Result<Done<()>, AppError> {
        let (id, refresh_token) = self
            .account_of_token(refresh_token, TokenKind::Refresh)
            .await?;
        let committed = self
            .run_command(id, ctx, |at| {
                Command::RevokeRefreshToken(RevokeRefreshToken { at, refresh_token })
            })
            .await?;
        Ok(committed.done(()))
    }

    /// Exchanges a refresh token for a new access token.
    pub async fn refresh_access_token(
        &self,
        refresh_token: &str,
        ctx: &RequestContext,
    ) -> Result<Done<(IssuedToken, IssuedToken, Account)>, AppError> {
        let (id, refresh_digest) = self
            .account_of_token(refresh_token, TokenKind::Refresh)
            .await?;
        let candidates = Candidates::draw(&self.inner.rng)?;
        let committed = self
            .run_command(id, ctx, |at| {
                Command::RefreshAccessToken(RefreshAccessToken {
                    at,
                    refresh_token: refresh_digest,
                    access: candidates.access.digest(),
                })
            })
            .await?;
        let refresh = committed
            .state
            .token(self.now(), TokenKind::Refresh, &refresh_digest)
            .ok()
            .map(|t| t.expires_at);
        let access = committed.events.iter().find_map(|e| match &e.kind {
            EventKind::AccessTokenRefreshed { access, .. } => Some(access.expires_at),
            _ => None,
        });
        match (access, refresh, Token::parse(refresh_token)) {
            (Some(access_exp), Some(refresh_exp), Some(refresh_token)) => Ok(Done {
                value: (
                    IssuedToken {
                        token: candidates.access,
                        expires_at: access_exp,
                    },
                    IssuedToken {
                        token: refresh_token,
                        expires_at: refresh_exp,
                    },
                    Arc::unwrap_or_clone(committed.state),
                ),
                position: committed.position,
            }),
            _ => Err(AppError::Corrupt(
                "a refresh decided no new access token".into(),
            )),
        }
    }

    /// The account an access token belongs to, as of now (for profile reads on the command side).
    pub async fn account_by_access_token(&self, access_token: &str) -> Result<Account, AppError> {
        let (id, digest) = self
            .account_of_token(access_token, TokenKind::Access)
            .await?;
        let loaded = self.inner.repository.load(id).await?;
        loaded.state.token(self.now(), TokenKind::Access, &digest)?;
        Ok(Arc::unwrap_or_clone(loaded.state))
    }

    // ---- routing -------------------------------------------------------------------------

    /// The account a presented token routes to, and the token's digest.
    pub(super) async fn account_of_token(
        &self,
        presented: &str,
        kind: TokenKind,
    ) -> Result<(AccountId, Digest), AppError> {
        let token = Token::parse(presented).ok_or(AppError::UnknownToken(kind))?;
        let digest = token.digest();
        let id = self
            .route(&digest)
            .await?
            .ok_or(AppError::UnknownToken(kind))?;
        Ok((id, digest))
    }

    /// The account the token of SHA-256 `digest` was issued to. The index is caught up to the
    /// store's head before a token is called unknown: one read of the head when nothing was
    /// written since the last catch-up.
    pub(super) async fn route(&self, digest: &Digest) -> Result<Option<AccountId>, AppError> {
        let routes = &self.inner.routes;
        if let Some(id) = routes.read(|r| r.account_of(digest)) {
            return Ok(Some(id));
        }
        routes.catch_up().await?;
        Ok(routes.read(|r| r.account_of(digest)))
    }
}
