//! The in-memory tantivy index shared by every tenant.

use crate::language::{Lang, primary_subtag};
use crate::markdown::markdown_to_text;
use crate::snippet::snippet;
use crate::{Article, Hit, KbError, SearchOptions};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, DisjunctionMaxQuery, Occur, Query, TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TantivyDocument, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::tokenizer::{PreTokenizedString, TextAnalyzer, Token, TokenStream};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, Term};

/// Weight of a query term found in the title, relative to the body.
const TITLE_BOOST: f32 = 3.0;
/// Weight of a query term found in the tags, relative to the body.
const TAGS_BOOST: f32 = 1.5;
/// Share of a query term's score taken from the fields other than its best one.
const TIE_BREAKER: f32 = 0.3;
/// Only this much of a query is analysed; free text longer than this is noise for ranking.
const MAX_QUERY_CHARS: usize = 2_000;
/// Distinct analysed terms per language kept from a query, so a pasted essay stays cheap.
const MAX_QUERY_TERMS: usize = 32;
/// Snippet length target, in characters.
const SNIPPET_CHARS: usize = 200;
/// Indexing memory budget; well above tantivy's minimum (15 MB), small for a server.
const WRITER_MEMORY_BYTES: usize = 50_000_000;
/// Separator inside the per-article key (`tenant` ␟ `id`): a control character no id contains.
const KEY_SEPARATOR: char = '\u{1f}';

#[derive(Debug, Clone, Copy)]
struct Fields {
    /// `tenant` ␟ `id`, unique: what upsert and remove delete by.
    key: Field,
    tenant: Field,
    id: Field,
    /// Primary language subtag, lower-cased, for the language filter.
    lang: Field,
    /// Language code as given, returned in hits.
    language: Field,
    /// Lower-cased tags, one value each, for the tag filter and for hits.
    tag: Field,
    /// The title as given, returned in hits.
    title: Field,
    /// The body as plain text, for snippets.
    text: Field,
    /// Searchable title, tags and body: pre-tokenized by the article's language analyzer, each
    /// term prefixed with the language (`en:refund`, `es:reembols`). One set of fields for all
    /// languages keeps BM25's average field length meaningful (tantivy averages over every
    /// document, so a field only Spanish articles fill would look near-empty and over-penalize
    /// their length), and the prefix keeps one language's stems from matching another's.
    title_terms: Field,
    tags_terms: Field,
    body_terms: Field,
}

fn build_schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let key = builder.add_text_field("key", STRING);
    let tenant = builder.add_text_field("tenant", STRING);
    let id = builder.add_text_field("id", STORED);
    let lang = builder.add_text_field("lang", STRING);
    let language = builder.add_text_field("language", STORED);
    let tag = builder.add_text_field("tag", STRING | STORED);
    let title = builder.add_text_field("title", STORED);
    let text = builder.add_text_field("text", STORED);
    // Term frequencies and field norms for BM25; no positions (no phrase queries), which keeps
    // the index small. The values are pre-tokenized, so the tokenizer named here is never run.
    let terms = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let title_terms = builder.add_text_field("title_terms", terms.clone());
    let tags_terms = builder.add_text_field("tags_terms", terms.clone());
    let body_terms = builder.add_text_field("body_terms", terms);
    let fields = Fields {
        key,
        tenant,
        id,
        lang,
        language,
        tag,
        title,
        text,
        title_terms,
        tags_terms,
        body_terms,
    };
    (builder.build(), fields)
}

/// An analysed term as indexed: prefixed with its tenant and language (`acme␟en:refund`).
fn lang_term(tenant: &str, lang: Lang, term: &str) -> String {
    format!("{tenant}{KEY_SEPARATOR}{}:{term}", lang.suffix())
}

fn article_key(tenant: &str, id: &str) -> String {
    format!("{tenant}{KEY_SEPARATOR}{id}")
}

fn normalize_tag(tag: &str) -> String {
    tag.trim().to_lowercase()
}

/// A searchable, per-tenant knowledge base held in memory.
///
/// Cheap to clone (an `Arc` inside) and safe to share between threads: searches run
/// concurrently; writes are serialized and each one is visible to every search that starts
/// after it returns. Tenants are isolated by construction: every indexed term carries its
/// tenant, so a search can only ever match the tenant's own articles.
///
/// All calls are synchronous. A search takes about a millisecond on 10,000 articles (see
/// `benches/search.rs`) and is fine to call from async code; a write commits the index (a few
/// milliseconds, seconds for a 10,000-article `replace_tenant`), so async callers should run
/// writes with `spawn_blocking`.
#[derive(Clone)]
pub struct KnowledgeBase {
    inner: Arc<Inner>,
}

