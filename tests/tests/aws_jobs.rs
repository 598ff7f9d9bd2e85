//! Built-in providers in AWS: the dispatch function's handler (`sluice_functions::dispatch::handle`, with the
//! executor its wiring gives it) runs every task of an execution on Step Functions, DynamoDB and S3 (moto), as the
//! pipeline's role (assumed through STS).
//!
//! - An S3 source and an S3 deploy run inside the invocation, over S3; artifacts are encrypted with the
//!   pipeline's `artifactStore.encryptionKey`, deployed objects with the deploy's `KMSEncryptionKeyARN`.
//! - A CodeBuild action starts a real StartBuild on the project (moto records it, with the artifact location the
//!   runtime chose); the suite then plays CodeBuild: it uploads the build's output zip where it was told to and
//!   delivers the "CodeBuild Build State Change" event to the same handler, which completes the action.
//! - A Commands action starts a build of the commands project; a FAILED event fails it, naming the phase, and a
//!   late or foreign event changes nothing.
//!
//! - The AWS providers leave a wait in DynamoDB and return: a CloudFormation stack's status-change event ends
//!   its wait (a foreign or repeated event changes nothing), for CREATE_UPDATE with outputs as variables and
//!   file, for a change set made and executed, and for a deletion; an ECS deployment's event ends an image
//!   rollout (a container the task definition lacks fails at once); a Step Functions invoke with no event is
//!   looked at by the one-minute `check-waiting` once due; abandoning a CodeDeploy action removes its wait.
//!   (The Lambda invoke runs through the function binaries in `functions.rs`.)
//! - An ECR source describes the tagged image, or the digest the execution was pinned to.
//! - An execution pinned to an S3 object version fetches that version after a newer upload.
//! - The recorder's sweep closes an execution whose end event was lost, as DescribeExecution tells.
//! - Git sources (CodeStarSourceConnection, CodeCommit, GitHub version 1) start builds of the sources project
//!   with the repository, version and buildspec the job needs; the build's commit is the execution's artifact
//!   revision. A CodeCommit branch event starts one pinned execution through the trigger handler.
//! - The poll schedule starts an execution when an S3 object's version or a GitHub branch (a loopback git
//!   server) changes, and not before.
//!
//! moto does not run builds; it records StartBuild. Everything on Sluice's side is the code that runs in Lambda.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use serde_json::{json, Value};
use sluice_aws::StepFunctionsOrchestrator;
use sluice_definition::{load, Limits, Syntax};
use sluice_functions::builds::Builds;
use sluice_functions::executor::AwsExecutor;
use sluice_runtime::jobs::{Executor, JobListener};
use sluice_runtime::records::{ActionRecord, ActionStatus, ExecutionStatus, RevisionOverride};
use sluice_runtime::{Runtime, StartRequest};
use sluice_tests::codestar_connections::{ConnectionsStandIn, KnownConnection};
use sluice_tests::moto::{self, config, unique, ACCOUNT};
use sluice_tests::moto_stack::MotoStack;
use sluice_tests::{unzipped, zip_of};

const ROLE: &str = "arn:aws:iam::123456789012:role/sluice-pipeline-web";
const ARTIFACT_KEY: &str =
    "arn:aws:kms:us-east-1:123456789012:key/5f1d7a2e-0c3b-4e8a-9d6f-2b4c8e1a7f30";
const SITE_KEY: &str =
    "arn:aws:kms:us-east-1:123456789012:key/c2e9b4a1-7d5f-4f3e-8a6b-1d0c9e8f7a65";

struct Stack {
    runtime: Arc<Runtime>,
    executor: Arc<AwsExecutor>,
    sfn: Arc<StepFunctionsOrchestrator>,
    s3: aws_sdk_s3::Client,
    codebuild: aws_sdk_codebuild::Client,
    sdk: aws_config::SdkConfig,
    /// The sources project git source actions run in (created by the tests that run them).
    sources: String,
    _jobs: tempfile::TempDir,
}

/// The runtime as the dispatch function wires it (DynamoDB, S3, Step Functions, EventBridge; the AWS executor
/// with the runtime as its listener), on moto.
async fn stack(commands_project: Option<&str>) -> Stack {
    let parts = MotoStack::open("jobs").await;
    let jobs = tempfile::tempdir().expect("temp");
    let sources = unique("sluice-sources");
    let executor = Arc::new(
        AwsExecutor::new(
            parts.sdk.clone(),
            parts.store.clone(),
            jobs.path(),
            commands_project.map(str::to_owned),
            None,
        )
        .with_sources_project(Some(sources.clone()))
        .with_connections(aws_sdk_codestarconnections::Client::from_conf(
            aws_sdk_codestarconnections::config::Builder::from(&parts.sdk)
                .endpoint_url(connections().url())
                .build(),
        )),
    );
    let runtime = parts.runtime(executor.clone());
    let listener: std::sync::Weak<dyn JobListener> = Arc::downgrade(&runtime) as _;
    executor.set_listener(listener);
    Stack {
        runtime,
        executor,
        sfn: parts.sfn,
        s3: parts.s3,
        codebuild: aws_sdk_codebuild::Client::new(&parts.sdk),
        sdk: parts.sdk.clone(),
        sources,
        _jobs: jobs,
    }
}

impl Stack {
    async fn bucket(&self, prefix: &str) -> String {
        let name = unique(prefix);
        self.s3
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .expect("bucket");
        name
    }

    /// Puts a zip of `files` at `bucket/key`; the version id S3 gave it (empty when unversioned).
    async fn upload(&self, bucket: &str, key: &str, files: &[(&str, &str)]) -> String {
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(zip_of(files)))
            .send()
            .await
            .unwrap_or_else(|e| panic!("s3://{bucket}/{key}: {e}"))
            .version_id()
            .unwrap_or_default()
            .to_owned()
    }

    /// Stores the pipeline and starts it; the execution id.
    async fn start(&self, pipeline: sluice_definition::Pipeline, request: StartRequest) -> String {
        let name = pipeline.name.clone();
        self.runtime
            .put_pipeline(pipeline, None)
            .await
            .expect("stored");
        self.runtime
            .start_execution(&name, request)
            .await
            .expect("started")
            .execution_id
    }

    async fn project(&self, name: &str) {
        sluice_tests::moto::codebuild_project(&self.sdk, name).await;
    }

    /// Plays the dispatch function until `done` holds or the execution ends; returns the execution's status.
    async fn dispatch(
        &self,
        pipeline: &str,
        id: &str,
        seen: &mut HashSet<i64>,
        mut done: impl FnMut(&[ActionRecord]) -> bool,
    ) -> String {
        let arn = self.sfn.execution_arn(pipeline, id);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            for task in moto::new_tasks(self.sfn.client(), &arn, seen).await {
                let payload = serde_json::to_value(&task.request).expect("payload");
                sluice_functions::dispatch::handle(&self.runtime, &self.executor, payload)
                    .await
                    .unwrap_or_else(|e| panic!("{}: {e}", moto::describe(&task.request)));
            }
            if done(&self.runtime.actions(id).await.expect("actions")) {
                return "RUNNING".into();
            }
            let status = moto::status(self.sfn.client(), &arn).await;
            if status != "RUNNING" {
                for a in self.runtime.actions(id).await.expect("actions") {
                    eprintln!("{}.{}: {:?} {:?}", a.stage, a.action, a.status, a.error);
                }
                return status;
            }
            assert!(Instant::now() < deadline, "{arn} still RUNNING after 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Plays the dispatch function until action `name` is waiting for its build; the execution's status.
    async fn until_building(
        &self,
        pipeline: &str,
        id: &str,
        seen: &mut HashSet<i64>,
        name: &str,
    ) -> String {
        self.dispatch(pipeline, id, seen, |actions| {
            actions
                .iter()
                .any(|a| a.action == name && a.status == ActionStatus::InProgress)
        })
        .await
    }

    async fn action(&self, id: &str, name: &str) -> ActionRecord {
        self.runtime
            .actions(id)
            .await
            .expect("actions")
            .into_iter()
            .rfind(|a| a.action == name)
            .unwrap_or_else(|| panic!("no action {name}"))
    }

    /// The one build StartBuild made in `project` so far (moto's record of it).
    async fn only_build(&self, project: &str) -> aws_sdk_codebuild::types::Build {
        let ids = self
            .codebuild
            .list_builds_for_project()
            .project_name(project)
            .send()
            .await
            .expect("list builds")
            .ids()
            .to_vec();
        assert_eq!(ids.len(), 1, "one build of {project}: {ids:?}");
        self.codebuild
            .batch_get_builds()
            .set_ids(Some(ids))
            .send()
            .await
            .expect("get build")
            .builds()[0]
            .clone()
    }

    async fn kms_key_of(&self, bucket: &str, key: &str) -> String {
        let head = self
            .s3
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("s3://{bucket}/{key}: {e}"));
        assert_eq!(
            head.server_side_encryption(),
            Some(&aws_sdk_s3::types::ServerSideEncryption::AwsKms),
            "s3://{bucket}/{key}"
        );
        head.ssekms_key_id().unwrap_or_default().to_owned()
    }

    async fn read(&self, bucket: &str, key: &str) -> Vec<u8> {
        self.s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("s3://{bucket}/{key}: {e}"))
            .body
            .collect()
            .await
            .expect("body")
            .to_vec()
    }
}

