//! Registering an ECS task definition written as JSON (a `taskdef.json` template), as `aws ecs
//! register-task-definition --cli-input-json` reads it, for the members pipelines' task definitions use. A
//! member outside them is refused by name rather than dropped; members `DescribeTaskDefinition` prints and
//! registration does not take (`taskDefinitionArn`, `revision`, `status`, ...) are skipped.

use std::collections::HashMap;

use aws_sdk_ecs::types::{
    Compatibility, ContainerCondition, ContainerDefinition, ContainerDependency, HealthCheck,
    HostVolumeProperties, KeyValuePair, LogConfiguration, LogDriver, MountPoint, NetworkMode,
    PortMapping, Secret, Tag, TransportProtocol, Volume,
};
use serde_json::{Map, Value};

use crate::provider::{sdk_error, Context};

/// Members describe output has that registration ignores.
const READ_ONLY: &[&str] = &[
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
];

/// Reads an object's members, remembering which were used.
struct Members<'a> {
    map: &'a Map<String, Value>,
    at: String,
    used: Vec<&'static str>,
}

impl<'a> Members<'a> {
    fn of(value: &'a Value, at: String) -> Result<Self, String> {
        let map = value
            .as_object()
            .ok_or_else(|| format!("{at} is not a JSON object"))?;
        Ok(Self {
            map,
            at,
            used: Vec::new(),
        })
    }

    fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.used.push(key);
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn string(&mut self, key: &'static str) -> Result<Option<String>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(format!("{}.{key} is not a string", self.at)),
        }
    }

    fn int(&mut self, key: &'static str) -> Result<Option<i32>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| format!("{}.{key} is not a whole number", self.at)),
        }
    }

    fn boolean(&mut self, key: &'static str) -> Result<Option<bool>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(format!("{}.{key} is not true or false", self.at)),
        }
    }

    fn strings(&mut self, key: &'static str) -> Result<Option<Vec<String>>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| format!("{}.{key} is not a list of strings", self.at)),
            Some(_) => Err(format!("{}.{key} is not a list", self.at)),
        }
    }

    fn list(&mut self, key: &'static str) -> Result<Vec<&'a Value>, String> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.iter().collect()),
            Some(_) => Err(format!("{}.{key} is not a list", self.at)),
        }
    }

    /// Refuses members nothing read (beyond the read-only ones).
    fn done(self) -> Result<(), String> {
        let unknown: Vec<&String> = self
            .map
            .keys()
            .filter(|k| !self.used.contains(&k.as_str()) && !READ_ONLY.contains(&k.as_str()))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        Err(format!(
            "{} has members Sluice does not register yet: {}",
            self.at,
            unknown
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// Registers the task definition `json` (from `source`, for messages); answers its ARN.
pub async fn register(ctx: &Context<'_>, json: &Value, source: &str) -> Result<String, String> {
    let mut m = Members::of(json, source.to_owned())?;
    let client = aws_sdk_ecs::Client::new(ctx.sdk);
    let mut request = client
        .register_task_definition()
        .set_family(m.string("family")?)
        .set_task_role_arn(m.string("taskRoleArn")?)
        .set_execution_role_arn(m.string("executionRoleArn")?)
        .set_network_mode(
            m.string("networkMode")?
                .map(|s| NetworkMode::from(s.as_str())),
        )
        .set_cpu(m.string("cpu")?)
        .set_memory(m.string("memory")?)
        .set_requires_compatibilities(
            m.strings("requiresCompatibilities")?
                .map(|v| v.iter().map(|s| Compatibility::from(s.as_str())).collect()),
        );
    let mut containers = Vec::new();
    for (i, c) in m.list("containerDefinitions")?.into_iter().enumerate() {
        containers.push(container(
            c,
            format!("{source}: containerDefinitions[{i}]"),
        )?);
    }
    if containers.is_empty() {
        return Err(format!("{source} has no containerDefinitions"));
    }
    request = request.set_container_definitions(Some(containers));
    let mut volumes = Vec::new();
    for (i, v) in m.list("volumes")?.into_iter().enumerate() {
        let mut vm = Members::of(v, format!("{source}: volumes[{i}]"))?;
        let mut volume = Volume::builder().set_name(vm.string("name")?);
        if let Some(host) = vm.get("host") {
            let mut hm = Members::of(host, format!("{source}: volumes[{i}].host"))?;
            volume = volume.host(
                HostVolumeProperties::builder()
                    .set_source_path(hm.string("sourcePath")?)
                    .build(),
            );
            hm.done()?;
        }
        vm.done()?;
        volumes.push(volume.build());
    }
    if !volumes.is_empty() {
        request = request.set_volumes(Some(volumes));
    }
    let mut tags = Vec::new();
    for (i, t) in m.list("tags")?.into_iter().enumerate() {
        let mut tm = Members::of(t, format!("{source}: tags[{i}]"))?;
        tags.push(
            Tag::builder()
                .set_key(tm.string("key")?)
                .set_value(tm.string("value")?)
                .build(),
        );
        tm.done()?;
    }
    if !tags.is_empty() {
        request = request.set_tags(Some(tags));
    }
    m.done()?;
    let out = request
        .send()
        .await
        .map_err(|e| format!("RegisterTaskDefinition from {source}: {}", sdk_error(&e)))?;
    out.task_definition()
        .and_then(|t| t.task_definition_arn())
        .map(str::to_owned)
        .ok_or_else(|| "RegisterTaskDefinition answered no task definition".to_owned())
}

fn container(value: &Value, at: String) -> Result<ContainerDefinition, String> {
    let mut m = Members::of(value, at.clone())?;
    let mut c = ContainerDefinition::builder()
        .set_name(m.string("name")?)
        .set_image(m.string("image")?)
        .set_essential(m.boolean("essential")?)
        .set_cpu(m.int("cpu")?)
        .set_memory(m.int("memory")?)
        .set_memory_reservation(m.int("memoryReservation")?)
        .set_command(m.strings("command")?)
        .set_entry_point(m.strings("entryPoint")?)
        .set_working_directory(m.string("workingDirectory")?)
        .set_user(m.string("user")?)
        .set_readonly_root_filesystem(m.boolean("readonlyRootFilesystem")?)
        .set_stop_timeout(m.int("stopTimeout")?)
        .set_start_timeout(m.int("startTimeout")?);
    for (i, p) in m.list("portMappings")?.into_iter().enumerate() {
        let mut pm = Members::of(p, format!("{at}.portMappings[{i}]"))?;
        c = c.port_mappings(
            PortMapping::builder()
                .set_container_port(pm.int("containerPort")?)
                .set_host_port(pm.int("hostPort")?)
                .set_protocol(
                    pm.string("protocol")?
                        .map(|s| TransportProtocol::from(s.as_str())),
                )
                .set_name(pm.string("name")?)
                .build(),
        );
        pm.done()?;
    }
    for (i, e) in m.list("environment")?.into_iter().enumerate() {
        let mut em = Members::of(e, format!("{at}.environment[{i}]"))?;
        c = c.environment(
            KeyValuePair::builder()
                .set_name(em.string("name")?)
                .set_value(em.string("value")?)
                .build(),
        );
        em.done()?;
    }
    for (i, s) in m.list("secrets")?.into_iter().enumerate() {
        let mut sm = Members::of(s, format!("{at}.secrets[{i}]"))?;
        c = c.secrets(
            Secret::builder()
                .set_name(sm.string("name")?)
                .set_value_from(sm.string("valueFrom")?)
                .build()
                .map_err(|e| format!("{at}.secrets[{i}]: {e}"))?,
        );
        sm.done()?;
    }
    if let Some(l) = m.get("logConfiguration") {
        let mut lm = Members::of(l, format!("{at}.logConfiguration"))?;
        let options: Option<HashMap<String, String>> = match lm.get("options") {
            Some(Value::Object(o)) => Some(
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect(),
            ),
            _ => None,
        };
        c = c.log_configuration(
            LogConfiguration::builder()
                .set_log_driver(lm.string("logDriver")?.map(|s| LogDriver::from(s.as_str())))
                .set_options(options)
                .build()
                .map_err(|e| format!("{at}.logConfiguration: {e}"))?,
        );
        lm.done()?;
    }
    if let Some(h) = m.get("healthCheck") {
        let mut hm = Members::of(h, format!("{at}.healthCheck"))?;
        c = c.health_check(
            HealthCheck::builder()
                .set_command(hm.strings("command")?)
                .set_interval(hm.int("interval")?)
                .set_timeout(hm.int("timeout")?)
                .set_retries(hm.int("retries")?)
                .set_start_period(hm.int("startPeriod")?)
                .build()
                .map_err(|e| format!("{at}.healthCheck: {e}"))?,
        );
        hm.done()?;
    }
    for (i, d) in m.list("dependsOn")?.into_iter().enumerate() {
        let mut dm = Members::of(d, format!("{at}.dependsOn[{i}]"))?;
        c = c.depends_on(
            ContainerDependency::builder()
                .set_container_name(dm.string("containerName")?)
                .set_condition(
                    dm.string("condition")?
                        .map(|s| ContainerCondition::from(s.as_str())),
                )
                .build()
                .map_err(|e| format!("{at}.dependsOn[{i}]: {e}"))?,
        );
        dm.done()?;
    }
    for (i, p) in m.list("mountPoints")?.into_iter().enumerate() {
        let mut pm = Members::of(p, format!("{at}.mountPoints[{i}]"))?;
        c = c.mount_points(
            MountPoint::builder()
                .set_source_volume(pm.string("sourceVolume")?)
                .set_container_path(pm.string("containerPath")?)
                .set_read_only(pm.boolean("readOnly")?)
                .build(),
        );
        pm.done()?;
    }
    m.done()?;
    Ok(c.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_read_their_members_and_refuse_others_by_name() {
        let web = json!({
            "name": "web",
            "image": "registry.example/web:41",
            "essential": true,
            "memory": 256,
            "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
            "environment": [{"name": "MODE", "value": "blue"}]
        });
        let c =
            container(&web, "taskdef.json: containerDefinitions[0]".into()).expect("a container");
        assert_eq!(c.name(), Some("web"));
        assert_eq!(c.image(), Some("registry.example/web:41"));
        assert_eq!(c.memory(), Some(256));
        assert_eq!(c.port_mappings()[0].container_port(), Some(8080));
        assert_eq!(c.environment()[0].value(), Some("blue"));

        let mut odd = web.clone();
        odd["gpuPartition"] = json!(2);
        assert_eq!(
            container(&odd, "taskdef.json: containerDefinitions[0]".into()).expect_err("an unknown member"),
            "taskdef.json: containerDefinitions[0] has members Sluice does not register yet: gpuPartition"
        );
        let mut wrong = web;
        wrong["memory"] = json!("lots");
        let err = container(&wrong, "taskdef.json: containerDefinitions[0]".into())
            .expect_err("a string for a number");
        assert!(err.contains("containerDefinitions[0].memory"), "{err}");
    }
}
