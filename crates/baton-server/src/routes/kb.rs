//! `/v1/kb`: knowledge-base articles and search.

use crate::auth::{Principal, PrincipalKind};
use crate::dto::{Page, optional_text, required_text, rfc3339, token};
use crate::error::{ApiError, ApiResult, Json, Query};
use crate::{AppState, now};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use baton_core::Role;
use baton_engine::service;
use baton_kb::SearchOptions;
use baton_store::KbArticle;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The knowledge-base routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, replace, delete))
        .routes(routes!(search))
}

/// An article.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArticleView {
    /// Id (slug).
    pub id: String,
    /// Title.
    pub title: String,
    /// Body in Markdown.
    pub body: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Language.
    pub language: String,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

impl From<KbArticle> for ArticleView {
    fn from(a: KbArticle) -> Self {
        ArticleView {
            id: a.id,
            title: a.title,
            body: a.body,
            tags: a.tags,
            language: a.language,
            created_at: rfc3339(a.created_at),
            updated_at: rfc3339(a.updated_at),
        }
    }
}

/// `POST /v1/kb/articles` and `PUT /v1/kb/articles/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleBody {
    /// Id (POST only; default: a slug of the title).
    #[schema(pattern = "^[a-z0-9_:.-]{1,100}$")]
    pub id: Option<String>,
    /// Title.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub title: String,
    /// Body in Markdown.
    #[schema(min_length = 1, max_length = 100000, pattern = "\\S")]
    pub body: String,
    /// Tags.
    #[serde(default)]
    #[schema(schema_with = tag_list)]
    pub tags: Vec<String>,
    /// Language; default `en`.
    #[schema(pattern = "^[A-Za-z0-9_:.-]{1,16}$")]
    pub language: Option<String>,
}

/// Tags as `build` accepts them (trimmed and lowercased there).
fn tag_list() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"^\s*[A-Za-z0-9_:.-]{1,40}\s*$")),
        )
        .description(Some(
            "Tags of a-z, 0-9, `_`, `-`, `:` or `.` (at most 40 characters)",
        ))
        .build()
}

/// Maximum article body, in characters.
const MAX_BODY: usize = 100_000;

fn build(
    principal: &Principal,
    id: String,
    body: ArticleBody,
    created_at: baton_core::Timestamp,
) -> ApiResult<KbArticle> {
    let language = token(
        "language",
        &body
            .language
            .unwrap_or_else(|| "en".into())
            .to_ascii_lowercase(),
        16,
    )?;
    let tags = body
        .tags
        .iter()
        .map(|t| token("tags", &t.trim().to_ascii_lowercase(), 40))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(KbArticle {
        id,
        tenant: principal.tenant.clone(),
        title: required_text("title", body.title, 200)?,
        body: required_text("body", body.body, MAX_BODY)?,
        tags,
        language,
        created_at,
        updated_at: now(),
    })
}

fn article_id(raw: &str) -> ApiResult<String> {
    token("id", raw, 100)
}

/// All articles.
#[utoipa::path(get, path = "/v1/kb/articles", tag = "knowledge",
    responses((status = 200, body = Page<ArticleView>)), security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Page<ArticleView>>> {
    principal.require_role(Role::Agent)?;
    let items = state.store().kb_articles(&principal.tenant).await?;
    Ok(Json(Page {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor: None,
    }))
}

/// Create an article.
#[utoipa::path(post, path = "/v1/kb/articles", tag = "knowledge", request_body = ArticleBody,
    responses((status = 201, body = ArticleView), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Json(mut body): Json<ArticleBody>,
) -> ApiResult<(StatusCode, Json<ArticleView>)> {
    principal.require_role(Role::Admin)?;
    body.title = required_text("title", body.title, 200)?;
    let id = match body.id.take() {
        Some(id) => article_id(&id)?,
        None => baton_kb::slugify(&body.title),
    };
    if id.is_empty() {
        return Err(ApiError::invalid(
            "invalid_field",
            "title must contain letters or digits, or give an id",
        ));
    }
    let article = build(&principal, id, body, now())?;
    service::create_kb_article(state.store().as_ref(), &article, &principal.actor(), now()).await?;
    state.engine.knowledge.forget(&principal.tenant);
    Ok((StatusCode::CREATED, Json(article.into())))
}

