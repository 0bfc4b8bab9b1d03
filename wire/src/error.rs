//! LoginRadius's error shape, and the one catalog of the LoginRadius errors pinauth answers.
//!
//! `{"Description", "ErrorCode", "Message", "IsProviderError", "ProviderErrorResponse", "Data"?,
//! "Errors"?}` with the HTTP status LoginRadius documents for each code. Conflicts, overload and
//! outages never become 400; bad input never becomes 500.
//!
//! Every error a client sees is built from `Catalog` or `Template` below, never spelled where it
//! is raised: a code, its status and its texts are written once, so the command side, the query side
//! and request parsing cannot drift apart. One code may serve several cases (950 for an internal
//! failure and for an outage, 1234 for a missing and for an unskippable PIN): the cases share the
//! code's `Message` and differ in `Description` and, where the cause differs, in status, as
//! LoginRadius's own answers do. The tests below hold the catalog to that and to API.md.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use pinauth_domain::{Timestamp, TokenKind};
use serde_json::{Map, Value, json};
use std::fmt;

/// One catalog entry: what a client sees of an error, but for `Data` and `Errors`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// HTTP status.
    pub status: u16,
    /// LoginRadius error code (`ErrorCode`).
    pub code: u32,
    /// LoginRadius's short text for the code (`Message`).
    pub message: &'static str,
    /// The longer text for this case (`Description`); in a `Template`, `{}` marks each blank.
    pub description: &'static str,
}

/// Declares a catalog section: an enum with one variant per case and `spec()` giving its texts.
macro_rules! catalog {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$doc:meta])*
                $entry:ident = $status:literal, $code:literal, $message:literal, $description:literal;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis enum $name {
            $( $(#[$doc])* $entry, )*
        }

        impl $name {
            /// Every entry of the section, in the order written.
            #[cfg(test)]
            const ALL: &'static [Self] = &[$(Self::$entry),*];

            /// The entry's code, HTTP status and texts.
            pub const fn spec(self) -> Spec {
                match self {
                    $(
                        Self::$entry => Spec {
                            status: $status,
                            code: $code,
                            message: $message,
                            description: $description,
                        },
                    )*
                }
            }
        }
    };
}

