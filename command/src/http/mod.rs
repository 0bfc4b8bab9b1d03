//! The command service's HTTP API, wire-compatible with LoginRadius's PIN Authentication API.
//!
//! Routing is an explicit table matched on the method and the lower-cased path, because LoginRadius's
//! clients spell path segments differently (`session_token/InValidate`); every refusal, unknown
//! routes included, is a LoginRadius error body.
//!
//! This crate serves nothing by itself: the process's one entry (the `pinauth-server` crate) reads
//! the body with [`read_body`] and offers every request to [`handle`] first, then to the query API.

mod errors;
mod handlers;
pub use handlers::templates;
pub mod views;

use crate::app::{CommandService, RequestContext};
use crate::sott::SottVerifier;
use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use futures_util::StreamExt;
use pinauth_domain::Account;
use pinauth_store::Position;
use pinauth_wire::ApiError;
use pinauth_wire::profile::Selection;
use pinauth_wire::request::{self as wire, Query};
use serde::Deserialize;
use std::sync::Arc;
use uuid::Uuid;

pub use errors::api_error;
pub use handlers::account_import_of;

/// Settings of the HTTP layer: the `[http]` section of the configuration, read as it is
/// (`PINAUTH_HTTP__*` in the environment). Every key may be left out.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Largest request body accepted (default 16 KiB).
    pub max_body_bytes: usize,
    /// How long a client has to send a request's head, and again its body (default 10 s): past
    /// it, the connection is closed (head) or answered 400 (body), so slow clients cannot hold
    /// connections for good.
    pub request_timeout_ms: u64,
    /// Registration requires a valid `X-LoginRadius-Sott` (default off).
    pub require_sott: bool,
    /// Longest time window a SOTT may name (default a day).
    pub sott_max_window_secs: u64,
    /// How far the clock that made a SOTT may be from ours (default 5 minutes).
    pub sott_skew_secs: u64,
    /// Shortest password accepted (default 6).
    pub password_min_chars: usize,
    /// Longest password accepted (default 128).
    pub password_max_chars: usize,
    /// The security questions offered at registration.
    pub security_questions: Vec<SecurityQuestion>,
    /// Take the client's address from the last `X-Forwarded-For` entry (default off). Only for a
    /// service that nothing but a trusted proxy (the gateway) can reach: anyone else could forge it.
    pub trust_forwarded_for: bool,
}

/// A security question offered at registration (`[[http.security_questions]]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityQuestion {
    /// What `SecurityQuestionAnswer` names it by.
    pub id: String,
    /// Its text.
    pub question: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        let question = |id: &str, question: &str| SecurityQuestion {
            id: id.into(),
            question: question.into(),
        };
        Self {
            max_body_bytes: 16 * 1024,
            request_timeout_ms: 10_000,
            require_sott: false,
            sott_max_window_secs: 86_400,
            sott_skew_secs: 300,
            security_questions: vec![
                question("q1", "What was the name of your first pet?"),
                question("q2", "In which city were you born?"),
                question("q3", "What was the name of your first school?"),
            ],
            password_min_chars: 6,
            password_max_chars: 128,
            trust_forwarded_for: false,
        }
    }
}

/// What every request handler can reach.
#[derive(Clone)]
pub struct ApiState {
    /// The use cases.
    pub service: CommandService,
    settings: Arc<HttpSettings>,
    app: Arc<AppCredentials>,
}

/// The app the API answers for.
struct AppCredentials {
    /// Its API key (query `apikey`).
    api_key: String,
    /// Its API secret (header `X-LoginRadius-ApiSecret` on management calls).
    api_secret: wire::AppSecret,
    /// Made from both: checks registrations' SOTTs when `require_sott` is on, and makes them for
    /// `GET /manage/account/sott`.
    sott: SottVerifier,
    /// Made from the previous secret, while a rotation's grace period lasts: SOTTs made with it
    /// still verify.
    previous_sott: Option<SottVerifier>,
}

impl ApiState {
    /// The HTTP API of `service`, for the app whose key is `api_key` and secret `api_secret`.
    pub fn new(
        service: CommandService,
        settings: HttpSettings,
        api_key: impl Into<String>,
        api_secret: wire::AppSecret,
    ) -> Self {
        let api_key = api_key.into();
        let verifier = |secret: &str| {
            SottVerifier::new(
                &api_key,
                secret,
                settings.sott_max_window_secs,
                settings.sott_skew_secs,
            )
        };
        let sott = verifier(api_secret.current());
        let previous_sott = api_secret.previous(service.now()).map(verifier);
        Self {
            service,
            settings: Arc::new(settings),
            app: Arc::new(AppCredentials {
                api_key,
                api_secret,
                sott,
                previous_sott,
            }),
        }
    }

    /// Its settings.
    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }
}

/// A successful answer: a JSON body and the position of the last event written, if any.
pub struct Reply {
    body: serde_json::Value,
    position: Option<Position>,
}

impl Reply {
    fn new(body: serde_json::Value, position: Option<Position>) -> Self {
        Self { body, position }
    }

