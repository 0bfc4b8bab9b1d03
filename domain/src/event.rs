//! Events: what happened to one account, past tense, stable names, stored as JSON.
//!
//! The `event_type` string of each variant is part of the storage format: renaming one would orphan
//! every stored event of that type, so `Event::event_type` lists them explicitly and a test checks
//! that it agrees with the serialized tag. Only digests and hashes of secrets appear here.

use crate::ids::{AccountId, ChallengeId, Digest, Origin, Sealed, SecretHash};
use crate::time::Timestamp;
use crate::values::{Email, IdentifierKind, IdentifierKinds, Phone, QuestionId, Username};
use serde::{Deserialize, Serialize};

mod stored;

/// One event of an account stream: when it happened and what happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When the command that caused it was decided.
    pub at: Timestamp,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// The stable type name stored beside the event.
    pub fn event_type(&self) -> &'static str {
        self.kind.event_type()
    }
}

/// The kinds of token an account holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TokenKind {
    /// Bearer token for the account API (`access_token`).
    Access,
    /// Exchanged for a new access token (`refresh_token`).
    Refresh,
    /// Allows login by PIN alone (`session_token`).
    PinSession,
    /// Allows setting a required PIN after a password login (`PINAuthToken`, error 1243).
    PinAuth,
    /// Proves a recent PIN re-authentication to the app's backend, once
    /// (`SecondFactorValidationToken`).
    Reauth,
    /// Confirms the deletion of the account, from the link mailed to its holder (`deletetoken`).
    Deletion,
}

/// A token handed out: the digest of its value and when it stops being valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedToken {
    /// SHA-256 of the token.
    pub hash: Digest,
    /// The first instant at which it is no longer valid.
    pub expires_at: Timestamp,
}

/// A live token ended because a newer one took its kind over the account's session limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndedToken {
    /// Its kind.
    pub kind: TokenKind,
    /// SHA-256 of the token.
    pub hash: Digest,
}

/// How a session (access and refresh token, perhaps a PIN session token) was earned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method")]
pub enum LoginMethod {
    /// At registration.
    Registration,
    /// With the password.
    Password,
    /// With the PIN, under this PIN session token.
    Pin {
        /// The session token presented.
        session_token: Digest,
    },
    /// By setting the PIN with a PinAuthToken.
    PinAuthToken,
}

/// How a PIN was first set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via")]
pub enum PinSetVia {
    /// Given with the registration.
    Registration,
    /// With the PinAuthToken from error 1243; the token is spent.
    PinAuthToken {
        /// The token used.
        token: Digest,
    },
    /// Through a profile update with an access token (optional PIN).
    ProfileUpdate,
}

/// The flow in which a wrong secret was presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AttemptFlow {
    /// Login by PIN.
    PinLogin,
    /// Wrong old PIN when changing the PIN.
    ChangePin,
    /// Login by password.
    Password,
    /// Wrong OTP on a PIN reset.
    Otp,
    /// Wrong security answer on a PIN reset.
    SecurityAnswer,
    /// Wrong PIN when re-authenticating with an access token.
    Reauthentication,
}

/// Where a forgot-PIN message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "channel")]
pub enum ResetChannel {
    /// To the account's email address.
    Email,
    /// To the account's phone, as SMS or (when `voice`) a voice call.
    Sms {
        /// Deliver by voice call.
        voice: bool,
    },
}

/// What the account holder must bring back to reset the PIN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum ChallengeSecret {
    /// A reset token, sent as a link.
    Link {
        /// SHA-256 of the reset token.
        token: Digest,
    },
    /// A one-time password.
    Otp {
        /// HMAC of the OTP under the command layer's OTP key.
        digest: Digest,
    },
}

/// How a PIN was reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method")]
pub enum ResetMethod {
    /// With an OTP, identified by email, phone or username.
    Otp {
        /// The identifier presented.
        via: IdentifierKind,
    },
    /// With the reset token from a link.
    Token,
    /// With the security answers, identified by email, phone or username.
    SecurityAnswer {
        /// The identifier presented.
        via: IdentifierKind,
    },
}

/// Why sessions were ended in bulk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RevocationReason {
    /// The PIN was changed: the account's other PIN sessions end, and with `force_logout` its
    /// other access and refresh tokens (LoginRadius's Force Logout). The session that changed it
    /// stays.
    PinChanged,
    /// The PIN was reset, by any channel: every access, refresh and PIN session token ends, since
    /// whoever reset it may not be whoever held them.
    PinReset,
}

