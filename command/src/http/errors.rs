//! The one mapping from the application's errors to LoginRadius errors.

use crate::crypto::{HashError, LookupKind};
use crate::error::AppError;
use pinauth_store::StoreError;
use pinauth_wire::ApiError;
use pinauth_wire::error::token_invalid;

/// Maps `e` to the LoginRadius error a client sees. Failures are logged here, not shown.
pub fn api_error(e: AppError) -> ApiError {
    match e {
        AppError::Domain(e) => e.into(),
        AppError::Store(StoreError::WrongExpectedRevision { .. }) | AppError::Contention => {
            ApiError::new(
                503,
                950,
                "Operation failed due to an unknown error",
                "Too many concurrent changes to this account, please try again.",
            )
        }
        AppError::Store(StoreError::Unavailable(error)) => {
            tracing::warn!(%error, "event store unavailable");
            ApiError::internal(true)
        }
        AppError::Store(error) => {
            tracing::error!(%error, "event store failure");
            ApiError::internal(false)
        }
        AppError::Hash(HashError::Overloaded) => ApiError::overloaded(),
        AppError::Hash(error) => {
            tracing::error!(%error, "hashing failure");
            ApiError::internal(false)
        }
        AppError::InvalidCredentials => ApiError::new(
            401,
            966,
            "Invalid user ID and/or password",
            "Please use a valid user ID and password combination.",
        ),
        AppError::InvalidPin => ApiError::new(401, 1236, "Invalid PIN", "The PIN is invalid."),
        AppError::CurrentPinInvalid => ApiError::new(
            401,
            1241,
            "Current pin is invalid",
            "The current PIN is invalid.",
        ),
        AppError::Locked { until } => ApiError::locked(until),
        AppError::IdentifierTaken(LookupKind::Email) => ApiError::new(
            403,
            936,
            "Email address is already registered with your LoginRadius site",
            "The email address has to be unique for your LoginRadius site, please use a different email address.",
        ),
        AppError::IdentifierTaken(LookupKind::Username) => ApiError::new(
            403,
            1017,
            "This username is already registered with this website",
            "The username you have selected is already in use, please choose a different username.",
        ),
        AppError::IdentifierTaken(LookupKind::Phone) => ApiError::new(
            403,
            1058,
            "Phone number is already registered with your LoginRadius site",
            "The phone number has to be unique for your LoginRadius site, please use a different phone number.",
        ),
        AppError::UnknownToken(kind) => token_invalid(kind),
        AppError::WrongOtp => ApiError::new(
            403,
            1067,
            "Invalid OTP Code",
            "The OTP code is invalid, please request for a new OTP.",
        ),
        AppError::InvalidResetToken => ApiError::new(
            403,
            979,
            "The link cannot be accessed",
            "The link is either expired or has already been used, please request a new link.",
        ),
        AppError::ResetTokenUsed => ApiError::new(
            403,
            1242,
            "The email verification link has already been used",
            "This link has already been used, please use the 'forgot pin' option again.",
        ),
        AppError::WrongAnswer => ApiError::new(
            403,
            1093,
            "Your security answer is incorrect",
            "Your security answer is incorrect, please enter the correct security answer.",
        ),
        AppError::UnknownQuestion => ApiError::new(
            403,
            1091,
            "Security question is invalid",
            "This security question is invalid, please use a correct or valid security question.",
        ),
        AppError::ResetUrlNotAllowed => ApiError::new(
            403,
            1248,
            "The reset pin URL is invalid",
            "The reset PIN URL is not allowed for this site.",
        ),
        AppError::UnknownTemplate => ApiError::field("template", "is not a configured template"),
        AppError::UnknownIdentifier(LookupKind::Email) => ApiError::new(
            403,
            1023,
            "Email address does not exist",
            "The provided email address does not exist, please use a valid email address.",
        ),
        AppError::UnknownIdentifier(LookupKind::Username) => ApiError::new(
            403,
            1022,
            "Username does not exist",
            "The provided username does not exist, please enter a valid username.",
        ),
        AppError::UnknownIdentifier(LookupKind::Phone) => ApiError::new(
            403,
            1043,
            "Phone number is invalid or does not exist",
            "The provided phone number is invalid or does not exist.",
        ),
        AppError::Corrupt(error) => {
            tracing::error!(%error, "unreadable stored event");
            ApiError::internal(false)
        }
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        api_error(e)
    }
}