    fn into_response(self) -> HttpResponse {
        let mut response = HttpResponse::Ok();
        if let Some(position) = self.position {
            response.insert_header(("X-PinAuth-Position", position.commit.to_string()));
        }
        response.json(self.body)
    }
}

/// One request, parsed as far as every endpoint needs.
pub struct Call<'a> {
    state: &'a ApiState,
    req: &'a HttpRequest,
    query: Query<'a>,
    body: &'a [u8],
    ctx: RequestContext,
    /// What the `fields` parameter keeps of a profile answer.
    selection: Selection,
}

impl Call<'_> {
    fn settings(&self) -> &HttpSettings {
        &self.state.settings
    }

    /// The SOTT check registration must pass, when required.
    /// The SOTT verifier, when registrations must bring a SOTT.
    fn sott(&self) -> Option<&SottVerifier> {
        self.state
            .settings
            .require_sott
            .then_some(&self.state.app.sott)
    }

    /// Whether `sott` verifies, under the current secret or (in its grace period) the previous.
    fn sott_verifies(&self, sott: &str) -> bool {
        let now = self.service().now();
        let app = &self.state.app;
        app.sott.verify(sott, now).is_ok()
            || (app.api_secret.previous(now).is_some()
                && app
                    .previous_sott
                    .as_ref()
                    .is_some_and(|v| v.verify(sott, now).is_ok()))
    }

    /// The SOTT maker and verifier, whatever `require_sott` says.
    fn sotts(&self) -> &SottVerifier {
        &self.state.app.sott
    }

    fn service(&self) -> &CommandService {
        &self.state.service
    }

    fn json(&self) -> Result<wire::Body, ApiError> {
        wire::Body::parse(self.body, self.req.method() == Method::PUT)
    }

    fn header(&self, name: &str) -> Option<&str> {
        wire::header(self.req, name)
    }

    /// The access token: `Authorization: Bearer`, else the `access_token` query parameter.
    fn access_token(&self) -> Result<String, ApiError> {
        wire::access_token(self.req, &self.query)
    }

    /// The profile of `account` as answered: its facts, identifiers and opened fields, then the
    /// `fields` selection.
    async fn profile_view(&self, account: &Account) -> serde_json::Value {
        let fields = self.service().profile_fields(account).await;
        self.profile_answer(account, &fields).await
    }

    /// [`Self::profile_view`] with `fields` already opened (an update has them).
    async fn profile_answer(
        &self,
        account: &Account,
        fields: &pinauth_wire::profile::ProfileFields,
    ) -> serde_json::Value {
        let identifiers = self.service().identifiers_or_none(account).await;
        let profile =
            pinauth_wire::views::profile(account, &identifiers, fields, self.service().now());
        self.selection.apply(&profile)
    }

    /// The app secret of a management call.
    fn check_api_secret(&self) -> Result<(), ApiError> {
        let now = self.state.service.now();
        wire::check_api_secret(self.req, &self.state.app.api_secret, now)
    }
}

fn context(req: &HttpRequest, state: &ApiState) -> RequestContext {
    let trust_forwarded_for = state.settings.trust_forwarded_for;
    let forwarded = trust_forwarded_for
        .then(|| req.headers().get("x-forwarded-for")?.to_str().ok())
        .flatten()
        .and_then(|list| list.rsplit(',').next())
        .and_then(|last| last.trim().parse::<std::net::IpAddr>().ok());
    let user_agent = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(256).collect());
    let ip = forwarded.or_else(|| req.peer_addr().map(|a| a.ip()));
    RequestContext {
        // The request log's id when the entry runs the request in a scope: one id for the log
        // line and the events' correlation id.
        request_id: pinauth_wire::scope::id().unwrap_or_else(Uuid::new_v4),
        client_ip: ip.map(|ip| ip.to_string()),
        origin: ip.map(|ip| state.service.origin_of(ip)),
        user_agent,
    }
}

/// Reads the body, refusing more than `limit` bytes without reading further.
pub async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::BytesMut, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::body(false))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Answers the request if it is one of the command service's endpoints; `None` otherwise.
pub async fn handle(state: &ApiState, req: &HttpRequest, body: &[u8]) -> Option<HttpResponse> {
    let path = wire::route_path(req);
    let endpoint = handlers::route(req.method(), &path)?;
    let query = Query::parse(req.query_string());
    if let Err(e) = wire::check_api_key(&query, &state.app.api_key) {
        return Some(e.error_response());
    }
    // Only where a profile is answered: elsewhere `fields` selects nothing and is not checked.
    let selection = match endpoint.answers_profile() {
        true => match Selection::parse(query.get("fields")) {
            Ok(selection) => selection,
            Err(e) => return Some(e.error_response()),
        },
        false => Selection::All,
    };
    let call = Call {
        state,
        req,
        query,
        body,
        ctx: context(req, state),
        selection,
    };
    Some(match handlers::run(endpoint, &call).await {
        Ok(reply) => reply.into_response(),
        Err(error) => error.error_response(),
    })
}
