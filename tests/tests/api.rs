//! CodePipeline's API (`sluice_web::codepipeline::handle`) in process, over the real embedded adapters and
//! the engine driving runs: every request is the JSON the aws CLI sends, and every successful response is
//! checked against the member names and kinds of botocore's output shapes
//! (`tests/fixtures/api/codepipeline-output-shapes.json`), so the SDKs read what Sluice writes.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{json, Value};
use sluice_definition::{Document, Syntax};
use sluice_runtime::Runtime;
use sluice_web::codepipeline::{handle, ApiResponse};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use sluice_tests::embedded::{wire, TestEnv};

/// A runtime and a driving engine over a temporary folder, and the API in front of them.
struct Service {
    dir: tempfile::TempDir,
    env: Arc<TestEnv>,
    runtime: Arc<Runtime>,
    stop: Arc<Notify>,
    driving: Option<JoinHandle<()>>,
}

impl Service {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp");
        let env = TestEnv::at(1_800_000_000_000);
        let (runtime, engine) = wire(dir.path(), env.clone());
        let stop = Arc::new(Notify::new());
        let driving = Some(tokio::spawn(engine.run(Arc::clone(&stop))));
        Self {
            dir,
            env,
            runtime,
            stop,
            driving,
        }
    }

    fn path(&self, rel: &str) -> String {
        self.dir.path().join(rel).display().to_string()
    }

    /// Sends one request as the CLI would: the operation's target and a JSON body.
    async fn call(&self, operation: &str, body: Value) -> ApiResponse {
        self.raw(
            &format!("CodePipeline_20150709.{operation}"),
            body.to_string().as_bytes(),
        )
        .await
    }

    async fn raw(&self, target: &str, body: &[u8]) -> ApiResponse {
        handle(&self.runtime, target, body).await
    }

    /// A request that must succeed; its response is checked against the operation's output shape.
    async fn ok(&self, operation: &str, body: Value) -> Value {
        let r = self.call(operation, body).await;
        assert_eq!(r.status, 200, "{operation}: {}", r.body);
        assert_matches_model(operation, &r.body);
        r.body
    }

    /// A request that must fail with `kind`; returns the message.
    async fn fails(&self, operation: &str, body: Value, kind: &str) -> String {
        let r = self.call(operation, body).await;
        assert_eq!(r.status, 400, "{operation}: {}", r.body);
        assert_eq!(r.body["__type"], kind, "{operation}: {}", r.body);
        r.body["message"].as_str().expect("message").to_owned()
    }

    /// Asks `operation` until `ready` holds for its answer.
    async fn until(
        &self,
        what: &str,
        operation: &str,
        body: Value,
        ready: impl Fn(&Value) -> bool,
    ) -> Value {
        for _ in 0..1200 {
            let answer = self.ok(operation, body.clone()).await;
            if ready(&answer) {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("timed out waiting for {what}");
    }

    async fn finished(&self, pipeline: &str, id: &str) -> Value {
        let answer = self
            .until(
                "the execution to end",
                "GetPipelineExecution",
                json!({"pipelineName": pipeline, "pipelineExecutionId": id}),
                |v| {
                    !matches!(
                        v["pipelineExecution"]["status"].as_str(),
                        Some("InProgress" | "Stopping")
                    )
                },
            )
            .await;
        answer["pipelineExecution"].clone()
    }

    async fn shut_down(mut self) {
        self.stop.notify_one();
        if let Some(d) = self.driving.take() {
            d.await.expect("engine stops");
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// examples/release as CreatePipeline's `pipeline` member, its app folder copied into the service's folder
/// (the API has no definition file, so the source's Path is absolute).
fn release(service: &Service) -> Value {
    let example = sluice_tests::workspace().join("examples/release");
    copy_dir(&example.join("app"), &service.dir.path().join("app"));
    let text = std::fs::read_to_string(example.join("pipeline.yaml")).expect("example");
    let mut pipeline = Document::parse(&text, Syntax::Yaml)
        .expect("example reads")
        .to_value();
    pipeline["stages"][0]["actions"][0]["configuration"]["Path"] = json!(service.path("app"));
    pipeline
}

/// A four-stage pipeline of quick actions: Source -> Gate -> Approval (Review) -> Final. The Gate's command
/// succeeds once `marker` exists.
fn gated(service: &Service, name: &str, marker: Option<&str>) -> Value {
    std::fs::create_dir_all(service.dir.path().join("src")).expect("src");
    std::fs::write(service.dir.path().join("src/a.txt"), "a").expect("file");
    let check = match marker {
        Some(m) => format!("test -f {}", service.path(m)),
        None => "true".to_owned(),
    };
    json!({
        "name": name,
        "pipelineType": "V2",
        "executionMode": "PARALLEL",
        "variables": [{"name": "Target", "defaultValue": "staging"}],
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Checkout",
                "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "LocalSource", "version": "1"},
                "configuration": {"Path": service.path("src")},
                "outputArtifacts": [{"name": "Src"}]
            }]},
            {"name": "Gate", "actions": [{
                "name": "Check",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": [check],
                "inputArtifacts": [{"name": "Src"}]
            }]},
            {"name": "Approval", "actions": [{
                "name": "Review",
                "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
                "configuration": {"ExternalEntityLink": "https://example.com/review"}
            }]},
            {"name": "Final", "actions": [{
                "name": "Done",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": ["echo #{variables.Target}"],
                "inputArtifacts": [{"name": "Src"}]
            }]}
        ]
    })
}

