//! The HTTP front of every `pinauth` process: the command API, the query API, or both on one port,
//! plus `/health/live`, `/health/ready` and `/metrics`.

use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use pinauth_command::http::{ApiState, read_body};
use pinauth_query::QueryState;
use pinauth_store::EventStore;
use pinauth_wire::ApiError;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What one process serves.
#[derive(Clone)]
pub struct Services {
    pub command: Option<ApiState>,
    pub query: Option<QueryState>,
    pub store: Arc<dyn EventStore>,
    pub ready: Arc<AtomicBool>,
    pub max_body_bytes: usize,
}

async fn entry(
    req: HttpRequest,
    payload: web::Payload,
    services: web::Data<Services>,
) -> HttpResponse {
    let body = match read_body(payload, services.max_body_bytes).await {
        Ok(body) => body,
        Err(e) => return e.error_response(),
    };
    if let Some(command) = &services.command
        && let Some(response) = pinauth_command::http::handle(command, &req, &body).await
    {
        return response;
    }
    if let Some(query) = &services.query
        && let Some(response) = pinauth_query::handle(query, &req).await
    {
        return response;
    }
    match req.path() {
        "/health/live" => HttpResponse::Ok().json(serde_json::json!({ "status": "live" })),
        "/health/ready" if services.ready.load(Ordering::Acquire) => {
            HttpResponse::Ok().json(serde_json::json!({ "status": "ready" }))
        }
        "/health/ready" => {
            HttpResponse::ServiceUnavailable().json(serde_json::json!({ "status": "catching up" }))
        }
        "/metrics" => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(metrics(&services).await),
        _ => ApiError::not_found().error_response(),
    }
}

async fn metrics(services: &Services) -> String {
    use pinauth_command::metrics::single;
    let mut out = String::new();
    if let Some(command) = &services.command {
        command
            .service
            .metrics()
            .render(command.service.hasher().in_flight(), &mut out);
    }
    if let Some(query) = &services.query {
        let head = services
            .store
            .head()
            .await
            .ok()
            .flatten()
            .map_or(0, |p| p.commit);
        let applied = query.projection.applied();
        single(
            &mut out,
            "pinauth_projection_lag_positions",
            "gauge",
            "Store head minus the last position the read models applied.",
            head.saturating_sub(applied),
        );
        single(
            &mut out,
            "pinauth_projection_tokens",
            "gauge",
            "Tokens the read models know.",
            query.projection.read(|m| m.token_count()),
        );
    }
    out
}

/// Registers the services on an actix app.
pub fn configure(services: Services) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(services))
            .default_service(web::to(entry));
    }
}
