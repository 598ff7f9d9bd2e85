//! The audit log's web side: which API calls change state, the entry each such call leaves (who, what, when,
//! from where, how it ended), and who may read which entries. The store side (keys, retention, pages) is
//! [`sluice_runtime::audit`].
//!
//! A call changes state unless it only reads: every operation the API knows but `Get*`, `List*` and `Poll*`.
//! [`crate::codepipeline::handle_by`] records each one:
//!
//! - a refused call (AccessDeniedException) is recorded before it is answered, as `refused`;
//! - any other call after it was answered, as `ok` or `failed` with the error type.
//!
//! A record that cannot be written never changes the call's answer: the call has already acted (or was
//! refused) by then, and failing it would have clients retry what was done, or hide a refusal. The failure is
//! logged at error level with the whole entry, so a log pipeline still holds it. The store is the one the call
//! itself used, so in practice a store that cannot take the record could not take the call either.

use std::sync::OnceLock;

use serde_json::{Map, Value};
use sluice_runtime::audit::{AuditEntry, AuditSettings, Outcome};
use sluice_runtime::Runtime;
use tracing::error;

use crate::access::{self, Principal, Role, Scope};
use crate::codepipeline::errors::ApiResponse;

/// The longest error message an entry keeps.
const MAX_MESSAGE: usize = 300;

/// The settings every call of this process records with: [`AuditSettings::from_env`], read once. A bad value
/// is logged (naming the variable) and the default kept; hosts should call this at start so the mistake shows
/// then.
pub fn settings() -> AuditSettings {
    static SETTINGS: OnceLock<AuditSettings> = OnceLock::new();
    *SETTINGS.get_or_init(|| {
        AuditSettings::from_env().unwrap_or_else(|e| {
            error!(error = %e, "the audit log keeps the default retention");
            AuditSettings::default()
        })
    })
}

/// Whether an operation of the API changes state: every operation it knows but reads (`Get*`, `List*`,
/// `Poll*`).
pub fn changes_state(operation: &str) -> bool {
    access::need(operation, &Value::Null).is_some()
        && !READS.iter().any(|read| operation.starts_with(read))
}

/// Whether `principal` may read an entry: one naming a pipeline, when it may view that pipeline; any other
/// (job workers' reports, action types, webhooks without a pipeline), when it is an admin on every pipeline.
pub fn visible_to(principal: &Principal, entry: &AuditEntry) -> bool {
    match &entry.pipeline {
        Some(p) => principal.role_on(p).is_some(),
        None => principal.role_everywhere() == Some(Role::Admin),
    }
}

/// Answers a call of Sluice's own operations routed outside [`crate::codepipeline::handle_by`] (the access
/// operations, `SluiceAccess_20261206.*`) through `answer`, and records it unless it only reads (its operation,
/// the target's last part, starts with `Get`, `List` or `Poll`): the transport vouches the target is one it
/// answers. The answer is never changed.
pub async fn recorded(
    runtime: &Runtime,
    target: &str,
    body: &[u8],
    principal: &Principal,
    source: &str,
    answer: impl std::future::Future<Output = ApiResponse>,
) -> ApiResponse {
    let operation = target.rsplit('.').next().unwrap_or(target);
    let reads = READS.iter().any(|read| operation.starts_with(read));
    let call = (!reads).then(|| {
        let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let mut entry = Call::parts(operation, &request, principal);
        for (member, detail) in [
            ("name", "principalName"),
            ("principalName", "principalName"),
            ("accessKeyId", "accessKeyId"),
        ] {
            if let Some(v) = request.get(member).and_then(Value::as_str) {
                entry.details.insert(detail.into(), v.into());
            }
        }
        Call::stamped(runtime, entry, source)
    });
    let response = answer.await;
    if let Some(call) = call {
        call.answered(runtime, response.status, &response.body)
            .await;
    }
    response
}

/// Operations that only read start with these.
const READS: [&str; 3] = ["Get", "List", "Poll"];