/// An account's identifiers sealed under its data key (the JSON of
/// [`crate::Identifiers`]), and which kinds they are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedIdentifiers {
    /// Which kinds.
    pub kinds: IdentifierKinds,
    /// The values, sealed.
    pub sealed: Sealed,
}

/// A security answer, hashed, with the question it answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityAnswerHash {
    /// The question's id.
    pub question_id: QuestionId,
    /// argon2id of the normalized answer.
    pub answer_hash: SecretHash,
}

/// Which secret a hash upgrade replaced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum UpgradedSecret {
    /// The password.
    Password,
    /// The PIN.
    Pin,
    /// The answer to one security question.
    SecurityAnswer {
        /// The question's id.
        question_id: QuestionId,
    },
}

/// Every kind of event, with its data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type")]
pub enum EventKind {
    /// The account was created with its identifiers and primary credentials.
    AccountRegistered {
        /// The account.
        account_id: AccountId,
        /// The identifiers, sealed under the account's data key (personal data: erasing the
        /// key makes them unreadable), with which kinds there are in the clear.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identifiers: Option<SealedIdentifiers>,
        /// Normalized email in plain text: only in events written before identifiers were
        /// sealed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        email: Option<Email>,
        /// Normalized username in plain text (as `email`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<Username>,
        /// Normalized phone in plain text (as `email`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phone: Option<Phone>,
        /// argon2id of the password.
        password_hash: SecretHash,
        /// Hashed security answers.
        security_answers: Vec<SecurityAnswerHash>,
        /// Where the secret was proven from: it becomes one of the account's familiar origins.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        origin: Option<Origin>,
        /// Brought by `pinauth import` or `POST /manage/account`, with its password hash as it
        /// was elsewhere (upgraded at its first login), rather than registered by its holder.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        imported: bool,
    },
    /// The profile fields (names, birth date, custom fields, ...) were set: all of them, sealed
    /// under the account's data key (personal data: erasing the key makes them unreadable).
    ProfileUpdated {
        /// The fields, sealed.
        profile: Sealed,
    },
    /// A PIN was set where there was none.
    PinSet {
        /// argon2id of the PIN.
        pin_hash: SecretHash,
        /// How.
        via: PinSetVia,
    },
    /// The holder chose not to set an optional PIN.
    PinSkipped,
    /// Tokens were issued for a successful login or registration.
    SessionStarted {
        /// How the login was proven.
        method: LoginMethod,
        /// The new access token.
        access: IssuedToken,
        /// The new refresh token, paired with the access token.
        refresh: IssuedToken,
        /// A new PIN session token, when the PIN is set and PIN login is enabled.
        session: Option<IssuedToken>,
        /// The oldest live tokens this login ended to stay within the account's session limits.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ended: Vec<EndedToken>,
        /// Where the secret was proven from: it becomes one of the account's familiar origins.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        origin: Option<Origin>,
    },
    /// The password was right but a required PIN is not set: a PinAuthToken was issued instead of
    /// a session (error 1243).
    PinAuthTokenIssued {
        /// The token.
        token: IssuedToken,
        /// Where the secret was proven from: it becomes one of the account's familiar origins.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        origin: Option<Origin>,
    },
    /// A wrong PIN, password, OTP or answer was evaluated and counted.
    PinAttemptFailed {
        /// Where.
        flow: AttemptFlow,
        /// Consecutive failures of this factor, this one included.
        consecutive_failures: u32,
        /// The reset challenge it counted against, for OTP failures.
        challenge_id: Option<ChallengeId>,
        /// It came from an origin unfamiliar to the account: counted on (or refused by) the
        /// strangers' counter and lock, which never lock familiar origins out.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        stranger: bool,
    },
    /// An attempt arrived while the account was locked; it was refused without evaluation.
    PinAttemptRefused {
        /// Where.
        flow: AttemptFlow,
        /// When the lock ends; `None` if permanent.
        locked_until: Option<Timestamp>,
        /// It came from an origin unfamiliar to the account and the strangers' lock refused it.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        stranger: bool,
    },
    /// Too many failures: the account is locked.
    PinLockedOut {
        /// When the lock ends; `None` if permanent (until reset or admin unlock).
        until: Option<Timestamp>,
        /// 1 for the first lock since the last proof of the PIN, 2 for the next, ...
        lockout_number: u32,
        /// The strangers' lock: it holds for origins unfamiliar to the account only.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        stranger: bool,
    },
    /// An administrator cleared the lock and the failure counts.
    PinUnlocked,
    /// The PIN was proven again under an access token: a `SecondFactorValidationToken` was
    /// issued, paired with that access token (it ends with it).
    PinReauthenticated {
        /// The validation token.
        token: IssuedToken,
        /// The access token it was asked under.
        access_token: Digest,
        /// Where the PIN was proven from: it becomes one of the account's familiar origins.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        origin: Option<Origin>,
    },
    /// One refresh token was ended by the app's backend; its access token lives on.
    RefreshTokenRevoked {
        /// The token.
        token: Digest,
    },
    /// The app's backend validated a `SecondFactorValidationToken`; it is spent.
    ReauthTokenUsed {
        /// The token.
        token: Digest,
    },
    /// The PIN was changed with the old one and an access token.
    PinChanged {
        /// argon2id of the new PIN.
        pin_hash: SecretHash,
        /// Where the secret was proven from: it becomes one of the account's familiar origins.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        origin: Option<Origin>,
    },
    /// Access and refresh tokens were ended, but for the one that asked: after a PIN change
    /// (with `force_logout`) all but the access token that changed it; after a PIN reset, all.
    AccessTokensRevoked {
        /// The access token (and its refresh tokens) kept.
        except: Option<Digest>,
        /// Why.
        reason: RevocationReason,
    },
    /// PIN session tokens were ended: after a PIN change all but the one of the session that
    /// changed it; after a PIN reset, all.
    PinSessionsRevoked {
        /// The PIN session token kept: the one issued with, or last logged in to, the access
        /// token that changed the PIN. (Absent in events written before PIN changes kept one.)
        #[serde(default, skip_serializing_if = "Option::is_none")]
        except: Option<Digest>,
        /// Why.
        reason: RevocationReason,
    },
    /// One PIN session token was ended at its holder's request.
    PinSessionTokenInvalidated {
        /// The token.
        token: Digest,
    },
    /// One access token was ended at its holder's request.
    AccessTokenInvalidated {
        /// The token.
        token: Digest,
        /// Its refresh tokens were ended too (`preventRefresh`).
        refresh_revoked: bool,
    },
    /// A refresh token was exchanged for a new access token.
    AccessTokenRefreshed {
        /// The refresh token used; it stays valid.
        refresh_token: Digest,
        /// The new access token, paired with the refresh token.
        access: IssuedToken,
        /// The oldest live access token, when this one took it over the account's limit.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ended: Vec<EndedToken>,
    },
    /// A PIN reset was requested; it replaces any earlier challenge.
    PinResetRequested {
        /// The new challenge.
        challenge_id: ChallengeId,
        /// The identifier the request named.
        via: IdentifierKind,
        /// Where the message goes.
        channel: ResetChannel,
        /// What must be brought back.
        secret: ChallengeSecret,
        /// The OTP or token, sealed for the notifier.
        sealed: Sealed,
        /// When the challenge stops being valid.
        expires_at: Timestamp,
        /// The message template asked for, if any.
        template: Option<String>,
        /// The allow-listed reset URL the link points at, if any.
        reset_url: Option<String>,
        /// Asked for from an origin unfamiliar to the account: such a request never replaces a
        /// live challenge asked for from a familiar one.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        stranger: bool,
        /// Issued to the app's backend (a multipurpose token, with the app secret), which
        /// delivers it: the notifier sends nothing, and `sealed` is empty.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        by_app: bool,
    },
    /// The holder asked to delete the account: a link with a delete token is mailed to them.
    AccountDeletionRequested {
        /// Names the message for the notifier (its ledger key, and the sealed link's associated
        /// data).
        request: ChallengeId,
        /// The delete token; a newer request replaces it.
        token: IssuedToken,
        /// The address and link, sealed for the notifier.
        sealed: Sealed,
        /// The message template asked for, if any.
        template: Option<String>,
    },
    /// The account was deleted: its sessions end, its identifiers are released, its data key is
    /// erased, and it refuses every command from now on.
    AccountDeleted {
        /// By the app's backend (`DELETE /manage/account/{uid}`), not by its holder's link.
        by_app: bool,
    },
    /// A password, PIN or security answer that verified under a scheme other than the current
    /// one (imported, wrapped, or argon2id under earlier parameters) was hashed again under the
    /// current one, off the request that verified it.
    HashUpgraded {
        /// Which secret.
        secret: UpgradedSecret,
        /// Its new hash.
        hash: SecretHash,
        /// The scheme replaced, as `pinauth audit hashes` names it.
        from: String,
    },
    /// The PIN was reset; the lock and failure counts are cleared.
    PinReset {
        /// How.
        method: ResetMethod,
        /// The challenge spent, for OTP and token resets.
        challenge_id: Option<ChallengeId>,
        /// argon2id of the new PIN.
        pin_hash: SecretHash,
    },
}

