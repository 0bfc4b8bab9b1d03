//! LoginRadius's error shape, and the one mapping from application errors to it.
//!
//! `{"Description", "ErrorCode", "Message", "IsProviderError", "ProviderErrorResponse", "Data"?,
//! "Errors"?}` with the HTTP status LoginRadius documents for each code. Conflicts, overload and
//! outages never become 400; bad input never becomes 500.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use pinauth_domain::{DomainError, Timestamp, TokenKind};
use serde_json::{Map, Value, json};
use std::fmt;

/// An error as LoginRadius answers it.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// LoginRadius error code.
    pub code: u32,
    /// Short message.
    pub message: &'static str,
    /// Longer description.
    pub description: String,
    /// Extra payload (`PINAuthToken`, `LoginLockedTimeout`).
    pub data: Option<Value>,
    /// Field validation errors.
    pub errors: Vec<(String, String)>,
}

impl ApiError {
    /// An error with `code`, `status`, `message` and `description`.
    pub fn new(
        status: u16,
        code: u32,
        message: &'static str,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            message,
            description: description.into(),
            data: None,
            errors: Vec::new(),
        }
    }

    /// With a `Data` payload.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// 908: a required parameter is missing or malformed.
    pub fn parameter(name: &str) -> Self {
        Self::new(
            403,
            908,
            "A parameter is not formatted correctly",
            format!("The {name} is a required parameter."),
        )
    }

    /// 1134: one field failed validation.
    pub fn field(name: &str, why: impl Into<String>) -> Self {
        let why = why.into();
        let mut e = Self::new(
            403,
            1134,
            "Validation failed for one or more fields",
            format!("Validation failed for the field {name}: {why}"),
        );
        e.errors.push((name.to_owned(), why));
        e
    }

    /// 922 / 920: the API key is missing or wrong.
    pub fn api_key(missing: bool) -> Self {
        if missing {
            Self::new(
                400,
                922,
                "API key is missing",
                "The request is missing the API key, please use the valid API key parameter in order to process this request.",
            )
        } else {
            Self::new(
                400,
                920,
                "API key is invalid",
                "The provided LoginRadius API key is invalid, please use a valid API key of your LoginRadius account.",
            )
        }
    }

    /// 923 / 902: the API secret is missing or wrong.
    pub fn api_secret(missing: bool) -> Self {
        if missing {
            Self::new(
                400,
                923,
                "API secret is missing",
                "The request is missing the API secret.",
            )
        } else {
            Self::new(
                401,
                902,
                "The API secret is unauthorized",
                "The provided LoginRadius API secret is invalid or is not authorized.",
            )
        }
    }

    /// 965 (POST) / 1079 (PUT): the body is not a JSON object.
    pub fn body(put: bool) -> Self {
        if put {
            Self::new(
                400,
                1079,
                "Put body is invalid",
                "Please use a valid put body and make sure that it is in a valid JSON format.",
            )
        } else {
            Self::new(
                400,
                965,
                "The post body is invalid",
                "Please use a valid post body and make sure that it is in a valid JSON format.",
            )
        }
    }

    /// The body is larger than allowed.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            1090,
            "Invalid request body or payload",
            format!("The request body is larger than {limit} bytes."),
        )
    }

    /// No such endpoint.
    pub fn not_found() -> Self {
        Self::new(
            404,
            971,
            "Invalid request",
            "The API endpoint is not correct.",
        )
    }

    /// The endpoint exists, not with this method.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            971,
            "Invalid request",
            "Verify that you are accessing the API endpoint with the correct method.",
        )
    }

    /// 500/503: an internal failure or an outage; details go to the log, never to the client.
    pub fn internal(unavailable: bool) -> Self {
        if unavailable {
            Self::new(
                503,
                950,
                "Operation failed due to an unknown error",
                "The service is temporarily unavailable, please try again.",
            )
        } else {
            Self::new(
                500,
                950,
                "Operation failed due to an unknown error",
                "An internal error occurred.",
            )
        }
    }

    /// 1060: no access token.
    pub fn access_token_missing() -> Self {
        Self::new(
            400,
            1060,
            "Access token is missing",
            "This request is missing the access token, please use the valid access token parameter in order to process this request.",
        )
    }

    /// 429: overloaded, try later.
    pub fn overloaded() -> Self {
        Self::new(
            429,
            429,
            "Too Many Request",
            "Too many requests are being processed, please try again later.",
        )
    }

    /// 1198 with `Data.LoginLockedTimeout`.
    pub fn locked(until: Option<Timestamp>) -> Self {
        let timeout = until.map_or(Value::Null, |u| Value::String(u.to_rfc3339()));
        Self::new(
            403,
            1198,
            "Your account has been locked",
            "Your account has been locked, please try again after sometime.",
        )
        .with_data(json!({ "LoginLockedTimeout": timeout }))
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
        TokenKind::Access => ApiError::new(
            403,
            905,
            "Access token is invalid",
            "The LoginRadius access token is invalid, please use the correct or valid access token in order to process this request.",
        ),
        TokenKind::PinSession => ApiError::new(
            403,
            1245,
            "Session token is invalid",
            "PIN authentication session token is invalid.",
        ),
        TokenKind::PinAuth => ApiError::new(
            403,
            1239,
            "PINAuth token is invalid",
            "The PINAuth token is invalid.",
        ),
        TokenKind::Refresh => ApiError::new(
            403,
            1217,
            "Refresh token invalid",
            "LoginRadius refresh token is invalid.",
        ),
    }
}

