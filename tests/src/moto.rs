//! Helpers for the suites that run against an AWS endpoint (the moto emulator under `make test`): the SDK
//! configuration, unique resource names, turning on moto's Step Functions execution, and the bridge that plays
//! the Lambda part of a Step Functions task (reading scheduled tasks and their payloads from the history).

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use aws_sdk_sfn::types::HistoryEventType;
use serde_json::Value;
use sluice_definition::contract::TaskRequest;

/// The SDK configuration, refusing to run without an explicit endpoint: these suites must never silently pass
/// (or silently hit a real account) because nobody started the emulator.
pub async fn config() -> aws_config::SdkConfig {
    endpoint();
    sluice_aws::load_config().await
}

/// A DynamoDB client of the emulator that answers one request at a time (`infra/moto.sh` starts it beside the
/// threaded one; `SLUICE_SERIAL_ENDPOINT_URL` names it): DynamoDB applies each request atomically, and the suites
/// that race conditional writes need an emulator that does too. The address is set on the client itself: the
/// SDK lets `AWS_ENDPOINT_URL` win over an endpoint given in the shared configuration.
pub async fn serial_dynamodb() -> aws_sdk_dynamodb::Client {
    let sdk = config().await;
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(serial_endpoint())
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

/// The serial emulator's address.
pub fn serial_endpoint() -> String {
    match std::env::var("SLUICE_SERIAL_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "SLUICE_SERIAL_ENDPOINT_URL is not set: `infra/moto.sh start` starts the serial emulator on \
             127.0.0.1:5001; run with SLUICE_SERIAL_ENDPOINT_URL=http://127.0.0.1:5001 (or run `make test`)"
        ),
    }
}

fn endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "AWS_ENDPOINT_URL is not set: start the emulator with `infra/moto.sh start` and run with \
             AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
             AWS_REGION=us-east-1 (or run `make test`, which does both)"
        ),
    }
}

/// A name no other run uses (lowercase, valid for tables, buckets, queues and state machines alike).
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("{prefix}-{}-{nanos:x}", std::process::id())
}

/// An SQS queue and its ARN.
pub async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    use aws_sdk_sqs::types::QueueAttributeName;
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("queue url")
        .to_owned();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("queue arn");
    (url, arn)
}

/// An SNS topic with an SQS queue subscribed to it (raw delivery, so the queue gets each message as
/// published): the topic's ARN and the queue's URL.
pub async fn topic_to_queue(sdk: &aws_config::SdkConfig, name: &str) -> (String, String) {
    let sns = aws_sdk_sns::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let topic = sns
        .create_topic()
        .name(unique(name))
        .send()
        .await
        .expect("create topic")
        .topic_arn()
        .expect("topic arn")
        .to_owned();
    let (url, queue_arn) = queue(&sqs, &unique(name)).await;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .expect("subscribe");
    (topic, url)
}

