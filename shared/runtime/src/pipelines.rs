//! Pipelines: storing versions (each published to the orchestrator before it is recorded), tags, listing,
//! reading any version, and deletion.

use std::sync::Arc;

use tracing::info;

use crate::error::{Result, RuntimeError};
use crate::ports::{Condition, Order, StoreError, Write};
use crate::records::{keys, ExecutionRecord, PipelineHead, PipelineRecord, TagsRecord};
use crate::runtime::{decode, put, Runtime, Versioned};
use sluice_definition::compile::compile;
use sluice_definition::model::Pipeline;
use sluice_definition::validate::validate;
use sluice_definition::Tag;

impl Runtime {
    /// The definition's problems, as an error, against this runtime's limits.
    fn check_definition(&self, definition: &Pipeline) -> Result<()> {
        let problems = validate(definition, &self.config.limits);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(RuntimeError::InvalidDefinition(problems))
        }
    }

    /// Creates a pipeline, or a new version of it when the definition changed; returns the version in force.
    pub async fn put_pipeline(
        &self,
        definition: Pipeline,
        base_dir: Option<String>,
    ) -> Result<PipelineRecord> {
        self.check_definition(&definition)?;
        let name = definition.name.clone();
        let head: Option<Versioned<PipelineHead>> = self.read(keys::PIPELINES, &name).await?;
        if let Some(h) = &head {
            let current = self
                .stored_version(&name, h.value.serial(h.value.version), h.value.version)
                .await?;
            let mut same = definition.clone();
            same.version = current.definition.version;
            if same == current.definition && current.base_dir == base_dir {
                return Ok(current);
            }
        }
        self.store_version(definition, base_dir, head, Vec::new())
            .await
    }

    /// Stores a new version of an existing pipeline (UpdatePipeline), changed or not, as CodePipeline does. A
    /// definition carrying a `version` must name the version in force (an edit of a stale copy is refused).
    pub async fn update_pipeline(
        &self,
        definition: Pipeline,
        base_dir: Option<String>,
    ) -> Result<PipelineRecord> {
        self.check_definition(&definition)?;
        let name = definition.name.clone();
        let head: Versioned<PipelineHead> = self
            .read(keys::PIPELINES, &name)
            .await?
            .ok_or_else(|| RuntimeError::PipelineNotFound(name.clone()))?;
        if let Some(v) = definition.version.filter(|v| *v != head.value.version) {
            return Err(RuntimeError::Conflict(format!(
                "pipeline.version: {v} is not the version in force ({}): update a copy of the current \
                 definition (GetPipeline)",
                head.value.version
            )));
        }
        self.store_version(definition, base_dir, Some(head), Vec::new())
            .await
    }

    /// Creates a pipeline that must not exist yet (CreatePipeline), with its tags. A pipeline of that name
    /// is a [`RuntimeError::Conflict`], also when another writer creates it at the same moment.
    pub async fn create_pipeline(
        &self,
        definition: Pipeline,
        base_dir: Option<String>,
        tags: Vec<Tag>,
    ) -> Result<PipelineRecord> {
        self.check_definition(&definition)?;
        let name = definition.name.clone();
        let in_use = || RuntimeError::Conflict(format!("a pipeline named {name} already exists"));
        if self
            .read::<PipelineHead>(keys::PIPELINES, &name)
            .await?
            .is_some()
        {
            return Err(in_use());
        }
        let tags = put(
            keys::pipeline(&name),
            keys::TAGS.into(),
            self.store
                .get(&keys::pipeline(&name), keys::TAGS)
                .await?
                .map(|i| i.version),
            &TagsRecord { tags },
        )?;
        match self
            .store_version(definition, base_dir, None, vec![tags])
            .await
        {
            Err(RuntimeError::Store(StoreError::ConditionFailed(_))) => Err(in_use()),
            other => other,
        }
    }

    /// Stores a new version of a pipeline, after `head` (None: the pipeline has no head, new or deleted),
    /// with `extra` writes in the same transaction. The head's absence is a condition of the write.
    pub(crate) async fn store_version(
        &self,
        mut definition: Pipeline,
        base_dir: Option<String>,
        head: Option<Versioned<PipelineHead>>,
        extra: Vec<Write>,
    ) -> Result<PipelineRecord> {
        let name = definition.name.clone();
        let now = self.env.now_ms();
        let (version, base) = match &head {
            Some(h) => (h.value.version + 1, h.value.base),
            // A deleted pipeline's versions stay stored (and published to the orchestrator) under their
            // serials, so a pipeline created again under its name counts its versions from 1 above them.
            None => (1, self.last_stored_version(&name).await?),
        };
        let serial = base + version;
        definition.version = Some(version);
        let record = PipelineRecord {
            definition,
            created_ms: now,
            base_dir,
            serial,
        };
        let new_head = PipelineHead {
            name: name.clone(),
            version,
            created_ms: head.as_ref().map_or(now, |h| h.value.created_ms),
            updated_ms: now,
            base,
        };
        self.orchestrator
            .publish(&name, serial, &compile(&record.definition))
            .await?;
        let mut writes = vec![
            put(keys::pipeline(&name), keys::version(serial), None, &record)?,
            put(
                keys::PIPELINES.into(),
                name.clone(),
                head.map(|h| h.version),
                &new_head,
            )?,
        ];
        writes.extend(extra);
        self.store.transact(writes).await?;
        info!(pipeline = %name, version, "pipeline version stored");
        Ok(record)
    }

    /// The highest serial stored for a pipeline name (of this pipeline or one deleted before it), 0 when there
    /// is none.
    pub(crate) async fn last_stored_version(&self, name: &str) -> Result<u64> {
        let newest = self
            .store
            .query(
                &keys::pipeline(name),
                "VERSION#",
                Order::Descending,
                1,
                None,
            )
            .await?;
        Ok(newest
            .first()
            .and_then(|i| i.sk.trim_start_matches("VERSION#").parse().ok())
            .unwrap_or(0))
    }

    /// Deletes a pipeline (DeletePipeline): its head, tags, transitions, idempotency tokens and execution
    /// listing go; its versions and executions' own records stay for runs that reference them. Refused
    /// ([`RuntimeError::Conflict`]) while an execution of it has not ended. Deleting a pipeline that does
    /// not exist does nothing, as in CodePipeline.
    pub async fn delete_pipeline(&self, name: &str) -> Result<()> {
        let Some(head) = self.read::<PipelineHead>(keys::PIPELINES, name).await? else {
            return Ok(());
        };
        let pk = keys::pipeline(name);
        let mut doomed = Vec::new();
        for prefix in ["EXECUTION#", "TRANSITION#", "REQUEST#", keys::TAGS] {
            let items = self
                .store
                .query(&pk, prefix, Order::Ascending, usize::MAX, None)
                .await?;
            for i in items {
                if prefix == "EXECUTION#" {
                    let listed: ExecutionRecord = decode(i.clone())?.value;
                    if !listed.status.is_final() {
                        return Err(RuntimeError::Conflict(format!(
                            "execution {} of pipeline {name} is {:?}; stop it before deleting the pipeline",
                            listed.execution_id, listed.status
                        )));
                    }
                }
                doomed.push(Write::Delete {
                    pk: i.pk,
                    sk: i.sk,
                    condition: Condition::Version(i.version),
                });
            }
        }
        // The head goes first, alone and conditionally: from then on the pipeline is gone for every reader.
        self.store
            .transact(vec![Write::Delete {
                pk: keys::PIPELINES.into(),
                sk: name.to_owned(),
                condition: Condition::Version(head.version),
            }])
            .await?;
        while !doomed.is_empty() {
            let rest = doomed.split_off(doomed.len().min(25));
            let chunk = std::mem::replace(&mut doomed, rest);
            match self.store.transact(chunk).await {
                Ok(()) | Err(StoreError::ConditionFailed(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        info!(pipeline = %name, "pipeline deleted");
        Ok(())
    }

    /// A pipeline's head (newest version and times), None when there is no such pipeline.
    pub async fn pipeline_head(&self, name: &str) -> Result<Option<PipelineHead>> {
        Ok(self
            .read::<PipelineHead>(keys::PIPELINES, name)
            .await?
            .map(|v| v.value))
    }

    /// A pipeline's tags (set by CreatePipeline).
    pub async fn pipeline_tags(&self, name: &str) -> Result<Vec<Tag>> {
        Ok(self
            .read::<TagsRecord>(&keys::pipeline(name), keys::TAGS)
            .await?
            .map(|v| v.value.tags)
            .unwrap_or_default())
    }

    /// One page of pipelines' newest versions by name, after the name `after`; the name to continue after
    /// when there may be more.
    pub async fn list_pipelines_page(
        &self,
        limit: usize,
        after: Option<&str>,
    ) -> Result<(Vec<PipelineHead>, Option<String>)> {
        self.page(keys::PIPELINES, "", Order::Ascending, limit, after)
            .await
    }

    /// A version of a pipeline that exists (the newest when `version` is None). The versions of a pipeline
    /// deleted before are not found, also when one of the same name exists now.
    pub async fn pipeline(&self, name: &str, version: Option<u64>) -> Result<PipelineRecord> {
        let head = self
            .read::<PipelineHead>(keys::PIPELINES, name)
            .await?
            .ok_or_else(|| RuntimeError::PipelineNotFound(name.to_owned()))?
            .value;
        let version = version.unwrap_or(head.version);
        if version == 0 || version > head.version {
            return Err(RuntimeError::PipelineNotFound(format!(
                "{name} version {version}"
            )));
        }
        self.stored_version(name, head.serial(version), version)
            .await
    }

    /// The pipeline version an execution runs (of a pipeline that may have been deleted since).
    pub async fn execution_pipeline(&self, execution: &ExecutionRecord) -> Result<PipelineRecord> {
        Ok((*self.execution_definition(execution).await?).clone())
    }

    /// The pipeline version an execution runs, shared from the runtime's cache (no copy, no parse).
    pub(crate) async fn execution_definition(
        &self,
        execution: &ExecutionRecord,
    ) -> Result<Arc<PipelineRecord>> {
        self.cached_version(&execution.pipeline, execution.serial(), execution.version)
            .await
    }

    async fn stored_version(
        &self,
        name: &str,
        serial: u64,
        version: u64,
    ) -> Result<PipelineRecord> {
        Ok((*self.cached_version(name, serial, version).await?).clone())
    }

    async fn cached_version(
        &self,
        name: &str,
        serial: u64,
        version: u64,
    ) -> Result<Arc<PipelineRecord>> {
        if let Some(record) = self.definitions.get(name, serial) {
            return Ok(record);
        }
        let mut record = self
            .read::<PipelineRecord>(&keys::pipeline(name), &keys::version(serial))
            .await?
            .ok_or_else(|| RuntimeError::PipelineNotFound(format!("{name} version {version}")))?
            .value;
        record.serial = serial;
        let record = Arc::new(record);
        self.definitions.insert(name, serial, Arc::clone(&record));
        Ok(record)
    }

    /// Every pipeline's newest version.
    pub async fn list_pipelines(&self) -> Result<Vec<PipelineHead>> {
        Ok(self
            .query::<PipelineHead>(keys::PIPELINES, "", Order::Ascending)
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }
}
