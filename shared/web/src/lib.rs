//! What Sluice answers over the web, with no transport of its own: CodePipeline's JSON 1.1 API
//! ([`codepipeline`]), SigV4 request signing and verification ([`sigv4`]), the approval pages behind signed
//! links ([`approval_page`]), the console ([`console`]) and webhook deliveries ([`git_webhooks`] from GitHub, GitLab and Bitbucket Cloud,
//! [`webhooks`] for named webhooks). Each takes a request as plain data and
//! answers data ([`reply::WebReply`], or the API's status and JSON body): `sluice serve` adapts hyper to them,
//! the Lambda functions adapt function URL events, so both answer the same.

pub mod access;
pub mod approval_page;
pub mod audit;
pub mod cfn_resource;
pub mod codepipeline;
pub mod console;
pub mod git_webhooks;
pub mod reply;
pub mod sigv4;
pub mod webhooks;

pub use reply::WebReply;
