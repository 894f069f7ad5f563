//! The HTTP/JSON API: routes, and a handler per route reading the shared [`Service`].
//!
//! Times are strings, as in the change log (`1700000000` or `1700000000.000042`): a
//! JSON number would round the ticks. Every answer that reads memberships names the
//! time it read (`as_of`): every change at or before it counted, none after it. Bad
//! requests get a 4xx with a JSON `error` saying what to change (see
//! [`ApiError`]); unknown query parameters are refused rather than ignored, so a typo
//! does not silently read something else.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::rejection::{PathRejection, QueryRejection, StringRejection};
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rustc_hash::FxHashMap;
use serde_json::{json, Value as Json_};

use crate::catalog::{check_edited, CatalogError};
use crate::dataflow::UserKey;
use crate::value::Value as Cell;

use crate::live::frontier::{format_tick, parse_tick, TICKS_PER_SECOND};

use super::auth::{require_token, Access};
use crate::engine::tail::{Ask, Edited};
use crate::live::definitions::{Edit, EditError};

use super::error::ApiError;
use super::explain::{unkept, UserValues};
use super::metrics::Exposition;
use super::service::{Service, Values, View};

/// Members per page when `limit` is not given.
const DEFAULT_LIMIT: usize = 1000;
/// The largest page.
const MAX_LIMIT: usize = 100_000;
/// The most segments one overlap request may compare.
const MAX_OVERLAP: usize = 32;
/// How long an explanation or a preview may wait for the live run.
const EXPLAIN_PATIENCE: Duration = Duration::from_secs(60);
/// Members shown of each previewed segment.
const PREVIEW_SAMPLE: usize = 20;
/// How a previewed body is named in diagnostics.
const PREVIEW_FILE: &str = "preview";
/// How long a definition change may wait to take effect (building its dataflow and
/// computing its members from the kept inputs).
const EDIT_PATIENCE: Duration = Duration::from_secs(600);

type Reply = Result<Json<Json_>, ApiError>;

/// The API's routes over `service`, guarded by `access`, with request bodies up to
/// `max_body` bytes.
pub fn router(service: Arc<Service>, access: Access, max_body: usize) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/segments", get(list_segments))
        .route(
            "/v1/segments/{name}",
            get(segment).put(put_segment).delete(delete_segment),
        )
        .route("/v1/segments/{name}/members", get(members))
        .route("/v1/segments/{name}/members/{user_id}", get(member))
        .route("/v1/users/{user_id}/segments", get(user_segments))
        .route("/v1/users/{user_id}/explain", get(explain))
        .route("/v1/overlap", get(overlap))
        .route("/v1/records", post(records))
        .route("/v1/preview", post(preview))
        .route("/metrics", get(metrics))
        .route_layer(from_fn_with_state(service.clone(), observe))
        .fallback(unknown_path)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(from_fn_with_state(max_body, refuse_declared_excess))
        .layer(from_fn_with_state(access, require_token))
        .with_state(service)
}

/// Times every routed request, by route pattern and status.
async fn observe(State(service): State<Arc<Service>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    service
        .requests
        .observe(&route, response.status().as_u16(), started.elapsed());
    response
}

/// Turns away a body whose declared length is over `max_body` before reading any of it.
/// (A body without a declared length, or longer than declared, is cut off by
/// [`DefaultBodyLimit`] as it is read.) Answering before the client has sent its body
/// lets the client read the answer instead of finding the connection reset under it.
async fn refuse_declared_excess(
    State(max_body): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    match declared {
        Some(length) if length > max_body as u64 => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is {length} bytes; this service takes at most {max_body} \
                 (--max-body-mib)"
            ),
        )
        .into_response(),
        _ => next.run(request).await,
    }
}

async fn unknown_path(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "no such endpoint: {} {} (see the README's API table)",
        request.method(),
        request.uri().path()
    ))
}

/// The path's parameters, or a 400 saying what is wrong with them.
fn path<T>(extracted: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    extracted
        .map(|Path(value)| value)
        .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
}

/// The query's parameters, refusing any not in `allowed`.
fn query(
    extracted: Result<Query<HashMap<String, String>>, QueryRejection>,
    allowed: &[&str],
) -> Result<HashMap<String, String>, ApiError> {
    let Query(params) =
        extracted.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    if let Some(unknown) = params.keys().find(|key| !allowed.contains(&key.as_str())) {
        return Err(ApiError::bad_request(format!(
            "unknown query parameter `{unknown}` (this endpoint takes: {})",
            if allowed.is_empty() {
                "none".to_owned()
            } else {
                allowed.join(", ")
            }
        )));
    }
    Ok(params)
}