struct Inner {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    /// One analyzer per [`Lang`], cloned per search (the analyzers need `&mut`).
    analyzers: [TextAnalyzer; Lang::ALL.len()],
    /// Bit per [`Lang`] that has ever been indexed, so a search skips empty languages.
    languages: AtomicU8,
}

impl fmt::Debug for KnowledgeBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KnowledgeBase")
            .field("articles", &self.inner.reader.searcher().num_docs())
            .finish_non_exhaustive()
    }
}

impl Default for KnowledgeBase {
    fn default() -> Self {
        Self::new()
    }
}

impl KnowledgeBase {
    /// An empty knowledge base.
    pub fn new() -> Self {
        let (schema, fields) = build_schema();
        let index = Index::create_in_ram(schema);
        // An in-memory index with a fixed schema: these only fail on invalid settings.
        let writer = index
            .writer_with_num_threads(1, WRITER_MEMORY_BYTES)
            .expect("valid in-memory index writer settings");
        // Manual: every write reloads the reader itself before returning, so a search that
        // follows a write always sees it (no background polling, no sleeps in tests).
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .expect("in-memory index reader");
        KnowledgeBase {
            inner: Arc::new(Inner {
                reader,
                writer: Mutex::new(writer),
                fields,
                analyzers: Lang::ALL.map(Lang::analyzer),
                languages: AtomicU8::new(0),
            }),
        }
    }

    /// Adds the article, or replaces the tenant's article with the same id.
    pub fn upsert(&self, article: Article) -> Result<(), KbError> {
        self.upsert_many([article])
    }

    /// Adds or replaces many articles (of any tenants) in one commit.
    pub fn upsert_many(&self, articles: impl IntoIterator<Item = Article>) -> Result<(), KbError> {
        let docs = articles
            .into_iter()
            .map(|a| self.document(&a))
            .collect::<Result<Vec<_>, _>>()?;
        self.write(|writer, fields| {
            for (key, doc) in docs {
                writer.delete_term(Term::from_field_text(fields.key, &key));
                writer.add_document(doc)?;
            }
            Ok(())
        })
    }

    /// Removes the tenant's article `id`; removing an unknown article is not an error.
    pub fn remove(&self, tenant: &str, id: &str) -> Result<(), KbError> {
        let key = article_key(tenant, id);
        self.write(|writer, fields| {
            writer.delete_term(Term::from_field_text(fields.key, &key));
            Ok(())
        })
    }

