//! One function per endpoint: parse at the edge, call the use case, shape the answer.

use super::{Call, Reply, views};
use crate::app::{AccountImport, Existing, Imported, ImportedPassword};
use crate::app::{Deletion, Identifier, Login, PinInfo, PinInput, ProfileEditor, Registration};
use crate::app::{ForgotChannel, ResetSecret};
use crate::crypto::Plaintext;
use crate::error::AppError;
use actix_web::http::Method;
use pinauth_domain::TokenKind;
use pinauth_domain::{Email, IdentifierKind, Phone, Pin, QuestionId, Username};
use pinauth_wire::error::token_invalid;
use pinauth_wire::profile::ProfileUpdate;
use pinauth_wire::routes::{Captures, Route};
use pinauth_wire::{ApiError, Catalog};

/// The command service's endpoints.
#[derive(Clone, Copy, Debug)]
pub enum Endpoint {
    Register,
    Login,
    LoginByPin,
    SetPinByPinAuthToken,
    ChangePin,
    InvalidatePinSession,
    InvalidateAccessToken,
    RefreshAccessToken,
    UpdateAccount,
    ManageUpdateAccount(pinauth_domain::AccountId),
    /// `DELETE /auth/account`: mail a deletion link.
    RequestDeletion,
    /// `GET /auth/account/delete?deletetoken=`: the link's deletion.
    DeleteByLink,
    /// `DELETE /manage/account/{uid}`.
    ManageDeleteAccount(pinauth_domain::AccountId),
    /// `POST /manage/account`: LoginRadius's Account Create, with a password hash if need be.
    ManageCreateAccount,
    Forgot(IdentifierKind),
    ResetByOtp(IdentifierKind),
    ResetByToken,
    ResetBySecurityAnswer(IdentifierKind),
    SecurityQuestions(IdentifierKind),
    UnlockPin(pinauth_domain::AccountId),
    ReauthByPin,
    ValidateReauth(pinauth_domain::AccountId),
    GenerateSott,
    ServerInfo,
    RevokeRefreshToken,
    /// `POST /manage/account/emailtoken/{type}` (`true`) or `/smsotp/{type}`: whether the type
    /// is `forgotpin`, the only one pinauth issues.
    MultipurposeEmailToken(bool),
    MultipurposeSmsOtp(bool),
    SecurityQuestionsByAccessToken,
}

/// The endpoint for `method` and a lower-cased `path`.
pub fn route(method: &Method, path: &str) -> Option<Endpoint> {
    pinauth_wire::routes::find(ROUTES, method.as_str(), path)
}

/// The command service's endpoints as (method, path template).
pub fn templates() -> impl Iterator<Item = (&'static str, &'static str)> {
    pinauth_wire::routes::templates(ROUTES)
}

