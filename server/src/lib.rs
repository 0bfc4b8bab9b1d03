//! The HTTP front of every `pinauth` process: the command API, the query API, or both on one port,
//! plus `/health/live`, `/health/ready` and `/metrics`.
//!
//! The `pinauth` binary serves it, and the command crate's API tests start the same entry, so that
//! what they test is what production runs. [`Services::start`] also starts what every process runs
//! beside its handlers: each index the services route or answer by (the command side's token
//! routes, the query side's read models) catches up with the log and then follows it live;
//! `/health/ready` answers ready only once all have caught up.
//!
//! Every answer of the command and query APIs is sent with `Cache-Control: no-store` (and
//! `Pragma: no-cache` for HTTP/1.0 caches): they carry tokens and personal data, which no browser
//! or proxy cache may keep. `/metrics` asks for a bearer token when one is configured.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use pinauth_command::http::{ApiState, read_body};
use pinauth_projections::{Model, Projection};
use pinauth_query::QueryState;
use pinauth_store::EventStore;
use pinauth_wire::{ApiError, Catalog};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tracing::Instrument as _;

/// What one process serves. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    command: Option<ApiState>,
    query: Option<QueryState>,
    store: Arc<dyn EventStore>,
    ready: Arc<AtomicBool>,
    /// Why an index cannot follow the log (it is ahead of it), if one cannot.
    stuck: Arc<std::sync::Mutex<Option<String>>>,
    max_body_bytes: usize,
    metrics_token: Option<Arc<str>>,
    telemetry: Arc<Telemetry>,
    /// What `/openapi.json` answers: the operations this process serves.
    description: actix_web::web::Bytes,
    /// How long a request's body may take to arrive.
    body_deadline: Duration,
}

/// What `/metrics` shows beside the command service's own: requests by route, the process, the
/// read side and the store.
struct Telemetry {
    registry: prometheus::Registry,
    requests: prometheus::IntCounterVec,
    latency: prometheus::HistogramVec,
    /// Only where the read models run.
    read_side: Option<ReadSideMetrics>,
    store_retrying: prometheus::IntGauge,
    scrape: std::sync::Mutex<()>,
    /// The route label values seen so far: at most [`MAX_ROUTES`], so that no client can make
    /// series without end (past it, a route is counted as "other").
    routes: std::sync::RwLock<std::collections::HashSet<String>>,
}

/// More than every endpoint of every process.
const MAX_ROUTES: usize = 160;

struct ReadSideMetrics {
    lag: prometheus::IntGauge,
    catch_ups: prometheus::IntCounter,
    chain_broken: prometheus::IntCounter,
    tokens: prometheus::IntGauge,
}

