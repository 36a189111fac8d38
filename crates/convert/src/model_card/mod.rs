//! The descriptive `general.*` keys, as gguf-py's `Metadata.load` derives them from the model
//! card (`README.md` YAML front matter, [`front_matter`]), `config.json`'s `_name_or_path`, the
//! directory name and the parameter count (names from model ids: [`model_id`]).

mod front_matter;
mod model_id;

use std::path::Path;

use gguf_loader::{Array, Value};
use serde_json::{Map, Value as Json};

pub(crate) use front_matter::load;
use front_matter::{Card, Yaml, get};
use model_id::{IdComponents, id_to_title, model_id_components, size_label};

/// One entry of `general.base_model.N.*` or `general.dataset.N.*`.
#[derive(Debug, Default)]
struct Entry {
    name: Option<String>,
    organization: Option<String>,
    version: Option<String>,
    repo_url: Option<String>,
}

fn entry_from_id(id: &str, total_params: i64) -> Entry {
    let mut e = Entry::default();
    if id.starts_with("http://") || id.starts_with("https://") || id.starts_with("ssh://") {
        e.repo_url = Some(id.to_string());
        if id.contains("huggingface.co") {
            let rest = id
                .strip_prefix("https://huggingface.co/")
                .or_else(|| id.strip_prefix("http://huggingface.co/"));
            if let Some(rest) = rest {
                let segs: Vec<&str> = rest.split('/').collect();
                if segs.len() == 2 && segs.iter().all(|s| !s.is_empty()) {
                    let c = model_id_components(Some(rest), total_params);
                    e.name = c.full_name.as_deref().map(id_to_title);
                    e.organization = c.org.as_deref().map(id_to_title);
                    e.version = c.version;
                }
            }
        }
    } else {
        let c = model_id_components(Some(id), total_params);
        e.name = c.full_name.as_deref().map(id_to_title);
        e.organization = c.org.as_deref().map(id_to_title);
        e.version = c.version.clone();
        if let (Some(o), Some(n)) = (&c.org, &c.full_name) {
            e.repo_url = Some(format!("https://huggingface.co/{o}/{n}"));
        }
    }
    e
}