fn stage<'a>(state: &'a Value, name: &str) -> &'a Value {
    state["stageStates"]
        .as_array()
        .expect("stage states")
        .iter()
        .find(|s| s["stageName"] == name)
        .unwrap_or_else(|| panic!("no stage {name} in {state}"))
}

fn approval_token(state: &Value, stage_name: &str) -> Option<String> {
    stage(state, stage_name)["actionStates"][0]["latestExecution"]["token"]
        .as_str()
        .map(str::to_owned)
}

// ------------------------------------------------------------------------------ the service model's shapes

fn model() -> &'static Value {
    static MODEL: OnceLock<Value> = OnceLock::new();
    MODEL.get_or_init(|| {
        let text =
            std::fs::read_to_string(sluice_tests::fixture("api/codepipeline-output-shapes.json"))
                .expect("fixture");
        serde_json::from_str(&text).expect("fixture is JSON")
    })
}

/// Checks a response against its operation's output shape: every member is one the model names, with the
/// kind the model gives it (timestamps are numbers), all the way down.
fn assert_matches_model(operation: &str, body: &Value) {
    let problems = model_problems(operation, body);
    assert!(problems.is_empty(), "{operation}: {problems:#?}\n{body:#}");
}

fn model_problems(operation: &str, body: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    match &model()["operations"][operation] {
        Value::String(shape) => check_kind(body, shape, operation, &mut problems),
        // No output shape: the body is an empty object.
        Value::Null => {
            if body != &json!({}) {
                problems.push(format!("{operation}: expected an empty object"));
            }
        }
        other => panic!("operation {operation} is not in the fixture: {other}"),
    }
    problems
}

fn check_kind(value: &Value, kind: &str, path: &str, problems: &mut Vec<String>) {
    let ok = match kind {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "boolean" => value.is_boolean(),
        "timestamp" => value.is_number(),
        _ => {
            if let Some(item) = kind.strip_prefix("list:") {
                let Some(items) = value.as_array() else {
                    problems.push(format!("{path}: expected a list, found {value}"));
                    return;
                };
                for (i, v) in items.iter().enumerate() {
                    check_kind(v, item, &format!("{path}[{i}]"), problems);
                }
                return;
            }
            let Some(map) = value.as_object() else {
                problems.push(format!(
                    "{path}: expected an object ({kind}), found {value}"
                ));
                return;
            };
            if let Some(item) = kind.strip_prefix("map:") {
                for (k, v) in map {
                    check_kind(v, item, &format!("{path}.{k}"), problems);
                }
                return;
            }
            let members = model()["shapes"][kind]
                .as_object()
                .unwrap_or_else(|| panic!("shape {kind} is not in the fixture"));
            for (k, v) in map {
                match members.get(k).and_then(Value::as_str) {
                    Some(member_kind) => {
                        check_kind(v, member_kind, &format!("{path}.{k}"), problems)
                    }
                    None => problems.push(format!("{path}.{k}: {kind} has no member {k}")),
                }
            }
            return;
        }
    };
    if !ok {
        problems.push(format!("{path}: expected {kind}, found {value}"));
    }
}

