//! The CodeBuild provider running buildspecs.

use crate::support::*;

fn build(
    h: &Harness,
    name: &str,
    buildspec: &str,
    extra: &[(&str, &str)],
) -> sluice_runtime::jobs::Job {
    let mut job = job(name, action("Build", "AWS", "CodeBuild"));
    let mut files = vec![("buildspec.yml", buildspec)];
    files.extend_from_slice(extra);
    job.inputs = vec![h.input("Source", &files)];
    job.outputs = vec![output("BuildArtifact", &[])];
    config(&mut job, &[("ProjectName", "demo")]);
    job
}

const BUILDSPEC: &str = r#"
version: 0.2
env:
  variables:
    STAGE_NAME: from-buildspec
    OVERRIDDEN: buildspec
    NUMBER: 3
  exported-variables:
    - BUILD_TAG
    - STAGE_NAME
phases:
  install:
    runtime-versions:
      nodejs: 20
    commands:
      - echo installing
  pre_build:
    commands:
      - test -f src/main.txt
  build:
    commands:
      - mkdir -p dist/sub
      - echo "$OVERRIDDEN $NUMBER" > dist/sub/app.txt
      - cp src/main.txt dist/top.txt
      - export BUILD_TAG="v-$STAGE_NAME"
    finally:
      - echo finally-ran
  post_build:
    commands:
      - echo done > post.txt
artifacts:
  base-directory: dist
  files:
    - '**/*'
"#;

#[tokio::test]
async fn a_buildspec_runs_with_env_exported_variables_and_base_directory() {
    let mut h = Harness::new();
    let mut job = build(&h, "Build", BUILDSPEC, &[("src/main.txt", "main\n")]);
    config(
        &mut job,
        &[(
            "EnvironmentVariables",
            r#"[{"name":"OVERRIDDEN","value":"action","type":"PLAINTEXT"}]"#,
        )],
    );
    let outcome = h.run(job.clone()).await;
    let (artifacts, variables) = succeeded(&outcome);
    assert_eq!(
        variables.get("BUILD_TAG").map(String::as_str),
        Some("v-from-buildspec")
    );
    assert_eq!(
        variables.get("STAGE_NAME").map(String::as_str),
        Some("from-buildspec")
    );
    let files = h.artifact(&artifacts["BuildArtifact"]);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, ["sub/app.txt", "top.txt"]);
    assert_eq!(files["sub/app.txt"].0, "action 3\n");
    let log = h.log(&job);
    for line in [
        "[Container] Entering phase INSTALL",
        "runtime-versions is ignored locally",
        "[Container] Running command echo installing",
        "[Container] Phase complete: BUILD State: SUCCEEDED",
        "finally-ran",
    ] {
        assert!(log.contains(line), "{line} in {log}");
    }
}

#[tokio::test]
async fn a_failed_build_still_runs_post_build_and_fails_the_job() {
    let mut h = Harness::new();
    let spec = r#"
version: 0.2
phases:
  build:
    commands:
      - sh -c 'exit 3'
      - echo not-run
  post_build:
    commands:
      - echo "post-build-ran succeeding=$CODEBUILD_BUILD_SUCCEEDING"
"#;
    let job = build(&h, "Fails", spec, &[]);
    let outcome = h.run(job.clone()).await;
    assert_eq!(
        failure(&outcome),
        "phase BUILD failed: command `sh -c 'exit 3'` exited with code 3"
    );
    let log = h.log(&job);
    assert!(log.contains("post-build-ran succeeding=0"), "{log}");
    assert!(!log.contains("not-run\n"), "{log}");
    assert!(
        log.contains("[Container] Phase complete: BUILD State: FAILED"),
        "{log}"
    );
}

#[tokio::test]
async fn a_failed_pre_build_skips_build_and_post_build() {
    let mut h = Harness::new();
    let spec = "version: 0.2\nphases:\n  pre_build:\n    commands:\n      - 'false'\n  build:\n    commands:\n      - echo build-ran\n  post_build:\n    commands:\n      - echo post-ran\n";
    let job = build(&h, "Pre", spec, &[]);
    let outcome = h.run(job.clone()).await;
    assert_eq!(
        failure(&outcome),
        "phase PRE_BUILD failed: command `false` exited with code 1"
    );
    let log = h.log(&job);
    assert!(
        !log.contains("build-ran\n") && !log.contains("post-ran\n"),
        "{log}"
    );
}

#[tokio::test]
async fn discard_paths_and_secondary_artifacts() {
    let mut h = Harness::new();
    let spec = r#"
version: 0.2
phases:
  build:
    commands:
      - mkdir -p a/b docs && echo x > a/b/x.txt && echo y > a/y.txt && echo d > docs/readme.md
artifacts:
  files:
    - 'a/**/*'
  discard-paths: yes
  secondary-artifacts:
    Docs:
      files:
        - docs/*
"#;
    let mut job = build(&h, "Secondary", spec, &[]);
    job.outputs.push(output("Docs", &[]));
    let outcome = h.run(job).await;
    let (artifacts, _) = succeeded(&outcome);
    let main: Vec<String> = h
        .artifact(&artifacts["BuildArtifact"])
        .into_keys()
        .collect();
    assert_eq!(main, ["x.txt", "y.txt"]);
    let docs: Vec<String> = h.artifact(&artifacts["Docs"]).into_keys().collect();
    assert_eq!(docs, ["docs/readme.md"]);
}

#[tokio::test]
async fn a_missing_or_invalid_buildspec_fails_naming_the_file() {
    let mut h = Harness::new();
    let mut job = job("Missing", action("Build", "AWS", "CodeBuild"));
    job.inputs = vec![h.input("Source", &[("readme.md", "no buildspec here")])];
    let outcome = h.run(job).await;
    assert_eq!(
        failure(&outcome),
        "buildspec.yml not found at the root of the input artifact Source"
    );

    let job = build(
        &h,
        "Invalid",
        "version: 0.2\nphases:\n  build:\n    commands: yes-not-a-list\n",
        &[],
    );
    let outcome = h.run(job).await;
    let message = failure(&outcome);
    assert!(
        message.starts_with("buildspec.yml is not a valid buildspec: phases.build.commands"),
        "{message}"
    );
    assert!(message.contains("line"), "{message}");
}

#[tokio::test]
async fn secrets_are_refused_locally() {
    let mut h = Harness::new();
    let mut job = build(
        &h,
        "Secret",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi\n",
        &[],
    );
    config(
        &mut job,
        &[(
            "EnvironmentVariables",
            r#"[{"name":"TOKEN","value":"/prod/token","type":"PARAMETER_STORE"}]"#,
        )],
    );
    let outcome = h.run(job).await;
    assert_eq!(
        failure(&outcome),
        "environment variable TOKEN has type PARAMETER_STORE, which needs AWS: local runs support PLAINTEXT only"
    );
}