catalog! {
    /// Every LoginRadius error pinauth answers whose texts are fixed; an [`ApiError`] is made from
    /// one with `ApiError::from`. Grouped as LoginRadius's code table groups them.
    pub enum Catalog {
        // The request: API key and secret, body, route.
        /// 922: no `apikey` in the query.
        ApiKeyMissing = 400, 922, "API key is missing",
            "The request is missing the API key, please use the valid API key parameter in order to process this request.";
        /// 920: an `apikey` that is not the app's.
        ApiKeyInvalid = 400, 920, "API key is invalid",
            "The provided LoginRadius API key is invalid, please use a valid API key of your LoginRadius account.";
        /// 923: a management call without `X-LoginRadius-ApiSecret`.
        ApiSecretMissing = 400, 923, "API secret is missing",
            "The request is missing the API secret.";
        /// 902: a management call with the wrong secret.
        ApiSecretInvalid = 401, 902, "The API secret is unauthorized",
            "The provided LoginRadius API secret is invalid or is not authorized.";
        /// 902: `/metrics` without the bearer token configured as `[metrics] token`.
        MetricsTokenInvalid = 401, 902, "The API secret is unauthorized",
            "The metrics endpoint needs its bearer token in the Authorization header.";
        /// 965: a POST body that is not a JSON object (or could not be read).
        PostBodyInvalid = 400, 965, "The post body is invalid",
            "Please use a valid post body and make sure that it is in a valid JSON format.";
        /// 1079: a PUT body that is not a JSON object.
        PutBodyInvalid = 400, 1079, "Put body is invalid",
            "Please use a valid put body and make sure that it is in a valid JSON format.";
        /// 971: no such endpoint.
        EndpointNotFound = 404, 971, "Invalid request",
            "The API endpoint is not correct.";

        // Failures that are not the client's: details go to the log, never to the client.
        /// 950 (500): an internal failure.
        Internal = 500, 950, "Operation failed due to an unknown error",
            "An internal error occurred.";
        /// 950 (503): a dependency (the event store, the read side) is out.
        Unavailable = 503, 950, "Operation failed due to an unknown error",
            "The service is temporarily unavailable, please try again.";
        /// 950 (503): optimistic concurrency kept failing on one account.
        Contention = 503, 950, "Operation failed due to an unknown error",
            "Too many concurrent changes to this account, please try again.";
        /// 950 (503): the read side did not reach the position the client asked for in time.
        ReadSideBehind = 503, 950, "Operation failed due to an unknown error",
            "The read side has not caught up with the requested position yet, please retry.";
        /// 429: the hashing pool is full.
        Overloaded = 429, 429, "Too Many Request",
            "Too many requests are being processed, please try again later.";
        /// 429: the client's network made too many authentication requests lately.
        Throttled = 429, 429, "Too Many Request",
            "Too many requests from your network, please try again later.";

        // Tokens.
        /// 1060: no access token in the header or the query.
        AccessTokenMissing = 400, 1060, "Access token is missing",
            "This request is missing the access token, please use the valid access token parameter in order to process this request.";
        /// 905.
        AccessTokenInvalid = 403, 905, "Access token is invalid",
            "The LoginRadius access token is invalid, please use the correct or valid access token in order to process this request.";
        /// 906.
        AccessTokenExpired = 403, 906, "Access token has expired",
            "The LoginRadius access token has expired, please request a new token from LoginRadius API.";
        /// 1245.
        SessionTokenInvalid = 403, 1245, "Session token is invalid",
            "PIN authentication session token is invalid.";
        /// 1246.
        SessionTokenExpired = 403, 1246, "Session token has expired",
            "PIN authentication session token has expired.";
        /// 1239.
        PinAuthTokenInvalid = 403, 1239, "PINAuth token is invalid",
            "The PINAuth token is invalid.";
        /// 1240.
        PinAuthTokenExpired = 403, 1240, "PINAuth token has expired",
            "The PINAuth token has expired.";
        /// 1181: a multipurpose email token type pinauth does not issue (it issues `forgotpin`).
        TokenTypeInvalid = 403, 1181, "You have entered an invalid token type",
            "You have entered an invalid token type; pinauth issues the forgotpin type only.";
        /// 1182: a multipurpose SMS OTP type pinauth does not issue (it issues `forgotpin`).
        SmsOtpTypeInvalid = 403, 1182, "You have entered an invalid sms otp type",
            "You have entered an invalid sms otp type; pinauth issues the forgotpin type only.";
        /// 1193: a `SecondFactorValidationToken` that is not the account's, already used, or
        /// expired (LoginRadius documents no answer for PIN re-authentication; 1193 is its code
        /// for an invalid two-factor validation token, and it has no "expired" twin).
        ReauthTokenInvalid = 403, 1193, "Two factor validation token is invalid",
            "The LoginRadius two factor Validation token is invalid, please use the correct or valid token.";
        /// 1217: LoginRadius has one code for a refresh token that is invalid or expired.
        RefreshTokenInvalid = 403, 1217, "Refresh token invalid",
            "LoginRadius refresh token is invalid.";
        /// 1217, expired.
        RefreshTokenExpired = 403, 1217, "Refresh token invalid",
            "LoginRadius refresh token has expired.";
        /// 1048: registration without `X-LoginRadius-Sott` where one is required.
        SottMissing = 400, 1048, "Secured one-time token (SOTT) is required",
            "Secured one-time token (SOTT) is required, please use a valid secure one-time token (SOTT) in order to process this request.";
        /// 1049: a SOTT that does not verify.
        SottInvalid = 403, 1049, "Secured one-time token (SOTT) is invalid",
            "Secured one-time token (SOTT) is invalid, please use a valid secure one-time token (SOTT) in order to process this request.";

        // Identifiers and passwords as sent.
        /// 990: an email that does not parse, in a body.
        EmailInvalid = 403, 990, "This email is invalid",
            "This is not a valid email address, please use a valid email address.";
        /// 990: an email that does not parse, in the query (security questions).
        QueryEmailInvalid = 403, 990, "This email is invalid",
            "This is not a valid email address.";
        /// 1204: a username that does not parse.
        UsernameInvalid = 403, 1204, "Username is not valid",
            "The username is not valid.";
        /// 1096: a phone number that does not parse.
        PhoneInvalid = 400, 1096, "Invalid phone number",
            "The provided phone number is not valid or not well-formatted.";
        /// 1141: a password login naming no email, username or phone.
        LoginIdentifierMissing = 400, 1141, "Email address or username is required",
            "Email address, username or phone is required, please use a valid one in order to process this request.";
        /// 1089: no password, or an empty one.
        PasswordMissing = 400, 1089, "Password is missing",
            "The password is missing, please use the valid password parameter in order to process this request.";

        // Accounts and identifiers.
        /// 938: the account's stream holds no registration.
        NotRegistered = 403, 938, "User does not exist",
            "The user's account does not exist.";
        /// 938: a management call names a uid no account has.
        UidNotFound = 403, 938, "User does not exist",
            "The user's account does not exist, please use a valid user.";
        /// 968: a `BirthDate` that is not a date, or is in the future.
        BirthDateInvalid = 400, 968, "The date is invalid or has an invalid format",
            "The provided birth date either is in the future or has an invalid format, please use the valid date and date format (mm/dd/yyyy).";
        /// 993: a `CustomFields` entry that is not a flat string of at most 1000 characters.
        CustomFieldInvalid = 403, 993, "Custom field is invalid",
            "This custom field is invalid, please use a correct or valid custom field.";
        /// 1044: the account's stream already holds a registration.
        AlreadyRegistered = 403, 1044, "This account ID is already registered with your site",
            "The account already exists.";
        /// 1189: a registration naming no email, username or phone.
        IdentifierRequired = 403, 1189, "Email Id or Phone number is required",
            "An email, username or phone number is required in order to process this request.";
        /// 936: the email belongs to another account.
        EmailTaken = 403, 936, "Email address is already registered with your LoginRadius site",
            "The email address has to be unique for your LoginRadius site, please use a different email address.";
        /// 1017: the username belongs to another account.
        UsernameTaken = 403, 1017, "This username is already registered with this website",
            "The username you have selected is already in use, please choose a different username.";
        /// 1058: the phone number belongs to another account.
        PhoneTaken = 403, 1058, "Phone number is already registered with your LoginRadius site",
            "The phone number has to be unique for your LoginRadius site, please use a different phone number.";
        /// 1023: no account has this email (told only when the app reveals unknown identifiers).
        EmailNotFound = 403, 1023, "Email address does not exist",
            "The provided email address does not exist, please use a valid email address.";
        /// 1022: no account has this username.
        UsernameNotFound = 403, 1022, "Username does not exist",
            "The provided username does not exist, please enter a valid username.";
        /// 1043: no account has this phone number.
        PhoneNotFound = 403, 1043, "Phone number is invalid or does not exist",
            "The provided phone number is invalid or does not exist.";
        /// 1043: the account has no address for the channel asked for.
        ChannelUnavailable = 403, 1043, "Phone number is invalid or does not exist",
            "The account has no address for this channel.";

        // Passwords and PINs.
        /// 966: unknown identifier or wrong password (one answer for both).
        InvalidCredentials = 401, 966, "Invalid user ID and/or password",
            "Please use a valid user ID and password combination.";
        /// 1234: a request without the PIN it needs.
        PinMissing = 403, 1234, "PIN is required",
            "The PIN is a required parameter.";
        /// 1234: the configuration requires a PIN here and none was given.
        PinRequired = 403, 1234, "PIN is required",
            "The PIN is required, please provide a PIN.";
        /// 1234: a required PIN cannot be skipped.
        PinSkipNotAllowed = 403, 1234, "PIN is required",
            "The PIN is required and cannot be skipped.";
        /// 1243: a login that must set its PIN first; `Data.PINAuthToken` says with what.
        PinSetupRequired = 403, 1243, "PIN is required",
            "The PIN is required and needs to be set, please set PIN in the profile for login.";
        /// 1235: the flow needs a PIN and none is set.
        PinNotSet = 403, 1235, "PIN is not available",
            "No PIN is set for this account.";
        /// 1244: login by PIN is turned off.
        PinLoginDisabled = 403, 1244, "PIN Login is not enabled",
            "PIN login is not enabled for this site.";
        /// 1236: a wrong PIN at PIN login.
        InvalidPin = 401, 1236, "Invalid PIN",
            "The PIN is invalid.";
        /// 1241: a wrong old PIN at PIN change.
        CurrentPinInvalid = 401, 1241, "Current pin is invalid",
            "The current PIN is invalid.";
        /// 1198: the account is locked; `Data.LoginLockedTimeout` says until when.
        Locked = 403, 1198, "Your account has been locked",
            "Your account has been locked, please try again after sometime.";

        // Resetting a PIN.
        /// 1248: `resetpinurl` is not on the allow-list.
        ResetUrlNotAllowed = 403, 1248, "The reset pin URL is invalid",
            "The reset PIN URL is not allowed for this site.";
        /// 979: a reset token that is not a pending challenge's.
        InvalidResetToken = 403, 979, "The link cannot be accessed",
            "The link is either expired or has already been used, please request a new link.";
        /// 979: a delete token that is not the account's pending one, or has expired.
        DeleteTokenInvalid = 403, 979, "The link cannot be accessed",
            "The delete link is either expired or has already been used, please request a new one.";
        /// 1242: a reset token whose challenge was already used.
        ResetTokenUsed = 403, 1242, "The email verification link has already been used",
            "This link has already been used, please use the 'forgot pin' option again.";
        /// 1067: no reset challenge of the kind presented is pending.
        ChallengeNotFound = 403, 1067, "Invalid OTP Code",
            "The code is invalid, please request a new one.";
        /// 1067: an OTP that does not match the pending challenge.
        WrongOtp = 403, 1067, "Invalid OTP Code",
            "The OTP code is invalid, please request for a new OTP.";
        /// 1068: the reset challenge was already used.
        ChallengeUsed = 403, 1068, "The OTP has already been used",
            "Each code can only be used once, please request a new one.";
        /// 1069: the reset challenge's lifetime is over.
        ChallengeExpired = 403, 1069, "Verification OTP has expired",
            "This code has expired, please request a new one.";
        /// 1070: too many wrong guesses against the challenge.
        ChallengeExhausted = 403, 1070, "The OTP cannot be accessed",
            "This code allows no more tries, please request a new one.";
        /// 1091: a security question that is not configured, or not answered by the account.
        UnknownQuestion = 403, 1091, "Security question is invalid",
            "This security question is invalid, please use a correct or valid security question.";
        /// 1092: the account has no security answers.
        SecurityAnswersNotSet = 403, 1092, "Security question and answer is not saved in profile",
            "No security question and answer is saved in this profile.";
        /// 1093: a security answer that does not match.
        WrongAnswer = 403, 1093, "Your security answer is incorrect",
            "Your security answer is incorrect, please enter the correct security answer.";
        /// 1094: too many wrong security answers; another reset method or an admin must help.
        SecurityAnswersExhausted = 403, 1094, "Your security answer or question is incorrect",
            "Too many wrong security answers; use another way to reset the PIN.";
        /// 1179: too many reset requests for this identifier and channel. No time is told: the
        /// answer is the same whether the account exists or not.
        ResetRateLimited = 403, 1179, "You have reached a limit for generating OTP",
            "The request limit has been reached, please try again later.";
    }
}

