//! [`ServiceBuilderExt`]: this crate's layers as `ServiceBuilder` methods.

use tower::ServiceBuilder;

/// Adds this crate's layers to [`tower::ServiceBuilder`], in the style of
/// tower-http's `ServiceBuilderExt`.
///
/// ```
/// use tower::ServiceBuilder;
/// use tower_ai::provider::{mock::MockProvider, ProviderService};
/// use tower_ai::ServiceBuilderExt;
///
/// let stack = ServiceBuilder::new()
///     .telemetry()
///     .service(ProviderService::new(MockProvider::new()));
/// # let _ = stack;
/// ```
pub trait ServiceBuilderExt<L>: sealed::Sealed + Sized {
    /// Records a span and metrics per call: see [`crate::telemetry`].
    #[cfg(feature = "telemetry")]
    #[cfg_attr(docsrs, doc(cfg(feature = "telemetry")))]
    fn telemetry(self) -> ServiceBuilder<tower::layer::util::Stack<crate::telemetry::TelemetryLayer, L>>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    #[cfg(feature = "telemetry")]
    fn telemetry(self) -> ServiceBuilder<tower::layer::util::Stack<crate::telemetry::TelemetryLayer, L>> {
        self.layer(crate::telemetry::TelemetryLayer::new())
    }
}

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}