/// The command service's endpoints, by method and path template.
const ROUTES: &[Route<Endpoint>] = {
    use Endpoint::*;
    use IdentifierKind::{Email as ByEmail, Phone as ByPhone, Username as ByUsername};
    &[
        r("POST", "/identity/v2/auth/register", |_| Some(Register)),
        r("POST", "/identity/v2/auth/login", |_| Some(Login)),
        r("POST", "/identity/v2/auth/login/pin", |_| Some(LoginByPin)),
        r("POST", "/identity/v2/auth/pin/set/pinauthtoken", |_| {
            Some(SetPinByPinAuthToken)
        }),
        r("PUT", "/identity/v2/auth/pin/change", |_| Some(ChangePin)),
        r("POST", "/identity/v2/auth/pin/change", |_| Some(ChangePin)),
        r("PUT", "/identity/v2/auth/account/reauth/pin", |_| {
            Some(ReauthByPin)
        }),
        r("GET", "/identity/v2/manage/account/sott", |_| {
            Some(GenerateSott)
        }),
        r(
            "GET",
            "/identity/v2/manage/account/access_token/refresh/revoke",
            |_| Some(RevokeRefreshToken),
        ),
        r("GET", "/identity/v2/serverinfo", |_| Some(ServerInfo)),
        r("POST", "/identity/v2/manage/account", |_| {
            Some(ManageCreateAccount)
        }),
        r(
            "GET",
            "/identity/v2/auth/securityquestion/accesstoken",
            |_| Some(SecurityQuestionsByAccessToken),
        ),
        r("GET", "/identity/v2/auth/session_token/invalidate", |_| {
            Some(InvalidatePinSession)
        }),
        r("GET", "/identity/v2/auth/access_token/invalidate", |_| {
            Some(InvalidateAccessToken)
        }),
        r(
            "GET",
            "/identity/v2/manage/account/access_token/refresh",
            |_| Some(RefreshAccessToken),
        ),
        r("PUT", "/identity/v2/auth/account", |_| Some(UpdateAccount)),
        r("DELETE", "/identity/v2/auth/account", |_| {
            Some(RequestDeletion)
        }),
        r("GET", "/identity/v2/auth/account/delete", |_| {
            Some(DeleteByLink)
        }),
        r("DELETE", "/identity/v2/manage/account/{uid}", |c| {
            Some(ManageDeleteAccount(c.uid?))
        }),
        r("POST", "/identity/v2/auth/pin/forgot/email", |_| {
            Some(Forgot(ByEmail))
        }),
        r("POST", "/identity/v2/auth/pin/forgot/username", |_| {
            Some(Forgot(ByUsername))
        }),
        r("POST", "/identity/v2/auth/pin/forgot/otp", |_| {
            Some(Forgot(ByPhone))
        }),
        r("PUT", "/identity/v2/auth/pin/reset/otp/email", |_| {
            Some(ResetByOtp(ByEmail))
        }),
        r("PUT", "/identity/v2/auth/pin/reset/otp/phone", |_| {
            Some(ResetByOtp(ByPhone))
        }),
        r("PUT", "/identity/v2/auth/pin/reset/otp/username", |_| {
            Some(ResetByOtp(ByUsername))
        }),
        r("PUT", "/identity/v2/auth/pin/reset/token", |_| {
            Some(ResetByToken)
        }),
        r(
            "PUT",
            "/identity/v2/auth/pin/reset/securityanswer/email",
            |_| Some(ResetBySecurityAnswer(ByEmail)),
        ),
        r(
            "PUT",
            "/identity/v2/auth/pin/reset/securityanswer/phone",
            |_| Some(ResetBySecurityAnswer(ByPhone)),
        ),
        r(
            "PUT",
            "/identity/v2/auth/pin/reset/securityanswer/username",
            |_| Some(ResetBySecurityAnswer(ByUsername)),
        ),
        r("GET", "/identity/v2/auth/securityquestion/email", |_| {
            Some(SecurityQuestions(ByEmail))
        }),
        r("GET", "/identity/v2/auth/securityquestion/username", |_| {
            Some(SecurityQuestions(ByUsername))
        }),
        r("GET", "/identity/v2/auth/securityquestion/phone", |_| {
            Some(SecurityQuestions(ByPhone))
        }),
        r("PUT", "/identity/v2/manage/account/{uid}/pin/unlock", |c| {
            Some(UnlockPin(c.uid?))
        }),
        r("PUT", "/identity/v2/manage/account/{uid}", |c| {
            Some(ManageUpdateAccount(c.uid?))
        }),
        r(
            "POST",
            "/identity/v2/manage/account/emailtoken/{type}",
            |c| Some(MultipurposeEmailToken(c.kind? == "forgotpin")),
        ),
        r("POST", "/identity/v2/manage/account/smsotp/{type}", |c| {
            Some(MultipurposeSmsOtp(c.kind? == "forgotpin"))
        }),
        r(
            "POST",
            "/identity/v2/manage/account/{uid}/reauth/pin",
            |c| Some(ValidateReauth(c.uid?)),
        ),
    ]
};

