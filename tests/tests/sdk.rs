//! The `aws-sdk-codepipeline` crate, a real CodePipeline client, against the built `sluice serve`: every
//! operation Sluice serves, the errors a client sees (typed by the SDK), the job-worker protocol end to end
//! (with `sluice agent` as the worker too), executions that survive a restart of the server, and the CLI as a
//! client printing what it prints locally.

use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_codepipeline::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_codepipeline::error::ProvideErrorMetadata;
use aws_sdk_codepipeline::types::{
    ActionCategory, ActionConfigurationProperty, ActionDeclaration, ActionOwner, ActionTypeId,
    ApprovalResult, ApprovalStatus, ArtifactDetails, ArtifactStore, ArtifactStoreType,
    FailureDetails, FailureType, InputArtifact, OutputArtifact, PipelineDeclaration,
    PipelineExecutionStatus, PipelineType, PipelineVariable, SourceRevisionOverride,
    SourceRevisionType, StageDeclaration, StageRetryMode, StageTransitionType, Tag,
};
use aws_sdk_codepipeline::Client;
use sluice_tests::served::{Server, KEY_ID, SECRET};

fn client(server: &Server, secret: &str) -> Client {
    let config = aws_sdk_codepipeline::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(server.url())
        .credentials_provider(Credentials::new(KEY_ID, secret, None, None, "sluice-tests"))
        .build();
    Client::from_conf(config)
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