/// The next message bodies on a queue (each deleted once read) until `want` arrived or 20 s passed.
pub async fn receive(sqs: &aws_sdk_sqs::Client, url: &str, want: usize) -> Vec<String> {
    let mut bodies = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while bodies.len() < want && std::time::Instant::now() < deadline {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        for message in out.messages() {
            bodies.extend(message.body().map(str::to_owned));
            if let Some(handle) = message.receipt_handle() {
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }
    bodies
}

/// A new event bus whose rule with `pattern` delivers to a new queue: the bus name and the queue's URL.
pub async fn bus_to_queue(
    sdk: &aws_config::SdkConfig,
    name: &str,
    pattern: &Value,
) -> (String, String) {
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let bus = unique(name);
    events
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .expect("create bus");
    let (url, queue_arn) = queue(&aws_sdk_sqs::Client::new(sdk), &unique(name)).await;
    let rule = unique(name);
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(&bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .expect("put rule");
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(&queue_arn)
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("put targets");
    (bus, url)
}

/// The state machines' role the suites name.
pub const STATES_ROLE: &str = "arn:aws:iam::123456789012:role/sluice-states";
/// The dispatch function's ARN the suites fill into compiled machines.
pub const DISPATCH_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:sluice-dispatch";

/// A Step Functions orchestrator on the emulator naming its machines with `prefix` and starting them with
/// `start_target` (moto cannot start versions or aliases: most suites use `StartTarget::CheckedLatest`).
pub fn orchestrator(
    sdk: &aws_config::SdkConfig,
    prefix: &str,
    start_target: sluice_aws::StartTarget,
) -> sluice_aws::StepFunctionsOrchestrator {
    let mut settings = sluice_aws::StepFunctionsConfig::new(STATES_ROLE, ACCOUNT, DISPATCH_ARN);
    settings.start_target = start_target;
    settings.name_prefix = prefix.to_owned();
    sluice_aws::StepFunctionsOrchestrator::from_sdk(sdk, settings).expect("orchestrator")
}

/// Turns on versioning of `bucket` (artifact buckets and S3 source buckets are versioned).
pub async fn enable_versioning(s3: &aws_sdk_s3::Client, bucket: &str) {
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("versioning of {bucket}: {e}"));
}

/// The account moto puts every resource in.
pub const ACCOUNT: &str = "123456789012";

/// Makes moto run state machines (without this its executions stay RUNNING forever) and answer Lambda
/// invocations without Docker. The setting is global to the emulator and survives its resets; setting it
/// again is harmless. A plain HTTP POST, so the suites need nothing besides the emulator.
pub fn enable_step_functions_execution() {
    let body = r#"{"stepfunctions":{"execute_state_machine":true},"lambda":{"use_docker":false}}"#;
    let (status, reply) = post(
        "/moto-api/config",
        &[("Content-Type", "application/json")],
        body,
    );
    assert!(
        (200..300).contains(&status),
        "the emulator refused /moto-api/config (these suites need moto): {status} {reply}"
    );
}

/// POSTs `body` to the emulator; the reply's status and body.
fn post(path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let url = endpoint();
    let authority = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("AWS_ENDPOINT_URL {url} is not an http:// emulator address"))
        .trim_end_matches('/');
    let mut request = format!("POST {path} HTTP/1.1\r\nHost: {authority}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    let mut stream = TcpStream::connect(authority)
        .unwrap_or_else(|e| panic!("cannot reach the emulator at {authority}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read reply");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

/// A task the state machine scheduled: its history event id and the dispatch payload, token included.
#[derive(Debug, Clone)]
pub struct ScheduledTask {
    /// The TaskScheduled event's id.
    pub event_id: i64,
    /// The payload, read as the contract's request.
    pub request: TaskRequest,
}

/// Every history event of an execution, oldest first.
pub async fn history(
    client: &aws_sdk_sfn::Client,
    execution_arn: &str,
) -> Vec<aws_sdk_sfn::types::HistoryEvent> {
    let mut events = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = client
            .get_execution_history()
            .execution_arn(execution_arn)
            .max_results(1000)
            .set_next_token(next.take())
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "history of {execution_arn}: {}",
                    aws_sdk_sfn::error::DisplayErrorContext(&e)
                )
            });
        events.extend(page.events().iter().cloned());
        match page.next_token() {
            Some(t) => next = Some(t.to_owned()),
            None => return events,
        }
    }
}

/// The tasks scheduled since the last call (those in `seen` are skipped, and new ones added to it). Each
/// TaskScheduled event's `parameters` is the task's resolved Parameters: `FunctionName` and the `Payload` the
/// dispatch function would receive.
pub async fn new_tasks(
    client: &aws_sdk_sfn::Client,
    execution_arn: &str,
    seen: &mut HashSet<i64>,
) -> Vec<ScheduledTask> {
    let mut out = Vec::new();
    for event in history(client, execution_arn).await {
        if event.r#type() != &HistoryEventType::TaskScheduled || seen.contains(&event.id()) {
            continue;
        }
        let details = event
            .task_scheduled_event_details()
            .expect("TaskScheduled events have details");
        let parameters: Value = serde_json::from_str(details.parameters())
            .unwrap_or_else(|e| panic!("parameters of event {}: {e}", event.id()));
        let request: TaskRequest = serde_json::from_value(parameters["Payload"].clone())
            .unwrap_or_else(|e| {
                panic!(
                    "payload of event {} is not a TaskRequest ({e}): {parameters}",
                    event.id()
                )
            });
        seen.insert(event.id());
        out.push(ScheduledTask {
            event_id: event.id(),
            request,
        });
    }
    out
}

/// An execution's status (RUNNING, SUCCEEDED, FAILED, ABORTED, ...).
pub async fn status(client: &aws_sdk_sfn::Client, execution_arn: &str) -> String {
    client
        .describe_execution()
        .execution_arn(execution_arn)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "describe {execution_arn}: {}",
                aws_sdk_sfn::error::DisplayErrorContext(&e)
            )
        })
        .status()
        .as_str()
        .to_owned()
}

/// The token of a task request.
pub fn token(request: &TaskRequest) -> &str {
    match request {
        TaskRequest::EnterStage { token, .. }
        | TaskRequest::RunAction { token, .. }
        | TaskRequest::LeaveStage { token, .. }
        | TaskRequest::StageFailed { token, .. }
        | TaskRequest::RollbackStage { token, .. } => token,
    }
}

