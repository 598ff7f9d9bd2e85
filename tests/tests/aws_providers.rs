//! The AWS providers run by `sluice run` on this machine, with the standard AWS settings pointed at the moto
//! emulator (`AWS_ENDPOINT_URL`): CloudFormation (every action mode, change sets, parameter overrides with
//! `Fn::GetArtifactAtt` and `Fn::GetParam`, a template configuration, outputs as variables and as a file, a
//! template over the inline limit), ECS, CodeDeploy and CodeDeployToECS (as far as moto takes a deployment),
//! and Step Functions. The examples `examples/cloudformation` and `examples/ecs` run here too.
//!
//! What moto cannot show (its stacks never end in a failed state, its CodeDeploy deployments never finish, it has
//! no Elastic Beanstalk application versions) is listed in the README; the providers' decisions on those states
//! are unit-tested in `shared/providers`.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sluice_tests::moto::{self, config, ecs_service, unique};
use sluice_tests::{copy_dir, sluice_bin, workspace};

/// A state folder and a source folder for one test.
struct Local {
    dir: tempfile::TempDir,
}

impl Local {
    fn new() -> Self {
        moto::enable_step_functions_execution();
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("dirs");
        std::fs::write(&p, text).expect("write");
        p
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(sluice_bin());
        c.arg("--state-dir")
            .arg(self.path("state"))
            .args(args)
            .env("SLUICE_POLL_MAX_SECONDS", "0.5")
            .stdin(Stdio::null());
        c
    }

    /// `sluice run` of a definition (written to `pipeline.yaml`), approvals approved.
    fn run(&self, definition: &str) -> Output {
        let file = self.write("pipeline.yaml", definition);
        let out = self
            .cmd(&["run", file.to_str().expect("utf-8"), "--auto-approve"])
            .output()
            .expect("sluice runs");
        eprintln!("{}{}", text(&out.stdout), text(&out.stderr));
        out
    }

