//! Commands: what a client asks for, imperative, with everything impure already resolved.
//!
//! The command layer verifies secrets (argon2id), draws random tokens and reads the clock before it
//! builds a command, so `decide` stays pure: a command that says `LogInWithPin` means the PIN was
//! right; a wrong one arrives as `FailPinAttempt`.

use crate::event::{
    AttemptFlow, ChallengeSecret, ResetChannel, SealedIdentifiers, SecurityAnswerHash,
};
use crate::ids::{AccountId, ChallengeId, Digest, Origin, Sealed, SecretHash};
use crate::time::Timestamp;
use crate::values::{Email, IdentifierKind, Phone, Username};

/// Fresh tokens drawn for a login; `decide` issues the ones the situation calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewTokens {
    /// Candidate access token.
    pub access: Digest,
    /// Candidate refresh token.
    pub refresh: Digest,
    /// Candidate PIN session token.
    pub session: Digest,
}

/// What the registration said about the PIN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinChoice {
    /// A PIN was given (already checked against the policy and hashed).
    Given(SecretHash),
    /// `PINInfo.Skipped` was true.
    Skipped,
    /// No `PINInfo`.
    Absent,
}

/// Create an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterAccount {
    /// Now.
    pub at: Timestamp,
    /// The new account's id.
    pub account_id: AccountId,
    /// The identifiers, sealed (what the command service gives; the plain ones are `None`).
    pub identifiers: Option<SealedIdentifiers>,
    /// Email in plain text (domain tests, and tools replaying old events).
    pub email: Option<Email>,
    /// Username, if given.
    pub username: Option<Username>,
    /// Phone, if given.
    pub phone: Option<Phone>,
    /// argon2id of the password.
    pub password_hash: SecretHash,
    /// Hashed security answers.
    pub security_answers: Vec<SecurityAnswerHash>,
    /// The PIN, if any.
    pub pin: PinChoice,
    /// Tokens for the first session.
    pub tokens: NewTokens,
    /// A PinAuthToken, used if a required PIN was not given.
    pub pin_auth_token: Digest,
    /// Where the request came from (`None`: no address known, a stranger).
    pub origin: Option<Origin>,
    /// The profile fields given, sealed under the account's data key.
    pub profile: Option<Sealed>,
}

/// The password was verified: start a session, or ask for the PIN first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogInWithPassword {
    /// Now.
    pub at: Timestamp,
    /// Tokens for the session.
    pub tokens: NewTokens,
    /// A PinAuthToken, used if a required PIN is not set.
    pub pin_auth_token: Digest,
    /// Where the request came from (`None`: no address known, a stranger).
    pub origin: Option<Origin>,
}

/// How a PIN is being set for the first time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetPinVia {
    /// With the PinAuthToken of error 1243; a session starts.
    PinAuthToken {
        /// The token presented.
        token: Digest,
        /// Tokens for the session.
        tokens: NewTokens,
    },
    /// With an access token, through a profile update.
    ProfileUpdate {
        /// The access token presented.
        access_token: Digest,
    },
}

/// Set the PIN where none is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetPin {
    /// Now.
    pub at: Timestamp,
    /// argon2id of the new PIN.
    pub pin_hash: SecretHash,
    /// How.
    pub via: SetPinVia,
}

/// Decline an optional PIN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SkipPin {
    /// Now.
    pub at: Timestamp,
    /// The access token presented.
    pub access_token: Digest,
}

/// The PIN was verified under a session token: issue an access token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogInWithPin {
    /// Now.
    pub at: Timestamp,
    /// The PIN session token presented.
    pub session_token: Digest,
    /// New access token.
    pub access: Digest,
    /// New refresh token.
    pub refresh: Digest,
    /// Where the request came from (`None`: no address known, a stranger).
    pub origin: Option<Origin>,
}

/// A wrong secret was presented in `flow`, or any attempt while locked: record and count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailPinAttempt {
    /// Now.
    pub at: Timestamp,
    /// Where.
    pub flow: AttemptFlow,
    /// Where the request came from (`None`: no address known, a stranger).
    pub origin: Option<Origin>,
}

/// The old PIN was verified: replace it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangePin {
    /// Now.
    pub at: Timestamp,
    /// The access token presented.
    pub access_token: Digest,
    /// argon2id of the new PIN.
    pub new_pin_hash: SecretHash,
    /// Where the request came from (`None`: no address known, a stranger).
    pub origin: Option<Origin>,
}

