//! The plan stage: the model's targets in the order to try them.

use crate::gateway::Gateway;
use crate::host::{Host, HttpResponse};
use crate::routing::{self, PlanInput};

use super::respond::{error_response, served_headers};
use super::routing_store;

impl Gateway {
    /// The plan stage: the model's targets in the order to try them, or
    /// the answer when none is available. `input` is the pinned provider,
    /// the principal, the (input, output) token estimate and the seed.
    pub(crate) async fn plan<'c, H: Host>(
        &'c self,
        host: &H,
        model: &'c str,
        now: u64,
        input: (Option<&'c str>, &'c str, (u64, u64), u64),
    ) -> Result<Vec<routing::Candidate<'c>>, HttpResponse> {
        let (pinned, principal, (input_tokens, output_tokens), seed) = input;
        routing_store::load(host).await;
        let planned = host.with_routing(|state| {
            routing::plan(
                &self.config,
                state,
                PlanInput {
                    principal,
                    model,
                    pinned,
                    now,
                    input_tokens,
                    output_tokens,
                    seed,
                    explore: self.config.routing.explore,
                },
            )
        });
        planned.map_err(|e| {
            let mut resp = error_response(&e.into());
            served_headers(&mut resp, None, 0);
            resp
        })
    }
}