/// The error for a token of `kind` whose lifetime is over.
pub fn token_expired(kind: TokenKind) -> ApiError {
    match kind {
        TokenKind::Access => ApiError::new(
            403,
            906,
            "Access token has expired",
            "The LoginRadius access token has expired, please request a new token from LoginRadius API.",
        ),
        TokenKind::PinSession => ApiError::new(
            403,
            1246,
            "Session token has expired",
            "PIN authentication session token has expired.",
        ),
        TokenKind::PinAuth => ApiError::new(
            403,
            1240,
            "PINAuth token has expired",
            "The PINAuth token has expired.",
        ),
        TokenKind::Refresh => ApiError::new(
            403,
            1217,
            "Refresh token invalid",
            "LoginRadius refresh token has expired.",
        ),
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotRegistered => ApiError::new(
                403,
                938,
                "User does not exist",
                "The user's account does not exist.",
            ),
            DomainError::AlreadyRegistered => ApiError::new(
                403,
                1044,
                "This account ID is already registered with your site",
                "The account already exists.",
            ),
            DomainError::IdentifierRequired => ApiError::new(
                403,
                1189,
                "Email Id or Phone number is required",
                "An email, username or phone number is required in order to process this request.",
            ),
            DomainError::PinLocked { until } => ApiError::locked(until),
            DomainError::PinRequired => ApiError::new(
                403,
                1234,
                "PIN is required",
                "The PIN is required, please provide a PIN.",
            ),
            DomainError::PinSkipNotAllowed => ApiError::new(
                403,
                1234,
                "PIN is required",
                "The PIN is required and cannot be skipped.",
            ),
            DomainError::PinNotSet => ApiError::new(
                403,
                1235,
                "PIN is not available",
                "No PIN is set for this account.",
            ),
            DomainError::PinAlreadySet => ApiError::field(
                "PINInfo",
                "a PIN is already set; change or reset it instead",
            ),
            DomainError::PinLoginDisabled => ApiError::new(
                403,
                1244,
                "PIN Login is not enabled",
                "PIN login is not enabled for this site.",
            ),
            DomainError::TokenInvalid { kind } => token_invalid(kind),
            DomainError::TokenExpired { kind } => token_expired(kind),
            DomainError::ChallengeNotFound => ApiError::new(
                403,
                1067,
                "Invalid OTP Code",
                "The code is invalid, please request a new one.",
            ),
            DomainError::ChallengeExpired => ApiError::new(
                403,
                1069,
                "Verification OTP has expired",
                "This code has expired, please request a new one.",
            ),
            DomainError::ChallengeUsed => ApiError::new(
                403,
                1068,
                "The OTP has already been used",
                "Each code can only be used once, please request a new one.",
            ),
            DomainError::ChallengeExhausted => ApiError::new(
                403,
                1070,
                "The OTP cannot be accessed",
                "This code allows no more tries, please request a new one.",
            ),
            DomainError::ResetRateLimited { retry_at } => ApiError::new(
                403,
                1179,
                "You have reached a limit for generating OTP",
                format!("The request limit has been reached; it resets at {retry_at}."),
            ),
            DomainError::ChannelUnavailable => ApiError::new(
                403,
                1043,
                "Phone number is invalid or does not exist",
                "The account has no address for this channel.",
            ),
            DomainError::SecurityAnswersNotSet => ApiError::new(
                403,
                1092,
                "Security question and answer is not saved in profile",
                "No security question and answer is saved in this profile.",
            ),
            DomainError::SecurityAnswersExhausted => ApiError::new(
                403,
                1094,
                "Your security answer or question is incorrect",
                "Too many wrong security answers; use another way to reset the PIN.",
            ),
        }
    }
}
