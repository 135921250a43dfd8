//! `POST /v1/responses`: the Open Responses front door. Its body is
//! parsed and checked (the parse stage), and the pipeline's answer
//! written as it is: a response, or its events as SSE.

use crate::auth::Principal;
use crate::gateway::Gateway;
use crate::host::{Host, HttpRequest, HttpResponse};
use crate::observe::Recorder;
use crate::pipeline::error::StageError;
use crate::pipeline::turn::{Front, Turn};
use crate::pipeline::{parse, run};

impl Gateway {
    /// `POST /v1/responses`.
    pub(crate) async fn responses<H: Host + Clone + 'static>(
        &self,
        host: &H,
        req: &HttpRequest,
        principal: &Principal,
        rec: &Recorder,
    ) -> Result<HttpResponse, StageError> {
        let body = parse::parse(&self.config, req, principal)?;
        let turn = Turn::new(
            &self.config,
            principal.clone(),
            rec.clone(),
            body,
            Front::responses(),
            req.body.len(),
            &req.headers,
        )?;
        Ok(run::respond(&self.cx(host), turn).await?.into_response())
    }
}