/// A state-changing call on its way: the entry it will leave.
pub(crate) struct Call {
    entry: AuditEntry,
}

/// Request members kept as the entry's details (never secrets: a third-party job's `clientToken` is one).
const DETAIL_MEMBERS: [&str; 8] = [
    "jobId",
    "transitionType",
    "webhookName",
    "targetPipelineExecutionId",
    "conditionType",
    "category",
    "provider",
    "version",
];

impl Call {
    /// The entry a call of `operation` with `body` by `principal` from `source` leaves; None for a call that
    /// does not change state.
    pub(crate) fn start(
        runtime: &Runtime,
        operation: &str,
        body: &[u8],
        principal: &Principal,
        source: &str,
    ) -> Option<Self> {
        if !changes_state(operation) {
            return None;
        }
        let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        Some(Self::stamped(
            runtime,
            Self::parts(operation, &request, principal),
            source,
        ))
    }

    /// The entry given its id, the time and where the call came from.
    fn stamped(runtime: &Runtime, mut entry: AuditEntry, source: &str) -> Self {
        entry.id = runtime.env.new_id();
        entry.at_ms = runtime.env.now_ms();
        source.clone_into(&mut entry.source);
        Self { entry }
    }

    /// What the request names, and who made it.
    fn parts(operation: &str, request: &Value, principal: &Principal) -> AuditEntry {
        let text = |name: &str| request.get(name).and_then(Value::as_str).map(str::to_owned);
        let pipeline = match access::need(operation, request).map(|n| n.scope) {
            Some(Scope::Pipeline(p)) => Some(p),
            _ => None,
        };
        let mut details = Map::new();
        for member in DETAIL_MEMBERS {
            if let Some(v) = request
                .get(member)
                .filter(|v| v.is_string() || v.is_number())
            {
                details.insert(member.to_owned(), v.clone());
            }
        }
        if let Some(status) = request.pointer("/result/status").and_then(Value::as_str) {
            details.insert("result".into(), status.into());
        }
        if let Some(name) = request.pointer("/webhook/name").and_then(Value::as_str) {
            details.insert("webhookName".into(), name.into());
        }
        if operation == "DeleteWebhook" {
            if let Some(name) = text("name") {
                details.insert("webhookName".into(), name.into());
            }
        }
        if let Some(id) = request.get("actionTypeId").filter(|v| v.is_object()) {
            details.insert("actionTypeId".into(), id.clone());
        }
        // `Access::principal` answers the principal with the key that signed alone.
        let key_id = match principal.keys.as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        };
        AuditEntry {
            id: String::new(),
            at_ms: 0,
            principal: principal.name.clone(),
            key_id,
            source: String::new(),
            operation: operation.to_owned(),
            pipeline,
            stage: text("stageName"),
            action: text("actionName"),
            execution_id: text("pipelineExecutionId"),
            details,
            outcome: Outcome::Ok,
            error: None,
            message: None,
        }
    }

    /// Records the call as refused with `kind` and `message`.
    pub(crate) async fn refused(mut self, runtime: &Runtime, kind: &str, message: &str) {
        self.entry.outcome = Outcome::Refused;
        self.entry.error = Some(kind.to_owned());
        self.entry.message = Some(shorten(message));
        self.write(runtime).await;
    }

    /// Records the call as answered with `status` and `body`.
    pub(crate) async fn answered(mut self, runtime: &Runtime, status: u16, body: &Value) {
        if status == 200 {
            if self.entry.execution_id.is_none() {
                self.entry.execution_id = body["pipelineExecutionId"].as_str().map(str::to_owned);
            }
            if let Some(v) = body.pointer("/pipeline/version").filter(|v| v.is_number()) {
                self.entry.details.insert("version".into(), v.clone());
            }
        } else {
            let kind = body["__type"].as_str().unwrap_or("Error");
            self.entry.outcome = if kind == "AccessDeniedException" {
                Outcome::Refused
            } else {
                Outcome::Failed
            };
            self.entry.error = Some(kind.rsplit('#').next().unwrap_or(kind).to_owned());
            self.entry.message = body["message"].as_str().map(shorten);
        }
        self.write(runtime).await;
    }

    async fn write(self, runtime: &Runtime) {
        if let Err(e) = runtime.record_audit(&self.entry, settings()).await {
            let entry = serde_json::to_string(&self.entry).unwrap_or_default();
            error!(error = %e, %entry, "an audit log entry could not be written");
        }
    }
}

