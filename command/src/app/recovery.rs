//! PIN recovery: forgot-PIN requests and the seven resets.
//!
//! - A request opens a challenge (an OTP, or a reset token sent as a link) and records it in the
//!   account's stream: the HMAC of the OTP or the SHA-256 of the token, and the secret itself sealed
//!   for the notifier alone (`pinauth_contract::sealed`: ChaCha20-Poly1305 under the notifier's key,
//!   the challenge id as associated data, so a sealed secret cannot be moved to another challenge).
//! - No enumeration: an unknown identifier gets the answer a known one gets in the common case,
//!   after the same work, and nothing is sent. A request from a stranger (an origin unfamiliar to
//!   the account; an unknown identifier's requests always are) gets the answers an unknown
//!   identifier would: no "no address for this channel", no "code expired" or "no tries left", no
//!   lock, and the questions of an account without answers are a decoy list chosen by the
//!   identifier's keyed tag. Familiar origins get LoginRadius's explicit answers, and so does
//!   everyone with `reveal_unknown`, which also tells unknown identifiers as such.
//! - Reset requests are limited per identifier and channel by each process (`crate::limits`),
//!   for known and unknown identifiers alike, strangers apart from the owner; messages by budgets
//!   per destination, per origin and for all SMS. Past a budget nothing is written or sent, and
//!   the answer is the usual one.
//! - A wrong OTP or answer counts against the challenge and toward the account's lock, like a wrong
//!   PIN; comparisons of OTP digests are constant-time.

use super::padding::Flow;
use super::reset_url::{self, AllowedResetUrl};
use super::retry::Decision;
use super::verdicts::{NewPin, Verdicts};
use super::{CommandService, Done, Identifier, RequestContext};
use crate::crypto::{Plaintext, Token, ct_eq};
use crate::error::AppError;
use crate::limits::RequestKey;
use pinauth_contract::datakey::notify_purpose;
use pinauth_contract::sealed::SealedSecret;
use pinauth_domain::{
    Account, AccountId, AttemptFlow, ChallengeId, ChallengeSecret, Command, Digest, DomainError,
    EventKind, Pin, QuestionId, RequestPinReset, ResetChannel, ResetPinViaOtp,
    ResetPinViaSecurityAnswer, ResetPinViaToken, Sealed,
};
use ring::rand::{SecureRandom, SystemRandom};
use std::time::Instant;
use uuid::Uuid;

/// Settings of PIN recovery: the `[recovery]` section of the configuration as it is, except the
/// template names, which the notifier's templates (`[notify.templates]`) decide.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecoverySettings {
    /// Reset URLs (`resetpinurl`) must be under one of these (error 1248 otherwise): same scheme,
    /// host and port, and a path under the entry's (see [`AllowedResetUrl`]). Parsed at load.
    pub reset_url_allowlist: Vec<AllowedResetUrl>,
    /// The reset URL used when a request names none.
    pub default_reset_url: String,
    /// Email templates, by name, and whether each sends an OTP (else a link).
    #[serde(skip)]
    pub email_templates: Vec<(String, bool)>,
    /// The email template used when a request names none.
    pub default_email_template: String,
    /// SMS templates by name.
    #[serde(skip)]
    pub sms_templates: Vec<String>,
    /// The SMS template used when a request names none.
    pub default_sms_template: String,
    /// Answer unknown identifiers with LoginRadius's "does not exist" errors instead of as known.
    pub reveal_unknown: bool,
    /// Correct security answers needed to reset the PIN (at most as many as the account has).
    pub min_security_answers: usize,
    /// The configured security question ids (from `[[http.security_questions]]`), which decoy
    /// lists are drawn from.
    #[serde(skip)]
    pub questions: Vec<String>,
    /// How many questions a decoy list has (at most as many as are configured; default 3).
    pub decoy_questions: usize,
    /// Delete URLs (`deleteUrl` of an account-deletion request) must be under one of these, as
    /// reset URLs must be under `reset_url_allowlist` (error 1248 otherwise).
    pub delete_url_allowlist: Vec<AllowedResetUrl>,
    /// The delete URL used when a request names none.
    pub default_delete_url: String,
    /// The email template of the deletion link when a request names none (or one not configured).
    pub default_delete_template: String,
}

