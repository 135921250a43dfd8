//! Routing and failover on the native binary: failover past dead and
//! failing targets, circuit breaking, weighted and cost routing, streaming
//! failover before the first byte, failures after it, a cross-protocol
//! fallback chain, and retry-after, against the mock's fault injection.

mod support;

use support::*;

#[test]
fn routing_end_to_end() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&config_with_routing(&mock), mock);
    routing_suite(&gw);
}
