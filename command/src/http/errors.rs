//! The one mapping from the application's and the domain's errors to LoginRadius errors. Codes and
//! texts come from the wire crate's catalog; this file only says which entry each variant is.

use crate::crypto::{HashError, LookupKind};
use crate::error::AppError;
use pinauth_domain::DomainError;
use pinauth_store::StoreError;
use pinauth_wire::error::{token_expired, token_invalid};
use pinauth_wire::{ApiError, Catalog};

/// Maps `e` to the LoginRadius error a client sees. Failures are logged here, not shown.
pub fn api_error(e: AppError) -> ApiError {
    match e {
        AppError::Domain(e) => domain_error(e),
        AppError::Store(StoreError::WrongExpectedRevision { .. }) | AppError::Contention => {
            Catalog::Contention.into()
        }
        AppError::Store(StoreError::Unavailable(error)) => {
            tracing::warn!(%error, "event store unavailable");
            Catalog::Unavailable.into()
        }
        AppError::Store(error) => {
            tracing::error!(%error, "event store failure");
            Catalog::Internal.into()
        }
        AppError::Hash(HashError::Overloaded) => Catalog::Overloaded.into(),
        AppError::Throttled => Catalog::Throttled.into(),
        AppError::ResetRateLimited => Catalog::ResetRateLimited.into(),
        AppError::Hash(error) => {
            tracing::error!(%error, "hashing failure");
            Catalog::Internal.into()
        }
        AppError::InvalidCredentials => Catalog::InvalidCredentials.into(),
        AppError::InvalidPin => Catalog::InvalidPin.into(),
        AppError::CurrentPinInvalid => Catalog::CurrentPinInvalid.into(),
        AppError::Locked { until } => ApiError::locked(until),
        AppError::IdentifierTaken(LookupKind::Email) => Catalog::EmailTaken.into(),
        AppError::IdentifierTaken(LookupKind::Username) => Catalog::UsernameTaken.into(),
        AppError::IdentifierTaken(LookupKind::Phone) => Catalog::PhoneTaken.into(),
        AppError::UnknownToken(kind) => token_invalid(kind),
        AppError::WrongOtp => Catalog::WrongOtp.into(),
        AppError::InvalidResetToken => Catalog::InvalidResetToken.into(),
        AppError::ResetTokenUsed => Catalog::ResetTokenUsed.into(),
        AppError::WrongAnswer => Catalog::WrongAnswer.into(),
        AppError::UnknownQuestion => Catalog::UnknownQuestion.into(),
        AppError::ResetUrlNotAllowed => Catalog::ResetUrlNotAllowed.into(),
        AppError::UnknownTemplate => ApiError::field("template", "is not a configured template"),
        AppError::UnknownIdentifier(LookupKind::Email) => Catalog::EmailNotFound.into(),
        AppError::UnknownIdentifier(LookupKind::Username) => Catalog::UsernameNotFound.into(),
        AppError::UnknownIdentifier(LookupKind::Phone) => Catalog::PhoneNotFound.into(),
        AppError::Sealing(error) => {
            tracing::error!(%error, "sealing failure");
            Catalog::Internal.into()
        }
        AppError::Corrupt(error) => {
            tracing::error!(%error, "unreadable stored event");
            Catalog::Internal.into()
        }
    }
}

/// Maps a refusal of `decide` to the LoginRadius error a client sees.
fn domain_error(e: DomainError) -> ApiError {
    match e {
        DomainError::NotRegistered => Catalog::NotRegistered.into(),
        DomainError::AlreadyRegistered => Catalog::AlreadyRegistered.into(),
        DomainError::IdentifierRequired => Catalog::IdentifierRequired.into(),
        DomainError::PinLocked { until, .. } => ApiError::locked(until),
        DomainError::PinRequired => Catalog::PinRequired.into(),
        DomainError::PinSkipNotAllowed => Catalog::PinSkipNotAllowed.into(),
        DomainError::PinNotSet => Catalog::PinNotSet.into(),
        DomainError::PinAlreadySet => ApiError::field(
            "PINInfo",
            "a PIN is already set; change or reset it instead",
        ),
        DomainError::PinLoginDisabled => Catalog::PinLoginDisabled.into(),
        DomainError::TokenInvalid { kind } => token_invalid(kind),
        DomainError::TokenExpired { kind } => token_expired(kind),
        DomainError::ChallengeNotFound => Catalog::ChallengeNotFound.into(),
        DomainError::ChallengeExpired => Catalog::ChallengeExpired.into(),
        DomainError::ChallengeUsed => Catalog::ChallengeUsed.into(),
        DomainError::ChallengeExhausted => Catalog::ChallengeExhausted.into(),
        DomainError::ChannelUnavailable => Catalog::ChannelUnavailable.into(),
        DomainError::SecurityAnswersNotSet => Catalog::SecurityAnswersNotSet.into(),
        DomainError::SecurityAnswersExhausted => Catalog::SecurityAnswersExhausted.into(),
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        api_error(e)
    }
}