impl Telemetry {
    fn new(read_side: bool) -> Self {
        use pinauth_command::metrics::register;
        use prometheus::{HistogramOpts, IntCounter, IntGauge, Opts};
        let registry = prometheus::Registry::new();
        let r = &registry;
        // CPU seconds, resident and virtual memory, open and maximum file descriptors, start time.
        let _ = registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ));
        Self {
            requests: register(
                r,
                prometheus::IntCounterVec::new(
                    Opts::new(
                        "pinauth_http_requests_total",
                        "Requests answered, by route template, method and status.",
                    ),
                    &["route", "method", "status"],
                ),
            ),
            latency: register(
                r,
                prometheus::HistogramVec::new(
                    HistogramOpts::new(
                        "pinauth_http_request_duration_seconds",
                        "Time to answer a request, by route template and method.",
                    )
                    .buckets(vec![
                        0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    ]),
                    &["route", "method"],
                ),
            ),
            read_side: read_side.then(|| ReadSideMetrics {
                lag: register(
                    r,
                    IntGauge::new(
                        "pinauth_projection_lag_positions",
                        "Store head minus the last position up to which the read models miss nothing.",
                    ),
                ),
                catch_ups: register(
                    r,
                    IntCounter::new(
                        "pinauth_projection_catch_ups_total",
                        "Catch-ups of the read models that read the log to its end (at start-up, and when a query found them behind the head).",
                    ),
                ),
                chain_broken: register(
                    r,
                    IntCounter::new(
                        "pinauth_read_side_chain_broken_total",
                        "Account events the read models refused because their chain hash does not verify.",
                    ),
                ),
                tokens: register(
                    r,
                    IntGauge::new("pinauth_projection_tokens", "Tokens the read models know."),
                ),
            }),
            store_retrying: register(
                r,
                IntGauge::new(
                    "pinauth_store_retrying",
                    "1 while calls or subscriptions wait out a failure of the event store (an election, an outage).",
                ),
            ),
            scrape: std::sync::Mutex::new(()),
            routes: std::sync::RwLock::new(std::collections::HashSet::new()),
            registry,
        }
    }

    /// Registers `collectors` beside the service's own. One already registered (a store shared
    /// by two services of one registry) is left as it is.
    fn add(&self, collectors: Vec<Box<dyn prometheus::core::Collector>>) {
        for collector in collectors {
            let _ = self.registry.register(collector);
        }
    }

    /// Counts and times one request under its route template and method, both from bounded
    /// sets: a method outside HTTP's own is "other", and routes past [`MAX_ROUTES`] are "other".
    fn record(
        &self,
        route: &str,
        method: &actix_web::http::Method,
        status: actix_web::http::StatusCode,
        took: Duration,
    ) {
        let method = method_label(method);
        let known = self
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(route);
        let route = if known {
            route
        } else {
            let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
            if routes.len() < MAX_ROUTES {
                routes.insert(route.to_owned());
                route
            } else {
                "other"
            }
        };
        self.requests
            .with_label_values(&[route, method, status.as_str()])
            .inc();
        self.latency
            .with_label_values(&[route, method])
            .observe(took.as_secs_f64());
    }
}

impl Services {
    /// Starts the command API, the query API or both, on `store`: each index they need catches up
    /// with the log and then follows it, snapshotting every `snapshot_every`. Bodies over
    /// `max_body_bytes` are refused before any handler runs. Call it on the actix runtime the
    /// server runs on.
    pub fn start(
        store: Arc<dyn EventStore>,
        command: Option<ApiState>,
        query: Option<QueryState>,
        max_body_bytes: usize,
        snapshot_every: Duration,
    ) -> Self {
        let ready = Arc::new(AtomicBool::new(false));
        let pending = usize::from(command.is_some()) + usize::from(query.is_some());
        ready.store(pending == 0, Ordering::Release);
        let pending = Arc::new(AtomicUsize::new(pending));
        let caught_up = {
            let ready = ready.clone();
            move || {
                if pending.fetch_sub(1, Ordering::AcqRel) == 1 {
                    ready.store(true, Ordering::Release);
                }
            }
        };
        let stuck = Arc::new(std::sync::Mutex::new(None));
        let telemetry = Arc::new(Telemetry::new(query.is_some()));
        let served = templates()
            .chain(
                command
                    .iter()
                    .flat_map(|_| pinauth_command::http::templates()),
            )
            .chain(query.iter().flat_map(|_| pinauth_query::templates()));
        let description = actix_web::web::Bytes::from(description(served).to_string());
        if let Some(writes) = store.write_metrics() {
            telemetry.add(writes.collectors());
        }
        if let Some(command) = &command {
            let routes = command.service.routes().clone();
            let stuck = stuck.clone();
            follow(
                routes,
                "the token index",
                snapshot_every,
                caught_up.clone(),
                stuck,
            );
        }
        if let Some(query) = &query {
            let models = query.projection.clone();
            follow(
                models,
                "the read models",
                snapshot_every,
                caught_up,
                stuck.clone(),
            );
        }
        Self {
            command,
            query,
            store,
            ready,
            stuck,
            max_body_bytes,
            metrics_token: None,
            telemetry,
            description,
            body_deadline: Duration::from_secs(10),
        }
    }

