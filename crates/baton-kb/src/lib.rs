//! Baton's knowledge base search engine.
//!
//! Articles (title, Markdown body, tags, language) belong to a tenant. The store persists them;
//! this crate keeps an in-memory [tantivy](https://docs.rs/tantivy) index over all tenants that
//! the server rebuilds at start ([`KnowledgeBase::replace_tenant`] per tenant) and updates on each
//! change ([`KnowledgeBase::upsert`], [`KnowledgeBase::remove`]). Agents and bots search it with
//! free text ([`KnowledgeBase::search`]); the built-in KB bot turns the hits into a confidence with
//! [`confidence`]. [`import_dir`] reads a folder of Markdown files (the demo tenant's `demo/kb/`).
//!
//! Ranking is BM25 with the title weighted over tags and body, and per-language analysis
//! (stop words, Snowball stemming, accent folding) for English, Spanish, German, French,
//! Portuguese and Italian; other languages are lower-cased and accent-folded only.
//!
//! ```
//! use baton_kb::{Article, KnowledgeBase, SearchOptions, confidence};
//!
//! let kb = KnowledgeBase::new();
//! kb.upsert(Article {
//!     id: "refunds".into(),
//!     tenant: "acme".into(),
//!     title: "Refund policy".into(),
//!     body: "We refund **every** order within 30 days.".into(),
//!     tags: vec!["billing".into()],
//!     language: "en".into(),
//!     updated_at_ms: 0,
//! })?;
//! let hits = kb.search("acme", "when do I get refunded?", &SearchOptions::default())?;
//! assert_eq!(hits[0].id, "refunds");
//! assert!(confidence(&hits) > 0.0);
//! // Other tenants never see it.
//! assert!(kb.search("globex", "refund", &SearchOptions::default())?.is_empty());
//! # Ok::<(), baton_kb::KbError>(())
//! ```

#![forbid(unsafe_code)]

mod confidence;
mod import;
mod index;
mod language;
mod markdown;
mod snippet;

pub use confidence::confidence;
pub use import::{import_dir, parse_markdown_article, slugify};
pub use index::KnowledgeBase;
pub use markdown::markdown_to_text;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A knowledge base article as the store persists it and the index searches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    /// Identifier, unique within the tenant (for imported articles, the file's slug).
    pub id: String,
    /// The tenant the article belongs to; searches never cross tenants.
    pub tenant: String,
    /// Title, weighted above the body when ranking.
    pub title: String,
    /// Body in Markdown; indexed and snippeted as plain text.
    pub body: String,
    /// Free-form tags; searchable, and usable as filters ([`SearchOptions::tags`]).
    pub tags: Vec<String>,
    /// Language code (`en`, `es`, `de`, `fr`, `pt`, `it`, or any other BCP 47 tag such as
    /// `pt-BR`); its primary subtag picks the stemmer.
    pub language: String,
    /// Last change, milliseconds since the Unix epoch (kept for the store; not used in ranking).
    pub updated_at_ms: i64,
}

/// An article read from a Markdown file by [`import_dir`], before it has a tenant and a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleDraft {
    /// Slug derived from the file name (or the front matter's `id:`); the natural article id.
    pub slug: String,
    /// Title from the front matter, else the first `# ` heading, else the file name.
    pub title: String,
    /// Markdown body without the front matter (and without the leading `# title` heading).
    pub body: String,
    /// Tags from the front matter.
    pub tags: Vec<String>,
    /// Language from the front matter, `en` when absent.
    pub language: String,
}

impl ArticleDraft {
    /// Turns the draft into an article of `tenant`, using the slug as its id.
    pub fn into_article(self, tenant: impl Into<String>, updated_at_ms: i64) -> Article {
        Article {
            id: self.slug,
            tenant: tenant.into(),
            title: self.title,
            body: self.body,
            tags: self.tags,
            language: self.language,
            updated_at_ms,
        }
    }
}

/// How to search: how many hits, and optional filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchOptions {
    /// Maximum number of hits (capped at [`SearchOptions::MAX_LIMIT`]; 0 returns nothing).
    pub limit: usize,
    /// Only articles in this language (primary subtag: `es` also matches `es-MX`), and the
    /// query is analysed in this language only. `None` searches every language.
    pub language: Option<String>,
    /// Only articles carrying every one of these tags (case-insensitive).
    pub tags: Vec<String>,
}

impl SearchOptions {
    /// The most hits one search returns.
    pub const MAX_LIMIT: usize = 100;
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            limit: 10,
            language: None,
            tags: Vec::new(),
        }
    }
}

/// One search result, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The article's id.
    pub id: String,
    /// The article's title.
    pub title: String,
    /// BM25 relevance (higher is better; comparable within one search, see [`confidence`]).
    pub score: f32,
    /// Plain-text passage of about 200 characters that best matches the query (the start of the
    /// body when only the title matched).
    pub snippet: String,
    /// The article's tags.
    pub tags: Vec<String>,
    /// The article's language code as given.
    pub language: String,
}

/// Errors of the knowledge base.
#[derive(Debug, thiserror::Error)]
pub enum KbError {
    /// The article can't be indexed (empty id or tenant).
    #[error("invalid article: {0}")]
    InvalidArticle(String),
    /// A Markdown file's front matter is malformed.
    #[error("{}:{line}: {message}", path.display())]
    FrontMatter {
        /// The file.
        path: PathBuf,
        /// 1-based line number in the file.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A file or folder could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The search engine failed (not expected with an in-memory index).
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
}
