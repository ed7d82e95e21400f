//! The knowledge-base index of this instance: a tenant is loaded from the store on first use and
//! dropped whenever its articles change (here or on another instance, through the event
//! stream), so the next search reloads it. Edits are rare next to searches.

use baton_core::TenantId;
use baton_kb::{Article, Hit, KnowledgeBase, SearchOptions};
use baton_store::{KbArticle, Store, StoreError, StoreResult};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// The index plus which tenants are loaded.
#[derive(Debug, Clone, Default)]
pub struct Knowledge {
    index: KnowledgeBase,
    loaded: Arc<Mutex<HashSet<TenantId>>>,
}

/// The index's view of a stored article.
pub fn to_index(a: &KbArticle) -> Article {
    Article {
        id: a.id.clone(),
        tenant: a.tenant.to_string(),
        title: a.title.clone(),
        body: a.body.clone(),
        tags: a.tags.clone(),
        language: a.language.clone(),
        updated_at_ms: a.updated_at.millis(),
    }
}

/// A store error for an index failure.
pub fn kb_error(e: baton_kb::KbError) -> StoreError {
    StoreError::InvalidInput(e.to_string())
}

impl Knowledge {
    async fn ensure(&self, store: &dyn Store, tenant: &TenantId) -> StoreResult<()> {
        if self.loaded.lock().expect("lock").contains(tenant) {
            return Ok(());
        }
        let articles = store.kb_articles(tenant).await?;
        self.index
            .replace_tenant(tenant.as_str(), articles.iter().map(to_index))
            .map_err(kb_error)?;
        self.loaded.lock().expect("lock").insert(tenant.clone());
        Ok(())
    }

    /// Searches a tenant's articles.
    pub async fn search(
        &self,
        store: &dyn Store,
        tenant: &TenantId,
        query: &str,
        opts: &SearchOptions,
    ) -> StoreResult<Vec<Hit>> {
        self.ensure(store, tenant).await?;
        self.index
            .search(tenant.as_str(), query, opts)
            .map_err(kb_error)
    }

    /// Drops every tenant (after missed change events).
    pub fn forget_all(&self) {
        self.loaded.lock().expect("lock").clear();
    }

    /// Drops a tenant so the next search reloads it from the store.
    pub fn forget(&self, tenant: &TenantId) {
        self.loaded.lock().expect("lock").remove(tenant);
    }
}