    /// Makes `/metrics` answer only requests that carry `Authorization: Bearer <token>`; without
    /// a token (the default) it is public.
    pub fn with_metrics_token(mut self, token: Option<String>) -> Self {
        self.metrics_token = token.map(Arc::from);
        self
    }

    /// Answers a request whose body has not arrived within `deadline` with a 400 (default 10 s).
    pub fn with_body_deadline(mut self, deadline: Duration) -> Self {
        self.body_deadline = deadline;
        self
    }

    /// Shows `collectors` in `/metrics` too (the notifier's, where it runs in this process).
    pub fn with_collectors(self, collectors: Vec<Box<dyn prometheus::core::Collector>>) -> Self {
        self.telemetry.add(collectors);
        self
    }

    /// Whether `req` may read `/metrics`.
    fn may_read_metrics(&self, req: &HttpRequest) -> bool {
        let Some(expected) = &self.metrics_token else {
            return true;
        };
        req.headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.split_once(' ')
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            })
            .is_some_and(|(_, token)| {
                pinauth_contract::ct_eq(token.trim().as_bytes(), expected.as_bytes())
            })
    }

    /// Whether every index has caught up with the log and the store serves (what
    /// `/health/ready` answers), or why not.
    fn readiness(&self) -> Result<(), &'static str> {
        if self
            .stuck
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
        {
            return Err("ahead of the log: rebuild the read models (see the log)");
        }
        if !self.ready.load(Ordering::Acquire) {
            return Err("catching up");
        }
        if self.store.retrying().is_some() {
            return Err("the event store is unavailable: retrying");
        }
        Ok(())
    }

    /// Snapshots every index now (at shutdown, so that the next start resumes from here).
    pub fn save_snapshots(&self) {
        if let Some(query) = &self.query {
            query.projection.save_snapshot();
        }
        if let Some(command) = &self.command {
            command.service.routes().save_snapshot();
        }
    }
}

/// Catches `projection` up with the log, reports it, then follows the log for good.
fn follow<M: Model>(
    projection: Projection<M>,
    what: &'static str,
    snapshot_every: Duration,
    caught_up: impl FnOnce() + 'static,
    stuck: Arc<std::sync::Mutex<Option<String>>>,
) {
    actix_web::rt::spawn(async move {
        // A snapshot past the log's head: the log was restored or wiped. Following it would take
        // every event written from now on for one applied already; say so, and stay not ready.
        if let Ok(Some((applied, head))) = projection.ahead_of_log().await {
            let problem = format!(
                "{what} have applied events up to position {applied}, past the head of the log ({head}): the log was restored to an earlier point or wiped after their snapshot; stop pinauth, run pinauth projections rebuild (and move notify.db aside so the notifier starts from the log's start), then start it again"
            );
            tracing::error!("{problem}");
            *stuck.lock().unwrap_or_else(|p| p.into_inner()) = Some(problem);
            return;
        }
        match projection.catch_up().await {
            Ok(_) => caught_up(),
            Err(error) => tracing::error!(%error, "initial catch-up of {what} failed"),
        }
        projection.run(snapshot_every).await;
    });
}