/// CodeBuild's "Build State Change" event for a build of Sluice's job `job_id`.
fn build_event(build_arn: &str, project: &str, status: &str, job_id: &str, phases: Value) -> Value {
    json!({
        "version": "0",
        "id": "5d1c0a8e-0000-4000-8000-00000000b11d",
        "detail-type": "CodeBuild Build State Change",
        "source": "aws.codebuild",
        "account": ACCOUNT,
        "time": "2026-11-26T10:00:00Z",
        "region": "us-east-1",
        "resources": [build_arn],
        "detail": {
            "build-status": status,
            "project-name": project,
            "build-id": build_arn,
            "current-phase": "COMPLETED",
            "current-phase-context": "[: ]",
            "version": "1",
            "additional-information": {
                "build-complete": true,
                "environment": {
                    "image": "aws/codebuild/standard:7.0",
                    "type": "LINUX_CONTAINER",
                    "environment-variables": [
                        {"name": "SITE", "value": "web", "type": "PLAINTEXT"},
                        {"name": "SLUICE_JOB_ID", "value": job_id, "type": "PLAINTEXT"}
                    ]
                },
                "phases": phases
            }
        }
    })
}

/// A `Source` stage whose action `Fetch` takes the zip at `bucket/key` as the artifact `Src`.
fn source_stage(bucket: &str, key: &str) -> Value {
    json!({"name": "Source", "actions": [{
        "name": "Fetch",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"S3Bucket": bucket, "S3ObjectKey": key, "PollForSourceChanges": "false"},
        "outputArtifacts": [{"name": "Src"}]
    }]})
}

fn pipeline(name: &str, stages: Value) -> sluice_definition::Pipeline {
    pipeline_with(name, stages, json!({}))
}

/// A pipeline with more top-level fields (`artifactStore`, ...).
fn pipeline_with(name: &str, stages: Value, more: Value) -> sluice_definition::Pipeline {
    let mut doc = json!({"pipeline": {
        "name": name,
        "roleArn": ROLE,
        "pipelineType": "V2",
        "stages": stages,
    }});
    for (k, v) in more.as_object().expect("an object") {
        doc["pipeline"][k] = v.clone();
    }
    load(&doc.to_string(), Syntax::Json, &Limits::default())
        .expect("valid")
        .pipeline
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_source_a_codebuild_build_and_an_s3_deploy_run_in_aws() {
    let stack = stack(None).await;
    let sources = stack.bucket("sluice-src").await;
    let site = stack.bucket("sluice-site").await;
    // The pipeline's own artifact store: not the stack's bucket.
    let team = stack.bucket("team-artifacts").await;
    stack
        .upload(&sources, "web/source.zip", &[("index.md", "# Hello")])
        .await;
    let project = unique("web-build");
    stack.project(&project).await;
    let name = unique("web");
    let p = pipeline_with(
        &name,
        json!([
            source_stage(&sources, "web/source.zip"),
            {"name": "Build", "actions": [{
                "name": "Render",
                "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                "configuration": {
                    "ProjectName": project,
                    "EnvironmentVariables": "[{\"name\":\"SITE\",\"value\":\"web\",\"type\":\"PLAINTEXT\"}]"
                },
                "inputArtifacts": [{"name": "Src"}],
                "outputArtifacts": [{"name": "Site"}]
            }]},
            {"name": "Deploy", "actions": [{
                "name": "Publish",
                "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {
                    "BucketName": site, "Extract": "true", "ObjectKey": "live",
                    "KMSEncryptionKeyARN": SITE_KEY
                },
                "inputArtifacts": [{"name": "Site"}]
            }]}
        ]),
        json!({"artifactStore": {
            "type": "S3",
            "location": team,
            "encryptionKey": {"id": ARTIFACT_KEY, "type": "KMS"}
        }}),
    );
    let id = stack.start(p, StartRequest::default()).await;
    let mut seen = HashSet::new();

    // Source runs inline; Build starts a build and waits.
    let status = stack.until_building(&name, &id, &mut seen, "Render").await;
    assert_eq!(status, "RUNNING");
    let fetch = stack.action(&id, "Fetch").await;
    assert_eq!(fetch.status, ActionStatus::Succeeded, "{fetch:?}");
    // The source artifact is encrypted with the pipeline's artifact key.
    let stored = &fetch.output_artifacts[0].object;
    assert_eq!(
        stack.kms_key_of(&stored.bucket, &stored.key).await,
        ARTIFACT_KEY
    );
    let render = stack.action(&id, "Render").await;
    // Artifacts go to the pipeline's artifactStore.location, encrypted with its key.
    assert_eq!(stored.bucket, team);
    let src = &render.input_artifacts[0].object;
    assert_eq!(src.bucket, team);

    // StartBuild was asked to put the output zip in the artifact bucket (moto keeps the artifacts override's
    // location; its answer drops the path and name, whose mapping from the job is unit-tested in
    // sluice_functions::builds), at the key the build's record gives for the Site artifact.
    let build = stack.only_build(&project).await;
    let location = build
        .artifacts()
        .and_then(|a| a.location())
        .expect("artifacts override")
        .to_owned();
    assert_eq!(location, team);
    let record = Builds::new(stack.runtime.store.clone())
        .record(&render.job_id())
        .await
        .expect("read")
        .expect("the build is recorded");
    assert_eq!(record.project, project);
    assert_eq!(record.build_id.as_deref(), build.id());
    let key = record.job.outputs[0].key.clone();
    assert!(key.starts_with(&format!("{name}/Site/")), "{key}");
    let build_arn = build.arn().expect("arn").to_owned();

    // Playing CodeBuild: the source went in, the rendered site comes out.
    let source = stack.read(&src.bucket, &src.key).await;
    assert!(!source.is_empty());
    stack
        .s3
        .put_object()
        .bucket(&location)
        .key(&key)
        .body(ByteStream::from(zip_of(&[
            ("index.html", "<h1>Hello</h1>"),
            ("css/site.css", "h1 {}"),
        ])))
        .send()
        .await
        .expect("build output");
    let phases = json!([{"phase-type": "BUILD", "phase-status": "SUCCEEDED"}]);
    let event = build_event(&build_arn, &project, "SUCCEEDED", &render.job_id(), phases);
    let answer = sluice_functions::dispatch::handle(&stack.runtime, &stack.executor, event.clone())
        .await
        .expect("build event");
    assert_eq!(answer["completed"], json!(render.job_id()), "{answer}");

    let status = stack.dispatch(&name, &id, &mut seen, |_| false).await;
    assert_eq!(status, "SUCCEEDED");
    let render = stack.action(&id, "Render").await;
    assert_eq!(render.status, ActionStatus::Succeeded, "{render:?}");
    assert_eq!(render.output_artifacts[0].object.key, key);
    assert_eq!(
        stack.read(&site, "live/index.html").await,
        b"<h1>Hello</h1>"
    );
    assert_eq!(stack.read(&site, "live/css/site.css").await, b"h1 {}");
    // The deployed objects with the deploy's KMSEncryptionKeyARN.
    assert_eq!(stack.kms_key_of(&site, "live/index.html").await, SITE_KEY);

    // The same event again (EventBridge delivers at least once) changes nothing.
    let again = sluice_functions::dispatch::handle(&stack.runtime, &stack.executor, event)
        .await
        .expect("redelivered event");
    assert_eq!(again["completed"], json!(render.job_id()), "{again}");
    assert_eq!(stack.action(&id, "Render").await, render);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commands_build_that_fails_fails_its_action_naming_the_phase() {
    let commands = unique("sluice-commands");
    let stack = stack(Some(&commands)).await;
    stack.project(&commands).await;
    let sources = stack.bucket("sluice-src").await;
    stack
        .upload(&sources, "app.zip", &[("Makefile", "all:\n\tfalse\n")])
        .await;
    let name = unique("app");
    let p = pipeline(
        &name,
        json!([
            source_stage(&sources, "app.zip"),
            {"name": "Test", "actions": [{
                "name": "Make",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": ["make all"],
                "inputArtifacts": [{"name": "Src"}]
            }]}
        ]),
    );
    let id = stack.start(p, StartRequest::default()).await;
    let mut seen = HashSet::new();
    let status = stack.until_building(&name, &id, &mut seen, "Make").await;
    assert_eq!(status, "RUNNING");
    let make = stack.action(&id, "Make").await;
    let build = stack.only_build(&commands).await;
    let build_arn = build.arn().expect("arn").to_owned();

    // A build Sluice did not start, and one of a job Sluice does not know, are ignored.
    let mut foreign = build_event(&build_arn, &commands, "FAILED", "x", json!([]));
    foreign["detail"]["additional-information"]["environment"]["environment-variables"] =
        json!([{"name": "SITE", "value": "web", "type": "PLAINTEXT"}]);
    let unknown = build_event(
        &build_arn,
        &commands,
        "FAILED",
        "no/such/job/1/1",
        json!([]),
    );
    for event in [foreign, unknown] {
        let answer = sluice_functions::dispatch::handle(&stack.runtime, &stack.executor, event)
            .await
            .expect("ignored");
        assert!(answer["ignored"].is_string(), "{answer}");
    }
    assert_eq!(
        stack.action(&id, "Make").await.status,
        ActionStatus::InProgress
    );

    let phases = json!([
        {"phase-type": "SUBMITTED", "phase-status": "SUCCEEDED"},
        {"phase-type": "BUILD", "phase-status": "FAILED", "phase-context": [
            "COMMAND_EXECUTION_ERROR: Error while executing command: make all. Reason: exit status 2"
        ]},
        {"phase-type": "COMPLETED"}
    ]);
    let failed = build_event(&build_arn, &commands, "FAILED", &make.job_id(), phases);
    sluice_functions::dispatch::handle(&stack.runtime, &stack.executor, failed)
        .await
        .expect("build event");
    let status = stack.dispatch(&name, &id, &mut seen, |_| false).await;
    assert_eq!(status, "FAILED");
    let make = stack.action(&id, "Make").await;
    assert_eq!(make.status, ActionStatus::Failed);
    let error = make.error.clone().unwrap_or_default();
    assert!(
        error.contains("ended FAILED in phase BUILD")
            && error.contains("Error while executing command: make all"),
        "{error}"
    );
    // A late success for the same job changes nothing.
    let late = build_event(
        &build_arn,
        &commands,
        "SUCCEEDED",
        &make.job_id(),
        json!([]),
    );
    sluice_functions::dispatch::handle(&stack.runtime, &stack.executor, late)
        .await
        .expect("late event");
    assert_eq!(stack.action(&id, "Make").await.status, ActionStatus::Failed);
}