const fn r(
    method: &'static str,
    path: &'static str,
    endpoint: fn(&Captures<'_>) -> Option<Endpoint>,
) -> Route<Endpoint> {
    Route {
        method,
        path,
        endpoint,
    }
}

impl Endpoint {
    /// Whether it answers a profile (a login's envelope, or the profile itself), which the
    /// `fields` parameter selects from.
    pub fn answers_profile(&self) -> bool {
        matches!(
            self,
            Self::Register
                | Self::Login
                | Self::LoginByPin
                | Self::SetPinByPinAuthToken
                | Self::UpdateAccount
                | Self::ManageUpdateAccount(_)
                | Self::ManageCreateAccount
        )
    }

    /// Whether a request to it presents a secret (a password, PIN, OTP, answer, reset token or
    /// SOTT) or costs a hash or a message, and so counts toward its origin's rate: a registration,
    /// a login, anything that sets or changes a PIN, every forgot and reset request, and the
    /// security questions (an identifier probe). Token-only requests (invalidation, refresh) name
    /// 128-bit tokens that guessing cannot find, and cost neither.
    pub fn is_costly(&self) -> bool {
        !matches!(
            self,
            Self::InvalidatePinSession
                | Self::InvalidateAccessToken
                | Self::RefreshAccessToken
                | Self::UnlockPin(_)
                | Self::ManageUpdateAccount(_)
                | Self::ManageDeleteAccount(_)
                | Self::ManageCreateAccount
                | Self::DeleteByLink
                | Self::ValidateReauth(_)
                | Self::GenerateSott
                | Self::RevokeRefreshToken
                | Self::MultipurposeEmailToken(_)
                | Self::MultipurposeSmsOtp(_)
                | Self::ServerInfo
                | Self::SecurityQuestionsByAccessToken
        )
    }
}

/// Runs `endpoint`: a costly one only once its origin is admitted (429 otherwise, before
/// anything is parsed further, hashed or read).
pub async fn run(endpoint: Endpoint, call: &Call<'_>) -> Result<Reply, ApiError> {
    if endpoint.is_costly() {
        call.service().admit(&call.ctx)?;
    }
    match endpoint {
        Endpoint::Register => register(call).await,
        Endpoint::Login => login(call).await,
        Endpoint::LoginByPin => login_by_pin(call).await,
        Endpoint::SetPinByPinAuthToken => set_pin_by_pin_auth_token(call).await,
        Endpoint::ChangePin => change_pin(call).await,
        Endpoint::InvalidatePinSession => invalidate_pin_session(call).await,
        Endpoint::InvalidateAccessToken => invalidate_access_token(call).await,
        Endpoint::RefreshAccessToken => refresh_access_token(call).await,
        Endpoint::UpdateAccount => update_account(call).await,
        Endpoint::ManageUpdateAccount(account) => manage_update_account(call, account).await,
        Endpoint::RequestDeletion => request_deletion(call).await,
        Endpoint::DeleteByLink => delete_by_link(call).await,
        Endpoint::ManageDeleteAccount(account) => manage_delete_account(call, account).await,
        Endpoint::ManageCreateAccount => manage_create_account(call).await,
        Endpoint::Forgot(kind) => forgot(call, kind).await,
        Endpoint::ResetByOtp(kind) => reset_by_otp(call, kind).await,
        Endpoint::ResetByToken => reset_by_token(call).await,
        Endpoint::ResetBySecurityAnswer(kind) => reset_by_security_answer(call, kind).await,
        Endpoint::SecurityQuestions(kind) => security_questions(call, kind).await,
        Endpoint::UnlockPin(account) => unlock_pin(call, account).await,
        Endpoint::ReauthByPin => reauth_by_pin(call).await,
        Endpoint::GenerateSott => generate_sott(call),
        Endpoint::RevokeRefreshToken => revoke_refresh_token(call).await,
        Endpoint::MultipurposeEmailToken(forgot_pin) => multipurpose(call, forgot_pin, false).await,
        Endpoint::MultipurposeSmsOtp(forgot_pin) => multipurpose(call, forgot_pin, true).await,
        Endpoint::ServerInfo => server_info(call),
        Endpoint::SecurityQuestionsByAccessToken => security_questions_by_access_token(call).await,
        Endpoint::ValidateReauth(account) => validate_reauth(call, account).await,
    }
}

fn pin_of(call: &Call<'_>, raw: &str, field: &str) -> Result<Pin, ApiError> {
    Pin::parse(raw, &call.service().policy().pin)
        .map_err(|why| ApiError::field(field, why.to_string()))
}

/// A PIN that must be present (1234 when it is not).
fn required_pin(body: &pinauth_wire::request::Body) -> Result<String, ApiError> {
    match body.string("PIN")? {
        Some(pin) if !pin.is_empty() => Ok(pin),
        _ => Err(Catalog::PinMissing.into()),
    }
}

fn email_of(body: &pinauth_wire::request::Body) -> Result<Option<Email>, ApiError> {
    let raw = match body.get("Email") {
        None => return Ok(None),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(entries)) => {
            let value_of = |e: &serde_json::Value| {
                e.as_object()?
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("Value"))
                    .and_then(|(_, v)| v.as_str())
                    .map(str::to_owned)
            };
            let is_primary = |e: &&serde_json::Value| {
                e.as_object()
                    .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("Type")))
                    .and_then(|(_, v)| v.as_str())
                    .is_some_and(|t| t.eq_ignore_ascii_case("Primary"))
            };
            let chosen = entries.iter().find(is_primary).or(entries.first());
            chosen.and_then(value_of).ok_or_else(|| {
                ApiError::field(
                    "Email",
                    "must be [{\"Type\": \"Primary\", \"Value\": \"...\"}]",
                )
            })?
        }
        Some(_) => return Err(ApiError::field("Email", "must be a list of {Type, Value}")),
    };
    Email::parse(&raw)
        .map(Some)
        .map_err(|_| Catalog::EmailInvalid.into())
}

fn username_of(raw: &str) -> Result<Username, ApiError> {
    Username::parse(raw).map_err(|_| Catalog::UsernameInvalid.into())
}

fn phone_of(raw: &str) -> Result<Phone, ApiError> {
    Phone::parse(raw).map_err(|_| Catalog::PhoneInvalid.into())
}

fn password_of(call: &Call<'_>, body: &pinauth_wire::request::Body) -> Result<Plaintext, ApiError> {
    password_in(call.settings(), body)
}

fn password_in(
    s: &super::HttpSettings,
    body: &pinauth_wire::request::Body,
) -> Result<Plaintext, ApiError> {
    let password = body
        .string("Password")?
        .filter(|p| !p.is_empty())
        .ok_or(Catalog::PasswordMissing)?;
    let chars = password.chars().count();
    if chars < s.password_min_chars || chars > s.password_max_chars {
        return Err(ApiError::field(
            "Password",
            format!(
                "must be {} to {} characters",
                s.password_min_chars, s.password_max_chars
            ),
        ));
    }
    Ok(Plaintext::new(password))
}

/// Normalizes a security answer so that case and surrounding spaces do not matter.
pub fn normalize_answer(answer: &str) -> String {
    answer.trim().to_lowercase()
}

/// The envelope of a login, its profile with the account's fields and the `fields` selection.
async fn login_answer(call: &Call<'_>, login: &Login) -> Result<serde_json::Value, ApiError> {
    let profile = match login {
        Login::Session { account, .. } => call.profile_view(account).await,
        Login::PinSetupRequired { .. } => serde_json::Value::Null,
    };
    views::login(login, profile)
}

/// `nullsupport=true`: a `null` field in an update clears it.
fn null_support(call: &Call<'_>) -> Result<bool, ApiError> {
    call.query.flag("nullsupport")
}

