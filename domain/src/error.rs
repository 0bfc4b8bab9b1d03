//! Why `decide` refused a command. Each variant names a state; the HTTP layer maps every variant to
//! a LoginRadius error code, once.

use crate::event::TokenKind;
use crate::time::Timestamp;

/// A command that the account's current state does not allow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// No account has been registered in this stream.
    #[error("the account does not exist")]
    NotRegistered,
    /// The stream already holds an account.
    #[error("the account already exists")]
    AlreadyRegistered,
    /// A registration named no email, username or phone.
    #[error("an email, username or phone is required")]
    IdentifierRequired,
    /// The account is locked until `until` (`None`: until reset or admin unlock).
    #[error("the account is locked")]
    PinLocked {
        /// When the lock ends.
        until: Option<Timestamp>,
        /// It is the strangers' lock (the attempt came from an unfamiliar origin).
        stranger: bool,
    },
    /// The configuration requires a PIN here and none was given.
    #[error("a PIN is required")]
    PinRequired,
    /// A required PIN cannot be skipped.
    #[error("the PIN is required and cannot be skipped")]
    PinSkipNotAllowed,
    /// The flow needs a PIN and none is set.
    #[error("no PIN is set")]
    PinNotSet,
    /// A PIN is already set; change or reset it instead.
    #[error("a PIN is already set")]
    PinAlreadySet,
    /// Login by PIN is turned off.
    #[error("PIN login is not enabled")]
    PinLoginDisabled,
    /// The token is not one this account holds (never issued, used, invalidated or long expired).
    #[error("the {kind:?} token is invalid")]
    TokenInvalid {
        /// Which kind was expected.
        kind: TokenKind,
    },
    /// The token was issued but its lifetime is over.
    #[error("the {kind:?} token has expired")]
    TokenExpired {
        /// Which kind was expected.
        kind: TokenKind,
    },
    /// No reset challenge of the kind presented is pending.
    #[error("there is no such reset challenge")]
    ChallengeNotFound,
    /// The reset challenge's lifetime is over.
    #[error("the reset challenge has expired")]
    ChallengeExpired,
    /// The reset challenge was already used.
    #[error("the reset challenge was already used")]
    ChallengeUsed,
    /// Too many wrong guesses against this challenge.
    #[error("the reset challenge allows no more tries")]
    ChallengeExhausted,
    /// The account has no address for the channel asked for.
    #[error("the account has no address for this channel")]
    ChannelUnavailable,
    /// The account has no security answers.
    #[error("no security answers are set")]
    SecurityAnswersNotSet,
    /// Too many wrong security answers; another reset method or an admin must help.
    #[error("no more security answer tries")]
    SecurityAnswersExhausted,
}