/// The `as_of` parameter as a tick.
fn as_of(params: &HashMap<String, String>) -> Result<Option<u64>, ApiError> {
    params
        .get("as_of")
        .map(|text| {
            parse_tick(text).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "as_of `{text}` is not a time: expected seconds such as 1700000000, or \
                     seconds and six digits of ticks such as 1700000000.000042"
                ))
            })
        })
        .transpose()
}

/// The segment named `name` (its index in the catalog in effect), or a 404 naming the
/// segments there are.
fn segment_named(view: &View, name: &str) -> Result<usize, ApiError> {
    view.segment(name).ok_or_else(|| {
        let names: Vec<&str> = view.segments.iter().map(|s| s.name.as_str()).collect();
        ApiError::not_found(format!(
            "no segment named `{name}` (the catalog has: {})",
            names.join(", ")
        ))
    })
}

async fn health(State(service): State<Arc<Service>>) -> Json<Json_> {
    let status = service.run_status();
    let latest = service.read().latest().ok();
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (threads, processes) = service.workers;
    let mut body = json!({
        "status": if latest.is_some() { "ready" } else { "starting" },
        "as_of": latest.map(format_tick),
        "frontier": latest.map(|_| format_tick(status.summary.frontier)),
        "lag_seconds": latest.map(|_| wall as i64 - (status.summary.frontier / TICKS_PER_SECOND) as i64),
        "workers": threads * processes,
        "processes": processes,
        "uptime_seconds": service.started.elapsed().as_secs(),
        "records": status.summary.records,
        "late": status.summary.late,
        "duplicates": status.summary.duplicates,
        "rejected": status.summary.rejected,
        "changes": status.summary.changes_written,
    });
    if latest.is_none() {
        body["backfill"] = backfill_progress(&service);
    }
    Json(body)
}

/// How far the backfill has loaded.
fn backfill_progress(service: &Service) -> Json_ {
    let loaded = service
        .progress
        .as_ref()
        .map_or(0, |p| p.rows.load(std::sync::atomic::Ordering::Relaxed));
    json!({ "rows_loaded": loaded, "rows_estimate": service.backfill_estimate })
}

async fn list_segments(
    State(service): State<Arc<Service>>,
    params: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Reply {
    query(params, &[])?;
    let index = service.read();
    let view = service.view();
    let at = index.resolve(None)?;
    let mut infos: Vec<_> = view.segments.iter().collect();
    // Outputs are numbered in order of first definition: a replaced segment keeps its
    // place.
    infos.sort_by_key(|info| info.output);
    let segments: Vec<Json_> = (infos.into_iter())
        .map(|info| {
            let size = index.size(info.output as usize);
            json!({"name": info.name, "kind": info.kind, "hash": info.hash, "size": size})
        })
        .collect();
    Ok(Json(
        json!({"as_of": format_tick(at), "segments": segments}),
    ))
}

async fn segment(
    State(service): State<Arc<Service>>,
    name: Result<Path<String>, PathRejection>,
) -> Reply {
    let name = path(name)?;
    let index = service.read();
    let view = service.view();
    let info = &view.segments[segment_named(&view, &name)?];
    let mut body = json!({
        "name": info.name,
        "kind": info.kind,
        "hash": info.hash,
        "definition": info.definition,
        "depends_on": info.depends_on,
        "used_by": info.used_by,
        "features": info.features,
        "inputs": info.inputs,
    });
    match index.resolve(None) {
        Ok(at) => {
            body["status"] = json!("ready");
            body["as_of"] = json!(format_tick(at));
            body["size"] = json!(index.size(info.output as usize));
        }
        Err(_) => {
            body["status"] = json!("hydrating");
            body["progress"] = backfill_progress(&service);
        }
    }
    Ok(Json(body))
}

async fn members(
    State(service): State<Arc<Service>>,
    name: Result<Path<String>, PathRejection>,
    params: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Reply {
    let name = path(name)?;
    let params = query(params, &["limit", "after", "as_of"])?;
    let index = service.read();
    let view = service.view();
    let segment = view.segments[segment_named(&view, &name)?].output as usize;
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<usize>() {
            Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => limit,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "limit `{text}` must be a whole number from 1 to {MAX_LIMIT}"
                )))
            }
        },
    };
    let at = index.resolve(as_of(&params)?)?;
    let page = index.members(segment, params.get("after").map(String::as_str), limit, at);
    Ok(Json(json!({
        "as_of": format_tick(at),
        "segment": name,
        "members": page.members,
        "next": page.next,
    })))
}

