//! What the process writes about itself: log lines on stderr (text or JSON) and, where a collector
//! is configured, OpenTelemetry traces over OTLP/HTTP.
//!
//! Spans are made only for the trace exporter: the log layer takes no span, so with no collector
//! every span's callsite is disabled and costs one check. Spans carry route templates, methods,
//! statuses, counts, stream categories and account ids: never a secret, identifier or token (the
//! fields are chosen where each span is made; `tests/system/traces.rs` checks a whole scenario).

use crate::config::{self, Config};
use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{self, FilterExt as _};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Keeps the trace exporter running; [`Telemetry::shutdown`] sends what is left.
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sets up logging and, with `[trace] endpoint`, tracing. Call it before any runtime starts
    /// (the exporter's HTTP client blocks, on a thread of its own).
    pub fn init(config: &Config) -> anyhow::Result<Self> {
        let env =
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
        let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
        let lines = match config.log.format {
            config::LogFormat::Json => lines.json().flatten_event(true).boxed(),
            config::LogFormat::Text => lines
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .boxed(),
        };
        // Each filter says how verbose it can be: without a hint the subscriber's would be "any
        // level", and the static level check before every disabled `debug!` and `trace!` of
        // every crate would pass them on to the callsite's cached interest.
        let no_spans =
            filter::filter_fn(|m| !m.is_span()).with_max_level_hint(filter::LevelFilter::TRACE);
        let lines = lines.with_filter(no_spans.and(env));
        let traces = match &config.trace.endpoint {
            Some(endpoint) => Some(provider(&config.trace, endpoint)?),
            None => None,
        };
        let spans = traces.as_ref().map(|provider| {
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("pinauth"))
                .with_location(false)
                .with_threads(false)
                .with_target(false)
                .with_tracked_inactivity(false)
                .with_filter(
                    filter::filter_fn(|m| {
                        m.is_span()
                            && m.target().starts_with("pinauth")
                            && *m.level() <= tracing::Level::INFO
                    })
                    .with_max_level_hint(filter::LevelFilter::INFO),
                )
        });
        tracing_subscriber::registry()
            .with(lines)
            .with(spans)
            .init();
        if traces.is_some() {
            opentelemetry::global::set_text_map_propagator(
                opentelemetry_sdk::propagation::TraceContextPropagator::new(),
            );
        }
        Ok(Self { traces })
    }

    /// Sends the spans still queued and stops the exporter (outside the runtime).
    pub fn shutdown(self) {
        if let Some(provider) = self.traces
            && let Err(error) = provider.shutdown()
        {
            eprintln!("pinauth: the last spans could not be sent: {error}");
        }
    }
}

/// A tracer provider that batches spans to `endpoint`'s `/v1/traces`.
fn provider(trace: &config::Trace, endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    // The exporter's HTTP client takes rustls's process-wide provider: ring, as the KurrentDB
    // client's and SMTP's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let base = endpoint.trim_end_matches('/');
    let url = match base.ends_with("/v1/traces") {
        true => base.to_owned(),
        false => format!("{base}/v1/traces"),
    };
    let protocol = match trace.protocol {
        config::TraceProtocol::Protobuf => opentelemetry_otlp::Protocol::HttpBinary,
        config::TraceProtocol::Json => opentelemetry_otlp::Protocol::HttpJson,
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(url)
        .with_protocol(protocol)
        .with_timeout(std::time::Duration::from_secs(10))
        .build()
        .context("cannot set up the OTLP trace exporter ([trace] endpoint)")?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(trace.service_name.clone())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            trace.sample_ratio,
        ))))
        .with_resource(resource)
        .build())
}
