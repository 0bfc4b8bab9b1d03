//! Accounts brought from elsewhere (`pinauth import`, `POST /manage/account`): created with their
//! identifiers, their `Uid` when they had one, their profile fields and security answers, and their
//! password as it was: in clear (hashed here), or as a hash made elsewhere (kept, or wrapped when
//! weak: `legacy.rs`). No PIN and no session: the holder logs in next, and the policy asks for a
//! PIN then. An account that exists already (by `Uid`, or by an identifier when no `Uid` was
//! given) is skipped, so that an import can be run again.

use super::{CommandService, Done, RequestContext};
use crate::crypto::{LookupKind, Plaintext};
use crate::error::AppError;
use crate::legacy::Brought;
use crate::lookup::lookups_of;
use pinauth_domain::{
    Account, AccountId, Command, Identifiers, ImportAccount, QuestionId, SecretHash,
    SecurityAnswerHash, decide,
};
use pinauth_wire::profile::{ProfileFields, ProfileUpdate};
use std::sync::Arc;
use uuid::Uuid;

/// The password of an imported account.
pub enum ImportedPassword {
    /// In clear: hashed with the current parameters.
    Clear(Plaintext),
    /// A hash made elsewhere, read (`legacy::read`).
    Hash(Brought),
}

/// An account to import, validated at the edge.
pub struct AccountImport {
    /// Its id elsewhere, kept; a new one when `None`.
    pub uid: Option<AccountId>,
    /// Its email, username and phone (one at least).
    pub identifiers: Identifiers,
    /// Password.
    pub password: ImportedPassword,
    /// Security answers by question (normalized).
    pub answers: Vec<(QuestionId, Plaintext)>,
    /// Profile fields.
    pub profile: ProfileUpdate,
}

/// What one read of the store said of an import's streams.
struct Seen {
    /// Its `Uid`'s account stream exists.
    account: bool,
    /// The kinds of its identifiers whose lookup streams do not exist.
    absent: Vec<LookupKind>,
}

impl AccountImport {
    /// What two imports must not share: the `Uid` and each identifier.
    pub fn keys(&self) -> Vec<String> {
        let uid = self.uid.iter().map(|u| format!("uid {u}"));
        uid.chain(lookups_of(&self.identifiers).map(|(kind, value)| format!("{kind:?} {value}")))
            .collect()
    }
}

/// What an import did.
#[derive(Clone, Debug)]
pub enum Imported {
    /// Created: the account.
    Created(Arc<Account>),
    /// Skipped: it exists already.
    Existed(Existing),
}

/// Why an import found its account existing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// An account has its `Uid` (or had: deleted accounts are not brought back).
    Uid,
    /// It has no `Uid`, and this identifier belongs to an account.
    Identifier(LookupKind),
}

impl CommandService {
    /// Imports one account.
    pub async fn import_account(
        &self,
        import: AccountImport,
        ctx: &RequestContext,
    ) -> Result<Done<Imported>, AppError> {
        let mut done = self.import_accounts(vec![import], ctx).await;
        done.pop()
            .unwrap_or_else(|| Err(AppError::Corrupt("an import answered nothing".into())))
    }

