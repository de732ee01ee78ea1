//! Run configs: the JSON that names a model, its hyper-parameters, the training setup and
//! the data, with errors that name the offending JSON path.
//!
//! A run config is one flat JSON object (written as `config.json` into every run directory
//! and checkpoint):
//!
//! ```json
//! {"model": "edp-gnn", "<model field>": ..., "train": {...}, "data": {...}}
//! ```
//!
//! `model` is the model's [`DiffusionModel::NAME`]; every other key except `train` and
//! `data` belongs to the model's config (deserialised with `deny_unknown_fields`); `train`
//! is a [`TrainConfig`]; `data` describes the training data (opaque here: the CLI writes and
//! reads it). [`merge_json`] and [`set_json_path`] implement config files layered on the
//! defaults and `--set a.b=value` edits.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::model::DiffusionModel;
use crate::train::TrainConfig;

/// Keys of a run config that do not belong to the model's config.
pub const RESERVED_KEYS: [&str; 3] = ["model", "train", "data"];

/// A config error at a JSON path (`train.optimizer.lr`, `sigmas[2]`; empty for the root).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("field `{path}`: ") })]
pub struct ConfigError {
    /// JSON path of the offending value.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// An error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Deserialises `value` as `T`, naming the JSON path of the first error (prefixed by
/// `prefix`, e.g. `train`).
pub fn from_value_at<T: DeserializeOwned>(value: Value, prefix: &str) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = join_path(prefix, if inner == "." { "" } else { &inner });
        ConfigError::new(path, e.into_inner().to_string())
    })
}

fn join_path(prefix: &str, inner: &str) -> String {
    match (prefix.is_empty(), inner.is_empty()) {
        (_, true) => prefix.to_string(),
        (true, false) => inner.to_string(),
        (false, false) if inner.starts_with('[') => format!("{prefix}{inner}"),
        (false, false) => format!("{prefix}.{inner}"),
    }
}

/// The `model` name of a run config.
pub fn model_name(value: &Value) -> Result<&str, ConfigError> {
    let obj = value
        .as_object()
        .ok_or_else(|| ConfigError::new("", "a run config must be a JSON object"))?;
    match obj.get("model") {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ConfigError::new(
            "model",
            "must be a string naming the model",
        )),
        None => Err(ConfigError::new(
            "model",
            "missing: the run config must name its model",
        )),
    }
}

/// A parsed run config of model config type `C`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig<C> {
    /// The model's hyper-parameters.
    pub model: C,
    /// The training setup.
    pub train: TrainConfig,
    /// The training data description (`null` when not given).
    pub data: Value,
}

impl<C: Serialize + DeserializeOwned> RunConfig<C> {
    /// The flat JSON form for model `name`.
    pub fn to_json(&self, name: &str) -> Result<Value, ConfigError> {
        let model =
            serde_json::to_value(&self.model).map_err(|e| ConfigError::new("", e.to_string()))?;
        let Value::Object(fields) = model else {
            return Err(ConfigError::new(
                "",
                "a model config must serialise to a JSON object",
            ));
        };
        let mut obj = Map::new();
        obj.insert("model".into(), Value::String(name.into()));
        for (k, v) in fields {
            if RESERVED_KEYS.contains(&k.as_str()) {
                return Err(ConfigError::new(
                    k,
                    "a model config may not use this reserved key",
                ));
            }
            obj.insert(k, v);
        }
        let train = serde_json::to_value(&self.train)
            .map_err(|e| ConfigError::new("train", e.to_string()))?;
        obj.insert("train".into(), train);
        obj.insert("data".into(), self.data.clone());
        Ok(Value::Object(obj))
    }

    /// Parses the flat JSON form, checking that it names model `name`. Unknown or invalid
    /// fields are errors naming their path; `train` is validated.
    pub fn from_json(value: &Value, name: &str) -> Result<Self, ConfigError> {
        let found = model_name(value)?;
        if found != name {
            return Err(ConfigError::new(
                "model",
                format!("expected `{name}`, found `{found}`"),
            ));
        }
        let obj = value
            .as_object()
            .expect("model_name checked it is an object");
        let mut rest = obj.clone();
        for k in RESERVED_KEYS {
            rest.remove(k);
        }
        let model: C = from_value_at(Value::Object(rest), "")?;
        let train_value = obj.get("train").cloned().ok_or_else(|| {
            ConfigError::new("train", "missing: the run config needs a `train` object")
        })?;
        let train: TrainConfig = from_value_at(train_value, "train")?;
        train
            .validate()
            .map_err(|(f, m)| ConfigError::new(format!("train.{f}"), m))?;
        let data = obj.get("data").cloned().unwrap_or(Value::Null);
        Ok(RunConfig { model, train, data })
    }
}

/// The default run config of model `M`: its reference config and training setup, no data.
pub fn default_run_config<M: DiffusionModel>() -> RunConfig<M::Config> {
    RunConfig {
        model: M::Config::default(),
        train: M::default_train_config(),
        data: Value::Null,
    }
}