/// The email, username and phone of a registration or an import.
fn identifiers_of(
    body: &pinauth_wire::request::Body,
) -> Result<pinauth_domain::Identifiers, ApiError> {
    let email = email_of(body)?;
    let username = body
        .string("UserName")?
        .filter(|u| !u.trim().is_empty())
        .map(|u| username_of(&u))
        .transpose()?;
    let phone = match body.string("PhoneId")? {
        Some(p) => Some(p),
        None => body.string("Phone")?,
    }
    .filter(|p| !p.trim().is_empty())
    .map(|p| phone_of(&p))
    .transpose()?;
    Ok(pinauth_domain::Identifiers {
        email,
        username,
        phone,
    })
}

/// `SecurityQuestionAnswer`: answers to configured questions, normalized.
fn answers_of(
    settings: &super::HttpSettings,
    body: &pinauth_wire::request::Body,
) -> Result<Vec<(QuestionId, Plaintext)>, ApiError> {
    let mut answers = Vec::new();
    for (question, answer) in body.string_map("SecurityQuestionAnswer")? {
        let known = settings.security_questions.iter().any(|q| q.id == question);
        let id = QuestionId::parse(&question)
            .filter(|_| known)
            .ok_or(Catalog::UnknownQuestion)?;
        let answer = normalize_answer(&answer);
        if answer.is_empty() {
            return Err(ApiError::field(
                "SecurityQuestionAnswer",
                "answers must not be empty",
            ));
        }
        answers.push((id, Plaintext::new(answer)));
    }
    Ok(answers)
}

/// An account to import, from the body of `POST /manage/account` or a line of `pinauth import`:
/// what a registration takes (but `PINInfo`), with `Uid` (a UUID: 32 hex digits as LoginRadius
/// writes it, or hyphenated) and the password in clear (`Password`) or as a hash made elsewhere
/// (`PasswordHash`, see `legacy::PasswordHashSpec`).
pub fn account_import_of(
    settings: &super::HttpSettings,
    body: &pinauth_wire::request::Body,
    now: pinauth_domain::Timestamp,
) -> Result<AccountImport, ApiError> {
    let uid = match body.string("Uid")? {
        Some(uid) if !uid.trim().is_empty() => Some(pinauth_domain::AccountId::from_uuid(
            uuid::Uuid::try_parse(uid.trim())
                .map_err(|_| ApiError::field("Uid", "must be a UUID: 32 hex digits"))?,
        )),
        _ => None,
    };
    let identifiers = identifiers_of(body)?;
    if identifiers.kinds().is_empty() {
        return Err(Catalog::IdentifierRequired.into());
    }
    if body.get("PINInfo").is_some() {
        return Err(ApiError::field(
            "PINInfo",
            "is not imported: the holder sets a PIN at the next login",
        ));
    }
    let password = match (body.get("Password"), body.get("PasswordHash")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "PasswordHash",
                "is given with Password: give one of them",
            ));
        }
        (_, Some(serde_json::Value::String(value))) => {
            // A bare hash string, as LoginRadius's `GET /manage/account/{uid}/password` answers
            // it: its algorithm is read from its form.
            let spec = crate::legacy::PasswordHashSpec::detect(value).ok_or_else(|| {
                ApiError::field(
                    "PasswordHash",
                    "is a string whose algorithm cannot be told: give {Algorithm, Value}",
                )
            })?;
            let brought =
                crate::legacy::read(&spec).map_err(|why| ApiError::field("PasswordHash", why))?;
            ImportedPassword::Hash(brought)
        }
        (_, Some(hash)) => {
            let spec: crate::legacy::PasswordHashSpec = serde_json::from_value(hash.clone())
                .map_err(|e| {
                    // An unknown or missing field is named; a wrong type is not quoted, since
                    // serde's message would quote the value.
                    let text = e.to_string();
                    let why = match text.starts_with("unknown field")
                        || text.starts_with("missing field")
                    {
                        true => text,
                        false => "has a field of the wrong type".to_owned(),
                    };
                    ApiError::field(
                        "PasswordHash",
                        format!("is not a PasswordHash object: {why}"),
                    )
                })?;
            let brought =
                crate::legacy::read(&spec).map_err(|why| ApiError::field("PasswordHash", why))?;
            ImportedPassword::Hash(brought)
        }
        (_, None) => ImportedPassword::Clear(password_in(settings, body)?),
    };
    Ok(AccountImport {
        uid,
        identifiers,
        password,
        answers: answers_of(settings, body)?,
        profile: ProfileUpdate::parse(body, false, now)?,
    })
}

async fn register(call: &Call<'_>) -> Result<Reply, ApiError> {
    if call.sott().is_some() {
        let sott = call
            .header("x-loginradius-sott")
            .ok_or(Catalog::SottMissing)?;
        if !call.sott_verifies(sott) {
            return Err(Catalog::SottInvalid.into());
        }
    }
    let body = call.json()?;
    let pinauth_domain::Identifiers {
        email,
        username,
        phone,
    } = identifiers_of(&body)?;
    let password = password_of(call, &body)?;
    let profile = ProfileUpdate::parse(&body, false, call.service().now())?;
    let pin = match body.object("PINInfo")? {
        None => PinInput::Absent,
        Some(info) => match info.string("PIN")?.filter(|p| !p.is_empty()) {
            Some(raw) => PinInput::Given(pin_of(call, &raw, "PIN")?),
            None if info.flag("Skipped")? == Some(true) => PinInput::Skipped,
            None => PinInput::Absent,
        },
    };
    let answers = answers_of(call.settings(), &body)?;
    let done = call
        .service()
        .register(
            Registration {
                email,
                username,
                phone,
                password,
                pin,
                answers,
                profile,
            },
            &call.ctx,
        )
        .await?;
    let envelope = login_answer(call, &done.value).await?;
    Ok(Reply::new(
        serde_json::json!({ "IsPosted": true, "Data": envelope }),
        done.position,
    ))
}

