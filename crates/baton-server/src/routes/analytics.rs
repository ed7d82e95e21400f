//! `/v1/analytics/*`: the handoff figures of a date range, per agent, per day, and the
//! conversations behind each figure, as JSON or CSV. Supervisors and admins only.
//!
//! Every figure is computed by `baton_core::analytics::report` from the per-conversation facts
//! the store folds from the event log; the README lists each definition.

use crate::auth::Principal;
use crate::dto::{parse_time, rfc3339};
use crate::error::{ApiError, ApiResult, Json, Query};
use crate::{AppState, now};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use baton_core::analytics::report::{self, Drill, Filter};
use baton_core::analytics::{AgentFigures, FactsRow, Point, Summary};
use baton_core::hours::Calendar;
use baton_core::{AgentId, QueueId, Role, TenantId, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Longest range one report covers.
const MAX_RANGE_DAYS: i64 = 400;
/// Default range when `from` is absent: the last 30 days.
const DEFAULT_DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;

/// The analytics routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(summary))
        .routes(routes!(agents))
        .routes(routes!(timeseries))
        .routes(routes!(conversations))
}

/// The range and filters every report takes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ReportQuery {
    /// Start (inclusive): RFC 3339 time, or a date `YYYY-MM-DD` (local midnight in the tenant's
    /// business-hours time zone). Default: 30 days before `to`.
    #[param(
        pattern = r"^([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])|[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))$"
    )]
    from: Option<String>,
    /// End (exclusive): RFC 3339 time or date (the day is included). Default: now.
    #[param(
        pattern = r"^([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])|[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))$"
    )]
    to: Option<String>,
    /// Only conversations that waited in this queue.
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    queue: Option<String>,
    /// Only conversations this agent owned at some point.
    agent: Option<String>,
    /// Only conversations on this channel (`web`, `whatsapp`, `api`...).
    channel: Option<String>,
    /// Only conversations whose first handoff had this reason (`sensitive_topic` also matches
    /// `sensitive_topic:refund`).
    reason: Option<String>,
    /// Only customers of this tier.
    tier: Option<String>,
    /// `json` (default) or `csv`.
    #[param(pattern = "^(json|csv)$")]
    format: Option<String>,
    /// Drill-down only: which figure (`handed_off`, `abandoned`, `requested_by:llm`, `rule:ID`...).
    figure: Option<String>,
}

/// A resolved report request.
struct Report {
    from: Timestamp,
    to: Timestamp,
    filter: Filter,
    calendar: Calendar,
    rows: Vec<FactsRow>,
    csv: bool,
}

fn parse_bound(calendar: &Calendar, field: &str, value: &str, end: bool) -> ApiResult<Timestamp> {
    if value.len() == 10 {
        // A date as the end includes that whole day.
        let bound = if end {
            calendar.end_of_day(value)
        } else {
            calendar.start_of_day(value)
        };
        return bound.ok_or_else(|| {
            ApiError::invalid(
                "invalid_time",
                format!("{field} must be a date YYYY-MM-DD or an RFC 3339 time"),
            )
        });
    }
    parse_time(field, value)
}

async fn load(state: &AppState, principal: &Principal, q: &ReportQuery) -> ApiResult<Report> {
    principal.require_role(Role::Supervisor)?;
    let tenant: &TenantId = &principal.tenant;
    let detection = state
        .engine
        .detectors
        .get(state.store().as_ref(), tenant)
        .await?;
    let calendar = detection
        .calendar
        .clone()
        .unwrap_or_else(Calendar::always_open);
    let to = match &q.to {
        Some(v) => parse_bound(&calendar, "to", v, true)?,
        None => now(),
    };
    let from = match &q.from {
        Some(v) => parse_bound(&calendar, "from", v, false)?,
        None => to.plus_millis(-DEFAULT_DAYS * DAY_MS),
    };
    if from >= to {
        return Err(ApiError::invalid("invalid_range", "from must be before to"));
    }
    if to.millis_since(from) > MAX_RANGE_DAYS * DAY_MS {
        return Err(ApiError::invalid(
            "range_too_long",
            format!("a report covers at most {MAX_RANGE_DAYS} days: narrow from and to"),
        ));
    }
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            return Err(ApiError::invalid(
                "invalid_format",
                "format must be json or csv",
            ));
        }
    };
    let filter = Filter {
        queue: q
            .queue
            .as_deref()
            .map(|s| {
                QueueId::parse(s)
                    .map_err(|_| ApiError::invalid("invalid_queue", "queue is not a queue id"))
            })
            .transpose()?,
        agent: q
            .agent
            .as_deref()
            .map(|s| {
                AgentId::parse(s)
                    .map_err(|_| ApiError::invalid("invalid_agent", "agent is not an agent id"))
            })
            .transpose()?,
        channel: q.channel.clone().filter(|c| !c.is_empty()),
        reason: q.reason.clone().filter(|r| !r.is_empty()),
        tier: q.tier.clone().filter(|t| !t.is_empty()),
    };
    let rows = state.store().facts_rows(tenant, from, to).await?;
    Ok(Report {
        from,
        to,
        filter,
        calendar,
        rows,
        csv,
    })
}