    /// Replaces all of a tenant's articles at once (startup rebuild, bulk import). Searches
    /// see either the old set or the new one, never a mix. Articles must belong to `tenant`.
    pub fn replace_tenant(
        &self,
        tenant: &str,
        articles: impl IntoIterator<Item = Article>,
    ) -> Result<(), KbError> {
        let docs = articles
            .into_iter()
            .map(|a| {
                if a.tenant != tenant {
                    return Err(KbError::InvalidArticle(format!(
                        "article {:?} belongs to tenant {:?}, not {tenant:?}",
                        a.id, a.tenant
                    )));
                }
                self.document(&a)
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.write(|writer, fields| {
            writer.delete_term(Term::from_field_text(fields.tenant, tenant));
            for (key, doc) in docs {
                // Duplicate ids in the input: the last one wins, as with upserts.
                writer.delete_term(Term::from_field_text(fields.key, &key));
                writer.add_document(doc)?;
            }
            Ok(())
        })
    }

    /// Number of articles the tenant has in the index.
    pub fn article_count(&self, tenant: &str) -> Result<usize, KbError> {
        let searcher = self.inner.reader.searcher();
        let query = TermQuery::new(
            Term::from_field_text(self.inner.fields.tenant, tenant),
            IndexRecordOption::Basic,
        );
        Ok(query.count(&searcher)?)
    }

    /// Searches the tenant's articles for free text, best first.
    ///
    /// The query has no syntax: quotes, colons, parentheses and operators are ordinary
    /// characters, so no input is an error. Only the first 2,000 characters and 32 distinct
    /// terms count. A query with no searchable word (empty, only stop words, punctuation or
    /// emoji) returns no hits. Without a language filter the query is analysed in every
    /// language the index holds, so "refunds" finds English articles and "reembolsos"
    /// Spanish ones.
    pub fn search(
        &self,
        tenant: &str,
        query: &str,
        opts: &SearchOptions,
    ) -> Result<Vec<Hit>, KbError> {
        let limit = opts.limit.min(SearchOptions::MAX_LIMIT);
        if limit == 0 || tenant.is_empty() {
            return Ok(Vec::new());
        }
        let inner = &*self.inner;
        let fields = &inner.fields;
        let query = truncate_chars(query, MAX_QUERY_CHARS);

        let languages: Vec<Lang> = match &opts.language {
            Some(code) => vec![Lang::from_code(code)],
            None => {
                let present = inner.languages.load(Ordering::Acquire);
                Lang::ALL
                    .into_iter()
                    .filter(|l| present & (1 << l.index()) != 0)
                    .collect()
            }
        };

        let mut text_clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        // Analysed query terms per language, for the snippets.
        let mut terms_by_lang: Vec<(Lang, Vec<String>)> = Vec::with_capacity(languages.len());
        for lang in languages {
            let terms = analyze(&inner.analyzers[lang.index()], query);
            for term in &terms {
                let term = lang_term(tenant, lang, term);
                let per_field = [
                    (fields.title_terms, TITLE_BOOST),
                    (fields.tags_terms, TAGS_BOOST),
                    (fields.body_terms, 1.0),
                ]
                .map(|(field, boost)| {
                    let q = TermQuery::new(
                        Term::from_field_text(field, &term),
                        IndexRecordOption::WithFreqs,
                    );
                    Box::new(BoostQuery::new(Box::new(q), boost)) as Box<dyn Query>
                });
                // Per term, the best field counts fully and the others a little (dis-max), so
                // an article matching two query words beats one matching a single word in
                // both its title and its body.
                text_clauses.push((
                    Occur::Should,
                    Box::new(DisjunctionMaxQuery::with_tie_breaker(
                        per_field.into(),
                        TIE_BREAKER,
                    )),
                ));
            }
            terms_by_lang.push((lang, terms));
        }
        if text_clauses.is_empty() {
            return Ok(Vec::new());
        }

        // Filters score zero so that scores (and `confidence`) depend on the text match only.
        let filter = |field: Field, value: &str| -> (Occur, Box<dyn Query>) {
            let q = TermQuery::new(
                Term::from_field_text(field, value),
                IndexRecordOption::Basic,
            );
            (
                Occur::Must,
                Box::new(ConstScoreQuery::new(Box::new(q), 0.0)),
            )
        };
        // Tenant isolation needs no filter: every indexed term carries its tenant. Neither does
        // a language with its own analysis: its terms carry the language. Without filters the
        // query is a plain union of term queries, which tantivy prunes with block-max WAND.
        let mut filters: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if let Some(code) = &opts.language
            && Lang::from_code(code) == Lang::Other
        {
            filters.push(filter(fields.lang, &primary_subtag(code)));
        }
        for tag in &opts.tags {
            filters.push(filter(fields.tag, &normalize_tag(tag)));
        }
        let text_query = BooleanQuery::new(text_clauses);
        let query_obj: Box<dyn Query> = if filters.is_empty() {
            Box::new(text_query)
        } else {
            filters.push((Occur::Must, Box::new(text_query)));
            Box::new(BooleanQuery::new(filters))
        };

        let searcher = inner.reader.searcher();
        let top = searcher.search(
            query_obj.as_ref(),
            &TopDocs::with_limit(limit).order_by_score(),
        )?;

        // Snippet term weights per language, computed on first use.
        let mut weights: Vec<Option<HashMap<String, f32>>> =
            (0..Lang::ALL.len()).map(|_| None).collect();
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let text_of = |field: Field| {
                doc.get_first(field)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            let language = text_of(fields.language);
            let lang = Lang::from_code(&language);
            let weights = weights[lang.index()].get_or_insert_with(|| {
                let terms = terms_by_lang
                    .iter()
                    .find(|(l, _)| *l == lang)
                    .map(|(_, t)| t.as_slice())
                    .unwrap_or_default();
                term_weights(&searcher, fields.body_terms, tenant, lang, terms)
            });
            let body = text_of(fields.text);
            hits.push(Hit {
                id: text_of(fields.id),
                title: text_of(fields.title),
                score,
                snippet: snippet(
                    &inner.analyzers[lang.index()],
                    weights,
                    &body,
                    SNIPPET_CHARS,
                ),
                tags: doc
                    .get_all(fields.tag)
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                language,
            });
        }
        Ok(hits)
    }

    /// The index document for an article, with its key.
    fn document(&self, article: &Article) -> Result<(String, TantivyDocument), KbError> {
        if article.id.trim().is_empty() {
            return Err(KbError::InvalidArticle("empty id".into()));
        }
        if article.tenant.trim().is_empty() {
            return Err(KbError::InvalidArticle(format!(
                "article {:?} has an empty tenant",
                article.id
            )));
        }
        if article.id.contains(KEY_SEPARATOR) || article.tenant.contains(KEY_SEPARATOR) {
            return Err(KbError::InvalidArticle(format!(
                "article {:?} of tenant {:?}: ids can't contain U+001F",
                article.id, article.tenant
            )));
        }
        let fields = &self.inner.fields;
        let lang = Lang::from_code(&article.language);
        let analyzer = &self.inner.analyzers[lang.index()];
        self.inner
            .languages
            .fetch_or(1 << lang.index(), Ordering::AcqRel);
        let key = article_key(&article.tenant, &article.id);
        let text = markdown_to_text(&article.body);

        let mut doc = TantivyDocument::default();
        doc.add_text(fields.key, &key);
        doc.add_text(fields.tenant, &article.tenant);
        doc.add_text(fields.id, &article.id);
        doc.add_text(fields.lang, primary_subtag(&article.language));
        doc.add_text(fields.language, article.language.trim());
        doc.add_text(fields.title, &article.title);
        doc.add_pre_tokenized_text(
            fields.title_terms,
            pre_tokenize(analyzer, &article.tenant, lang, &article.title),
        );
        let mut tags: Vec<String> = article.tags.iter().map(|t| normalize_tag(t)).collect();
        tags.retain(|t| !t.is_empty());
        tags.dedup();
        for tag in &tags {
            doc.add_text(fields.tag, tag);
        }
        // Tags such as "double-charge" are searchable words too.
        doc.add_pre_tokenized_text(
            fields.tags_terms,
            pre_tokenize(analyzer, &article.tenant, lang, &tags.join(", ")),
        );
        doc.add_pre_tokenized_text(
            fields.body_terms,
            pre_tokenize(analyzer, &article.tenant, lang, &text),
        );
        doc.add_text(fields.text, &text);
        Ok((key, doc))
    }

    /// Runs `ops` on the writer, commits, and reloads the reader, all under the writer lock so
    /// that the write is visible to every search that starts after this returns.
    fn write(
        &self,
        ops: impl FnOnce(&mut IndexWriter, &Fields) -> tantivy::Result<()>,
    ) -> Result<(), KbError> {
        let inner = &*self.inner;
        // A panic in another writer can't leave the index half-written in a way a later commit
        // would expose wrongly: uncommitted operations are rolled back below on error.
        let mut writer = inner.writer.lock().unwrap_or_else(|p| p.into_inner());
        let result = ops(&mut writer, &inner.fields).and_then(|()| writer.commit().map(drop));
        if let Err(e) = result {
            // Drop the failed batch so the next commit doesn't publish half of it.
            let _ = writer.rollback();
            return Err(e.into());
        }
        inner.reader.reload()?;
        Ok(())
    }
}

/// Distinct analysed terms of `text`, in order, at most [`MAX_QUERY_TERMS`].
fn analyze(analyzer: &TextAnalyzer, text: &str) -> Vec<String> {
    let mut analyzer = analyzer.clone();
    let mut stream = analyzer.token_stream(text);
    let mut terms: Vec<String> = Vec::new();
    while terms.len() < MAX_QUERY_TERMS && stream.advance() {
        let t = &stream.token().text;
        if !t.is_empty() && !terms.iter().any(|x| x == t) {
            terms.push(t.clone());
        }
    }
    terms
}

/// `text` analysed in `lang`, terms prefixed with the language.
fn pre_tokenize(
    analyzer: &TextAnalyzer,
    tenant: &str,
    lang: Lang,
    text: &str,
) -> PreTokenizedString {
    let mut analyzer = analyzer.clone();
    let mut stream = analyzer.token_stream(text);
    let mut tokens: Vec<Token> = Vec::new();
    while stream.advance() {
        let mut token = stream.token().clone();
        token.text = lang_term(tenant, lang, &token.text);
        tokens.push(token);
    }
    PreTokenizedString {
        // Not stored: the text itself is never read back from these fields.
        text: String::new(),
        tokens,
    }
}

/// How much finding each query term in a passage is worth: its inverse document frequency.
fn term_weights(
    searcher: &Searcher,
    body: Field,
    tenant: &str,
    lang: Lang,
    terms: &[String],
) -> HashMap<String, f32> {
    let n = searcher.num_docs() as f32;
    terms
        .iter()
        .map(|t| {
            let df = searcher
                .doc_freq(&Term::from_field_text(body, &lang_term(tenant, lang, t)))
                .unwrap_or(0) as f32;
            (t.clone(), (1.0 + n / (1.0 + df)).ln())
        })
        .collect()
}

fn truncate_chars(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_chars("héllo", 2), "hé");
        assert_eq!(truncate_chars("hi", 10), "hi");
    }
}