/// What a task request asks, without its token: `enter Build`, `run Build.Greet`, `leave Build`, ...
pub fn describe(request: &TaskRequest) -> String {
    match request {
        TaskRequest::EnterStage { stage, .. } => format!("enter {stage}"),
        TaskRequest::RunAction { stage, action, .. } => format!("run {stage}.{action}"),
        TaskRequest::LeaveStage { stage, .. } => format!("leave {stage}"),
        TaskRequest::StageFailed { stage, .. } => format!("failed {stage}"),
        TaskRequest::RollbackStage { stage, .. } => format!("rollback {stage}"),
    }
}

/// An ECS cluster and a service of one task (EC2 launch type, so moto needs no network) running family
/// `<family>` with one container named `web`.
pub async fn ecs_service(ecs: &aws_sdk_ecs::Client, family: &str) -> (String, String) {
    use aws_sdk_ecs::types::ContainerDefinition;
    let cluster = unique("cluster");
    let service = unique("service");
    ecs.create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .expect("cluster");
    let family = unique(family);
    let td = ecs
        .register_task_definition()
        .family(&family)
        .container_definitions(
            ContainerDefinition::builder()
                .name("web")
                .image("registry.example/web:1")
                .memory(128)
                .essential(true)
                .build(),
        )
        .send()
        .await
        .expect("task definition");
    let arn = td
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .expect("arn")
        .to_owned();
    ecs.create_service()
        .cluster(&cluster)
        .service_name(&service)
        .task_definition(arn)
        .desired_count(1)
        .send()
        .await
        .expect("service");
    (cluster, service)
}

/// A CodeDeploy application and deployment group (the ECS compute platform with `ecs`): their names.
pub async fn codedeploy_group(cd: &aws_sdk_codedeploy::Client, ecs: bool) -> (String, String) {
    let app = unique("app");
    let group = unique("group");
    let mut create = cd.create_application().application_name(&app);
    if ecs {
        create = create.compute_platform(aws_sdk_codedeploy::types::ComputePlatform::Ecs);
    }
    create.send().await.expect("application");
    cd.create_deployment_group()
        .application_name(&app)
        .deployment_group_name(&group)
        .service_role_arn("arn:aws:iam::123456789012:role/codedeploy")
        .send()
        .await
        .expect("group");
    (app, group)
}

/// The image of the first container of the task definition an ECS service runs.
pub async fn service_image(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
) -> Option<String> {
    let described = ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .expect("describe");
    let td = described.services()[0]
        .task_definition()
        .expect("task definition")
        .to_owned();
    ecs.describe_task_definition()
        .task_definition(&td)
        .send()
        .await
        .expect("task definition")
        .task_definition()
        .and_then(|t| {
            t.container_definitions()
                .first()
                .and_then(|c| c.image().map(str::to_owned))
        })
}

/// What CodeDeploy recorded of a deployment's revision.
pub async fn deployment_revision(
    cd: &aws_sdk_codedeploy::Client,
    id: &str,
) -> aws_sdk_codedeploy::types::RevisionLocation {
    cd.get_deployment()
        .deployment_id(id)
        .send()
        .await
        .expect("deployment")
        .deployment_info()
        .and_then(|i| i.revision())
        .cloned()
        .expect("a revision")
}

/// A state machine of `definition` (ASL), created on moto; its ARN.
pub async fn state_machine(sdk: &aws_config::SdkConfig, name: &str, definition: &str) -> String {
    aws_sdk_sfn::Client::new(sdk)
        .create_state_machine()
        .name(name)
        .role_arn(STATES_ROLE)
        .definition(definition)
        .send()
        .await
        .expect("state machine")
        .state_machine_arn()
        .to_owned()
}

/// A CodeBuild project on moto, as Sluice's builds use one (every build overrides the source; moto wants one
/// all the same).
pub async fn codebuild_project(sdk: &aws_config::SdkConfig, name: &str) {
    use aws_sdk_codebuild::types::{
        ArtifactsType, ComputeType, EnvironmentType, ProjectArtifacts, ProjectEnvironment,
        ProjectSource, SourceType,
    };
    aws_sdk_codebuild::Client::new(sdk)
        .create_project()
        .name(name)
        .source(
            ProjectSource::builder()
                .r#type(SourceType::S3)
                .location("sluice-placeholder/source.zip")
                .build()
                .expect("source"),
        )
        .artifacts(
            ProjectArtifacts::builder()
                .r#type(ArtifactsType::NoArtifacts)
                .build()
                .expect("artifacts"),
        )
        .environment(
            ProjectEnvironment::builder()
                .r#type(EnvironmentType::LinuxContainer)
                .image("aws/codebuild/standard:7.0")
                .compute_type(ComputeType::BuildGeneral1Small)
                .build()
                .expect("environment"),
        )
        .service_role(format!("arn:aws:iam::123456789012:role/codebuild-{name}"))
        .send()
        .await
        .expect("project");
}
