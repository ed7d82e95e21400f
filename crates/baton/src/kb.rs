//! Knowledge-base loading: `baton kb import DIR --tenant ID` and the demo tenant's articles.

use crate::demo_kb;
use baton_core::conversation::Actor;
use baton_core::{TenantId, Timestamp};
use baton_engine::service;
use baton_kb::ArticleDraft;
use baton_store::{KbArticle, Store};
use std::path::Path;

fn now() -> Timestamp {
    baton_server::now()
}

/// Stored articles of `tenant` from drafts (the slug is the id; an existing article with the
/// same id keeps its creation time).
async fn to_articles(
    store: &dyn Store,
    tenant: &TenantId,
    drafts: Vec<ArticleDraft>,
) -> anyhow::Result<Vec<KbArticle>> {
    let mut articles = Vec::with_capacity(drafts.len());
    for d in drafts {
        let created_at = store
            .kb_article(tenant, &d.slug)
            .await?
            .map(|a| a.created_at)
            .unwrap_or_else(now);
        articles.push(KbArticle {
            id: d.slug,
            tenant: tenant.clone(),
            title: d.title,
            body: d.body,
            tags: d.tags,
            language: d.language,
            created_at,
            updated_at: now(),
        });
    }
    Ok(articles)
}

/// Imports (creates or replaces) every Markdown article of `dir` into `tenant`; returns how many.
pub async fn import_dir(store: &dyn Store, tenant: &TenantId, dir: &Path) -> anyhow::Result<usize> {
    store
        .tenant(tenant)
        .await?
        .ok_or_else(|| anyhow::anyhow!("there is no tenant '{tenant}'"))?;
    let drafts = baton_kb::import_dir(dir)?;
    let articles = to_articles(store, tenant, drafts).await?;
    service::save_kb_articles(store, tenant, &articles, &Actor::System, now()).await?;
    Ok(articles.len())
}

/// Gives the demo tenant the embedded demo knowledge base and makes the built-in KB bot answer
/// its customers.
pub async fn seed_knowledge_and_bot(
    store: &dyn Store,
    tenant: &TenantId,
    admin: &Actor,
) -> anyhow::Result<()> {
    let drafts = demo_kb::ARTICLES
        .iter()
        .map(|(name, content)| baton_kb::parse_markdown_article(Path::new(name), content))
        .collect::<Result<Vec<_>, _>>()?;
    let articles = to_articles(store, tenant, drafts).await?;
    service::save_kb_articles(store, tenant, &articles, admin, now()).await?;
    service::put_settings(
        store,
        tenant,
        &[(
            baton_engine::bots::SETTING,
            serde_json::json!({"type": "kb"}),
        )],
        admin,
        now(),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_file_is_embedded_and_parses() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../demo/kb");
        let on_disk = baton_kb::import_dir(dir).unwrap();
        assert_eq!(
            on_disk.len(),
            demo_kb::ARTICLES.len(),
            "regenerate crates/baton/src/demo_kb.rs"
        );
        for (name, content) in demo_kb::ARTICLES {
            let draft = baton_kb::parse_markdown_article(Path::new(name), content).unwrap();
            assert!(
                on_disk.iter().any(|d| d == &draft),
                "{name} differs from demo/kb"
            );
        }
    }
}
