//! People and their keys on this machine: the keys file (`ACCESS_KEY_ID SECRET` lines) and the principals file
//! beside it (`principals.yaml`: each principal's key ids and role per pipeline pattern, see
//! `sluice_web::access`). `sluice serve` reads both, and again whenever either changes, so `sluice principals`
//! and `sluice keys` take effect without a restart; the files are also the port (`People`) of the access
//! operations (`sluice_web::access::admin`) that `sluice serve` answers and the local commands call in
//! process (`people_remote.rs`). Files are replaced whole (written beside, then renamed), the keys file with
//! mode 0600.

use sluice_runtime::ports::{Directory, Person};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use sluice_web::access::admin::{People, PeopleError};
use sluice_web::access::{self, Access, Principal};
use sluice_web::sigv4::Keys;
use tracing::warn;

/// The principals file's name, next to the keys file.
pub(crate) const PRINCIPALS_FILE: &str = "principals.yaml";

/// Where the keys and the principals are.
#[derive(Debug, Clone)]
pub(crate) struct AccessFiles {
    pub(crate) keys: PathBuf,
    pub(crate) principals: PathBuf,
    /// Whether the keys file is the default one (created with a random pair when missing).
    pub(crate) default_keys: bool,
}

impl AccessFiles {
    /// The keys file given, or `<state>/keys`; the principals file beside it.
    pub(crate) fn new(state_dir: &Path, keys: Option<PathBuf>) -> Self {
        let default_keys = keys.is_none();
        let keys = keys.unwrap_or_else(|| state_dir.join("keys"));
        let principals = keys.parent().map_or_else(
            || PathBuf::from(PRINCIPALS_FILE),
            |d| d.join(PRINCIPALS_FILE),
        );
        Self {
            keys,
            principals,
            default_keys,
        }
    }

    /// Reads both files (the principals file may be missing: every key is then an admin). A principal
    /// naming a key whose secret is not in the keys file is refused (a server does not start on it).
    pub(crate) fn load(&self) -> Result<Access> {
        let keys = load_or_create_keys(&self.keys, self.default_keys)?;
        Access::new(keys, self.read_principals()?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.principals.display()))
    }

    /// As [`AccessFiles::load`], for a server reading the files again: a key id a principal names whose
    /// secret is not in the keys file signs nothing (logged). `add_key` names a new key before it writes its
    /// secret, so that the key is never, even between the two writes, one that no principal names (an admin).
    pub(crate) fn reload(&self) -> Result<Access> {
        let keys = load_or_create_keys(&self.keys, self.default_keys)?;
        let mut principals = self.read_principals()?;
        for p in &mut principals {
            p.keys.retain(|id| {
                let known = keys.secret(id).is_some();
                if !known {
                    warn!(principal = %p.name, key = %id, file = %self.keys.display(),
                        "an access key with no secret in the keys file is left out");
                }
                known
            });
        }
        Access::new(keys, principals)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.principals.display()))
    }

    fn read_principals(&self) -> Result<Vec<Principal>> {
        match std::fs::read_to_string(&self.principals) {
            Ok(text) => access::file::parse(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", self.principals.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", self.principals.display())),
        }
    }

    fn stamp(&self) -> Stamp {
        let of = |p: &Path| {
            std::fs::metadata(p)
                .ok()
                .map(|m| (m.modified().ok(), m.len()))
        };
        (of(&self.keys), of(&self.principals))
    }
}

type Stamp = (
    Option<(Option<SystemTime>, u64)>,
    Option<(Option<SystemTime>, u64)>,
);

/// The access `sluice serve` checks requests against, read again when a file changes. A change that does not
/// read (a typo in the principals file) is logged and the last good reading stays in force.
pub(crate) struct LiveAccess {
    files: AccessFiles,
    current: Mutex<(Stamp, Arc<Access>)>,
}

impl LiveAccess {
    /// Reads the files once; they must read.
    pub(crate) fn open(files: AccessFiles) -> Result<Self> {
        let stamp = files.stamp();
        let access = Arc::new(files.load()?);
        Ok(Self {
            files,
            current: Mutex::new((stamp, access)),
        })
    }