impl Default for RecoverySettings {
    fn default() -> Self {
        let reset = "http://localhost:3000/reset-pin".to_owned();
        Self {
            reset_url_allowlist: vec![AllowedResetUrl::new(
                "http",
                "localhost",
                3000,
                "/reset-pin",
            )],
            default_reset_url: reset,
            email_templates: vec![
                ("pin-reset-link".into(), false),
                ("pin-reset-otp".into(), true),
            ],
            default_email_template: "pin-reset-link".into(),
            sms_templates: vec!["pin-reset-sms".into()],
            default_sms_template: "pin-reset-sms".into(),
            reveal_unknown: false,
            min_security_answers: 1,
            questions: Vec::new(),
            decoy_questions: 3,
            delete_url_allowlist: vec![AllowedResetUrl::new(
                "http",
                "localhost",
                3000,
                "/delete-account",
            )],
            default_delete_url: "http://localhost:3000/delete-account".into(),
            default_delete_template: "account-delete".into(),
        }
    }
}

/// Where a forgot-PIN request wants the secret sent.
#[derive(Clone, Copy, Debug)]
pub enum ForgotChannel {
    /// By email (a link, or an OTP when the template is an OTP template).
    Email,
    /// By SMS (or voice) OTP.
    Sms {
        /// As a voice call.
        voice: bool,
    },
}

/// The outcome of a forgot-PIN request.
#[derive(Clone, Debug)]
pub struct ForgotOutcome {
    /// The challenge opened; `None` when nothing was sent (an unknown identifier, a spent budget,
    /// a stranger while the owner's challenge is live, no address for a stranger).
    pub challenge: Option<ChallengeId>,
}

/// A forgot-PIN token or OTP issued to the app's backend.
#[derive(Clone, Debug)]
pub struct IssuedForApp {
    /// The token (32 hex digits) or the OTP.
    pub token: String,
    /// When it stops being valid.
    pub expires_at: pinauth_domain::Timestamp,
}

/// What a reset presents.
#[derive(Clone, Debug)]
pub enum ResetSecret {
    /// An OTP with the identifier it was sent for.
    Otp(Identifier, String),
    /// A reset token from a link.
    Token(String),
    /// Security answers (question id → normalized answer) with an identifier.
    Answers(Identifier, Vec<(String, Plaintext)>),
}

/// `asked` when `configured` says so, else `default` (with a warning when a name was asked for).
pub(super) fn known_or_default(
    asked: Option<String>,
    default: &str,
    configured: impl Fn(&str) -> bool,
) -> String {
    match asked {
        Some(name) if configured(&name) => name,
        Some(name) => {
            let shown: String = name.chars().take(64).collect();
            tracing::warn!(
                template = %shown.escape_debug(),
                default,
                "a request named a message template that is not configured: the default is used"
            );
            default.to_owned()
        }
        None => default.to_owned(),
    }
}

fn draw_otp(rng: &SystemRandom, length: u8) -> Result<String, AppError> {
    let mut otp = String::with_capacity(usize::from(length));
    while otp.len() < usize::from(length) {
        let mut bytes = [0u8; 16];
        rng.fill(&mut bytes)
            .map_err(|_| AppError::Corrupt("random source".into()))?;
        // Rejection sampling keeps every digit uniform.
        for b in bytes.into_iter().filter(|b| *b < 250) {
            if otp.len() < usize::from(length) {
                otp.push(char::from(b'0' + b % 10));
            }
        }
    }
    Ok(otp)
}

fn otp_digest_under(key: &ring::hmac::Key, otp: &str) -> Digest {
    let tag = ring::hmac::sign(key, otp.trim().as_bytes());
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(tag.as_ref());
    Digest::from_bytes(bytes)
}

