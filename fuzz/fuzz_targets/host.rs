//! The fuzz targets' host: a fixed clock, fixed randomness, a memory
//! store, no sleeping (a timer never fires), fresh routing state, and
//! upstreams that answer only the URLs a target gives.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use latticelm_core::routing::RoutingState;
use latticelm_core::{Host, HostError, UpstreamRequest, UpstreamResponse};

/// A host whose upstreams are `answers` (URL → body, status 200).
#[derive(Clone, Default)]
pub struct FuzzHost {
    answers: &'static [(&'static str, &'static str)],
    kv: Rc<RefCell<HashMap<String, Vec<u8>>>>,
}

impl FuzzHost {
    /// A host whose upstreams answer these URLs.
    pub fn answering(answers: &'static [(&'static str, &'static str)]) -> Self {
        FuzzHost {
            answers,
            ..Default::default()
        }
    }
}

impl Host for FuzzHost {
    async fn send(&self, req: UpstreamRequest) -> Result<UpstreamResponse, HostError> {
        let Some((_, body)) = self.answers.iter().find(|(url, _)| *url == req.url) else {
            return Err(HostError::Transport("no such upstream".into()));
        };
        Ok(UpstreamResponse {
            status: 200,
            headers: vec![],
            body: futures::stream::iter([Ok(Bytes::from(*body))]).boxed_local(),
        })
    }
    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.kv.borrow().get(key).cloned())
    }
    async fn kv_put(&self, key: &str, value: Vec<u8>, _: Duration) -> Result<(), HostError> {
        self.kv.borrow_mut().insert(key.into(), value);
        Ok(())
    }
    async fn kv_delete(&self, key: &str) -> Result<(), HostError> {
        self.kv.borrow_mut().remove(key);
        Ok(())
    }
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }
    fn random(&self, buf: &mut [u8]) {
        buf.fill(3);
    }
    async fn sleep(&self, _: Duration) {
        futures::future::pending::<()>().await
    }
    fn with_routing<R>(&self, f: impl FnOnce(&mut RoutingState) -> R) -> R {
        f(&mut RoutingState::default())
    }
}