/// A CSV being written whose cells cannot be read as formulas: a cell starting with `=`, `+`,
/// `-`, `@`, a tab or a carriage return (a customer's tier, a reason...) gets a leading `'`, the
/// OWASP advice for spreadsheets. Numbers are written unchanged (a negative number stays one).
struct CsvOut(csv::Writer<Vec<u8>>);

impl CsvOut {
    fn write_record<I, T>(&mut self, record: I) -> csv::Result<()>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.0.write_record(
            record
                .into_iter()
                .map(|cell| safe_cell(cell.as_ref()).into_owned()),
        )
    }
}

/// `cell`, defused when a spreadsheet would run it as a formula.
fn safe_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && cell.parse::<f64>().is_err() {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

fn csv_response(
    name: &str,
    write: impl FnOnce(&mut CsvOut) -> csv::Result<()>,
) -> ApiResult<Response> {
    let mut w = CsvOut(csv::Writer::from_writer(Vec::new()));
    write(&mut w).map_err(|e| ApiError::Internal(format!("writing CSV: {e}")))?;
    let body =
        w.0.into_inner()
            .map_err(|e| ApiError::Internal(format!("writing CSV: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"baton-{name}.csv\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// The summary of a range.
#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryView {
    /// Start of the range (inclusive).
    pub from: String,
    /// End of the range (exclusive).
    pub to: String,
    /// The figures: `conversations`, `handoff_rate`, `containment_rate`,
    /// `median_first_response_seconds`, `abandonment_rate`, `csat_after_handoff`, `reasons`...
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub figures: Summary,
}

/// Flattens a JSON document into `(dotted.key, value)` rows for CSV.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                // Shares: `reasons.customer_request` = count.
                match (item.get("key").and_then(Value::as_str), item.get("count")) {
                    (Some(k), Some(c)) => out.push((format!("{prefix}.{k}"), c.to_string())),
                    _ => out.push((prefix.to_string(), item.to_string())),
                }
            }
        }
        Value::Null => out.push((prefix.to_string(), String::new())),
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// Handoff rate, containment, response and wait times, abandonment, resolution, CSAT, deferred
/// follow-up and copilot usage over a range.
#[utoipa::path(get, path = "/v1/analytics/summary", tag = "analytics", params(ReportQuery),
    responses((status = 200, description = "The report; CSV with `format=csv`", content((SummaryView = "application/json"), (String = "text/csv"))), (status = 403, description = "Supervisors and admins only")),
    security(("bearer" = [])))]
async fn summary(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    let r = load(&state, &principal, &q).await?;
    let figures = report::summary(&r.rows, &r.filter, &r.calendar);
    let view = SummaryView {
        from: rfc3339(r.from),
        to: rfc3339(r.to),
        figures,
    };
    if r.csv {
        let mut rows = Vec::new();
        flatten(
            "",
            &serde_json::to_value(&view).unwrap_or(Value::Null),
            &mut rows,
        );
        return csv_response("summary", |w| {
            w.write_record(["figure", "value"])?;
            for (k, v) in rows {
                w.write_record([k, v])?;
            }
            Ok(())
        });
    }
    Ok(Json(view).into_response())
}

/// One agent's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentRow {
    /// The agent's name (absent for a deleted agent).
    pub name: Option<String>,
    /// Conversations handled, handle and first-response times, CSAT, transfers.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub figures: AgentFigures,
}

/// Per-agent figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentsView {
    /// Start of the range.
    pub from: String,
    /// End of the range.
    pub to: String,
    /// One row per agent who owned a conversation of the range.
    pub items: Vec<AgentRow>,
}

/// Conversations handled, handle time, first response time, CSAT and transfers per agent.
#[utoipa::path(get, path = "/v1/analytics/agents", tag = "analytics", params(ReportQuery),
    responses((status = 200, description = "The report; CSV with `format=csv`", content((AgentsView = "application/json"), (String = "text/csv")))), security(("bearer" = [])))]