impl CommandService {
    /// The digest a new OTP is kept as: under the current OTP key.
    fn otp_digest(&self, otp: &str) -> Digest {
        otp_digest_under(&self.inner.otp_key, otp)
    }

    /// The digests of a presented OTP under every OTP key kept (the current first): a code
    /// issued before a rotation still verifies until the old key is retired.
    fn otp_digests(&self, otp: &str) -> Vec<Digest> {
        std::iter::once(&self.inner.otp_key)
            .chain(self.inner.otp_previous.as_ref())
            .map(|key| otp_digest_under(key, otp))
            .collect()
    }

    /// `secret` sealed for the notifier under the data key of `account`, for `challenge`: the
    /// notifier opens it through the key store, and the account's deletion makes it unreadable.
    pub(super) async fn seal_for_notifier(
        &self,
        account: &AccountId,
        challenge: &ChallengeId,
        secret: &SealedSecret,
    ) -> Result<Sealed, AppError> {
        let json = serde_json::to_vec(secret).map_err(|e| AppError::Sealing(e.to_string()))?;
        Ok(self
            .inner
            .vault
            .seal(account, &notify_purpose(challenge), &json)
            .await?)
    }

    /// Opens a forgot-PIN challenge and records the secret sealed for the notifier.
    pub async fn forgot_pin(
        &self,
        identifier: &Identifier,
        channel: ForgotChannel,
        template: Option<String>,
        reset_url: Option<String>,
        ctx: &RequestContext,
    ) -> Result<Done<ForgotOutcome>, AppError> {
        let settings = &self.inner.settings.recovery;
        // Everything checkable without the account is checked first, alike for known and unknown.
        // A template name that is not configured falls back to the default, as on LoginRadius
        // (apps pass the names they used there), with a warning for the operator.
        let (template, otp) = match channel {
            ForgotChannel::Email => {
                let configured = |name: &str| {
                    settings
                        .email_templates
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, otp)| *otp)
                };
                let name = known_or_default(template, &settings.default_email_template, |n| {
                    configured(n).is_some()
                });
                let otp = configured(&name).ok_or(AppError::UnknownTemplate)?;
                (name, otp)
            }
            ForgotChannel::Sms { .. } => {
                let name = known_or_default(template, &settings.default_sms_template, |n| {
                    settings.sms_templates.iter().any(|t| t == n)
                });
                if !settings.sms_templates.contains(&name) {
                    return Err(AppError::UnknownTemplate);
                }
                (name, true)
            }
        };
        let reset_url = match reset_url {
            // The URL as parsed, not as sent: what was checked is what the link points at.
            Some(url) => reset_url::allowed(&settings.reset_url_allowlist, &url)
                .ok_or(AppError::ResetUrlNotAllowed)?
                .to_string(),
            None => settings.default_reset_url.clone(),
        };
        let (kind, value) = identifier.lookup();
        let origin = ctx.origin;
        let reveal = settings.reveal_unknown;
        let sms = matches!(channel, ForgotChannel::Sms { .. });
        let request_key = |familiar| RequestKey {
            identifier: self.tag(kind.name(), value),
            sms,
            familiar,
        };
        // Counted for every request, known or not (see `Limits::request_message`).
        let spent = self
            .inner
            .limits
            .request_message(origin.as_ref(), sms)
            .err();
        let Some(id) = self.owner(kind, value).await? else {
            if reveal {
                return Err(AppError::UnknownIdentifier(kind));
            }
            match spent {
                Some(spent) => self.suppressed(spent, None),
                None if !self.inner.limits.reset_request(&request_key(false)) => {
                    return Err(AppError::ResetRateLimited);
                }
                None => {}
            }
            self.unknown_request(identifier, Flow::Forgot)
                .await
                .finish()
                .await;
            return Ok(Done {
                value: ForgotOutcome { challenge: None },
                position: None,
            });
        };
        let challenge_id = ChallengeId::from_uuid(Uuid::new_v4());
        let (secret_text, link_token) = if otp {
            (draw_otp(&self.inner.rng, self.policy().otp.length)?, None)
        } else {
            let token =
                Token::generate(&self.inner.rng).map_err(|e| AppError::Corrupt(e.to_string()))?;
            (token.as_string(), Some(token))
        };
        let secret = match &link_token {
            Some(token) => ChallengeSecret::Link {
                token: token.digest(),
            },
            None => ChallengeSecret::Otp {
                digest: self.otp_digest(&secret_text),
            },
        };
        let domain_channel = match channel {
            ForgotChannel::Email => ResetChannel::Email,
            ForgotChannel::Sms { voice } => ResetChannel::Sms { voice },
        };
        let link = link_token.as_ref().map(|_| {
            let sep = if reset_url.contains('?') { '&' } else { '?' };
            format!("{reset_url}{sep}vtoken={secret_text}")
        });
        let via = identifier.kind();
        let policy = self.policy();
        // Spent at most once per request, however often a conflict makes it decide again.
        let mut request_allowed = None;
        let mut budget = None;
        // Timed from the account's turn: what an unknown identifier's request is padded to.
        let mut served: Option<Instant> = None;
        // Counted once, though a refusal decided on a cached state is decided again.
        let mut suppressed_counted = false;
        let committed = self
            .decide_and_commit(id, ctx, async |state: &Account, at| {
                served.get_or_insert_with(Instant::now);
                // An identifier claimed by a registration not (or never) appended answers as an
                // unknown one does.
                let Ok(profile) = state.profile() else {
                    return match reveal {
                        true => Err(AppError::UnknownIdentifier(kind)),
                        false => Ok(Decision::Nothing),
                    };
                };
                if let Some(spent) = spent {
                    if !std::mem::replace(&mut suppressed_counted, true) {
                        self.suppressed(spent, Some(id));
                    }
                    return Ok(Decision::Nothing);
                }
                let familiar = !state.standing(at, origin.as_ref(), policy).is_stranger();
                let allowed = *request_allowed
                    .get_or_insert_with(|| self.inner.limits.reset_request(&request_key(familiar)));
                if !allowed {
                    return Err(AppError::ResetRateLimited);
                }
                let identifiers = self.identifiers(profile).await?;
                let to = match channel {
                    ForgotChannel::Email => identifiers.email.as_ref().map(|e| e.as_str()),
                    ForgotChannel::Sms { .. } => identifiers.phone.as_ref().map(|p| p.as_str()),
                };
                let Some(to) = to else {
                    return match familiar || reveal {
                        true => Err(DomainError::ChannelUnavailable.into()),
                        false => Ok(Decision::Nothing),
                    };
                };
                let spent = *budget.get_or_insert_with(|| {
                    let whose = if familiar {
                        "destination"
                    } else {
                        "destination, strangers"
                    };
                    let destination = self.tag(whose, to);
                    self.inner.limits.destination_message(&destination).err()
                });
                if let Some(spent) = spent {
                    if !std::mem::replace(&mut suppressed_counted, true) {
                        self.suppressed(spent, Some(id));
                    }
                    return Ok(Decision::Nothing);
                }
                let sealed = self
                    .seal_for_notifier(
                        &id,
                        &challenge_id,
                        &SealedSecret {
                            to: to.to_owned(),
                            secret: secret_text.clone(),
                            link: link.clone(),
                        },
                    )
                    .await?;
                Ok(Decision::Decide(Command::RequestPinReset(
                    RequestPinReset {
                        at,
                        challenge_id,
                        via,
                        channel: domain_channel,
                        secret,
                        sealed,
                        template: Some(template.clone()),
                        reset_url: link.as_ref().map(|_| reset_url.clone()),
                        origin,
                        by_app: false,
                    },
                )))
            })
            .await?;
        let opened = committed
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::PinResetRequested { .. }));
        if let Some(served) = served {
            self.inner.padding.record(Flow::Forgot, served);
        }
        Ok(committed.done(ForgotOutcome {
            challenge: opened.then_some(challenge_id),
        }))
    }

    /// A forgot-PIN token (for an email: a reset token, for `PUT /pin/reset/token`) or SMS OTP
    /// (for a phone: for `PUT /pin/reset/otp/phone`) issued to the app's backend, which holds
    /// the app secret and delivers it itself: LoginRadius's multipurpose token of type
    /// `forgotpin`. Nothing is sent, and an unknown identifier is told as such.
    pub async fn issue_reset_for_app(
        &self,
        identifier: &Identifier,
        ctx: &RequestContext,
    ) -> Result<Done<IssuedForApp>, AppError> {
        let (kind, value) = identifier.lookup();
        let id = self
            .owner(kind, value)
            .await?
            .ok_or(AppError::UnknownIdentifier(kind))?;
        let by_sms = matches!(identifier, Identifier::Phone(_));
        let challenge_id = ChallengeId::from_uuid(Uuid::new_v4());
        let (text, secret, channel) = if by_sms {
            let otp = draw_otp(&self.inner.rng, self.policy().otp.length)?;
            let digest = self.otp_digest(&otp);
            (
                otp,
                ChallengeSecret::Otp { digest },
                ResetChannel::Sms { voice: false },
            )
        } else {
            let token =
                Token::generate(&self.inner.rng).map_err(|e| AppError::Corrupt(e.to_string()))?;
            let secret = ChallengeSecret::Link {
                token: token.digest(),
            };
            (token.as_simple(), secret, ResetChannel::Email)
        };
        let via = identifier.kind();
        let committed = self
            .run_command(id, ctx, |at| {
                Command::RequestPinReset(RequestPinReset {
                    at,
                    challenge_id,
                    via,
                    channel,
                    secret,
                    sealed: Sealed::from_bytes(Vec::new()),
                    template: None,
                    reset_url: None,
                    origin: None,
                    by_app: true,
                })
            })
            .await?;
        let expires_at = committed
            .events
            .iter()
            .find_map(|e| match &e.kind {
                EventKind::PinResetRequested { expires_at, .. } => Some(*expires_at),
                _ => None,
            })
            .ok_or_else(|| AppError::Corrupt("a reset for the app opened no challenge".into()))?;
        Ok(committed.done(IssuedForApp {
            token: text,
            expires_at,
        }))
    }

    /// A reset request answered as usual with nothing sent, because `budget` is spent.
    fn suppressed(
        &self,
        budget: crate::limits::Budget,
        account: Option<pinauth_domain::AccountId>,
    ) {
        self.metrics().suppressed(budget);
        tracing::warn!(
            budget = budget.name(),
            account = account.map(|a| a.to_string()),
            "message budget spent: the reset request is answered and nothing is sent"
        );
    }

    /// Resets the PIN with an OTP, a reset token or security answers.
    pub async fn reset_pin(
        &self,
        secret: ResetSecret,
        pin: &Pin,
        ctx: &RequestContext,
    ) -> Result<Done<()>, AppError> {
        match secret {
            ResetSecret::Otp(identifier, otp) => {
                self.reset_with_otp(&identifier, &otp, pin, ctx).await
            }
            ResetSecret::Token(token) => self.reset_with_token(&token, pin, ctx).await,
            ResetSecret::Answers(identifier, answers) => {
                self.reset_with_answers(&identifier, &answers, pin, ctx)
                    .await
            }
        }
    }

    async fn reset_with_otp(
        &self,
        identifier: &Identifier,
        otp: &str,
        pin: &Pin,
        ctx: &RequestContext,
    ) -> Result<Done<()>, AppError> {
        let (kind, value) = identifier.lookup();
        let via = identifier.kind();
        let reveal = self.inner.settings.recovery.reveal_unknown;
        let Some(id) = self.owner(kind, value).await? else {
            if reveal {
                return Err(AppError::UnknownIdentifier(kind));
            }
            self.unknown_request(identifier, Flow::Otp)
                .await
                .finish()
                .await;
            return Err(AppError::WrongOtp);
        };
        let presented = self.otp_digests(otp);
        let mut new_pin = NewPin::new(pin);
        let (origin, policy) = (ctx.origin, self.policy());
        let max_tries = policy.otp.max_tries;
        // Timed from the account's turn: what an unknown identifier's request is padded to.
        let mut served: Option<Instant> = None;
        let committed = self
            .decide_and_commit(id, ctx, async |state: &Account, at| {
                served.get_or_insert_with(Instant::now);
                let standing = state.standing(at, origin.as_ref(), policy);
                let stranger = standing.is_stranger();
                // A stranger is told "wrong code" whatever the challenge's state, as an unknown
                // identifier is.
                let told = |e: AppError| match stranger && !reveal {
                    true => AppError::WrongOtp,
                    false => e,
                };
                let challenge = match state.otp_guard(at, via) {
                    Ok(challenge) => *challenge,
                    Err(DomainError::NotRegistered) => return Err(AppError::WrongOtp),
                    Err(e) => return Err(told(e.into())),
                };
                if challenge.failures_for(standing) >= max_tries {
                    return Err(told(DomainError::ChallengeExhausted.into()));
                }
                let ChallengeSecret::Otp { digest } = challenge.secret else {
                    return Err(AppError::WrongOtp);
                };
                // Every key's digest is compared, whichever matches.
                let matches = presented
                    .iter()
                    .fold(false, |m, p| m | ct_eq(digest.as_bytes(), p.as_bytes()));
                if !matches {
                    return Ok(Decision::wrong(
                        AttemptFlow::Otp,
                        AppError::WrongOtp,
                        stranger && !reveal,
                    ));
                }
                Ok(Decision::Decide(Command::ResetPinViaOtp(ResetPinViaOtp {
                    at,
                    via,
                    pin_hash: new_pin.hash(self).await?,
                    origin,
                })))
            })
            .await;
        if let Some(served) = served {
            self.inner.padding.record(Flow::Otp, served);
        }
        Ok(committed?.done(()))
    }

    async fn reset_with_token(
        &self,
        token: &str,
        pin: &Pin,
        ctx: &RequestContext,
    ) -> Result<Done<()>, AppError> {
        let token = Token::parse(token).ok_or(AppError::InvalidResetToken)?;
        let digest = token.digest();
        let id = self
            .route(&digest)
            .await?
            .ok_or(AppError::InvalidResetToken)?;
        // A link is not a code: its refusals are told in link terms (979, or 1242 once used).
        let link_terms = |e: AppError| match e {
            AppError::Domain(
                DomainError::ChallengeNotFound
                | DomainError::ChallengeExpired
                | DomainError::NotRegistered,
            ) => AppError::InvalidResetToken,
            AppError::Domain(DomainError::ChallengeUsed) => AppError::ResetTokenUsed,
            other => other,
        };
        let mut new_pin = NewPin::new(pin);
        let committed = self
            .decide_and_commit(id, ctx, async |state: &Account, at| {
                // Check the link before spending a hash on the PIN.
                state.reset_token_guard(at, &digest)?;
                Ok(Decision::Decide(Command::ResetPinViaToken(
                    ResetPinViaToken {
                        at,
                        token: digest,
                        pin_hash: new_pin.hash(self).await?,
                    },
                )))
            })
            .await
            .map_err(link_terms)?;
        Ok(committed.done(()))
    }

    async fn reset_with_answers(
        &self,
        identifier: &Identifier,
        answers: &[(String, Plaintext)],
        pin: &Pin,
        ctx: &RequestContext,
    ) -> Result<Done<()>, AppError> {
        let (kind, value) = identifier.lookup();
        let via = identifier.kind();
        let hasher = &self.inner.hasher;
        let mut verdicts = Verdicts::reserve(hasher)?;
        let reveal = self.inner.settings.recovery.reveal_unknown;
        let Some(id) = self.owner(kind, value).await? else {
            if reveal {
                return Err(AppError::UnknownIdentifier(kind));
            }
            let unknown = self.unknown_request(identifier, Flow::Answers).await;
            let decoys = self.decoy_questions(identifier);
            let answer = all_wrong(&mut verdicts, hasher, &decoys, answers).await?;
            unknown.finish().await;
            return Err(answer);
        };
        let mut new_pin = NewPin::new(pin);
        let (origin, policy) = (ctx.origin, self.policy());
        let min_answers = self.inner.settings.recovery.min_security_answers;
        let flow = AttemptFlow::SecurityAnswer;
        // Timed from the account's turn: what an unknown identifier's request is padded to.
        let mut served: Option<Instant> = None;
        let committed = self
            .decide_and_commit(id, ctx, async |state: &Account, at| {
                served.get_or_insert_with(Instant::now);
                let conceal = !reveal && state.standing(at, origin.as_ref(), policy).is_stranger();
                // The questions the account shows: its own, or (without any) its decoys.
                // The questions a stranger is shown (see `questions_shown`).
                let shown =
                    |state: &Account| self.questions_shown(identifier, &own_questions(state));
                let stored = match state.security_answer_guard(at, origin.as_ref(), policy) {
                    Ok(stored) => stored.to_vec(),
                    Err(DomainError::NotRegistered) => return Err(AppError::WrongAnswer),
                    // Strangers get what any account whose answers are all wrong gives, after
                    // the same work: a locked account's attempt is still recorded as refused.
                    Err(DomainError::PinLocked { .. }) if conceal => {
                        let answer =
                            all_wrong(&mut verdicts, hasher, &shown(state), answers).await?;
                        return Ok(Decision::wrong(flow, answer, true));
                    }
                    Err(
                        DomainError::SecurityAnswersExhausted | DomainError::SecurityAnswersNotSet,
                    ) if conceal => {
                        return Err(all_wrong(&mut verdicts, hasher, &shown(state), answers).await?);
                    }
                    Err(DomainError::PinLocked { until, .. }) => {
                        return Ok(Decision::locked(flow, until));
                    }
                    Err(e) => return Err(e.into()),
                };
                let needed = min_answers.clamp(1, stored.len().max(1));
                let mut right = 0;
                for (question, answer) in answers {
                    let Some(hash) = stored
                        .iter()
                        .find(|s| s.question_id.as_str() == question)
                        .map(|s| &s.answer_hash)
                    else {
                        // A question a stranger was shown but the account has not answered is
                        // a wrong answer, after the verification one costs.
                        if conceal && shown(state).iter().any(|q| q == question) {
                            verdicts.nothing(hasher, answer).await?;
                            return Ok(Decision::wrong(flow, AppError::WrongAnswer, true));
                        }
                        return Ok(Decision::wrong(flow, AppError::UnknownQuestion, conceal));
                    };
                    if !verdicts.check(hasher, answer, hash).await? {
                        return Ok(Decision::wrong(flow, AppError::WrongAnswer, conceal));
                    }
                    right += 1;
                }
                if right < needed {
                    return Ok(Decision::wrong(flow, AppError::WrongAnswer, conceal));
                }
                Ok(Decision::Decide(Command::ResetPinViaSecurityAnswer(
                    ResetPinViaSecurityAnswer {
                        at,
                        via,
                        pin_hash: new_pin.hash(self).await?,
                        origin,
                    },
                )))
            })
            .await;
        if let Some(served) = served {
            self.inner.padding.record(Flow::Answers, served);
        }
        self.upgrade_later(id, &mut verdicts, ctx);
        Ok(committed?.done(()))
    }

    /// The ids of the security questions an account has answered. An unknown identifier, or
    /// (for a stranger) an account without answers, gets a decoy list; with `reveal_unknown` an
    /// unknown identifier is told as such.
    pub async fn security_questions(
        &self,
        identifier: &Identifier,
        ctx: &RequestContext,
    ) -> Result<Vec<QuestionId>, AppError> {
        let (kind, value) = identifier.lookup();
        let reveal = self.inner.settings.recovery.reveal_unknown;
        let decoys = || {
            self.decoy_questions(identifier)
                .iter()
                .filter_map(|q| QuestionId::parse(q))
                .collect()
        };
        let Some(id) = self.owner(kind, value).await? else {
            return match reveal {
                true => Err(AppError::UnknownIdentifier(kind)),
                false => Ok(decoys()),
            };
        };
        let loaded = self.inner.repository.load(id).await?;
        let state = &loaded.state;
        let own = own_questions(state);
        let stranger = state
            .standing(self.now(), ctx.origin.as_ref(), self.policy())
            .is_stranger();
        let shown = match stranger && !reveal {
            true => self.questions_shown(identifier, &own),
            false => own,
        };
        Ok(shown.iter().filter_map(|q| QuestionId::parse(q)).collect())
    }

    /// What a stranger is shown of an account's questions: as many as a decoy list has, its own
    /// first and then its decoys, in configured order, so that neither the length nor the order
    /// of the list tells it from an unknown identifier's decoys.
    fn questions_shown(&self, identifier: &Identifier, own: &[String]) -> Vec<String> {
        let settings = &self.inner.settings.recovery;
        let wanted = settings.decoy_questions;
        let mut shown: Vec<String> = own.iter().take(wanted).cloned().collect();
        for decoy in self.decoy_questions(identifier) {
            if shown.len() >= wanted {
                break;
            }
            if !shown.contains(&decoy) {
                shown.push(decoy);
            }
        }
        let place = |q: &String| settings.questions.iter().position(|c| c == q);
        shown.sort_by_key(|q| place(q).unwrap_or(usize::MAX));
        shown
    }

    /// The decoy questions of `identifier`: `decoy_questions` of the configured questions, the
    /// same for the same identifier every time (chosen by keyed tag), in configured order.
    fn decoy_questions(&self, identifier: &Identifier) -> Vec<String> {
        let settings = &self.inner.settings.recovery;
        let (kind, value) = identifier.lookup();
        let seed = self.tag(kind.name(), value);
        let mut ranked: Vec<(Digest, &String)> = settings
            .questions
            .iter()
            .map(|q| (self.tag(&seed.to_hex(), q), q))
            .collect();
        ranked.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let chosen: Vec<&String> = ranked
            .into_iter()
            .take(settings.decoy_questions)
            .map(|(_, q)| q)
            .collect();
        settings
            .questions
            .iter()
            .filter(|q| chosen.contains(q))
            .cloned()
            .collect()
    }
}