/// Every request, answered, then logged at debug (`pinauth::http`;
/// `RUST_LOG=info,pinauth::http=debug` shows them): its id (the correlation id of the events it
/// writes), method, route template, status, latency and the account it acted on. The route is the
/// path with ids as `{uid}`, and only for a path that is an endpoint: a client's path or query
/// (where LoginRadius puts tokens) never reaches the log.
async fn entry(
    req: HttpRequest,
    payload: web::Payload,
    services: web::Data<Services>,
) -> HttpResponse {
    let started = std::time::Instant::now();
    let span = request_span(&req);
    let ((response, matched), seen) =
        pinauth_wire::scope::scope(answer(&req, payload, &services).instrument(span.clone())).await;
    // The route template, never the raw path (ids are `{uid}`; a path that is no endpoint is
    // "unmatched", so clients cannot make new series).
    let route = match matched {
        true => route_template(req.path()),
        false => "unmatched".to_owned(),
    };
    if !span.is_disabled() {
        use opentelemetry::trace::TraceContextExt as _;
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        // The span was started when the answer was first polled: renamed on the exporter's side.
        span.context()
            .span()
            .update_name(format!("{} {route}", method_label(req.method())));
        span.record("http.route", route.as_str());
        span.record("http.response.status_code", response.status().as_u16());
        if let Some(id) = seen.id {
            span.record("pinauth.request_id", id.to_string());
        }
        if let Some(account) = seen.account {
            span.record("enduser.id", account.to_string());
        }
        if response.status().is_server_error() {
            span.record("otel.status_code", "ERROR");
        }
    }
    services
        .telemetry
        .record(&route, req.method(), response.status(), started.elapsed());
    if tracing::enabled!(target: "pinauth::http", tracing::Level::DEBUG) {
        let request_id = seen.id.unwrap_or_else(uuid::Uuid::new_v4);
        // At debug, not info: a line per request on stderr cost the query service 24% of its
        // validation rate (BENCHMARKS.md, seventh session).
        tracing::debug!(
            target: "pinauth::http",
            request_id = %request_id,
            method = %req.method(),
            route = %route,
            status = response.status().as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            account = seen.account.map(|a| a.to_string()),
            "request"
        );
    }
    response
}

/// `method` if it is one of HTTP's own, else "other": a client cannot make new series or names.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The span of one request (made only when traces are exported), the child of the gateway's
/// span when the request carries a W3C `traceparent`. Its name and fields are filled in once the
/// route is known: method, route template, status, request id and account id, never the path,
/// query or a header's value.
fn request_span(req: &HttpRequest) -> tracing::Span {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let span = tracing::info_span!(
        "request",
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = method_label(req.method()),
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        pinauth.request_id = tracing::field::Empty,
        enduser.id = tracing::field::Empty,
    );
    if !span.is_disabled() && req.headers().contains_key("traceparent") {
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&Headers(req.headers()))
        });
        let _ = span.set_parent(parent);
    }
    span
}

/// A request's headers as OpenTelemetry's propagators read them.
struct Headers<'a>(&'a actix_web::http::header::HeaderMap);

impl opentelemetry::propagation::Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

/// `path` in lower case with every segment that is a UUID replaced by `{uid}`.
fn route_template(path: &str) -> String {
    let template = path
        .trim_end_matches('/')
        .split('/')
        .map(|segment| match uuid::Uuid::try_parse(segment) {
            Ok(_) => "{uid}".to_owned(),
            Err(_) => segment.to_ascii_lowercase(),
        })
        .collect::<Vec<_>>()
        .join("/");
    // The multipurpose token routes take any type after their prefix (and answer the ones they
    // do not know): the type is the client's text, never a label.
    for prefix in [
        "/identity/v2/manage/account/emailtoken/",
        "/identity/v2/manage/account/smsotp/",
    ] {
        if template.starts_with(prefix) {
            return format!("{prefix}{{type}}");
        }
    }
    template
}

/// The answer, and whether the path was one of the endpoints.
async fn answer(
    req: &HttpRequest,
    payload: web::Payload,
    services: &Services,
) -> (HttpResponse, bool) {
    let body = match actix_web::rt::time::timeout(
        services.body_deadline,
        read_body(payload, services.max_body_bytes),
    )
    .await
    {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => return (e.error_response(), false),
        Err(_) => {
            let late = ApiError::field("body", "was not received in time");
            return (late.error_response(), false);
        }
    };
    if let Some(command) = &services.command
        && let Some(response) = pinauth_command::http::handle(command, req, &body).await
    {
        return (no_store(response), true);
    }
    if let Some(query) = &services.query
        && let Some(response) = pinauth_query::handle(query, req).await
    {
        return (no_store(response), true);
    }
    let own = req.method() == actix_web::http::Method::GET
        && ROUTES.iter().any(|(_, path)| *path == req.path());
    match own {
        true => (own_endpoint(req, services).await, true),
        false => (ApiError::not_found().error_response(), false),
    }
}

