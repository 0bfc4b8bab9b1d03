//! The query service: answers from the read models only, never from an aggregate.
//!
//! Read-your-writes: before a token or account is looked at, the read models catch up to the store's
//! head, so a token is valid the instant the command service returned it and invalid the instant its
//! revocation returned, with no header and no sleep. A client may also name a position it needs
//! (`X-PinAuth-Min-Position`, from a command response's `X-PinAuth-Position`); the answer waits for
//! it, boundedly, and fails clearly when the read side is behind.

use actix_web::{HttpRequest, HttpResponse, ResponseError};
use pinauth_contract::datakey::{CLIENT, ClientRecord, IDENTIFIERS, PROFILE};
use pinauth_contract::token::Token;
use pinauth_contract::vault::{Opened, Vault};
use pinauth_domain::{AccountId, Identifiers, Timestamp, TokenKind};
use pinauth_projections::Projection;
use pinauth_projections::models::{AccountView, Attempt, LockoutView, TokenProblem};
use pinauth_wire::error::{token_expired, token_invalid};
use pinauth_wire::profile::{ProfileFields, Selection};
use pinauth_wire::request::{
    Query, access_token, check_api_key, check_api_secret, header, route_path,
};
use pinauth_wire::routes::{Captures, Route};
use pinauth_wire::{ApiError, Catalog, views};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Where the query service reads the time.
pub type Now = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Settings of the query service.
#[derive(Clone, Debug)]
pub struct QuerySettings {
    /// The app's API key.
    pub api_key: String,
    /// The app's API secret (management endpoints), with the previous one in its grace period.
    pub api_secret: pinauth_wire::request::AppSecret,
    /// How long a request waits for the read side to reach a position.
    pub max_wait: Duration,
}

/// What the handlers reach.
#[derive(Clone)]
pub struct QueryState {
    /// The read models.
    pub projection: Projection,
    /// Settings.
    pub settings: Arc<QuerySettings>,
    /// The clock.
    pub now: Now,
    /// Opens the accounts' profile fields.
    pub vault: Arc<Vault>,
}

/// A successful answer: the token checks, asked most, are written without a JSON tree.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Answer {
    AccessToken {
        access_token: String,
        expires_in: String,
    },
    SessionToken {
        session_token: String,
        session_expires_in: String,
    },
    /// LoginRadius's token info (`auth-access-token-info.json`): every pinauth token comes from
    /// a login by email, username or phone with a password (or a PIN), and none is "remember me".
    TokenInfo {
        provider: &'static str,
        access_token: String,
        isrememberme: bool,
    },
    Json(Value),
}

enum Endpoint {
    ValidateAccessToken,
    AccessTokenInfo,
    Profile,
    ValidateSessionToken,
    Lockout(AccountId),
    /// `GET /manage/account/{uid}`: LoginRadius's Account Profiles by UID.
    AccountProfile(AccountId),
    LockedAccounts,
    Attempts(AccountId),
}

fn route(method: &str, path: &str) -> Option<Endpoint> {
    pinauth_wire::routes::find(ROUTES, method, path)
}

/// The query service's endpoints as (method, path template).
pub fn templates() -> impl Iterator<Item = (&'static str, &'static str)> {
    pinauth_wire::routes::templates(ROUTES)
}

/// The query service's endpoints, by method and path template.
const ROUTES: &[Route<Endpoint>] = &[
    get("/identity/v2/auth/access_token/validate", |_| {
        Some(Endpoint::ValidateAccessToken)
    }),
    get("/identity/v2/auth/access_token", |_| {
        Some(Endpoint::AccessTokenInfo)
    }),
    get("/identity/v2/auth/account", |_| Some(Endpoint::Profile)),
    get("/identity/v2/auth/session_token/validate", |_| {
        Some(Endpoint::ValidateSessionToken)
    }),
    get("/identity/v2/manage/account/pin/lockouts", |_| {
        Some(Endpoint::LockedAccounts)
    }),
    get("/identity/v2/manage/account/{uid}/pin/lockout", |c| {
        Some(Endpoint::Lockout(c.uid?))
    }),
    get("/identity/v2/manage/account/{uid}/pin/attempts", |c| {
        Some(Endpoint::Attempts(c.uid?))
    }),
    get("/identity/v2/manage/account/{uid}", |c| {
        Some(Endpoint::AccountProfile(c.uid?))
    }),
];