// -------------------------------------------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_runs_from_create_pipeline_through_its_approval_to_the_end() {
    let service = Service::start();
    let pipeline = release(&service);
    let created = service
        .ok(
            "CreatePipeline",
            json!({"pipeline": pipeline, "tags": [{"key": "team", "value": "web"}]}),
        )
        .await;
    assert_eq!(created["pipeline"]["version"], 1);
    assert_eq!(created["tags"], json!([{"key": "team", "value": "web"}]));

    let started = service
        .ok(
            "StartPipelineExecution",
            json!({"name": "release", "variables": [{"name": "Greeting", "value": "bonjour"}]}),
        )
        .await;
    let id = started["pipelineExecutionId"]
        .as_str()
        .expect("id")
        .to_owned();

    // The approval's token appears in GetPipelineState, as the console and `aws codepipeline` find it.
    let state = service
        .until(
            "the approval",
            "GetPipelineState",
            json!({"name": "release"}),
            |s| approval_token(s, "Approval").is_some(),
        )
        .await;
    let token = approval_token(&state, "Approval").expect("token");
    assert_eq!(state["pipelineVersion"], 1);
    assert_eq!(
        stage(&state, "Build")["latestExecution"]["status"],
        "Succeeded"
    );
    assert_eq!(
        stage(&state, "Build")["latestExecution"]["pipelineExecutionId"],
        id
    );
    assert_eq!(
        stage(&state, "Approval")["latestExecution"]["status"],
        "InProgress"
    );
    let review = &stage(&state, "Approval")["actionStates"][0];
    assert_eq!(review["latestExecution"]["status"], "InProgress");
    assert_eq!(review["entityUrl"], "https://example.com/release-notes");
    assert!(
        stage(&state, "Source")["actionStates"][0]["currentRevision"]["revisionId"].is_string()
    );
    assert_eq!(
        stage(&state, "Deploy")["inboundTransitionState"]["enabled"],
        true
    );
    assert!(stage(&state, "Deploy")["latestExecution"].is_null());

    let running = service
        .ok(
            "GetPipelineExecution",
            json!({"pipelineName": "release", "pipelineExecutionId": id}),
        )
        .await;
    assert_eq!(running["pipelineExecution"]["status"], "InProgress");

    // A token of the right shape that is not this approval's.
    service
        .fails(
            "PutApprovalResult",
            json!({"pipelineName": "release", "stageName": "Approval", "actionName": "Review",
                   "result": {"summary": "ok", "status": "Approved"}, "token": "not-the-token"}),
            "InvalidApprovalTokenException",
        )
        .await;
    let approved = service
        .ok(
            "PutApprovalResult",
            json!({"pipelineName": "release", "stageName": "Approval", "actionName": "Review",
                   "result": {"summary": "ship it", "status": "Approved"}, "token": token}),
        )
        .await;
    assert!(approved["approvedAt"].as_f64().expect("approvedAt") > 1_700_000_000.0);
    service
        .fails(
            "PutApprovalResult",
            json!({"pipelineName": "release", "stageName": "Approval", "actionName": "Review",
                   "result": {"summary": "again", "status": "Rejected"}, "token": token}),
            "ApprovalAlreadyCompletedException",
        )
        .await;

    let done = service.finished("release", &id).await;
    assert_eq!(done["status"], "Succeeded", "{done}");
    assert_eq!(done["pipelineVersion"], 1);
    assert_eq!(done["executionMode"], "QUEUED");
    assert_eq!(done["trigger"]["triggerType"], "StartPipelineExecution");
    assert_eq!(
        done["variables"],
        json!([{"name": "Greeting", "resolvedValue": "bonjour"}])
    );
    assert_eq!(done["artifactRevisions"][0]["name"], "Src");

    // Every action, with what it read and produced.
    let listed = service
        .ok(
            "ListActionExecutions",
            json!({"pipelineName": "release", "filter": {"pipelineExecutionId": id}}),
        )
        .await;
    let details = listed["actionExecutionDetails"]
        .as_array()
        .expect("details");
    let mut names: Vec<String> = details
        .iter()
        .map(|d| {
            format!(
                "{}.{}",
                d["stageName"].as_str().expect("stage"),
                d["actionName"].as_str().expect("action")
            )
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "Approval.Review",
            "Build.Lint",
            "Build.Package",
            "Build.UnitTests",
            "Deploy.Publish",
            "Source.Checkout"
        ]
    );
    assert!(
        details.iter().all(|d| d["status"] == "Succeeded"),
        "{listed:#}"
    );
    assert!(listed.get("nextToken").is_none());
    let package = details
        .iter()
        .find(|d| d["actionName"] == "Package")
        .expect("package");
    assert_eq!(package["input"]["actionTypeId"]["provider"], "CodeBuild");
    assert!(package["input"]["configuration"]["EnvironmentVariables"]
        .as_str()
        .expect("declared")
        .contains("#{variables.Greeting}"));
    assert!(
        package["input"]["resolvedConfiguration"]["EnvironmentVariables"]
            .as_str()
            .expect("resolved")
            .contains("bonjour")
    );
    assert_eq!(package["input"]["namespace"], "BuildVariables");
    assert_eq!(package["input"]["inputArtifacts"][0]["name"], "Src");
    assert_eq!(
        package["input"]["inputArtifacts"][0]["s3location"]["bucket"],
        "sluice-artifacts"
    );
    assert_eq!(package["output"]["outputArtifacts"][0]["name"], "Site");
    assert!(package["output"]["outputVariables"]["SiteVersion"].is_string());
    assert_eq!(
        std::fs::read_to_string(
            service
                .dir
                .path()
                .join("objects/buckets/release-site/index.html")
        )
        .map(|t| t.contains("bonjour"))
        .ok(),
        Some(true)
    );

    // The same, a page of two at a time, without a filter.
    let mut seen = 0;
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let mut body = json!({"pipelineName": "release", "maxResults": 2});
        if let Some(t) = &token {
            body["nextToken"] = json!(t);
        }
        let page = service.ok("ListActionExecutions", body).await;
        let n = page["actionExecutionDetails"]
            .as_array()
            .expect("page")
            .len();
        assert!(n <= 2);
        seen += n;
        token = page["nextToken"].as_str().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, 6);

    let executions = service
        .ok("ListPipelineExecutions", json!({"pipelineName": "release"}))
        .await;
    let summary = &executions["pipelineExecutionSummaries"][0];
    assert_eq!(summary["pipelineExecutionId"], id);
    assert_eq!(summary["status"], "Succeeded");
    assert_eq!(summary["sourceRevisions"][0]["actionName"], "Checkout");
    assert!(
        summary["startTime"].as_f64().expect("start")
            <= summary["lastUpdateTime"].as_f64().expect("update")
    );
    let in_deploy = service
        .ok(
            "ListPipelineExecutions",
            json!({"pipelineName": "release", "filter": {"succeededInStage": {"stageName": "Deploy"}}}),
        )
        .await;
    assert_eq!(
        in_deploy["pipelineExecutionSummaries"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    let state = service
        .ok("GetPipelineState", json!({"name": "release"}))
        .await;
    for s in state["stageStates"].as_array().expect("stages") {
        assert_eq!(s["latestExecution"]["status"], "Succeeded", "{s}");
    }
    assert!(approval_token(&state, "Approval").is_none());
    service.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_client_request_token_starts_one_execution() {
    let service = Service::start();
    service
        .ok(
            "CreatePipeline",
            json!({"pipeline": gated(&service, "gated", None)}),
        )
        .await;
    let start = json!({"name": "gated", "clientRequestToken": "a1b2-c3d4"});
    let first = service.ok("StartPipelineExecution", start.clone()).await;
    let again = service.ok("StartPipelineExecution", start).await;
    assert_eq!(first, again);
    let other = service
        .ok(
            "StartPipelineExecution",
            json!({"name": "gated", "clientRequestToken": "e5f6"}),
        )
        .await;
    assert_ne!(first, other);
    let listed = service
        .ok("ListPipelineExecutions", json!({"pipelineName": "gated"}))
        .await;
    assert_eq!(
        listed["pipelineExecutionSummaries"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    // Pages of one, newest first.
    let page = service
        .ok(
            "ListPipelineExecutions",
            json!({"pipelineName": "gated", "maxResults": 1}),
        )
        .await;
    assert_eq!(
        page["pipelineExecutionSummaries"][0]["pipelineExecutionId"],
        other["pipelineExecutionId"]
    );
    let next = page["nextToken"].as_str().expect("more");
    let page = service
        .ok(
            "ListPipelineExecutions",
            json!({"pipelineName": "gated", "maxResults": 1, "nextToken": next}),
        )
        .await;
    assert_eq!(
        page["pipelineExecutionSummaries"][0]["pipelineExecutionId"],
        first["pipelineExecutionId"]
    );
    assert!(page.get("nextToken").is_none());

    service
        .fails(
            "StartPipelineExecution",
            json!({"name": "gated", "variables": [{"name": "Nope", "value": "x"}]}),
            "ValidationException",
        )
        .await;
    service
        .fails(
            "StartPipelineExecution",
            json!({"name": "missing"}),
            "PipelineNotFoundException",
        )
        .await;
    // Running executions keep the pipeline.
    service
        .fails(
            "DeletePipeline",
            json!({"name": "gated"}),
            "ConflictException",
        )
        .await;
    service.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelines_are_created_read_updated_listed_and_deleted() {
    let service = Service::start();
    for name in ["alpha", "bravo", "charlie"] {
        service
            .ok(
                "CreatePipeline",
                json!({"pipeline": gated(&service, name, None)}),
            )
            .await;
    }
    let message = service
        .fails(
            "CreatePipeline",
            json!({"pipeline": gated(&service, "bravo", None)}),
            "PipelineNameInUseException",
        )
        .await;
    assert!(message.contains("bravo"), "{message}");

    let got = service.ok("GetPipeline", json!({"name": "bravo"})).await;
    assert_eq!(got["pipeline"]["name"], "bravo");
    assert_eq!(got["pipeline"]["version"], 1);
    assert_eq!(
        got["metadata"]["pipelineArn"],
        "arn:aws:codepipeline:local:000000000000:bravo"
    );
    assert_eq!(got["metadata"]["created"], json!(1_800_000_000.0));
    // The ARN the aws CLI builds with its own region names the same pipeline; another account's does not.
    service
        .ok(
            "TagResource",
            json!({"resourceArn": "arn:aws:codepipeline:us-east-1:000000000000:bravo", "tags": [{"key": "team", "value": "b"}]}),
        )
        .await;
    service
        .fails(
            "TagResource",
            json!({"resourceArn": "arn:aws:codepipeline:us-east-1:111122223333:bravo", "tags": [{"key": "team", "value": "b"}]}),
            "InvalidArnException",
        )
        .await;

    // get-pipeline's output, edited, is update-pipeline's input.
    service.env.now.fetch_add(60_000, Ordering::SeqCst);
    let mut edited = got["pipeline"].clone();
    edited["stages"][3]["actions"][0]["commands"] = json!(["echo changed"]);
    let updated = service
        .ok("UpdatePipeline", json!({"pipeline": edited}))
        .await;
    assert_eq!(updated["pipeline"]["version"], 2);
    let got = service.ok("GetPipeline", json!({"name": "bravo"})).await;
    assert_eq!(got["pipeline"]["version"], 2);
    assert_eq!(got["metadata"]["updated"], json!(1_800_000_060.0));
    // Updated again unchanged: still a new version, as in CodePipeline; a stale copy is refused.
    let same = service
        .ok("UpdatePipeline", json!({"pipeline": got["pipeline"]}))
        .await;
    assert_eq!(same["pipeline"]["version"], 3);
    let message = service
        .fails(
            "UpdatePipeline",
            json!({"pipeline": got["pipeline"]}),
            "InvalidStructureException",
        )
        .await;
    assert!(
        message.contains("pipeline.version: 2 is not the version in force (3)"),
        "{message}"
    );
    let v1 = service
        .ok("GetPipeline", json!({"name": "bravo", "version": 1}))
        .await;
    assert_eq!(
        v1["pipeline"]["stages"][3]["actions"][0]["commands"],
        json!(["echo #{variables.Target}"])
    );
    service
        .fails(
            "GetPipeline",
            json!({"name": "bravo", "version": 4}),
            "PipelineVersionNotFoundException",
        )
        .await;
    service
        .fails(
            "GetPipeline",
            json!({"name": "zulu"}),
            "PipelineNotFoundException",
        )
        .await;
    service
        .fails(
            "UpdatePipeline",
            json!({"pipeline": gated(&service, "zulu", None)}),
            "PipelineNotFoundException",
        )
        .await;

    let page = service.ok("ListPipelines", json!({"maxResults": 2})).await;
    let names: Vec<&str> = page["pipelines"]
        .as_array()
        .expect("pipelines")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["alpha", "bravo"]);
    assert_eq!(page["pipelines"][1]["version"], 3);
    assert_eq!(page["pipelines"][1]["pipelineType"], "V2");
    assert_eq!(page["pipelines"][1]["executionMode"], "PARALLEL");
    let rest = service
        .ok(
            "ListPipelines",
            json!({"maxResults": 2, "nextToken": page["nextToken"]}),
        )
        .await;
    assert_eq!(rest["pipelines"][0]["name"], "charlie");
    assert!(rest.get("nextToken").is_none());
    service
        .fails(
            "ListPipelines",
            json!({"nextToken": "not-a-token"}),
            "InvalidNextTokenException",
        )
        .await;

    service.ok("DeletePipeline", json!({"name": "bravo"})).await;
    service
        .fails(
            "GetPipeline",
            json!({"name": "bravo"}),
            "PipelineNotFoundException",
        )
        .await;
    let all = service.ok("ListPipelines", json!({})).await;
    assert_eq!(all["pipelines"].as_array().map(Vec::len), Some(2));
    // The name is free again.
    service
        .ok(
            "CreatePipeline",
            json!({"pipeline": gated(&service, "bravo", None)}),
        )
        .await;
    service.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_definitions_name_every_problem_with_its_path() {
    let service = Service::start();
    let mut pipeline = gated(&service, "broken", None);
    pipeline["stages"][1]["actions"][0]["inputArtifacts"] = json!([{"name": "Nowhere"}]);
    pipeline["stages"][3]["actions"][0]["commands"] = json!(["echo #{Missing.Value}"]);
    let message = service
        .fails(
            "CreatePipeline",
            json!({"pipeline": pipeline}),
            "InvalidStructureException",
        )
        .await;
    let lines: Vec<&str> = message.lines().collect();
    assert!(lines.len() >= 2, "{message}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("stages[1].actions[0].inputArtifacts[0]")),
        "{message}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("stages[3].actions[0]")),
        "{message}"
    );
    // Shape problems are the request's: ValidationException, named by their path in the request.
    let mut pipeline = gated(&service, "broken", None);
    pipeline["stages"][0]["actions"][0]["runOrder"] = json!("first");
    let message = service
        .fails(
            "CreatePipeline",
            json!({"pipeline": pipeline}),
            "ValidationException",
        )
        .await;
    assert!(
        message.contains("'pipeline.stages[0].actions[0].runOrder'"),
        "{message}"
    );
    service
        .fails(
            "GetPipeline",
            json!({"name": "broken"}),
            "PipelineNotFoundException",
        )
        .await;
    service.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_validation_errors_naming_the_member() {
    let service = Service::start();
    let r = service
        .raw("CodePipeline_20150709.GetPipeline", b"{\"name\": ")
        .await;
    assert_eq!(
        (r.status, r.body["__type"].as_str()),
        (400, Some("ValidationException"))
    );
    let message = service
        .fails("GetPipelineState", json!({}), "ValidationException")
        .await;
    assert_eq!(
        message,
        "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null"
    );
    let message = service
        .fails(
            "StopPipelineExecution",
            json!({"pipelineName": "p", "pipelineExecutionId": "x", "abandon": "yes", "force": true}),
            "ValidationException",
        )
        .await;
    assert!(
        message.starts_with("2 validation errors detected"),
        "{message}"
    );
    assert!(
        message.contains("'abandon'") && message.contains("'force'"),
        "{message}"
    );
    let message = service
        .fails(
            "PutApprovalResult",
            json!({"pipelineName": "p", "stageName": "s", "actionName": "a",
                   "result": {"summary": "x", "status": "Maybe"}, "token": "t"}),
            "ValidationException",
        )
        .await;
    assert!(message.contains("'result.status'"), "{message}");
    let message = service
        .fails(
            "ListPipelines",
            json!({"maxResults": 0}),
            "ValidationException",
        )
        .await;
    assert!(message.contains("'maxResults'"), "{message}");
    let message = service
        .fails(
            "GetPipeline",
            json!({"name": "bad name"}),
            "ValidationException",
        )
        .await;
    assert!(message.contains("'name'"), "{message}");

    let r = service
        .raw("CodePipeline_20150709.LaunchRocket", b"{}")
        .await;
    assert_eq!(
        (r.status, r.body["__type"].as_str()),
        (400, Some("UnknownOperationException"))
    );
    let r = service.raw("CodeBuild_20161006.GetPipeline", b"{}").await;
    assert_eq!(r.body["__type"], "UnknownOperationException");
    // An operation without members reads an empty body as `{}`.
    let r = service
        .raw("CodePipeline_20150709.ListPipelines", b"")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    service.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transitions_hold_executions_and_stopping_abandons_the_approval() {
    let service = Service::start();
    service
        .ok(
            "CreatePipeline",
            json!({"pipeline": gated(&service, "held", None)}),
        )
        .await;
    // Outbound of Source is the transition into Gate.
    service
        .ok(
            "DisableStageTransition",
            json!({"pipelineName": "held", "stageName": "Source", "transitionType": "Outbound", "reason": "code freeze"}),
        )
        .await;
    service
        .fails(
            "DisableStageTransition",
            json!({"pipelineName": "held", "stageName": "Final", "transitionType": "Outbound", "reason": "x"}),
            "ValidationException",
        )
        .await;
    service
        .fails(
            "EnableStageTransition",
            json!({"pipelineName": "held", "stageName": "Nowhere", "transitionType": "Inbound"}),
            "StageNotFoundException",
        )
        .await;
    service
        .fails(
            "EnableStageTransition",
            json!({"pipelineName": "other", "stageName": "Gate", "transitionType": "Inbound"}),
            "PipelineNotFoundException",
        )
        .await;
    let state = service
        .ok("GetPipelineState", json!({"name": "held"}))
        .await;
    let gate = &stage(&state, "Gate")["inboundTransitionState"];
    assert_eq!(gate["enabled"], false);
    assert_eq!(gate["disabledReason"], "code freeze");
    assert!(gate["lastChangedAt"].is_number());

    let id = service
        .ok("StartPipelineExecution", json!({"name": "held"}))
        .await["pipelineExecutionId"]
        .as_str()
        .expect("id")
        .to_owned();
    service
        .until(
            "the source",
            "GetPipelineState",
            json!({"name": "held"}),
            |s| stage(s, "Source")["latestExecution"]["status"] == "Succeeded",
        )
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let state = service
        .ok("GetPipelineState", json!({"name": "held"}))
        .await;
    assert!(
        stage(&state, "Gate")["latestExecution"].is_null(),
        "{state:#}"
    );

    service
        .ok(
            "EnableStageTransition",
            json!({"pipelineName": "held", "stageName": "Gate", "transitionType": "Inbound"}),
        )
        .await;
    let state = service
        .until(
            "the approval",
            "GetPipelineState",
            json!({"name": "held"}),
            |s| approval_token(s, "Approval").is_some(),
        )
        .await;
    assert_eq!(
        stage(&state, "Gate")["inboundTransitionState"]["enabled"],
        true
    );
    let token = approval_token(&state, "Approval").expect("token");

    service
        .fails(
            "PutApprovalResult",
            json!({"pipelineName": "held", "stageName": "Approval", "actionName": "Nobody",
                   "result": {"summary": "", "status": "Approved"}, "token": token}),
            "ActionNotFoundException",
        )
        .await;
    service
        .fails(
            "PutApprovalResult",
            json!({"pipelineName": "held", "stageName": "Nowhere", "actionName": "Review",
                   "result": {"summary": "", "status": "Approved"}, "token": token}),
            "StageNotFoundException",
        )
        .await;
    service
        .fails(
            "StopPipelineExecution",
            json!({"pipelineName": "held", "pipelineExecutionId": "id-99999999"}),
            "PipelineExecutionNotFoundException",
        )
        .await;
    let stopped = service
        .ok(
            "StopPipelineExecution",
            json!({"pipelineName": "held", "pipelineExecutionId": id, "abandon": true, "reason": "not today"}),
        )
        .await;
    assert_eq!(stopped["pipelineExecutionId"], id);
    let done = service.finished("held", &id).await;
    assert_eq!(done["status"], "Stopped", "{done}");
    service
        .fails(
            "StopPipelineExecution",
            json!({"pipelineName": "held", "pipelineExecutionId": id}),
            "PipelineExecutionNotStoppableException",
        )
        .await;
    // The abandoned approval's token answers nothing any more.
    service
        .fails(
            "PutApprovalResult",
            json!({"pipelineName": "held", "stageName": "Approval", "actionName": "Review",
                   "result": {"summary": "late", "status": "Approved"}, "token": token}),
            "InvalidApprovalTokenException",
        )
        .await;
    let listed = service
        .ok("ListPipelineExecutions", json!({"pipelineName": "held"}))
        .await;
    assert_eq!(
        listed["pipelineExecutionSummaries"][0]["stopTrigger"]["reason"],
        "not today"
    );
    let actions = service
        .ok(
            "ListActionExecutions",
            json!({"pipelineName": "held", "filter": {"pipelineExecutionId": id}}),
        )
        .await;
    let review = actions["actionExecutionDetails"]
        .as_array()
        .expect("details")
        .iter()
        .find(|d| d["actionName"] == "Review")
        .expect("review");
    assert_eq!(review["status"], "Abandoned");
    // Ended: the pipeline may go.
    service.ok("DeletePipeline", json!({"name": "held"})).await;
    service.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_stage_is_retried_and_only_a_failed_stage_can_be() {
    let service = Service::start();
    service
        .ok(
            "CreatePipeline",
            json!({"pipeline": gated(&service, "flaky", Some("marker"))}),
        )
        .await;
    let id = service
        .ok("StartPipelineExecution", json!({"name": "flaky"}))
        .await["pipelineExecutionId"]
        .as_str()
        .expect("id")
        .to_owned();
    let failed = service.finished("flaky", &id).await;
    assert_eq!(failed["status"], "Failed", "{failed}");
    assert!(failed["statusSummary"]
        .as_str()
        .expect("summary")
        .contains("Gate"));
    let state = service
        .ok("GetPipelineState", json!({"name": "flaky"}))
        .await;
    let check = &stage(&state, "Gate")["actionStates"][0]["latestExecution"];
    assert_eq!(check["status"], "Failed");
    assert_eq!(check["errorDetails"]["code"], "JobFailed");

    let retry = |stage_name: &str, mode: &str| json!({"pipelineName": "flaky", "stageName": stage_name, "pipelineExecutionId": id, "retryMode": mode});
    service
        .fails(
            "RetryStageExecution",
            retry("Source", "FAILED_ACTIONS"),
            "StageNotRetryableException",
        )
        .await;
    service
        .fails(
            "RetryStageExecution",
            retry("Final", "FAILED_ACTIONS"),
            "StageNotRetryableException",
        )
        .await;
    service
        .fails(
            "RetryStageExecution",
            retry("Nowhere", "FAILED_ACTIONS"),
            "StageNotFoundException",
        )
        .await;
    service
        .fails(
            "RetryStageExecution",
            retry("Gate", "SOME_ACTIONS"),
            "ValidationException",
        )
        .await;

    std::fs::write(service.dir.path().join("marker"), "").expect("marker");
    let retried = service
        .ok("RetryStageExecution", retry("Gate", "FAILED_ACTIONS"))
        .await;
    assert_eq!(retried["pipelineExecutionId"], id);
    // It runs again, up to the approval: a stage in progress is not retryable.
    let state = service
        .until(
            "the approval",
            "GetPipelineState",
            json!({"name": "flaky"}),
            |s| approval_token(s, "Approval").is_some(),
        )
        .await;
    service
        .fails(
            "RetryStageExecution",
            retry("Gate", "ALL_ACTIONS"),
            "StageNotRetryableException",
        )
        .await;
    service
        .ok(
            "PutApprovalResult",
            json!({"pipelineName": "flaky", "stageName": "Approval", "actionName": "Review",
                   "result": {"summary": "no", "status": "Rejected"},
                   "token": approval_token(&state, "Approval")}),
        )
        .await;
    let rejected = service.finished("flaky", &id).await;
    assert_eq!(rejected["status"], "Failed");
    let actions = service
        .ok(
            "ListActionExecutions",
            json!({"pipelineName": "flaky",
                   "filter": {"latestInPipelineExecution": {"pipelineExecutionId": id, "startTimeRange": "All"}}}),
        )
        .await;
    let checks = actions["actionExecutionDetails"]
        .as_array()
        .expect("details")
        .iter()
        .filter(|d| d["actionName"] == "Check")
        .count();
    assert_eq!(checks, 2, "both attempts of Check: {actions:#}");
    let latest = service
        .ok(
            "ListActionExecutions",
            json!({"pipelineName": "flaky",
                   "filter": {"latestInPipelineExecution": {"pipelineExecutionId": id, "startTimeRange": "Latest"}}}),
        )
        .await;
    let review = latest["actionExecutionDetails"]
        .as_array()
        .expect("details")
        .iter()
        .find(|d| d["actionName"] == "Review")
        .expect("review");
    assert_eq!(review["status"], "Failed");
    assert!(
        review["output"]["executionResult"]["errorDetails"]["message"]
            .as_str()
            .expect("message")
            .contains("Rejected")
    );
    service
        .fails(
            "GetPipelineExecution",
            json!({"pipelineName": "flaky", "pipelineExecutionId": "id-99999999"}),
            "PipelineExecutionNotFoundException",
        )
        .await;
    service
        .fails(
            "ListActionExecutions",
            json!({"pipelineName": "flaky", "filter": {"pipelineExecutionId": "id-99999999"}}),
            "PipelineExecutionNotFoundException",
        )
        .await;
    service
        .fails(
            "ListPipelineExecutions",
            json!({"pipelineName": "nope"}),
            "PipelineNotFoundException",
        )
        .await;
    service.shut_down().await;
}

#[test]
fn the_shape_check_catches_a_misnamed_member() {
    assert!(model_problems(
        "StartPipelineExecution",
        &json!({"pipelineExecutionId": "x"})
    )
    .is_empty());
    assert_eq!(
        model_problems("StartPipelineExecution", &json!({"executionId": "x"})),
        ["StartPipelineExecution.executionId: StartPipelineExecutionOutput has no member executionId"]
    );
    assert_eq!(
        model_problems("PutApprovalResult", &json!({"approvedAt": "yesterday"})),
        ["PutApprovalResult.approvedAt: expected timestamp, found \"yesterday\""]
    );
    assert_eq!(
        model_problems("EnableStageTransition", &json!({"x": 1})),
        ["EnableStageTransition: expected an empty object"]
    );
}