/// Layers `overlay` on `base`: objects are merged key by key, recursively; any other value
/// replaces. An object whose `kind` tag differs from the base's (a tagged enum such as
/// `lr_schedule`) replaces the base object as a whole, so fields of the old variant do not
/// linger.
pub fn merge_json(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            let retag = matches!((b.get("kind"), o.get("kind")), (Some(x), Some(y)) if x != y);
            if retag {
                *b = o;
                return;
            }
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge_json(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Applies one `key.path=value` edit: `value` is parsed as JSON, else taken as a string.
/// Path segments are object keys, or array indices when the value there is an array.
/// Missing objects along the path are created (the strict parse that follows rejects
/// unknown keys, naming them).
pub fn set_json_path(root: &mut Value, assignment: &str) -> Result<(), ConfigError> {
    let (path, raw) = assignment.split_once('=').ok_or_else(|| {
        ConfigError::new("", format!("`--set {assignment}`: expected key.path=value"))
    })?;
    let path = path.trim();
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(ConfigError::new(
            path,
            format!("`--set {assignment}`: empty key in path"),
        ));
    }
    let value: Value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
    let segments: Vec<&str> = path.split('.').collect();
    let mut cur = root;
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let here = segments[..=i].join(".");
        cur = match cur {
            Value::Array(items) => {
                let idx: usize = seg.parse().map_err(|_| {
                    ConfigError::new(&here, "this value is an array: use a numeric index")
                })?;
                let len = items.len();
                let slot = items.get_mut(idx).ok_or_else(|| {
                    ConfigError::new(&here, format!("index {idx} out of range (length {len})"))
                })?;
                if last {
                    *slot = value;
                    return Ok(());
                }
                slot
            }
            Value::Object(map) => {
                if last {
                    map.insert(seg.to_string(), value);
                    return Ok(());
                }
                map.entry(seg.to_string())
                    .or_insert_with(|| Value::Object(Map::new()))
            }
            other => {
                // a null (e.g. `ema: null`) becomes an object to hold the key
                if !other.is_null() {
                    return Err(ConfigError::new(
                        &here,
                        format!("cannot set a key inside {other}"),
                    ));
                }
                *other = Value::Object(Map::new());
                let Value::Object(map) = other else {
                    unreachable!("just set")
                };
                if last {
                    map.insert(seg.to_string(), value);
                    return Ok(());
                }
                map.entry(seg.to_string())
                    .or_insert_with(|| Value::Object(Map::new()))
            }
        };
    }
    Ok(())
}

