//! Approval rules in AWS, through the functions' handlers on moto: executions run on Step Functions with this
//! suite playing the dispatch function (`sluice_functions::dispatch::handle`, as `aws_rule_jobs.rs` does), the
//! approval notification published by an `AwsNotifier` on an SNS topic read back through SQS, the principals
//! kept in the store (`StackPeople`, which also expands the approvers' groups).
//!
//! - Two of three approvers through their own links (`sluice_functions::approval::answer`): the starter gets
//!   no link and may not approve, each link decides once as its principal, a shared link is refused.
//! - A reminder falls due and the one-minute `check-waiting` schedule sends it once, on both topics.
//! - The api function records an access operation in the audit log with its principal and the exact key
//!   that signed it, and never the key pair's secret.
//!
//! Needs moto (`AWS_ENDPOINT_URL`), as every `aws_*` suite.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use aws_sdk_s3::primitives::ByteStream;
use serde_json::{json, Value};
use sluice_aws::{ApprovalNotices, AwsNotifier, S3ObjectStore, StepFunctionsOrchestrator};
use sluice_definition::{load, Limits, Syntax};
use sluice_functions::access::StackPeople;
use sluice_functions::executor::AwsExecutor;
use sluice_runtime::audit::AuditQuery;
use sluice_runtime::events::Origin;
use sluice_runtime::jobs::JobListener;
use sluice_runtime::links;
use sluice_runtime::notifications;
use sluice_runtime::records::{ActionRecord, ApprovalRecord, ApprovalStatus, TriggerInfo};
use sluice_runtime::{Runtime, RuntimeConfig, StartRequest};
use sluice_tests::lambda;
use sluice_tests::moto::{self, unique, ACCOUNT};
use sluice_tests::moto_stack::MotoStack;
use sluice_tests::zip_of;
use sluice_web::access::admin::People;
use sluice_web::access::{Grant, Principal};

/// Where the approval function's pages are, as the notifications' links name it.
const BASE_URL: &str = "https://approvals.example.com";

/// The key approval links are signed with (the approval function checks them with it).
const LINK_KEY: &[u8] = b"the approval links' key, 32 bytes";

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

struct Rig {
    runtime: Arc<Runtime>,
    executor: Arc<AwsExecutor>,
    sfn: Arc<StepFunctionsOrchestrator>,
    people: StackPeople,
    parts: MotoStack,
    sqs: aws_sdk_sqs::Client,
    /// The queue subscribed to the approval topic.
    approvals: String,
    _jobs: tempfile::TempDir,
}

/// The runtime as the dispatch function wires it, on a stack of its own, with approval notifications on a new
/// topic (read through a queue) whose links are issued to the principals kept in the store.
async fn rig(name: &str) -> Rig {
    let parts = MotoStack::open(name).await;
    let (topic, approvals) = moto::topic_to_queue(&parts.sdk, "sluice-approvals").await;
    let people = StackPeople::new(
        parts.store.clone(),
        &parts.sdk,
        &format!("sluice/{}/access-keys/", unique("stack")),
    );
    let notices = ApprovalNotices {
        topic_arn: topic,
        base_url: BASE_URL.into(),
        link_key: LINK_KEY.to_vec(),
    };
    let notifier = AwsNotifier::from_sdk(&parts.sdk, "default", Some(notices))
        .with_directory(Arc::new(people.clone()));
    let jobs = tempfile::tempdir().expect("temp");
    let executor = Arc::new(AwsExecutor::new(
        parts.sdk.clone(),
        parts.store.clone(),
        jobs.path(),
        None,
        None,
    ));
    let runtime = Arc::new(Runtime {
        store: parts.store.clone(),
        objects: Arc::new(S3ObjectStore::new(parts.s3.clone())),
        orchestrator: parts.sfn.clone(),
        events: Arc::new(notifier),
        executor: executor.clone(),
        env: Arc::new(sluice_engine::SystemEnv),
        definitions: Default::default(),
        config: RuntimeConfig {
            artifact_bucket: parts.bucket.clone(),
            origin: Origin {
                account: ACCOUNT.into(),
                region: "us-east-1".into(),
            },
            limits: Limits::default(),
            webhook_base_url: Default::default(),
        },
    });
    let listener: std::sync::Weak<dyn JobListener> = Arc::downgrade(&runtime) as _;
    executor.set_listener(listener);
    Rig {
        runtime,
        executor,
        sfn: parts.sfn.clone(),
        people,
        sqs: aws_sdk_sqs::Client::new(&parts.sdk),
        parts,
        approvals,
        _jobs: jobs,
    }
}