async fn agents(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    let r = load(&state, &principal, &q).await?;
    let names: std::collections::HashMap<AgentId, String> = state
        .store()
        .agents(&principal.tenant)
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    let items: Vec<AgentRow> = report::agents(&r.rows, &r.filter)
        .into_iter()
        .map(|figures| AgentRow {
            name: names.get(&figures.agent).cloned(),
            figures,
        })
        .collect();
    if r.csv {
        let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        return csv_response("agents", |w| {
            w.write_record([
                "agent",
                "name",
                "conversations",
                "median_handle_seconds",
                "median_first_response_seconds",
                "csat",
                "csat_responses",
                "transfers_out",
                "transfers_in",
                "closed",
            ])?;
            for a in &items {
                let f = &a.figures;
                w.write_record([
                    f.agent.to_string(),
                    a.name.clone().unwrap_or_default(),
                    f.conversations.to_string(),
                    opt(f.handle_time.median_seconds),
                    opt(f.first_response.median_seconds),
                    opt(f.csat),
                    f.csat_responses.to_string(),
                    f.transfers_out.to_string(),
                    f.transfers_in.to_string(),
                    f.closed.to_string(),
                ])?;
            }
            Ok(())
        });
    }
    Ok(Json(AgentsView {
        from: rfc3339(r.from),
        to: rfc3339(r.to),
        items,
    })
    .into_response())
}

/// The daily series.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimeseriesView {
    /// Start of the range.
    pub from: String,
    /// End of the range.
    pub to: String,
    /// The time zone the days are in (the tenant's business hours, else UTC).
    pub tz: String,
    /// One point per local day: conversations, handed_off, handoff_rate, median_wait_seconds.
    #[schema(value_type = Vec<Object>)]
    pub points: Vec<Point>,
}

/// Volume, handoff rate and median queue wait per day.
#[utoipa::path(get, path = "/v1/analytics/timeseries", tag = "analytics", params(ReportQuery),
    responses((status = 200, description = "The report; CSV with `format=csv`", content((TimeseriesView = "application/json"), (String = "text/csv")))), security(("bearer" = [])))]
async fn timeseries(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    let r = load(&state, &principal, &q).await?;
    // The last instant inside the range decides the last day.
    let points = report::timeseries(
        &r.rows,
        &r.filter,
        &r.calendar,
        r.from,
        r.to.plus_millis(-1),
    );
    if r.csv {
        let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        return csv_response("timeseries", |w| {
            w.write_record([
                "day",
                "conversations",
                "handed_off",
                "handoff_rate",
                "median_wait_seconds",
            ])?;
            for p in &points {
                w.write_record([
                    p.day.clone(),
                    p.conversations.to_string(),
                    p.handed_off.to_string(),
                    opt(p.handoff_rate),
                    opt(p.median_wait_seconds),
                ])?;
            }
            Ok(())
        });
    }
    Ok(Json(TimeseriesView {
        from: rfc3339(r.from),
        to: rfc3339(r.to),
        tz: r.calendar.spec().tz.clone(),
        points,
    })
    .into_response())
}

/// One conversation behind a figure.
#[derive(Debug, Serialize, ToSchema)]
pub struct DrillRow {
    /// The conversation.
    pub id: String,
    /// When it started.
    pub started_at: String,
    /// Its channel.
    pub channel: String,
    /// Its first handoff reason, if it was handed off.
    pub reason: Option<String>,
    /// Its customer's tier.
    pub tier: Option<String>,
}

/// The conversations behind a figure.
#[derive(Debug, Serialize, ToSchema)]
pub struct DrillView {
    /// The figure.
    pub figure: String,
    /// How many conversations are behind it.
    pub total: usize,
    /// The first 1,000 of them, oldest first.
    pub items: Vec<DrillRow>,
}

/// The conversations behind a figure of the summary (drill-down), with the same filters.
#[utoipa::path(get, path = "/v1/analytics/conversations", tag = "analytics", params(ReportQuery),
    responses((status = 200, description = "The report; CSV with `format=csv`", content((DrillView = "application/json"), (String = "text/csv")))), security(("bearer" = [])))]
async fn conversations(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    let r = load(&state, &principal, &q).await?;
    let figure = q.figure.clone().unwrap_or_else(|| "conversations".into());
    let drill = Drill::parse(&figure).map_err(|e| ApiError::invalid("invalid_figure", e))?;
    let rows: Vec<&FactsRow> = r
        .rows
        .iter()
        .filter(|row| r.filter.matches(row) && drill.matches(&row.facts))
        .collect();
    let total = rows.len();
    let items: Vec<DrillRow> = rows
        .into_iter()
        .take(1000)
        .map(|row| DrillRow {
            id: row.conversation.to_string(),
            started_at: rfc3339(row.facts.started_at),
            channel: row.facts.channel.clone(),
            reason: row.facts.handoffs.first().map(|h| h.reason.clone()),
            tier: row.tier.clone(),
        })
        .collect();
    if r.csv {
        return csv_response("conversations", |w| {
            w.write_record(["id", "started_at", "channel", "reason", "tier"])?;
            for d in &items {
                w.write_record([
                    d.id.as_str(),
                    d.started_at.as_str(),
                    d.channel.as_str(),
                    d.reason.as_deref().unwrap_or(""),
                    d.tier.as_deref().unwrap_or(""),
                ])?;
            }
            Ok(())
        });
    }
    Ok(Json(DrillView {
        figure,
        total,
        items,
    })
    .into_response())
}