    /// The files' current reading.
    pub(crate) fn get(&self) -> Arc<Access> {
        let stamp = self.files.stamp();
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.0 != stamp {
            current.0 = stamp;
            match self.files.reload() {
                Ok(access) => current.1 = Arc::new(access),
                Err(e) => warn!(error = %format!("{e:#}"), "keys or principals not reloaded"),
            }
        }
        Arc::clone(&current.1)
    }
}

/// The principals of the principals file as approval links and link decisions see them (groups expanded,
/// a link's approver's groups).
#[async_trait::async_trait]
impl Directory for LiveAccess {
    async fn people(&self) -> std::result::Result<Vec<Person>, String> {
        Ok(self
            .get()
            .principals()
            .iter()
            .map(|p| Person {
                name: p.name.clone(),
                groups: p.groups.clone(),
            })
            .collect())
    }
}

impl LiveAccess {
    /// The files read.
    pub(crate) fn files(&self) -> &AccessFiles {
        &self.files
    }
}

/// The principals and keys files as the access operations' port (`sluice_web::access::admin`): what `sluice
/// serve` answers them over, and what `sluice principals` and `sluice keys` change without `--endpoint`.
impl People for AccessFiles {
    async fn principals(&self) -> Result<Vec<Principal>, PeopleError> {
        self.read_principals().map_err(unavailable)
    }

    async fn put_principal(&self, principal: &Principal, create: bool) -> Result<(), PeopleError> {
        let mut principals = self.read_principals().map_err(unavailable)?;
        match (
            principals.iter_mut().find(|p| p.name == principal.name),
            create,
        ) {
            (Some(_), true) => {
                return Err(PeopleError::Conflict(format!(
                    "{} is already a principal of {}",
                    principal.name,
                    self.principals.display()
                )))
            }
            (Some(p), false) => {
                p.grants = principal.grants.clone();
                p.groups = principal.groups.clone();
            }
            (None, true) => principals.push(Principal {
                keys: Vec::new(),
                ..principal.clone()
            }),
            (None, false) => return Err(self.not_a_principal(&principal.name)),
        }
        write_principals(self, &principals).map_err(unavailable)
    }

    async fn delete_principal(&self, name: &str) -> Result<Vec<String>, PeopleError> {
        let mut principals = self.read_principals().map_err(unavailable)?;
        let Some(at) = principals.iter().position(|p| p.name == name) else {
            return Err(self.not_a_principal(name));
        };
        let gone = principals.remove(at);
        // Keys first: a key left without a principal would be an admin.
        remove_keys(self, &gone.keys)?;
        write_principals(self, &principals).map_err(unavailable)?;
        Ok(gone.keys)
    }

    async fn add_key(&self, name: &str, id: &str, secret: &str) -> Result<(), PeopleError> {
        let mut principals = self.read_principals().map_err(unavailable)?;
        let Some(p) = principals.iter_mut().find(|p| p.name == name) else {
            return Err(self.not_a_principal(name));
        };
        let mut text = match std::fs::read_to_string(&self.keys) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(PeopleError::Unavailable(format!(
                    "cannot read {}: {e}",
                    self.keys.display()
                )))
            }
        };
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!("{id} {secret}\n"));
        // The principal first: its key id without a secret signs nothing (see `reload`), where a secret no
        // principal names would be an admin's until the principals file is written.
        p.keys.push(id.to_owned());
        write_principals(self, &principals).map_err(unavailable)?;
        if let Err(e) = replace_file(&self.keys, &text) {
            // Named but never given a secret: taken back, so a server still starts on the files.
            for p in &mut principals {
                p.keys.retain(|k| k != id);
            }
            let _ = write_principals(self, &principals);
            return Err(unavailable(e));
        }
        Ok(())
    }

    async fn delete_key(&self, id: &str) -> Result<(), PeopleError> {
        let mut principals = self.read_principals().map_err(unavailable)?;
        let keys = load_or_create_keys(&self.keys, false).map_err(unavailable)?;
        if keys.secret(id).is_none() {
            return Err(PeopleError::NotFound(format!(
                "{id} is not a key of {}",
                self.keys.display()
            )));
        }
        remove_keys(self, &[id.to_owned()])?;
        for p in &mut principals {
            p.keys.retain(|k| k != id);
        }
        write_principals(self, &principals).map_err(unavailable)
    }
}

