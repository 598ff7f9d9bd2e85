//! The execution runtime, written once over ports and wrapped by the embedded host and the Lambda functions
//! alike: the records an execution leaves, the dispatch handler every task of a compiled state machine calls,
//! and the operations people and the API perform on pipelines and executions.
//!
//! [`Runtime`] is one type whose operations live in modules named for their concern, each an `impl Runtime`
//! block:
//!
//! | concern | module |
//! |---|---|
//! | the type, its settings, typed store access, completing task tokens | [`runtime`] |
//! | pipelines: versions, tags, listing, deletion | [`pipelines`] |
//! | executions: start (once per client token), records, listing, starting runs | [`executions`] |
//! | the task entry point | [`dispatch`] |
//! | a stage's entry and exit gates: transitions, conditions, attempts | [`stage_gates`] |
//! | execution-mode locks (QUEUED, SUPERSEDED) and the executions waiting for them | [`locks`] |
//! | a failed stage: recording it and deciding what follows | [`stage_failures`] |
//! | running an action attempt, redeliveries, settling it | [`actions`] |
//! | handing jobs to the executor or job workers, and taking their outcomes | [`running_jobs`] |
//! | what an action reads: `#{...}` values and input artifacts | [`inputs`] |
//! | manual approvals: asking, finding, deciding | [`approvals`] |
//! | stop, retry, transitions | [`control`] |
//! | rollbacks: a stage run again with an earlier execution's artifacts | [`rollbacks`] |
//! | how runs end: recording the outcome, closing lost runs | [`finishing`] |
//! | custom action types and the job queue workers poll | [`workers`], [`job_queue`] |
//! | webhook deliveries, once per delivery id | [`deliveries`] |
//! | polled sources: what a poll found, one start per change | [`source_polls`] |
//! | PutActionRevision: a source's revision told, one start per new revision | [`action_revisions`] |
//! | PutWebhook's webhooks: definitions, authentication, filters | [`webhooks`] |
//! | approval links: what a link may act on | [`approval_links`] |
//! | approval rules: one decision judged (approvers, quorum, no self-approval) | [`approval_quorum`] |
//! | the audit log: an entry per state-changing call, retention, pages | [`audit`] |
//! | stage conditions at the gates: rule executions, rule jobs | [`condition_gates`] |
//! | conditions decided from outside: overrides, stops | [`condition_overrides`] |
//! | the records conditions leave and reading them | [`rule_executions`] |
//!
//! Pure pieces beside it: [`conditions`] (rule providers and evaluation), [`cron`] (deployment windows), [`triggers`] and [`globs`] (whether a push starts
//! a pipeline), [`pull_requests`] (whether a pull request does), [`git_events`], [`gitlab_events`] and
//! [`bitbucket_events`] (the git hosts' deliveries read into pushes and pull requests), [`variables`],
//! [`events`], [`notifications`], [`links`] (signed approval links).

pub mod action_revisions;
pub mod actions;
pub mod approval_links;
pub mod approval_quorum;
pub mod approvals;
pub mod audit;
pub mod bitbucket_events;
pub mod condition_gates;
pub mod condition_overrides;
pub mod conditions;
pub mod control;
pub mod cron;
pub mod definition_cache;
pub mod deliveries;
pub mod dispatch;
pub mod error;
pub mod events;
pub mod executions;
pub mod finishing;
pub mod git_events;
pub mod gitlab_events;
pub mod globs;
pub mod inputs;
pub mod job_queue;
pub mod jobs;
pub mod links;
pub mod locks;
pub mod notifications;
pub mod objects;
pub mod pipelines;
pub mod ports;
pub mod pull_requests;
pub mod records;
pub mod rollbacks;
pub mod rule_executions;
pub mod running_jobs;
pub mod runtime;
pub mod source_polls;
pub mod stage_failures;
pub mod stage_gates;
pub mod triggers;
pub mod variables;
pub mod webhooks;
pub mod workers;

pub use error::RuntimeError;
pub use runtime::{RunOutcome, Runtime, RuntimeConfig, StartRequest};