const fn get(
    path: &'static str,
    endpoint: fn(&Captures<'_>) -> Option<Endpoint>,
) -> Route<Endpoint> {
    Route {
        method: "GET",
        path,
        endpoint,
    }
}

/// Answers the request if it is one of the query service's endpoints; `None` otherwise.
pub async fn handle(state: &QueryState, req: &HttpRequest) -> Option<HttpResponse> {
    let path = route_path(req);
    let endpoint = route(req.method().as_str(), &path)?;
    Some(match answer(state, req, endpoint).await {
        Ok(body) => HttpResponse::Ok().json(body),
        Err(error) => error.error_response(),
    })
}

async fn read_your_writes(state: &QueryState, req: &HttpRequest) -> Result<(), ApiError> {
    if let Some(raw) = header(req, "x-pinauth-min-position") {
        let position: u64 = raw
            .parse()
            .map_err(|_| ApiError::field("X-PinAuth-Min-Position", "must be a position number"))?;
        if !state
            .projection
            .wait_for(position, state.settings.max_wait)
            .await
        {
            return Err(Catalog::ReadSideBehind.into());
        }
    }
    state.projection.catch_up().await.map_err(|error| {
        tracing::warn!(%error, "read side cannot catch up");
        ApiError::from(Catalog::Unavailable)
    })?;
    Ok(())
}

async fn answer(
    state: &QueryState,
    req: &HttpRequest,
    endpoint: Endpoint,
) -> Result<Answer, ApiError> {
    let query = Query::parse(req.query_string());
    check_api_key(&query, &state.settings.api_key)?;
    let selection = match endpoint {
        Endpoint::Profile | Endpoint::AccountProfile(_) => Selection::parse(query.get("fields"))?,
        _ => Selection::All,
    };
    let now = (state.now)();
    match endpoint {
        Endpoint::ValidateAccessToken | Endpoint::AccessTokenInfo | Endpoint::Profile => {
            let text = access_token(req, &query)?;
            read_your_writes(state, req).await?;
            let token = Token::parse(&text).ok_or_else(|| token_invalid(TokenKind::Access))?;
            let digest = token.digest();
            let entry = state
                .projection
                .read(|m| m.token(&digest, TokenKind::Access, now))
                .map_err(|p| problem(p, TokenKind::Access))?;
            pinauth_wire::scope::note_account(entry.account);
            if let Endpoint::Profile = endpoint {
                return profile(state, &entry.account, now)
                    .await?
                    .map(|p| Answer::Json(selection.apply(&p)))
                    .ok_or_else(|| token_invalid(TokenKind::Access));
            }
            if let Endpoint::AccessTokenInfo = endpoint {
                return Ok(Answer::TokenInfo {
                    provider: "Email",
                    access_token: token.as_string(),
                    isrememberme: false,
                });
            }
            Ok(Answer::AccessToken {
                access_token: token.as_string(),
                expires_in: entry.expires_at.to_rfc3339(),
            })
        }
        Endpoint::ValidateSessionToken => {
            let text = query.required("session_token")?.to_owned();
            read_your_writes(state, req).await?;
            let token = Token::parse(&text).ok_or_else(|| token_invalid(TokenKind::PinSession))?;
            let digest = token.digest();
            let entry = state
                .projection
                .read(|m| m.token(&digest, TokenKind::PinSession, now))
                .map_err(|p| problem(p, TokenKind::PinSession))?;
            Ok(Answer::SessionToken {
                session_token: token.as_string(),
                session_expires_in: entry.expires_at.to_rfc3339(),
            })
        }
        Endpoint::Lockout(id) => {
            check_api_secret(req, &state.settings.api_secret, now)?;
            read_your_writes(state, req).await?;
            let view = state
                .projection
                .read(|m| m.lockout(&id, now))
                .ok_or(Catalog::UidNotFound)?;
            Ok(Answer::Json(lockout_json(&view)))
        }
        Endpoint::AccountProfile(id) => {
            check_api_secret(req, &state.settings.api_secret, now)?;
            read_your_writes(state, req).await?;
            profile(state, &id, now)
                .await?
                .map(|p| Answer::Json(selection.apply(&p)))
                .ok_or_else(|| Catalog::UidNotFound.into())
        }
        Endpoint::LockedAccounts => {
            check_api_secret(req, &state.settings.api_secret, now)?;
            read_your_writes(state, req).await?;
            let locked = state.projection.read(|m| m.locked_accounts(now));
            Ok(Answer::Json(
                json!({ "Count": locked.len(), "Data": locked.iter().map(lockout_json).collect::<Vec<_>>() }),
            ))
        }
        Endpoint::Attempts(id) => {
            check_api_secret(req, &state.settings.api_secret, now)?;
            read_your_writes(state, req).await?;
            if state.projection.read(|m| m.account(&id).is_none()) {
                return Err(Catalog::UidNotFound.into());
            }
            let attempts = state.projection.read(|m| m.attempts(&id));
            let mut data = Vec::with_capacity(attempts.len());
            for attempt in &attempts {
                let client = client_of(state, &id, attempt).await?;
                data.push(attempt_json(attempt, &client));
            }
            Ok(Answer::Json(
                json!({ "Count": attempts.len(), "Data": data }),
            ))
        }
    }
}

/// The profile of account `id` as the read models know it, its fields opened; `None` when the
/// account is not registered.
async fn profile(
    state: &QueryState,
    id: &AccountId,
    now: Timestamp,
) -> Result<Option<Value>, ApiError> {
    let sealed = state.projection.read(|m| {
        m.account(id).and_then(|v| {
            let registration = v.registration()?;
            Some((v.profile().cloned(), registration.identifiers.clone()))
        })
    });
    let Some((sealed, sealed_identifiers)) = sealed else {
        return Ok(None);
    };
    let identifiers = match &sealed_identifiers {
        None => None,
        Some(sealed) => match state.vault.open(id, IDENTIFIERS, &sealed.sealed).await {
            Ok(Opened::Plain(json)) => serde_json::from_slice::<Identifiers>(&json).ok(),
            Ok(Opened::Erased | Opened::Invalid) => {
                tracing::error!(account = %id, "the identifiers of a registered account cannot be opened");
                None
            }
            Err(error) => {
                tracing::warn!(%error, "the key store cannot be read");
                return Err(Catalog::Unavailable.into());
            }
        },
    };
    let fields = match &sealed {
        None => ProfileFields::new(),
        Some(sealed) => match state.vault.open(id, PROFILE, sealed).await {
            Ok(Opened::Plain(json)) => ProfileFields::from_json(&json).unwrap_or_default(),
            Ok(Opened::Erased) => ProfileFields::new(),
            Ok(Opened::Invalid) => {
                tracing::error!(account = %id, "a sealed profile does not open under its account's key");
                ProfileFields::new()
            }
            Err(error) => {
                tracing::warn!(%error, "the key store cannot be read");
                return Err(Catalog::Unavailable.into());
            }
        },
    };
    Ok(state.projection.read(|m| {
        m.account(id)
            .and_then(|v| profile_of(v, identifiers.as_ref(), &fields, now))
    }))
}

/// The profile answer of `view`, with its `identifiers` opened (`None`: as registered in plain
/// text, or unreadable).
fn profile_of(
    view: &AccountView,
    identifiers: Option<&Identifiers>,
    fields: &ProfileFields,
    now: Timestamp,
) -> Option<Value> {
    let registration = view.registration()?;
    let (email, username, phone) = match identifiers {
        Some(i) => (i.email.as_ref(), i.username.as_ref(), i.phone.as_ref()),
        None => (
            registration.email.as_ref(),
            registration.username.as_ref(),
            registration.phone.as_ref(),
        ),
    };
    Some(views::profile_of(&views::ProfileFacts {
        account_id: view.id(),
        email,
        username,
        phone,
        pin_set: view.pin_set(),
        pin_skipped_at: view.pin_skipped_at(),
        pin_changed_at: view.pin_changed_at(),
        locked: view.lockout().lock_at(now).is_some(),
        registered_at: registration.registered_at,
        fields,
    }))
}

fn problem(p: TokenProblem, kind: TokenKind) -> ApiError {
    match p {
        TokenProblem::Invalid => token_invalid(kind),
        TokenProblem::Expired => token_expired(kind),
    }
}

fn lockout_json(view: &LockoutView) -> Value {
    json!({
        "Uid": view.account.to_string(),
        "IsLocked": view.locked,
        "LockedUntil": view.locked_until.map(|t| t.to_rfc3339()),
        "LockCount": view.lock_count,
        "PinFailures": view.pin_failures,
        "PasswordFailures": view.password_failures,
        "StrangersLocked": view.strangers_locked,
        "StrangersLockedUntil": view.strangers_locked_until.map(|t| t.to_rfc3339()),
        "StrangersLockCount": view.strangers_lock_count,
        "StrangerFailures": view.stranger_failures,
        "LastFailureDate": view.last_failure.map(|t| t.to_rfc3339()),
    })
}

/// The client of an attempt: opened from its seal, or as recorded in plain text.
async fn client_of(
    state: &QueryState,
    id: &AccountId,
    attempt: &Attempt,
) -> Result<ClientRecord, ApiError> {
    let Some(sealed) = attempt.sealed_client() else {
        return Ok(ClientRecord {
            ip: attempt.client_ip().map(str::to_owned),
            user_agent: attempt.user_agent().map(str::to_owned),
        });
    };
    match state.vault.open(id, CLIENT, sealed).await {
        Ok(Opened::Plain(json)) => Ok(serde_json::from_slice(&json).unwrap_or_default()),
        Ok(Opened::Erased | Opened::Invalid) => Ok(ClientRecord::default()),
        Err(error) => {
            tracing::warn!(%error, "the key store cannot be read");
            Err(Catalog::Unavailable.into())
        }
    }
}

fn attempt_json(a: &Attempt, client: &ClientRecord) -> Value {
    json!({
        "Date": a.at.to_rfc3339(),
        "Flow": format!("{:?}", a.flow),
        "Outcome": format!("{:?}", a.outcome),
        "LockTriggered": a.lock_triggered,
        "ClientIp": client.ip,
        "UserAgent": client.user_agent,
    })
}

#[cfg(test)]
mod route_table_tests {
    #[test]
    fn every_route_fits_its_own_example_and_no_other_row_takes_it() {
        pinauth_wire::routes::check(super::ROUTES).unwrap();
        assert!(super::route("POST", "/identity/v2/auth/account").is_none());
    }
}