catalog! {
    /// The LoginRadius errors pinauth answers whose `Description` has blanks, filled per request.
    /// Only `ApiError`'s constructors below use them, so that no blank reaches a client unfilled.
    enum Template {
        /// 908: a required parameter is missing or malformed; the blank names it.
        ParameterRequired = 403, 908, "A parameter is not formatted correctly",
            "The {} is a required parameter.";
        /// 1134: one field failed validation; the blanks are the field and why.
        FieldInvalid = 403, 1134, "Validation failed for one or more fields",
            "Validation failed for the field {}: {}";
        /// 1090: the body is larger than the blank, in bytes.
        BodyTooLarge = 413, 1090, "Invalid request body or payload",
            "The request body is larger than {} bytes.";
    }
}

/// `template` with each `{}` replaced by the next of `blanks` (an argument's own braces stay).
fn fill(template: &str, blanks: &[&str]) -> String {
    let mut blanks = blanks.iter();
    let mut out = String::with_capacity(template.len() + 32);
    for (i, part) in template.split("{}").enumerate() {
        if i > 0 {
            out.push_str(blanks.next().copied().unwrap_or_default());
        }
        out.push_str(part);
    }
    out
}

/// An error as LoginRadius answers it. Made only from a catalog entry, by `From<Catalog>` or the
/// constructors below, so that no code or text is spelled where an error is raised.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub(crate) status: StatusCode,
    /// LoginRadius error code.
    pub(crate) code: u32,
    /// Short message.
    pub(crate) message: &'static str,
    /// Longer description.
    pub(crate) description: String,
    /// Extra payload (`PINAuthToken`, `LoginLockedTimeout`).
    pub(crate) data: Option<Value>,
    /// Field validation errors.
    pub(crate) errors: Vec<(String, String)>,
}

