//! Profile fields: sealed under the account's data key in `ProfileUpdated`, opened for answers,
//! changed by their holder (with an access token) or by the app (with the app secret).
//!
//! An update is merged into the fields opened from the state it is decided on, inside the
//! decide-append loop, so two concurrent updates of different fields both land; a `PINInfo` that
//! comes with it is decided in the same append.

use super::retry::Decision;
use super::verdicts::NewPin;
use super::{CommandService, Done, RequestContext};
use crate::error::AppError;
use pinauth_contract::datakey::{IDENTIFIERS, PROFILE};
use pinauth_contract::vault::{Opened, VaultError};
use pinauth_domain::{
    Account, AccountId, Command, DomainError, Identifiers, Pin, Profile, ProfileEditor as Editor,
    Sealed, SealedIdentifiers, SetPin, SetPinVia, SkipPin, TokenKind, UpdateProfile,
};
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

/// What a profile update does to an optional PIN (`PINInfo`).
pub enum PinInfo<'a> {
    /// Sets it.
    Set(&'a Pin),
    /// Skips it.
    Skip,
}

impl CommandService {
    /// The profile fields of `account`, opened, for an answer. Fields that cannot be read (the
    /// key store fails, the key is erased, the bytes do not open) read as none and the failure is
    /// logged: a profile answer never fails a login that was already written.
    pub async fn profile_fields(&self, account: &Account) -> ProfileFields {
        match self.open_profile(account).await {
            Ok(Some(fields)) => fields,
            Ok(None) => ProfileFields::new(),
            Err(error) => {
                tracing::warn!(%error, "profile fields cannot be read; answered without them");
                ProfileFields::new()
            }
        }
    }

    /// The profile fields of `account`: `Ok(None)` when they cannot be read although a profile
    /// is stored (its key is erased or missing, or the bytes do not open), which an update must
    /// not take for "no fields".
    async fn open_profile(&self, account: &Account) -> Result<Option<ProfileFields>, AppError> {
        let (Some(sealed), Ok(profile)) = (account.profile_fields(), account.profile()) else {
            return Ok(Some(ProfileFields::new()));
        };
        let id = profile.account_id;
        Ok(match self.inner.vault.open(&id, PROFILE, sealed).await? {
            Opened::Plain(json) => match ProfileFields::from_json(&json) {
                Some(fields) => Some(fields),
                None => {
                    tracing::error!(account = %id, "a sealed profile is not a JSON object");
                    None
                }
            },
            Opened::Erased => {
                tracing::error!(account = %id, "the data key of a stored profile is missing: was the key store restored apart from the log?");
                None
            }
            Opened::Invalid => {
                tracing::error!(account = %id, "a sealed profile does not open under its account's key");
                None
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

    /// Applies `update` to the profile fields of the editor's account, and `pin` to its optional
    /// PIN, in one append (both or neither); answers the account and its fields after it. An
    /// update that changes nothing writes nothing. Stored fields that cannot be read are not
    /// overwritten: the update is refused.
    pub async fn update_profile(
        &self,
        editor: ProfileEditor<'_>,
        update: &ProfileUpdate,
        pin: Option<PinInfo<'_>>,
        ctx: &RequestContext,
    ) -> Result<Done<(Account, ProfileFields)>, AppError> {
        let (id, by) = match editor {
            ProfileEditor::Holder(token) => {
                let (id, access_token) = self.account_of_token(token, TokenKind::Access).await?;
                (id, Editor::Holder { access_token })
            }
            ProfileEditor::App(id) => (id, Editor::App),
        };
        let mut new_pin = match &pin {
            Some(PinInfo::Set(pin)) => Some(NewPin::new(pin)),
            _ => None,
        };
        let mut after = ProfileFields::new();
        let committed = self
            .decide_and_commit(id, ctx, async |state: &Account, at| {
                if let Editor::Holder { access_token } = by {
                    state.token(at, TokenKind::Access, &access_token)?;
                }
                state.profile()?;
                let mut commands = Vec::new();
                match (&pin, by) {
                    (None, _) => {}
                    (Some(PinInfo::Skip), Editor::Holder { access_token }) => {
                        commands.push(Command::SkipPin(SkipPin { at, access_token }));
                    }
                    (Some(PinInfo::Set(_)), Editor::Holder { access_token }) => {
                        // Refuse what would be refused before spending a hash on the PIN.
                        if state.pin().hash.is_some() {
                            return Err(DomainError::PinAlreadySet.into());
                        }
                        let pin_hash = match new_pin.as_mut() {
                            Some(new_pin) => new_pin.hash(self).await?,
                            None => return Err(DomainError::PinNotSet.into()),
                        };
                        commands.push(Command::SetPin(SetPin {
                            at,
                            pin_hash,
                            via: SetPinVia::ProfileUpdate { access_token },
                        }));
                    }
                    (Some(_), Editor::App) => {}
                }
                let before = self
                    .open_profile(state)
                    .await?
                    .ok_or_else(|| AppError::Sealing("the stored profile cannot be read".into()))?;
                after = before.clone();
                after.apply(update);
                if after != before {
                    commands.push(Command::UpdateProfile(UpdateProfile {
                        at,
                        by,
                        profile: self.seal_profile(&id, &after).await?,
                    }));
                }
                Ok(match commands.len() {
                    0 => Decision::Nothing,
                    _ => Decision::DecideAll(commands),
                })
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

impl CommandService {
    /// The identifiers of `profile` in plain text: opened from their seal, or as registered
    /// before identifiers were sealed. An error when they cannot be read (the data key is gone).
    pub(super) async fn identifiers(&self, profile: &Profile) -> Result<Identifiers, AppError> {
        if let Some(plain) = profile.plain_identifiers() {
            return Ok(plain);
        }
        let Some(sealed) = &profile.identifiers else {
            return Ok(Identifiers::default());
        };
        let id = profile.account_id;
        match self
            .inner
            .vault
            .open(&id, IDENTIFIERS, &sealed.sealed)
            .await?
        {
            Opened::Plain(json) => serde_json::from_slice(&json)
                .map_err(|_| AppError::Corrupt(format!("the identifiers of {id} are not JSON"))),
            Opened::Erased => Err(AppError::Sealing(format!(
                "the data key of account {id} is missing: its identifiers cannot be read"
            ))),
            Opened::Invalid => Err(AppError::Sealing(format!(
                "the identifiers of account {id} do not open under its key"
            ))),
        }
    }

    /// [`Self::identifiers`] for an answer: what cannot be read is answered as none, and logged.
    pub async fn identifiers_or_none(&self, account: &Account) -> Identifiers {
        let Ok(profile) = account.profile() else {
            return Identifiers::default();
        };
        self.identifiers(profile).await.unwrap_or_else(|error| {
            tracing::warn!(%error, "identifiers cannot be read; answered without them");
            Identifiers::default()
        })
    }

    /// `identifiers` sealed under the data key of `id` (made now if it has none).
    pub(super) async fn seal_identifiers(
        &self,
        id: &AccountId,
        identifiers: &Identifiers,
    ) -> Result<SealedIdentifiers, AppError> {
        let json = serde_json::to_vec(identifiers).map_err(|e| AppError::Sealing(e.to_string()))?;
        Ok(SealedIdentifiers {
            kinds: identifiers.kinds(),
            sealed: self.inner.vault.seal(id, IDENTIFIERS, &json).await?,
        })
    }
}