/// One article.
#[utoipa::path(get, path = "/v1/kb/articles/{id}", tag = "knowledge",
    params(("id" = String, Path, description = "Article id")),
    responses((status = 200, body = ArticleView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ArticleView>> {
    let article = state
        .store()
        .kb_article(&principal.tenant, &id)
        .await?
        .ok_or(ApiError::NotFound("article"))?;
    Ok(Json(article.into()))
}

/// Replace an article.
#[utoipa::path(put, path = "/v1/kb/articles/{id}", tag = "knowledge",
    params(("id" = String, Path, description = "Article id")), request_body = ArticleBody,
    responses((status = 200, body = ArticleView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn replace(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<ArticleBody>,
) -> ApiResult<Json<ArticleView>> {
    principal.require_role(Role::Admin)?;
    if body.id.as_deref().is_some_and(|b| b != id) {
        return Err(ApiError::invalid(
            "id_mismatch",
            "the body's id differs from the path; article ids cannot change",
        ));
    }
    let existing = state
        .store()
        .kb_article(&principal.tenant, &id)
        .await?
        .ok_or(ApiError::NotFound("article"))?;
    let article = build(&principal, existing.id, body, existing.created_at)?;
    service::save_kb_articles(
        state.store().as_ref(),
        &principal.tenant,
        std::slice::from_ref(&article),
        &principal.actor(),
        now(),
    )
    .await?;
    state.engine.knowledge.forget(&principal.tenant);
    Ok(Json(article.into()))
}

/// Delete an article.
#[utoipa::path(delete, path = "/v1/kb/articles/{id}", tag = "knowledge",
    params(("id" = String, Path, description = "Article id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require_role(Role::Admin)?;
    service::delete_kb_article(
        state.store().as_ref(),
        &principal.tenant,
        &id,
        &principal.actor(),
        now(),
    )
    .await?;
    state.engine.knowledge.forget(&principal.tenant);
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/kb/search` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct SearchQuery {
    /// Free text, at most 2000 characters.
    #[param(max_length = 2000)]
    q: String,
    /// 1-50, default 5.
    #[param(minimum = 1, maximum = 50)]
    limit: Option<usize>,
    /// Only this language.
    language: Option<String>,
}

/// A search result.
#[derive(Debug, Serialize, ToSchema)]
pub struct HitView {
    /// Article id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Relevance (BM25).
    pub score: f32,
    /// Best-matching passage.
    pub snippet: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Language.
    pub language: String,
}

/// Search results and how confident the best one is.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    /// Hits, best first.
    pub items: Vec<HitView>,
    /// Calibrated confidence in [0, 1] that the top hit answers the query.
    pub confidence: f64,
}

/// Search the knowledge base (agents, and bots with an API key).
#[utoipa::path(get, path = "/v1/kb/search", tag = "knowledge", params(SearchQuery),
    responses((status = 200, body = SearchResponse)), security(("bearer" = [])))]
async fn search(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json<SearchResponse>> {
    if let PrincipalKind::Person { .. } = principal.kind {
        principal.require_role(Role::Agent)?;
    }
    let limit = q.limit.unwrap_or(5);
    if !(1..=50).contains(&limit) {
        return Err(ApiError::invalid(
            "invalid_limit",
            "limit must be between 1 and 50",
        ));
    }
    let query = optional_text("q", Some(q.q), 2000)?.unwrap_or_default();
    let opts = SearchOptions {
        limit,
        language: q.language,
        tags: vec![],
    };
    let hits = state
        .engine
        .knowledge
        .search(state.store().as_ref(), &principal.tenant, &query, &opts)
        .await?;
    let confidence = baton_kb::confidence(&hits);
    let items = hits
        .into_iter()
        .map(|h| HitView {
            id: h.id,
            title: h.title,
            score: h.score,
            snippet: h.snippet,
            tags: h.tags,
            language: h.language,
        })
        .collect();
    Ok(Json(SearchResponse { items, confidence }))
}
