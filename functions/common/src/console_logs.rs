//! The console's action logs in AWS: a CodeBuild action's build (its external execution id) writes to a
//! CloudWatch Logs stream; the console shows its last lines and links to the whole of it. Where the stream is:
//! BatchGetBuilds' `logs.groupName`/`streamName` when CodeBuild names them, else CodeBuild's default
//! (`/aws/codebuild/<project>`, the build id's part after `:`). Actions without a build have no log here.

use async_trait::async_trait;
use aws_config::SdkConfig;
use sluice_web::console::logs::{tail_of, ActionLogs, LogRef, LogTail};

/// Where a build's log stream is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStream {
    /// The log group.
    pub group: String,
    /// The log stream.
    pub stream: String,
}

impl LogStream {
    /// CodeBuild's default stream of a build id `project:uuid`; None for anything else.
    pub fn default_of(build_id: &str) -> Option<Self> {
        let (project, uuid) = build_id.split_once(':')?;
        (!project.is_empty() && !uuid.is_empty()).then(|| Self {
            group: format!("/aws/codebuild/{project}"),
            stream: uuid.to_owned(),
        })
    }

    /// The CloudWatch console's page of the stream, in `region`.
    pub fn console_url(&self, region: &str) -> String {
        // The console's fragment escapes `/` as `$252F` (a percent-encoded `%2F`, escaped again).
        let escape = |s: &str| -> String {
            s.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                        (b as char).to_string()
                    }
                    other => format!("$25{other:02X}"),
                })
                .collect()
        };
        format!(
            "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:log-groups/log-group/{}/log-events/{}",
            escape(&self.group),
            escape(&self.stream)
        )
    }
}

/// Reads CodeBuild actions' logs from CloudWatch Logs.
pub struct CloudWatchActionLogs {
    builds: aws_sdk_codebuild::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    region: String,
}

impl CloudWatchActionLogs {
    /// Clients from the SDK configuration.
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            builds: aws_sdk_codebuild::Client::new(sdk),
            logs: aws_sdk_cloudwatchlogs::Client::new(sdk),
            region: sdk
                .region()
                .map_or_else(|| "us-east-1".to_owned(), |r| r.to_string()),
        }
    }

    /// Where a build logs: as CodeBuild says, else its default stream.
    async fn stream_of(&self, build_id: &str) -> Result<Option<LogStream>, String> {
        let builds = self
            .builds
            .batch_get_builds()
            .ids(build_id)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "BatchGetBuilds {build_id}: {}",
                    aws_sdk_codebuild::error::DisplayErrorContext(&e)
                )
            })?;
        let named = builds
            .builds()
            .first()
            .and_then(|b| b.logs())
            .and_then(|l| match (l.group_name(), l.stream_name()) {
                (Some(g), Some(s)) if !g.is_empty() && !s.is_empty() && g != "null" => {
                    Some(LogStream {
                        group: g.to_owned(),
                        stream: s.to_owned(),
                    })
                }
                _ => None,
            });
        Ok(named.or_else(|| LogStream::default_of(build_id)))
    }
}

#[async_trait]
impl ActionLogs for CloudWatchActionLogs {
    async fn tail(&self, log: &LogRef<'_>, max_bytes: u64) -> Result<Option<LogTail>, String> {
        let Some(build_id) = log.external_execution_id.filter(|id| id.contains(':')) else {
            return Ok(None);
        };
        let Some(stream) = self.stream_of(build_id).await? else {
            return Ok(None);
        };
        // The newest events, newest page first (startFromHead false), at most 10,000 events or 1 MB a page.
        let got = self
            .logs
            .get_log_events()
            .log_group_name(&stream.group)
            .log_stream_name(&stream.stream)
            .start_from_head(false)
            .limit(1000)
            .send()
            .await;
        let events = match got {
            Ok(out) => out.events.unwrap_or_default(),
            Err(e) => {
                let service = e.as_service_error();
                if service.is_some_and(|s| s.is_resource_not_found_exception()) {
                    // The build has not written yet.
                    return Ok(None);
                }
                return Err(format!(
                    "GetLogEvents {}/{}: {}",
                    stream.group,
                    stream.stream,
                    aws_sdk_cloudwatchlogs::error::DisplayErrorContext(&e)
                ));
            }
        };
        let lines: Vec<String> = events
            .iter()
            .filter_map(|e| e.message())
            .flat_map(|m| {
                m.trim_end_matches('\n')
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        let max = usize::try_from(max_bytes).unwrap_or(usize::MAX);
        Ok(Some(LogTail {
            text: tail_of(lines.iter().map(String::as_str), max),
            link: Some(stream.console_url(&self.region)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_id_names_its_default_stream() {
        assert_eq!(
            LogStream::default_of("web-build:0b5c9c3e-1111-4a3c-9d53-2c3f1c2d5e66"),
            Some(LogStream {
                group: "/aws/codebuild/web-build".into(),
                stream: "0b5c9c3e-1111-4a3c-9d53-2c3f1c2d5e66".into(),
            })
        );
        assert_eq!(LogStream::default_of("no-colon"), None);
        assert_eq!(LogStream::default_of(":x"), None);
    }

    #[test]
    fn the_console_link_escapes_the_group_as_cloudwatch_does() {
        let url = LogStream {
            group: "/aws/codebuild/web".into(),
            stream: "abc".into(),
        }
        .console_url("eu-west-1");
        assert_eq!(
            url,
            "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/$252Faws$252Fcodebuild$252Fweb/log-events/abc"
        );
    }
}
