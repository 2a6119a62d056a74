//! The caller class of Envoy's `Authorization/Check`: Envoy calls it as a
//! service account (`grpc_service.initial_metadata` carries
//! `x-latch-service-account: <name>.<secret>`), and Latch's own services
//! may. Users never call it: the user is inside the request it carries.

use latch_runtime::auth::{Access, Rule, ServicePolicy};

pub const POLICY: ServicePolicy = ServicePolicy {
    service: "envoy.service.auth.v3.Authorization",
    methods: &[
        // internal, service account (Envoy); no user calls it, so no rule
        ("Check", Access::Service, Rule::None),
    ],
    // No public RPC: nothing to rate limit here.
    rate_groups: &[],
};
