//! Deleting an account: by the app's backend at once, or by its holder through a link mailed to
//! the account's email.
//!
//! A deletion is an event (`AccountDeleted`), decided like any other; after it the account refuses
//! every command, its tokens are gone from its state (the command side) and from the read models
//! (the query side, which catches up before it answers a token). Then the deletion releases the
//! account's identifiers (the same email registers again at once) and erases its data key: its
//! sealed profile fields stay in the log, unreadable. A crash between the event and these two
//! steps is repaired by asking again: deleting a deleted account releases and erases again and
//! answers as done.

use super::recovery::known_or_default;
use super::reset_url;
use super::retry::Decision;
use super::{CommandService, Done, RequestContext};
use crate::crypto::{LookupKind, Token};
use crate::error::AppError;
use pinauth_contract::sealed::SealedSecret;
use pinauth_domain::{
    Account, AccountId, ChallengeId, Command, DeleteAccount, Deleter, RequestAccountDeletion,
    TokenKind,
};
use uuid::Uuid;

/// Who deletes an account.
pub enum Deletion<'a> {
    /// The app's backend (app secret checked by the caller).
    App(AccountId),
    /// The holder, with the delete token from the mailed link.
    Link(&'a str),
}

impl CommandService {
    /// Mails the holder of `access_token` a link that deletes the account (LoginRadius's
    /// `DELETE /auth/account`): to `delete_url` (allow-listed; the default otherwise) with
    /// `deletetoken=` appended, through the template named (or the default).
    pub async fn request_deletion(
        &self,
        access_token: &str,
        delete_url: Option<String>,
        template: Option<String>,
        ctx: &RequestContext,
    ) -> Result<Done<()>, AppError> {
        let settings = &self.inner.settings.recovery;
        let delete_url = match delete_url {
            Some(url) => reset_url::allowed(&settings.delete_url_allowlist, &url)
                .ok_or(AppError::ResetUrlNotAllowed)?
                .to_string(),
            None => settings.default_delete_url.clone(),
        };
        let template = known_or_default(template, &settings.default_delete_template, |name| {
            settings
                .email_templates
                .iter()
                .any(|(n, otp)| n == name && !otp)
        });
        let (id, access_token) = self
            .account_of_token(access_token, TokenKind::Access)
            .await?;
        let request = ChallengeId::from_uuid(Uuid::new_v4());
        let token =
            Token::generate(&self.inner.rng).map_err(|e| AppError::Corrupt(e.to_string()))?;
        let sep = if delete_url.contains('?') { '&' } else { '?' };
        let link = format!("{delete_url}{sep}deletetoken={}", token.as_string());
        let committed = self
            .decide_and_commit(id, ctx, async |state: &Account, at| {
                let identifiers = self.identifiers(state.profile()?).await?;
                // The link goes by email: an account without one is told so (1023).
                let to = identifiers
                    .email
                    .as_ref()
                    .ok_or(AppError::UnknownIdentifier(LookupKind::Email))?;
                let sealed = self
                    .seal_for_notifier(
                        &id,
                        &request,
                        &SealedSecret {
                            to: to.as_str().to_owned(),
                            secret: token.as_string(),
                            link: Some(link.clone()),
                        },
                    )
                    .await?;
                Ok(Decision::Decide(Command::RequestAccountDeletion(
                    RequestAccountDeletion {
                        at,
                        access_token,
                        request,
                        token: token.digest(),
                        sealed,
                        template: Some(template.clone()),
                    },
                )))
            })
            .await?;
        Ok(committed.done(()))
    }

    /// Deletes the account (see the module header).
    pub async fn delete_account(
        &self,
        who: Deletion<'_>,
        ctx: &RequestContext,
    ) -> Result<Done<()>, AppError> {
        let (id, by) = match who {
            Deletion::App(id) => (id, Deleter::App),
            Deletion::Link(token) => {
                let (id, token) = self.account_of_token(token, TokenKind::Deletion).await?;
                (id, Deleter::Holder { token })
            }
        };
        let committed = self
            .decide_and_commit(id, ctx, async |state: &Account, at| {
                // Deleted already (a retry after a crash, or a second call): finish the work.
                if state.deleted_at().is_some() && matches!(by, Deleter::App) {
                    return Ok(Decision::Nothing);
                }
                Ok(Decision::Decide(Command::DeleteAccount(DeleteAccount {
                    at,
                    by,
                })))
            })
            .await?;
        let now = self.now();
        if let Some(former) = committed.state.former_profile() {
            // Read before the key is erased; a retry after the erasure finds them unreadable,
            // and their lookups are then taken over after the grace period like orphans.
            let identifiers = match self.identifiers(former).await {
                Ok(identifiers) => identifiers,
                Err(AppError::Sealing(error)) => {
                    tracing::warn!(%error, "a deleted account's identifiers are unreadable: their lookups are left to the grace period");
                    pinauth_domain::Identifiers::default()
                }
                Err(other) => return Err(other),
            };
            for (kind, value) in crate::lookup::lookups_of(&identifiers) {
                self.inner
                    .lookups
                    .release_account(kind, value, id, now, ctx.request_id)
                    .await?;
            }
        }
        self.inner.vault.erase(&id).await?;
        Ok(committed.done(()))
    }
}
