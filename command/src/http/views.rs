//! The command service's views: a login as LoginRadius answers it.

use crate::app::{IssuedToken, Login};
use pinauth_wire::ApiError;
use pinauth_wire::views::{TokenView, envelope};
use serde_json::Value;

pub use pinauth_wire::views::{posted, profile};

fn text(token: &IssuedToken) -> String {
    token.token.as_string()
}

/// The envelope of a login with the account's `profile` (as the caller renders it), or the 1243
/// error when a required PIN must be set first.
pub fn login(login: &Login, profile: Value) -> Result<Value, ApiError> {
    match login {
        Login::Session {
            access,
            refresh,
            session,
            ..
        } => {
            let (a, r, s) = (text(access), text(refresh), session.as_ref().map(text));
            let session = match (session, &s) {
                (Some(t), Some(text)) => Some(TokenView {
                    token: text,
                    expires_at: t.expires_at,
                }),
                _ => None,
            };
            Ok(envelope(
                TokenView {
                    token: &a,
                    expires_at: access.expires_at,
                },
                TokenView {
                    token: &r,
                    expires_at: refresh.expires_at,
                },
                session,
                profile,
            ))
        }
        Login::PinSetupRequired { token } => {
            Err(ApiError::pin_setup_required(token.token.as_string()))
        }
    }
}
