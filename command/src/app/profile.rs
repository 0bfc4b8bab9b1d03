//! Profile fields: sealed under the account's data key in `ProfileUpdated`, opened for answers,
//! changed by their holder (with an access token) or by the app (with the app secret).
//!
//! An update is merged into the fields opened from the state it is decided on, inside the
//! decide-append loop, so two concurrent updates of different fields both land.

use super::retry::Decision;
use super::{CommandService, Done, RequestContext};
use crate::error::AppError;
use pinauth_contract::datakey::PROFILE;
use pinauth_contract::vault::{Opened, VaultError};
use pinauth_domain::UpdateProfile;
use pinauth_domain::{Account, AccountId, Command, ProfileEditor as Editor, Sealed, TokenKind};
use pinauth_wire::profile::{ProfileFields, ProfileUpdate};
use std::sync::Arc;

/// Who asks for a profile change.
pub enum ProfileEditor<'a> {
    /// The holder, with this access token.
    Holder(&'a str),
    /// The app's backend (app secret checked by the caller), for this account.
    App(AccountId),
}

impl From<VaultError> for AppError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::Store(e) => Self::Store(e),
            other => Self::Sealing(other.to_string()),
        }
    }
}

impl CommandService {
    /// The profile fields of `account`, opened. Fields that do not open (an erased key, altered
    /// bytes) read as none, and the second is logged: a profile never stops a login.
    pub async fn profile_fields(&self, account: &Account) -> Result<ProfileFields, AppError> {
        let (Some(sealed), Ok(profile)) = (account.profile_fields(), account.profile()) else {
            return Ok(ProfileFields::new());
        };
        let id = profile.account_id;
        Ok(match self.inner.vault.open(&id, PROFILE, sealed).await? {
            Opened::Plain(json) => ProfileFields::from_json(&json).unwrap_or_else(|| {
                tracing::error!(account = %id, "a sealed profile is not a JSON object");
                ProfileFields::new()
            }),
            Opened::Erased => ProfileFields::new(),
            Opened::Invalid => {
                tracing::error!(account = %id, "a sealed profile does not open under its account's key");
                ProfileFields::new()
            }
        })
    }

    /// `fields` sealed under the data key of `id` (made now if it has none).
    pub(super) async fn seal_profile(
        &self,
        id: &AccountId,
        fields: &ProfileFields,
    ) -> Result<Sealed, AppError> {
        Ok(self
            .inner
            .vault
            .seal(id, PROFILE, &fields.to_json())
            .await?)
    }

    /// Applies `update` to the profile fields of the editor's account; answers the account and
    /// its fields after it. An update that changes nothing writes nothing.
    pub async fn update_profile(
        &self,
        editor: ProfileEditor<'_>,
        update: &ProfileUpdate,
        ctx: &RequestContext,
    ) -> Result<Done<(Account, ProfileFields)>, AppError> {
        let (id, by) = match editor {
            ProfileEditor::Holder(token) => {
                let (id, access_token) = self.account_of_token(token, TokenKind::Access).await?;
                (id, Editor::Holder { access_token })
            }
            ProfileEditor::App(id) => (id, Editor::App),
        };
        let mut after = ProfileFields::new();
        let committed = self
            .decide_and_commit(id, ctx, async |state: &Account, at| {
                state.profile()?;
                if let Editor::Holder { access_token } = by {
                    state.token(at, TokenKind::Access, &access_token)?;
                }
                let before = self.profile_fields(state).await?;
                after = before.clone();
                after.apply(update);
                if after == before {
                    return Ok(Decision::Nothing);
                }
                Ok(Decision::Decide(Command::UpdateProfile(UpdateProfile {
                    at,
                    by,
                    profile: self.seal_profile(&id, &after).await?,
                })))
            })
            .await?;
        Ok(Done {
            value: (Arc::unwrap_or_clone(committed.state), after),
            position: committed.position,
        })
    }

    /// The account `id`, for the app's backend; 938 when no account has it.
    pub async fn account_by_id(&self, id: AccountId) -> Result<Account, AppError> {
        let loaded = self.inner.repository.load(id).await?;
        loaded.state.profile()?;
        Ok(Account::clone(&loaded.state))
    }
}
