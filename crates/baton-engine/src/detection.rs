//! Per-tenant escalation settings, compiled once and cached: the detector (rules + config) and
//! the business-hours calendar. Changing them through the API invalidates the cache here at
//! once and, through the live event stream, on every other instance.

use baton_core::TenantId;
use baton_core::brief::Extractors;
use baton_core::escalation::{Detector, DetectorConfig, RuleError, RuleSet};
use baton_core::hours::{Calendar, CalendarError};
use baton_store::{Store, StoreResult};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Setting key of the rule set.
pub const RULES: &str = "rules";
/// Setting key of the detector configuration (thresholds, topics).
pub const DETECTOR_CONFIG: &str = "detector_config";
/// Setting key of the tenant's business-hours calendar.
pub const BUSINESS_HOURS: &str = "business_hours";
/// Setting key of the tenant's own field extractors (named regexes) for the brief.
pub const EXTRACTORS: &str = "extractors";
/// Setting key of review mode: `{"enabled": true, "threshold": 0.5}`.
pub const REVIEW: &str = "review";

/// What a tenant's messages are evaluated with.
#[derive(Debug)]
pub struct TenantDetection {
    /// The compiled detector.
    pub detector: Detector,
    /// The business-hours calendar, if the tenant set one.
    pub calendar: Option<Calendar>,
    /// Field extractors for the brief (built-in plus the tenant's own).
    pub extractors: Extractors,
    /// Review mode: bot replies below this confidence wait for an agent.
    pub review_below: Option<f64>,
}

/// The cache of compiled per-tenant settings.
#[derive(Debug, Default)]
pub struct Detectors {
    cache: RwLock<HashMap<TenantId, Arc<TenantDetection>>>,
}

impl Detectors {
    /// The tenant's compiled settings, loading and compiling them on first use.
    pub async fn get(
        &self,
        store: &dyn Store,
        tenant: &TenantId,
    ) -> StoreResult<Arc<TenantDetection>> {
        if let Some(hit) = self.cache.read().expect("lock").get(tenant) {
            return Ok(hit.clone());
        }
        let rules = store.setting(tenant, RULES).await?;
        let config = store.setting(tenant, DETECTOR_CONFIG).await?;
        let hours = store.setting(tenant, BUSINESS_HOURS).await?;
        let extractors = store.setting(tenant, EXTRACTORS).await?;
        let review = store.setting(tenant, REVIEW).await?;
        let mut compiled = compile(rules.as_ref(), config.as_ref(), hours.as_ref(), extractors.as_ref()).unwrap_or_else(|e| {
            // Stored settings were validated on the way in; this only happens after a
            // hand-edited database or an incompatible upgrade. Keep escalating with defaults.
            tracing::error!(%tenant, error = %e, "stored escalation settings do not compile; using defaults");
            TenantDetection { detector: Detector::with_defaults(), calendar: None, extractors: Extractors::builtin(), review_below: None }
        });
        compiled.review_below = review.as_ref().and_then(|r| parse_review(r).ok()).flatten();
        let compiled = Arc::new(compiled);
        self.cache
            .write()
            .expect("lock")
            .insert(tenant.clone(), compiled.clone());
        Ok(compiled)
    }

    /// Forgets a tenant's compiled settings (they changed).
    pub fn invalidate(&self, tenant: &TenantId) {
        self.cache.write().expect("lock").remove(tenant);
    }
}

/// Why settings do not compile, with where.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A rule problem at a JSON pointer.
    #[error("{}: {}", .0.path, .0.message)]
    Rules(RuleError),
    /// A calendar problem.
    #[error("{}: {}", .0.field, .0.message)]
    Hours(CalendarError),
    /// The detector configuration does not parse.
    #[error("config: {0}")]
    Config(String),
    /// A tenant extractor is invalid.
    #[error("{0}")]
    Extractors(String),
}

/// One tenant extractor as stored: `{"name": "ticket_id", "pattern": "TCK-\\d{6}"}`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtractorSpec {
    /// Field name in the brief: 1-40 of `a-z`, `0-9`, `_`, starting with a letter; unique.
    #[schema(pattern = "^[a-z][a-z0-9_]{0,39}$")]
    pub name: String,
    /// Regular expression (Rust `regex` syntax) that does not match the empty text.
    #[schema(min_length = 1, max_length = 512)]
    pub pattern: String,
}

