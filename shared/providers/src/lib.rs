//! The action providers that call AWS services, written once over the SDK and run by both hosts: the embedded
//! host through [`local::LocalProviders`] (the user's standard AWS settings), the dispatch function's executor
//! as the action's role (`functions/common`). Each provider is a [`Provider`]: it starts work and is asked again
//! until the work ends, so no host holds a thread or an invocation while a stack updates.
//!
//! | provider | module |
//! |---|---|
//! | `Deploy/AWS/CloudFormation` | [`cloudformation`] |
//! | `Deploy/AWS/CodeDeploy`, `Deploy/AWS/CodeDeployToECS` | [`codedeploy`] |
//! | `Deploy/AWS/ECS` | [`ecs`] |
//! | `Deploy/AWS/ElasticBeanstalk` | [`beanstalk`] |
//! | `Invoke/AWS/Lambda` | [`lambda`] |
//! | `Invoke/AWS/StepFunctions` | [`stepfunctions`] |
//! | `Rule/AWS/DeploymentWindow` (a closed window's wait) | [`rule_waits`] |
//! | `Rule/AWS/CloudWatchAlarm` (the stage-condition rule) | [`alarm_rule`] |

pub mod alarm_rule;
pub mod artifacts;
pub mod beanstalk;
pub mod cloudformation;
pub mod codedeploy;
pub mod ecs;
pub mod lambda;
pub mod local;
pub mod notices;
pub mod provider;
pub mod rule_waits;
pub mod stepfunctions;
pub mod task_definitions;

pub use provider::{Context, Provider, Step};
use sluice_definition::model::ActionTypeId;

/// The provider for an action type, if it is one of these.
pub fn provider_for(id: &ActionTypeId) -> Option<&'static dyn Provider> {
    if id.owner != "AWS" {
        return None;
    }
    let provider: &'static dyn Provider = match (id.category.as_str(), id.provider.as_str()) {
        ("Deploy", "CloudFormation") => &cloudformation::CloudFormation,
        ("Deploy", "CodeDeploy") => &codedeploy::CodeDeploy,
        ("Deploy", "CodeDeployToECS") => &codedeploy::CodeDeployToEcs,
        ("Deploy", "ECS") => &ecs::Ecs,
        ("Deploy", "ElasticBeanstalk") => &beanstalk::Beanstalk,
        ("Invoke", "Lambda") => &lambda::Lambda,
        ("Invoke", "StepFunctions") => &stepfunctions::StepFunctions,
        ("Rule", "DeploymentWindow") => &rule_waits::WindowWait,
        ("Rule", "CloudWatchAlarm") => &alarm_rule::AlarmRule,
        _ => return None,
    };
    Some(provider)
}