/// An execution whose end event never reached the recorder (the suite plays dispatch only) is closed by the
/// recorder's sweep, as Step Functions tells: DescribeExecution says SUCCEEDED, so the record does too, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sweep_closes_an_execution_whose_end_event_was_lost() {
    let stack = stack(None).await;
    let sources = stack.bucket("sluice-src").await;
    stack
        .upload(&sources, "notes.zip", &[("notes.txt", "lost and found")])
        .await;
    let name = unique("notes");
    let p = pipeline(
        &name,
        json!([
            source_stage(&sources, "notes.zip"),
            {"name": "Keep", "actions": [{
                "name": "Copy",
                "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"BucketName": sources, "Extract": "false", "ObjectKey": "kept.zip"},
                "inputArtifacts": [{"name": "Src"}]
            }]}
        ]),
    );
    let id = stack.start(p, StartRequest::default()).await;
    let status = stack
        .dispatch(&name, &id, &mut HashSet::new(), |_| false)
        .await;
    assert_eq!(status, "SUCCEEDED");
    let open = stack.runtime.execution(&id).await.expect("record");
    assert!(!open.status.is_final(), "nobody recorded the end: {open:?}");

    let swept = sluice_functions::recorder::sweep(&stack.runtime, "Sluice/test", 0)
        .await
        .expect("sweep");
    assert_eq!(swept["closed"], json!([id]), "{swept}");
    let closed = stack.runtime.execution(&id).await.expect("record");
    assert_eq!(closed.status, ExecutionStatus::Succeeded);
    let again = sluice_functions::recorder::sweep(&stack.runtime, "Sluice/test", 0)
        .await
        .expect("sweep");
    assert_eq!(again["closed"], json!([]), "{again}");
}

/// An execution pinned to an S3 object version (as the trigger function pins the version an upload event
/// announced) fetches that version, though a newer one was uploaded since.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pinned_s3_version_is_fetched_after_a_newer_upload() {
    let stack = stack(None).await;
    let sources = stack.bucket("sluice-src").await;
    moto::enable_versioning(&stack.s3, &sources).await;
    let mut versions = Vec::new();
    for text in ["first upload", "second upload"] {
        versions.push(
            stack
                .upload(&sources, "site.zip", &[("index.html", text)])
                .await,
        );
    }
    let site = stack.bucket("sluice-site").await;
    let name = unique("pinned");
    let p = pipeline(
        &name,
        json!([
            source_stage(&sources, "site.zip"),
            {"name": "Deploy", "actions": [{
                "name": "Publish",
                "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"BucketName": site, "Extract": "true"},
                "inputArtifacts": [{"name": "Src"}]
            }]}
        ]),
    );
    let request = StartRequest {
        source_revisions: vec![RevisionOverride {
            action_name: "Fetch".into(),
            revision_type: "S3_OBJECT_VERSION_ID".into(),
            revision_value: versions[0].clone(),
        }],
        ..Default::default()
    };
    let id = stack.start(p, request).await;
    let status = stack
        .dispatch(&name, &id, &mut HashSet::new(), |_| false)
        .await;
    assert_eq!(status, "SUCCEEDED");
    assert_eq!(stack.read(&site, "index.html").await, b"first upload");
    let fetch = stack.action(&id, "Fetch").await;
    assert_eq!(
        fetch.revision.map(|r| r.revision_id),
        Some(versions[0].clone())
    );
}

/// An ECR source: the image the tag names, or the digest the execution was pinned to (as the trigger function
/// pins a push), becomes an `imageDetail.json` artifact and output variables, as CodePipeline makes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ecr_source_describes_the_tagged_or_pinned_image() {
    let stack = stack(None).await;
    let ecr = aws_sdk_ecr::Client::new(&config().await);
    let repository = unique("web-image");
    ecr.create_repository()
        .repository_name(&repository)
        .send()
        .await
        .expect("repository");
    let mut digests = Vec::new();
    for layer in ["1111", "2222"] {
        // Each push moves the tag `latest`.
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
                       "digest": format!("sha256:{}", layer.repeat(16))},
            "layers": []
        });
        let pushed = ecr
            .put_image()
            .repository_name(&repository)
            .image_manifest(manifest.to_string())
            .image_tag("latest")
            .send()
            .await
            .expect("push");
        digests.push(
            pushed
                .image()
                .and_then(|i| i.image_id())
                .and_then(|i| i.image_digest())
                .expect("a digest")
                .to_owned(),
        );
    }
    let out = stack.bucket("sluice-out").await;
    let name = unique("image");
    let p = pipeline(
        &name,
        json!([
            {"name": "Source", "actions": [{
                "name": "Image",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "ECR", "version": "1"},
                "configuration": {"RepositoryName": repository},
                "outputArtifacts": [{"name": "Img"}],
                "namespace": "SourceVariables"
            }]},
            {"name": "Keep", "actions": [{
                "name": "Copy",
                "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"BucketName": out, "Extract": "true"},
                "inputArtifacts": [{"name": "Img"}]
            }]}
        ]),
    );
    stack.runtime.put_pipeline(p, None).await.expect("stored");
    for (pin, want) in [(None, &digests[1]), (Some(&digests[0]), &digests[0])] {
        let request = StartRequest {
            source_revisions: pin
                .map(|d| RevisionOverride {
                    action_name: "Image".into(),
                    revision_type: "IMAGE_DIGEST".into(),
                    revision_value: d.clone(),
                })
                .into_iter()
                .collect(),
            ..Default::default()
        };
        let id = stack
            .runtime
            .start_execution(&name, request)
            .await
            .expect("started")
            .execution_id;
        let status = stack
            .dispatch(&name, &id, &mut HashSet::new(), |_| false)
            .await;
        assert_eq!(status, "SUCCEEDED", "pinned to {pin:?}");
        let detail: Value =
            serde_json::from_slice(&stack.read(&out, "imageDetail.json").await).expect("JSON");
        assert_eq!(&detail["ImageDigest"], want, "{detail}");
        assert_eq!(detail["RepositoryName"], json!(repository));
        assert_eq!(
            detail["ImageURI"],
            json!(format!(
                "{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{repository}@{want}"
            ))
        );
        let image = stack.action(&id, "Image").await;
        assert_eq!(image.output_variables["ImageDigest"], *want);
        assert_eq!(image.revision.map(|r| r.revision_id).as_ref(), Some(want));
    }
}

/// A CloudFormation stack-status event of `stack_id`, as EventBridge delivers it.
fn stack_event(stack_id: &str, status: &str) -> Value {
    json!({
        "version": "0",
        "source": "aws.cloudformation",
        "detail-type": "CloudFormation Stack Status Change",
        "account": ACCOUNT,
        "region": "us-east-1",
        "resources": [stack_id],
        "detail": {"stack-id": stack_id, "status-details": {"status": status, "status-reason": ""}}
    })
}

