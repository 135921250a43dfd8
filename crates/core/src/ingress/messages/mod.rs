//! Anthropic Messages ingress (`POST /v1/messages`): the request becomes
//! an Open Responses body (`decode`); the response and its events become
//! a Messages `message` and the Messages event sequence (`encode`).

mod decode;
mod encode;

pub use decode::decode;
pub use encode::{error, message, EventEncoder};
