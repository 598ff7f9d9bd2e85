//! Unit tests of `git_sources`.
use super::*;
use sluice_definition::ActionTypeId;
use sluice_runtime::jobs::JobOutput;
use sluice_runtime::records::RevisionOverride;

fn github() -> ConnectionHost {
    host("GitHub", None)
}

fn host(provider_type: &str, endpoint: Option<&str>) -> ConnectionHost {
    ConnectionHost {
        provider_type: provider_type.into(),
        endpoint: endpoint.map(str::to_owned),
    }
}

#[test]
fn a_connections_provider_picks_the_source_type_url_and_provider_variable() {
    let j = job(
        "AWS",
        "CodeStarSourceConnection",
        &[
            ("ConnectionArn", CONNECTION),
            ("FullRepositoryId", "tide-works/harbour"),
            ("BranchName", "main"),
        ],
    );
    let cases = [
        (
            host("GitLab", None),
            "GITLAB",
            "https://gitlab.com/tide-works/harbour.git",
        ),
        (
            host("Bitbucket", None),
            "BITBUCKET",
            "https://bitbucket.org/tide-works/harbour.git",
        ),
        (
            host("GitHubEnterpriseServer", Some("https://git.tide.example/")),
            "GITHUB_ENTERPRISE",
            "https://git.tide.example/tide-works/harbour.git",
        ),
        (
            host("GitLabSelfManaged", Some("https://lab.tide.example")),
            "GITLAB_SELF_MANAGED",
            "https://lab.tide.example/tide-works/harbour.git",
        ),
    ];
    for (h, source_type, location) in cases {
        let plan = plan(&j, "sources", "eu-west-1", Some(&h)).expect("plan");
        let source = plan.source.expect("source");
        assert_eq!(
            (source.source_type.as_str(), source.location.as_deref()),
            (source_type, Some(location)),
            "{h:?}"
        );
        let spec: Value = serde_json::from_str(&plan.buildspec.expect("spec")).expect("json");
        assert_eq!(
            spec["env"]["variables"]["ProviderType"],
            h.provider_type.as_str()
        );
    }
    // Unknown providers, a self-managed host without an endpoint, and no host at all are refused.
    let refused =
        |h: Option<&ConnectionHost>| plan(&j, "sources", "eu-west-1", h).expect_err("refused");
    assert!(
        refused(Some(&host("AzureDevOps", None))).contains("cannot be checked out by CodeBuild")
    );
    assert!(refused(Some(&host("GitLabSelfManaged", None))).contains("no endpoint"));
    assert!(refused(None).contains("is not known"));
    // The revision's link follows the provider the build reported.
    let link = |provider: &str| {
        let variables = BTreeMap::from([
            ("CommitId".to_owned(), "abc123".to_owned()),
            ("ProviderType".to_owned(), provider.to_owned()),
        ]);
        revision(&j, &variables, None, "eu-west-1").and_then(|r| r.revision_url)
    };
    assert_eq!(
        link("GitLab").as_deref(),
        Some("https://gitlab.com/tide-works/harbour/-/commit/abc123")
    );
    assert_eq!(
        link("Bitbucket").as_deref(),
        Some("https://bitbucket.org/tide-works/harbour/commits/abc123")
    );
    assert_eq!(
        link("GitHub").as_deref(),
        Some("https://github.com/tide-works/harbour/commit/abc123")
    );
    assert_eq!(link("GitLabSelfManaged"), None);
}

fn job(owner: &str, provider: &str, config: &[(&str, &str)]) -> Job {
    Job {
        id: "e1/Source/Fetch/1".into(),
        pipeline: "p".into(),
        execution_id: "e1".into(),
        stage: "Source".into(),
        action: "Fetch".into(),
        attempt: 1,
        action_type: ActionTypeId {
            category: "Source".into(),
            owner: owner.into(),
            provider: provider.into(),
            version: "1".into(),
        },
        configuration: config
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        commands: vec![],
        environment: BTreeMap::new(),
        inputs: vec![],
        outputs: vec![JobOutput {
            name: "Src".into(),
            files: vec![],
            bucket: "art".into(),
            key: "p/Src/k".into(),
            encryption_key: None,
        }],
        output_variables: vec![],
        timeout_seconds: 3600,
        base_dir: None,
        revision_override: None,
        role_arn: None,
        artifact_store: None,
        region: None,
        invocation: None,
    }
}

fn pin(j: &mut Job, commit: &str) {
    j.revision_override = Some(RevisionOverride {
        action_name: "Fetch".into(),
        revision_type: COMMIT_ID.into(),
        revision_value: commit.into(),
    });
}

const CONNECTION: &str =
    "arn:aws:codeconnections:eu-west-1:123456789012:connection/3b1e7c42-0f6d-4a8e-9c15-d2a7b8e4f901";