/// A CloudFormation action in AWS: the invocation that starts the stack returns at once and leaves a wait in
/// DynamoDB; the stack's status-change event wakes it, and the stack's outputs reach the next action as variables
/// and as the output file. The same event again, and an event of another stack, change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cloudformation_deploy_waits_in_the_store_and_an_event_ends_it() {
    let stack = stack(None).await;
    let sources = stack.bucket("sluice-src").await;
    let site = stack.bucket("sluice-site").await;
    let stack_name = unique("orders");
    stack
        .upload(
            &sources,
            "infra/source.zip",
            &[(
                "stack.json",
                r#"{"Parameters": {"Stage": {"Type": "String"}},
                    "Resources": {"Topic": {"Type": "AWS::SNS::Topic",
                        "Properties": {"TopicName": {"Fn::Sub": "${AWS::StackName}-${Stage}"}}}},
                    "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}}}}"#,
            )],
        )
        .await;
    let name = unique("infra");
    let p = pipeline(
        &name,
        json!([
            source_stage(&sources, "infra/source.zip"),
            {"name": "Deploy", "actions": [{
                "name": "Stack",
                "namespace": "Stack",
                "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CloudFormation", "version": "1"},
                "configuration": {
                    "ActionMode": "CREATE_UPDATE",
                    "StackName": stack_name,
                    "TemplatePath": "Src::stack.json",
                    "ParameterOverrides": "{\"Stage\": \"gamma\"}",
                    "OutputFileName": "outputs.json"
                },
                "inputArtifacts": [{"name": "Src"}],
                "outputArtifacts": [{"name": "Outputs"}]
            }, {
                "name": "Publish",
                "runOrder": 2,
                "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"BucketName": site, "Extract": "true", "ObjectKey": "#{Stack.TopicArn}"},
                "inputArtifacts": [{"name": "Outputs"}]
            }]}
        ]),
    );
    let id = stack.start(p, StartRequest::default()).await;
    let mut seen = HashSet::new();
    let status = stack
        .dispatch(&name, &id, &mut seen, |actions| {
            actions
                .iter()
                .any(|a| a.action == "Stack" && a.external.is_some())
        })
        .await;
    assert_eq!(status, "RUNNING");
    let waiting = stack.action(&id, "Stack").await;
    assert_eq!(waiting.status, ActionStatus::InProgress, "{waiting:?}");
    let stack_id = waiting.external.clone().expect("external").id;
    assert!(
        stack_id.starts_with("arn:aws:cloudformation:"),
        "{stack_id}"
    );
    assert!(stack.executor.is_running(&waiting.job_id()).await);

    // Another stack's event and a check before anything is due look at nothing.
    let other = stack_event(
        "arn:aws:cloudformation:us-east-1:123456789012:stack/other/0a1b",
        "CREATE_COMPLETE",
    );
    let answer = sluice_functions::dispatch::handle(&stack.runtime, &stack.executor, other)
        .await
        .expect("foreign event");
    assert_eq!(answer["lookedAt"], json!([]), "{answer}");
    let check = json!({"sluice": "check-waiting"});
    let answer = sluice_functions::dispatch::handle(&stack.runtime, &stack.executor, check)
        .await
        .expect("check");
    assert_eq!(answer["lookedAt"], json!(0), "{answer}");
    assert_eq!(
        stack.action(&id, "Stack").await.status,
        ActionStatus::InProgress
    );

    // The stack's event ends the wait.
    let event = stack_event(&stack_id, "CREATE_COMPLETE");
    let answer = sluice_functions::dispatch::handle(&stack.runtime, &stack.executor, event.clone())
        .await
        .expect("stack event");
    assert_eq!(answer["lookedAt"], json!([waiting.job_id()]), "{answer}");
    let status = stack.dispatch(&name, &id, &mut seen, |_| false).await;
    assert_eq!(status, "SUCCEEDED");
    let done = stack.action(&id, "Stack").await;
    assert_eq!(done.status, ActionStatus::Succeeded, "{done:?}");
    let topic = done.output_variables["TopicArn"].clone();
    assert!(topic.ends_with(&format!(":{stack_name}-gamma")), "{topic}");
    let outputs: Value =
        serde_json::from_slice(&stack.read(&site, &format!("{topic}/outputs.json")).await)
            .expect("outputs file");
    assert_eq!(outputs["TopicArn"], json!(topic));
    assert!(!stack.executor.is_running(&done.job_id()).await);

    // Delivered again: nothing waits on it any more.
    let again = sluice_functions::dispatch::handle(&stack.runtime, &stack.executor, event)
        .await
        .expect("redelivered event");
    assert_eq!(again["lookedAt"], json!([]), "{again}");
    assert_eq!(stack.action(&id, "Stack").await, done);
}

/// With no event (a Step Functions execution's events are not delivered here), the one-minute check looks at a
/// wait once it is due and ends it; an execution that fails fails the action with its error and cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_step_functions_invoke_is_looked_at_when_due() {
    let stack = stack(None).await;
    let sdk = config().await;
    let sources = stack.bucket("sluice-src").await;
    stack
        .upload(
            &sources,
            "in/source.zip",
            &[("input.json", r#"{"order": 41}"#)],
        )
        .await;
    let ok = moto::state_machine(
        &sdk,
        &unique("approve"),
        r#"{"StartAt": "Ok", "States": {"Ok": {"Type": "Pass", "Result": "approved", "ResultPath": "$.verdict", "End": true}}}"#,
    )
    .await;
    let bad = moto::state_machine(
        &sdk,
        &unique("refuse"),
        r#"{"StartAt": "No", "States": {"No": {"Type": "Fail", "Error": "Order.Refused", "Cause": "stock is short"}}}"#,
    )
    .await;
    for (machine_arn, expected) in [(&ok, "SUCCEEDED"), (&bad, "FAILED")] {
        let name = unique("orders");
        let p = pipeline(
            &name,
            json!([
                source_stage(&sources, "in/source.zip"),
                {"name": "Decide", "actions": [{
                    "name": "Run",
                    "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "StepFunctions", "version": "1"},
                    "configuration": {"StateMachineArn": machine_arn, "InputType": "FilePath", "Input": "input.json"},
                    "inputArtifacts": [{"name": "Src"}],
                    "outputArtifacts": [{"name": "Verdict"}]
                }]}
            ]),
        );
        let id = stack.start(p, StartRequest::default()).await;
        let mut seen = HashSet::new();
        stack
            .dispatch(&name, &id, &mut seen, |actions| {
                actions
                    .iter()
                    .any(|a| a.action == "Run" && a.external.is_some())
            })
            .await;
        let job = stack.action(&id, "Run").await.job_id();
        let started = Instant::now();
        let mut looked = 0;
        while looked == 0 {
            assert!(started.elapsed() < Duration::from_secs(30), "never due");
            tokio::time::sleep(Duration::from_millis(500)).await;
            let answer = sluice_functions::dispatch::handle(
                &stack.runtime,
                &stack.executor,
                json!({"sluice": "check-waiting"}),
            )
            .await
            .expect("check");
            looked = answer["lookedAt"].as_u64().expect("a count");
        }
        // The first wait is five seconds.
        assert!(
            started.elapsed() >= Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert!(!stack.executor.is_running(&job).await);
        let status = stack.dispatch(&name, &id, &mut seen, |_| false).await;
        assert_eq!(status, expected);
        let run = stack.action(&id, "Run").await;
        if expected == "SUCCEEDED" {
            let out = &run.output_artifacts[0].object;
            let said = unzipped(&stack.read(&out.bucket, &out.key).await, "output.json");
            assert!(said.contains("approved") && said.contains("41"), "{said}");
        } else {
            let error = format!("{:?}", run.error);
            assert!(error.contains("Order.Refused: stock is short"), "{error}");
        }
    }
}

/// A CodeDeploy deployment waits in the store; abandoning the execution stops the deployment's wait at once (no
/// check finds it afterwards) and asks CodeDeploy to stop it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_abandoned_codedeploy_action_stops_waiting() {
    let stack = stack(None).await;
    let sources = stack.bucket("sluice-src").await;
    stack
        .upload(
            &sources,
            "app/source.zip",
            &[("appspec.yml", "version: 0.0\nos: linux\n")],
        )
        .await;
    let sdk = config().await;
    let cd = aws_sdk_codedeploy::Client::new(&sdk);
    let (app, group) = moto::codedeploy_group(&cd, false).await;
    let name = unique("fleet");
    let p = pipeline(
        &name,
        json!([
            source_stage(&sources, "app/source.zip"),
            {"name": "Deploy", "actions": [{
                "name": "Fleet",
                "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CodeDeploy", "version": "1"},
                "configuration": {"ApplicationName": app, "DeploymentGroupName": group},
                "inputArtifacts": [{"name": "Src"}]
            }]}
        ]),
    );
    let id = stack.start(p, StartRequest::default()).await;
    let mut seen = HashSet::new();
    stack
        .dispatch(&name, &id, &mut seen, |actions| {
            actions
                .iter()
                .any(|a| a.action == "Fleet" && a.external.is_some())
        })
        .await;
    let fleet = stack.action(&id, "Fleet").await;
    let deployment = fleet.external.clone().expect("external").id;
    let revision = cd
        .get_deployment()
        .deployment_id(&deployment)
        .send()
        .await
        .expect("deployment")
        .deployment_info()
        .and_then(|i| i.revision())
        .and_then(|r| r.s3_location())
        .cloned()
        .expect("an S3 revision");
    // In AWS the input artifact is already in S3: the deployment reads it where it is.
    let input = &fleet.input_artifacts[0].object;
    assert_eq!(revision.bucket(), Some(input.bucket.as_str()));
    assert_eq!(revision.key(), Some(input.key.as_str()));
    assert!(stack.executor.is_running(&fleet.job_id()).await);

    stack
        .runtime
        .stop_execution(&id, true, "the release is off")
        .await
        .expect("stopped");
    assert!(!stack.executor.is_running(&fleet.job_id()).await);
    let fleet = stack.action(&id, "Fleet").await;
    assert_eq!(fleet.status, ActionStatus::Abandoned, "{fleet:?}");
    // (moto ends the stopped state machine only once its waiting task returns; aws_stack.rs has that case.)
    let answer = sluice_functions::dispatch::handle(
        &stack.runtime,
        &stack.executor,
        json!({"source": "aws.codedeploy", "detail-type": "CodeDeploy Deployment State-change Notification",
               "resources": [], "detail": {"deploymentId": deployment, "state": "SUCCESS"}}),
    )
    .await
    .expect("late event");
    assert_eq!(answer["lookedAt"], json!([]), "{answer}");
    assert_eq!(stack.action(&id, "Fleet").await, fleet);
}