/// JSON with object keys sorted at every level (a canonical text for hashing).
pub fn canonical_json(value: &Value) -> String {
    // serde_json keeps insertion order with its `preserve_order` feature; sorting here makes
    // the text the same either way.
    let mut s = String::new();
    write_canonical(value, &mut s);
    s
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                write_canonical(&m[*k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Fields of `train` that do not change what a step computes: a resumed run may change them
/// (e.g. `--steps` to train longer).
pub const HASH_EXEMPT_TRAIN_KEYS: [&str; 5] = [
    "steps",
    "epochs",
    "log_every",
    "checkpoint_every",
    "keep_last",
];

/// SHA-256 (hex) of a run config's canonical JSON, leaving out `data` (checked separately by
/// the data fingerprint) and [`HASH_EXEMPT_TRAIN_KEYS`].
pub fn config_hash(value: &Value) -> String {
    let mut v = value.clone();
    if let Value::Object(m) = &mut v {
        m.remove("data");
        if let Some(Value::Object(t)) = m.get_mut("train") {
            for k in HASH_EXEMPT_TRAIN_KEYS {
                t.remove(k);
            }
        }
    }
    sha256_hex(canonical_json(&v).as_bytes())
}

/// SHA-256 of bytes as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct Toy {
        hidden: usize,
        sigmas: Vec<f64>,
    }

    fn base() -> Value {
        RunConfig {
            model: Toy {
                hidden: 4,
                sigmas: vec![0.1, 0.2],
            },
            train: TrainConfig::default(),
            data: json!({"dataset": "grid"}),
        }
        .to_json("toy")
        .unwrap()
    }

    #[test]
    fn round_trip_and_flat_layout() {
        let v = base();
        assert_eq!(v["model"], "toy");
        assert_eq!(v["hidden"], 4);
        let back = RunConfig::<Toy>::from_json(&v, "toy").unwrap();
        assert_eq!(back.model.sigmas, vec![0.1, 0.2]);
        assert_eq!(back.data, json!({"dataset": "grid"}));
    }

    #[test]
    fn errors_name_the_path() {
        let mut v = base();
        v["hiden"] = json!(3);
        let e = RunConfig::<Toy>::from_json(&v, "toy").unwrap_err();
        assert_eq!(e.path, "hiden");
        assert!(e.message.contains("unknown field `hiden`"), "{e}");
        let mut v = base();
        v["sigmas"][1] = json!("x");
        let e = RunConfig::<Toy>::from_json(&v, "toy").unwrap_err();
        assert_eq!(e.path, "sigmas[1]");
        let mut v = base();
        v["train"]["optimizer"]["lrr"] = json!(1);
        let e = RunConfig::<Toy>::from_json(&v, "toy").unwrap_err();
        assert_eq!(e.path, "train.optimizer.lrr");
        assert_eq!(
            e.to_string().split(':').next().unwrap(),
            "field `train.optimizer.lrr`"
        );
        let mut v = base();
        v["train"]["lr_schedule"] = json!({"kind": "cosine"});
        let e = RunConfig::<Toy>::from_json(&v, "toy").unwrap_err();
        assert_eq!(e.path, "train.lr_schedule.kind");
        let mut v = base();
        v["train"]["batch_size"] = json!(0);
        assert_eq!(
            RunConfig::<Toy>::from_json(&v, "toy").unwrap_err().path,
            "train.batch_size"
        );
        let e = RunConfig::<Toy>::from_json(&base(), "other").unwrap_err();
        assert_eq!(e.path, "model");
    }

    #[test]
    fn merge_and_set() {
        let mut v = base();
        merge_json(
            &mut v,
            json!({"hidden": 8, "train": {"optimizer": {"lr": 0.5}}}),
        );
        assert_eq!(v["hidden"], 8);
        assert_eq!(v["train"]["optimizer"]["lr"], 0.5);
        assert_eq!(v["train"]["optimizer"]["beta1"], 0.9);
        merge_json(
            &mut v,
            json!({"train": {"lr_schedule": {"kind": "exponential", "gamma": 0.9, "every": "step"}}}),
        );
        merge_json(
            &mut v,
            json!({"train": {"lr_schedule": {"kind": "constant"}}}),
        );
        assert_eq!(v["train"]["lr_schedule"], json!({"kind": "constant"}));
        set_json_path(&mut v, "train.batch_size=7").unwrap();
        set_json_path(&mut v, "sigmas.1=0.5").unwrap();
        set_json_path(&mut v, "train.ema.decay=0.99").unwrap();
        set_json_path(&mut v, "train.ema.warmup=false").unwrap();
        set_json_path(&mut v, "data.dataset=ego-small").unwrap();
        let r = RunConfig::<Toy>::from_json(&v, "toy").unwrap();
        assert_eq!(r.train.batch_size, 7);
        assert_eq!(r.model.sigmas, vec![0.1, 0.5]);
        assert_eq!(r.train.ema.unwrap().decay, 0.99);
        assert_eq!(r.data["dataset"], "ego-small");
        assert!(set_json_path(&mut v, "sigmas.5=1").is_err());
        assert!(set_json_path(&mut v, "novalue").is_err());
        assert!(set_json_path(&mut v, "hidden.x=1").is_err());
    }

    #[test]
    fn hash_ignores_length_and_data_only() {
        let v = base();
        let mut longer = v.clone();
        longer["train"]["steps"] = json!(99999);
        longer["data"] = json!("other");
        assert_eq!(config_hash(&v), config_hash(&longer));
        let mut changed = v.clone();
        changed["train"]["optimizer"]["lr"] = json!(0.1);
        assert_ne!(config_hash(&v), config_hash(&changed));
        assert_eq!(
            canonical_json(&json!({"b": 1, "a": [{"d": 2, "c": 3}]})),
            r#"{"a":[{"c":3,"d":2}],"b":1}"#
        );
    }

    /// A float given with more digits than its shortest form (17 significant digits, as
    /// `%.17g` prints) reads back from the written config as the same value with the same
    /// hash (serde_json's `float_roundtrip`; without it this one parsed 1 ulp off, and a run
    /// trained with it could not be loaded).
    #[test]
    fn written_configs_read_back_with_the_same_floats_and_hash() {
        let mut values: Vec<String> = vec!["0.99985022460377704".into(), "2.5e-5".into()];
        // more 17-digit forms of floats in (0, 1)
        let mut x = 0.123_456_789_f64;
        for _ in 0..2000 {
            x = (x * 997.0 + 0.314_159).fract();
            values.push(format!("{x:.16e}"));
        }
        for text in values {
            let mut v = base();
            set_json_path(&mut v, &format!("train.optimizer.lr={text}")).unwrap();
            let want: f64 = text.parse().unwrap(); // Rust's parse is correctly rounded
            assert_eq!(v["train"]["optimizer"]["lr"].as_f64(), Some(want), "{text}");
            let written = serde_json::to_string_pretty(&v).unwrap();
            let back: Value = serde_json::from_str(&written).unwrap();
            assert_eq!(back, v, "{text}");
            assert_eq!(config_hash(&back), config_hash(&v), "{text}");
        }
    }
}