/// Re-authenticate with the PIN under an access token (the PIN was verified).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReauthenticateWithPin {
    /// When.
    pub at: Timestamp,
    /// The access token presented.
    pub access_token: Digest,
    /// The new `SecondFactorValidationToken`.
    pub token: Digest,
    /// Where the request came from.
    pub origin: Option<Origin>,
}

/// The app's backend validates a `SecondFactorValidationToken`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UseReauthToken {
    /// When.
    pub at: Timestamp,
    /// The token presented.
    pub token: Digest,
}

/// End one refresh token (its access token lives on until it expires, as on LoginRadius).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevokeRefreshToken {
    /// When.
    pub at: Timestamp,
    /// The refresh token presented.
    pub refresh_token: Digest,
}

/// End one PIN session token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidatePinSession {
    /// Now.
    pub at: Timestamp,
    /// The token.
    pub session_token: Digest,
}

/// End one access token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidateAccessToken {
    /// Now.
    pub at: Timestamp,
    /// The token.
    pub access_token: Digest,
    /// End its refresh tokens as well.
    pub prevent_refresh: bool,
}

/// Exchange a refresh token for a new access token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshAccessToken {
    /// Now.
    pub at: Timestamp,
    /// The refresh token presented.
    pub refresh_token: Digest,
    /// The new access token.
    pub access: Digest,
}

/// Start a PIN reset: a link or an OTP goes to the account's email or phone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestPinReset {
    /// Now.
    pub at: Timestamp,
    /// The new challenge's id.
    pub challenge_id: ChallengeId,
    /// The identifier the request named.
    pub via: IdentifierKind,
    /// Where the message goes.
    pub channel: ResetChannel,
    /// Digest of what must be brought back.
    pub secret: ChallengeSecret,
    /// The OTP or token sealed for the notifier.
    pub sealed: Sealed,
    /// Template name asked for.
    pub template: Option<String>,
    /// Allow-listed reset URL.
    pub reset_url: Option<String>,
    /// Where the request came from (`None`: no address known, a stranger).
    pub origin: Option<Origin>,
    /// Issued to the app's backend (a multipurpose token), which delivers it: nothing is sent.
    pub by_app: bool,
}

/// The OTP was verified against the active challenge: set the new PIN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResetPinViaOtp {
    /// Now.
    pub at: Timestamp,
    /// The identifier presented with the OTP.
    pub via: IdentifierKind,
    /// argon2id of the new PIN.
    pub pin_hash: SecretHash,
    /// Where the request came from (strangers' tries are counted apart).
    pub origin: Option<Origin>,
}

/// A reset token was presented: set the new PIN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResetPinViaToken {
    /// Now.
    pub at: Timestamp,
    /// SHA-256 of the reset token.
    pub token: Digest,
    /// argon2id of the new PIN.
    pub pin_hash: SecretHash,
}

/// The security answers were verified: set the new PIN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResetPinViaSecurityAnswer {
    /// Now.
    pub at: Timestamp,
    /// The identifier presented with the answers.
    pub via: IdentifierKind,
    /// argon2id of the new PIN.
    pub pin_hash: SecretHash,
    /// Where the request came from (`None`: no address known, a stranger).
    pub origin: Option<Origin>,
}

/// Who changes a profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileEditor {
    /// Its holder, with this access token.
    Holder {
        /// The access token presented.
        access_token: Digest,
    },
    /// The app's backend, with the app secret.
    App,
}

/// Replace the profile fields (the command layer merged the update into the fields it opened).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateProfile {
    /// Now.
    pub at: Timestamp,
    /// Who.
    pub by: ProfileEditor,
    /// Every profile field after the update, sealed under the account's data key.
    pub profile: Sealed,
}

/// The holder asks for the account's deletion link, with an access token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestAccountDeletion {
    /// Now.
    pub at: Timestamp,
    /// The access token presented.
    pub access_token: Digest,
    /// The message's id.
    pub request: ChallengeId,
    /// The new delete token.
    pub token: Digest,
    /// The address and link, sealed for the notifier.
    pub sealed: Sealed,
    /// The message template asked for, if any.
    pub template: Option<String>,
}

/// Who deletes an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deleter {
    /// Its holder, with the delete token from the mailed link.
    Holder {
        /// The delete token presented.
        token: Digest,
    },
    /// The app's backend, with the app secret.
    App,
}