/// Plays the dispatch function until action `name` shows its external execution (its work started and waits).
impl Stack {
    async fn until_waiting(&self, pipeline: &str, id: &str, seen: &mut HashSet<i64>, name: &str) {
        let status = self
            .dispatch(pipeline, id, seen, |actions| {
                actions.iter().any(|a| {
                    a.action == name && a.status == ActionStatus::InProgress && a.external.is_some()
                })
            })
            .await;
        assert_eq!(status, "RUNNING", "{name} never waited");
    }

    /// Delivers `event` to the dispatch handler; the job ids it looked at.
    async fn deliver(&self, event: Value) -> Value {
        let answer = sluice_functions::dispatch::handle(&self.runtime, &self.executor, event)
            .await
            .expect("event");
        answer["lookedAt"].clone()
    }
}

/// CloudFormation change sets in AWS: CHANGE_SET_REPLACE makes a change set and waits for it, CHANGE_SET_EXECUTE
/// executes it and waits for the stack, DELETE_ONLY deletes the stack; each wait is ended by the stack's event.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cloudformation_change_sets_and_deletion_run_in_aws() {
    let stack = stack(None).await;
    let sources = stack.bucket("sluice-src").await;
    let stack_name = unique("queues");
    stack
        .upload(
            &sources,
            "infra/source.zip",
            &[(
                "stack.json",
                r#"{"Resources": {"Jobs": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Sub": "${AWS::StackName}-jobs"}}}}}"#,
            )],
        )
        .await;
    let cfn_action = |name: &str, run_order: u32, config: Value| {
        json!({
            "name": name,
            "runOrder": run_order,
            "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CloudFormation", "version": "1"},
            "configuration": config,
            "inputArtifacts": [{"name": "Src"}]
        })
    };
    let name = unique("queues");
    let p = pipeline(
        &name,
        json!([
            source_stage(&sources, "infra/source.zip"),
            {"name": "Deploy", "actions": [
                cfn_action("Plan", 1, json!({"ActionMode": "CHANGE_SET_REPLACE", "StackName": stack_name,
                    "ChangeSetName": "release", "TemplatePath": "Src::stack.json"})),
                cfn_action("Apply", 2, json!({"ActionMode": "CHANGE_SET_EXECUTE", "StackName": stack_name,
                    "ChangeSetName": "release"})),
                cfn_action("Remove", 3, json!({"ActionMode": "DELETE_ONLY", "StackName": stack_name}))
            ]}
        ]),
    );
    let id = stack.start(p, StartRequest::default()).await;
    let mut seen = HashSet::new();
    let cfn = aws_sdk_cloudformation::Client::new(&config().await);
    for action in ["Plan", "Apply", "Remove"] {
        stack.until_waiting(&name, &id, &mut seen, action).await;
        let waiting = stack.action(&id, action).await;
        let stack_id = waiting.external.clone().expect("external").id;
        if action == "Plan" {
            let set = cfn
                .describe_change_set()
                .stack_name(&stack_name)
                .change_set_name("release")
                .send()
                .await
                .expect("the change set");
            assert_eq!(set.stack_id(), Some(stack_id.as_str()));
        }
        let status = if action == "Remove" {
            "DELETE_COMPLETE"
        } else {
            "CREATE_COMPLETE"
        };
        let looked = stack.deliver(stack_event(&stack_id, status)).await;
        assert_eq!(looked, json!([waiting.job_id()]), "{action}");
        let done = stack.action(&id, action).await;
        assert_eq!(done.status, ActionStatus::Succeeded, "{done:?}");
    }
    let status = stack.dispatch(&name, &id, &mut seen, |_| false).await;
    assert_eq!(status, "SUCCEEDED");
    let left = cfn.describe_stacks().stack_name(&stack_name).send().await;
    let gone = match left {
        Err(_) => true,
        Ok(out) => out
            .stacks()
            .iter()
            .all(|s| s.stack_status().map(|s| s.as_str()) == Some("DELETE_COMPLETE")),
    };
    assert!(gone, "the stack was deleted");
}

/// ECS in AWS: the image definitions file (in the artifact bucket) makes a new task definition revision, the
/// service is updated to it, and the deployment's state-change event ends the wait; a container the task
/// definition lacks fails the action at once, naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ecs_deploy_runs_in_aws() {
    let stack = stack(None).await;
    let sdk = config().await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let (cluster, service) = moto::ecs_service(&ecs, "api").await;
    let sources = stack.bucket("sluice-src").await;
    for (key, container) in [("good.zip", "web"), ("bad.zip", "sidecar")] {
        let definitions =
            format!(r#"[{{"name": "{container}", "imageUri": "registry.example/{container}:7"}}]"#);
        stack
            .upload(&sources, key, &[("imagedefinitions.json", &definitions)])
            .await;
    }
    for (key, expected) in [("good.zip", "SUCCEEDED"), ("bad.zip", "FAILED")] {
        let name = unique("api");
        let p = pipeline(
            &name,
            json!([
                source_stage(&sources, key),
                {"name": "Deploy", "actions": [{
                    "name": "Service",
                    "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "ECS", "version": "1"},
                    "configuration": {"ClusterName": cluster, "ServiceName": service},
                    "inputArtifacts": [{"name": "Src"}]
                }]}
            ]),
        );
        let id = stack.start(p, StartRequest::default()).await;
        let mut seen = HashSet::new();
        if expected == "FAILED" {
            let status = stack.dispatch(&name, &id, &mut seen, |_| false).await;
            assert_eq!(status, expected);
            let error = format!("{:?}", stack.action(&id, "Service").await.error);
            assert!(error.contains("names container sidecar"), "{error}");
            continue;
        }
        stack.until_waiting(&name, &id, &mut seen, "Service").await;
        let waiting = stack.action(&id, "Service").await;
        let external = waiting.external.clone().expect("external");
        let service_arn = ecs
            .describe_services()
            .cluster(&cluster)
            .services(&service)
            .send()
            .await
            .expect("service")
            .services()[0]
            .service_arn()
            .expect("arn")
            .to_owned();
        let event = json!({
            "source": "aws.ecs",
            "detail-type": "ECS Deployment State Change",
            "resources": [service_arn],
            "detail": {"eventType": "INFO", "eventName": "SERVICE_DEPLOYMENT_COMPLETED", "deploymentId": external.id}
        });
        assert_eq!(stack.deliver(event).await, json!([waiting.job_id()]));
        let status = stack.dispatch(&name, &id, &mut seen, |_| false).await;
        assert_eq!(status, expected);
        let image = moto::service_image(&ecs, &cluster, &service).await;
        assert_eq!(image.as_deref(), Some("registry.example/web:7"));
    }
}