/// Review mode settings.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewSettings {
    /// Hold low-confidence bot replies for an agent.
    pub enabled: bool,
    /// Replies below this confidence (0-1) are held. Default 0.5.
    #[serde(default = "default_review_threshold")]
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub threshold: f64,
}

fn default_review_threshold() -> f64 {
    0.5
}

/// Parses review settings into the threshold in force (`None`: review off).
pub fn parse_review(value: &serde_json::Value) -> Result<Option<f64>, SettingsError> {
    let r: ReviewSettings =
        serde_json::from_value(value.clone()).map_err(|e| SettingsError::Config(e.to_string()))?;
    if !(0.0..=1.0).contains(&r.threshold) {
        return Err(SettingsError::Config(
            "threshold must be between 0 and 1".into(),
        ));
    }
    Ok(r.enabled.then_some(r.threshold))
}

/// Parses and compiles a tenant's extractor list.
pub fn parse_extractors(value: &serde_json::Value) -> Result<Extractors, SettingsError> {
    let specs: Vec<ExtractorSpec> = serde_json::from_value(value.clone())
        .map_err(|e| SettingsError::Extractors(e.to_string()))?;
    let pairs: Vec<(&str, &str)> = specs
        .iter()
        .map(|s| (s.name.as_str(), s.pattern.as_str()))
        .collect();
    Extractors::with_custom(&pairs).map_err(|e| SettingsError::Extractors(e.to_string()))
}

/// Parses a rule set document (`{"rules": [...]}` or a bare array).
pub fn parse_rules(value: &serde_json::Value) -> Result<RuleSet, SettingsError> {
    RuleSet::from_json(&value.to_string()).map_err(SettingsError::Rules)
}

/// Parses a detector configuration document.
pub fn parse_config(value: &serde_json::Value) -> Result<DetectorConfig, SettingsError> {
    serde_json::from_value(value.clone()).map_err(|e| SettingsError::Config(e.to_string()))
}

/// Parses a calendar document.
pub fn parse_calendar(value: &serde_json::Value) -> Result<Calendar, SettingsError> {
    Calendar::parse(&value.to_string()).map_err(SettingsError::Hours)
}

/// Compiles stored (or candidate) settings; absent ones take the defaults.
pub fn compile(
    rules: Option<&serde_json::Value>,
    config: Option<&serde_json::Value>,
    hours: Option<&serde_json::Value>,
    extractors: Option<&serde_json::Value>,
) -> Result<TenantDetection, SettingsError> {
    let rules = rules
        .map(parse_rules)
        .transpose()?
        .unwrap_or_else(RuleSet::default_rules);
    let config = config.map(parse_config).transpose()?.unwrap_or_default();
    let detector = Detector::new(config, rules).map_err(SettingsError::Rules)?;
    let calendar = hours.map(parse_calendar).transpose()?;
    let extractors = extractors
        .map(parse_extractors)
        .transpose()?
        .unwrap_or_else(Extractors::builtin);
    Ok(TenantDetection {
        detector,
        calendar,
        extractors,
        review_below: None,
    })
}

/// Keeps `detectors` and the knowledge index in step with changes made on any instance.
pub fn spawn_invalidation(
    store: Arc<dyn Store>,
    detectors: Arc<Detectors>,
    knowledge: crate::knowledge::Knowledge,
) {
    let mut events = store.subscribe();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) if event.conversation.is_none() && is_settings_event(event.kind()) => {
                    detectors.invalidate(&event.tenant);
                }
                Ok(event) if event.kind().starts_with("kb_article_") => {
                    knowledge.forget(&event.tenant);
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    // Missed events may have been settings changes: start over.
                    detectors.cache.write().expect("lock").clear();
                    knowledge.forget_all();
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

fn is_settings_event(kind: &str) -> bool {
    [RULES, DETECTOR_CONFIG, BUSINESS_HOURS, EXTRACTORS, REVIEW]
        .iter()
        .any(|k| kind.strip_suffix("_updated") == Some(k))
}
