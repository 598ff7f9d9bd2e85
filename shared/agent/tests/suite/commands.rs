//! The Commands action and the agent's own duties: logs, timeouts, cancel, starting once, unsupported types.

use std::time::Duration;

use sluice_agent::{log_path, supports};
use sluice_runtime::jobs::Executor;

use crate::support::*;

fn commands(name: &str, lines: &[&str]) -> sluice_runtime::jobs::Job {
    let mut job = job(name, action("Compute", "AWS", "Commands"));
    job.commands = lines.iter().map(|l| l.to_string()).collect();
    job
}

#[tokio::test]
async fn commands_share_one_shell_and_produce_outputs_and_variables() {
    let mut h = Harness::new();
    let mut job = commands(
        "Build",
        &[
            "mkdir -p out",
            "cd out",
            "echo built > result.txt",
            "export VERSION=1.2.3",
            "cd ..",
            "cat hello.txt >> out/result.txt",
            "cp \"$CODEBUILD_SRC_DIR_Extra/extra.txt\" out/",
            "echo \"$GREETING\" > out/greeting.txt",
            "echo to-stderr >&2",
        ],
    );
    job.inputs = vec![
        h.input("Source", &[("hello.txt", "hello\n")]),
        h.input("Extra", &[("extra.txt", "more\n")]),
    ];
    job.environment.insert("GREETING".into(), "hi".into());
    job.output_variables = vec!["VERSION".into()];
    job.outputs = vec![output("BuildOut", &["out/**/*"])];
    let outcome = h.run(job.clone()).await;
    let (artifacts, variables) = succeeded(&outcome);
    assert_eq!(variables.get("VERSION").map(String::as_str), Some("1.2.3"));
    let files = h.artifact(&artifacts["BuildOut"]);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["out/extra.txt", "out/greeting.txt", "out/result.txt"]
    );
    assert_eq!(files["out/result.txt"].0, "built\nhello\n");
    assert_eq!(files["out/greeting.txt"].0, "hi\n");

    let log = h.log(&job);
    assert!(
        log.contains("[Container] Running command echo built > result.txt\n"),
        "{log}"
    );
    assert!(log.contains("to-stderr\n"), "{log}");
    assert_eq!(
        h.agent.log_path(&job),
        h.path().join("logs/exec-1/Stage.Build.1.log")
    );
    assert_eq!(
        log_path(&h.path().join("logs"), &job),
        h.agent.log_path(&job)
    );
    assert!(
        !h.path().join("work/exec-1/Stage.Build.1.run1").exists(),
        "the folder of a job that succeeded is removed"
    );
    assert!(!h.agent.is_running(&job.id).await);
}

#[tokio::test]
async fn a_failing_command_fails_the_job_with_its_exit_code() {
    let mut h = Harness::new();
    let job = commands(
        "Fail",
        &["echo one", "sh -c 'exit 7'", "echo never-printed"],
    );
    let outcome = h.run(job.clone()).await;
    assert_eq!(
        failure(&outcome),
        "command `sh -c 'exit 7'` failed with exit code 7"
    );
    let log = h.log(&job);
    assert!(
        log.contains("one\n") && !log.contains("never-printed"),
        "{log}"
    );
    assert!(
        log.contains("Job failed: command `sh -c 'exit 7'` failed"),
        "{log}"
    );
    assert!(
        h.path().join("work/exec-1/Stage.Fail.1.run1/src").is_dir(),
        "a failed job's folder is kept"
    );

    // A rerun of the same attempt appends to the log and starts from a fresh folder.
    let outcome = h.run(job.clone()).await;
    failure(&outcome);
    assert_eq!(
        h.log(&job)
            .matches("Job exec-1/Stage/Fail/1 started")
            .count(),
        2
    );
}

#[tokio::test]
async fn set_e_stops_inside_a_multi_line_command() {
    let mut h = Harness::new();
    let job = commands("Multi", &["false\necho after-false"]);
    let outcome = h.run(job.clone()).await;
    assert_eq!(
        failure(&outcome),
        "command `false\necho after-false` failed with exit code 1"
    );
    // Once, in the command's header line; never as output.
    assert_eq!(h.log(&job).matches("after-false\n").count(), 1);
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    let mut h = Harness::new();
    let pid_file = h.path().join("pgid");
    let mut job = commands(
        "Slow",
        &[
            &format!("echo $$ > {}", pid_file.display()),
            "sh -c 'sleep 100 & sleep 100'",
        ],
    );
    job.timeout_seconds = 2;
    let started = std::time::Instant::now();
    let outcome = h.run(job.clone()).await;
    assert_eq!(failure(&outcome), "timed out after 2 seconds");
    assert!(started.elapsed() < Duration::from_secs(20));
    let pgid: i32 = wait_for_file(&pid_file).await.parse().unwrap();
    assert!(
        group_is_gone(pgid).await,
        "still alive: {:?}",
        live_members(pgid)
    );
}