/// Benchmark (`bench/provider-latency.sh`): in AWS, how long after a stack reaches CREATE_COMPLETE (moto) the next
/// action starts when the stack's event reaches the dispatch handler as soon as it is emitted, against the same
/// baseline, an inline S3 deploy done -> the next action started. (The relay here polls moto's execution
/// history every 100 ms where Step Functions invokes the function directly: both figures include that.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a benchmark: bench/provider-latency.sh runs it"]
async fn bench_stack_complete_to_next_action_in_aws() {
    let stack = stack(None).await;
    let sources = stack.bucket("sluice-src").await;
    let site = stack.bucket("sluice-site").await;
    stack
        .upload(
            &sources,
            "infra/source.zip",
            &[(
                "stack.json",
                r#"{"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}"#,
            )],
        )
        .await;
    let cfn = aws_sdk_cloudformation::Client::new(&config().await);
    let (mut after_stack, mut baseline) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let name = unique("bench");
        let p = pipeline(
            &name,
            json!([
                source_stage(&sources, "infra/source.zip"),
                {"name": "Deploy", "actions": [{
                    "name": "Stack",
                    "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CloudFormation", "version": "1"},
                    "configuration": {"ActionMode": "CREATE_UPDATE", "StackName": name, "TemplatePath": "Src::stack.json"},
                    "inputArtifacts": [{"name": "Src"}]
                }, {
                    "name": "Next",
                    "runOrder": 2,
                    "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
                    "configuration": {"BucketName": site, "Extract": "true"},
                    "inputArtifacts": [{"name": "Src"}]
                }]}
            ]),
        );
        let id = stack.start(p, StartRequest::default()).await;
        let mut seen = HashSet::new();
        stack.until_waiting(&name, &id, &mut seen, "Stack").await;
        let stack_id = stack
            .action(&id, "Stack")
            .await
            .external
            .expect("external")
            .id;
        let events = cfn
            .describe_stack_events()
            .stack_name(&stack_id)
            .send()
            .await
            .expect("events");
        let complete = events
            .stack_events()
            .iter()
            .filter(|e| {
                e.resource_type() == Some("AWS::CloudFormation::Stack")
                    && e.resource_status().map(|s| s.as_str()) == Some("CREATE_COMPLETE")
            })
            .filter_map(|e| e.timestamp().and_then(|t| t.to_millis().ok()))
            .max()
            .expect("complete");
        stack
            .deliver(stack_event(&stack_id, "CREATE_COMPLETE"))
            .await;
        let status = stack
            .dispatch(&name, &id, &mut seen, |actions| {
                actions.iter().any(|a| a.action == "Next")
            })
            .await;
        assert_eq!(status, "RUNNING");
        let next = stack.action(&id, "Next").await.started_ms;
        after_stack.push(next - complete);
        stack.dispatch(&name, &id, &mut seen, |_| false).await;

        // The baseline: the same stage with an inline S3 deploy in place of the stack.
        let plain = unique("bench-plain");
        let deploy = |action: &str, run_order: u32| {
            json!({
                "name": action,
                "runOrder": run_order,
                "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"BucketName": site, "Extract": "true"},
                "inputArtifacts": [{"name": "Src"}]
            })
        };
        let p = pipeline(
            &plain,
            json!([
                source_stage(&sources, "infra/source.zip"),
                {"name": "Deploy", "actions": [deploy("First", 1), deploy("Next", 2)]}
            ]),
        );
        let id = stack.start(p, StartRequest::default()).await;
        let mut seen = HashSet::new();
        let status = stack.dispatch(&plain, &id, &mut seen, |_| false).await;
        assert_eq!(status, "SUCCEEDED");
        baseline.push(
            stack.action(&id, "Next").await.started_ms
                - stack.action(&id, "First").await.updated_ms,
        );
    }
    let median = |mut xs: Vec<i64>| {
        xs.sort_unstable();
        xs[xs.len() / 2]
    };
    println!(
        "aws (dispatch handler on moto, stack event delivered when emitted), median of 5: stack CREATE_COMPLETE -> \
         next action started {} ms; baseline, an inline S3 deploy done -> next action started {} ms",
        median(after_stack),
        median(baseline)
    );
}

/// A `Source` stage's action running `provider` with `configuration`, its output the artifact `artifact`, and a
/// `Keep` stage that copies `artifact` to `bucket`.
fn git_pipeline(
    name: &str,
    owner: &str,
    provider: &str,
    configuration: Value,
    bucket: &str,
) -> sluice_definition::Pipeline {
    pipeline(
        name,
        json!([
            {"name": "Source", "actions": [{
                "name": "Checkout",
                "actionTypeId": {"category": "Source", "owner": owner, "provider": provider, "version": "1"},
                "configuration": configuration,
                "outputArtifacts": [{"name": "Code"}]
            }]},
            {"name": "Keep", "actions": [{
                "name": "Copy",
                "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"BucketName": bucket, "Extract": "true"},
                "inputArtifacts": [{"name": "Code"}]
            }]}
        ]),
    )
}

impl Stack {
    /// Plays CodeBuild for the git source build of action `Checkout` in execution `id`: checks what StartBuild
    /// was asked (moto keeps the source version; the record keeps the source and buildspec it was given),
    /// uploads the checkout's zip where it was told to, and delivers the SUCCEEDED event. The record's source.
    async fn play_source_build(
        &self,
        name: &str,
        id: &str,
        seen: &mut HashSet<i64>,
        files: &[(&str, &str)],
    ) -> sluice_functions::builds::BuildRecord {
        let status = self.until_building(name, id, seen, "Checkout").await;
        assert_eq!(status, "RUNNING");
        let checkout = self.action(id, "Checkout").await;
        let record = Builds::new(self.runtime.store.clone())
            .record(&checkout.job_id())
            .await
            .expect("read")
            .expect("the build is recorded");
        assert_eq!(record.project, self.sources);
        let build_id = record.build_id.clone().expect("started");
        let build = self
            .codebuild
            .batch_get_builds()
            .ids(&build_id)
            .send()
            .await
            .expect("get build")
            .builds()[0]
            .clone();
        let source = record.source.clone().expect("a source override");
        if let Some(version) = &source.version {
            assert_eq!(build.source_version(), Some(version.as_str()));
        }
        let output = &record.job.outputs[0];
        self.s3
            .put_object()
            .bucket(&output.bucket)
            .key(&output.key)
            .body(ByteStream::from(zip_of(files)))
            .send()
            .await
            .expect("build output");
        let event = build_event(
            build.arn().expect("arn"),
            &self.sources,
            "SUCCEEDED",
            &checkout.job_id(),
            json!([{"phase-type": "BUILD", "phase-status": "SUCCEEDED"}]),
        );
        let answer = sluice_functions::dispatch::handle(&self.runtime, &self.executor, event)
            .await
            .expect("build event");
        assert_eq!(answer["completed"], json!(checkout.job_id()), "{answer}");
        record
    }
}

fn pinned_to(commit: &str) -> StartRequest {
    StartRequest {
        source_revisions: vec![RevisionOverride {
            action_name: "Checkout".into(),
            revision_type: "COMMIT_ID".into(),
            revision_value: commit.into(),
        }],
        ..Default::default()
    }
}

const CONNECTION: &str =
    "arn:aws:codeconnections:us-east-1:123456789012:connection/6e0a4c2b-9d8f-4e1a-b3c5-7f9e1d3b5a70";
const GITLAB_CONNECTION: &str =
    "arn:aws:codestar-connections:us-east-1:123456789012:connection/0b8e2f4a-6c1d-4e3f-a5b7-c9d1e3f5a7b9";
const SELF_MANAGED_CONNECTION: &str =
    "arn:aws:codeconnections:us-east-1:123456789012:connection/71c3e5a7-b9d1-4f3a-8c5e-7a9b1c3d5e7f";
const PENDING_CONNECTION: &str =
    "arn:aws:codeconnections:us-east-1:123456789012:connection/5d7f9b1c-3e5a-4c7e-9a1b-3c5d7e9f1a3b";

