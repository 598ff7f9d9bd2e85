//! The audit log in DynamoDB (moto, through `AWS_ENDPOINT_URL`): calls answered by `handle_by` over the runtime
//! the functions wire leave their entries in the table, with the TTL attribute set from the retention, and
//! read back newest first, page by page.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Value};
use sluice_runtime::audit::{AuditQuery, DEFAULT_RETENTION_DAYS};
use sluice_runtime::jobs::{Executor, Job};
use sluice_runtime::ports::{ItemStore, ObjectInfo, Order};
use sluice_tests::moto_stack::MotoStack;
use sluice_web::access::{Grant, Principal};
use sluice_web::codepipeline::{handle_by, TARGET_PREFIX};

/// No job runs here: the calls only create, refuse and switch transitions.
struct NoJobs;

#[async_trait]
impl Executor for NoJobs {
    async fn start(&self, _job: Job) -> Result<(), String> {
        Err("no jobs in this suite".into())
    }
    async fn is_running(&self, _job_id: &str) -> bool {
        false
    }
    async fn cancel(&self, _job_id: &str) {}
    async fn collect_outputs(
        &self,
        _job: &Job,
    ) -> Option<Result<BTreeMap<String, ObjectInfo>, String>> {
        None
    }
}

fn person(name: &str, key: &str, grant: &str) -> Principal {
    Principal {
        name: name.into(),
        keys: vec![key.into()],
        grants: vec![Grant::parse(grant).expect("a grant")],
        groups: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_entries_land_in_dynamodb_with_their_ttl_and_page_newest_first() {
    let stack = MotoStack::open("audit").await;
    let runtime = stack.runtime(Arc::new(NoJobs));
    let admin = Principal::admin("AKADMIN");
    let olga = person("olga", "AKOLGA", "*=operator");
    let vera = person("vera", "AKVERA", "*=viewer");
    let call = |operation: &str, body: Value, who: &Principal| {
        let runtime = Arc::clone(&runtime);
        let (operation, who) = (operation.to_owned(), who.clone());
        async move {
            handle_by(
                &runtime,
                &format!("{TARGET_PREFIX}{operation}"),
                body.to_string().as_bytes(),
                &who,
                "203.0.113.7",
            )
            .await
        }
    };
    let definition = json!({"pipeline": {
    "name": "web", "roleArn": "arn:aws:iam::123456789012:role/p",
    "artifactStore": {"type": "S3", "location": stack.bucket},
    "stages": [
        {"name": "Source", "actions": [{"name": "S", "actionTypeId": {"category": "Source", "owner": "AWS",
            "provider": "S3", "version": "1"}, "configuration": {"S3Bucket": "b", "S3ObjectKey": "k"},
            "outputArtifacts": [{"name": "Src"}]}]},
        {"name": "Approve", "actions": [{"name": "Ok", "actionTypeId": {"category": "Approval",
            "owner": "AWS", "provider": "Manual", "version": "1"}}]}
    ]}});
    let created = call("CreatePipeline", definition, &admin).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let refused = call("StartPipelineExecution", json!({"name": "web"}), &vera).await;
    assert_eq!(refused.body["__type"], "AccessDeniedException");
    let disabled = call(
        "DisableStageTransition",
        json!({"pipelineName": "web", "stageName": "Approve", "transitionType": "Inbound", "reason": "hold"}),
        &olga,
    )
    .await;
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    let read = call("GetPipelineState", json!({"name": "web"}), &vera).await;
    assert_eq!(read.status, 200, "{}", read.body);

    // The items, as the table holds them: the pipeline's partition, the TTL attribute (`expires_at`) the
    // retention after the call.
    let items = stack
        .store
        .query("AUDIT#PIPELINE#web", "", Order::Descending, 10, None)
        .await
        .expect("query");
    assert_eq!(items.len(), 3, "{items:#?}");
    for item in &items {
        let at_s = item.data["atMs"].as_i64().expect("atMs") / 1000;
        assert_eq!(
            item.expires_at,
            Some(at_s + i64::from(DEFAULT_RETENTION_DAYS) * 86_400),
            "{item:?}"
        );
        assert_eq!(item.data["source"], "203.0.113.7");
    }

    // Read back through the store port: newest first, one at a time.
    let mut query = AuditQuery {
        limit: 1,
        ..Default::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = runtime.audit_page(&query, &|_| true).await.expect("a page");
        seen.extend(
            page.entries
                .iter()
                .map(|e| (e.operation.clone(), e.principal.clone(), e.outcome_text())),
        );
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            ("DisableStageTransition".into(), "olga".into(), "ok".into()),
            (
                "StartPipelineExecution".into(),
                "vera".into(),
                "refused: AccessDeniedException".into()
            ),
            ("CreatePipeline".into(), "AKADMIN".into(), "ok".into()),
        ]
    );
}