async fn login(call: &Call<'_>) -> Result<Reply, ApiError> {
    let body = call.json()?;
    let identifier = if let Some(email) = body.string("Email")?.filter(|e| !e.trim().is_empty()) {
        Identifier::Email(Email::parse(&email).map_err(|_| Catalog::EmailInvalid)?)
    } else if let Some(username) = body.string("UserName")?.filter(|u| !u.trim().is_empty()) {
        Identifier::Username(username_of(&username)?)
    } else if let Some(phone) = body.string("Phone")?.filter(|p| !p.trim().is_empty()) {
        Identifier::Phone(phone_of(&phone)?)
    } else {
        return Err(Catalog::LoginIdentifierMissing.into());
    };
    let password = body
        .string("Password")?
        .filter(|p| !p.is_empty())
        .ok_or(Catalog::PasswordMissing)?;
    let done = call
        .service()
        .log_in_with_password(&identifier, &Plaintext::new(password), &call.ctx)
        .await?;
    Ok(Reply::new(
        login_answer(call, &done.value).await?,
        done.position,
    ))
}

async fn login_by_pin(call: &Call<'_>) -> Result<Reply, ApiError> {
    let session_token = call.query.required("session_token")?;
    let pin = required_pin(&call.json()?)?;
    let done = call
        .service()
        .log_in_with_pin(session_token, &Plaintext::new(pin), &call.ctx)
        .await?;
    Ok(Reply::new(
        login_answer(call, &done.value).await?,
        done.position,
    ))
}

async fn set_pin_by_pin_auth_token(call: &Call<'_>) -> Result<Reply, ApiError> {
    let token = call.query.required("pinauthtoken")?;
    let pin = pin_of(call, &required_pin(&call.json()?)?, "PIN")?;
    let done = call
        .service()
        .set_pin_with_pin_auth_token(token, &pin, &call.ctx)
        .await?;
    Ok(Reply::new(
        login_answer(call, &done.value).await?,
        done.position,
    ))
}

async fn change_pin(call: &Call<'_>) -> Result<Reply, ApiError> {
    let access_token = call.access_token()?;
    let body = call.json()?;
    let old = body.required("OldPIN")?;
    let new = pin_of(call, &body.required("NewPIN")?, "NewPIN")?;
    let done = call
        .service()
        .change_pin(&access_token, &Plaintext::new(old), &new, &call.ctx)
        .await?;
    Ok(Reply::new(views::posted(), done.position))
}

/// `timedifference` (minutes; empty or absent: LoginRadius's default of 10), within 1 and the
/// longest SOTT window accepted.
fn time_difference(call: &Call<'_>) -> Result<u32, ApiError> {
    let longest = u32::try_from(call.settings().sott_max_window_secs / 60).unwrap_or(u32::MAX);
    match call.query.get("timedifference").map(str::trim) {
        None | Some("") => Ok(10.min(longest.max(1))),
        Some(raw) => match raw.parse::<u32>() {
            Ok(minutes) if (1..=longest).contains(&minutes) => Ok(minutes),
            _ => Err(ApiError::field(
                "timedifference",
                format!("must be a number of minutes from 1 to {longest}"),
            )),
        },
    }
}

/// `GET /manage/account/sott` (app secret): a SOTT for a registration, `{"Sott", "ExpiryTime"}`.
fn generate_sott(call: &Call<'_>) -> Result<Reply, ApiError> {
    call.check_api_secret()?;
    let minutes = time_difference(call)?;
    let now = call.service().now();
    let body = serde_json::json!({
        "Sott": call.sotts().generate(now, minutes),
        "ExpiryTime": now.plus_secs(u64::from(minutes) * 60).to_rfc3339(),
    });
    Ok(Reply::new(body, None))
}

/// `GET /serverinfo`: the server's clock, and the SOTT window a client should use with it.
fn server_info(call: &Call<'_>) -> Result<Reply, ApiError> {
    let minutes = time_difference(call)?;
    let now = call.service().now();
    let layout = crate::sott::server_layout;
    let body = serde_json::json!({
        "ServerLocation": "pinauth",
        "ServerName": "pinauth",
        "CurrentTime": layout(now),
        "Sott": {
            "StartTime": layout(now),
            "EndTime": layout(now.plus_secs(u64::from(minutes) * 60)),
            "TimeDifference": format!("{minutes} Minutes"),
        },
    });
    Ok(Reply::new(body, None))
}

/// `GET /auth/securityquestion/accesstoken`: the questions configured for the site, for a valid
/// access token.
async fn security_questions_by_access_token(call: &Call<'_>) -> Result<Reply, ApiError> {
    let access_token = call.access_token()?;
    call.service()
        .account_by_access_token(&access_token)
        .await?;
    let questions: Vec<serde_json::Value> = call
        .settings()
        .security_questions
        .iter()
        .map(|q| serde_json::json!({ "QuestionId": q.id, "Question": q.question }))
        .collect();
    Ok(Reply::new(serde_json::Value::Array(questions), None))
}

