//! Reading vector files: JSON to typed cases, each error naming the file,
//! the case, the step and the field.

use super::*;

impl Suite {
    /// Loads every `*.json` file of `dir` (sorted by name) and validates it.
    pub fn load_dir(dir: &Path) -> Result<Suite, Vec<VectorError>> {
        let mut errors = Vec::new();
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect(),
            Err(e) => {
                return Err(vec![VectorError {
                    file: dir.display().to_string(),
                    place: "directory".into(),
                    message: e.to_string(),
                }])
            }
        };
        files.sort();
        let mut suite = Suite::default();
        for f in files {
            match load_file(&f) {
                Ok((fam, desc, cases)) => {
                    suite.families.push((fam, desc));
                    suite.cases.extend(cases);
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
        let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
        for c in &suite.cases {
            if let Some(prev) = seen.insert(&c.id, &c.file) {
                errors.push(VectorError {
                    file: c.file.display().to_string(),
                    place: format!("case {}", c.id),
                    message: format!("id: duplicate id (also in {})", prev.display()),
                });
            }
        }
        if errors.is_empty() {
            Ok(suite)
        } else {
            Err(errors)
        }
    }

    /// The case with this id.
    pub fn get(&self, id: &str) -> Option<&Case> {
        self.cases.iter().find(|c| c.id == id)
    }
}

/// Loads and validates one file.
pub fn load_file(path: &Path) -> Result<(String, String, Vec<Case>), Vec<VectorError>> {
    let fname = path.display().to_string();
    let err = |place: String, message: String| VectorError {
        file: fname.clone(),
        place,
        message,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| vec![err("file".into(), e.to_string())])?;
    load_str(path, &text)
}

/// Parses and validates the text of a vector file; `path` names it in
/// errors and in the cases, and its stem must equal the family.
pub fn load_str(path: &Path, text: &str) -> Result<(String, String, Vec<Case>), Vec<VectorError>> {
    let fname = path.display().to_string();
    let err = |place: String, message: String| VectorError {
        file: fname.clone(),
        place,
        message,
    };
    let file: VectorFile =
        serde_json::from_str(text).map_err(|e| vec![err("file".into(), e.to_string())])?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let mut errors = Vec::new();
    if file.family != stem {
        errors.push(err(
            "file".into(),
            format!(
                "family: {:?} must equal the file name {:?}",
                file.family, stem
            ),
        ));
    }
    let mut cases = Vec::new();
    for (i, raw) in file.cases.iter().enumerate() {
        let label = raw
            .get("id")
            .and_then(Value::as_str)
            .map(|s| format!("case {s}"))
            .unwrap_or_else(|| format!("case #{}", i + 1));
        match parse_case(raw) {
            Ok(mut case) => {
                case.file = path.to_path_buf();
                case.family = file.family.clone();
                for (place, message) in validate_case(&case) {
                    errors.push(err(format!("{label}{place}"), message));
                }
                cases.push(case);
            }
            Err((place, message)) => errors.push(err(format!("{label}{place}"), message)),
        }
    }
    let mut seen = BTreeSet::new();
    for c in &cases {
        if !seen.insert(c.id.as_str()) {
            errors.push(err(
                format!("case {}", c.id),
                "id: duplicate id in this file".into(),
            ));
        }
    }
    if errors.is_empty() {
        Ok((file.family, file.description, cases))
    } else {
        Err(errors)
    }
}

const STEP_COMMON: &[&str] = &["level", "note", "rule", "within_ms"];

/// Parses a case with step-precise errors: (place suffix, message).
pub(super) fn parse_case(raw: &Value) -> Result<Case, (String, String)> {
    let Value::Object(map) = raw else {
        return Err((String::new(), "a case must be a JSON object".into()));
    };
    let mut top = map.clone();
    let steps_raw = top.remove("steps").unwrap_or(Value::Null);
    top.insert("steps".into(), Value::Array(Vec::new()));
    let mut case: Case = from_value_at(Value::Object(top)).map_err(|e| (String::new(), e))?;
    let Value::Array(steps) = steps_raw else {
        return Err((String::new(), "steps: missing or not a list".into()));
    };
    for (i, s) in steps.iter().enumerate() {
        let place = format!(", step {}", i + 1);
        let Value::Object(m) = s else {
            return Err((place, "a step must be a JSON object".into()));
        };
        let mut common = serde_json::Map::new();
        let mut kind = serde_json::Map::new();
        for (k, v) in m {
            if STEP_COMMON.contains(&k.as_str()) {
                common.insert(k.clone(), v.clone());
            } else {
                kind.insert(k.clone(), v.clone());
            }
        }
        if kind.len() != 1 {
            let keys: Vec<&String> = kind.keys().collect();
            return Err((
                place,
                format!(
                    "a step needs exactly one action key (send, expect, act, ...), found {keys:?}"
                ),
            ));
        }
        let kind_name = kind.keys().next().cloned().unwrap_or_default();
        let kind: StepKind = from_step_at(Value::Object(kind), &kind_name)
            .map_err(|e| (format!("{place} ({kind_name})"), e))?;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Common {
            level: Option<Level>,
            note: Option<String>,
            rule: Option<Rule>,
            within_ms: Option<u64>,
        }
        let c: Common = from_value_at(Value::Object(common))
            .map_err(|e| (format!("{place} ({kind_name})"), e))?;
        case.steps.push(Step {
            kind,
            level: c.level,
            note: c.note,
            rule: c.rule,
            within_ms: c.within_ms,
        });
    }
    Ok(case)
}

/// Deserializes the action of a step (`{"send": {...}}`); the error names
/// the field within the action (`flags: ...`, `frame.type: ...`), the
/// action itself being named by the place (`step 2 (send)`).
fn from_step_at(v: Value, kind: &str) -> Result<StepKind, String> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner().to_string();
        match path.strip_prefix(kind).and_then(|p| p.strip_prefix('.')) {
            // An unknown field is named by the message already.
            Some(p) if !inner.starts_with("unknown field") || p.contains('.') => {
                format!("{p}: {inner}")
            }
            _ => inner,
        }
    })
}

/// Deserializes `v`; the error names the field it is in (`spec[1]: ...`).
fn from_value_at<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })
}