fn shorten(message: &str) -> String {
    if message.chars().count() <= MAX_MESSAGE {
        return message.to_owned();
    }
    let mut short: String = message.chars().take(MAX_MESSAGE - 1).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Grant;

    #[test]
    fn reads_are_not_recorded_and_changes_are() {
        for read in [
            "GetPipeline",
            "GetPipelineState",
            "ListPipelines",
            "ListActionExecutions",
            "PollForJobs",
            "PollForThirdPartyJobs",
            "GetJobDetails",
            "NoSuchOperation",
        ] {
            assert!(!changes_state(read), "{read}");
        }
        for change in [
            "CreatePipeline",
            "StartPipelineExecution",
            "DisableStageTransition",
            "PutApprovalResult",
            "AcknowledgeJob",
            "PutJobSuccessResult",
            "TagResource",
            "DeleteWebhook",
            "OverrideStageCondition",
        ] {
            assert!(changes_state(change), "{change}");
        }
    }

    fn vera() -> Principal {
        Principal {
            name: "vera".into(),
            keys: vec!["AKVERA".into()],
            grants: vec![Grant::parse("web-*=viewer").expect("a value")],
            groups: Vec::new(),
        }
    }

    #[test]
    fn viewers_see_entries_of_pipelines_they_view_and_admins_all() {
        let entry = |pipeline: Option<&str>| AuditEntry {
            id: "1".into(),
            at_ms: 1,
            principal: "x".into(),
            key_id: None,
            source: "local".into(),
            operation: "PutJobSuccessResult".into(),
            pipeline: pipeline.map(str::to_owned),
            stage: None,
            action: None,
            execution_id: None,
            details: Map::new(),
            outcome: Outcome::Ok,
            error: None,
            message: None,
        };
        let (vera, admin) = (vera(), Principal::admin("root"));
        assert!(visible_to(&vera, &entry(Some("web-a"))));
        assert!(!visible_to(&vera, &entry(Some("infra"))));
        assert!(!visible_to(&vera, &entry(None)));
        assert!(visible_to(&admin, &entry(Some("infra"))));
        assert!(visible_to(&admin, &entry(None)));
    }

    #[test]
    fn long_messages_are_shortened() {
        assert_eq!(shorten("short"), "short");
        let long = "x".repeat(1000);
        assert_eq!(shorten(&long).chars().count(), MAX_MESSAGE);
    }

    #[test]
    fn an_entry_names_what_the_call_named_but_no_secret() {
        let body = serde_json::json!({
            "pipelineName": "web-a", "stageName": "Deploy", "actionName": "Approve",
            "token": "t", "result": {"status": "Approved", "summary": "ok"}
        });
        let entry = Call::parts("PutApprovalResult", &body, &vera());
        assert_eq!(entry.pipeline.as_deref(), Some("web-a"));
        assert_eq!(entry.stage.as_deref(), Some("Deploy"));
        assert_eq!(entry.action.as_deref(), Some("Approve"));
        assert_eq!(entry.key_id.as_deref(), Some("AKVERA"));
        assert_eq!(entry.details["result"], "Approved");
        let entry = Call::parts(
            "PutThirdPartyJobSuccessResult",
            &serde_json::json!({"jobId": "j-1", "clientToken": "secret"}),
            &vera(),
        );
        assert_eq!(entry.pipeline, None);
        assert_eq!(entry.details["jobId"], "j-1");
        assert!(!serde_json::to_string(&entry)
            .expect("a value")
            .contains("secret"));
    }
}