/// `PUT /auth/account/reauth/pin`: `{"PIN"}` under an access token.
async fn reauth_by_pin(call: &Call<'_>) -> Result<Reply, ApiError> {
    let access_token = call.access_token()?;
    let body = call.json()?;
    let pin = required_pin(&body)?;
    let done = call
        .service()
        .reauthenticate_with_pin(&access_token, &Plaintext::new(pin), &call.ctx)
        .await?;
    let body = serde_json::json!({
        "SecondFactorValidationToken": done.value.token.as_string(),
        "ExpireIn": done.value.expires_at.to_rfc3339(),
    });
    Ok(Reply::new(body, done.position))
}

/// `POST /manage/account/{uid}/reauth/pin`: `{"SecondFactorValidationToken"}`, app secret.
async fn validate_reauth(
    call: &Call<'_>,
    account: pinauth_domain::AccountId,
) -> Result<Reply, ApiError> {
    call.check_api_secret()?;
    let body = call.json()?;
    let token = body.required("SecondFactorValidationToken")?;
    let done = call
        .service()
        .use_reauth_token(account, &token, &call.ctx)
        .await?;
    Ok(Reply::new(
        serde_json::json!({ "IsValid": true }),
        done.position,
    ))
}

async fn invalidate_pin_session(call: &Call<'_>) -> Result<Reply, ApiError> {
    let session_token = call.query.required("session_token")?;
    let done = call
        .service()
        .invalidate_pin_session(session_token, &call.ctx)
        .await?;
    Ok(Reply::new(views::posted(), done.position))
}

async fn invalidate_access_token(call: &Call<'_>) -> Result<Reply, ApiError> {
    let access_token = call.access_token()?;
    let prevent_refresh = call.query.flag("preventRefresh")?;
    let done = call
        .service()
        .invalidate_access_token(&access_token, prevent_refresh, &call.ctx)
        .await?;
    Ok(Reply::new(views::posted(), done.position))
}

async fn refresh_access_token(call: &Call<'_>) -> Result<Reply, ApiError> {
    call.check_api_secret()?;
    let refresh_token = call.query.required("refresh_token")?;
    let done = call
        .service()
        .refresh_access_token(refresh_token, &call.ctx)
        .await?;
    let (access, refresh, _) = &done.value;
    let body = serde_json::json!({
        "access_token": access.token.as_string(),
        "refresh_token": refresh.token.as_string(),
        "expires_in": access.expires_at.to_rfc3339(),
    });
    Ok(Reply::new(body, done.position))
}

/// `POST /manage/account/emailtoken/forgotpin` with `{"Email"}` or `/smsotp/forgotpin` with
/// `{"Phone"}` (app secret): a forgot-PIN token or OTP for the app's backend to deliver,
/// `{"Token", "ExpiresIn"}` (and `"IdentityProviders": null` for an email token).
async fn multipurpose(call: &Call<'_>, forgot_pin: bool, sms: bool) -> Result<Reply, ApiError> {
    call.check_api_secret()?;
    if !forgot_pin {
        return Err(match sms {
            true => Catalog::SmsOtpTypeInvalid,
            false => Catalog::TokenTypeInvalid,
        }
        .into());
    }
    let body = call.json()?;
    let kind = if sms {
        IdentifierKind::Phone
    } else {
        IdentifierKind::Email
    };
    let identifier = identifier_in(&body, kind)?;
    let done = call
        .service()
        .issue_reset_for_app(&identifier, &call.ctx)
        .await?;
    let mut answer = serde_json::Map::new();
    answer.insert("Token".into(), done.value.token.into());
    answer.insert(
        "ExpiresIn".into(),
        done.value.expires_at.to_rfc3339().into(),
    );
    if !sms {
        answer.insert("IdentityProviders".into(), serde_json::Value::Null);
    }
    let answer = serde_json::Value::Object(answer);
    Ok(Reply::new(answer, done.position))
}

/// `GET /manage/account/access_token/refresh/revoke?refresh_token=` (app secret; the SDKs spell
/// it `refresh_Token`, and names are matched in any case): `{"IsDeleted": true}`.
async fn revoke_refresh_token(call: &Call<'_>) -> Result<Reply, ApiError> {
    call.check_api_secret()?;
    let refresh_token = call.query.required("refresh_token")?;
    let done = call
        .service()
        .revoke_refresh_token(refresh_token, &call.ctx)
        .await?;
    Ok(Reply::new(
        serde_json::json!({ "IsDeleted": true }),
        done.position,
    ))
}

