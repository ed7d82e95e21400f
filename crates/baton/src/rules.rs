//! `baton rules`: check escalation rules from a TOML or JSON file, and seed a tenant with them.

use anyhow::{Context, bail};
use baton_engine::detection::{self, DETECTOR_CONFIG, RULES};
use baton_store::Store;
use std::path::{Path, PathBuf};

/// Subcommands of `baton rules`.
#[derive(Debug, clap::Subcommand)]
pub enum RulesCommand {
    /// Check a rules file (TOML or JSON) and print what would apply, or where it is wrong.
    Check {
        /// The file: `.toml` or `.json`, with a `rules` array and an optional `config` table.
        file: PathBuf,
    },
    /// Replace a tenant's rules (and detector config, if the file has one) with a file's.
    Import {
        /// The file.
        file: PathBuf,
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        config: crate::ConfigArgs,
    },
}

/// A rules document read from a file: the rules and the optional detector configuration.
struct Document {
    rules: serde_json::Value,
    config: Option<serde_json::Value>,
}

fn read(file: &Path) -> anyhow::Result<Document> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut value: serde_json::Value = match file.extension().and_then(|e| e.to_str()) {
        Some("toml") => {
            let table: toml::Table = toml::from_str(&text)
                .with_context(|| format!("{} is not valid TOML", file.display()))?;
            serde_json::to_value(table)?
        }
        Some("json") => serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", file.display()))?,
        _ => bail!("{}: use a .toml or .json file", file.display()),
    };
    let Some(object) = value.as_object_mut() else {
        bail!("{}: expected a table with a `rules` array", file.display())
    };
    let config = object.remove("config");
    let rules =
        serde_json::json!({ "rules": object.remove("rules").unwrap_or(serde_json::json!([])) });
    if let Some(extra) = object.keys().next() {
        bail!(
            "{}: unknown top-level key '{extra}'; expected `rules` and optionally `config`",
            file.display()
        );
    }
    Ok(Document { rules, config })
}

fn check(file: &Path, doc: &Document) -> anyhow::Result<usize> {
    detection::compile(Some(&doc.rules), doc.config.as_ref(), None, None)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    Ok(doc.rules["rules"].as_array().map_or(0, Vec::len))
}

/// Runs `baton rules ...`.
pub async fn run(command: RulesCommand) -> anyhow::Result<()> {
    match command {
        RulesCommand::Check { file } => {
            let doc = read(&file)?;
            let n = check(&file, &doc)?;
            println!("{}: {n} rules, valid", file.display());
            Ok(())
        }
        RulesCommand::Import {
            file,
            tenant,
            config,
        } => {
            let doc = read(&file)?;
            let n = check(&file, &doc)?;
            let config = config.load()?;
            let store = crate::serve::open_store(&config).await?;
            let tenant = baton_core::TenantId::parse(tenant.as_str())
                .context("--tenant is not a tenant id")?;
            if store.tenant(&tenant).await?.is_none() {
                bail!("there is no tenant {tenant} in this database");
            }
            let rules = detection::parse_rules(&doc.rules)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .to_json();
            let mut settings = vec![(RULES, rules)];
            if let Some(c) = doc.config {
                settings.push((DETECTOR_CONFIG, c));
            }
            seed(store.as_ref(), &tenant, &settings).await?;
            println!("imported {n} rules into tenant {tenant}");
            Ok(())
        }
    }
}

async fn seed(
    store: &dyn Store,
    tenant: &baton_core::TenantId,
    settings: &[(&str, serde_json::Value)],
) -> anyhow::Result<()> {
    baton_engine::service::put_settings(
        store,
        tenant,
        settings,
        &baton_core::conversation::Actor::System,
        baton_server::now(),
    )
    .await?;
    Ok(())
}