    fn spawn(&self, definition: &str) -> Child {
        let file = self.write("pipeline.yaml", definition);
        self.cmd(&["run", file.to_str().expect("utf-8"), "--auto-approve"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sluice starts")
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut full = vec!["--output", "json"];
        full.extend_from_slice(args);
        let out = self.cmd(&full).output().expect("sluice runs");
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("json")
    }

    /// One execution's action records (`sluice show`), by action name.
    fn action(&self, execution: &str, name: &str) -> Value {
        let shown = self.json(&["show", execution]);
        shown["actions"]
            .as_array()
            .and_then(|a| a.iter().rev().find(|a| a["action"] == name).cloned())
            .unwrap_or_else(|| panic!("no action {name} in {shown}"))
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn execution_id(out: &Output) -> String {
    text(&out.stdout)
        .lines()
        .find_map(|l| {
            l.split(" execution ")
                .nth(1)
                .map(|r| r.split(' ').next().unwrap_or("").to_owned())
        })
        .unwrap_or_else(|| panic!("no execution id in {}", text(&out.stdout)))
}

fn succeeded(out: &Output) {
    assert!(
        out.status.success(),
        "the run failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

async fn bucket(prefix: &str) -> String {
    let sdk = config().await;
    let name = unique(prefix);
    aws_sdk_s3::Client::new(&sdk)
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("bucket");
    name
}

const STACK_TEMPLATE: &str = r##"AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  Stage: {Type: String}
  Release: {Type: String, Default: none}
  Where: {Type: String, Default: nowhere}
  Value: {Type: String, Default: unset}
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Sub '${AWS::StackName}-${Stage}'
Outputs:
  TopicArn: {Value: !Ref Topic}
  Release: {Value: !Ref Release}
  Where: {Value: !Ref Where}
  Value: {Value: !Ref Value}
"##;

/// CREATE_UPDATE creates the stack with the configuration file's parameters and tags and the overrides
/// (a variable, `Fn::GetArtifactAtt`, `Fn::GetParam`); its outputs become variables and the output file; the same
/// again updates nothing and succeeds; DELETE_ONLY deletes it, and deleting what is not there succeeds.
#[tokio::test]
async fn cloudformation_creates_updates_and_deletes_a_stack() {
    let l = Local::new();
    let store = bucket("cfn-store").await;
    let stack = unique("cfn-local");
    l.write("src/stack.yaml", STACK_TEMPLATE);
    l.write(
        "src/config.json",
        r##"{"Parameters": {"Stage": "beta"}, "Tags": {"team": "sluice"}}"##,
    );
    l.write("src/params.json", r##"{"Value": "from-a-file"}"##);
    let pipeline = |mode: &str| {
        format!(
            r##"
name: {stack}
pipelineType: V2
roleArn: arn:aws:iam::123456789012:role/sluice-test
artifactStore: {{type: S3, location: {store}}}
stages:
  - name: Source
    actions:
      - name: Src
        actionTypeId: {{category: Source, owner: ThirdParty, provider: LocalSource, version: '1'}}
        configuration: {{Path: src}}
        outputArtifacts: [{{name: Src}}]
  - name: Deploy
    actions:
      - name: Stack
        namespace: Stack
        actionTypeId: {{category: Deploy, owner: AWS, provider: CloudFormation, version: '1'}}
        configuration:
          ActionMode: {mode}
          StackName: {stack}
          TemplatePath: Src::stack.yaml
          TemplateConfiguration: Src::config.json
          ParameterOverrides: '{{"Release": "#{{codepipeline.PipelineExecutionId}}", "Where": {{"Fn::GetArtifactAtt": ["Src", "BucketName"]}}, "Value": {{"Fn::GetParam": ["Src", "params.json", "Value"]}}}}'
          RoleArn: arn:aws:iam::123456789012:role/cfn
          OutputFileName: outputs.json
        inputArtifacts: [{{name: Src}}]
        outputArtifacts: [{{name: Outputs}}]
      - name: Check
        runOrder: 2
        actionTypeId: {{category: Compute, owner: AWS, provider: Commands, version: '1'}}
        commands:
          - test "#{{Stack.Value}}" = from-a-file
          - test "#{{Stack.Where}}" = {store}
          - test "#{{Stack.Release}}" = "#{{codepipeline.PipelineExecutionId}}"
          - grep -q TopicArn outputs.json
        inputArtifacts: [{{name: Outputs}}]
"##
        )
    };
    let out = l.run(&pipeline("CREATE_UPDATE"));
    succeeded(&out);
    let first = execution_id(&out);
    let sdk = config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let described = cfn
        .describe_stacks()
        .stack_name(&stack)
        .send()
        .await
        .expect("describe");
    let s = &described.stacks()[0];
    assert_eq!(
        s.stack_status().map(|s| s.as_str()),
        Some("CREATE_COMPLETE")
    );
    let param = |k: &str| {
        s.parameters()
            .iter()
            .find(|p| p.parameter_key() == Some(k))
            .and_then(|p| p.parameter_value())
            .map(str::to_owned)
    };
    assert_eq!(param("Stage").as_deref(), Some("beta"));
    assert_eq!(param("Release").as_deref(), Some(first.as_str()));
    assert!(s
        .tags()
        .iter()
        .any(|t| t.key() == Some("team") && t.value() == Some("sluice")));
    let action = l.action(&first, "Stack");
    assert_eq!(action["outputVariables"]["Value"], "from-a-file");
    assert_eq!(
        action["external"]["id"].as_str(),
        s.stack_id(),
        "the action shows the stack it ran: {action}"
    );

    // The second execution's Release differs: an update.
    let out = l.run(&pipeline("CREATE_UPDATE"));
    succeeded(&out);
    let second = execution_id(&out);
    assert_eq!(
        l.action(&second, "Stack")["outputVariables"]["Release"],
        second.as_str()
    );

    let delete = pipeline("DELETE_ONLY")
        .split("        outputArtifacts: [{name: Outputs}]")
        .next()
        .expect("the deploy action")
        .to_owned();
    succeeded(&l.run(&delete));
    assert!(
        cfn.describe_stacks()
            .stack_name(&stack)
            .send()
            .await
            .is_err(),
        "the stack is gone"
    );
    let out = l.run(&delete);
    succeeded(&out);
    let id = execution_id(&out);
    assert!(
        l.action(&id, "Stack")["summary"]
            .as_str()
            .is_some_and(|s| s.contains("nothing to delete")),
        "{}",
        l.action(&id, "Stack")
    );
}

/// An update that changes nothing succeeds with the stack's outputs ("No updates are to be performed").
#[tokio::test]
async fn cloudformation_without_changes_succeeds() {
    let l = Local::new();
    let stack = unique("cfn-same");
    l.write(
        "src/stack.yaml",
        "Parameters:\n  Stage: {Type: String}\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\nOutputs:\n  Stage: {Value: !Ref Stage}\n",
    );
    let pipeline = format!(
        r##"
name: {stack}
stages:
  - name: Source
    actions:
      - name: Src
        actionTypeId: {{category: Source, owner: ThirdParty, provider: LocalSource, version: '1'}}
        configuration: {{Path: src}}
        outputArtifacts: [{{name: Src}}]
  - name: Deploy
    actions:
      - name: Stack
        actionTypeId: {{category: Deploy, owner: AWS, provider: CloudFormation, version: '1'}}
        configuration:
          ActionMode: REPLACE_ON_FAILURE
          StackName: {stack}
          TemplatePath: Src::stack.yaml
          ParameterOverrides: '{{"Stage": "fixed"}}'
          RoleArn: arn:aws:iam::123456789012:role/cfn
        inputArtifacts: [{{name: Src}}]
"##
    );
    succeeded(&l.run(&pipeline));
    let out = l.run(&pipeline);
    succeeded(&out);
    let summary = l.action(&execution_id(&out), "Stack")["summary"].clone();
    assert!(
        summary
            .as_str()
            .is_some_and(|s| s.contains("no updates to perform")),
        "{summary}"
    );
}

/// CHANGE_SET_REPLACE makes the change set and waits until it is ready; CHANGE_SET_EXECUTE executes it. The
/// template is over CloudFormation's inline limit, so it goes through the pipeline's artifact store bucket. (That
/// an executed change set is used up, moto does not show: it keeps executed change sets.)
#[tokio::test]
async fn cloudformation_change_sets_and_a_template_through_s3() {
    let l = Local::new();
    let store = bucket("cfn-big").await;
    let stack = unique("cfn-changes");
    let big = format!(
        "{STACK_TEMPLATE}Metadata:\n  Padding: '{}'\n",
        "x".repeat(60_000)
    );
    l.write("src/stack.yaml", &big);
    let pipeline = format!(
        r##"
name: {stack}
artifactStore: {{type: S3, location: {store}}}
stages:
  - name: Source
    actions:
      - name: Src
        actionTypeId: {{category: Source, owner: ThirdParty, provider: LocalSource, version: '1'}}
        configuration: {{Path: src}}
        outputArtifacts: [{{name: Src}}]
  - name: Plan
    actions:
      - name: Change
        actionTypeId: {{category: Deploy, owner: AWS, provider: CloudFormation, version: '1'}}
        configuration:
          ActionMode: CHANGE_SET_REPLACE
          StackName: {stack}
          ChangeSetName: next
          TemplatePath: Src::stack.yaml
          ParameterOverrides: '{{"Stage": "gamma"}}'
          RoleArn: arn:aws:iam::123456789012:role/cfn
        inputArtifacts: [{{name: Src}}]
  - name: Apply
    actions:
      - name: Execute
        actionTypeId: {{category: Deploy, owner: AWS, provider: CloudFormation, version: '1'}}
        configuration:
          ActionMode: CHANGE_SET_EXECUTE
          StackName: {stack}
          ChangeSetName: next
"##
    );
    let out = l.run(&pipeline);
    succeeded(&out);
    let sdk = config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let described = cfn
        .describe_stacks()
        .stack_name(&stack)
        .send()
        .await
        .expect("the stack exists");
    let status = described.stacks()[0]
        .stack_status()
        .map(|s| s.as_str().to_owned());
    assert!(
        matches!(
            status.as_deref(),
            Some("CREATE_COMPLETE" | "UPDATE_COMPLETE")
        ),
        "{status:?}"
    );
    let template = cfn
        .get_template()
        .stack_name(&stack)
        .send()
        .await
        .expect("template");
    assert!(
        template.template_body().is_some_and(|t| t.len() > 51_200),
        "the big template is the stack's"
    );
    let listed = aws_sdk_s3::Client::new(&sdk)
        .list_objects_v2()
        .bucket(&store)
        .send()
        .await
        .expect("list");
    assert!(
        listed
            .contents()
            .iter()
            .any(|o| o.key().is_some_and(|k| k.contains("/templates/"))),
        "the template went through s3://{store}"
    );
}

/// A stack CloudFormation refuses fails the action with CloudFormation's reason.
#[tokio::test]
async fn a_refused_stack_fails_the_action_saying_why() {
    let l = Local::new();
    let taken = bucket("cfn-taken").await;
    let stack = unique("cfn-refused");
    l.write(
        "src/stack.yaml",
        &format!("Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: {taken}\n"),
    );
    let out = l.run(&format!(
        r##"
name: {stack}
pipelineType: V2
stages:
  - name: Source
    actions:
      - name: Src
        actionTypeId: {{category: Source, owner: ThirdParty, provider: LocalSource, version: '1'}}
        configuration: {{Path: src}}
        outputArtifacts: [{{name: Src}}]
  - name: Deploy
    actions:
      - name: Stack
        actionTypeId: {{category: Deploy, owner: AWS, provider: CloudFormation, version: '1'}}
        configuration: {{ActionMode: CREATE_UPDATE, StackName: {stack}, TemplatePath: Src::stack.yaml, RoleArn: 'arn:aws:iam::123456789012:role/cfn'}}
        inputArtifacts: [{{name: Src}}]
"##
    ));
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("action Deploy.Stack Failed"), "{stdout}");
    assert!(stdout.contains("CreateStack"), "{stdout}");
}

/// Step Functions: a Standard execution that succeeds gives the output artifact and the variables; one that
/// fails fails the action with the execution's error and cause.
#[tokio::test]
async fn step_functions_executions_are_waited_on() {
    let l = Local::new();
    let sdk = config().await;
    let ok = moto::state_machine(
        &sdk,
        &unique("pass"),
        r##"{"StartAt": "Hello", "States": {"Hello": {"Type": "Pass", "Result": {"greeting": "hello"}, "ResultPath": "$.said", "End": true}}}"##,
    )
    .await;
    let bad = moto::state_machine(
        &sdk,
        &unique("fail"),
        r##"{"StartAt": "No", "States": {"No": {"Type": "Fail", "Error": "Release.Blocked", "Cause": "the gate is closed"}}}"##,
    )
    .await;
    l.write("src/input.json", r##"{"from": "a file"}"##);
    let pipeline = |arn: &str| {
        format!(
            r##"
name: {}
pipelineType: V2
stages:
  - name: Source
    actions:
      - name: Src
        actionTypeId: {{category: Source, owner: ThirdParty, provider: LocalSource, version: '1'}}
        configuration: {{Path: src}}
        outputArtifacts: [{{name: Src}}]
  - name: Gate
    actions:
      - name: Run
        namespace: Gate
        actionTypeId: {{category: Invoke, owner: AWS, provider: StepFunctions, version: '1'}}
        configuration: {{StateMachineArn: '{arn}', ExecutionNamePrefix: gate, InputType: FilePath, Input: input.json}}
        inputArtifacts: [{{name: Src}}]
        outputArtifacts: [{{name: Said}}]
      - name: Check
        runOrder: 2
        actionTypeId: {{category: Compute, owner: AWS, provider: Commands, version: '1'}}
        commands:
          - grep -q hello output.json
          - grep -q 'a file' output.json
          - case "#{{Gate.ExecutionArn}}" in arn:aws:states:*) ;; *) exit 1 ;; esac
        inputArtifacts: [{{name: Said}}]
"##,
            unique("sfn-local")
        )
    };
    succeeded(&l.run(&pipeline(&ok)));
    let out = l.run(&pipeline(&bad));
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Release.Blocked: the gate is closed"),
        "{stdout}"
    );
}

/// ECS: the image definitions file's images go into a new revision of the service's task definition, and the
/// service is updated to it; a container the task definition lacks fails the action, naming it.
#[tokio::test]
async fn ecs_deploys_new_images_to_a_service() {
    let l = Local::new();
    let sdk = config().await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let (cluster, service) = ecs_service(&ecs, "web").await;
    l.write(
        "src/imagedefinitions.json",
        r##"[{"name": "web", "imageUri": "registry.example/web:2"}]"##,
    );
    let pipeline = format!(
        r##"
name: {}
stages:
  - name: Source
    actions:
      - name: Src
        actionTypeId: {{category: Source, owner: ThirdParty, provider: LocalSource, version: '1'}}
        configuration: {{Path: src}}
        outputArtifacts: [{{name: Src}}]
  - name: Deploy
    actions:
      - name: Service
        actionTypeId: {{category: Deploy, owner: AWS, provider: ECS, version: '1'}}
        configuration: {{ClusterName: {cluster}, ServiceName: {service}, DeploymentTimeout: '5'}}
        inputArtifacts: [{{name: Src}}]
"##,
        unique("ecs-local")
    );
    succeeded(&l.run(&pipeline));
    let image = moto::service_image(&ecs, &cluster, &service).await;
    assert_eq!(image.as_deref(), Some("registry.example/web:2"));

    l.write(
        "src/imagedefinitions.json",
        r##"[{"name": "sidecar", "imageUri": "registry.example/sidecar:1"}]"##,
    );
    let out = l.run(&pipeline);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("names container sidecar, which task definition"),
        "{}",
        text(&out.stdout)
    );
}

/// Waits (polling `sluice status`) until an action is in progress with an external execution; answers it.
fn wait_external(l: &Local, pipeline: &str, action: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = l
            .cmd(&["--output", "json", "status", pipeline])
            .output()
            .expect("status");
        if !out.status.success() {
            // The run has not stored the pipeline yet.
            assert!(Instant::now() < deadline, "{}", text(&out.stderr));
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        let status: Value = serde_json::from_slice(&out.stdout).expect("json");
        let found = status["stageStates"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["actionStates"].as_array().into_iter().flatten())
            .find(|a| a["actionName"] == action)
            .map(|a| a["latestExecution"].clone());
        if let Some(e) =
            found.filter(|e| e["status"] == "InProgress" && e["externalExecutionUrl"].is_string())
        {
            return e;
        }
        assert!(
            Instant::now() < deadline,
            "{action} never showed its external execution: {status}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Stops an execution (abandoning its actions) and waits for the run to end.
fn abandon(l: &Local, mut child: Child, pipeline: &str) -> Output {
    let history = l.json(&["history", pipeline]);
    let id = history[0]["pipelineExecutionId"]
        .as_str()
        .expect("id")
        .to_owned();
    let out = l.cmd(&["stop", &id, "--abandon"]).output().expect("stop");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        assert!(
            Instant::now() < deadline,
            "the run did not end after the stop"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    child.wait_with_output().expect("output")
}

/// CodeDeploy: the input artifact, staged in the artifact store bucket, is the deployment's S3 revision; the
/// action waits on the deployment (moto's never ends), showing its id and link, until it is abandoned.
#[tokio::test]
async fn codedeploy_deploys_the_input_artifact_and_waits() {
    let l = Local::new();
    let sdk = config().await;
    let store = bucket("cd-store").await;
    let cd = aws_sdk_codedeploy::Client::new(&sdk);
    let (app, group) = moto::codedeploy_group(&cd, false).await;
    l.write("src/appspec.yml", "version: 0.0\nos: linux\n");
    let name = unique("cd-local");
    let child = l.spawn(&format!(
        r##"
name: {name}
artifactStore: {{type: S3, location: {store}}}
stages:
  - name: Source
    actions:
      - name: Src
        actionTypeId: {{category: Source, owner: ThirdParty, provider: LocalSource, version: '1'}}
        configuration: {{Path: src}}
        outputArtifacts: [{{name: Src}}]
  - name: Deploy
    actions:
      - name: Fleet
        actionTypeId: {{category: Deploy, owner: AWS, provider: CodeDeploy, version: '1'}}
        configuration: {{ApplicationName: {app}, DeploymentGroupName: {group}}}
        inputArtifacts: [{{name: Src}}]
"##
    ));
    let latest = wait_external(&l, &name, "Fleet");
    let deployment = latest["externalExecutionId"]
        .as_str()
        .expect("id")
        .to_owned();
    let revision = moto::deployment_revision(&cd, &deployment).await;
    let revision = revision.s3_location().expect("s3 revision");
    assert_eq!(revision.bucket(), Some(store.as_str()));
    assert_eq!(revision.bundle_type().map(|b| b.as_str()), Some("zip"));
    let out = abandon(&l, child, &name);
    assert!(
        text(&out.stdout).contains("Stopped"),
        "{}",
        text(&out.stdout)
    );
}

/// CodeDeployToECS: the image placeholder is replaced in the task definition template, which is registered; the
/// AppSpec goes with the deployment with the new task definition's ARN in place of `<TASK_DEFINITION>`.
#[tokio::test]
async fn codedeploy_to_ecs_registers_the_task_definition_and_deploys_the_appspec() {
    let l = Local::new();
    let sdk = config().await;
    let cd = aws_sdk_codedeploy::Client::new(&sdk);
    let (app, group) = moto::codedeploy_group(&cd, true).await;
    let family = unique("bluegreen");
    l.write(
        "src/taskdef.json",
        &format!(
            r##"{{"family": "{family}", "taskDefinitionArn": "ignored", "containerDefinitions": [{{"name": "web", "image": "<IMAGE1_NAME>", "memory": 128, "essential": true, "portMappings": [{{"containerPort": 8080}}]}}]}}"##
        ),
    );
    l.write(
        "src/appspec.yaml",
        "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: <TASK_DEFINITION>\n",
    );
    l.write(
        "image/imageDetail.json",
        r##"{"ImageURI": "registry.example/web@sha256:abc"}"##,
    );
    let name = unique("cd-ecs-local");
    let child = l.spawn(&format!(
        r##"
name: {name}
stages:
  - name: Source
    actions:
      - name: Src
        actionTypeId: {{category: Source, owner: ThirdParty, provider: LocalSource, version: '1'}}
        configuration: {{Path: src}}
        outputArtifacts: [{{name: Src}}]
      - name: Image
        actionTypeId: {{category: Source, owner: ThirdParty, provider: LocalSource, version: '1'}}
        configuration: {{Path: image}}
        outputArtifacts: [{{name: Image}}]
  - name: Deploy
    actions:
      - name: BlueGreen
        actionTypeId: {{category: Deploy, owner: AWS, provider: CodeDeployToECS, version: '1'}}
        configuration:
          ApplicationName: {app}
          DeploymentGroupName: {group}
          TaskDefinitionTemplateArtifact: Src
          AppSpecTemplateArtifact: Src
          Image1ArtifactName: Image
          Image1ContainerName: IMAGE1_NAME
        inputArtifacts: [{{name: Src}}, {{name: Image}}]
"##
    ));
    let latest = wait_external(&l, &name, "BlueGreen");
    let deployment = latest["externalExecutionId"]
        .as_str()
        .expect("id")
        .to_owned();
    let revision = moto::deployment_revision(&cd, &deployment).await;
    let spec = revision
        .app_spec_content()
        .and_then(|c| c.content())
        .expect("AppSpec content")
        .to_owned();
    let arn = spec
        .split("TaskDefinition: ")
        .nth(1)
        .and_then(|r| r.lines().next())
        .expect("a task definition in the AppSpec")
        .trim()
        .to_owned();
    assert!(arn.contains(&family), "{spec}");
    let td = aws_sdk_ecs::Client::new(&sdk)
        .describe_task_definition()
        .task_definition(&arn)
        .send()
        .await
        .expect("registered");
    let image = td
        .task_definition()
        .and_then(|t| t.container_definitions()[0].image().map(str::to_owned));
    assert_eq!(image.as_deref(), Some("registry.example/web@sha256:abc"));
    abandon(&l, child, &name);
}

/// `examples/cloudformation` runs against the emulator with the command its header gives.
#[tokio::test]
async fn the_cloudformation_example_runs() {
    let l = Local::new();
    copy_dir(
        &workspace().join("examples/cloudformation"),
        &l.path("example"),
    );
    let file = l.path("example/pipeline.yaml");
    let out = l
        .cmd(&["run", file.to_str().expect("utf-8"), "--auto-approve"])
        .output()
        .expect("runs");
    succeeded(&out);
}

/// `examples/ecs` runs against the emulator with the command its header gives.
#[tokio::test]
async fn the_ecs_example_runs() {
    let l = Local::new();
    copy_dir(&workspace().join("examples/ecs"), &l.path("example"));
    let file = l.path("example/pipeline.yaml");
    let out = l
        .cmd(&["run", file.to_str().expect("utf-8"), "--auto-approve"])
        .output()
        .expect("runs");
    succeeded(&out);
}

/// The median of some milliseconds.
fn median(mut xs: Vec<i64>) -> i64 {
    xs.sort_unstable();
    xs[xs.len() / 2]
}

/// When a stack last reached CREATE_COMPLETE or UPDATE_COMPLETE, in epoch milliseconds (from its events).
async fn completed_ms(cfn: &aws_sdk_cloudformation::Client, stack: &str) -> i64 {
    let events = cfn
        .describe_stack_events()
        .stack_name(stack)
        .send()
        .await
        .expect("events");
    events
        .stack_events()
        .iter()
        .filter(|e| {
            e.resource_type() == Some("AWS::CloudFormation::Stack")
                && matches!(
                    e.resource_status().map(|s| s.as_str()),
                    Some("CREATE_COMPLETE" | "UPDATE_COMPLETE")
                )
        })
        .filter_map(|e| e.timestamp().and_then(|t| t.to_millis().ok()))
        .max()
        .expect("a completion event")
}

/// Benchmark (`bench/provider-latency.sh`): how long after a stack reaches CREATE_COMPLETE on moto the next action
/// starts in `sluice run`, against the same run's baseline, a Commands action followed by another.
#[tokio::test]
#[ignore = "a benchmark: bench/provider-latency.sh runs it"]
async fn bench_stack_complete_to_next_action_locally() {
    let l = Local::new();
    let sdk = config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    l.write("src/stack.yaml", STACK_TEMPLATE);
    let show = |id: &str| l.json(&["show", id]);
    let started = |shown: &Value, action: &str, field: &str| {
        shown["actions"]
            .as_array()
            .expect("actions")
            .iter()
            .find(|a| a["action"] == action)
            .and_then(|a| a[field].as_i64())
            .unwrap_or_else(|| panic!("{action}.{field} in {shown}"))
    };
    let (mut after_stack, mut detection, mut baseline) = (Vec::new(), Vec::new(), Vec::new());
    let poll = std::env::var("SLUICE_POLL_MAX_SECONDS").unwrap_or_else(|_| "10".into());
    for _ in 0..5 {
        let stack = unique("bench");
        let pipeline = format!(
            r##"
name: {stack}
pipelineType: V2
stages:
  - name: Source
    actions:
      - name: Src
        actionTypeId: {{category: Source, owner: ThirdParty, provider: LocalSource, version: '1'}}
        configuration: {{Path: src}}
        outputArtifacts: [{{name: Src}}]
  - name: Deploy
    actions:
      - name: Stack
        actionTypeId: {{category: Deploy, owner: AWS, provider: CloudFormation, version: '1'}}
        configuration: {{ActionMode: CREATE_UPDATE, StackName: {stack}, TemplatePath: 'Src::stack.yaml', ParameterOverrides: '{{"Stage": "bench"}}'}}
        inputArtifacts: [{{name: Src}}]
      - name: Next
        runOrder: 2
        actionTypeId: {{category: Compute, owner: AWS, provider: Commands, version: '1'}}
        commands: ['true']
        inputArtifacts: [{{name: Src}}]
"##
        );
        let mut cmd = l.cmd(&["run"]);
        cmd.arg(l.write("bench.yaml", &pipeline))
            .env("SLUICE_POLL_MAX_SECONDS", &poll);
        let out = cmd.output().expect("run");
        succeeded(&out);
        let shown = show(&execution_id(&out));
        let complete = completed_ms(&cfn, &stack).await;
        after_stack.push(started(&shown, "Next", "startedMs") - complete);
        detection.push(started(&shown, "Stack", "updatedMs") - complete);

        let plain = pipeline.replace(
            "actionTypeId: {category: Deploy, owner: AWS, provider: CloudFormation, version: '1'}",
            "actionTypeId: {category: Compute, owner: AWS, provider: Commands, version: '1'}\n        commands: ['true']",
        );
        let plain = plain
            .lines()
            .filter(|line| !line.contains("ActionMode"))
            .collect::<Vec<_>>()
            .join("\n");
        let out = l
            .cmd(&[
                "run",
                l.write("plain.yaml", &plain).to_str().expect("utf-8"),
            ])
            .output()
            .expect("run");
        succeeded(&out);
        let shown = show(&execution_id(&out));
        baseline.push(started(&shown, "Next", "startedMs") - started(&shown, "Stack", "updatedMs"));
    }
    println!(
        "local (sluice run, SLUICE_POLL_MAX_SECONDS={poll}), median of 5: stack CREATE_COMPLETE -> next action \
         started {} ms (of which seen complete after {} ms); baseline, Commands action done -> next action \
         started {} ms",
        median(after_stack),
        median(detection),
        median(baseline)
    );
}

/// A cross-region pipeline: the action's `region` sends its provider's calls there (moto keeps each region's
/// stacks apart), and its output artifact goes to that region's entry of `artifactStores`.
#[tokio::test]
async fn an_action_with_a_region_deploys_in_that_region() {
    let l = Local::new();
    let west = bucket("west-artifacts").await;
    let stack = unique("cfn-west");
    l.write(
        "src/stack.yaml",
        "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\nOutputs:\n  Region: {Value: !Ref 'AWS::Region'}\n",
    );
    let pipeline = format!(
        r##"
name: {stack}
pipelineType: V2
roleArn: arn:aws:iam::123456789012:role/sluice-test
artifactStores:
  eu-west-1: {{type: S3, location: {west}}}
stages:
  - name: Source
    actions:
      - name: Src
        actionTypeId: {{category: Source, owner: ThirdParty, provider: LocalSource, version: '1'}}
        configuration: {{Path: src}}
        outputArtifacts: [{{name: Src}}]
  - name: Deploy
    actions:
      - name: Stack
        region: eu-west-1
        actionTypeId: {{category: Deploy, owner: AWS, provider: CloudFormation, version: '1'}}
        configuration:
          ActionMode: CREATE_UPDATE
          StackName: {stack}
          TemplatePath: Src::stack.yaml
          RoleArn: arn:aws:iam::123456789012:role/cfn
          OutputFileName: outputs.json
        inputArtifacts: [{{name: Src}}]
        outputArtifacts: [{{name: Outputs}}]
"##
    );
    let out = l.run(&pipeline);
    succeeded(&out);
    let in_region = |region: &'static str| async move {
        let sdk = config().await;
        let sdk = sdk
            .to_builder()
            .region(aws_config::Region::new(region))
            .build();
        aws_sdk_cloudformation::Client::new(&sdk)
    };
    let west_stacks = in_region("eu-west-1")
        .await
        .describe_stacks()
        .stack_name(&stack)
        .send()
        .await
        .expect("the stack is in eu-west-1");
    assert_eq!(west_stacks.stacks().len(), 1);
    let home = in_region("us-east-1")
        .await
        .describe_stacks()
        .stack_name(&stack)
        .send()
        .await;
    assert!(home.is_err(), "no stack in us-east-1: {home:?}");
    // The Deploy action's output is kept in eu-west-1's artifact store; the source's (no region) in the
    // runtime's own.
    let deployed = l.action(&execution_id(&out), "Stack");
    assert_eq!(
        deployed["outputArtifacts"][0]["object"]["bucket"],
        west.as_str(),
        "{deployed}"
    );
    let source = l.action(&execution_id(&out), "Src");
    assert_ne!(
        source["outputArtifacts"][0]["object"]["bucket"],
        west.as_str(),
        "{source}"
    );
}