/// CodeStar Connections as the executor asks it (moto has none): one connection per provider case.
fn connections() -> &'static ConnectionsStandIn {
    static STAND_IN: std::sync::OnceLock<ConnectionsStandIn> = std::sync::OnceLock::new();
    STAND_IN.get_or_init(|| {
        let known = |provider: &str, status: &str, host: Option<(&str, &str)>| KnownConnection {
            provider_type: provider.into(),
            status: status.into(),
            host: host.map(|(h, e)| (h.to_owned(), e.to_owned())),
        };
        ConnectionsStandIn::start(HashMap::from([
            (CONNECTION.to_owned(), known("GitHub", "AVAILABLE", None)),
            (
                GITLAB_CONNECTION.to_owned(),
                known("GitLab", "AVAILABLE", None),
            ),
            (
                SELF_MANAGED_CONNECTION.to_owned(),
                known(
                    "GitLabSelfManaged",
                    "AVAILABLE",
                    Some((
                        "arn:aws:codeconnections:us-east-1:123456789012:host/lab-1a2b3c4d",
                        "https://lab.tide.example",
                    )),
                ),
            ),
            (
                PENDING_CONNECTION.to_owned(),
                known("Bitbucket", "PENDING", None),
            ),
        ]))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connection_and_github_sources_run_as_source_builds_and_record_the_commit() {
    let stack = stack(None).await;
    stack.project(&stack.sources).await;
    let out = stack.bucket("sluice-out").await;

    // A connection source: GITHUB through the connection, at the pinned commit, with its whole history.
    let commit = "4f2a9c1e7b3d5f8a0c6e2b4d9f1a3c5e7b9d0f2a";
    let name = unique("harbour");
    let p = git_pipeline(
        &name,
        "AWS",
        "CodeStarSourceConnection",
        json!({"ConnectionArn": CONNECTION, "FullRepositoryId": "tide-works/harbour",
               "BranchName": "main", "OutputArtifactFormat": "CODE_ZIP"}),
        &out,
    );
    let id = stack.start(p, pinned_to(commit)).await;
    let mut seen = HashSet::new();
    let record = stack
        .play_source_build(&name, &id, &mut seen, &[("README.md", "# Harbour")])
        .await;
    let source = record.source.expect("source");
    assert_eq!(
        (
            source.source_type.as_str(),
            source.location.as_deref(),
            source.connection.as_deref(),
            source.version.as_deref(),
            source.clone_depth,
        ),
        (
            "GITHUB",
            Some("https://github.com/tide-works/harbour.git"),
            Some(CONNECTION),
            Some(commit),
            Some(0)
        )
    );
    let spec: Value = serde_json::from_str(&record.buildspec.expect("buildspec")).expect("JSON");
    assert_eq!(spec["env"]["variables"]["ConnectionArn"], CONNECTION);
    assert_eq!(spec["artifacts"]["exclude-paths"], json!([".git/**/*"]));
    let status = stack.dispatch(&name, &id, &mut seen, |_| false).await;
    assert_eq!(status, "SUCCEEDED");
    assert_eq!(stack.read(&out, "README.md").await, b"# Harbour");
    let execution = stack.runtime.execution(&id).await.expect("execution");
    let revisions: Vec<_> = execution
        .source_revisions
        .iter()
        .map(|r| {
            (
                r.action_name.as_str(),
                r.revision.revision_id.as_str(),
                r.revision.revision_url.as_deref(),
            )
        })
        .collect();
    let url = format!("https://github.com/tide-works/harbour/commit/{commit}");
    assert_eq!(revisions, vec![("Checkout", commit, Some(url.as_str()))]);

    // GitHub version 1: a NO_SOURCE build that fetches the repository itself, the token never in its text.
    let commit = "a7c9e1b3d5f70829b4d6f8a0c2e4b6d8f0a2c4e6";
    let name = unique("dock");
    let token_ref = "{{resolve:secretsmanager:sluice-source/dock-token:SecretString:token}}";
    let p = git_pipeline(
        &name,
        "ThirdParty",
        "GitHub",
        json!({"Owner": "tide-works", "Repo": "dock", "Branch": "main", "OAuthToken": token_ref,
               "PollForSourceChanges": "false"}),
        &out,
    );
    let id = stack.start(p, pinned_to(commit)).await;
    let mut seen = HashSet::new();
    let record = stack
        .play_source_build(&name, &id, &mut seen, &[("dock.txt", "moored")])
        .await;
    assert_eq!(
        record.source.map(|s| (s.source_type, s.location)),
        Some(("NO_SOURCE".to_owned(), None))
    );
    let spec = record.buildspec.expect("buildspec");
    assert!(spec.contains("$SOURCE_REPOSITORY.git"), "{spec}");
    assert!(
        !spec.contains("dock-token"),
        "the token's name is in the buildspec: {spec}"
    );
    let status = stack.dispatch(&name, &id, &mut seen, |_| false).await;
    assert_eq!(status, "SUCCEEDED");
    let execution = stack.runtime.execution(&id).await.expect("execution");
    assert_eq!(
        execution.source_revisions[0].revision.revision_id, commit,
        "{execution:?}"
    );

    // Connections to GitLab and to a self-managed GitLab: the source type, URL and ProviderType follow the
    // provider CodeStar Connections names (and the host's endpoint from GetHost).
    for (connection, repository, source_type, location, provider) in [
        (
            GITLAB_CONNECTION,
            "tide-works/lagoon",
            "GITLAB",
            "https://gitlab.com/tide-works/lagoon.git",
            "GitLab",
        ),
        (
            SELF_MANAGED_CONNECTION,
            "tide-works/reef",
            "GITLAB_SELF_MANAGED",
            "https://lab.tide.example/tide-works/reef.git",
            "GitLabSelfManaged",
        ),
    ] {
        let name = unique("lagoon");
        let p = git_pipeline(
            &name,
            "AWS",
            "CodeStarSourceConnection",
            json!({"ConnectionArn": connection, "FullRepositoryId": repository, "BranchName": "main"}),
            &out,
        );
        let id = stack.start(p, StartRequest::default()).await;
        let mut seen = HashSet::new();
        let record = stack
            .play_source_build(&name, &id, &mut seen, &[("lagoon.txt", "still")])
            .await;
        let source = record.source.expect("source");
        assert_eq!(
            (
                source.source_type.as_str(),
                source.location.as_deref(),
                source.connection.as_deref(),
                source.version.as_deref()
            ),
            (source_type, Some(location), Some(connection), Some("main"))
        );
        let spec: Value =
            serde_json::from_str(&record.buildspec.expect("buildspec")).expect("JSON");
        assert_eq!(spec["env"]["variables"]["ProviderType"], provider);
        let status = stack.dispatch(&name, &id, &mut seen, |_| false).await;
        assert_eq!(status, "SUCCEEDED");
    }
    let asked = connections().seen();
    assert!(asked.iter().any(|a| a.starts_with("GetHost ")), "{asked:?}");

    // A connection whose handshake is not done: the action fails, saying so; nothing is built.
    let name = unique("pending");
    let p = git_pipeline(
        &name,
        "AWS",
        "CodeStarSourceConnection",
        json!({"ConnectionArn": PENDING_CONNECTION, "FullRepositoryId": "tide-works/quay", "BranchName": "main"}),
        &out,
    );
    let id = stack.start(p, StartRequest::default()).await;
    let mut seen = HashSet::new();
    let status = stack.dispatch(&name, &id, &mut seen, |_| false).await;
    assert_eq!(status, "FAILED");
    let failed = stack.action(&id, "Checkout").await;
    let message = failed.error.clone().unwrap_or_default();
    assert!(
        message.contains("is PENDING") && message.contains(PENDING_CONNECTION),
        "{failed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_codecommit_push_event_starts_one_pinned_execution_that_builds_that_commit() {
    let stack = stack(None).await;
    stack.project(&stack.sources).await;
    let out = stack.bucket("sluice-out").await;
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(sluice_tests::fixture(
            "functions/codecommit-reference-updated.json",
        ))
        .expect("fixture"),
    )
    .expect("JSON");
    let commit = fixture["detail"]["commitId"]
        .as_str()
        .expect("commit")
        .to_owned();
    let name = unique("ledger");
    let follows = git_pipeline(
        &name,
        "AWS",
        "CodeCommit",
        json!({"RepositoryName": "ledger", "BranchName": "main", "PollForSourceChanges": "false"}),
        &out,
    );
    // Another branch of the same repository is not started.
    let other = git_pipeline(
        &unique("ledger-dev"),
        "AWS",
        "CodeCommit",
        json!({"RepositoryName": "ledger", "BranchName": "develop", "PollForSourceChanges": "false"}),
        &out,
    );
    for p in [follows, other] {
        stack.runtime.put_pipeline(p, None).await.expect("stored");
    }
    let reply = sluice_functions::trigger::answer(&stack.runtime, b"unused", fixture.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let first: Value = serde_json::from_str(&reply.body).expect("JSON");
    assert_eq!(
        first["started"].as_array().map(Vec::len),
        Some(1),
        "{first}"
    );
    assert_eq!(first["started"][0]["pipeline"], json!(name));
    assert_eq!(first["started"][0]["duplicate"], false);
    let again = sluice_functions::trigger::answer(&stack.runtime, b"unused", fixture).await;
    let again: Value = serde_json::from_str(&again.body).expect("JSON");
    assert_eq!(again["started"][0]["duplicate"], true, "{again}");
    assert_eq!(
        again["started"][0]["pipelineExecutionId"],
        first["started"][0]["pipelineExecutionId"]
    );
    let id = first["started"][0]["pipelineExecutionId"]
        .as_str()
        .expect("id")
        .to_owned();
    let execution = stack.runtime.execution(&id).await.expect("execution");
    assert_eq!(execution.trigger.trigger_type, "CloudWatchEvent");
    assert_eq!(
        serde_json::to_value(&execution.revision_overrides).expect("JSON"),
        json!([{"actionName": "Checkout", "revisionType": "COMMIT_ID", "revisionValue": commit}])
    );

    let mut seen = HashSet::new();
    let record = stack
        .play_source_build(&name, &id, &mut seen, &[("books.csv", "1,2")])
        .await;
    let source = record.source.expect("source");
    assert_eq!(
        (
            source.source_type.as_str(),
            source.location.as_deref(),
            source.version.as_deref()
        ),
        (
            "CODECOMMIT",
            Some("https://git-codecommit.us-east-1.amazonaws.com/v1/repos/ledger"),
            Some(commit.as_str())
        )
    );
    let status = stack.dispatch(&name, &id, &mut seen, |_| false).await;
    assert_eq!(status, "SUCCEEDED");
    let execution = stack.runtime.execution(&id).await.expect("execution");
    assert_eq!(execution.source_revisions.len(), 1, "{execution:?}");
    assert_eq!(execution.source_revisions[0].revision.revision_id, commit);
}

/// The trigger function's poll schedule, once.
async fn poll(stack: &Stack, poller: &sluice_functions::polls::Poller) -> Value {
    poller.poll(&stack.runtime).await.expect("polled")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_s3_poll_starts_an_execution_when_the_object_changes_and_not_before() {
    let stack = stack(None).await;
    let sources = stack.bucket("sluice-polled").await;
    stack
        .s3
        .put_bucket_versioning()
        .bucket(&sources)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    let first = stack
        .upload(&sources, "site.zip", &[("index.md", "one")])
        .await;
    let name = unique("polled");
    // PollForSourceChanges is absent: on, as in CodePipeline.
    let p = pipeline(
        &name,
        json!([
            {"name": "Source", "actions": [{
                "name": "Fetch",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"S3Bucket": sources, "S3ObjectKey": "site.zip"},
                "outputArtifacts": [{"name": "Src"}]
            }]},
            {"name": "Keep", "actions": [{
                "name": "Copy",
                "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"BucketName": sources, "ObjectKey": "kept", "Extract": "true"},
                "inputArtifacts": [{"name": "Src"}]
            }]}
        ]),
    );
    stack.runtime.put_pipeline(p, None).await.expect("stored");
    let poller =
        sluice_functions::polls::Poller::new(config().await, "http://127.0.0.1:9").expect("poller");
    for _ in 0..2 {
        let answer = poll(&stack, &poller).await;
        assert_eq!(answer["polled"], 1, "{answer}");
        assert_eq!(answer["started"], json!([]), "{answer}");
        assert_eq!(answer["failed"], json!([]), "{answer}");
    }
    let second = stack
        .upload(&sources, "site.zip", &[("index.md", "two")])
        .await;
    assert_ne!(first, second);
    let answer = poll(&stack, &poller).await;
    let started = answer["started"].as_array().expect("started");
    assert_eq!(started.len(), 1, "{answer}");
    let id = started[0]["pipelineExecutionId"].as_str().expect("id");
    let execution = stack.runtime.execution(id).await.expect("execution");
    assert_eq!(execution.trigger.trigger_type, "PollForSourceChanges");
    assert_eq!(
        (
            execution.revision_overrides[0].revision_type.as_str(),
            execution.revision_overrides[0].revision_value.as_str()
        ),
        ("S3_OBJECT_VERSION_ID", second.as_str())
    );
    let again = poll(&stack, &poller).await;
    assert_eq!(again["started"], json!([]), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_github_poll_reads_the_branch_from_the_ref_advertisement() {
    use sluice_tests::git_server::{with_credentials, GitServer, WorkTree};
    let stack = stack(None).await;
    let token = "gho_7Qm2Rk9Vx4Lp8Tz1Nw6Yb3Hc5Jd0Fs";
    let server = GitServer::start_temp(Some(("x-access-token", token)));
    server.create_repo("tide-works/dock");
    let url = with_credentials(&server.url("tide-works/dock"), "x-access-token", token);
    let work = tempfile::tempdir().expect("temp");
    let tree = WorkTree::init(work.path());
    tree.write("dock.txt", "one");
    tree.commit("First mooring");
    tree.push(&url, "main");

    // The token from Secrets Manager (JSON key), as a {{resolve:...}} reference; and a pipeline whose token the
    // server refuses, which fails alone.
    let secrets = aws_sdk_secretsmanager::Client::new(&config().await);
    let secret = unique("sluice-source/dock");
    secrets
        .create_secret()
        .name(&secret)
        .secret_string(json!({"token": token}).to_string())
        .send()
        .await
        .expect("secret");
    let out = stack.bucket("sluice-out").await;
    let name = unique("dock");
    let configuration = |token: &str| json!({"Owner": "tide-works", "Repo": "dock", "Branch": "main", "OAuthToken": token});
    let reference = format!("{{{{resolve:secretsmanager:{secret}:SecretString:token}}}}");
    let refused = unique("dock-refused");
    for p in [
        git_pipeline(
            &name,
            "ThirdParty",
            "GitHub",
            configuration(&reference),
            &out,
        ),
        git_pipeline(
            &refused,
            "ThirdParty",
            "GitHub",
            configuration("gho_wrong"),
            &out,
        ),
    ] {
        stack.runtime.put_pipeline(p, None).await.expect("stored");
    }
    let poller =
        sluice_functions::polls::Poller::new(config().await, server.base_url()).expect("poller");
    for _ in 0..2 {
        let answer = poll(&stack, &poller).await;
        assert_eq!(answer["polled"], 2, "{answer}");
        assert_eq!(answer["started"], json!([]), "{answer}");
        let failed = answer["failed"].as_array().expect("failed");
        assert_eq!(failed.len(), 1, "{answer}");
        assert_eq!(failed[0]["pipeline"], json!(refused));
        assert!(
            failed[0]["error"]
                .as_str()
                .is_some_and(|e| e.contains("401") && !e.contains("gho_")),
            "{answer}"
        );
    }
    // Another branch moving starts nothing.
    tree.branch("develop");
    tree.write("dock.txt", "drifting");
    tree.commit("Elsewhere");
    tree.push(&url, "develop");
    let answer = poll(&stack, &poller).await;
    assert_eq!(answer["started"], json!([]), "{answer}");
    tree.branch("main");
    tree.git(&["reset", "--quiet", "--hard", "HEAD~1"]);
    tree.write("dock.txt", "two");
    let head = tree.commit("Second mooring");
    tree.push(&url, "main");
    let answer = poll(&stack, &poller).await;
    let started = answer["started"].as_array().expect("started");
    assert_eq!(started.len(), 1, "{answer}");
    assert_eq!(started[0]["pipeline"], json!(name));
    let id = started[0]["pipelineExecutionId"].as_str().expect("id");
    let execution = stack.runtime.execution(id).await.expect("execution");
    assert_eq!(execution.trigger.trigger_type, "PollForSourceChanges");
    assert_eq!(
        serde_json::to_value(&execution.revision_overrides).expect("JSON"),
        json!([{"actionName": "Checkout", "revisionType": "COMMIT_ID", "revisionValue": head}])
    );
    let again = poll(&stack, &poller).await;
    assert_eq!(again["started"], json!([]), "{again}");
}

/// A Commands action declared in another region than the stack's is refused with a message naming the
/// region, not run as a build in the stack's region.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_build_declared_in_another_region_is_refused_saying_so() {
    let commands = unique("sluice-commands");
    let stack = stack(Some(&commands)).await;
    stack.project(&commands).await;
    let sources = stack.bucket("sluice-src").await;
    stack
        .upload(&sources, "app.zip", &[("Makefile", "all:\n\ttrue\n")])
        .await;
    let name = unique("app");
    let p = pipeline_with(
        &name,
        json!([
            source_stage(&sources, "app.zip"),
            {"name": "Test", "actions": [{
                "name": "Make",
                "region": "eu-west-1",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": ["make all"],
                "inputArtifacts": [{"name": "Src"}]
            }]}
        ]),
        json!({"artifactStores": {
            "us-east-1": {"type": "S3", "location": sources},
            "eu-west-1": {"type": "S3", "location": sources}
        }}),
    );
    let id = stack.start(p, StartRequest::default()).await;
    let mut seen = HashSet::new();
    let status = stack.dispatch(&name, &id, &mut seen, |_| false).await;
    assert_eq!(status, "FAILED");
    let make = stack.action(&id, "Make").await;
    assert_eq!(make.status, ActionStatus::Failed, "{make:?}");
    let error = make.error.clone().unwrap_or_default();
    assert!(
        error.contains("eu-west-1") && error.contains("stack's region (us-east-1)"),
        "{error}"
    );
    let builds = stack
        .codebuild
        .list_builds_for_project()
        .project_name(&commands)
        .send()
        .await
        .expect("list builds");
    assert!(builds.ids().is_empty(), "no build started: {builds:?}");
}