/// `PUT /auth/account`: updates the profile fields the body names (`nullsupport=true` lets a
/// `null` clear one), and sets or skips the PIN when the body has `PINInfo`; answers
/// `{"IsPosted": true, "Data": profile}`. Every field is checked before anything is written.
async fn update_account(call: &Call<'_>) -> Result<Reply, ApiError> {
    let access_token = call.access_token()?;
    let body = call.json()?;
    let update = ProfileUpdate::parse(&body, null_support(call)?, call.service().now())?;
    let pin = match body.object("PINInfo")? {
        None => None,
        Some(info) => Some(match info.string("PIN")?.filter(|p| !p.is_empty()) {
            Some(raw) => Some(pin_of(call, &raw, "PIN")?),
            None if info.flag("Skipped")? == Some(true) => None,
            None => return Err(ApiError::parameter("PINInfo.PIN")),
        }),
    };
    let pin_info = pin.as_ref().map(|pin| match pin {
        Some(pin) => PinInfo::Set(pin),
        None => PinInfo::Skip,
    });
    let done = call
        .service()
        .update_profile(
            ProfileEditor::Holder(&access_token),
            &update,
            pin_info,
            &call.ctx,
        )
        .await?;
    let (account, fields) = &done.value;
    let profile = call.profile_answer(account, fields).await;
    Ok(Reply::new(
        serde_json::json!({ "IsPosted": true, "Data": profile }),
        done.position,
    ))
}

/// `PUT /manage/account/{uid}` (app secret): LoginRadius's Account Update, for the profile
/// fields; answers the profile itself.
async fn manage_update_account(
    call: &Call<'_>,
    account: pinauth_domain::AccountId,
) -> Result<Reply, ApiError> {
    call.check_api_secret()?;
    let body = call.json()?;
    let update = ProfileUpdate::parse(&body, null_support(call)?, call.service().now())?;
    let done = call
        .service()
        .update_profile(ProfileEditor::App(account), &update, None, &call.ctx)
        .await
        .map_err(uid_not_found)?;
    let (account, fields) = &done.value;
    Ok(Reply::new(
        call.profile_answer(account, fields).await,
        done.position,
    ))
}

/// `POST /manage/account` (app secret): creates an account as an import does, and answers its
/// profile. An account that exists is refused: 1044 for its `Uid`, 936, 1017 or 1058 for an
/// identifier.
async fn manage_create_account(call: &Call<'_>) -> Result<Reply, ApiError> {
    call.check_api_secret()?;
    let body = call.json()?;
    let import = account_import_of(call.settings(), &body, call.service().now())?;
    let mut fields = pinauth_wire::profile::ProfileFields::new();
    fields.apply(&import.profile);
    let done = call.service().import_account(import, &call.ctx).await?;
    match &done.value {
        Imported::Created(account) => Ok(Reply::new(
            call.profile_answer(account, &fields).await,
            done.position,
        )),
        Imported::Existed(Existing::Uid) => Err(Catalog::AlreadyRegistered.into()),
        Imported::Existed(Existing::Identifier(kind)) => {
            Err(ApiError::from(AppError::IdentifierTaken(*kind)))
        }
    }
}

/// The error of a management call naming an account: 938 for a uid no account has.
fn uid_not_found(e: AppError) -> ApiError {
    match e {
        AppError::Domain(pinauth_domain::DomainError::NotRegistered) => Catalog::UidNotFound.into(),
        other => other.into(),
    }
}

