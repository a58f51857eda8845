//! [`TelemetryLayer`].

use tower_layer::Layer;

use super::Telemetry;

/// Wraps a service in [`Telemetry`]: a span and metrics per call.
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct TelemetryLayer {
    pub(super) metrics: bool,
}

impl Default for TelemetryLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl TelemetryLayer {
    /// Spans and metrics.
    pub fn new() -> Self {
        Self { metrics: true }
    }

    /// Whether to record metrics (default: yes). Spans are always made;
    /// without a subscriber that wants them they cost next to nothing.
    pub fn metrics(mut self, enabled: bool) -> Self {
        self.metrics = enabled;
        self
    }
}

impl TelemetryLayer {
    pub(super) fn wrap<S>(self, inner: S) -> Telemetry<S> {
        Telemetry::with_config(inner, self)
    }
}

impl<S> Layer<S> for TelemetryLayer {
    type Service = Telemetry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        self.wrap(inner)
    }
}