/// Create an account brought from elsewhere, with its password hash as it was there: no PIN, no
/// session (its holder logs in next, and sets a PIN as the policy asks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportAccount {
    /// Now.
    pub at: Timestamp,
    /// The account, with the id it had elsewhere.
    pub account_id: AccountId,
    /// The identifiers, sealed.
    pub identifiers: SealedIdentifiers,
    /// The password hash: pinauth's own, kept from elsewhere, or wrapped.
    pub password_hash: SecretHash,
    /// Hashed security answers.
    pub security_answers: Vec<SecurityAnswerHash>,
    /// Profile fields, sealed.
    pub profile: Option<Sealed>,
}

/// Replace a hash that verified under an earlier scheme with one under the current scheme; a
/// no-op when the account no longer holds `old` (the secret changed meanwhile).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpgradeHash {
    /// Now.
    pub at: Timestamp,
    /// The hash that verified.
    pub old: SecretHash,
    /// The same secret under the current scheme.
    pub new: SecretHash,
    /// The old scheme's name.
    pub from: String,
}

/// Delete the account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeleteAccount {
    /// Now.
    pub at: Timestamp,
    /// Who.
    pub by: Deleter,
}

/// An administrator clears the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnlockPin {
    /// Now.
    pub at: Timestamp,
}

/// Every command an account accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// See [`RegisterAccount`].
    RegisterAccount(RegisterAccount),
    /// See [`LogInWithPassword`].
    LogInWithPassword(LogInWithPassword),
    /// See [`SetPin`].
    SetPin(SetPin),
    /// See [`SkipPin`].
    SkipPin(SkipPin),
    /// See [`LogInWithPin`].
    LogInWithPin(LogInWithPin),
    /// See [`FailPinAttempt`].
    FailPinAttempt(FailPinAttempt),
    /// See [`ChangePin`].
    ChangePin(ChangePin),
    /// See [`InvalidatePinSession`].
    InvalidatePinSession(InvalidatePinSession),
    /// See [`InvalidateAccessToken`].
    InvalidateAccessToken(InvalidateAccessToken),
    /// See [`RefreshAccessToken`].
    RefreshAccessToken(RefreshAccessToken),
    /// See [`RequestPinReset`].
    RequestPinReset(RequestPinReset),
    /// See [`ResetPinViaOtp`].
    ResetPinViaOtp(ResetPinViaOtp),
    /// See [`ResetPinViaToken`].
    ResetPinViaToken(ResetPinViaToken),
    /// See [`ResetPinViaSecurityAnswer`].
    ResetPinViaSecurityAnswer(ResetPinViaSecurityAnswer),
    /// See [`UnlockPin`].
    UnlockPin(UnlockPin),
    /// See [`ReauthenticateWithPin`].
    ReauthenticateWithPin(ReauthenticateWithPin),
    /// See [`UseReauthToken`].
    UseReauthToken(UseReauthToken),
    /// See [`RevokeRefreshToken`].
    RevokeRefreshToken(RevokeRefreshToken),
    /// See [`UpdateProfile`].
    UpdateProfile(UpdateProfile),
    /// See [`RequestAccountDeletion`].
    RequestAccountDeletion(RequestAccountDeletion),
    /// See [`DeleteAccount`].
    DeleteAccount(DeleteAccount),
    /// See [`ImportAccount`].
    ImportAccount(ImportAccount),
    /// See [`UpgradeHash`].
    UpgradeHash(UpgradeHash),
}

impl Command {
    /// When the command was issued.
    pub fn at(&self) -> Timestamp {
        match self {
            Self::RegisterAccount(c) => c.at,
            Self::LogInWithPassword(c) => c.at,
            Self::SetPin(c) => c.at,
            Self::SkipPin(c) => c.at,
            Self::LogInWithPin(c) => c.at,
            Self::FailPinAttempt(c) => c.at,
            Self::ChangePin(c) => c.at,
            Self::InvalidatePinSession(c) => c.at,
            Self::InvalidateAccessToken(c) => c.at,
            Self::RefreshAccessToken(c) => c.at,
            Self::RequestPinReset(c) => c.at,
            Self::ResetPinViaOtp(c) => c.at,
            Self::ResetPinViaToken(c) => c.at,
            Self::ResetPinViaSecurityAnswer(c) => c.at,
            Self::UnlockPin(c) => c.at,
            Self::ReauthenticateWithPin(c) => c.at,
            Self::UseReauthToken(c) => c.at,
            Self::RevokeRefreshToken(c) => c.at,
            Self::UpdateProfile(c) => c.at,
            Self::RequestAccountDeletion(c) => c.at,
            Self::DeleteAccount(c) => c.at,
            Self::ImportAccount(c) => c.at,
            Self::UpgradeHash(c) => c.at,
        }
    }
}