/// The endpoints every process serves beside its API, as (method, path).
const ROUTES: [(&str, &str); 4] = [
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
];

/// The endpoints every process serves beside its API, as (method, path template).
pub fn templates() -> impl Iterator<Item = (&'static str, &'static str)> {
    ROUTES.into_iter()
}

/// The OpenAPI 3.1 description of every endpoint of every process, held to the route tables by
/// the tests; each process serves the part it answers ([`description`]).
pub const OPENAPI: &str = include_str!("../openapi.json");

/// [`OPENAPI`] with only the operations of the given route tables (and its components).
pub fn description<'a>(routes: impl IntoIterator<Item = (&'a str, &'a str)>) -> serde_json::Value {
    let served: std::collections::HashSet<(String, String)> = routes
        .into_iter()
        .map(|(method, path)| (method.to_ascii_lowercase(), path.to_owned()))
        .collect();
    let mut document: serde_json::Value = serde_json::from_str(OPENAPI).unwrap_or_default();
    if let Some(paths) = document
        .get_mut("paths")
        .and_then(serde_json::Value::as_object_mut)
    {
        paths.retain(|path, operations| {
            if let Some(operations) = operations.as_object_mut() {
                let template = path.to_ascii_lowercase();
                operations.retain(|method, _| served.contains(&(method.clone(), template.clone())));
            }
            operations.as_object().is_some_and(|o| !o.is_empty())
        });
    }
    document
}