async fn member(
    State(service): State<Arc<Service>>,
    names: Result<Path<(String, String)>, PathRejection>,
    params: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Reply {
    let (name, user) = path(names)?;
    let params = query(params, &["as_of"])?;
    let index = service.read();
    let view = service.view();
    let segment = view.segments[segment_named(&view, &name)?].output as usize;
    let at = index.resolve(as_of(&params)?)?;
    Ok(Json(json!({
        "as_of": format_tick(at),
        "segment": name,
        "user_id": user,
        "member": index.is_member(segment, &user, at),
    })))
}

async fn user_segments(
    State(service): State<Arc<Service>>,
    user: Result<Path<String>, PathRejection>,
    params: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Reply {
    let user = path(user)?;
    query(params, &[])?;
    let index = service.read();
    let view = service.view();
    let at = index.resolve(None)?;
    let Some(segments) = index.segments_of(&user) else {
        return Err(ApiError::not_found(format!(
            "no user `{}` is known (as of {})",
            shorten(&user),
            format_tick(at)
        )));
    };
    let names: Vec<&str> = segments
        .iter()
        .map(|&s| view.outputs[s as usize].as_str())
        .collect();
    Ok(Json(
        json!({"as_of": format_tick(at), "user_id": user, "segments": names}),
    ))
}

async fn explain(
    State(service): State<Arc<Service>>,
    user: Result<Path<String>, PathRejection>,
    params: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Reply {
    let user = path(user)?;
    let params = query(params, &["segment"])?;
    let view = service.view();
    let segments: Vec<usize> = match params.get("segment") {
        Some(name) => vec![segment_named(&view, name)?],
        None => (0..view.segments.len()).collect(),
    };
    {
        let index = service.read();
        let at = index.resolve(None)?;
        if index.segments_of(&user).is_none() {
            return Err(ApiError::not_found(format!(
                "no user `{}` is known (as of {})",
                shorten(&user),
                format_tick(at)
            )));
        }
    }
    let (before, answered) = ask(&service, Ask::User(user.clone())).await?;
    let as_of = before.saturating_sub(1);
    let values = UserValues::new(
        &view.catalog,
        &service.plan,
        answered.iter().map(|(_, operand, value)| (*operand, value)),
        as_of / TICKS_PER_SECOND,
    );
    let index = service.read();
    let explained: Vec<Json_> = segments
        .into_iter()
        .map(|segment| {
            let info = &view.segments[segment];
            let member = index
                .resolve(Some(as_of))
                .map(|at| index.is_member(info.output as usize, &user, at));
            let pred = &view.catalog.segments[segment].pred;
            // A segment defined at runtime may read values the run does not keep.
            if let Some(expr) = unkept(&view.catalog, &service.plan, pred) {
                return json!({
                    "segment": info.name,
                    "member": member.ok(),
                    "tree": null,
                    "unexplained": format!(
                        "the definition reads `{expr}`, which the service does not keep by \
                         user (it was defined at runtime; a restart keeps it)"
                    ),
                });
            }
            let tree = values.segment(segment);
            let member = member.map_or_else(|_| tree["value"].clone(), |m| json!(m));
            json!({"segment": info.name, "member": member, "tree": tree})
        })
        .collect();
    Ok(Json(json!({
        "as_of": format_tick(as_of),
        "user_id": user,
        "segments": explained,
    })))
}

/// Asks the live run for values and waits for the answer.
async fn ask(service: &Service, question: Ask) -> Result<Values, ApiError> {
    let unavailable = |message: &str| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message);
    tokio::time::timeout(EXPLAIN_PATIENCE, service.ask(question))
        .await
        .map_err(|_| unavailable("the live run did not answer in time; try again"))?
        .map_err(|_| unavailable("the live run stopped"))
}

async fn preview(
    State(service): State<Arc<Service>>,
    body: Result<String, StringRejection>,
) -> Reply {
    let body =
        body.map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
    service.read().resolve(None)?;
    // The definitions are checked with the catalog's files, as one more file.
    let view = service.view();
    let mut sources = view.sources.clone();
    sources.push((PREVIEW_FILE.to_owned(), body.into_bytes()));
    let combined = check_edited(sources, &view.dropped).map_err(|error| match error {
        CatalogError::Invalid(diagnostics) => ApiError::diagnostics(&diagnostics),
        other => ApiError::bad_request(other.to_string()),
    })?;
    // The preview's file is the last one: its segments come last.
    let served = view.catalog.segments.len();
    let new = served..combined.segments.len();
    if new.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the body defines no new segment (`segment NAME = ...`)",
        ));
    }
    for segment in &combined.segments[new.clone()] {
        if let Some(expr) = unkept(&combined, &service.plan, &segment.pred) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "segment `{}` reads `{expr}`, which no served segment reads: a preview \
                     evaluates the values the service keeps, and this one would have to be \
                     computed from the inputs",
                    segment.name
                ),
            ));
        }
    }
    let (before, answered) = ask(&service, Ask::Everyone).await?;
    let as_of = before.saturating_sub(1);
    let mut by_user: FxHashMap<UserKey, Vec<(u32, &Cell)>> = FxHashMap::default();
    for (user, operand, value) in &answered {
        by_user.entry(*user).or_default().push((*operand, value));
    }
    let mut sizes = vec![0usize; new.len()];
    let mut samples: Vec<BTreeSet<Arc<str>>> = vec![BTreeSet::new(); new.len()];
    let index = service.read();
    for (id, key) in index.users() {
        let values = by_user.get(&key).map(Vec::as_slice).unwrap_or_default();
        let values = UserValues::new(
            &combined,
            &service.plan,
            values.iter().map(|(operand, value)| (*operand, *value)),
            as_of / TICKS_PER_SECOND,
        );
        for (i, segment) in combined.segments[new.clone()].iter().enumerate() {
            if values.holds(&segment.pred) {
                sizes[i] += 1;
                samples[i].insert(id.clone());
                if samples[i].len() > PREVIEW_SAMPLE {
                    samples[i].pop_last();
                }
            }
        }
    }
    let previewed: Vec<Json_> = combined.segments[new]
        .iter()
        .zip(sizes.iter().zip(&samples))
        .map(|(segment, (size, sample))| {
            json!({
                "name": segment.name,
                "definition": segment.text,
                "size": size,
                "sample": sample.iter().collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(
        json!({"as_of": format_tick(as_of), "segments": previewed}),
    ))
}

/// `PUT /v1/segments/{name}`: adds or replaces a definition, in effect once the answer
/// comes (the log holds it and the members are computed).
async fn put_segment(
    State(service): State<Arc<Service>>,
    name: Result<Path<String>, PathRejection>,
    body: Result<String, StringRejection>,
) -> Result<(StatusCode, Json<Json_>), ApiError> {
    let name = path(name)?;
    let body =
        body.map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
    service.read().resolve(None)?;
    let existed = service.view().segment(&name).is_some();
    let edited = edit(
        &service,
        Edit::Put {
            name: name.clone(),
            body,
        },
    )
    .await?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(edited_body(&service, &name, &edited))))
}