    /// Imports `imports`, each on its own (one failing fails no other), their data keys made in
    /// one write and their appends in flight together, so that the store commits many at once.
    /// Lines that share a `Uid` or an identifier with an earlier one wait for it, so that the
    /// first in the file wins, as one at a time would have it. Answers in order.
    pub async fn import_accounts(
        &self,
        imports: Vec<AccountImport>,
        ctx: &RequestContext,
    ) -> Vec<Result<Done<Imported>, AppError>> {
        let mut answers: Vec<Option<Result<Done<Imported>, AppError>>> =
            imports.iter().map(|_| None).collect();
        let mut waiting: Vec<(usize, AccountImport)> = imports.into_iter().enumerate().collect();
        while !waiting.is_empty() {
            let mut seen = std::collections::HashSet::new();
            let (round, later): (Vec<_>, Vec<_>) = waiting.into_iter().partition(|(_, import)| {
                let keys = import.keys();
                let clear = keys.iter().all(|k| !seen.contains(k));
                seen.extend(keys);
                clear
            });
            let (places, round): (Vec<usize>, Vec<AccountImport>) = round.into_iter().unzip();
            for (place, answer) in places.into_iter().zip(self.import_round(round, ctx).await) {
                if let Some(slot) = answers.get_mut(place) {
                    *slot = Some(answer);
                }
            }
            waiting = later;
        }
        answers
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Err(AppError::Corrupt("an import was left out".into()))))
            .collect()
    }

    /// Imports accounts that share no `Uid` and no identifier, all at once: one read tells which
    /// of their account and lookup streams exist (most are new), so that a new one is created
    /// without reading it first.
    async fn import_round(
        &self,
        imports: Vec<AccountImport>,
        ctx: &RequestContext,
    ) -> Vec<Result<Done<Imported>, AppError>> {
        let failed = |error: &dyn std::fmt::Display, n: usize| {
            let message = error.to_string();
            (0..n)
                .map(|_| {
                    Err(AppError::Store(pinauth_store::StoreError::Backend(
                        message.clone(),
                    )))
                })
                .collect()
        };
        let seen = match self.seen_streams(&imports).await {
            Ok(seen) => seen,
            Err(error) => return failed(&error, imports.len()),
        };
        let existing = futures_util::future::join_all(
            imports
                .iter()
                .zip(&seen)
                .map(|(import, seen)| self.existing_account(import, seen)),
        )
        .await;
        let mut ids = Vec::with_capacity(imports.len());
        let mut fresh = Vec::new();
        for (import, existing) in imports.iter().zip(&existing) {
            let id = import
                .uid
                .unwrap_or_else(|| AccountId::from_uuid(Uuid::new_v4()));
            if matches!(existing, Ok(None)) {
                fresh.push(id);
            }
            ids.push(id);
        }
        if let Err(error) = self.inner.vault.create_keys(&fresh).await {
            return failed(&error, imports.len());
        }
        let created = imports.into_iter().zip(ids).zip(existing).zip(seen).map(
            |(((import, id), existing), seen)| async move {
                // A request of its own: the ids of its events derive from it, and two accounts
                // claiming one identifier must not look like one append retried.
                let ctx = RequestContext {
                    request_id: Uuid::new_v4(),
                    ..ctx.clone()
                };
                match existing? {
                    Some(existing) => Ok(Done {
                        value: Imported::Existed(existing),
                        position: None,
                    }),
                    None => self.create_imported(id, import, &ctx, &seen.absent).await,
                }
            },
        );
        futures_util::future::join_all(created).await
    }

    /// For each import, whether its account stream exists and which of its lookups do not, from
    /// one read of the store.
    async fn seen_streams(&self, imports: &[AccountImport]) -> Result<Vec<Seen>, AppError> {
        let mut streams = Vec::new();
        let mut asked: Vec<(bool, Vec<LookupKind>)> = Vec::with_capacity(imports.len());
        for import in imports {
            let account = match import.uid {
                Some(uid) => {
                    streams.push(super::repository::account_stream(uid)?);
                    true
                }
                None => false,
            };
            let mut kinds = Vec::new();
            for (kind, value) in lookups_of(&import.identifiers) {
                streams.push(self.inner.lookups.stream(kind, value)?);
                kinds.push(kind);
            }
            asked.push((account, kinds));
        }
        let exist = self
            .inner
            .repository
            .store()
            .existing_streams(streams)
            .await?;
        let mut exist = exist.into_iter();
        let mut seen = Vec::with_capacity(asked.len());
        for (account, kinds) in asked {
            let account = account && exist.next().unwrap_or(true);
            let mut absent = Vec::new();
            for kind in kinds {
                if !exist.next().unwrap_or(true) {
                    absent.push(kind);
                }
            }
            seen.push(Seen { account, absent });
        }
        Ok(seen)
    }

    /// Whether `import` exists already: its `Uid` has an account (live or deleted), or, without a
    /// `Uid`, one of its identifiers is claimed (a `Uid` whose identifiers another account holds is
    /// refused when they are claimed). Only the lookups whose streams exist are read.
    async fn existing_account(
        &self,
        import: &AccountImport,
        seen: &Seen,
    ) -> Result<Option<Existing>, AppError> {
        if import.uid.is_some() {
            return Ok(seen.account.then_some(Existing::Uid));
        }
        for (kind, value) in lookups_of(&import.identifiers) {
            if seen.absent.contains(&kind) {
                continue;
            }
            // A claim whose account was never written (an import or registration that stopped
            // between the two) is not an account: the line is imported, and its claim taken over.
            let Some(owner) = self.owner(kind, value).await? else {
                continue;
            };
            if self.is_registered(owner).await? {
                return Ok(Some(Existing::Identifier(kind)));
            }
        }
        Ok(None)
    }

    async fn create_imported(
        &self,
        id: AccountId,
        import: AccountImport,
        ctx: &RequestContext,
        absent: &[LookupKind],
    ) -> Result<Done<Imported>, AppError> {
        let at = self.now();
        let hasher = &self.inner.hasher;
        let password_hash = match import.password {
            ImportedPassword::Clear(ref password) => hasher.hash(password).await?,
            ImportedPassword::Hash(Brought::Kept(ref kept)) => SecretHash::from_phc(kept.clone()),
            ImportedPassword::Hash(Brought::Weak {
                ref recipe,
                ref digest,
            }) => hasher.wrap(recipe.clone(), digest.clone()).await?,
        };
        let mut security_answers = Vec::with_capacity(import.answers.len());
        for (question_id, answer) in &import.answers {
            security_answers.push(SecurityAnswerHash {
                question_id: question_id.clone(),
                answer_hash: hasher.hash(answer).await?,
            });
        }
        let mut fields = ProfileFields::new();
        fields.apply(&import.profile);
        let profile = match fields.is_empty() {
            true => None,
            false => Some(self.seal_profile(&id, &fields).await?),
        };
        let plain = &import.identifiers;
        let identifiers = self.seal_identifiers(&id, plain).await?;
        let events = decide(
            &Account::default(),
            Command::ImportAccount(ImportAccount {
                at,
                account_id: id,
                identifiers,
                password_hash,
                security_answers,
                profile,
            }),
            self.policy(),
        )?;
        match self
            .create_account(id, plain, events, ctx, at, absent)
            .await
        {
            Ok(committed) => Ok(Done {
                value: Imported::Created(committed.state),
                position: committed.position,
            }),
            // Imported meanwhile (by a run beside this one): as if it had existed.
            Err(e) if e.is_conflict() && import.uid.is_some() => Ok(Done {
                value: Imported::Existed(Existing::Uid),
                position: None,
            }),
            Err(e) => Err(e),
        }
    }
}