async fn own_endpoint(req: &HttpRequest, services: &Services) -> HttpResponse {
    match req.path() {
        "/openapi.json" => HttpResponse::Ok()
            .content_type("application/json")
            .body(services.description.clone()),
        "/health/live" => HttpResponse::Ok().json(serde_json::json!({ "status": "live" })),
        "/health/ready" => match services.readiness() {
            Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
            Err(status) => {
                HttpResponse::ServiceUnavailable().json(serde_json::json!({ "status": status }))
            }
        },
        "/metrics" if !services.may_read_metrics(req) => {
            let mut response = ApiError::from(Catalog::MetricsTokenInvalid).error_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
        "/metrics" => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(metrics(services).await),
        _ => ApiError::not_found().error_response(),
    }
}

/// An API answer no cache may keep.
fn no_store(mut response: HttpResponse) -> HttpResponse {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

async fn metrics(services: &Services) -> String {
    let mut out = String::new();
    if let Some(command) = &services.command {
        command
            .service
            .metrics()
            .render(command.service.hasher(), &mut out);
    }
    let telemetry = &services.telemetry;
    let head = match &services.query {
        Some(_) => services
            .store
            .head()
            .await
            .ok()
            .flatten()
            .map_or(0, |p| p.commit),
        None => 0,
    };
    {
        use pinauth_command::metrics::catch_up;
        let _one_at_a_time = telemetry.scrape.lock().unwrap_or_else(|p| p.into_inner());
        telemetry
            .store_retrying
            .set(i64::from(services.store.retrying().is_some()));
        if let (Some(query), Some(read_side)) = (&services.query, &telemetry.read_side) {
            let lag = head.saturating_sub(query.projection.covered());
            read_side.lag.set(i64::try_from(lag).unwrap_or(i64::MAX));
            catch_up(&read_side.catch_ups, query.projection.catch_ups());
            catch_up(
                &read_side.chain_broken,
                query.projection.read(|m| m.chain_broken()),
            );
            let tokens = query.projection.read(|m| m.token_count());
            read_side
                .tokens
                .set(i64::try_from(tokens).unwrap_or(i64::MAX));
        }
    }
    pinauth_command::metrics::encode(&telemetry.registry, &mut out);
    out
}

/// Registers the services on an actix app: every request goes through one entry.
pub fn configure(services: Services) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(services))
            .default_service(web::to(entry));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// Every (method, path template) a table routes.
    fn routed() -> BTreeSet<(String, String)> {
        super::templates()
            .chain(pinauth_command::http::templates())
            .chain(pinauth_query::templates())
            .map(|(m, p)| (m.to_ascii_lowercase(), p.to_owned()))
            .collect()
    }

    /// Every (method, path) the description has an operation for.
    fn described(document: &serde_json::Value) -> BTreeSet<(String, String)> {
        let mut operations = BTreeSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                operations.insert((method.clone(), path.to_ascii_lowercase()));
            }
        }
        operations
    }

    #[test]
    fn the_description_has_every_route_and_nothing_else() {
        let document: serde_json::Value = serde_json::from_str(super::OPENAPI).unwrap();
        assert_eq!(document["openapi"], "3.1.0");
        let (routed, described) = (routed(), described(&document));
        let undescribed: Vec<_> = routed.difference(&described).collect();
        let unrouted: Vec<_> = described.difference(&routed).collect();
        assert!(
            undescribed.is_empty(),
            "routes without a description: {undescribed:?}"
        );
        assert!(
            unrouted.is_empty(),
            "descriptions without a route: {unrouted:?}"
        );
        // Every operation answers something, and every error is LoginRadius's body.
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                assert!(responses.contains_key("200"), "{method} {path}");
                for (status, response) in responses {
                    if path.starts_with("/identity/") && status != "200" {
                        assert_eq!(
                            response["content"]["application/json"]["schema"]["$ref"],
                            "#/components/schemas/Error",
                            "{method} {path} {status}"
                        );
                    }
                }
                // Path parameters are the template's.
                for parameter in operation["parameters"].as_array().unwrap() {
                    if parameter["in"] == "path" {
                        let name = parameter["name"].as_str().unwrap();
                        assert!(path.contains(&format!("{{{name}}}")), "{method} {path}");
                    }
                }
            }
        }
    }

    #[test]
    fn each_role_describes_what_it_serves() {
        let command =
            super::description(super::templates().chain(pinauth_command::http::templates()));
        let paths = command["paths"].as_object().unwrap();
        assert!(paths.contains_key("/identity/v2/auth/login/pin"));
        assert!(paths.contains_key("/health/ready"));
        assert!(!paths.contains_key("/identity/v2/auth/access_token/validate"));
        // One path, two roles: the command side's DELETE and PUT, not the query side's GET.
        let account = &paths["/identity/v2/manage/account/{uid}"];
        assert!(account.get("get").is_none() && account.get("put").is_some());
        assert!(command["components"]["schemas"]["Error"].is_object());
        let query = super::description(super::templates().chain(pinauth_query::templates()));
        let paths = query["paths"].as_object().unwrap();
        assert!(paths.contains_key("/identity/v2/auth/access_token/validate"));
        assert!(!paths.contains_key("/identity/v2/auth/login/pin"));
    }
    #[test]
    fn routes_are_logged_as_templates_without_ids() {
        assert_eq!(
            super::route_template(
                "/Identity/v2/Manage/Account/6B4B23DE-42E5-4BBA-9024-7B0EA99DB371/pin/unlock/"
            ),
            "/identity/v2/manage/account/{uid}/pin/unlock"
        );
        assert_eq!(
            super::route_template(
                "/identity/v2/manage/account/6b4b23de42e54bba90247b0ea99db371/reauth/pin"
            ),
            "/identity/v2/manage/account/{uid}/reauth/pin"
        );
        assert_eq!(super::route_template("/health/live"), "/health/live");
    }
}
