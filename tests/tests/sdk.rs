//! The `aws-sdk-codepipeline` crate, a real CodePipeline client, against the built `sluice serve`: every
//! operation of CodePipeline's model (the 44 of botocore's `codepipeline/2015-07-09`), the errors a client sees
//! (typed by the SDK), the job-worker protocol end to end (custom action types with `sluice agent` as the
//! worker too, partners' ThirdParty action types through the third-party job operations), executions that
//! survive a restart of the server, and the CLI as a client printing what it prints locally.
//!
//! Every answer any client of this suite gets is checked against the model: [`RequiredMembers`] refuses a
//! response that lacks a member the model marks required (`tests/fixtures/api/codepipeline-required-outputs.json`,
//! read from botocore's service model), which the Rust SDK would otherwise fill with defaults.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_codepipeline::config::interceptors::AfterDeserializationInterceptorContextRef;
use aws_sdk_codepipeline::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_codepipeline::error::{BoxError, ProvideErrorMetadata};
use aws_sdk_codepipeline::types::{
    ActionCategory, ActionConfigurationProperty, ActionDeclaration, ActionOwner, ActionRevision,
    ActionTypeArtifactDetails, ActionTypeDeclaration, ActionTypeExecutor, ActionTypeId,
    ActionTypeIdentifier, ActionTypePermissions, ActionTypeProperty, ActionTypeUrls,
    ApprovalResult, ApprovalStatus, ArtifactDetails, ArtifactStore, ArtifactStoreType,
    ExecutionDetails, ExecutorConfiguration, ExecutorType, FailureDetails, FailureType,
    InputArtifact, JobStatus, JobWorkerExecutorConfiguration, LambdaExecutorConfiguration,
    OutputArtifact, PipelineDeclaration, PipelineExecutionStatus, PipelineType, PipelineVariable,
    SourceRevisionOverride, SourceRevisionType, StageDeclaration, StageRetryMode,
    StageTransitionType, Tag, TargetFilter, TargetFilterName, WebhookAuthConfiguration,
    WebhookAuthenticationType, WebhookDefinition, WebhookFilterRule,
};
use aws_sdk_codepipeline::Client;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use serde_json::{json, Value};
use sluice_tests::served::{Server, KEY_ID, SECRET};

fn client(server: &Server, secret: &str) -> Client {
    let config = aws_sdk_codepipeline::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(server.url())
        .credentials_provider(Credentials::new(KEY_ID, secret, None, None, "sluice-tests"))
        .interceptor(RequiredMembers)
        .build();
    Client::from_conf(config)
}

/// The service model's output shapes: each operation's output shape, and for each structure reachable from
/// one its required members and its members' shapes (a name, `[item]` for a list, `{"map": value}` for a map).
fn output_model() -> &'static Value {
    static MODEL: OnceLock<Value> = OnceLock::new();
    MODEL.get_or_init(|| {
        let path = sluice_tests::fixture("api/codepipeline-required-outputs.json");
        let text = std::fs::read_to_string(&path).expect("the output model");
        serde_json::from_str(&text).expect("the output model is JSON")
    })
}

/// The members the model marks required that `answer`, the raw JSON output of `operation`, lacks, by path.
fn missing_required(operation: &str, answer: &Value) -> Vec<String> {
    fn walk(model: &Value, shape: &Value, value: &Value, path: &str, missing: &mut Vec<String>) {
        match shape {
            Value::String(name) => {
                let declared = &model["shapes"][name.as_str()];
                for required in declared["required"].as_array().into_iter().flatten() {
                    let name = required.as_str().unwrap_or_default();
                    if value.get(name).is_none_or(Value::is_null) {
                        missing.push(format!("{path}.{name}"));
                    }
                }
                let members = declared["members"].as_object().into_iter().flatten();
                for (member, shape) in members {
                    if let Some(v) = value.get(member) {
                        walk(model, shape, v, &format!("{path}.{member}"), missing);
                    }
                }
            }
            Value::Array(item) => {
                for (i, v) in value.as_array().into_iter().flatten().enumerate() {
                    walk(model, &item[0], v, &format!("{path}[{i}]"), missing);
                }
            }
            Value::Object(map) => {
                for (k, v) in value.as_object().into_iter().flatten() {
                    walk(model, &map["map"], v, &format!("{path}.{k}"), missing);
                }
            }
            _ => {}
        }
    }
    let model = output_model();
    let Some(output) = model["operations"].get(operation) else {
        return vec![format!("{operation} is not an operation of the model")];
    };
    let mut missing = Vec::new();
    if !output.is_null() {
        walk(model, output, answer, operation, &mut missing);
    }
    missing
}

/// The interceptor every client of this suite has: a successful answer that lacks a member the model marks
/// required fails the call, naming the members.
#[derive(Debug)]
struct RequiredMembers;

impl Intercept for RequiredMembers {
    fn name(&self) -> &'static str {
        "RequiredMembers"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        if response.status().as_u16() != 200 {
            return Ok(());
        }
        let operation = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_owned())
            .ok_or("no operation metadata")?;
        let body = response.body().bytes().ok_or("the body was not read")?;
        let answer: Value = if body.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(body)?
        };
        let missing = missing_required(&operation, &answer);
        if missing.is_empty() {
            return Ok(());
        }
        Err(format!(
            "{operation} answered without members CodePipeline's model marks required: {}",
            missing.join(", ")
        )
        .into())
    }
}

fn type_id(category: ActionCategory, owner: ActionOwner, provider: &str) -> ActionTypeId {
    ActionTypeId::builder()
        .category(category)
        .owner(owner)
        .provider(provider)
        .version("1")
        .build()
        .expect("action type id")
}

fn source_stage(folder: &Path) -> StageDeclaration {
    StageDeclaration::builder()
        .name("Source")
        .actions(
            ActionDeclaration::builder()
                .name("Checkout")
                .action_type_id(type_id(
                    ActionCategory::Source,
                    ActionOwner::ThirdParty,
                    "LocalSource",
                ))
                .configuration("Path", folder.to_str().expect("utf-8"))
                .output_artifacts(OutputArtifact::builder().name("Src").build().expect("out"))
                .build()
                .expect("action"),
        )
        .build()
        .expect("stage")
}

fn commands_action(name: &str, commands: &[&str]) -> ActionDeclaration {
    let mut b = ActionDeclaration::builder()
        .name(name)
        .action_type_id(type_id(
            ActionCategory::Compute,
            ActionOwner::Aws,
            "Commands",
        ))
        .input_artifacts(InputArtifact::builder().name("Src").build().expect("in"));
    for c in commands {
        b = b.commands(*c);
    }
    b.build().expect("action")
}

fn stage(name: &str, actions: Vec<ActionDeclaration>) -> StageDeclaration {
    StageDeclaration::builder()
        .name(name)
        .set_actions(Some(actions))
        .build()
        .expect("stage")
}

fn pipeline(name: &str, stages: Vec<StageDeclaration>) -> PipelineDeclaration {
    PipelineDeclaration::builder()
        .name(name)
        .role_arn("arn:aws:iam::123456789012:role/sluice-tests")
        .artifact_store(
            ArtifactStore::builder()
                .r#type(ArtifactStoreType::S3)
                .location("sluice-artifacts")
                .build()
                .expect("store"),
        )
        .pipeline_type(PipelineType::V2)
        .set_stages(Some(stages))
        .build()
        .expect("pipeline")
}

fn approval_stage() -> StageDeclaration {
    stage(
        "Approval",
        vec![ActionDeclaration::builder()
            .name("Review")
            .action_type_id(type_id(
                ActionCategory::Approval,
                ActionOwner::Aws,
                "Manual",
            ))
            .configuration("CustomData", "ship it?")
            .build()
            .expect("approval")],
    )
}