impl Rig {
    /// Keeps the principal `name` in the store, in `groups`.
    async fn principal(&self, name: &str, groups: &[&str]) {
        let principal = Principal {
            name: name.into(),
            keys: Vec::new(),
            grants: vec![Grant::parse("*=operator").expect("a grant")],
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        };
        self.people
            .put_principal(&principal, true)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }

    /// A pipeline: Source (the zip `app.zip` of a new bucket), then Gate with the Manual action Review
    /// configured with `config`. Stored and started with `trigger`: the execution id.
    async fn start(&self, name: &str, config: Value, trigger: Option<TriggerInfo>) -> String {
        let sources = unique("sluice-src");
        self.parts
            .s3
            .create_bucket()
            .bucket(&sources)
            .send()
            .await
            .expect("bucket");
        self.parts
            .s3
            .put_object()
            .bucket(&sources)
            .key("app.zip")
            .body(ByteStream::from(zip_of(&[("index.html", "v1")])))
            .send()
            .await
            .expect("upload");
        let doc = json!({"pipeline": {
            "name": name,
            "roleArn": "arn:aws:iam::123456789012:role/sluice-approval-rules",
            "pipelineType": "V2",
            "stages": [
                {"name": "Source", "actions": [{
                    "name": "Fetch",
                    "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                    "configuration": {"S3Bucket": sources, "S3ObjectKey": "app.zip", "PollForSourceChanges": "false"},
                    "outputArtifacts": [{"name": "Src"}]
                }]},
                {"name": "Gate", "actions": [{
                    "name": "Review",
                    "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
                    "configuration": config
                }]}
            ]
        }});
        let pipeline = load(&doc.to_string(), Syntax::Json, &Limits::default())
            .unwrap_or_else(|e| panic!("valid: {e}"))
            .pipeline;
        self.runtime
            .put_pipeline(pipeline, None)
            .await
            .expect("stored");
        self.runtime
            .start_execution(
                name,
                StartRequest {
                    trigger,
                    ..StartRequest::default()
                },
            )
            .await
            .expect("started")
            .execution_id
    }

