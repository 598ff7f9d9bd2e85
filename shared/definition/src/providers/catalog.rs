//! The built-in action providers' facts: configuration keys and artifact counts, as CodePipeline documents them.
//!
//! Sources: the CodePipeline User Guide's "Action structure reference" pages (one per provider),
//! "Valid action providers in CodePipeline" and "Valid input and output artifacts for each action
//! type". Keys a page marks "Required: Conditional" (or "Yes (if ...)") are listed as optional.
//! Keys appear in the order the page lists them. Uncertain points are flagged `NOTE:` inline and
//! collected in the research notes.
use super::spec::{Category, Owner, ProviderSpec};

/// Every built-in provider Sluice knows, in CodePipeline's spelling.
pub static BUILT_IN: &[ProviderSpec] = &[
    // ----------------------------------------------------------------- Source
    // Sluice's own: a folder or git repository on this machine, for local runs. `Path` is relative to the
    // definition file; a git repository's revision is its commit id. Not a CodePipeline provider.
    ProviderSpec {
        category: Category::Source,
        owner: Owner::ThirdParty,
        provider: "LocalSource",
        version: "1",
        required: &["Path"],
        optional: &["BranchName", "Exclude"],
        inputs: (0, 0),
        outputs: (1, 1),
    },
    // Amazon S3 source action reference
    ProviderSpec {
        category: Category::Source,
        owner: Owner::Aws,
        provider: "S3",
        version: "1",
        required: &["S3Bucket", "S3ObjectKey"],
        optional: &["AllowOverrideForS3ObjectKey", "PollForSourceChanges"],
        inputs: (0, 0),
        outputs: (1, 1),
    },
    // Amazon ECR source action reference
    ProviderSpec {
        category: Category::Source,
        owner: Owner::Aws,
        provider: "ECR",
        version: "1",
        required: &["RepositoryName"],
        optional: &["ImageTag"],
        inputs: (0, 0),
        outputs: (1, 1),
    },
    // AWS CodeCommit source action reference
    ProviderSpec {
        category: Category::Source,
        owner: Owner::Aws,
        provider: "CodeCommit",
        version: "1",
        required: &["RepositoryName", "BranchName"],
        optional: &["PollForSourceChanges", "OutputArtifactFormat"],
        inputs: (0, 0),
        outputs: (1, 1),
    },
    // CodeStarSourceConnection for Bitbucket Cloud, GitHub, GitHub Enterprise Server, GitLab.com, and GitLab self-managed actions
    // NOTE: the artifacts table lists this provider's owner as ThirdParty; the action page says AWS (used here).
    ProviderSpec {
        category: Category::Source,
        owner: Owner::Aws,
        provider: "CodeStarSourceConnection",
        version: "1",
        required: &["ConnectionArn", "FullRepositoryId", "BranchName"],
        optional: &["OutputArtifactFormat", "DetectChanges"],
        inputs: (0, 0),
        outputs: (1, 1),
    },
    // GitHub version 1 source action structure reference (OAuth-based, superseded by CodeStarSourceConnection)
    ProviderSpec {
        category: Category::Source,
        owner: Owner::ThirdParty,
        provider: "GitHub",
        version: "1",
        required: &["Owner", "Repo", "Branch", "OAuthToken"],
        optional: &["PollForSourceChanges"],
        inputs: (0, 0),
        outputs: (1, 1),
    },
    // ------------------------------------------------------------------ Build
    // AWS CodeBuild build and test action reference
    ProviderSpec {
        category: Category::Build,
        owner: Owner::Aws,
        provider: "CodeBuild",
        version: "1",
        required: &["ProjectName"],
        optional: &[
            "PrimarySource",
            "BatchEnabled",
            "BuildspecOverride",
            "CombineArtifacts",
            "EnvironmentVariables",
        ],
        inputs: (1, 5),
        outputs: (0, 5),
    },
    // ECRBuildAndPublish build action reference (V2 pipelines only)
    ProviderSpec {
        category: Category::Build,
        owner: Owner::Aws,
        provider: "ECRBuildAndPublish",
        version: "1",
        required: &["ECRRepositoryName"],
        optional: &["DockerFilePath", "ImageTags", "RegistryType"],
        inputs: (1, 1),
        outputs: (0, 0),
    },
    // ------------------------------------------------------------------- Test
    // AWS CodeBuild build and test action reference
    ProviderSpec {
        category: Category::Test,
        owner: Owner::Aws,
        provider: "CodeBuild",
        version: "1",
        required: &["ProjectName"],
        optional: &[
            "PrimarySource",
            "BatchEnabled",
            "BuildspecOverride",
            "CombineArtifacts",
            "EnvironmentVariables",
        ],
        inputs: (1, 5),
        outputs: (0, 5),
    },
    // AWS Device Farm test action reference
    ProviderSpec {
        category: Category::Test,
        owner: Owner::Aws,
        provider: "DeviceFarm",
        version: "1",
        required: &[
            "AppType",
            "ProjectId",
            "App",
            "AppiumVersion",
            "DevicePoolArn",
            "TestType",
        ],
        optional: &[
            "RadioBluetoothEnabled",
            "RecordAppPerformanceData",
            "RecordVideo",
            "RadioWifiEnabled",
            "RadioNfcEnabled",
            "RadioGpsEnabled",
            "Test",
            "FuzzEventCount",
            "FuzzEventThrottle",
            "FuzzRandomizerSeed",
            "CustomHostMachineArtifacts",
            "CustomDeviceArtifacts",
            "UnmeteredDevicesOnly",
            "JobTimeoutMinutes",
            "Latitude",
            "Longitude",
        ],
        inputs: (1, 1),
        outputs: (0, 0),
    },
    // ----------------------------------------------------------------- Deploy
    // Amazon S3 deploy action reference
    ProviderSpec {
        category: Category::Deploy,
        owner: Owner::Aws,
        provider: "S3",
        version: "1",
        required: &["BucketName", "Extract"],
        // ObjectKey: "Conditional. Required if Extract = false".
        optional: &[
            "ObjectKey",
            "KMSEncryptionKeyARN",
            "CannedACL",
            "CacheControl",
        ],
        inputs: (1, 1),
        outputs: (0, 0),
    },
    // CloudFormation deploy action reference
    ProviderSpec {
        category: Category::Deploy,
        owner: Owner::Aws,
        provider: "CloudFormation",
        version: "1",
        required: &["ActionMode", "StackName"],
        // Capabilities, ChangeSetName, RoleArn, TemplatePath are "Required: Conditional" (depend on ActionMode).
        optional: &[
            "Capabilities",
            "ChangeSetName",
            "RoleArn",
            "TemplatePath",
            "OutputFileName",
            "ParameterOverrides",
            "TemplateConfiguration",
        ],
        inputs: (0, 10),
        outputs: (0, 1),
    },
    // CloudFormation StackSets (section: The CloudFormationStackSet action)
    ProviderSpec {
        category: Category::Deploy,
        owner: Owner::Aws,
        provider: "CloudFormationStackSet",
        version: "1",
        required: &["StackSetName", "TemplatePath"],
        optional: &[
            "Description",
            "Parameters",
            "Capabilities",
            "PermissionModel",
            "AdministrationRoleArn",
            "ExecutionRoleName",
            "OrganizationsAutoDeployment",
            "DeploymentTargets",
            "Regions",
            "FailureTolerancePercentage",
            "MaxConcurrentPercentage",
        ],
        inputs: (1, 3),
        outputs: (0, 0),
    },
    // CloudFormation StackSets (section: The CloudFormationStackInstances action)
    ProviderSpec {
        category: Category::Deploy,
        owner: Owner::Aws,
        provider: "CloudFormationStackInstances",
        version: "1",
        required: &["StackSetName", "Regions"],
        optional: &[
            "DeploymentTargets",
            "ParameterOverrides",
            "FailureTolerancePercentage",
            "MaxConcurrentPercentage",
        ],
        inputs: (0, 2),
        outputs: (0, 0),
    },
    // AWS CodeDeploy deploy action reference
    ProviderSpec {
        category: Category::Deploy,
        owner: Owner::Aws,
        provider: "CodeDeploy",
        version: "1",
        required: &["ApplicationName", "DeploymentGroupName"],
        optional: &[],
        inputs: (1, 1),
        outputs: (0, 0),
    },
    // Amazon Elastic Container Service deploy action reference
    ProviderSpec {
        category: Category::Deploy,
        owner: Owner::Aws,
        provider: "ECS",
        version: "1",
        required: &["ClusterName", "ServiceName"],
        optional: &["FileName", "DeploymentTimeout"],
        inputs: (1, 1),
        outputs: (0, 0),
    },
    // Amazon ECS and CodeDeploy blue-green deploy action reference
    // Image<Number>ArtifactName / Image<Number>ContainerName are documented for <Number> = 1..4.
    ProviderSpec {
        category: Category::Deploy,
        owner: Owner::Aws,
        provider: "CodeDeployToECS",
        version: "1",
        required: &[
            "ApplicationName",
            "DeploymentGroupName",
            "TaskDefinitionTemplateArtifact",
            "AppSpecTemplateArtifact",
        ],
        optional: &[
            "AppSpecTemplatePath",
            "TaskDefinitionTemplatePath",
            "Image1ArtifactName",
            "Image2ArtifactName",
            "Image3ArtifactName",
            "Image4ArtifactName",
            "Image1ContainerName",
            "Image2ContainerName",
            "Image3ContainerName",
            "Image4ContainerName",
        ],
        inputs: (1, 5),
        outputs: (0, 0),
    },
    // Elastic Beanstalk deploy action reference
    ProviderSpec {
        category: Category::Deploy,
        owner: Owner::Aws,
        provider: "ElasticBeanstalk",
        version: "1",
        required: &["ApplicationName", "EnvironmentName"],
        optional: &[],
        inputs: (1, 1),
        outputs: (0, 0),
    },
    // AWS AppConfig deploy action reference
    ProviderSpec {
        category: Category::Deploy,
        owner: Owner::Aws,
        provider: "AppConfig",
        version: "1",
        required: &[
            "Application",
            "Environment",
            "ConfigurationProfile",
            "InputArtifactConfigurationPath",
        ],
        optional: &["DeploymentStrategy"],
        inputs: (1, 1),
        outputs: (0, 0),
    },
    // AWS Service Catalog deploy action reference
    // NOTE: the page marks TemplateFilePath, ProductVersionName, ProductType and ProductId "Required: Yes",
    // but its second documented form uses only ConfigurationFilePath + ProductId, so only ProductId is
    // required in both forms; the rest (and ConfigurationFilePath, shown only in that example) are optional here.
    ProviderSpec {
        category: Category::Deploy,
        owner: Owner::Aws,
        provider: "ServiceCatalog",
        version: "1",
        required: &["ProductId"],
        optional: &[
            "TemplateFilePath",
            "ProductVersionName",
            "ProductType",
            "ProductVersionDescription",
            "ConfigurationFilePath",
        ],
        inputs: (1, 1),
        outputs: (0, 0),
    },
    // CodePipeline pipeline structure reference (Alexa Skills Kit configuration example) and
    // Valid input and output artifacts for each action type. No dedicated action page exists;
    // the four keys are treated as required (the only documented example sets all four).
    ProviderSpec {
        category: Category::Deploy,
        owner: Owner::ThirdParty,
        provider: "AlexaSkillsKit",
        version: "1",
        required: &["ClientId", "ClientSecret", "RefreshToken", "SkillId"],
        optional: &[],
        inputs: (1, 2),
        outputs: (0, 0),
    },
    // AWS OpsWorks deploy action reference
    // NOTE: the action page gives outputs "0 to 1"; the artifacts table gives 0. The page is used.
    ProviderSpec {
        category: Category::Deploy,
        owner: Owner::Aws,
        provider: "OpsWorks",
        version: "1",
        required: &["App", "Stack"],
        optional: &["Layer"],
        inputs: (1, 1),
        outputs: (0, 1),
    },
    // Amazon EC2 action reference (V2 pipelines only)
    // TargetDirectory and DeploySpec are "Yes (if script / deploy spec is specified)": optional here.
    // NOTE: PostScript is marked "Required: Yes" but the DeploySpec example omits it, so it is optional here.
    ProviderSpec {
        category: Category::Deploy,
        owner: Owner::Aws,
        provider: "EC2",
        version: "1",
        required: &["InstanceTagKey", "InstanceType"],
        optional: &[
            "InstanceTagValue",
            "TargetDirectory",
            "DeploySpec",
            "MaxBatch",
            "MaxError",
            "TargetGroupNameList",
            "PreScript",
            "PostScript",
        ],
        inputs: (1, 1),
        outputs: (0, 0),
    },
    // Amazon Elastic Kubernetes Service EKS deploy action reference (V2 pipelines only)
    // HelmReleaseName/HelmChartLocation are required only for Helm, ManifestFiles only for kubectl.
    ProviderSpec {
        category: Category::Deploy,
        owner: Owner::Aws,
        provider: "EKS",
        version: "1",
        required: &["ClusterName"],
        optional: &[
            "HelmReleaseName",
            "HelmChartLocation",
            "HelmValuesFiles",
            "ManifestFiles",
            "Namespace",
            "Subnets",
            "SecurityGroupIds",
        ],
        inputs: (1, 1),
        outputs: (0, 0),
    },
    // AWS Lambda deploy action reference (V2 pipelines only)
    // NOTE: the page gives 1 input artifact, but says PublishedTargetVersion is "required if no input
    // artifact is provided", so 0 inputs is accepted here.
    ProviderSpec {
        category: Category::Deploy,
        owner: Owner::Aws,
        provider: "Lambda",
        version: "1",
        required: &["FunctionName"],
        optional: &[
            "FunctionAlias",
            "PublishedTargetVersion",
            "DeployStrategy",
            "Alarms",
        ],
        inputs: (0, 1),
        outputs: (0, 0),
    },
    // --------------------------------------------------------------- Approval
    // CodePipeline pipeline structure reference (manual approval configuration example) and
    // Valid input and output artifacts for each action type. All three keys are optional. The keys after them
    // are Sluice's own approval rules (`crate::approval_rules`), which CodePipeline does not know.
    ProviderSpec {
        category: Category::Approval,
        owner: Owner::Aws,
        provider: "Manual",
        version: "1",
        required: &[],
        optional: &[
            "CustomData",
            "ExternalEntityLink",
            "NotificationArn",
            "Approvers",
            "RequiredApprovals",
            "RejectionFails",
            "AllowSelfApproval",
            "Deadline",
            "Reminders",
        ],
        inputs: (0, 0),
        outputs: (0, 0),
    },
    // ----------------------------------------------------------------- Invoke
    // AWS Lambda invoke action reference
    ProviderSpec {
        category: Category::Invoke,
        owner: Owner::Aws,
        provider: "Lambda",
        version: "1",
        required: &["FunctionName"],
        optional: &["UserParameters"],
        inputs: (0, 5),
        outputs: (0, 5),
    },
    // AWS Step Functions invoke action reference
    // Input is "Required: Conditional" (required when InputType = FilePath).
    ProviderSpec {
        category: Category::Invoke,
        owner: Owner::Aws,
        provider: "StepFunctions",
        version: "1",
        required: &["StateMachineArn"],
        optional: &["ExecutionNamePrefix", "InputType", "Input"],
        inputs: (0, 1),
        outputs: (0, 1),
    },
    // AWS CodePipeline invoke action reference (V2 pipelines only)
    ProviderSpec {
        category: Category::Invoke,
        owner: Owner::Aws,
        provider: "CodePipeline",
        version: "1",
        required: &["PipelineName"],
        optional: &["SourceRevisions", "Variables"],
        inputs: (0, 0),
        outputs: (0, 0),
    },
    // Amazon Inspector InspectorScan invoke action reference
    // NOTE: the page gives 1 input artifact but says it is not needed for an ECR image scan, so 0 is accepted.
    ProviderSpec {
        category: Category::Invoke,
        owner: Owner::Aws,
        provider: "InspectorScan",
        version: "1",
        required: &["InspectorRunMode"],
        optional: &[
            "ECRRepositoryName",
            "ImageTag",
            "CriticalThreshold",
            "HighThreshold",
            "MediumThreshold",
            "LowThreshold",
        ],
        inputs: (0, 1),
        outputs: (1, 1),
    },
    // ---------------------------------------------------------------- Compute
    // Commands action reference (V2 pipelines only)
    // The commands themselves go in the action-level `commands` field (the page lists "Commands" as a
    // required parameter, but its examples use `"configuration": {}`); `outputVariables` and `Files`
    // are likewise action-level (`outputVariables`, `outputArtifacts[].files`), not configuration keys.
    ProviderSpec {
        category: Category::Compute,
        owner: Owner::Aws,
        provider: "Commands",
        version: "1",
        required: &[],
        optional: &[
            "EnvironmentType",
            "ComputeType",
            "VpcId",
            "Subnets",
            "SecurityGroupIds",
        ],
        inputs: (1, 10),
        outputs: (0, 1),
    },
];
