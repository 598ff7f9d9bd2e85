//! The console's action logs in AWS, on moto: a CodeBuild action's build id leads to its CloudWatch Logs
//! stream (CodeBuild's default one when BatchGetBuilds names none, as moto's builds do), whose last lines and
//! console link the execution page shows; an action without a build, or a build that has not logged yet, has
//! no log.

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use sluice_functions::console_logs::{CloudWatchActionLogs, LogStream};
use sluice_tests::moto;
use sluice_web::console::logs::{ActionLogs, LogRef};

#[tokio::test]
async fn a_builds_last_log_lines_come_from_its_cloudwatch_stream() {
    let sdk = moto::config().await;
    let project = moto::unique("console-logs");
    moto::codebuild_project(&sdk, &project).await;
    let build_id = aws_sdk_codebuild::Client::new(&sdk)
        .start_build()
        .project_name(&project)
        .send()
        .await
        .expect("StartBuild")
        .build_value()
        .and_then(|b| b.id())
        .map(str::to_owned)
        .expect("a build id");
    let logs = CloudWatchActionLogs::new(&sdk);
    let at = LogRef {
        execution_id: "e-1",
        stage: "Build",
        action: "Compile",
        external_execution_id: Some(&build_id),
    };

    // Nothing logged yet: no log, and no error.
    assert_eq!(logs.tail(&at, 4096).await.expect("tail"), None);

    let stream = LogStream::default_of(&build_id).expect("a build id is project:uuid");
    let cw = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    cw.create_log_group()
        .log_group_name(&stream.group)
        .send()
        .await
        .expect("log group");
    cw.create_log_stream()
        .log_group_name(&stream.group)
        .log_stream_name(&stream.stream)
        .send()
        .await
        .expect("log stream");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let mut put = cw
        .put_log_events()
        .log_group_name(&stream.group)
        .log_stream_name(&stream.stream);
    for (i, line) in [
        "[Container] Entering phase BUILD",
        "compiling 12 crates",
        "tests: 40 passed\n",
    ]
    .iter()
    .enumerate()
    {
        put = put.log_events(
            InputLogEvent::builder()
                .timestamp(now_ms + i as i64)
                .message(*line)
                .build()
                .expect("event"),
        );
    }
    put.send().await.expect("PutLogEvents");

    let tail = logs.tail(&at, 4096).await.expect("tail").expect("a log");
    assert_eq!(
        tail.text,
        "[Container] Entering phase BUILD\ncompiling 12 crates\ntests: 40 passed"
    );
    let link = tail.link.expect("a link to the whole log");
    assert!(
        link.contains("#logsV2:log-groups/log-group/$252Faws$252Fcodebuild$252F")
            && link.ends_with(&format!("/log-events/{}", stream.stream)),
        "{link}"
    );
    // The end only, in whole lines.
    let short = logs.tail(&at, 20).await.expect("tail").expect("a log");
    assert_eq!(short.text, "tests: 40 passed");

    // An action that ran no build has no log here.
    let no_build = LogRef {
        external_execution_id: None,
        ..at
    };
    assert_eq!(logs.tail(&no_build, 4096).await.expect("tail"), None);
}