    /// Plays the dispatch function (each new task once) until Gate.Review's approval waits (when
    /// `until_waiting`: that approval, and "RUNNING") or the run ends (None, and the run's status).
    async fn dispatch(
        &self,
        pipeline: &str,
        id: &str,
        seen: &mut HashSet<i64>,
        until_waiting: bool,
    ) -> (Option<ApprovalRecord>, String) {
        let arn = self.sfn.execution_arn(pipeline, id);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            for task in moto::new_tasks(self.sfn.client(), &arn, seen).await {
                let payload = serde_json::to_value(&task.request).expect("payload");
                sluice_functions::dispatch::handle(&self.runtime, &self.executor, payload)
                    .await
                    .unwrap_or_else(|e| panic!("{}: {e}", moto::describe(&task.request)));
            }
            if until_waiting {
                if let Some(a) = self.approval(pipeline, id).await {
                    if a.status == ApprovalStatus::Pending {
                        return (Some(a), "RUNNING".into());
                    }
                }
            }
            let status = moto::status(self.sfn.client(), &arn).await;
            if status != "RUNNING" {
                return (None, status);
            }
            assert!(Instant::now() < deadline, "{arn} still RUNNING");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn approval(&self, pipeline: &str, id: &str) -> Option<ApprovalRecord> {
        self.runtime
            .approval(pipeline, "Gate", "Review", id)
            .await
            .expect("read the approval")
    }

    async fn review(&self, id: &str) -> ActionRecord {
        self.runtime
            .actions(id)
            .await
            .expect("actions")
            .into_iter()
            .find(|a| a.action == "Review")
            .expect("Review ran")
    }

    /// The next approval message on `queue` (waits up to 20 s).
    async fn message(&self, queue: &str) -> Value {
        let body = moto::receive(&self.sqs, queue, 1)
            .await
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no approval message on {queue} in 20 s"));
        serde_json::from_str(&body).expect("the message is JSON")
    }

    /// The approval function's answer to `method` on `link` (a full URL under [`BASE_URL`]) with `form`.
    async fn open(&self, method: &str, link: &str, form: &str) -> (u16, String) {
        let rest = link
            .strip_prefix(BASE_URL)
            .unwrap_or_else(|| panic!("{link} is not under {BASE_URL}"));
        let (path, query) = rest.split_once('?').expect("a query");
        let event = lambda::url_request(method, path, query, &[FORM], form.as_bytes(), true);
        let req: LambdaFunctionUrlRequest = serde_json::from_value(event).expect("request");
        let reply = sluice_functions::approval::answer(
            &self.runtime,
            LINK_KEY,
            &self.people,
            &req,
            now_s(),
        )
        .await;
        (reply.status, reply.body)
    }

    /// The one-minute schedule's event, as EventBridge delivers it: how many reminders it sent.
    async fn check_waiting(&self) -> u64 {
        let answer = sluice_functions::dispatch::handle(
            &self.runtime,
            &self.executor,
            json!({"sluice": "check-waiting"}),
        )
        .await
        .expect("check-waiting");
        answer["remindersSent"]
            .as_u64()
            .unwrap_or_else(|| panic!("no remindersSent in {answer}"))
    }
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// The approver links of an approval message, by principal.
fn approver_links(message: &Value) -> Vec<(String, String)> {
    message["approval"]["approverLinks"]
        .as_array()
        .unwrap_or_else(|| panic!("no approverLinks in {message}"))
        .iter()
        .map(|l| {
            (
                l["principal"].as_str().expect("principal").to_owned(),
                l["approvalReviewLink"].as_str().expect("link").to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_of_three_approvers_decide_through_their_own_links_and_the_starter_gets_none() {
    let rig = rig("approvers").await;
    rig.principal("alice", &[]).await;
    for lead in ["bob", "carol", "dave"] {
        rig.principal(lead, &["leads"]).await;
    }
    let name = unique("quorum");
    let carol = TriggerInfo {
        trigger_type: "StartPipelineExecution".into(),
        trigger_detail: "carol".into(),
        pushed_by: None,
    };
    let config = json!({"Approvers": "alice, group:leads", "RequiredApprovals": "2", "CustomData": "Ship it?"});
    let id = rig.start(&name, config, Some(carol)).await;
    let mut seen = HashSet::new();
    let (waiting, _) = rig.dispatch(&name, &id, &mut seen, true).await;
    let approval = waiting.expect("the approval waits");
    assert_eq!(approval.approvers, vec!["alice", "group:leads"]);
    assert_eq!(approval.not_approvable_by.as_deref(), Some("carol"));
    assert_eq!(approval.required_approvals, 2);

    // One link per approver, groups expanded through the store's principals, none for carol who started it.
    let message = rig.message(&rig.approvals).await;
    assert_eq!(message["approval"]["token"], approval.token.as_str());
    assert_eq!(
        message["approval"]["approvalReviewLink"],
        format!("{BASE_URL}/pipelines/{name}/executions/{id}"),
        "with approvers named, the review link is the console's"
    );
    let links = approver_links(&message);
    let holders: Vec<&str> = links.iter().map(|(who, _)| who.as_str()).collect();
    assert_eq!(holders, ["alice", "bob", "dave"], "{message}");
    let link_of = |who: &str| {
        links
            .iter()
            .find(|(w, _)| w == who)
            .map(|(_, l)| l.clone())
            .unwrap_or_else(|| panic!("no link for {who}"))
    };
    for (who, link) in &links {
        assert!(link.contains(&format!("&by={who}&")), "{link}");
    }

    // Opening a link shows the page and decides nothing.
    let (status, page) = rig.open("GET", &link_of("alice"), "").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Ship it?"), "{page}");
    assert!(rig
        .approval(&name, &id)
        .await
        .expect("there")
        .decisions
        .is_empty());

    let (status, page) = rig
        .open("POST", &link_of("alice"), "decision=Approved")
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Decision recorded"), "{page}");
    let after_alice = rig.approval(&name, &id).await.expect("there");
    assert_eq!(after_alice.status, ApprovalStatus::Pending, "one of two");
    let deciders: Vec<(&str, bool)> = after_alice
        .decisions
        .iter()
        .map(|d| (d.principal.as_str(), d.approved))
        .collect();
    assert_eq!(deciders, [("alice", true)]);
    assert_eq!(
        rig.review(&id).await.summary.as_deref(),
        Some("1 of 2 approvals: alice")
    );

    // alice's link works once.
    let (status, page) = rig
        .open("POST", &link_of("alice"), "decision=Approved")
        .await;
    assert_eq!(status, 410, "{page}");
    // A shared link (no approver in it), though signed with the right key, decides nothing here.
    let expires = link_of("alice")
        .split('&')
        .find_map(|p| p.split_once("expires=").map(|(_, v)| v.to_owned()))
        .and_then(|v| v.parse::<i64>().ok())
        .expect("the link's expiry");
    let shared = format!(
        "{BASE_URL}{}",
        links::path(LINK_KEY, &approval.token, expires)
    );
    let (status, page) = rig.open("POST", &shared, "decision=Approved").await;
    assert_eq!(status, 403, "{page}");
    assert!(
        page.contains("is not one of the approvers") && page.contains("alice, group:leads"),
        "refused for naming no approver, not for its signature: {page}"
    );
    // Nor does a link made out to carol: she started the execution.
    let own = format!(
        "{BASE_URL}{}",
        links::approver_path(LINK_KEY, &approval.token, expires, "carol")
    );
    let (status, page) = rig.open("POST", &own, "decision=Approved").await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("carol started execution"), "{page}");
    let still = rig.approval(&name, &id).await.expect("there");
    assert_eq!(still.status, ApprovalStatus::Pending);
    assert_eq!(still.decisions.len(), 1, "refusals are not recorded");

    // bob, a lead, is the second: approved, and the execution goes on to succeed.
    let (status, page) = rig
        .open("POST", &link_of("bob"), "decision=Approved&summary=lgtm")
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Approved"), "{page}");
    let (_, status) = rig.dispatch(&name, &id, &mut seen, false).await;
    assert_eq!(status, "SUCCEEDED");
    let decided = rig.approval(&name, &id).await.expect("there");
    assert_eq!(decided.status, ApprovalStatus::Approved);
    assert_eq!(decided.decided_by.as_deref(), Some("alice, bob"));
    let summary = rig.review(&id).await.summary.unwrap_or_default();
    assert!(
        summary.starts_with("Approved by alice, bob (2 of 2 approvals)")
            && summary.ends_with("lgtm"),
        "{summary}"
    );
    // dave's link, unused, no longer decides anything.
    let (status, page) = rig
        .open("POST", &link_of("dave"), "decision=Rejected")
        .await;
    assert_eq!(status, 410, "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_check_waiting_schedule_sends_a_due_reminder_once_on_both_topics() {
    let rig = rig("reminders").await;
    let (own_topic, own_queue) = moto::topic_to_queue(&rig.parts.sdk, "release-reviews").await;
    let name = unique("remind");
    // The shortest wait the rules allow with the real clock: a reminder 29 minutes before a 30-minute
    // deadline falls due one minute after the approval starts waiting.
    let config = json!({"Deadline": "30m", "Reminders": "29m", "NotificationArn": own_topic});
    let id = rig.start(&name, config, None).await;
    let mut seen = HashSet::new();
    let (waiting, _) = rig.dispatch(&name, &id, &mut seen, true).await;
    let approval = waiting.expect("the approval waits");
    let due_ms = approval.requested_ms + 60_000;
    assert_eq!(
        approval.deadline_ms,
        Some(approval.requested_ms + 30 * 60_000)
    );
    let first = rig.message(&rig.approvals).await;
    assert_eq!(first["approval"]["token"], approval.token.as_str());
    assert_eq!(
        first["approval"]["expires"],
        notifications::expiry_text((approval.requested_ms + 30 * 60_000) / 1000),
        "the approval expires at its deadline"
    );
    assert_eq!(rig.message(&own_queue).await, first);

    assert_eq!(rig.check_waiting().await, 0, "not due yet");
    let started = Instant::now();
    let sent = loop {
        let sent = rig.check_waiting().await;
        if sent > 0 {
            break sent;
        }
        assert!(
            started.elapsed() < Duration::from_secs(100),
            "no reminder sent by {} (due at {due_ms})",
            now_ms()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    assert_eq!(sent, 1);
    assert!(now_ms() >= due_ms, "sent before it fell due");
    assert_eq!(rig.check_waiting().await, 0, "a reminder is sent once");

    // The reminder announces the approval again, as it was first announced, on both topics, saying it is
    // one and how long before the deadline.
    let reminder = rig.message(&rig.approvals).await;
    assert_eq!(
        reminder["approval"]["reminder"]["minutesBeforeDeadline"], 29,
        "{reminder}"
    );
    let mut as_first = reminder.clone();
    if let Some(inner) = as_first["approval"].as_object_mut() {
        inner.remove("reminder");
    }
    assert_eq!(as_first, first);
    assert_eq!(rig.message(&own_queue).await, reminder);
    let nothing_more = moto::receive(&rig.sqs, &rig.approvals, 1).await;
    assert!(nothing_more.is_empty(), "{nothing_more:?}");

    // Its shared link still decides (no approvers are named).
    let link = reminder["approval"]["approvalReviewLink"]
        .as_str()
        .expect("a link");
    let (status, page) = rig.open("POST", link, "decision=Approved").await;
    assert_eq!(status, 200, "{page}");
    let (_, status) = rig.dispatch(&name, &id, &mut seen, false).await;
    assert_eq!(status, "SUCCEEDED");
}

/// A signed call to the api function (`sluice_functions::api::answer`): the status and the JSON answer.
async fn call(
    api: &sluice_functions::api::Api,
    key: &(String, String),
    target: &str,
    body: Value,
) -> (u16, Value) {
    let event = lambda::signed_api_call(target, &body.to_string(), (&key.0, &key.1), now_s());
    let req: LambdaFunctionUrlRequest = serde_json::from_value(event).expect("request");
    let reply = api.answer(&req, now_s()).await;
    (
        reply.status,
        serde_json::from_str(&reply.body).expect("JSON answer"),
    )
}

const ACCESS: &str = "SluiceAccess_20261206.";

/// An audit entry as compared: operation, principal, key id, the principal it named, outcome.
type Logged = (String, String, Option<String>, Option<String>, String);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_api_function_records_access_operations_with_the_exact_key_that_signed() {
    let rig = rig("accessaudit").await;
    // The template's ApiKeysSecret: one admin pair.
    let admin = (unique("AKADMIN"), unique("admin-secret"));
    let admin_arn = aws_sdk_secretsmanager::Client::new(&rig.parts.sdk)
        .create_secret()
        .name(unique("api-keys"))
        .secret_string(json!({"accessKeyId": admin.0, "secretAccessKey": admin.1}).to_string())
        .send()
        .await
        .expect("admin secret")
        .arn()
        .expect("arn")
        .to_owned();
    let api = sluice_functions::api::with_access(
        rig.runtime.clone(),
        rig.people.clone(),
        &admin_arn,
        Duration::from_secs(3600),
    );
    let since_ms = now_ms();

    // olive, an admin with two key pairs, signs with the second.
    let (status, put) = call(
        &api,
        &admin,
        &format!("{ACCESS}PutPrincipal"),
        json!({"name": "olive", "roles": [{"pattern": "*", "role": "admin"}]}),
    )
    .await;
    assert_eq!(status, 200, "{put}");
    let mut olive = Vec::new();
    for _ in 0..2 {
        let (status, made) = call(
            &api,
            &admin,
            &format!("{ACCESS}CreateAccessKey"),
            json!({"principalName": "olive"}),
        )
        .await;
        assert_eq!(status, 200, "{made}");
        let key = &made["accessKey"];
        olive.push((
            key["accessKeyId"].as_str().expect("id").to_owned(),
            key["secretAccessKey"].as_str().expect("secret").to_owned(),
        ));
    }
    let (status, put) = call(
        &api,
        &olive[1],
        &format!("{ACCESS}PutPrincipal"),
        json!({"name": "pat", "roles": [{"pattern": "web-*", "role": "viewer"}], "groups": ["qa"]}),
    )
    .await;
    assert_eq!(status, 200, "{put}");
    let (status, listed) = call(
        &api,
        &olive[1],
        &format!("{ACCESS}ListPrincipals"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{listed}");

    let page = rig
        .runtime
        .audit_page(
            &AuditQuery {
                since_ms: Some(since_ms),
                limit: 50,
                ..Default::default()
            },
            &|_| true,
        )
        .await
        .expect("the audit log");
    let seen: Vec<Logged> = page
        .entries
        .iter()
        .map(|e| {
            (
                e.operation.clone(),
                e.principal.clone(),
                e.key_id.clone(),
                e.details
                    .get("principalName")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                e.outcome_text(),
            )
        })
        .collect();
    let admin_call = |operation: &str, whom: &str| {
        (
            operation.to_owned(),
            admin.0.clone(),
            Some(admin.0.clone()),
            Some(whom.to_owned()),
            "ok".to_owned(),
        )
    };
    assert_eq!(
        seen,
        [
            (
                "PutPrincipal".to_owned(),
                "olive".to_owned(),
                Some(olive[1].0.clone()),
                Some("pat".to_owned()),
                "ok".to_owned()
            ),
            admin_call("CreateAccessKey", "olive"),
            admin_call("CreateAccessKey", "olive"),
            admin_call("PutPrincipal", "olive"),
        ],
        "newest first; the read (ListPrincipals) is not recorded"
    );
    let text = format!("{:?}", page.entries);
    for (_, secret) in &olive {
        assert!(
            !text.contains(secret.as_str()),
            "a secret in the log: {text}"
        );
    }
}