/// A query parameter, trimmed, if not blank.
fn query_text(call: &Call<'_>, name: &str) -> Option<String> {
    call.query
        .get(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// `DELETE /auth/account?deleteUrl=&emailTemplate=`: mails the holder a link that deletes the
/// account: `{"IsDeleteRequestAccepted": true}`.
async fn request_deletion(call: &Call<'_>) -> Result<Reply, ApiError> {
    let access_token = call.access_token()?;
    let done = call
        .service()
        .request_deletion(
            &access_token,
            query_text(call, "deleteurl"),
            query_text(call, "emailtemplate"),
            &call.ctx,
        )
        .await?;
    Ok(Reply::new(
        serde_json::json!({ "IsDeleteRequestAccepted": true }),
        done.position,
    ))
}

/// `GET /auth/account/delete?deletetoken=`: the link's deletion: `{"IsPosted": true}`. A token
/// that is not a pending deletion's (used, replaced, expired, or never issued) answers 979.
async fn delete_by_link(call: &Call<'_>) -> Result<Reply, ApiError> {
    let token = call.query.required("deletetoken")?.to_owned();
    let done = call
        .service()
        .delete_account(Deletion::Link(&token), &call.ctx)
        .await
        .map_err(|e| match e {
            AppError::Domain(pinauth_domain::DomainError::NotRegistered) => {
                token_invalid(TokenKind::Deletion)
            }
            other => other.into(),
        })?;
    Ok(Reply::new(
        serde_json::json!({ "IsPosted": true }),
        done.position,
    ))
}

/// `DELETE /manage/account/{uid}` (app secret): deletes the account at once:
/// `{"IsDeleted": true, "RecordsDeleted": 1}`; 938 for a uid no account has. Deleting a deleted
/// account answers the same (and finishes a deletion a crash interrupted).
async fn manage_delete_account(
    call: &Call<'_>,
    account: pinauth_domain::AccountId,
) -> Result<Reply, ApiError> {
    call.check_api_secret()?;
    let done = call
        .service()
        .delete_account(Deletion::App(account), &call.ctx)
        .await
        .map_err(uid_not_found)?;
    Ok(Reply::new(
        serde_json::json!({ "IsDeleted": true, "RecordsDeleted": 1 }),
        done.position,
    ))
}

/// The identifier named `kind` in a body (`Email`, `UserName` or `Phone`), parsed.
fn identifier_in(
    body: &pinauth_wire::request::Body,
    kind: IdentifierKind,
) -> Result<Identifier, ApiError> {
    match kind {
        IdentifierKind::Email => {
            let raw = body.required("Email")?;
            Email::parse(&raw)
                .map(Identifier::Email)
                .map_err(|_| Catalog::EmailInvalid.into())
        }
        IdentifierKind::Username => Ok(Identifier::Username(username_of(
            &body.required("UserName")?,
        )?)),
        IdentifierKind::Phone => Ok(Identifier::Phone(phone_of(&body.required("Phone")?)?)),
    }
}

async fn forgot(call: &Call<'_>, kind: IdentifierKind) -> Result<Reply, ApiError> {
    let identifier = identifier_in(&call.json()?, kind)?;
    let (channel, template) = match kind {
        IdentifierKind::Phone => (
            ForgotChannel::Sms {
                voice: call.query.flag("isvoiceotp")?,
            },
            call.query.get("smstemplate"),
        ),
        _ => (ForgotChannel::Email, call.query.get("emailtemplate")),
    };
    let template = template
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    let reset_url = call
        .query
        .get("resetpinurl")
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned);
    let done = call
        .service()
        .forgot_pin(&identifier, channel, template, reset_url, &call.ctx)
        .await?;
    let body = match kind {
        // The same shape whether or not the phone is known.
        IdentifierKind::Phone => serde_json::json!({
            "IsPosted": true,
            "Data": { "AccountSid": "pinauth", "Sid": uuid::Uuid::new_v4().simple().to_string() },
        }),
        _ => views::posted(),
    };
    // No `X-PinAuth-Position`: only a known identifier's request writes, so the header would tell
    // which accounts exist (and nothing a client reads follows from a reset request).
    let _ = done.position;
    Ok(Reply::new(body, None))
}

fn reset_pin_of(call: &Call<'_>, body: &pinauth_wire::request::Body) -> Result<Pin, ApiError> {
    pin_of(call, &required_pin(body)?, "PIN")
}

async fn reset_by_otp(call: &Call<'_>, kind: IdentifierKind) -> Result<Reply, ApiError> {
    let body = call.json()?;
    let identifier = identifier_in(&body, kind)?;
    let otp = body.required("OTP")?;
    let pin = reset_pin_of(call, &body)?;
    let done = call
        .service()
        .reset_pin(ResetSecret::Otp(identifier, otp), &pin, &call.ctx)
        .await?;
    Ok(Reply::new(views::posted(), done.position))
}

async fn reset_by_token(call: &Call<'_>) -> Result<Reply, ApiError> {
    let body = call.json()?;
    let token = body.required("ResetToken")?;
    let pin = reset_pin_of(call, &body)?;
    let done = call
        .service()
        .reset_pin(ResetSecret::Token(token), &pin, &call.ctx)
        .await?;
    Ok(Reply::new(views::posted(), done.position))
}

async fn reset_by_security_answer(
    call: &Call<'_>,
    kind: IdentifierKind,
) -> Result<Reply, ApiError> {
    let body = call.json()?;
    let identifier = identifier_in(&body, kind)?;
    let answers: Vec<(String, Plaintext)> = body
        .string_map("SecurityAnswer")?
        .into_iter()
        .map(|(q, a)| (q, Plaintext::new(normalize_answer(&a))))
        .collect();
    if answers.is_empty() {
        return Err(ApiError::parameter("SecurityAnswer"));
    }
    let pin = reset_pin_of(call, &body)?;
    let done = call
        .service()
        .reset_pin(ResetSecret::Answers(identifier, answers), &pin, &call.ctx)
        .await?;
    Ok(Reply::new(views::posted(), done.position))
}

async fn security_questions(call: &Call<'_>, kind: IdentifierKind) -> Result<Reply, ApiError> {
    let identifier = match kind {
        IdentifierKind::Email => Identifier::Email(
            Email::parse(call.query.required("email")?).map_err(|_| Catalog::QueryEmailInvalid)?,
        ),
        IdentifierKind::Username => {
            Identifier::Username(username_of(call.query.required("username")?)?)
        }
        IdentifierKind::Phone => Identifier::Phone(phone_of(call.query.required("phone")?)?),
    };
    let ids = call
        .service()
        .security_questions(&identifier, &call.ctx)
        .await?;
    let questions: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| {
            let text = call
                .settings()
                .security_questions
                .iter()
                .find(|q| q.id == id.as_str())
                .map(|q| q.question.as_str())
                .unwrap_or_default();
            serde_json::json!({ "QuestionId": id.as_str(), "Question": text })
        })
        .collect();
    Ok(Reply::new(serde_json::Value::Array(questions), None))
}

async fn unlock_pin(
    call: &Call<'_>,
    account: pinauth_domain::AccountId,
) -> Result<Reply, ApiError> {
    call.check_api_secret()?;
    let done = call.service().unlock_pin(account, &call.ctx).await?;
    Ok(Reply::new(views::posted(), done.position))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_fits_its_own_example_and_no_other_row_takes_it() {
        pinauth_wire::routes::check(super::ROUTES).unwrap();
        assert!(super::route(&actix_web::http::Method::GET, "/identity/v2/auth/login").is_none());
    }
}