struct Fixture {
    _dir: tempfile::TempDir,
    server: Server,
    client: Client,
    source: std::path::PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = dir.path().join("src");
    std::fs::create_dir_all(&source).expect("source folder");
    std::fs::write(source.join("app.txt"), "app v1\n").expect("source file");
    let server = Server::start(&dir.path().join("server"));
    let client = client(&server, SECRET);
    Fixture {
        _dir: dir,
        server,
        client,
        source,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio")
}

/// Starts an execution of a pipeline; answers its id.
async fn start(c: &Client, pipeline: &str) -> String {
    c.start_pipeline_execution()
        .name(pipeline)
        .send()
        .await
        .expect("StartPipelineExecution")
        .pipeline_execution_id()
        .expect("an execution id")
        .to_owned()
}

/// Polls GetPipelineExecution until the execution leaves InProgress.
async fn finished(c: &Client, pipeline: &str, id: &str) -> PipelineExecutionStatus {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let e = c
            .get_pipeline_execution()
            .pipeline_name(pipeline)
            .pipeline_execution_id(id)
            .send()
            .await
            .expect("GetPipelineExecution");
        let status = e
            .pipeline_execution()
            .and_then(|p| p.status())
            .cloned()
            .expect("status");
        if !matches!(
            status,
            PipelineExecutionStatus::InProgress | PipelineExecutionStatus::Stopping
        ) {
            return status;
        }
        assert!(Instant::now() < deadline, "{id} still {status:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until an action of the pipeline is InProgress; answers its approval token when it has one.
async fn in_progress(c: &Client, pipeline: &str, stage: &str, action: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let state = c
            .get_pipeline_state()
            .name(pipeline)
            .send()
            .await
            .expect("GetPipelineState");
        let found = state
            .stage_states()
            .iter()
            .filter(|s| s.stage_name() == Some(stage))
            .flat_map(|s| s.action_states())
            .find(|a| a.action_name() == Some(action))
            .and_then(|a| a.latest_execution())
            .filter(|e| {
                e.status() == Some(&aws_sdk_codepipeline::types::ActionExecutionStatus::InProgress)
            })
            .map(|e| e.token().map(str::to_owned));
        if let Some(token) = found {
            return token;
        }
        assert!(Instant::now() < deadline, "{stage}.{action} never started");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[test]
fn pipelines_executions_approvals_and_tags_through_the_sdk() {
    let f = fixture();
    let c = &f.client;
    runtime().block_on(async {
        let build = stage(
            "Build",
            vec![commands_action(
                "Greet",
                &["cat app.txt", "echo v=#{variables.Greeting}"],
            )],
        );
        let mut decl = pipeline(
            "sdk-flow",
            vec![source_stage(&f.source), build, approval_stage()],
        );
        decl.variables = Some(vec![
            aws_sdk_codepipeline::types::PipelineVariableDeclaration::builder()
                .name("Greeting")
                .default_value("hello")
                .build()
                .expect("variable"),
        ]);
        let created = c
            .create_pipeline()
            .pipeline(decl.clone())
            .tags(
                Tag::builder()
                    .key("team")
                    .value("delivery")
                    .build()
                    .expect("tag"),
            )
            .send()
            .await
            .expect("CreatePipeline");
        assert_eq!(created.pipeline().and_then(|p| p.version()), Some(1));
        assert_eq!(created.tags().len(), 1);

        // The same name again is refused, typed.
        let again = c
            .create_pipeline()
            .pipeline(decl.clone())
            .send()
            .await
            .expect_err("in use");
        assert!(again
            .into_service_error()
            .is_pipeline_name_in_use_exception());

        // A definition CodePipeline would refuse is refused with the path of the problem.
        let broken = pipeline(
            "sdk-broken",
            vec![stage("Only", vec![commands_action("Greet", &["true"])])],
        );
        let err = c
            .create_pipeline()
            .pipeline(broken)
            .send()
            .await
            .expect_err("invalid");
        let message = format!("{:?}", err.into_service_error());
        assert!(message.contains("Src"), "{message}");

        let listed = c.list_pipelines().send().await.expect("ListPipelines");
        assert_eq!(
            listed
                .pipelines()
                .iter()
                .filter_map(|p| p.name())
                .collect::<Vec<_>>(),
            ["sdk-flow"]
        );
        let got = c
            .get_pipeline()
            .name("sdk-flow")
            .send()
            .await
            .expect("GetPipeline");
        assert_eq!(got.pipeline().map(|p| p.stages().len()), Some(3));
        assert!(got
            .metadata()
            .and_then(|m| m.pipeline_arn())
            .is_some_and(|a| a.ends_with(":sdk-flow")));

        // UpdatePipeline makes version 2; version 1 stays readable.
        let mut v2 = decl.clone();
        v2.stages[1] = stage(
            "Build",
            vec![commands_action(
                "Greet",
                &["cat app.txt", "echo v2 says #{variables.Greeting}"],
            )],
        );
        v2.version = Some(1);
        let updated = c
            .update_pipeline()
            .pipeline(v2)
            .send()
            .await
            .expect("UpdatePipeline");
        assert_eq!(updated.pipeline().and_then(|p| p.version()), Some(2));
        let v1 = c
            .get_pipeline()
            .name("sdk-flow")
            .version(1)
            .send()
            .await
            .expect("version 1");
        assert_eq!(v1.pipeline().and_then(|p| p.version()), Some(1));
        let missing = c
            .get_pipeline()
            .name("sdk-flow")
            .version(9)
            .send()
            .await
            .expect_err("v9");
        assert!(missing
            .into_service_error()
            .is_pipeline_version_not_found_exception());

        // Start with a variable, idempotently.
        let start_once = || {
            c.start_pipeline_execution()
                .name("sdk-flow")
                .variables(
                    PipelineVariable::builder()
                        .name("Greeting")
                        .value("bonjour")
                        .build()
                        .expect("var"),
                )
                .client_request_token("sdk-flow-start-1")
        };
        let id = start_once()
            .send()
            .await
            .expect("start")
            .pipeline_execution_id()
            .expect("id")
            .to_owned();
        let same = start_once().send().await.expect("start again");
        assert_eq!(
            same.pipeline_execution_id(),
            Some(id.as_str()),
            "one execution per client token"
        );

        let token = in_progress(c, "sdk-flow", "Approval", "Review")
            .await
            .expect("approval token");
        let wrong = c
            .put_approval_result()
            .pipeline_name("sdk-flow")
            .stage_name("Approval")
            .action_name("Review")
            .token("00000000-0000-0000-0000-000000000000")
            .result(
                ApprovalResult::builder()
                    .summary("no")
                    .status(ApprovalStatus::Approved)
                    .build()
                    .expect("result"),
            )
            .send()
            .await
            .expect_err("wrong token");
        assert!(wrong
            .into_service_error()
            .is_invalid_approval_token_exception());
        let approved = c
            .put_approval_result()
            .pipeline_name("sdk-flow")
            .stage_name("Approval")
            .action_name("Review")
            .token(&token)
            .result(
                ApprovalResult::builder()
                    .summary("looks good")
                    .status(ApprovalStatus::Approved)
                    .build()
                    .expect("result"),
            )
            .send()
            .await
            .expect("PutApprovalResult");
        assert!(approved.approved_at().is_some());
        assert_eq!(
            finished(c, "sdk-flow", &id).await,
            PipelineExecutionStatus::Succeeded
        );

        let execution = c
            .get_pipeline_execution()
            .pipeline_name("sdk-flow")
            .pipeline_execution_id(&id)
            .send()
            .await
            .expect("GetPipelineExecution");
        let e = execution.pipeline_execution().expect("execution");
        assert_eq!(e.pipeline_version(), Some(2));
        assert!(e
            .variables()
            .iter()
            .any(|v| v.name() == Some("Greeting") && v.resolved_value() == Some("bonjour")));

        let executions = c
            .list_pipeline_executions()
            .pipeline_name("sdk-flow")
            .send()
            .await
            .expect("list");
        assert_eq!(executions.pipeline_execution_summaries().len(), 1);
        let actions = c
            .list_action_executions()
            .pipeline_name("sdk-flow")
            .filter(
                aws_sdk_codepipeline::types::ActionExecutionFilter::builder()
                    .pipeline_execution_id(&id)
                    .build(),
            )
            .send()
            .await
            .expect("ListActionExecutions");
        let names: Vec<_> = actions
            .action_execution_details()
            .iter()
            .filter_map(|a| a.action_name())
            .collect();
        for name in ["Checkout", "Greet", "Review"] {
            assert!(names.contains(&name), "{name} in {names:?}");
        }

        // Transitions.
        c.disable_stage_transition()
            .pipeline_name("sdk-flow")
            .stage_name("Build")
            .transition_type(StageTransitionType::Inbound)
            .reason("freeze")
            .send()
            .await
            .expect("DisableStageTransition");
        let state = c
            .get_pipeline_state()
            .name("sdk-flow")
            .send()
            .await
            .expect("state");
        let build = state
            .stage_states()
            .iter()
            .find(|s| s.stage_name() == Some("Build"))
            .expect("Build");
        let inbound = build.inbound_transition_state().expect("inbound");
        assert!(!inbound.enabled());
        assert_eq!(inbound.disabled_reason(), Some("freeze"));
        c.enable_stage_transition()
            .pipeline_name("sdk-flow")
            .stage_name("Build")
            .transition_type(StageTransitionType::Inbound)
            .send()
            .await
            .expect("EnableStageTransition");

        // Tags.
        let arn = got
            .metadata()
            .and_then(|m| m.pipeline_arn())
            .expect("arn")
            .to_owned();
        c.tag_resource()
            .resource_arn(&arn)
            .tags(
                Tag::builder()
                    .key("stage")
                    .value("prod")
                    .build()
                    .expect("tag"),
            )
            .tags(
                Tag::builder()
                    .key("team")
                    .value("platform")
                    .build()
                    .expect("tag"),
            )
            .send()
            .await
            .expect("TagResource");
        let tags = c
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .expect("ListTagsForResource");
        let mut pairs: Vec<_> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
        pairs.sort();
        assert_eq!(pairs, [("stage", "prod"), ("team", "platform")]);
        c.untag_resource()
            .resource_arn(&arn)
            .tag_keys("stage")
            .send()
            .await
            .expect("UntagResource");
        let tags = c
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .expect("tags");
        assert_eq!(tags.tags().len(), 1);
        let bad = c
            .list_tags_for_resource()
            .resource_arn("arn:aws:s3:::nope")
            .send()
            .await
            .expect_err("bad arn");
        assert!(bad.into_service_error().is_invalid_arn_exception());

        // Stop (abandon) a run waiting at the approval.
        let id2 = start(c, "sdk-flow").await;
        in_progress(c, "sdk-flow", "Approval", "Review").await;
        c.stop_pipeline_execution()
            .pipeline_name("sdk-flow")
            .pipeline_execution_id(&id2)
            .abandon(true)
            .reason("not today")
            .send()
            .await
            .expect("StopPipelineExecution");
        assert_eq!(
            finished(c, "sdk-flow", &id2).await,
            PipelineExecutionStatus::Stopped
        );
        let stopped_again = c
            .stop_pipeline_execution()
            .pipeline_name("sdk-flow")
            .pipeline_execution_id(&id2)
            .send()
            .await
            .expect_err("already stopped");
        assert!(stopped_again
            .into_service_error()
            .is_pipeline_execution_not_stoppable_exception());

        // Delete; then it is gone, typed.
        c.delete_pipeline()
            .name("sdk-flow")
            .send()
            .await
            .expect("DeletePipeline");
        let gone = c
            .get_pipeline()
            .name("sdk-flow")
            .send()
            .await
            .expect_err("deleted");
        assert!(gone.into_service_error().is_pipeline_not_found_exception());
    });
}

#[test]
fn a_failed_stage_is_retried_through_the_sdk() {
    let f = fixture();
    let c = &f.client;
    let flag = f.source.parent().expect("dir").join("fixed");
    runtime().block_on(async {
        let check = format!("test -f {}", flag.display());
        let decl = pipeline(
            "sdk-retry",
            vec![
                source_stage(&f.source),
                stage("Build", vec![commands_action("Flaky", &[&check])]),
            ],
        );
        c.create_pipeline()
            .pipeline(decl)
            .send()
            .await
            .expect("create");
        let id = start(c, "sdk-retry").await;
        assert_eq!(
            finished(c, "sdk-retry", &id).await,
            PipelineExecutionStatus::Failed
        );
        std::fs::write(&flag, "").expect("fix");
        let retried = c
            .retry_stage_execution()
            .pipeline_name("sdk-retry")
            .stage_name("Build")
            .pipeline_execution_id(&id)
            .retry_mode(StageRetryMode::FailedActions)
            .send()
            .await
            .expect("RetryStageExecution");
        assert_eq!(retried.pipeline_execution_id(), Some(id.as_str()));
        assert_eq!(
            finished(c, "sdk-retry", &id).await,
            PipelineExecutionStatus::Succeeded
        );
        let not_failed = c
            .retry_stage_execution()
            .pipeline_name("sdk-retry")
            .stage_name("Build")
            .pipeline_execution_id(&id)
            .retry_mode(StageRetryMode::AllActions)
            .send()
            .await
            .expect_err("nothing to retry");
        let e = not_failed.into_service_error();
        assert!(
            e.is_stage_not_retryable_exception() || e.is_conflict_exception(),
            "{e:?}"
        );

        // Two executions, listed a page at a time.
        let second = start(c, "sdk-retry").await;
        finished(c, "sdk-retry", &second).await;
        let page = c
            .list_pipeline_executions()
            .pipeline_name("sdk-retry")
            .max_results(1)
            .send()
            .await
            .expect("page 1");
        assert_eq!(page.pipeline_execution_summaries().len(), 1);
        assert_eq!(
            page.pipeline_execution_summaries()[0].pipeline_execution_id(),
            Some(second.as_str()),
            "newest first"
        );
        let next = c
            .list_pipeline_executions()
            .pipeline_name("sdk-retry")
            .max_results(1)
            .next_token(page.next_token().expect("a second page"))
            .send()
            .await
            .expect("page 2");
        assert_eq!(
            next.pipeline_execution_summaries()[0].pipeline_execution_id(),
            Some(id.as_str())
        );
        let bad = c
            .list_pipeline_executions()
            .pipeline_name("sdk-retry")
            .next_token("not-a-token")
            .send()
            .await
            .expect_err("bad token");
        assert!(bad.into_service_error().is_invalid_next_token_exception());
    });
}

#[test]
fn requests_signed_with_a_wrong_secret_are_refused() {
    let f = fixture();
    let forger = client(&f.server, "not-the-secret-at-all-000000000000000000");
    runtime().block_on(async {
        let err = forger.list_pipelines().send().await.expect_err("forged");
        let raw = err.raw_response().map(|r| r.status().as_u16());
        assert_eq!(raw, Some(403), "{err:?}");
        let e = err.into_service_error();
        assert_eq!(e.code(), Some("InvalidSignatureException"), "{e:?}");
    });
}

fn custom_type(c: &Client) -> aws_sdk_codepipeline::operation::create_custom_action_type::builders::CreateCustomActionTypeFluentBuilder{
    c.create_custom_action_type()
        .category(ActionCategory::Build)
        .provider("SdkWorker")
        .version("1")
        .configuration_properties(
            ActionConfigurationProperty::builder()
                .name("Commands")
                .required(false)
                .key(false)
                .secret(false)
                .build()
                .expect("property"),
        )
        .configuration_properties(
            ActionConfigurationProperty::builder()
                .name("Project")
                .required(true)
                .key(true)
                .secret(false)
                .queryable(true)
                .build()
                .expect("property"),
        )
        .configuration_properties(
            ActionConfigurationProperty::builder()
                .name("ApiToken")
                .required(false)
                .key(false)
                .secret(true)
                .build()
                .expect("property"),
        )
        .input_artifact_details(
            ArtifactDetails::builder()
                .minimum_count(0)
                .maximum_count(1)
                .build(),
        )
        .output_artifact_details(
            ArtifactDetails::builder()
                .minimum_count(0)
                .maximum_count(1)
                .build(),
        )
}

fn worker_type() -> ActionTypeId {
    type_id(ActionCategory::Build, ActionOwner::Custom, "SdkWorker")
}

fn worker_pipeline(source: &Path) -> PipelineDeclaration {
    let worker = ActionDeclaration::builder()
        .name("External")
        .action_type_id(worker_type())
        .configuration("Project", "alpha")
        .configuration("ApiToken", "s3cr3t-value")
        .namespace("Ext")
        .input_artifacts(InputArtifact::builder().name("Src").build().expect("in"))
        .build()
        .expect("action");
    pipeline(
        "sdk-worker",
        vec![
            source_stage(source),
            stage("Build", vec![worker]),
            stage(
                "After",
                vec![commands_action("Use", &["echo build=#{Ext.BuildNumber}"])],
            ),
        ],
    )
}

/// Polls until a job of the worker type is handed out.
async fn poll_one(c: &Client) -> aws_sdk_codepipeline::types::Job {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let polled = c
            .poll_for_jobs()
            .action_type_id(worker_type())
            .max_batch_size(5)
            .query_param("Project", "alpha")
            .send()
            .await
            .expect("PollForJobs");
        if let Some(job) = polled.jobs().first() {
            return job.clone();
        }
        assert!(Instant::now() < deadline, "no job was queued");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[test]
fn a_custom_action_waits_for_a_job_worker_through_the_sdk() {
    let f = fixture();
    let c = &f.client;
    runtime().block_on(async {
        // A pipeline naming a custom action type that does not exist is refused.
        let refused = c
            .create_pipeline()
            .pipeline(worker_pipeline(&f.source))
            .send()
            .await
            .expect_err("no type");
        assert!(refused
            .into_service_error()
            .is_invalid_action_declaration_exception());

        let created = custom_type(c).send().await.expect("CreateCustomActionType");
        assert_eq!(
            created.action_type().map(|t| t.id().map(|i| i.provider())),
            Some(Some("SdkWorker"))
        );
        let types = c
            .list_action_types()
            .action_owner_filter(ActionOwner::Custom)
            .send()
            .await
            .expect("ListActionTypes");
        assert_eq!(types.action_types().len(), 1);
        let all = c.list_action_types().send().await.expect("all types");
        assert!(all
            .action_types()
            .iter()
            .any(|t| t.id().map(|i| i.provider()) == Some("CodeBuild")));

        c.create_pipeline()
            .pipeline(worker_pipeline(&f.source))
            .send()
            .await
            .expect("create");
        let id = start(c, "sdk-worker").await;

        // First job: acknowledge with the wrong nonce (refused), then the right one; continue later.
        let job = poll_one(c).await;
        let job_id = job.id().expect("job id").to_owned();
        let data = job.data().expect("data");
        assert_eq!(
            data.pipeline_context().and_then(|p| p.pipeline_name()),
            Some("sdk-worker")
        );
        assert_eq!(
            data.pipeline_context()
                .and_then(|p| p.pipeline_execution_id()),
            Some(id.as_str())
        );
        assert_eq!(
            data.action_configuration()
                .and_then(|a| a.configuration())
                .and_then(|m| m.get("Project"))
                .map(String::as_str),
            Some("alpha")
        );
        // The worker gets the secret property's value; GetPipeline shows it masked.
        assert_eq!(
            data.action_configuration()
                .and_then(|a| a.configuration())
                .and_then(|m| m.get("ApiToken"))
                .map(String::as_str),
            Some("s3cr3t-value")
        );
        let shown = c
            .get_pipeline()
            .name("sdk-worker")
            .send()
            .await
            .expect("GetPipeline");
        let external = shown
            .pipeline()
            .and_then(|p| p.stages().get(1))
            .and_then(|s| s.actions().first())
            .expect("External");
        assert_eq!(
            external
                .configuration()
                .and_then(|m| m.get("ApiToken"))
                .map(String::as_str),
            Some("****")
        );
        // Sending the masked definition back keeps the secret (checked on the next run's job below).
        let mut edited = shown.pipeline().expect("pipeline").clone();
        edited.stages[2] = stage(
            "After",
            vec![commands_action(
                "Use",
                &["echo v2 build=#{Ext.BuildNumber}"],
            )],
        );
        c.update_pipeline()
            .pipeline(edited)
            .send()
            .await
            .expect("UpdatePipeline");
        assert_eq!(data.input_artifacts().len(), 1);
        assert!(data.input_artifacts()[0]
            .location()
            .and_then(|l| l.s3_location())
            .map(|s| s.object_key())
            .is_some_and(|k| !k.is_empty()));
        let bad = c
            .acknowledge_job()
            .job_id(&job_id)
            .nonce("wrong")
            .send()
            .await
            .expect_err("nonce");
        assert!(bad.into_service_error().is_invalid_nonce_exception());
        let ack = c
            .acknowledge_job()
            .job_id(&job_id)
            .nonce(job.nonce().expect("nonce"))
            .send()
            .await
            .expect("AcknowledgeJob");
        assert_eq!(
            ack.status(),
            Some(&aws_sdk_codepipeline::types::JobStatus::InProgress)
        );
        let details = c
            .get_job_details()
            .job_id(&job_id)
            .send()
            .await
            .expect("GetJobDetails");
        assert_eq!(
            details.job_details().and_then(|d| d.id()),
            Some(job_id.as_str())
        );
        c.put_job_success_result()
            .job_id(&job_id)
            .continuation_token("page-2")
            .send()
            .await
            .expect("continue");

        // The continued job carries the token; its success completes the action with output variables.
        let next = poll_one(c).await;
        assert_ne!(next.id(), Some(job_id.as_str()));
        assert_eq!(
            next.data().and_then(|d| d.continuation_token()),
            Some("page-2")
        );
        let next_id = next.id().expect("id").to_owned();
        c.acknowledge_job()
            .job_id(&next_id)
            .nonce(next.nonce().expect("nonce"))
            .send()
            .await
            .expect("ack");
        c.put_job_success_result()
            .job_id(&next_id)
            .output_variables("BuildNumber", "42")
            .execution_details(
                aws_sdk_codepipeline::types::ExecutionDetails::builder()
                    .summary("built by the SDK worker")
                    .external_execution_id("run-42")
                    .build(),
            )
            .send()
            .await
            .expect("PutJobSuccessResult");
        let twice = c
            .put_job_success_result()
            .job_id(&next_id)
            .send()
            .await
            .expect_err("twice");
        assert!(twice.into_service_error().is_invalid_job_state_exception());
        assert_eq!(
            finished(c, "sdk-worker", &id).await,
            PipelineExecutionStatus::Succeeded
        );
        let actions = c
            .list_action_executions()
            .pipeline_name("sdk-worker")
            .filter(
                aws_sdk_codepipeline::types::ActionExecutionFilter::builder()
                    .pipeline_execution_id(&id)
                    .build(),
            )
            .send()
            .await
            .expect("actions");
        let external = actions
            .action_execution_details()
            .iter()
            .find(|a| a.action_name() == Some("External"))
            .expect("External");
        let shown_input = external.input().expect("input");
        for config in [
            shown_input.configuration(),
            shown_input.resolved_configuration(),
        ] {
            assert_eq!(
                config.and_then(|m| m.get("ApiToken")).map(String::as_str),
                Some("****"),
                "ListActionExecutions masks secrets"
            );
        }
        assert_eq!(
            external
                .output()
                .and_then(|o| o.output_variables())
                .and_then(|v| v.get("BuildNumber"))
                .map(String::as_str),
            Some("42")
        );

        // A worker's failure fails the action and the execution.
        let failing = start(c, "sdk-worker").await;
        let job = poll_one(c).await;
        assert_eq!(
            job.data()
                .and_then(|d| d.action_configuration())
                .and_then(|a| a.configuration())
                .and_then(|m| m.get("ApiToken"))
                .map(String::as_str),
            Some("s3cr3t-value"),
            "an update with the masked value keeps the secret"
        );
        let jid = job.id().expect("id").to_owned();
        c.acknowledge_job()
            .job_id(&jid)
            .nonce(job.nonce().expect("nonce"))
            .send()
            .await
            .expect("ack");
        c.put_job_failure_result()
            .job_id(&jid)
            .failure_details(
                FailureDetails::builder()
                    .r#type(FailureType::JobFailed)
                    .message("the external build broke")
                    .build()
                    .expect("details"),
            )
            .send()
            .await
            .expect("PutJobFailureResult");
        assert_eq!(
            finished(c, "sdk-worker", &failing).await,
            PipelineExecutionStatus::Failed
        );
        let unknown = c
            .get_job_details()
            .job_id("00000000-0000-0000-0000-000000000000")
            .send()
            .await
            .expect_err("unknown");
        assert!(unknown.into_service_error().is_job_not_found_exception());

        // Deleting the type: polls are refused, and the same version cannot come back.
        c.delete_custom_action_type()
            .category(ActionCategory::Build)
            .provider("SdkWorker")
            .version("1")
            .send()
            .await
            .expect("DeleteCustomActionType");
        let polled = c
            .poll_for_jobs()
            .action_type_id(worker_type())
            .send()
            .await
            .expect_err("deleted");
        assert!(polled
            .into_service_error()
            .is_action_type_not_found_exception());
        let recreated = custom_type(c).send().await.expect_err("deleted version");
        assert!(recreated.into_service_error().is_validation_exception());
    });
}

#[test]
fn sluice_agent_is_a_ready_job_worker_with_artifacts_over_http() {
    let f = fixture();
    let c = &f.client;
    runtime().block_on(async {
        c.create_custom_action_type()
            .category(ActionCategory::Build)
            .provider("AgentWorker")
            .version("1")
            .configuration_properties(
                ActionConfigurationProperty::builder()
                    .name("Commands")
                    .required(true)
                    .key(false)
                    .secret(false)
                    .build()
                    .expect("p"),
            )
            .configuration_properties(
                ActionConfigurationProperty::builder()
                    .name("OutputVariables")
                    .required(false)
                    .key(false)
                    .secret(false)
                    .build()
                    .expect("p"),
            )
            .input_artifact_details(
                ArtifactDetails::builder()
                    .minimum_count(1)
                    .maximum_count(1)
                    .build(),
            )
            .output_artifact_details(
                ArtifactDetails::builder()
                    .minimum_count(1)
                    .maximum_count(1)
                    .build(),
            )
            .send()
            .await
            .expect("type");
        let worker = ActionDeclaration::builder()
            .name("Jenkins")
            .action_type_id(type_id(
                ActionCategory::Build,
                ActionOwner::Custom,
                "AgentWorker",
            ))
            .configuration(
                "Commands",
                "cat app.txt > built.txt\necho built-by-agent >> built.txt\nexport VERDICT=green",
            )
            .configuration("OutputVariables", "VERDICT")
            .namespace("Agent")
            .input_artifacts(InputArtifact::builder().name("Src").build().expect("in"))
            .output_artifacts(
                OutputArtifact::builder()
                    .name("Built")
                    .build()
                    .expect("out"),
            )
            .build()
            .expect("action");
        let mut after = ActionDeclaration::builder()
            .name("Check")
            .action_type_id(type_id(
                ActionCategory::Compute,
                ActionOwner::Aws,
                "Commands",
            ))
            .input_artifacts(InputArtifact::builder().name("Built").build().expect("in"));
        for cmd in [
            "grep built-by-agent built.txt",
            "grep 'app v1' built.txt",
            "test '#{Agent.VERDICT}' = green",
        ] {
            after = after.commands(cmd);
        }
        let decl = pipeline(
            "agent-flow",
            vec![
                source_stage(&f.source),
                stage("Build", vec![worker]),
                stage("Verify", vec![after.build().expect("check")]),
            ],
        );
        c.create_pipeline()
            .pipeline(decl)
            .send()
            .await
            .expect("create");
        let id = start(c, "agent-flow").await;
        let work = f.server.dir.join("agent");
        let out = f
            .server
            .cli()
            .args([
                "agent",
                "--provider",
                "AgentWorker",
                "--max-jobs",
                "1",
                "--idle-exit",
                "60",
                "--poll-interval",
                "0.2",
            ])
            .arg("--work-dir")
            .arg(&work)
            .output()
            .expect("sluice agent runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.contains("succeeded"), "{stderr}");
        assert_eq!(
            finished(c, "agent-flow", &id).await,
            PipelineExecutionStatus::Succeeded,
            "{stderr}\n{}",
            f.server.output()
        );
    });
}

#[test]
fn executions_in_flight_resume_after_the_server_restarts() {
    let mut f = fixture();
    let c = f.client.clone();
    let rt = runtime();
    let id = rt.block_on(async {
        let decl = pipeline(
            "restart",
            vec![
                source_stage(&f.source),
                stage(
                    "Build",
                    vec![commands_action("Slow", &["sleep 2", "echo slept"])],
                ),
                approval_stage(),
            ],
        );
        c.create_pipeline()
            .pipeline(decl)
            .send()
            .await
            .expect("create");
        let id = start(&c, "restart").await;
        in_progress(&c, "restart", "Build", "Slow").await;
        id
    });
    // A crash in the middle of the build, then a graceful restart while the approval waits.
    f.server.kill();
    f.server.restart();
    rt.block_on(async {
        let token = in_progress(&c, "restart", "Approval", "Review")
            .await
            .expect("token");
        f.server.restart();
        c.put_approval_result()
            .pipeline_name("restart")
            .stage_name("Approval")
            .action_name("Review")
            .token(token)
            .result(
                ApprovalResult::builder()
                    .summary("after restarts")
                    .status(ApprovalStatus::Approved)
                    .build()
                    .expect("r"),
            )
            .send()
            .await
            .expect("approve after the restart");
        assert_eq!(
            finished(&c, "restart", &id).await,
            PipelineExecutionStatus::Succeeded,
            "{}",
            f.server.output()
        );
    });
}

#[test]
fn the_cli_prints_the_same_through_an_endpoint_as_locally() {
    let f = fixture();
    let file = f.source.parent().expect("dir").join("hello.yaml");
    std::fs::write(
        &file,
        format!(
            "name: hello\npipelineType: V2\nstages:\n  - name: Source\n    actions:\n      - name: Checkout\n        actionTypeId: {{category: Source, owner: ThirdParty, provider: LocalSource, version: \"1\"}}\n        configuration: {{Path: {}}}\n        outputArtifacts: [{{name: Src}}]\n  - name: Build\n    actions:\n      - name: Greet\n        actionTypeId: {{category: Compute, owner: AWS, provider: Commands, version: \"1\"}}\n        commands: [\"cat app.txt\"]\n        inputArtifacts: [{{name: Src}}]\n",
            f.source.display()
        ),
    )
    .expect("definition");
    let run = |args: &[&str]| {
        let out = f.server.cli().args(args).output().expect("sluice");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(run(&["create", file.to_str().expect("utf-8")])
        .contains("created pipeline hello version 1"));
    let id = run(&["start", "hello", "--wait"]);
    assert!(id.contains("Succeeded"), "{id}");
    let local = |args: &[&str]| {
        let out = std::process::Command::new(sluice_tests::sluice_bin())
            .arg("--state-dir")
            .arg(f.server.state())
            .args(args)
            .output()
            .expect("sluice");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for args in [
        &["status"][..],
        &["status", "hello"],
        &["history", "hello"],
        &["list"],
        &["--output", "json", "status", "hello"],
    ] {
        assert_eq!(run(args), local(args), "sluice {args:?}");
    }
    assert!(run(&["list"]).contains("hello"));
    let out = f.server.cli().args(["logs", "x"]).output().expect("sluice");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("local state folder only"));
    assert!(run(&["delete", "hello"]).contains("deleted pipeline hello"));
    assert!(run(&["list"]).contains("no pipelines"));
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn an_execution_started_with_a_source_revision_builds_that_commit() {
    let f = fixture();
    let c = &f.client;
    let repo = f.source.parent().expect("dir").join("repo");
    std::fs::create_dir_all(&repo).expect("repo");
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["config", "user.name", "Sluice Tests"]);
    git(&repo, &["config", "user.email", "tests@example.com"]);
    std::fs::write(repo.join("app.txt"), "app v1\n").expect("v1");
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "v1"]);
    let first = git(&repo, &["rev-parse", "HEAD"]);
    std::fs::write(repo.join("app.txt"), "app v2\n").expect("v2");
    git(&repo, &["commit", "-q", "-am", "v2"]);
    runtime().block_on(async {
        let decl = pipeline(
            "pinned",
            vec![
                source_stage(&repo),
                stage(
                    "Build",
                    vec![commands_action("Check", &["grep -x 'app v1' app.txt"])],
                ),
            ],
        );
        c.create_pipeline()
            .pipeline(decl)
            .send()
            .await
            .expect("create");
        let pin = |action: &str, kind: SourceRevisionType, value: &str| {
            SourceRevisionOverride::builder()
                .action_name(action)
                .revision_type(kind)
                .revision_value(value)
                .build()
                .expect("override")
        };
        // The newest commit has v2, so only the pinned run passes the check.
        let newest = start(c, "pinned").await;
        assert_eq!(
            finished(c, "pinned", &newest).await,
            PipelineExecutionStatus::Failed
        );
        let id = c
            .start_pipeline_execution()
            .name("pinned")
            .source_revisions(pin("Checkout", SourceRevisionType::CommitId, &first))
            .send()
            .await
            .expect("start pinned")
            .pipeline_execution_id()
            .expect("id")
            .to_owned();
        assert_eq!(
            finished(c, "pinned", &id).await,
            PipelineExecutionStatus::Succeeded
        );
        let e = c
            .get_pipeline_execution()
            .pipeline_name("pinned")
            .pipeline_execution_id(&id)
            .send()
            .await
            .expect("get");
        let revisions = e
            .pipeline_execution()
            .map(|p| p.artifact_revisions().to_vec())
            .unwrap_or_default();
        assert!(
            revisions
                .iter()
                .any(|r| r.revision_id() == Some(first.as_str())),
            "{revisions:?}"
        );
        for (action, kind, what) in [
            ("Nope", SourceRevisionType::CommitId, "no action Nope"),
            ("Check", SourceRevisionType::CommitId, "not a source action"),
            (
                "Checkout",
                SourceRevisionType::S3ObjectKey,
                "takes COMMIT_ID",
            ),
        ] {
            let err = c
                .start_pipeline_execution()
                .name("pinned")
                .source_revisions(pin(action, kind, "x"))
                .send()
                .await
                .expect_err("refused");
            let e = err.into_service_error();
            assert!(e.is_validation_exception(), "{e:?}");
            assert!(format!("{e:?}").contains(what), "{what}: {e:?}");
        }
    });
}

/// Every operation of CodePipeline's model, as botocore's `codepipeline/2015-07-09` names them.
const MODEL_OPERATIONS: [&str; 44] = [
    "AcknowledgeJob",
    "AcknowledgeThirdPartyJob",
    "CreateCustomActionType",
    "CreatePipeline",
    "DeleteCustomActionType",
    "DeletePipeline",
    "DeleteWebhook",
    "DeregisterWebhookWithThirdParty",
    "DisableStageTransition",
    "EnableStageTransition",
    "GetActionType",
    "GetJobDetails",
    "GetPipeline",
    "GetPipelineExecution",
    "GetPipelineState",
    "GetThirdPartyJobDetails",
    "ListActionExecutions",
    "ListActionTypes",
    "ListDeployActionExecutionTargets",
    "ListPipelineExecutions",
    "ListPipelines",
    "ListRuleExecutions",
    "ListRuleTypes",
    "ListTagsForResource",
    "ListWebhooks",
    "OverrideStageCondition",
    "PollForJobs",
    "PollForThirdPartyJobs",
    "PutActionRevision",
    "PutApprovalResult",
    "PutJobFailureResult",
    "PutJobSuccessResult",
    "PutThirdPartyJobFailureResult",
    "PutThirdPartyJobSuccessResult",
    "PutWebhook",
    "RegisterWebhookWithThirdParty",
    "RetryStageExecution",
    "RollbackStage",
    "StartPipelineExecution",
    "StopPipelineExecution",
    "TagResource",
    "UntagResource",
    "UpdateActionType",
    "UpdatePipeline",
];

#[test]
fn every_operation_of_the_model_is_answered() {
    let mut model: Vec<&str> = output_model()["operations"]
        .as_object()
        .expect("operations")
        .keys()
        .map(String::as_str)
        .collect();
    model.sort_unstable();
    assert_eq!(model, MODEL_OPERATIONS, "the list is the model's");
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path());
    let unknown: Vec<&str> = MODEL_OPERATIONS
        .iter()
        .copied()
        .filter(|op| {
            let r = server.call(op, &json!({}));
            r.status == 400 && r.error(400) == "UnknownOperationException"
        })
        .collect();
    if !unknown.is_empty() {
        println!("operations answered UnknownOperationException: {unknown:?}");
    }
    assert!(
        unknown.is_empty(),
        "{} of {} operations are not answered: {unknown:?}",
        unknown.len(),
        MODEL_OPERATIONS.len()
    );
    // And the checker itself finds what is missing.
    let missing = missing_required(
        "GetPipeline",
        &json!({"pipeline": {"name": "p", "stages": [{"name": "S", "actions": [{"name": "A"}]}]}}),
    );
    assert_eq!(
        missing,
        [
            "GetPipeline.pipeline.roleArn",
            "GetPipeline.pipeline.stages[0].actions[0].actionTypeId"
        ]
    );
}

#[test]
fn pipelines_declared_without_a_role_are_answered_with_the_default_role() {
    let f = fixture();
    let c = &f.client;
    let default_role = "arn:aws:iam::000000000000:role/sluice-default-pipeline-role";
    let mut definition = json!({
        "name": "no-role",
        "artifactStore": {"type": "S3", "location": "sluice-artifacts"},
        "pipelineType": "V2",
        "stages": [
            {"name": "Source", "actions": [{"name": "Checkout",
                "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "LocalSource", "version": "1"},
                "configuration": {"Path": f.source.to_str().expect("utf-8")},
                "outputArtifacts": [{"name": "Src"}]}]},
            {"name": "Build", "actions": [{"name": "Run",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": ["cat app.txt"], "inputArtifacts": [{"name": "Src"}]}]}
        ]
    });
    // Raw answers: CreatePipeline, GetPipeline and UpdatePipeline all carry a roleArn.
    let created = f
        .server
        .ok("CreatePipeline", json!({ "pipeline": definition }));
    assert_eq!(created["pipeline"]["roleArn"], default_role);
    assert!(missing_required("CreatePipeline", &created).is_empty());
    let got = f.server.ok("GetPipeline", json!({"name": "no-role"}));
    assert_eq!(got["pipeline"]["roleArn"], default_role);
    assert!(missing_required("GetPipeline", &got).is_empty());
    definition["stages"][1]["actions"][0]["commands"] = json!(["cat app.txt", "true"]);
    let updated = f
        .server
        .ok("UpdatePipeline", json!({ "pipeline": definition }));
    assert_eq!(updated["pipeline"]["roleArn"], default_role);
    runtime().block_on(async {
        // The SDK round trip: GetPipeline's declaration goes back through UpdatePipeline unchanged in role, and
        // the pipeline still runs with no role of its own.
        let declared = c
            .get_pipeline()
            .name("no-role")
            .send()
            .await
            .expect("GetPipeline")
            .pipeline
            .expect("a declaration");
        assert_eq!(declared.role_arn(), default_role);
        let again = c
            .update_pipeline()
            .pipeline(declared)
            .send()
            .await
            .expect("UpdatePipeline with GetPipeline's declaration");
        assert_eq!(again.pipeline().map(|p| p.role_arn()), Some(default_role));
        assert_eq!(again.pipeline().and_then(|p| p.version()), Some(3));
        let id = start(c, "no-role").await;
        assert_eq!(
            finished(c, "no-role", &id).await,
            PipelineExecutionStatus::Succeeded
        );
        // A role of its own is kept and answered as given.
        let mut own = c
            .get_pipeline()
            .name("no-role")
            .send()
            .await
            .expect("GetPipeline")
            .pipeline
            .expect("a declaration");
        own.role_arn = "arn:aws:iam::123456789012:role/own".into();
        let kept = c
            .update_pipeline()
            .pipeline(own)
            .send()
            .await
            .expect("UpdatePipeline");
        assert_eq!(
            kept.pipeline().map(|p| p.role_arn()),
            Some("arn:aws:iam::123456789012:role/own")
        );
    });
}

fn declared_id(category: ActionCategory, owner: &str, provider: &str) -> ActionTypeIdentifier {
    ActionTypeIdentifier::builder()
        .category(category)
        .owner(owner)
        .provider(provider)
        .version("1")
        .build()
        .expect("id")
}

fn job_worker_declaration(id: ActionTypeIdentifier) -> ActionTypeDeclaration {
    ActionTypeDeclaration::builder()
        .description("declared through the SDK")
        .executor(
            ActionTypeExecutor::builder()
                .r#type(ExecutorType::JobWorker)
                .configuration(
                    ExecutorConfiguration::builder()
                        .job_worker_executor_configuration(
                            JobWorkerExecutorConfiguration::builder()
                                .polling_accounts("111122223333")
                                .build(),
                        )
                        .build(),
                )
                .job_timeout(600)
                .build()
                .expect("executor"),
        )
        .id(id)
        .input_artifact_details(
            ActionTypeArtifactDetails::builder()
                .minimum_count(1)
                .maximum_count(2)
                .build(),
        )
        .output_artifact_details(
            ActionTypeArtifactDetails::builder()
                .minimum_count(0)
                .maximum_count(1)
                .build(),
        )
        .permissions(
            ActionTypePermissions::builder()
                .allowed_accounts("111122223333")
                .build()
                .expect("permissions"),
        )
        .properties(
            ActionTypeProperty::builder()
                .name("Project")
                .optional(false)
                .key(true)
                .no_echo(false)
                .queryable(true)
                .description("which project")
                .build()
                .expect("property"),
        )
        .properties(
            ActionTypeProperty::builder()
                .name("ApiToken")
                .optional(true)
                .key(false)
                .no_echo(true)
                .build()
                .expect("property"),
        )
        .urls(
            ActionTypeUrls::builder()
                .configuration_url("https://worker.example/config")
                .execution_url_template("https://worker.example/runs/{ExternalExecutionId}")
                .build(),
        )
        .build()
}

#[test]
fn action_types_are_declared_and_updated_through_the_sdk() {
    let f = fixture();
    let c = &f.client;
    runtime().block_on(async {
        // A built-in type: its configuration keys from the catalog, required ones not optional.
        let built = c
            .get_action_type()
            .category(ActionCategory::Build)
            .owner("AWS")
            .provider("CodeBuild")
            .version("1")
            .send()
            .await
            .expect("GetActionType")
            .action_type
            .expect("a declaration");
        assert_eq!(
            built.executor().map(|e| e.r#type()),
            Some(&ExecutorType::JobWorker)
        );
        let project = built
            .properties()
            .iter()
            .find(|p| p.name() == "ProjectName")
            .expect("ProjectName");
        assert!(!project.optional());
        assert!(built
            .properties()
            .iter()
            .any(|p| p.name() == "BuildspecOverride" && p.optional()));
        assert_eq!(
            built.input_artifact_details().map(|d| d.maximum_count()),
            Some(5)
        );
        let github = c
            .get_action_type()
            .category(ActionCategory::Source)
            .owner("ThirdParty")
            .provider("GitHub")
            .version("1")
            .send()
            .await
            .expect("GetActionType")
            .action_type
            .expect("a declaration");
        assert!(github
            .properties()
            .iter()
            .any(|p| p.name() == "OAuthToken" && p.no_echo()));
        let unknown = c
            .get_action_type()
            .category(ActionCategory::Build)
            .owner("AWS")
            .provider("NoSuchBuilder")
            .version("1")
            .send()
            .await
            .expect_err("unknown");
        assert!(unknown
            .into_service_error()
            .is_action_type_not_found_exception());

        // A custom type as stored, then updated.
        custom_type(c).send().await.expect("CreateCustomActionType");
        let custom = c
            .get_action_type()
            .category(ActionCategory::Build)
            .owner("Custom")
            .provider("SdkWorker")
            .version("1")
            .send()
            .await
            .expect("GetActionType of a custom type")
            .action_type
            .expect("a declaration");
        let token = custom
            .properties()
            .iter()
            .find(|p| p.name() == "ApiToken")
            .expect("ApiToken");
        assert!(token.no_echo() && token.optional());
        assert!(custom
            .executor()
            .and_then(|e| e.configuration())
            .and_then(|c| c.job_worker_executor_configuration())
            .is_some());
        c.update_action_type()
            .action_type(job_worker_declaration(declared_id(
                ActionCategory::Build,
                "Custom",
                "SdkWorker",
            )))
            .send()
            .await
            .expect("UpdateActionType of a custom type");
        let updated = c
            .get_action_type()
            .category(ActionCategory::Build)
            .owner("Custom")
            .provider("SdkWorker")
            .version("1")
            .send()
            .await
            .expect("GetActionType")
            .action_type
            .expect("a declaration");
        assert_eq!(updated.description(), Some("declared through the SDK"));
        assert_eq!(
            updated
                .properties()
                .iter()
                .map(|p| p.name())
                .collect::<Vec<_>>(),
            ["Project", "ApiToken"]
        );
        assert_eq!(updated.executor().and_then(|e| e.job_timeout()), Some(600));
        assert_eq!(
            updated.urls().and_then(|u| u.configuration_url()),
            Some("https://worker.example/config")
        );
        assert_eq!(
            updated.permissions().map(|p| p.allowed_accounts().to_vec()),
            Some(vec!["111122223333".to_owned()])
        );
        assert_eq!(
            updated.input_artifact_details().map(|d| d.maximum_count()),
            Some(2)
        );
        let listed = c
            .list_action_types()
            .action_owner_filter(ActionOwner::Custom)
            .send()
            .await
            .expect("ListActionTypes");
        let listed = listed
            .action_types()
            .iter()
            .find(|t| t.id().map(|i| i.provider()) == Some("SdkWorker"))
            .expect("listed");
        assert_eq!(listed.action_configuration_properties().len(), 2);

        // Refusals: a built-in type, an unknown custom type, a Lambda executor.
        let built_in = c
            .update_action_type()
            .action_type(job_worker_declaration(declared_id(
                ActionCategory::Build,
                "AWS",
                "CodeBuild",
            )))
            .send()
            .await
            .expect_err("built in");
        assert!(built_in.into_service_error().is_request_failed_exception());
        let missing = c
            .update_action_type()
            .action_type(job_worker_declaration(declared_id(
                ActionCategory::Build,
                "Custom",
                "NeverCreated",
            )))
            .send()
            .await
            .expect_err("unknown");
        assert!(missing
            .into_service_error()
            .is_action_type_not_found_exception());
        let mut lambda =
            job_worker_declaration(declared_id(ActionCategory::Build, "Custom", "SdkWorker"));
        lambda.executor = Some(
            ActionTypeExecutor::builder()
                .r#type(ExecutorType::Lambda)
                .configuration(
                    ExecutorConfiguration::builder()
                        .lambda_executor_configuration(
                            LambdaExecutorConfiguration::builder()
                                .lambda_function_arn(
                                    "arn:aws:lambda:us-east-1:111122223333:function:f",
                                )
                                .build()
                                .expect("lambda"),
                        )
                        .build(),
                )
                .build()
                .expect("executor"),
        );
        let refused = c
            .update_action_type()
            .action_type(lambda)
            .send()
            .await
            .expect_err("lambda");
        let refused = refused.into_service_error();
        assert!(refused.is_validation_exception(), "{refused:?}");
        assert!(refused
            .message()
            .unwrap_or_default()
            .contains("executor.type"));

        // A partner type is declared by UpdateActionType and listed under ThirdParty.
        c.update_action_type()
            .action_type(job_worker_declaration(declared_id(
                ActionCategory::Test,
                "ThirdParty",
                "Runscope",
            )))
            .send()
            .await
            .expect("UpdateActionType of a partner type");
        let partner = c
            .get_action_type()
            .category(ActionCategory::Test)
            .owner("ThirdParty")
            .provider("Runscope")
            .version("1")
            .send()
            .await
            .expect("GetActionType of a partner type")
            .action_type
            .expect("a declaration");
        assert_eq!(partner.description(), Some("declared through the SDK"));
        let third_party = c
            .list_action_types()
            .action_owner_filter(ActionOwner::ThirdParty)
            .send()
            .await
            .expect("ListActionTypes");
        assert!(third_party
            .action_types()
            .iter()
            .any(|t| t.id().map(|i| i.provider()) == Some("Runscope")));
    });
}

fn partner_type() -> ActionTypeId {
    type_id(
        ActionCategory::Test,
        ActionOwner::ThirdParty,
        "GhostInspector",
    )
}

/// Polls until a job of the partner type is handed out.
async fn poll_partner(c: &Client) -> aws_sdk_codepipeline::types::ThirdPartyJob {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let polled = c
            .poll_for_third_party_jobs()
            .action_type_id(partner_type())
            .max_batch_size(5)
            .send()
            .await
            .expect("PollForThirdPartyJobs");
        if let Some(job) = polled.jobs().first() {
            return job.clone();
        }
        assert!(Instant::now() < deadline, "no partner job was queued");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[test]
fn a_partner_action_waits_for_its_third_party_worker_through_the_sdk() {
    let f = fixture();
    let c = &f.client;
    runtime().block_on(async {
        // A partner's ThirdParty provider, as real get-pipeline output shows them, is accepted.
        let partner = ActionDeclaration::builder()
            .name("Inspect")
            .action_type_id(partner_type())
            .configuration("SuiteId", "suite-42")
            .configuration("ApiKey", "k3y")
            .input_artifacts(InputArtifact::builder().name("Src").build().expect("in"))
            .build()
            .expect("action");
        c.create_pipeline()
            .pipeline(pipeline(
                "sdk-partner",
                vec![source_stage(&f.source), stage("Test", vec![partner])],
            ))
            .send()
            .await
            .expect("CreatePipeline with a partner action");

        // Polling with the wrong operation or a type that is not a partner's is refused.
        let custom_poll = c
            .poll_for_jobs()
            .action_type_id(partner_type())
            .send()
            .await
            .expect_err("PollForJobs is for custom types");
        assert!(custom_poll
            .into_service_error()
            .is_action_type_not_found_exception());
        let built_in = c
            .poll_for_third_party_jobs()
            .action_type_id(type_id(
                ActionCategory::Source,
                ActionOwner::ThirdParty,
                "GitHub",
            ))
            .send()
            .await
            .expect_err("GitHub is Sluice's own");
        assert!(built_in
            .into_service_error()
            .is_action_type_not_found_exception());

        let id = start(c, "sdk-partner").await;
        in_progress(c, "sdk-partner", "Test", "Inspect").await;
        let job = poll_partner(c).await;
        let (job_id, client_id) = (
            job.job_id().expect("job id").to_owned(),
            job.client_id().expect("client id").to_owned(),
        );
        assert_ne!(job_id, client_id);

        // The client token must be the job's client id; an unknown job is not found.
        let wrong = c
            .get_third_party_job_details()
            .job_id(&job_id)
            .client_token("not-the-client-id")
            .send()
            .await
            .expect_err("wrong token");
        assert!(wrong
            .into_service_error()
            .is_invalid_client_token_exception());
        let unknown = c
            .get_third_party_job_details()
            .job_id("00000000-0000-0000-0000-000000000000")
            .client_token(&client_id)
            .send()
            .await
            .expect_err("unknown job");
        assert!(unknown.into_service_error().is_job_not_found_exception());

        let details = c
            .get_third_party_job_details()
            .job_id(&job_id)
            .client_token(&client_id)
            .send()
            .await
            .expect("GetThirdPartyJobDetails")
            .job_details
            .expect("details");
        let data = details.data().expect("data");
        assert_eq!(
            data.action_configuration()
                .and_then(|a| a.configuration())
                .and_then(|m| m.get("SuiteId"))
                .map(String::as_str),
            Some("suite-42")
        );
        let context = data.pipeline_context().expect("context");
        assert_eq!(context.pipeline_name(), Some("sdk-partner"));
        assert_eq!(context.pipeline_execution_id(), Some(id.as_str()));
        assert_eq!(data.input_artifacts().len(), 1);
        assert_eq!(data.input_artifacts()[0].name(), Some("Src"));
        let nonce = details.nonce().expect("nonce").to_owned();

        let bad_nonce = c
            .acknowledge_third_party_job()
            .job_id(&job_id)
            .nonce("wrong")
            .client_token(&client_id)
            .send()
            .await
            .expect_err("wrong nonce");
        assert!(bad_nonce.into_service_error().is_invalid_nonce_exception());
        let acked = c
            .acknowledge_third_party_job()
            .job_id(&job_id)
            .nonce(&nonce)
            .client_token(&client_id)
            .send()
            .await
            .expect("AcknowledgeThirdPartyJob");
        assert_eq!(acked.status(), Some(&JobStatus::InProgress));

        // A continuation queues the action again with the token; the first job takes no other result.
        c.put_third_party_job_success_result()
            .job_id(&job_id)
            .client_token(&client_id)
            .continuation_token("page-2")
            .send()
            .await
            .expect("PutThirdPartyJobSuccessResult with a continuation");
        let late = c
            .put_third_party_job_failure_result()
            .job_id(&job_id)
            .client_token(&client_id)
            .failure_details(
                FailureDetails::builder()
                    .r#type(FailureType::JobFailed)
                    .message("too late")
                    .build()
                    .expect("details"),
            )
            .send()
            .await
            .expect_err("already has a result");
        assert!(late.into_service_error().is_invalid_job_state_exception());
        let next = poll_partner(c).await;
        let (next_id, next_client) = (
            next.job_id().expect("id").to_owned(),
            next.client_id().expect("client id").to_owned(),
        );
        let next_details = c
            .get_third_party_job_details()
            .job_id(&next_id)
            .client_token(&next_client)
            .send()
            .await
            .expect("details")
            .job_details
            .expect("details");
        assert_eq!(
            next_details.data().and_then(|d| d.continuation_token()),
            Some("page-2")
        );
        c.put_third_party_job_success_result()
            .job_id(&next_id)
            .client_token(&next_client)
            .execution_details(
                ExecutionDetails::builder()
                    .summary("42 checks passed")
                    .external_execution_id("run-42")
                    .build(),
            )
            .send()
            .await
            .expect("PutThirdPartyJobSuccessResult");
        assert_eq!(
            finished(c, "sdk-partner", &id).await,
            PipelineExecutionStatus::Succeeded
        );

        // A partner's failure fails the action.
        let failing = start(c, "sdk-partner").await;
        let job = poll_partner(c).await;
        c.put_third_party_job_failure_result()
            .job_id(job.job_id().expect("id"))
            .client_token(job.client_id().expect("client id"))
            .failure_details(
                FailureDetails::builder()
                    .r#type(FailureType::ConfigurationError)
                    .message("suite-42 does not exist")
                    .build()
                    .expect("details"),
            )
            .send()
            .await
            .expect("PutThirdPartyJobFailureResult");
        assert_eq!(
            finished(c, "sdk-partner", &failing).await,
            PipelineExecutionStatus::Failed
        );
    });
}

#[test]
fn put_action_revision_starts_one_execution_per_new_revision() {
    let f = fixture();
    let c = &f.client;
    runtime().block_on(async {
        c.create_pipeline()
            .pipeline(pipeline(
                "sdk-revisions",
                vec![
                    source_stage(&f.source),
                    stage("Build", vec![commands_action("Run", &["cat app.txt"])]),
                ],
            ))
            .send()
            .await
            .expect("CreatePipeline");
        let revision = |id: &str| {
            ActionRevision::builder()
                .revision_id(id)
                .revision_change_id(format!("change-{id}"))
                .created(aws_sdk_codepipeline::primitives::DateTime::from_secs(
                    1_700_000_000,
                ))
                .build()
                .expect("revision")
        };
        let put = |action: &str, stage: &str, pipeline: &str, id: &str| {
            c.put_action_revision()
                .pipeline_name(pipeline)
                .stage_name(stage)
                .action_name(action)
                .action_revision(revision(id))
                .send()
        };
        let first = put("Checkout", "Source", "sdk-revisions", "r1")
            .await
            .expect("PutActionRevision");
        assert!(first.new_revision());
        let first_id = first
            .pipeline_execution_id()
            .expect("an execution")
            .to_owned();
        let execution = c
            .get_pipeline_execution()
            .pipeline_name("sdk-revisions")
            .pipeline_execution_id(&first_id)
            .send()
            .await
            .expect("GetPipelineExecution");
        assert_eq!(
            execution
                .pipeline_execution()
                .and_then(|e| e.trigger())
                .and_then(|t| t.trigger_type()),
            Some(&aws_sdk_codepipeline::types::TriggerType::PutActionRevision)
        );
        assert_eq!(
            finished(c, "sdk-revisions", &first_id).await,
            PipelineExecutionStatus::Succeeded
        );
        let same = put("Checkout", "Source", "sdk-revisions", "r1")
            .await
            .expect("PutActionRevision");
        assert!(!same.new_revision());
        assert_eq!(same.pipeline_execution_id(), Some(first_id.as_str()));
        let second = put("Checkout", "Source", "sdk-revisions", "r2")
            .await
            .expect("PutActionRevision");
        assert!(second.new_revision());
        let second_id = second
            .pipeline_execution_id()
            .expect("an execution")
            .to_owned();
        assert_ne!(second_id, first_id);
        assert_eq!(
            finished(c, "sdk-revisions", &second_id).await,
            PipelineExecutionStatus::Succeeded
        );

        let no_pipeline = put("Checkout", "Source", "nope", "r3")
            .await
            .expect_err("no pipeline");
        assert!(no_pipeline
            .into_service_error()
            .is_pipeline_not_found_exception());
        let no_stage = put("Checkout", "Nope", "sdk-revisions", "r3")
            .await
            .expect_err("no stage");
        assert!(no_stage.into_service_error().is_stage_not_found_exception());
        let no_action = put("Nope", "Source", "sdk-revisions", "r3")
            .await
            .expect_err("no action");
        assert!(no_action
            .into_service_error()
            .is_action_not_found_exception());
        let not_source = put("Run", "Build", "sdk-revisions", "r3")
            .await
            .expect_err("not a source");
        assert!(not_source.into_service_error().is_validation_exception());

        // ListDeployActionExecutionTargets: a Commands action has no deploy targets; unknown ids are not found.
        let actions = c
            .list_action_executions()
            .pipeline_name("sdk-revisions")
            .send()
            .await
            .expect("ListActionExecutions");
        let run = actions
            .action_execution_details()
            .iter()
            .find(|a| a.action_name() == Some("Run"))
            .and_then(|a| a.action_execution_id())
            .expect("Run's execution id")
            .to_owned();
        let targets = c
            .list_deploy_action_execution_targets()
            .pipeline_name("sdk-revisions")
            .action_execution_id(&run)
            .filters(
                TargetFilter::builder()
                    .name(TargetFilterName::TargetStatus)
                    .values("Succeeded")
                    .build(),
            )
            .send()
            .await
            .expect("ListDeployActionExecutionTargets");
        assert!(targets.targets().is_empty());
        let unknown = c
            .list_deploy_action_execution_targets()
            .action_execution_id("nope/Build/Run/1/1")
            .send()
            .await
            .expect_err("unknown");
        assert!(unknown
            .into_service_error()
            .is_action_execution_not_found_exception());
        let other_pipeline = c
            .list_deploy_action_execution_targets()
            .pipeline_name("nope")
            .action_execution_id(&run)
            .send()
            .await
            .expect_err("no pipeline");
        assert!(other_pipeline
            .into_service_error()
            .is_pipeline_not_found_exception());
    });
}

#[test]
fn webhooks_through_the_sdk() {
    let f = fixture();
    let c = &f.client;
    runtime().block_on(async {
        c.create_pipeline()
            .pipeline(pipeline(
                "sdk-hooks",
                vec![source_stage(&f.source), approval_stage()],
            ))
            .send()
            .await
            .expect("CreatePipeline");
        let definition = |name: &str, target: &str| {
            WebhookDefinition::builder()
                .name(name)
                .target_pipeline(target)
                .target_action("Checkout")
                .filters(
                    WebhookFilterRule::builder()
                        .json_path("$.ref")
                        .match_equals("refs/heads/main")
                        .build()
                        .expect("filter"),
                )
                .authentication(WebhookAuthenticationType::Unauthenticated)
                .authentication_configuration(WebhookAuthConfiguration::builder().build())
                .build()
                .expect("webhook")
        };
        let put = c
            .put_webhook()
            .webhook(definition("sdk-push", "sdk-hooks"))
            .send()
            .await
            .expect("PutWebhook");
        assert!(put
            .webhook()
            .map(|w| w.url().ends_with("/webhooks/named/sdk-push"))
            .unwrap_or(false));
        let missing = c
            .put_webhook()
            .webhook(definition("sdk-other", "nope"))
            .send()
            .await
            .expect_err("no pipeline");
        assert!(missing
            .into_service_error()
            .is_pipeline_not_found_exception());
        let listed = c.list_webhooks().send().await.expect("ListWebhooks");
        assert_eq!(listed.webhooks().len(), 1);
        let by_hand = c
            .register_webhook_with_third_party()
            .webhook_name("sdk-push")
            .send()
            .await
            .expect_err("Sluice cannot register at GitHub: it says what to do by hand");
        let by_hand = by_hand.into_service_error();
        assert!(by_hand.is_validation_exception(), "{by_hand:?}");
        let register = c
            .register_webhook_with_third_party()
            .webhook_name("nope")
            .send()
            .await
            .expect_err("unknown webhook");
        assert!(register
            .into_service_error()
            .is_webhook_not_found_exception());
        c.deregister_webhook_with_third_party()
            .webhook_name("sdk-push")
            .send()
            .await
            .expect("DeregisterWebhookWithThirdParty");
        let deregister = c
            .deregister_webhook_with_third_party()
            .webhook_name("nope")
            .send()
            .await
            .expect_err("unknown webhook");
        assert!(deregister
            .into_service_error()
            .is_webhook_not_found_exception());
        c.delete_webhook()
            .name("sdk-push")
            .send()
            .await
            .expect("DeleteWebhook");
        let listed = c.list_webhooks().send().await.expect("ListWebhooks");
        assert!(listed.webhooks().is_empty());
    });
}

#[path = "sdk/rollback.rs"]
mod rollback;
#[path = "sdk/rules.rs"]
mod rules;
#[path = "sdk/versions.rs"]
mod versions;
