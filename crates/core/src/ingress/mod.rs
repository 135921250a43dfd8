//! Ingress protocols other than Open Responses: each decodes its request
//! into a `CreateResponseBody` for the one pipeline, and encodes the
//! pipeline's response and events back into its own shapes.

pub mod chat;
pub mod messages;