/// `DELETE /v1/segments/{name}`: removes a definition nothing else uses.
async fn delete_segment(
    State(service): State<Arc<Service>>,
    name: Result<Path<String>, PathRejection>,
) -> Reply {
    let name = path(name)?;
    service.read().resolve(None)?;
    let edited = edit(&service, Edit::Delete { name: name.clone() }).await?;
    Ok(Json(json!({
        "name": name,
        "deleted": true,
        "effective": format_tick(edited.at),
    })))
}

/// What a definition change did, as the API says it.
fn edited_body(service: &Service, name: &str, edited: &Edited) -> Json_ {
    let view = service.view();
    let hash = view.segment(name).map(|i| view.segments[i].hash.clone());
    let started: Vec<Json_> = (edited.started.iter())
        .map(|(name, hash)| json!({"name": name, "hash": hash}))
        .collect();
    json!({
        "name": name,
        "hash": hash,
        "effective": format_tick(edited.at),
        "unchanged": edited.started.is_empty(),
        "versions": started,
        "status": "ready",
    })
}

/// Hands a definition change to the live run and waits until it is in effect.
async fn edit(service: &Service, edit: Edit) -> Result<Edited, ApiError> {
    let unavailable = |message: &str| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message);
    let outcome = tokio::time::timeout(EDIT_PATIENCE, service.submit(edit))
        .await
        .map_err(|_| {
            unavailable(
                "the change has not taken effect yet; it may still: see GET /v1/segments/{name}",
            )
        })?
        .map_err(|_| unavailable("the live run stopped"))?;
    outcome.map_err(|error| match error {
        EditError::Invalid(diagnostics) => ApiError::diagnostics(&diagnostics),
        EditError::Schema => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, error.to_string()),
        EditError::NotTheNamedSegment { .. } => ApiError::bad_request(error.to_string()),
        EditError::Unknown(_) => ApiError::not_found(error.to_string()),
        EditError::InUse { .. } => ApiError::new(StatusCode::CONFLICT, error.to_string()),
    })
}

