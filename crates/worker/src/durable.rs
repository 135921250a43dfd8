//! `ConversationStore`: one Durable Object per stored response. Strongly
//! consistent, so a continuation sent right after a response always finds
//! it. An alarm deletes the value when its TTL runs out, and reads check
//! the expiry too, in case the alarm has not fired yet.

use std::time::Duration;

use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

#[durable_object]
pub struct ConversationStore {
    state: State,
}

const VALUE: &str = "value";
const EXPIRES: &str = "expires_ms";

impl DurableObject for ConversationStore {
    fn new(state: State, _env: Env) -> Self {
        ConversationStore { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let storage = self.state.storage();
        let now = worker::Date::now().as_millis();
        match req.method() {
            Method::Get => {
                let expires: Option<u64> = storage.get(EXPIRES).await?;
                let value: Option<String> = storage.get(VALUE).await?;
                match (value, expires) {
                    (Some(v), Some(exp)) if exp > now => Response::from_bytes(v.into_bytes()),
                    _ => Ok(Response::empty()?.with_status(404)),
                }
            }
            Method::Put => {
                let ttl_ms: u64 = req
                    .headers()
                    .get("x-ttl-ms")?
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(3_600_000);
                let bytes = req.bytes().await?;
                // The gateway stores JSON: UTF-8 by construction.
                let text = String::from_utf8(bytes)
                    .map_err(|e| worker::Error::RustError(e.to_string()))?;
                storage.put(VALUE, text).await?;
                storage.put(EXPIRES, now + ttl_ms).await?;
                storage.set_alarm(Duration::from_millis(ttl_ms)).await?;
                Ok(Response::empty()?.with_status(204))
            }
            Method::Delete => {
                storage.delete_all().await?;
                let _ = storage.delete_alarm().await;
                Ok(Response::empty()?.with_status(204))
            }
            _ => Ok(Response::empty()?.with_status(405)),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.state.storage().delete_all().await?;
        Response::empty()
    }
}