#[tokio::test]
async fn cancel_kills_the_job_and_reports_it() {
    let mut h = Harness::new();
    let pid_file = h.path().join("pgid");
    let job = commands(
        "Cancel",
        &[
            &format!("echo $$ > {}", pid_file.display()),
            "sleep 100 & sleep 100",
        ],
    );
    h.agent.start(job.clone()).await.unwrap();
    let pgid: i32 = wait_for_file(&pid_file).await.parse().unwrap();
    assert!(h.agent.is_running(&job.id).await);
    h.agent.cancel(&job.id).await;
    let outcome = h.next(&job).await;
    assert_eq!(failure(&outcome), "cancelled");
    assert!(
        group_is_gone(pgid).await,
        "still alive: {:?}",
        live_members(pgid)
    );
    // The job leaves the running set right after its listener heard the outcome.
    let mut still_running = true;
    for _ in 0..40 {
        still_running = h.agent.is_running(&job.id).await;
        if !still_running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!still_running);
    h.agent.cancel("no-such-job").await;
}

#[tokio::test]
async fn a_job_already_running_is_not_started_twice() {
    let mut h = Harness::new();
    let job = commands("Once", &["sleep 1"]);
    h.agent.start(job.clone()).await.unwrap();
    h.agent.start(job.clone()).await.unwrap();
    h.next(&job).await;
    let second = tokio::time::timeout(Duration::from_millis(1500), h.outcomes.recv()).await;
    assert!(second.is_err(), "only one outcome");
    assert_eq!(h.log(&job).matches("started").count(), 1);
}

#[tokio::test]
async fn unsupported_providers_fail_at_once_saying_why() {
    let deploy = action("Deploy", "AWS", "CodeDeploy");
    let why = supports(&deploy).unwrap_err();
    assert_eq!(
        why,
        "CodeDeploy (Deploy/AWS/CodeDeploy/1) needs AWS: local runs support LocalSource, GitHub, \
         CodeStarSourceConnection, CodeCommit, S3 (source and deploy), CodeBuild, Commands and Manual approval"
    );
    assert!(supports(&action("Build", "AWS", "CodeBuild")).is_ok());
    assert!(supports(&action("Test", "AWS", "CodeBuild")).is_ok());
    assert!(supports(&action("Source", "AWS", "CodeStarSourceConnection")).is_ok());
    assert!(supports(&action("Source", "ThirdParty", "GitHub")).is_ok());
    assert!(supports(&action("Approval", "AWS", "Manual"))
        .unwrap_err()
        .contains("not a job"));
    assert!(supports(&action("Build", "Custom", "Jenkins"))
        .unwrap_err()
        .contains("job worker"));

    let mut h = Harness::new();
    let job = job("Deploy", deploy);
    let outcome = h.run(job).await;
    assert_eq!(failure(&outcome), why);
}

#[tokio::test]
async fn a_restarted_run_stops_what_an_earlier_run_left_running() {
    let mut h = Harness::new();
    // What a sluice killed mid-job leaves: run 1's folder with its shell still running in it.
    let earlier = h.path().join("work/exec-1/Stage.Orphan.1.run1");
    let workdir = earlier.join("src");
    std::fs::create_dir_all(&workdir).unwrap();
    std::fs::create_dir_all(earlier.join("scratch")).unwrap();
    let mut orphan = std::process::Command::new("sh");
    orphan.args(["-c", "sleep 100"]).current_dir(&workdir);
    std::os::unix::process::CommandExt::process_group(&mut orphan, 0);
    let mut orphan = orphan.spawn().unwrap();
    let pgid = i32::try_from(orphan.id()).unwrap();
    std::fs::write(earlier.join("scratch/pgid"), pgid.to_string()).unwrap();

    // Run 2 of the same attempt.
    let mut job = commands("Orphan", &["echo second run"]);
    job.id = "exec-1/Stage/Orphan/1/2".to_string();
    let outcome = h.run(job.clone()).await;
    assert!(
        matches!(outcome, sluice_runtime::jobs::JobOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
    let status = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(status) = orphan.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the earlier run's process was stopped");
    assert!(!status.success());
    assert!(h
        .log(&job)
        .contains(&format!("Stopping process group {pgid}")));
    assert!(!earlier.exists(), "the interrupted run's folder is removed");
}

/// The sweep removes interrupted runs' folders of executions that ended and failed jobs' folders past their
/// retention; it keeps what an open execution may still use and failed folders within their retention.
#[tokio::test]
async fn the_sweep_removes_what_nobody_needs() {
    let h = Harness::new();
    let work = h.path().join("work");
    let folder = |exec: &str, run: &str, failed_days_ago: Option<u64>| {
        let dir = work.join(exec).join(run);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        if let Some(days) = failed_days_ago {
            let marker = dir.join("FAILED");
            std::fs::write(&marker, "it failed").unwrap();
            let when = std::time::SystemTime::now() - Duration::from_secs(days * 86_400);
            std::fs::File::options()
                .write(true)
                .open(&marker)
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
        dir
    };
    let open_interrupted = folder("exec-open", "Build.Make.1.run1", None);
    let ended_interrupted = folder("exec-ended", "Build.Make.1.run1", None);
    let recent_failure = folder("exec-ended", "Test.Unit.1.run1", Some(1));
    let old_failure = folder("exec-old", "Test.Unit.1.run1", Some(8));
    let removed = h.agent.sweep(&["exec-open".to_string()]);
    assert_eq!(removed.len(), 2, "{removed:?}");
    assert!(open_interrupted.exists());
    assert!(!ended_interrupted.exists());
    assert!(recent_failure.exists());
    assert!(!old_failure.exists());
    assert!(
        !work.join("exec-old").exists(),
        "an emptied execution folder goes too"
    );
}