/// The `general.*` keys after `general.architecture` and `general.type`, in gguf-py's order.
pub(crate) fn general_metadata(
    dir: &Path,
    card: &Card,
    config: &Map<String, Json>,
    n_params: u64,
) -> Vec<(String, Value)> {
    let total = n_params.min(i64::MAX as u64) as i64;
    #[derive(Default)]
    struct M {
        name: Option<String>,
        author: Option<String>,
        version: Option<String>,
        organization: Option<String>,
        finetune: Option<String>,
        basename: Option<String>,
        description: Option<String>,
        size_label: Option<String>,
        license: Option<String>,
        license_name: Option<String>,
        license_link: Option<String>,
        source_url: Option<String>,
        source_doi: Option<String>,
        source_uuid: Option<String>,
        source_repo_url: Option<String>,
        base_models: Option<Vec<Entry>>,
        datasets: Option<Vec<Entry>>,
        tags: Option<Vec<String>>,
        languages: Option<Vec<String>>,
    }
    let mut m = M::default();
    let scalar = |key: &str| match get(card, key) {
        Some(Yaml::Str(s)) => Some(s.clone()),
        _ => None,
    };
    macro_rules! use_card {
        ($field:ident, $key:expr) => {
            if m.$field.is_none() {
                m.$field = scalar($key);
            }
        };
    }
    for prefix in ["", "model_"] {
        use_card!(name, &format!("{prefix}name"));
        use_card!(author, &format!("{prefix}author"));
        use_card!(version, &format!("{prefix}version"));
        use_card!(organization, &format!("{prefix}organization"));
        use_card!(description, &format!("{prefix}description"));
        use_card!(finetune, &format!("{prefix}finetune"));
        use_card!(basename, &format!("{prefix}basename"));
        use_card!(size_label, &format!("{prefix}size_label"));
        use_card!(source_url, &format!("{prefix}url"));
        use_card!(source_doi, &format!("{prefix}doi"));
        use_card!(source_uuid, &format!("{prefix}uuid"));
        use_card!(source_repo_url, &format!("{prefix}repo_url"));
    }
    use_card!(name, "model_name");
    use_card!(author, "model_creator");
    use_card!(basename, "model_type");

    let list = |key: &str| -> Vec<String> {
        match get(card, key) {
            Some(Yaml::Str(s)) => vec![s.clone()],
            Some(Yaml::List(l)) => l.clone(),
            None => Vec::new(),
        }
    };
    if get(card, "base_model").is_some() {
        m.base_models = Some(
            list("base_model")
                .iter()
                .map(|id| entry_from_id(id, total))
                .collect(),
        );
    }
    let dataset_key = ["datasets", "dataset", "dataset_sources"]
        .into_iter()
        .find(|k| get(card, k).is_some());
    if let Some(key) = dataset_key {
        m.datasets = Some(
            list(key)
                .iter()
                .map(|id| entry_from_id(id, total))
                .collect(),
        );
    }
    if m.license.is_none() {
        m.license = match get(card, "license") {
            Some(Yaml::Str(s)) => Some(s.clone()),
            Some(Yaml::List(l)) => Some(l.join(",")),
            None => None,
        };
    }
    use_card!(license_name, "license_name");
    use_card!(license_link, "license_link");
    for (field, keys) in [
        ("tags", ["tags", "pipeline_tag"]),
        ("languages", ["languages", "language"]),
    ] {
        for key in keys {
            if get(card, key).is_some() {
                let target = if field == "tags" {
                    &mut m.tags
                } else {
                    &mut m.languages
                };
                target.get_or_insert_with(Vec::new).extend(list(key));
            }
        }
    }

    let apply = |c: IdComponents, m: &mut M| {
        if m.name.is_none() {
            m.name = c.full_name.as_deref().map(id_to_title);
        }
        if m.organization.is_none() {
            m.organization = c.org.as_deref().map(id_to_title);
        }
        if m.basename.is_none() {
            m.basename = c.basename;
        }
        if m.finetune.is_none() {
            m.finetune = c.finetune;
        }
        if m.version.is_none() {
            m.version = c.version;
        }
        if m.size_label.is_none() {
            m.size_label = c.size_label;
        }
    };
    if let Some(Json::String(id)) = config.get("_name_or_path")
        && id.matches('/').count() <= 1
    {
        apply(model_id_components(Some(id), total), &mut m);
    }
    // Python's `Path(dir).name`; for `.` and the like, the resolved directory's name.
    let dir_name: Option<String> = match dir.file_name() {
        Some(n) => Some(n.to_string_lossy().into_owned()),
        None => dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())),
    };
    if let Some(dir_name) = &dir_name {
        apply(model_id_components(Some(dir_name), total), &mut m);
    }
    if m.name.is_none() {
        m.name = dir_name;
    }
    if m.size_label.is_none() && n_params > 0 {
        m.size_label = Some(size_label(n_params));
    }

    let mut out: Vec<(String, Value)> = Vec::new();
    let mut put = |key: &str, v: &Option<String>| {
        if let Some(v) = v {
            out.push((key.to_string(), Value::String(v.clone())));
        }
    };
    put("general.name", &m.name);
    put("general.author", &m.author);
    put("general.version", &m.version);
    put("general.organization", &m.organization);
    put("general.finetune", &m.finetune);
    put("general.basename", &m.basename);
    put("general.description", &m.description);
    put("general.size_label", &m.size_label);
    put("general.license", &m.license);
    put("general.license.name", &m.license_name);
    put("general.license.link", &m.license_link);
    put("general.source.url", &m.source_url);
    put("general.source.doi", &m.source_doi);
    put("general.source.uuid", &m.source_uuid);
    put("general.source.repo_url", &m.source_repo_url);
    for (kind, entries) in [("base_model", &m.base_models), ("dataset", &m.datasets)] {
        if let Some(entries) = entries {
            out.push((
                format!("general.{kind}.count"),
                Value::U32(entries.len() as u32),
            ));
            for (i, e) in entries.iter().enumerate() {
                for (field, v) in [
                    ("name", &e.name),
                    ("version", &e.version),
                    ("organization", &e.organization),
                    ("repo_url", &e.repo_url),
                ] {
                    if let Some(v) = v {
                        out.push((
                            format!("general.{kind}.{i}.{field}"),
                            Value::String(v.clone()),
                        ));
                    }
                }
            }
        }
    }
    if let Some(tags) = m.tags {
        out.push(("general.tags".into(), Value::Array(Array::String(tags))));
    }
    if let Some(languages) = m.languages {
        out.push((
            "general.languages".into(),
            Value::Array(Array::String(languages)),
        ));
    }
    out
}