impl EventKind {
    /// The tokens this event hands out, with their kinds: what the command side claims lookups
    /// for, and what the read side indexes.
    pub fn issued_tokens(&self) -> impl Iterator<Item = (TokenKind, IssuedToken)> {
        let issued: [Option<(TokenKind, IssuedToken)>; 3] = match self {
            Self::SessionStarted {
                access,
                refresh,
                session,
                ..
            } => [
                Some((TokenKind::Access, *access)),
                Some((TokenKind::Refresh, *refresh)),
                session.map(|s| (TokenKind::PinSession, s)),
            ],
            Self::PinAuthTokenIssued { token, .. } => {
                [Some((TokenKind::PinAuth, *token)), None, None]
            }
            Self::AccessTokenRefreshed { access, .. } => {
                [Some((TokenKind::Access, *access)), None, None]
            }
            Self::AccountDeletionRequested { token, .. } => {
                [Some((TokenKind::Deletion, *token)), None, None]
            }
            _ => [None; 3],
        };
        issued.into_iter().flatten()
    }

    /// The tokens this event ends, with their kinds, by digest: what a token index may forget.
    /// (Bulk revocations, `AccessTokensRevoked` and `PinSessionsRevoked`, name no tokens.)
    pub fn ended_tokens(&self) -> impl Iterator<Item = (TokenKind, Digest)> + '_ {
        let (single, limited): (Option<(TokenKind, Digest)>, &[EndedToken]) = match self {
            Self::SessionStarted { ended, .. } | Self::AccessTokenRefreshed { ended, .. } => {
                (None, ended)
            }
            Self::PinSessionTokenInvalidated { token } => {
                (Some((TokenKind::PinSession, *token)), &[])
            }
            Self::AccessTokenInvalidated { token, .. } => (Some((TokenKind::Access, *token)), &[]),
            Self::PinSet {
                via: PinSetVia::PinAuthToken { token },
                ..
            } => (Some((TokenKind::PinAuth, *token)), &[]),
            _ => (None, &[]),
        };
        single
            .into_iter()
            .chain(limited.iter().map(|e| (e.kind, e.hash)))
    }

    /// The stable type name, equal to the serialized `event_type` tag.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::AccountRegistered { .. } => "AccountRegistered",
            Self::ProfileUpdated { .. } => "ProfileUpdated",
            Self::PinSet { .. } => "PinSet",
            Self::PinSkipped => "PinSkipped",
            Self::SessionStarted { .. } => "SessionStarted",
            Self::PinAuthTokenIssued { .. } => "PinAuthTokenIssued",
            Self::PinAttemptFailed { .. } => "PinAttemptFailed",
            Self::PinAttemptRefused { .. } => "PinAttemptRefused",
            Self::PinLockedOut { .. } => "PinLockedOut",
            Self::PinUnlocked => "PinUnlocked",
            Self::PinReauthenticated { .. } => "PinReauthenticated",
            Self::ReauthTokenUsed { .. } => "ReauthTokenUsed",
            Self::RefreshTokenRevoked { .. } => "RefreshTokenRevoked",
            Self::PinChanged { .. } => "PinChanged",
            Self::AccessTokensRevoked { .. } => "AccessTokensRevoked",
            Self::PinSessionsRevoked { .. } => "PinSessionsRevoked",
            Self::PinSessionTokenInvalidated { .. } => "PinSessionTokenInvalidated",
            Self::AccessTokenInvalidated { .. } => "AccessTokenInvalidated",
            Self::AccessTokenRefreshed { .. } => "AccessTokenRefreshed",
            Self::PinResetRequested { .. } => "PinResetRequested",
            Self::PinReset { .. } => "PinReset",
            Self::AccountDeletionRequested { .. } => "AccountDeletionRequested",
            Self::AccountDeleted { .. } => "AccountDeleted",
            Self::HashUpgraded { .. } => "HashUpgraded",
        }
    }
}

/// Who and what caused an event, stored beside it (not inside it) by the command layer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    /// When the command was received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<Timestamp>,
    /// The request this event belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<uuid::Uuid>,
    /// The command or event that caused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<uuid::Uuid>,
    /// The client's IP address and user agent, sealed under the account's data key (personal
    /// data: erasing the key makes them unreadable), where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<Sealed>,
    /// The client's IP address in plain text: only in events written before clients were sealed,
    /// and in lookup streams' (which have no data key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    /// The client's user agent in plain text (as `client_ip`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Fingerprint of the policy that applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}