/// The questions `state`'s account has answered, in its order.
fn own_questions(state: &Account) -> Vec<String> {
    state.profile().map_or_else(
        |_| Vec::new(),
        |p| {
            p.security_answers
                .iter()
                .map(|a| a.question_id.as_str().to_owned())
                .collect()
        },
    )
}

/// What an account whose questions are `questions` answers to `answers` that are all wrong,
/// after the same work: the loop over the answers stops at the first question the account has
/// not answered (no verification) or at the first wrong answer (one verification).
async fn all_wrong(
    verdicts: &mut Verdicts,
    hasher: &crate::crypto::Hasher,
    questions: &[String],
    answers: &[(String, Plaintext)],
) -> Result<AppError, AppError> {
    let Some((question, answer)) = answers.first() else {
        return Ok(AppError::WrongAnswer);
    };
    if !questions.iter().any(|q| q == question) {
        return Ok(AppError::UnknownQuestion);
    }
    verdicts.nothing(hasher, answer).await?;
    Ok(AppError::WrongAnswer)
}

#[cfg(test)]
mod tests {
    #[test]
    fn otps_have_the_asked_length_and_only_digits() {
        let rng = ring::rand::SystemRandom::new();
        for length in [4u8, 6, 10] {
            let otp = super::draw_otp(&rng, length).unwrap();
            assert_eq!(otp.len(), usize::from(length));
            assert!(otp.chars().all(|c| c.is_ascii_digit()));
        }
        let distinct: std::collections::HashSet<String> =
            (0..50).map(|_| super::draw_otp(&rng, 6).unwrap()).collect();
        assert!(distinct.len() > 45, "OTPs are random");
    }
}
