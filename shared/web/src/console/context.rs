//! What the console's pages share: the host's settings ([`Console`]), the signed-in request being answered
//! ([`Ctx`]: the API called as the signed-in key, pages rendered whole or as their live region) and why a page
//! could not be shown ([`Failure`]).

use std::sync::Arc;

use serde_json::Value;
use sluice_runtime::Runtime;

use crate::access::{Access, Principal, Role};

use super::html::{self, esc, Page};
use super::logs::ActionLogs;
use super::request::{html_reply, ConsoleReply, ConsoleRequest};
use super::session::Session;

/// What the console needs from its host.
pub struct Console<'a> {
    /// The runtime the API answers from.
    pub runtime: &'a Runtime,
    /// The key pairs people sign in with, and who each belongs to.
    pub access: &'a Access,
    /// Where action logs are read from, when the host has any.
    pub logs: Option<&'a dyn ActionLogs>,
    /// How long a session lasts, in seconds.
    pub session_lifetime_s: i64,
}

/// A signed-in request being answered.
pub(crate) struct Ctx<'a> {
    pub(crate) console: &'a Console<'a>,
    pub(crate) req: &'a ConsoleRequest<'a>,
    pub(crate) session: &'a Session,
    /// Who signed in (the session's key's principal).
    pub(crate) principal: Arc<Principal>,
}

/// Why a page could not be shown: the API's refusal, or a thing that is not there.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: u16,
    pub(crate) kind: String,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: 404,
            kind: "NotFound".into(),
            message: message.into(),
        }
    }

    pub(crate) fn reply(&self, ctx: &Ctx<'_>) -> ConsoleReply {
        let status = match self.status {
            400 if self.kind.ends_with("NotFoundException") => 404,
            400 if self.kind == "AccessDeniedException" => 403,
            s => s,
        };
        let mut page = Page::new(match status {
            404 => "Not found",
            403 => "Not allowed",
            _ => "Something went wrong",
        });
        page.refresh = false;
        page.raw(&format!(
            "<h1>{}</h1>\n<p class=\"error\"><strong>{}</strong>: {}</p>\n<p><a href=\"/\">All pipelines</a></p>\n",
            esc(&page.title),
            esc(&self.kind),
            esc(&self.message)
        ));
        let mut r = ctx.render(&page);
        r.reply.status = status;
        r
    }
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        console: &'a Console<'a>,
        req: &'a ConsoleRequest<'a>,
        session: &'a Session,
        principal: Arc<Principal>,
    ) -> Self {
        Self {
            console,
            req,
            session,
            principal,
        }
    }

    /// Whether the signed-in principal may start, stop, retry, roll back, approve and switch transitions on
    /// `pipeline` (the console shows those buttons only then; the API checks again).
    pub(crate) fn steers(&self, pipeline: &str) -> bool {
        self.principal
            .role_on(pipeline)
            .is_some_and(|r| r >= Role::Operator)
    }

    /// Calls the CodePipeline API as the signed-in principal (whose roles it checks).
    pub(crate) async fn call(&self, operation: &str, body: Value) -> Result<Value, Failure> {
        let target = format!("{}{operation}", crate::codepipeline::TARGET_PREFIX);
        let body = body.to_string();
        let resp = crate::codepipeline::handle_by(
            self.console.runtime,
            &target,
            body.as_bytes(),
            &self.principal,
            &format!("console {}", self.req.source),
        )
        .await;
        if resp.status == 200 {
            return Ok(resp.body);
        }
        Err(Failure {
            status: resp.status,
            kind: resp.body["__type"].as_str().unwrap_or("Error").to_owned(),
            message: resp.body["message"].as_str().unwrap_or_default().to_owned(),
        })
    }

    /// Who is signed in, as the page header shows it: the principal's name (and the key, when it is not the
    /// name).
    pub(crate) fn who(&self) -> String {
        if self.principal.name == self.session.key_id {
            self.principal.name.clone()
        } else {
            format!("{} ({})", self.principal.name, self.session.key_id)
        }
    }

    /// The CSRF field every form of this session carries.
    pub(crate) fn csrf_field(&self) -> String {
        html::hidden("csrf", &self.session.csrf)
    }

    /// A page as the reply: the whole document, or only its live region for the refreshing script.
    pub(crate) fn render(&self, page: &Page) -> ConsoleReply {
        let body = if self.req.fragment {
            page.live.clone()
        } else {
            page.finish(Some((&self.who(), &self.session.csrf)))
        };
        html_reply(200, body).into()
    }

    /// The query's fields.
    pub(crate) fn params(&self) -> Vec<(String, String)> {
        self.req.params()
    }
}