#[test]
fn a_connection_source_checks_out_through_the_connection() {
    let mut j = job(
        "AWS",
        "CodeStarSourceConnection",
        &[
            ("ConnectionArn", CONNECTION),
            ("FullRepositoryId", "tide-works/harbour"),
            ("BranchName", "release/2.x"),
        ],
    );
    let plan = plan(&j, "sources", "eu-west-1", Some(&github())).expect("plan");
    let source = plan.source.clone().expect("source");
    assert_eq!(
        source,
        BuildSource {
            source_type: "GITHUB".into(),
            location: Some("https://github.com/tide-works/harbour.git".into()),
            connection: Some(CONNECTION.into()),
            version: Some("release/2.x".into()),
            clone_depth: Some(1),
        }
    );
    assert!(plan.environment.is_empty());
    let spec: Value = serde_json::from_str(&plan.buildspec.expect("spec")).expect("json");
    assert_eq!(
        spec["env"]["exported-variables"],
        json!([
            "AuthorDate",
            "BranchName",
            "CommitId",
            "CommitMessage",
            "ConnectionArn",
            "FullRepositoryName",
            "ProviderType"
        ])
    );
    assert_eq!(spec["env"]["variables"]["BranchName"], "release/2.x");
    assert_eq!(
        spec["env"]["variables"]["FullRepositoryName"],
        "tide-works/harbour"
    );
    assert_eq!(spec["artifacts"]["exclude-paths"], json!([".git/**/*"]));

    // A full clone keeps .git; a pinned commit is the version, fetched with its history.
    j.configuration
        .insert("OutputArtifactFormat".into(), "CODEBUILD_CLONE_REF".into());
    pin(&mut j, "9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6");
    let plan = super::plan(&j, "sources", "eu-west-1", Some(&github())).expect("plan");
    let source = plan.source.expect("source");
    assert_eq!(
        source.version.as_deref(),
        Some("9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6")
    );
    assert_eq!(source.clone_depth, Some(0));
    let spec: Value = serde_json::from_str(&plan.buildspec.expect("spec")).expect("json");
    assert_eq!(spec["artifacts"], json!({"files": ["**/*"]}));

    j.configuration
        .insert("OutputArtifactFormat".into(), "TARBALL".into());
    assert!(super::plan(&j, "sources", "eu-west-1", Some(&github()))
        .expect_err("format")
        .contains("OutputArtifactFormat"));
    j.configuration
        .insert("FullRepositoryId".into(), "harbour".into());
    assert!(GitSource::of(&j)
        .expect_err("repository")
        .contains("owner/repository"));
}

#[test]
fn a_codecommit_source_reads_the_branch_ref_or_the_pinned_commit() {
    let mut j = job(
        "AWS",
        "CodeCommit",
        &[("RepositoryName", "ledger"), ("BranchName", "main")],
    );
    let source = plan(&j, "sources", "ap-southeast-2", None)
        .expect("plan")
        .source
        .expect("source");
    assert_eq!(source.source_type, "CODECOMMIT");
    assert_eq!(
        source.location.as_deref(),
        Some("https://git-codecommit.ap-southeast-2.amazonaws.com/v1/repos/ledger")
    );
    assert_eq!(source.version.as_deref(), Some("refs/heads/main"));
    assert_eq!(source.connection, None);
    pin(&mut j, "0a1b2c3d");
    let source = plan(&j, "sources", "ap-southeast-2", None)
        .expect("plan")
        .source
        .expect("source");
    assert_eq!(source.version.as_deref(), Some("0a1b2c3d"));
    j.configuration.remove("BranchName");
    assert!(plan(&j, "sources", "ap-southeast-2", None)
        .expect_err("branch")
        .contains("configuration.BranchName is required"));
}

