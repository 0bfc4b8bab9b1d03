//! The application layer's errors. The HTTP layer maps each variant to a LoginRadius error, once.

use crate::crypto::{HashError, LookupKind};
use pinauth_domain::{DomainError, Timestamp, TokenKind};
use pinauth_store::StoreError;

/// Why a use case did not complete.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The account's state refused the command.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing failed or the pool is full.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// Unknown identifier or wrong password (one answer for both).
    #[error("invalid user id or password")]
    InvalidCredentials,
    /// A wrong PIN at PIN login.
    #[error("invalid PIN")]
    InvalidPin,
    /// A wrong old PIN at PIN change.
    #[error("the current PIN is invalid")]
    CurrentPinInvalid,
    /// The account is locked (this attempt may have been the one that locked it).
    #[error("the account is locked")]
    Locked {
        /// When the lock ends; `None` if permanent.
        until: Option<Timestamp>,
    },
    /// The email, username or phone belongs to another account.
    #[error("the {0:?} is already registered")]
    IdentifierTaken(LookupKind),
    /// The token is not one pinauth issued (or not a GUID).
    #[error("the {0:?} token is invalid")]
    UnknownToken(TokenKind),
    /// An OTP that does not match the pending challenge (or an unknown identifier with it).
    #[error("invalid OTP")]
    WrongOtp,
    /// A reset token that is not a pending challenge's.
    #[error("invalid reset token")]
    InvalidResetToken,
    /// A reset token whose challenge was already used.
    #[error("the reset link was already used")]
    ResetTokenUsed,
    /// A security answer that does not match.
    #[error("incorrect security answer")]
    WrongAnswer,
    /// An answer to a question the account has not answered.
    #[error("unknown security question")]
    UnknownQuestion,
    /// `resetpinurl` is not on the allow-list.
    #[error("the reset PIN URL is not allowed")]
    ResetUrlNotAllowed,
    /// The default message template is not configured (a configuration error).
    #[error("unknown message template")]
    UnknownTemplate,
    /// An unknown identifier, told as such (`reveal_unknown`).
    #[error("no account has this {0:?}")]
    UnknownIdentifier(LookupKind),
    /// The origin made too many requests that present a secret or cost a hash or a message.
    #[error("too many requests from this network")]
    Throttled,
    /// Too many reset requests for this identifier and channel (known or not).
    #[error("too many reset requests")]
    ResetRateLimited,
    /// Optimistic concurrency kept failing: too many writers on one account.
    #[error("too much contention on one account")]
    Contention,
    /// Personal data could not be sealed: the random source failed, or the account's data key
    /// does not unwrap (the wrapping key is not the one it was made with).
    #[error("personal data could not be sealed: {0}")]
    Sealing(String),
    /// A stored event could not be read back.
    #[error("a stored event is unreadable: {0}")]
    Corrupt(String),
}

impl AppError {
    /// Whether the store reported a conflict (retry by re-deciding).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Store(StoreError::WrongExpectedRevision { .. }))
    }
}