impl AccessFiles {
    fn not_a_principal(&self, name: &str) -> PeopleError {
        PeopleError::NotFound(format!(
            "{name} is not a principal of {}",
            self.principals.display()
        ))
    }
}

fn unavailable(e: anyhow::Error) -> PeopleError {
    PeopleError::Unavailable(format!("{e:#}"))
}

fn remove_keys(files: &AccessFiles, ids: &[String]) -> Result<(), PeopleError> {
    if ids.is_empty() {
        return Ok(());
    }
    let text = std::fs::read_to_string(&files.keys).map_err(|e| {
        PeopleError::Unavailable(format!("cannot read {}: {e}", files.keys.display()))
    })?;
    let kept: String = text
        .lines()
        .filter(|line| {
            let id = line.split_whitespace().next().unwrap_or("");
            !ids.iter().any(|k| k == id)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    if Keys::parse(&kept).map(|k| k.is_empty()).unwrap_or(false) {
        return Err(PeopleError::Invalid(format!(
            "that would leave {} with no key pair: create another first",
            files.keys.display()
        )));
    }
    replace_file(&files.keys, &kept).map_err(unavailable)
}

fn write_principals(files: &AccessFiles, principals: &[Principal]) -> Result<()> {
    replace_file(&files.principals, &access::file::render(principals))
}

/// Writes `text` beside `path` (mode 0600) and renames it over `path`.
fn replace_file(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    // NamedTempFile is created with mode 0600.
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// Reads the keys file; the default one is created with a random pair (mode 0600) when missing.
pub(crate) fn load_or_create_keys(path: &Path, create: bool) -> Result<Keys> {
    if create && !path.exists() {
        let id = format!(
            "AKIA{}",
            &uuid::Uuid::new_v4().simple().to_string()[..16].to_uppercase()
        );
        let secret = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        write_private(path, &format!("{id} {}\n", &secret[..40]))
            .with_context(|| format!("cannot create the keys file {}", path.display()))?;
        outln!("sluice: created an access key pair in {}", path.display());
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the keys file {}", path.display()))?;
    let keys =
        Keys::parse(&text).map_err(|e| anyhow::anyhow!("keys file {}: {e}", path.display()))?;
    if keys.is_empty() {
        bail!("keys file {} has no key pairs", path.display());
    }
    Ok(keys)
}

/// Writes a new file readable by its owner only; fails when it exists.
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Between `add_key`'s two writes the principals file names a key whose secret is not written yet: a
    /// server reading the files again still reads them, and that key signs nothing (nobody's, not an admin's).
    #[test]
    fn a_named_key_without_its_secret_signs_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let files = AccessFiles::new(dir.path(), Some(dir.path().join("keys")));
        replace_file(&files.keys, "AKADMIN s0\n").expect("keys");
        replace_file(
            &files.principals,
            "alice:\n  keys: [AKNEW]\n  roles: {'*': viewer}\n",
        )
        .expect("principals");
        let access = files.reload().expect("loads");
        assert!(
            access.principal("AKNEW").is_none(),
            "the new key signs nothing yet"
        );
        assert!(files.load().is_err(), "a server does not start on it");
        assert!(access
            .principals()
            .iter()
            .any(|p| p.name == "alice" && p.keys.is_empty()));

        replace_file(&files.keys, "AKADMIN s0\nAKNEW s1\n").expect("keys");
        let access = files.reload().expect("loads");
        let alice = access.principal("AKNEW").expect("alice's key");
        assert_eq!(alice.name, "alice");
    }
}