async fn overlap(
    State(service): State<Arc<Service>>,
    params: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Reply {
    let params = query(params, &["segments"])?;
    let Some(list) = params.get("segments") else {
        return Err(ApiError::bad_request(
            "give the segments to compare: ?segments=a,b[,c...]",
        ));
    };
    let names: Vec<&str> = list.split(',').map(str::trim).collect();
    if names.len() < 2 || names.len() > MAX_OVERLAP {
        return Err(ApiError::bad_request(format!(
            "segments: compare from 2 to {MAX_OVERLAP} segments, separated by commas"
        )));
    }
    let index = service.read();
    let view = service.view();
    let indices = names
        .iter()
        .map(|name| Ok(view.segments[segment_named(&view, name)?].output as usize))
        .collect::<Result<Vec<_>, ApiError>>()?;
    let at = index.resolve(None)?;
    let sizes: serde_json::Map<String, Json_> = names
        .iter()
        .zip(&indices)
        .map(|(name, &i)| ((*name).to_owned(), json!(index.size(i))))
        .collect();
    let mut pairs = Vec::new();
    for (x, (&a_name, &a)) in names.iter().zip(&indices).enumerate() {
        for (&b_name, &b) in names.iter().zip(&indices).skip(x + 1) {
            let both = index.intersection(a, b);
            let either = index.size(a) + index.size(b) - both;
            pairs.push(json!({
                "a": a_name,
                "b": b_name,
                "intersection": both,
                "union": either,
                // Undefined for two empty segments.
                "jaccard": (either > 0).then(|| both as f64 / either as f64),
            }));
        }
    }
    Ok(Json(
        json!({"as_of": format_tick(at), "sizes": sizes, "pairs": pairs}),
    ))
}

async fn records(
    State(service): State<Arc<Service>>,
    body: Result<String, StringRejection>,
) -> Reply {
    let body =
        body.map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
    let records = service.clone();
    let view = service.view();
    let accepted =
        tokio::task::spawn_blocking(move || records.records.append(&view.catalog, &body))
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(Json(
        json!({"accepted": accepted, "file": super::records::FILE_NAME}),
    ))
}

async fn metrics(State(service): State<Arc<Service>>) -> impl IntoResponse {
    let status = service.run_status();
    let mut page = Exposition::default();
    let summary = &status.summary;
    page.single(
        "segflow_records_total",
        "counter",
        "Live records applied.",
        summary.records,
    );
    page.single(
        "segflow_events_total",
        "counter",
        "Live events applied.",
        summary.events,
    );
    page.single(
        "segflow_late_records_total",
        "counter",
        "Live records whose second had closed when they arrived.",
        summary.late,
    );
    page.single(
        "segflow_duplicate_events",
        "gauge",
        "Events set aside as copies of another event of the same user with the same event_id.",
        summary.duplicates,
    );
    page.single(
        "segflow_rejected_total",
        "counter",
        "Lines set aside as bad.",
        summary.rejected,
    );
    page.single(
        "segflow_changes_total",
        "counter",
        "Membership changes written to the change log by this run.",
        summary.changes_written,
    );
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    page.single(
        "segflow_frontier_lag_seconds",
        "gauge",
        "Wall clock less the frontier (negative when event time runs ahead).",
        wall as i64 - (summary.frontier / TICKS_PER_SECOND) as i64,
    );
    {
        let index = service.read();
        page.single(
            "segflow_known_users",
            "gauge",
            "User ids known now.",
            index.known(),
        );
        page.header(
            "segflow_segment_size",
            "gauge",
            "Members of each segment now.",
        );
        for info in &service.view().segments {
            let size = index.size(info.output as usize);
            page.sample("segflow_segment_size", "segment", &info.name, size);
        }
    }
    service.requests.write(&mut page);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        page.text,
    )
}

/// An id cut to a length fit for a message.
fn shorten(id: &str) -> String {
    const MAX: usize = 200;
    match id.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}… ({} bytes)", &id[..at], id.len()),
        None => id.to_owned(),
    }
}