#[test]
fn a_github_token_reaches_the_build_as_a_reference_when_it_is_one() {
    let j = |token: &str| {
        job(
            "ThirdParty",
            "GitHub",
            &[
                ("Owner", "tide-works"),
                ("Repo", "harbour"),
                ("Branch", "main"),
                ("OAuthToken", token),
            ],
        )
    };
    let plan = plan(
        &j("{{resolve:secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:gh-Ab12Cd:SecretString:token}}"),
        "sources",
        "us-east-1",
        None,
    )
    .expect("plan");
    assert_eq!(
        plan.source.as_ref().map(|s| s.source_type.as_str()),
        Some("NO_SOURCE")
    );
    let env: Vec<_> = plan
        .environment
        .iter()
        .map(|v| (v.name(), v.value(), v.r#type().cloned()))
        .collect();
    assert_eq!(
        env,
        vec![
            (
                TOKEN_VARIABLE,
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:gh-Ab12Cd:token",
                Some(EnvironmentVariableType::SecretsManager)
            ),
            (
                "SOURCE_REF",
                "refs/heads/main",
                Some(EnvironmentVariableType::Plaintext)
            ),
        ]
    );
    let spec = plan.buildspec.expect("spec");
    // The token is read from the variable, never written into the buildspec.
    assert!(!spec.contains("secretsmanager"), "{spec}");
    assert!(spec.contains("$GITHUB_TOKEN"), "{spec}");
    assert!(spec.contains("exclude-paths"), "{spec}");

    assert_eq!(
        token_variable("{{resolve:ssm-secure:/ci/github:3}}"),
        (EnvironmentVariableType::ParameterStore, "/ci/github".into())
    );
    assert_eq!(
        token_variable("ghp_plain"),
        (EnvironmentVariableType::Plaintext, "ghp_plain".into())
    );
    assert_eq!(
        token_variable("{{resolve:secretsmanager:gh::AWSPREVIOUS}}").1,
        "gh::AWSPREVIOUS"
    );
    assert_eq!(token_variable("{{resolve:secretsmanager:gh}}").1, "gh");
}

#[test]
fn the_start_build_request_carries_the_connection_source() {
    let j = job(
        "AWS",
        "CodeStarSourceConnection",
        &[
            ("ConnectionArn", CONNECTION),
            ("FullRepositoryId", "tide-works/harbour"),
            ("BranchName", "main"),
        ],
    );
    let plan = plan(&j, "sluice-sources", "eu-west-1", Some(&github())).expect("plan");
    let client = aws_sdk_codebuild::Client::from_conf(
        aws_sdk_codebuild::Config::builder()
            .behavior_version(aws_sdk_codebuild::config::BehaviorVersion::latest())
            .region(aws_sdk_codebuild::config::Region::new("eu-west-1"))
            .build(),
    );
    let request = crate::builds::start_build_request(&client, &j, &plan).expect("request");
    let input = request.as_input();
    assert_eq!(input.get_project_name().as_deref(), Some("sluice-sources"));
    assert_eq!(
        input.get_source_type_override(),
        &Some(aws_sdk_codebuild::types::SourceType::Github)
    );
    assert_eq!(
        input.get_source_location_override().as_deref(),
        Some("https://github.com/tide-works/harbour.git")
    );
    let auth = input.get_source_auth_override().as_ref().expect("auth");
    assert_eq!(
        (auth.r#type(), auth.resource()),
        (
            &aws_sdk_codebuild::types::SourceAuthType::Codeconnections,
            Some(CONNECTION)
        )
    );
    assert_eq!(input.get_source_version().as_deref(), Some("main"));
    assert_eq!(input.get_git_clone_depth_override(), &Some(1));
    assert_eq!(input.get_secondary_sources_override(), &Some(vec![]));
    assert_eq!(input.get_buildspec_override(), &plan.buildspec);
    // The output zip goes where the runtime keeps the Src artifact.
    let artifacts = input.get_artifacts_override().as_ref().expect("artifacts");
    assert_eq!(
        (artifacts.location(), artifacts.path(), artifacts.name()),
        (Some("art"), Some("p/Src"), Some("k"))
    );
}

#[test]
fn the_revision_is_the_exported_commit() {
    let j = job(
        "AWS",
        "CodeCommit",
        &[("RepositoryName", "ledger"), ("BranchName", "main")],
    );
    let variables = BTreeMap::from([
        ("CommitId".to_owned(), "0a1b2c3d".to_owned()),
        (
            "CommitMessage".to_owned(),
            "Settle the books\n\nBody\n".to_owned(),
        ),
    ]);
    assert_eq!(
        revision(&j, &variables, Some("ffff"), "eu-west-1"),
        Some(SourceRevision {
            revision_id: "0a1b2c3d".into(),
            revision_summary: Some("Settle the books\n\nBody".into()),
            revision_url: Some(
                "https://eu-west-1.console.aws.amazon.com/codesuite/codecommit/repositories/ledger/commit/0a1b2c3d?region=eu-west-1"
                    .into()
            ),
        })
    );
    assert_eq!(revision(&j, &BTreeMap::new(), None, "eu-west-1"), None);
    // Without the exported variable: the commit CodeBuild resolved, else the pinned one.
    let found = |resolved: Option<&str>, j: &Job| {
        revision(j, &BTreeMap::new(), resolved, "eu-west-1").map(|r| r.revision_id)
    };
    assert_eq!(found(Some("ffff"), &j).as_deref(), Some("ffff"));
    let mut pinned = j.clone();
    pin(&mut pinned, "0a1b2c3d");
    assert_eq!(found(None, &pinned).as_deref(), Some("0a1b2c3d"));
}