impl From<Catalog> for ApiError {
    fn from(entry: Catalog) -> Self {
        let spec = entry.spec();
        Self::of(spec, spec.description.to_owned())
    }
}

impl ApiError {
    /// The error of `spec`, with `description` (its own, or its template filled).
    fn of(spec: Spec, description: String) -> Self {
        Self {
            // Every catalog status is a valid one (tested), so the fallback is never taken.
            status: StatusCode::from_u16(spec.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: spec.code,
            message: spec.message,
            description,
            data: None,
            errors: Vec::new(),
        }
    }

    /// The error of a template entry, its blanks filled with `blanks`.
    fn filled(entry: Template, blanks: &[&str]) -> Self {
        let spec = entry.spec();
        Self::of(spec, fill(spec.description, blanks))
    }

    /// With a `Data` payload.
    fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// 908: a required parameter is missing or malformed.
    pub fn parameter(name: &str) -> Self {
        Self::filled(Template::ParameterRequired, &[name])
    }

    /// 1134: one field failed validation.
    pub fn field(name: &str, why: impl Into<String>) -> Self {
        let why = why.into();
        let mut e = Self::filled(Template::FieldInvalid, &[name, &why]);
        e.errors.push((name.to_owned(), why));
        e
    }

    /// 965 (POST) / 1079 (PUT): the body is not a JSON object.
    pub fn body(put: bool) -> Self {
        if put {
            Catalog::PutBodyInvalid.into()
        } else {
            Catalog::PostBodyInvalid.into()
        }
    }

    /// 1090: the body is larger than `limit` bytes.
    pub fn too_large(limit: usize) -> Self {
        Self::filled(Template::BodyTooLarge, &[&limit.to_string()])
    }

    /// 971: no such endpoint.
    pub fn not_found() -> Self {
        Catalog::EndpointNotFound.into()
    }

    /// 1198 with `Data.LoginLockedTimeout`.
    pub fn locked(until: Option<Timestamp>) -> Self {
        let timeout = until.map_or(Value::Null, |u| Value::String(u.to_rfc3339()));
        Self::from(Catalog::Locked).with_data(json!({ "LoginLockedTimeout": timeout }))
    }

    /// 1243 with `Data.PINAuthToken`: the login must set its PIN first, with this token.
    pub fn pin_setup_required(pin_auth_token: String) -> Self {
        Self::from(Catalog::PinSetupRequired).with_data(json!({ "PINAuthToken": pin_auth_token }))
    }

    /// The LoginRadius error code.
    pub fn code(&self) -> u32 {
        self.code
    }

    /// Why, in one line: the code and the field errors, or the description when there are none
    /// (what `pinauth import` reports for a rejected line).
    pub fn reason(&self) -> String {
        match self.errors.is_empty() {
            true => format!("{} {}", self.code, self.description),
            false => {
                let fields: Vec<String> = self
                    .errors
                    .iter()
                    .map(|(field, why)| format!("{field} {why}"))
                    .collect();
                format!("{} {}", self.code, fields.join("; "))
            }
        }
    }

    /// The JSON body.
    pub fn body_json(&self) -> Value {
        let mut body = Map::new();
        body.insert(
            "Description".into(),
            Value::String(self.description.clone()),
        );
        body.insert("ErrorCode".into(), json!(self.code));
        body.insert("Message".into(), Value::String(self.message.into()));
        body.insert("IsProviderError".into(), Value::Bool(false));
        body.insert("ProviderErrorResponse".into(), Value::Null);
        body.insert("Data".into(), self.data.clone().unwrap_or(Value::Null));
        if !self.errors.is_empty() {
            let errors = self
                .errors
                .iter()
                .map(|(field, why)| json!({ "FieldName": field, "ErrorMessage": why }))
                .collect();
            body.insert("Errors".into(), Value::Array(errors));
        }
        Value::Object(body)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(self.body_json())
    }
}

/// The error for a token of `kind` that is not valid.
pub fn token_invalid(kind: TokenKind) -> ApiError {
    match kind {
        TokenKind::Access => Catalog::AccessTokenInvalid,
        TokenKind::PinSession => Catalog::SessionTokenInvalid,
        TokenKind::PinAuth => Catalog::PinAuthTokenInvalid,
        TokenKind::Refresh => Catalog::RefreshTokenInvalid,
        TokenKind::Reauth => Catalog::ReauthTokenInvalid,
        TokenKind::Deletion => Catalog::DeleteTokenInvalid,
    }
    .into()
}

/// The error for a token of `kind` whose lifetime is over.
pub fn token_expired(kind: TokenKind) -> ApiError {
    match kind {
        TokenKind::Access => Catalog::AccessTokenExpired,
        TokenKind::PinSession => Catalog::SessionTokenExpired,
        TokenKind::PinAuth => Catalog::PinAuthTokenExpired,
        TokenKind::Refresh => Catalog::RefreshTokenExpired,
        TokenKind::Reauth => Catalog::ReauthTokenInvalid,
        TokenKind::Deletion => Catalog::DeleteTokenInvalid,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_spec() -> Vec<Spec> {
        let fixed = Catalog::ALL.iter().map(|e| e.spec());
        fixed
            .chain(Template::ALL.iter().map(|e| e.spec()))
            .collect()
    }

    #[test]
    fn a_code_has_one_message_and_no_case_is_listed_twice() {
        let specs = every_spec();
        for (i, a) in specs.iter().enumerate() {
            assert!(!a.message.is_empty() && !a.description.is_empty(), "{a:?}");
            for b in &specs[i + 1..] {
                if a.code != b.code {
                    continue;
                }
                assert_eq!(a.message, b.message, "code {} has two messages", a.code);
                assert_ne!(
                    (a.status, a.description),
                    (b.status, b.description),
                    "code {} is listed twice for one case",
                    a.code
                );
            }
        }
    }

    #[test]
    fn every_status_is_an_http_error_status() {
        for spec in every_spec() {
            let status = StatusCode::from_u16(spec.status).map_err(|_| spec);
            assert!(
                status.is_ok_and(|s| s.is_client_error() || s.is_server_error()),
                "{spec:?}"
            );
        }
    }

    #[test]
    fn only_templates_have_blanks() {
        for entry in Catalog::ALL {
            assert!(!entry.spec().description.contains("{}"), "{entry:?}");
        }
        for entry in Template::ALL {
            assert!(entry.spec().description.contains("{}"), "{entry:?}");
        }
    }

    /// Code, HTTP status (where the table gives one) and `Message`, as API.md §5.2 and §4.2 quote
    /// LoginRadius's code table.
    const DOCUMENTED: &[(u32, Option<u16>, &str)] = &[
        (920, Some(400), "API key is invalid"),
        (922, Some(400), "API key is missing"),
        (908, Some(403), "A parameter is not formatted correctly"),
        (965, Some(400), "The post body is invalid"),
        (905, Some(403), "Access token is invalid"),
        (906, Some(403), "Access token has expired"),
        (1060, Some(400), "Access token is missing"),
        (1244, Some(403), "PIN Login is not enabled"),
        (1234, Some(403), "PIN is required"),
        (1235, Some(403), "PIN is not available"),
        (1236, Some(401), "Invalid PIN"),
        (1241, Some(401), "Current pin is invalid"),
        (1243, Some(403), "PIN is required"),
        (1239, Some(403), "PINAuth token is invalid"),
        (1240, Some(403), "PINAuth token has expired"),
        (1245, Some(403), "Session token is invalid"),
        (1246, Some(403), "Session token has expired"),
        (1248, Some(403), "The reset pin URL is invalid"),
        (
            1242,
            Some(403),
            "The email verification link has already been used",
        ),
        (979, Some(403), "The link cannot be accessed"),
        (1067, Some(403), "Invalid OTP Code"),
        (1068, Some(403), "The OTP has already been used"),
        (1069, Some(403), "Verification OTP has expired"),
        (1070, Some(403), "The OTP cannot be accessed"),
        (1091, Some(403), "Security question is invalid"),
        (1093, Some(403), "Your security answer is incorrect"),
        (938, Some(403), "User does not exist"),
        (1022, None, "Username does not exist"),
        (1023, None, "Email address does not exist"),
        (1043, None, "Phone number is invalid or does not exist"),
        (1096, Some(400), "Invalid phone number"),
        (966, Some(401), "Invalid user ID and/or password"),
        (429, Some(429), "Too Many Request"),
    ];

    #[test]
    fn entries_match_the_texts_loginradius_documents() {
        let specs = every_spec();
        for &(code, status, message) in DOCUMENTED {
            let cases: Vec<_> = specs.iter().filter(|s| s.code == code).collect();
            assert!(!cases.is_empty(), "{code} is not in the catalog");
            for spec in cases {
                assert_eq!(spec.message, message, "{spec:?}");
                if let Some(status) = status {
                    assert_eq!(spec.status, status, "{spec:?}");
                }
            }
        }
        // SOTT: 1048 missing (400), 1049 invalid (403).
        assert_eq!(Catalog::SottMissing.spec().status, 400);
        assert_eq!(Catalog::SottInvalid.spec().status, 403);
        // Descriptions API.md quotes word for word.
        assert_eq!(
            Catalog::PinSetupRequired.spec().description,
            "The PIN is required and needs to be set, please set PIN in the profile for login."
        );
        assert_eq!(
            Catalog::Locked.spec().description,
            "Your account has been locked, please try again after sometime."
        );
        assert_eq!(
            Catalog::SessionTokenInvalid.spec().description,
            "PIN authentication session token is invalid."
        );
        assert_eq!(
            ApiError::parameter("apikey").description,
            "The apikey is a required parameter."
        );
    }

    #[test]
    fn templates_are_filled_in_order_and_carry_their_payloads() {
        let e = ApiError::field("PIN", "must be {4} digits");
        assert_eq!(
            (e.status.as_u16(), e.code, e.message),
            (403, 1134, "Validation failed for one or more fields")
        );
        assert_eq!(
            e.description,
            "Validation failed for the field PIN: must be {4} digits"
        );
        assert_eq!(
            e.errors,
            [("PIN".to_owned(), "must be {4} digits".to_owned())]
        );
        let e = ApiError::too_large(16384);
        assert_eq!(
            (e.status.as_u16(), e.code, e.description.as_str()),
            (413, 1090, "The request body is larger than 16384 bytes.")
        );
        let body = ApiError::pin_setup_required("t".into()).body_json();
        assert_eq!(body["Data"], json!({ "PINAuthToken": "t" }));
        assert_eq!(body["ErrorCode"], 1243);
    }
}
