//! Stage conditions' AWS rules on moto: CloudWatchAlarm rules run by `sluice run` with the standard AWS
//! settings pointed at the emulator (`AWS_ENDPOINT_URL`): an alarm outside the failing states lets the stage
//! in, one in ALARM fails it naming the alarm, and a WaitTime watch fails as soon as the alarm goes off, long
//! before the wait is over.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
use sluice_tests::moto::{config, unique};
use sluice_tests::sluice_bin;

struct Local {
    dir: tempfile::TempDir,
}

impl Local {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("src")).expect("src");
        std::fs::write(dir.path().join("src/app.txt"), "app\n").expect("file");
        Self { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn cmd(&self, definition: &str) -> Command {
        let file = self.path("pipeline.yaml");
        std::fs::write(&file, definition).expect("write");
        let mut c = Command::new(sluice_bin());
        c.arg("--state-dir")
            .arg(self.path("state"))
            .args(["run", file.to_str().expect("utf-8"), "--auto-approve"])
            .env("SLUICE_POLL_MAX_SECONDS", "0.5")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn run(&self, definition: &str) -> Output {
        let out = self.cmd(definition).output().expect("sluice runs");
        eprintln!("{}", text(&out));
        out
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn alarm(cw: &aws_sdk_cloudwatch::Client, state: StateValue) -> String {
    let name = unique("sluice-rule-alarm");
    cw.put_metric_alarm()
        .alarm_name(&name)
        .namespace("Sluice/Tests")
        .metric_name("Errors")
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .send()
        .await
        .expect("PutMetricAlarm");
    set(cw, &name, state).await;
    name
}

async fn set(cw: &aws_sdk_cloudwatch::Client, name: &str, state: StateValue) {
    cw.set_alarm_state()
        .alarm_name(name)
        .state_value(state)
        .state_reason("set by the test")
        .send()
        .await
        .expect("SetAlarmState");
}

/// Source, then Deploy (one Commands action) with `conditions` at the stage's indentation.
fn pipeline(name: &str, conditions: &str) -> String {
    format!(
        r#"
name: {name}
pipelineType: V2
stages:
  - name: Source
    actions:
      - name: Checkout
        actionTypeId: {{category: Source, owner: ThirdParty, provider: LocalSource, version: "1"}}
        configuration: {{Path: src}}
        outputArtifacts: [{{name: Src}}]
  - name: Deploy
{conditions}
    actions:
      - name: Ship
        actionTypeId: {{category: Compute, owner: AWS, provider: Commands, version: "1"}}
        inputArtifacts: [{{name: Src}}]
        commands: ["cat app.txt"]
"#
    )
}

fn alarm_rule(place: &str, alarm: &str, extra: &str) -> String {
    format!(
        r#"    {place}:
      conditions:
        - result: FAIL
          rules:
            - name: Errors
              ruleTypeId: {{category: Rule, owner: AWS, provider: CloudWatchAlarm, version: "1"}}
              configuration: {{AlarmName: {alarm}{extra}}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudwatch_alarm_rules_gate_a_stage_run_by_sluice_run() {
    let cw = aws_sdk_cloudwatch::Client::new(&config().await);
    let quiet = alarm(&cw, StateValue::Ok).await;
    let firing = alarm(&cw, StateValue::Alarm).await;

    let local = Local::new();
    let out = local.run(&pipeline("quiet", &alarm_rule("beforeEntry", &quiet, "")));
    assert!(out.status.success(), "{}", text(&out));

    let local = Local::new();
    let out = local.run(&pipeline("firing", &alarm_rule("beforeEntry", &firing, "")));
    assert!(!out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains(&firing) && said.contains("ALARM"),
        "the failure names the alarm and its state: {said}"
    );
    // INSUFFICIENT_DATA fails only when the rule says so.
    let local = Local::new();
    set(&cw, &quiet, StateValue::InsufficientData).await;
    let out = local.run(&pipeline(
        "insufficient",
        &alarm_rule(
            "beforeEntry",
            &quiet,
            ", AlarmStates: \"ALARM,INSUFFICIENT_DATA\"",
        ),
    ));
    assert!(!out.status.success(), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_going_off_while_watched_fails_the_stage_before_the_wait_ends() {
    let cw = aws_sdk_cloudwatch::Client::new(&config().await);
    let baking = alarm(&cw, StateValue::Ok).await;
    let local = Local::new();
    sluice_bin();
    let started = Instant::now();
    let child = local
        .cmd(&pipeline(
            "baking",
            &alarm_rule("onSuccess", &baking, ", WaitTime: \"5\""),
        ))
        .spawn()
        .expect("sluice runs");
    // The stage's actions run, then the alarm is watched; it goes off a few seconds in.
    tokio::time::sleep(Duration::from_secs(6)).await;
    set(&cw, &baking, StateValue::Alarm).await;
    let out = child.wait_with_output().expect("sluice ends");
    eprintln!("{}", text(&out));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("ALARM"), "{}", text(&out));
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "the watch ended when the alarm went off, not after five minutes"
    );
}
