//! `segflow serve` end to end: the real binary started on the bundled sample, asked
//! over HTTP by a real client.
//!
//! - paging one segment as of a pinned time while records are posted meanwhile: the
//!   pages concatenated equal `segflow run --as-of` at that time, for every segment;
//! - every endpoint's answer checked against another way of knowing it (pages against
//!   membership checks, users' segments and overlaps against pages, sizes against
//!   pages), and against a restart after `kill -9`;
//! - definitions added, replaced and deleted at runtime: the served members and the
//!   change log integrated to a later time equal `segflow run --as-of` of the edited
//!   catalog, nothing before an edit's time changes, and a restart brings it all back;
//! - the token and loopback rules, the body limit, and every kind of bad request:
//!   a 4xx with a JSON error, never a 500, nothing half-applied.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use segflow::catalog::ir::{Catalog, Pred, ValueExpr};
use segflow::data::EventRow;
use segflow::reference::Snapshot;
use segflow::value::{Text, Value as Cell};
use serde_json::Value;

mod loader;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn catalog() -> PathBuf {
    root().join("dataflows/ecommerce.seg")
}

fn sample() -> PathBuf {
    root().join("datasets/sample")
}

/// A running `segflow serve`, killed when dropped.
struct Server {
    child: Child,
    base: String,
    client: Client,
    token: Option<String>,
}

impl Server {
    /// Starts `segflow serve` on the sample with a free port and `extra` flags, and
    /// waits until it answers.
    fn start(dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_segflow"))
            .arg("serve")
            .args(["--catalog", &catalog().display().to_string()])
            .args(["--backfill", &sample().display().to_string()])
            .args(["--follow", &dir.join("live").display().to_string()])
            .args(["--changes", &dir.join("changes.csv").display().to_string()])
            .args(["--listen", "127.0.0.1:0", "--quiet"])
            .args(extra)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("segflow starts");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let address = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in stderr.lines() {
                let Ok(line) = line else { break };
                eprintln!("serve: {line}");
            }
        });
        let server = Server {
            child,
            base: address,
            client: Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            token: None,
        };
        server.wait_until(|health| health["status"] == "ready");
        server
    }

    fn with_token(mut self, token: &str) -> Server {
        self.token = Some(token.to_owned());
        self
    }

    fn get(&self, path: &str) -> Response {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request.send().unwrap()
    }

    fn post(&self, path: &str, body: impl Into<reqwest::blocking::Body>) -> Response {
        let mut request = self.client.post(format!("{}{path}", self.base)).body(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request.send().unwrap()
    }

    /// GETs `path`, expecting 200 and JSON.
    fn json(&self, path: &str) -> Value {
        let response = self.get(path);
        let status = response.status();
        let text = response.text().unwrap();
        assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// GETs `path`, expecting `status` and a JSON error; returns its message.
    fn refused(&self, path: &str, status: StatusCode) -> String {
        let response = self.get(path);
        assert_eq!(response.status(), status, "GET {path}");
        error_of(response)
    }

    /// Polls the health check until `ready` holds (or fails after a minute).
    fn wait_until(&self, ready: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = self.client.get(format!("{}/v1/health", self.base)).send() {
                let health: Value = response.json().unwrap();
                if ready(&health) {
                    return health;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the server did not get there in time"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every member of `segment` as of `as_of`, read `limit` at a time; `between`
    /// runs between pages.
    fn all_members(
        &self,
        segment: &str,
        as_of: &str,
        limit: usize,
        mut between: impl FnMut(),
    ) -> Vec<String> {
        let mut members = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut path = format!("/v1/segments/{segment}/members?limit={limit}&as_of={as_of}");
            if let Some(after) = &after {
                path.push_str(&format!("&after={after}"));
            }
            let page = self.json(&path);
            assert_eq!(page["as_of"], as_of);
            let ids = page["members"].as_array().unwrap();
            assert!(ids.len() <= limit);
            members.extend(ids.iter().map(|id| id.as_str().unwrap().to_owned()));
            match page["next"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => return members,
            }
            between();
        }
    }

    /// Kills the process at once, as `kill -9` does.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn error_of(response: Response) -> String {
    let text = response.text().unwrap();
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    body["error"].as_str().unwrap().to_owned()
}

/// A scratch directory with an empty followed directory.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("live")).unwrap();
    dir
}

/// The greatest `ts` of the sample's events and scores: the backfill's time.
fn backfill_time() -> u64 {
    let mut max = 0;
    for (file, column) in [("events.csv", 1), ("scores.csv", 3)] {
        let mut reader = csv::Reader::from_path(sample().join(file)).unwrap();
        for record in reader.records() {
            max = max.max(record.unwrap()[column].parse::<u64>().unwrap());
        }
    }
    max
}

/// A live event as `(user, ts, kind, amount, category)`.
type LiveEvent = (String, u64, &'static str, Option<u32>, &'static str);

/// `n` events after `start`, a minute apart, over sample users and a few new ones, so
/// that purchases, windows and categories move memberships.
fn live_events(start: u64, n: usize) -> Vec<LiveEvent> {
    let categories = ["shoes", "home", "beauty", "toys", "books"];
    (0..n)
        .map(|i| {
            let user = if i % 9 == 0 {
                format!("n{:04}", i / 9)
            } else {
                format!("u{:07}", (i * 37) % 1500)
            };
            let kind = if i % 3 == 0 { "view" } else { "purchase" };
            let amount = (kind == "purchase").then_some(40 + (i as u32 * 53) % 900);
            (user, start + 60 * i as u64, kind, amount, categories[i % 5])
        })
        .collect()
}

fn json_line(event: &LiveEvent) -> String {
    let (user, ts, kind, amount, category) = event;
    let amount = amount.map_or("null".to_owned(), |a| a.to_string());
    format!(
        r#"{{"type":"event","user_id":"{user}","ts":{ts},"kind":"{kind}","amount":{amount},"category":"{category}"}}"#
    )
}

fn csv_row(event: &LiveEvent) -> String {
    let (user, ts, kind, amount, category) = event;
    let amount = amount.map_or(String::new(), |a| a.to_string());
    format!("{user},{ts},{kind},{amount},{category}\n")
}

fn post_events(server: &Server, events: &[LiveEvent]) {
    let body: Vec<String> = events.iter().map(json_line).collect();
    let response = server.post("/v1/records", body.join("\n"));
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().unwrap()
    );
}

/// `segflow run --as-of` over the sample plus `events`: each segment's members.
fn run_as_of(dir: &Path, events: &[LiveEvent], as_of: u64) -> BTreeMap<String, Vec<String>> {
    run_catalog_as_of(dir, &catalog(), events, as_of)
}

/// `segflow run --as-of` of `catalog` over the sample plus `events`.
fn run_catalog_as_of(
    dir: &Path,
    catalog: &Path,
    events: &[LiveEvent],
    as_of: u64,
) -> BTreeMap<String, Vec<String>> {
    let data = dir.join("data");
    fs::create_dir_all(&data).unwrap();
    for file in ["users.csv", "events.csv", "scores.csv"] {
        fs::copy(sample().join(file), data.join(file)).unwrap();
    }
    let mut csv = fs::OpenOptions::new()
        .append(true)
        .open(data.join("events.csv"))
        .unwrap();
    for event in events {
        csv.write_all(csv_row(event).as_bytes()).unwrap();
    }
    let out = dir.join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_segflow"))
        .args(["run", "--catalog", &catalog.display().to_string()])
        .args(["--data", &data.display().to_string()])
        .args(["--out", &out.display().to_string()])
        .args(["--as-of", &as_of.to_string()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut members = BTreeMap::new();
    for entry in fs::read_dir(out.join("members")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let mut ids: Vec<String> = fs::read_to_string(&path)
            .unwrap()
            .lines()
            .skip(1)
            .map(str::to_owned)
            .collect();
        ids.sort();
        members.insert(name, ids);
    }
    members
}

fn segment_names(server: &Server) -> Vec<String> {
    let list = server.json("/v1/segments");
    list["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn pages_pinned_to_a_time_equal_a_batch_run_as_of_it_while_records_keep_arriving() {
    let dir = scratch();
    let server = Server::start(dir.path(), &["--history", "30d"]);
    let start = backfill_time() + 1;
    let events = live_events(start, 400);
    let (before, during) = events.split_at(200);
    post_events(&server, before);
    // The last event of `before` is in second `pinned`; the first of `during` closes it.
    let pinned = before.last().unwrap().1;
    let as_of = format!("{pinned}.999999");
    post_events(&server, &during[..1]);
    server.wait_until(|health| health["as_of"].as_str() >= Some(as_of.as_str()));

    let expected = run_as_of(dir.path(), &events, pinned);
    let mut rest = during[1..].chunks(5);
    let mut posted_meanwhile = 0;
    let segments = segment_names(&server);
    assert_eq!(segments.len(), expected.len());
    for segment in &segments {
        let members = server.all_members(segment, &as_of, 7, || {
            if let Some(chunk) = rest.next() {
                post_events(&server, chunk);
                posted_meanwhile += chunk.len();
            }
        });
        assert_eq!(
            &members, &expected[segment],
            "segment {segment} as of {as_of}"
        );
        // One page per request gives the same members.
        let whole = server.all_members(segment, &as_of, 100_000, || {});
        assert_eq!(whole, members);
        // And membership checks agree with the pages.
        for user in [
            "u0000007",
            "u0000037",
            "n0003",
            &members.first().cloned().unwrap_or_default(),
        ] {
            let check = server.json(&format!(
                "/v1/segments/{segment}/members/{user}?as_of={as_of}"
            ));
            assert_eq!(
                check["member"],
                members.contains(&user.to_owned()),
                "{segment} {user}"
            );
        }
    }
    assert!(posted_meanwhile > 100, "records were posted while paging");
    let last = events.last().unwrap().1;
    // Quiet once the last record's second is closed (a clock record closes it).
    let clock = format!(r#"{{"type":"clock","ts":{}}}"#, last + 1);
    assert_eq!(server.post("/v1/records", clock).status(), StatusCode::OK);
    let latest = format!("{last}.999999");
    server.wait_until(|health| health["as_of"].as_str() >= Some(latest.as_str()));
    // The time moved on while paging, and the latest state is another batch run's.
    let now = run_as_of(&dir.path().join("later"), &events, last);
    for segment in &segments {
        let members = server.all_members(segment, &latest, 500, || {});
        assert_eq!(&members, &now[segment], "segment {segment} as of {latest}");
    }
    assert_ne!(expected, now, "the records changed some membership");
}

#[test]
fn every_read_endpoint_agrees_with_the_pages_and_survives_a_kill() {
    let dir = scratch();
    let server = Server::start(dir.path(), &[]);
    let events = live_events(backfill_time() + 1, 120);
    post_events(&server, &events);
    let health = server.wait_until(|h| h["records"] == 120);
    assert_eq!(health["workers"], 1);

    let list = server.json("/v1/segments");
    let as_of = list["as_of"].as_str().unwrap().to_owned();
    let mut pages: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for segment in list["segments"].as_array().unwrap() {
        let name = segment["name"].as_str().unwrap();
        let members: BTreeSet<String> = server
            .all_members(name, &as_of, 1000, || {})
            .into_iter()
            .collect();
        assert_eq!(segment["size"], members.len(), "{name}");
        pages.insert(name.to_owned(), members);
    }

    // Users' segments are the pages turned around.
    let mut users: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (segment, members) in &pages {
        for user in members {
            users.entry(user).or_default().insert(segment);
        }
    }
    let order: Vec<&str> = list["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    let sample_users = ["u0000007", "u0000297", "n0001", "u0001499", "u0000000"];
    let mut answers = BTreeMap::new();
    for user in sample_users {
        let answer = server.json(&format!("/v1/users/{user}/segments"));
        let mut expected: Vec<&str> = users.get(user).into_iter().flatten().copied().collect();
        expected.sort_by_key(|s| order.iter().position(|o| o == s));
        assert_eq!(answer["segments"], serde_json::json!(expected), "{user}");
        assert_eq!(answer["as_of"], as_of.as_str());
        answers.insert(user, answer);
    }
    server.refused("/v1/users/nobody/segments", StatusCode::NOT_FOUND);

    // Overlaps are the pages intersected.
    let overlap = server.json("/v1/overlap?segments=lapsed,churn_risk,low_engagement");
    for pair in overlap["pairs"].as_array().unwrap() {
        let (a, b) = (
            &pages[pair["a"].as_str().unwrap()],
            &pages[pair["b"].as_str().unwrap()],
        );
        let both = a.intersection(b).count();
        let either = a.union(b).count();
        assert_eq!(pair["intersection"], both);
        assert_eq!(pair["union"], either);
        assert_eq!(
            pair["jaccard"].as_f64(),
            (either > 0).then(|| both as f64 / either as f64)
        );
    }
    assert_eq!(overlap["pairs"].as_array().unwrap().len(), 3);

    // Explanations: each segment's tree agrees with the pages, and every value and
    // truth value in it with the reference evaluator over the same data.
    let catalog = segflow::catalog::load(&[catalog()]).unwrap();
    let mut data = loader::load_dataset(&sample(), &catalog);
    data.events.extend(events.iter().map(event_row));
    let now: u64 = as_of.split('.').next().unwrap().parse().unwrap();
    let snapshot = Snapshot::new(&catalog, &data, now);
    for user in sample_users {
        let explained = server.json(&format!("/v1/users/{user}/explain"));
        assert_eq!(explained["as_of"], as_of.as_str());
        let entries = explained["segments"].as_array().unwrap();
        assert_eq!(entries.len(), catalog.segments.len());
        for (segment, entry) in catalog.segments.iter().zip(entries) {
            assert_eq!(entry["segment"], segment.name.as_str());
            let member = pages[&segment.name].contains(user);
            assert_eq!(entry["member"], member, "{user} in {}", segment.name);
            assert_eq!(entry["tree"]["value"], member, "{user} in {}", segment.name);
            check_tree(&catalog, &snapshot, &segment.pred, &entry["tree"], user);
        }
    }
    // A preview of new definitions over the kept values equals the reference
    // evaluator's run of the catalog with them.
    let definitions = "feature spend = ltv\n\
                       segment big_lapsed = lapsed and spend > 300\n\
                       segment us_churn = churn > 0.5 and users.country = 'US'\n\
                       segment quiet_buyers = purchases >= 1 and not active_30d";
    let response = server.post("/v1/preview", definitions);
    assert_eq!(response.status(), StatusCode::OK);
    let preview: Value = response.json().unwrap();
    assert_eq!(preview["as_of"], as_of.as_str());
    let text = fs::read_to_string(root().join("dataflows/ecommerce.seg")).unwrap();
    let combined =
        segflow::catalog::check_sources(&[("ecommerce.seg", &text), ("preview", definitions)])
            .unwrap();
    let expected = segflow::reference::evaluate(&combined, &data, now);
    let previewed = preview["segments"].as_array().unwrap();
    assert_eq!(previewed.len(), 3);
    for segment in previewed {
        let name = segment["name"].as_str().unwrap();
        let members = &expected[name];
        assert_eq!(segment["size"], members.len(), "{name}");
        let sample: Vec<&String> = members.iter().take(20).collect();
        assert_eq!(segment["sample"], serde_json::json!(sample), "{name}");
    }
    assert!(
        previewed.iter().all(|s| s["size"].as_u64() > Some(0)),
        "{preview}"
    );

    let one = server.json("/v1/users/u0000007/explain?segment=lapsed");
    assert_eq!(one["segments"].as_array().unwrap().len(), 1);
    server.refused("/v1/users/nobody/explain", StatusCode::NOT_FOUND);
    server.refused(
        "/v1/users/u0000007/explain?segment=nope",
        StatusCode::NOT_FOUND,
    );

    // A segment's description.
    let vip = server.json("/v1/segments/vip_retention");
    assert_eq!(
        vip["definition"],
        "segment vip_retention = high_value_repeat and churn_risk"
    );
    assert_eq!(
        vip["depends_on"],
        serde_json::json!(["high_value_repeat", "churn_risk"])
    );
    assert_eq!(vip["kind"], "hybrid");
    assert_eq!(vip["status"], "ready");
    let churn = server.json("/v1/segments/churn_risk");
    assert_eq!(
        churn["used_by"],
        serde_json::json!(["vip_retention", "low_engagement"])
    );

    // Metrics count what happened.
    let metrics = server.get("/metrics").text().unwrap();
    assert!(metrics.contains("segflow_records_total 120\n"), "{metrics}");
    let lapsed = format!(
        "segflow_segment_size{{segment=\"lapsed\"}} {}\n",
        pages["lapsed"].len()
    );
    assert!(metrics.contains(&lapsed), "{metrics}");
    assert!(metrics.contains(
        "segflow_http_request_duration_seconds_count{route=\"/v1/segments/{name}/members\",status=\"200\"}"
    ));

    // After `kill -9`, the same command brings back the same state.
    server.kill();
    let again = Server::start(dir.path(), &[]);
    let health = again.wait_until(|h| h["status"] == "ready");
    assert_eq!(health["as_of"], as_of.as_str());
    for (segment, members) in &pages {
        let read: BTreeSet<String> = again
            .all_members(segment, &as_of, 1000, || {})
            .into_iter()
            .collect();
        assert_eq!(&read, members, "{segment} after a restart");
    }
    for user in sample_users {
        let answer = again.json(&format!("/v1/users/{user}/segments"));
        assert_eq!(answer, answers[user], "{user} after a restart");
    }
}

/// A live event as the reference evaluator reads it.
fn event_row(event: &LiveEvent) -> EventRow {
    let (user, ts, kind, amount, category) = event;
    EventRow {
        user_id: user.clone(),
        ts: *ts,
        kind: Text::from(*kind),
        fields: vec![
            amount.map_or(Cell::Null, |a| Cell::Number(Decimal::from(a))),
            Cell::Text(Text::from(*category)),
        ],
        event_id: None,
    }
}

/// Checks an explanation's tree against the definition it explains: the same shape,
/// each node's truth value and each compared value as the reference evaluator has it.
fn check_tree(catalog: &Catalog, snapshot: &Snapshot, pred: &Pred, node: &Value, user: &str) {
    assert_eq!(node["value"], snapshot.holds(pred, user), "{node}");
    let child = |i: usize| &node["children"][i];
    match pred {
        Pred::Cmp(left, _, right) => {
            assert_eq!(node["node"], "compare");
            check_operands(snapshot, &[left, right], &node["operands"], user);
        }
        Pred::In { expr, .. } => {
            assert_eq!(node["node"], "in");
            check_operands(snapshot, &[expr], &node["operands"], user);
        }
        Pred::Segment(index) => {
            assert_eq!(node["segment"], catalog.segments[*index].name.as_str());
            check_tree(
                catalog,
                snapshot,
                &catalog.segments[*index].pred,
                child(0),
                user,
            );
        }
        Pred::And(a, b) | Pred::Or(a, b) => {
            check_tree(catalog, snapshot, a, child(0), user);
            check_tree(catalog, snapshot, b, child(1), user);
        }
        Pred::Not(inner) => check_tree(catalog, snapshot, inner, child(0), user),
        Pred::Const(_) => assert_eq!(node["node"], "constant"),
    }
}

/// The non-constant sides of a comparison, shown as the reference computes them.
fn check_operands(snapshot: &Snapshot, sides: &[&ValueExpr], shown: &Value, user: &str) {
    let sides: Vec<&&ValueExpr> = sides
        .iter()
        .filter(|e| !matches!(e, ValueExpr::Const(_)))
        .collect();
    let shown = shown.as_array().unwrap();
    assert_eq!(shown.len(), sides.len(), "{shown:?}");
    for (expr, operand) in sides.into_iter().zip(shown) {
        let expected = snapshot.value(expr, user);
        let got = operand["value"].as_str().unwrap();
        let same = match &expected {
            Cell::Null => got == "missing",
            Cell::Number(n) => Decimal::from_str_exact(got).is_ok_and(|g| g == *n),
            other => got == other.to_string(),
        };
        assert!(
            same,
            "{user}: {} is {expected:?}, explained as {got}",
            operand["name"]
        );
    }
}

#[test]
fn bad_requests_get_a_reason_and_change_nothing() {
    let dir = scratch();
    let server = Server::start(dir.path(), &["--history", "1m"]);
    let latest = server.json("/v1/health")["as_of"]
        .as_str()
        .unwrap()
        .to_owned();

    let message = server.refused("/v1/segments/nope/members", StatusCode::NOT_FOUND);
    assert!(
        message.contains("no segment named `nope`") && message.contains("lapsed"),
        "{message}"
    );
    server.refused("/v1/segments/nope", StatusCode::NOT_FOUND);
    for limit in ["0", "-1", "x", "100001"] {
        let message = server.refused(
            &format!("/v1/segments/lapsed/members?limit={limit}"),
            StatusCode::BAD_REQUEST,
        );
        assert!(message.contains("limit"), "{message}");
    }
    let message = server.refused(
        "/v1/segments/lapsed/members?as_of=yesterday",
        StatusCode::BAD_REQUEST,
    );
    assert!(message.contains("as_of"), "{message}");
    let message = server.refused(
        "/v1/segments/lapsed/members?limt=5",
        StatusCode::BAD_REQUEST,
    );
    assert!(
        message.contains("unknown query parameter `limt`"),
        "{message}"
    );
    // Not final yet, and older than the history kept.
    let message = server.refused(
        "/v1/segments/lapsed/members?as_of=99999999999",
        StatusCode::BAD_REQUEST,
    );
    assert!(message.contains(&latest), "{message}");
    let message = server.refused("/v1/segments/lapsed/members?as_of=1000", StatusCode::GONE);
    assert!(message.contains("history"), "{message}");
    server.refused("/v1/overlap", StatusCode::BAD_REQUEST);
    server.refused("/v1/overlap?segments=lapsed", StatusCode::BAD_REQUEST);
    server.refused("/v1/overlap?segments=lapsed,nope", StatusCode::NOT_FOUND);
    server.refused("/v1/nothing/here", StatusCode::NOT_FOUND);

    // Previews that cannot run say why, with the checker's place for the errors.
    let response = server.post(
        "/v1/preview",
        "segment x = purchases > 3\nsegment y = purchses > 3",
    );
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refusal: Value = response.json().unwrap();
    let diagnostic = &refusal["diagnostics"][0];
    assert_eq!(
        (
            diagnostic["file"].as_str(),
            diagnostic["line"].as_u64(),
            diagnostic["column"].as_u64()
        ),
        (Some("preview"), Some(2), Some(13))
    );
    assert!(
        diagnostic["snippet"]
            .as_str()
            .unwrap()
            .contains("did you mean `purchases`?"),
        "{refusal}"
    );
    for (body, says) in [
        (
            "segment y = sum(events.amount where kind = 'refund') > 3",
            "which no served segment reads",
        ),
        ("feature f = purchases", "no new segment"),
        ("segment lapsed = purchases > 1", "lapsed"),
    ] {
        let response = server.post("/v1/preview", body);
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
        let refusal: Value = response.json().unwrap();
        assert!(refusal.to_string().contains(says), "{body}: {refusal}");
    }

    // A body with one bad line is refused whole: nothing reaches the followed files.
    let good = json_line(&live_events(backfill_time() + 1, 1)[0]);
    let body = format!("{good}\n{{\"type\":\"event\",\"user_id\":\"u1\"}}\n{good}\nnot json\n");
    let response = server.post("/v1/records", body);
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let refusal: Value = response.json().unwrap();
    let lines: Vec<u64> = refusal["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 4]);
    assert_eq!(
        fs::read_to_string(dir.path().join("live/segflow-api.jsonl")).unwrap(),
        ""
    );
    assert_eq!(
        server.post("/v1/records", "").status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        server.post("/v1/records", vec![0xff, 0xfe]).status(),
        StatusCode::BAD_REQUEST
    );
    let health = server.json("/v1/health");
    assert_eq!(
        (health["records"].as_u64(), health["as_of"].as_str()),
        (Some(0), Some(latest.as_str()))
    );
}

#[test]
fn a_token_guards_everything_but_health_and_bodies_have_a_limit() {
    let dir = scratch();
    let token_file = dir.path().join("token");
    fs::write(&token_file, "s3cret-token\n").unwrap();
    let token = token_file.display().to_string();
    let server = Server::start(dir.path(), &["--token-file", &token, "--max-body-mib", "1"]);
    assert_eq!(
        server.refused("/v1/segments", StatusCode::UNAUTHORIZED),
        "this service requires `Authorization: Bearer <token>`"
    );
    let wrong = server
        .client
        .get(format!("{}/v1/segments", server.base))
        .bearer_auth("s3cret")
        .send()
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(server.get("/v1/health").status(), StatusCode::OK);
    let server = server.with_token("s3cret-token");
    assert_eq!(server.get("/v1/segments").status(), StatusCode::OK);
    assert_eq!(server.get("/metrics").status(), StatusCode::OK);

    // A body over the limit is refused from its declared length, before it is sent:
    // the request goes out headers first, and the answer is read before any body byte.
    let host = server.base.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "POST /v1/records HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer s3cret-token\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n",
        2 << 20
    )
    .unwrap();
    let mut answer = String::new();
    BufReader::new(stream).read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("the request body is 2097152 bytes; this service takes at most 1048576"),
        "{answer}"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("live/segflow-api.jsonl")).unwrap(),
        ""
    );
}

#[test]
fn an_exposed_address_without_a_token_is_refused_at_start() {
    let dir = scratch();
    let output = Command::new(env!("CARGO_BIN_EXE_segflow"))
        .args(["serve", "--catalog", &catalog().display().to_string()])
        .args(["--follow", &dir.path().join("live").display().to_string()])
        .args([
            "--changes",
            &dir.path().join("changes.csv").display().to_string(),
        ])
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0 without --token-file"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("changes.csv").exists(),
        "nothing was started"
    );
}

/// The change log's memberships as of tick `at`: every change at or before it summed.
fn log_as_of(log: &Path, at: u64) -> BTreeMap<String, BTreeSet<String>> {
    let mut counts: BTreeMap<(String, String), i64> = BTreeMap::new();
    for line in fs::read_to_string(log).unwrap().lines() {
        if line.starts_with('#') || line.starts_with("time,") {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        let (seconds, ticks) = fields[0].split_once('.').unwrap_or((fields[0], "0"));
        let tick = seconds.parse::<u64>().unwrap() * 1_000_000 + ticks.parse::<u64>().unwrap();
        if tick <= at {
            let key = (fields[1].to_owned(), fields[2].to_owned());
            *counts.entry(key).or_default() += fields[3].parse::<i64>().unwrap();
        }
    }
    let mut members: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for ((segment, user), count) in counts {
        assert!(count == 0 || count == 1, "{segment} {user}: {count}");
        if count == 1 {
            members.entry(segment).or_default().insert(user);
        }
    }
    members
}

fn tick_of(text: &str) -> u64 {
    let (seconds, ticks) = text.split_once('.').unwrap_or((text, "0"));
    seconds.parse::<u64>().unwrap() * 1_000_000 + ticks.parse::<u64>().unwrap()
}

fn send(server: &Server, method: reqwest::Method, path: &str, body: &str) -> (StatusCode, Value) {
    let response = server
        .client
        .request(method, format!("{}{path}", server.base))
        .body(body.to_owned())
        .send()
        .unwrap();
    let status = response.status();
    let text = response.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
    )
}

#[test]
fn definitions_changed_at_runtime_equal_a_batch_run_of_the_edited_catalog() {
    use reqwest::Method;
    let dir = scratch();
    let server = Server::start(dir.path(), &["--history", "30d", "-w", "2"]);
    let start = backfill_time() + 1;
    let events = live_events(start, 300);
    let (before, after) = events.split_at(150);
    post_events(&server, before);
    let closed = format!("{}.999999", before.last().unwrap().1);
    post_events(&server, &after[..1]);
    server.wait_until(|health| health["as_of"].as_str() >= Some(closed.as_str()));
    let log = dir.path().join("changes.csv");

    // Refusals change nothing.
    let put =
        |name: &str, body: &str| send(&server, Method::PUT, &format!("/v1/segments/{name}"), body);
    let (status, body) = put("x", "segment x = ltvv > 800");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["diagnostics"][0]["message"],
        "unknown feature or segment `ltvv`"
    );
    let (status, body) = put("x", "segment y = ltv > 800");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = put("x", "schema users(age: number)\nsegment x = ltv > 800");
    assert!(status.is_client_error(), "{body}");
    let (status, body) = send(
        &server,
        Method::DELETE,
        "/v1/segments/high_value_repeat",
        "",
    );
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("`vip_retention`"),
        "{body}"
    );
    let (status, _) = send(&server, Method::DELETE, "/v1/segments/nope", "");
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!fs::read_to_string(&log).unwrap().contains("# edit"));

    // A new segment with a new feature, a replacement (its user follows), a deletion.
    let (status, created) = put(
        "big_spenders",
        "feature spend = sum(events.amount where kind = 'purchase')\n\
         segment big_spenders = spend > 1500 and exists(events within 7d)",
    );
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let created_at = tick_of(created["effective"].as_str().unwrap());
    let (status, replaced) = put(
        "high_value_repeat",
        "segment high_value_repeat = purchases > 3 and ltv > 300",
    );
    assert_eq!(status, StatusCode::OK, "{replaced}");
    let restarted: BTreeSet<&str> = (replaced["versions"].as_array().unwrap().iter())
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        restarted,
        BTreeSet::from(["high_value_repeat", "vip_retention"])
    );
    let (status, same) = put(
        "high_value_repeat",
        "segment high_value_repeat = purchases > 3 and ltv > 300",
    );
    assert_eq!(
        (status, &same["unchanged"]),
        (StatusCode::OK, &Value::Bool(true))
    );
    let (status, deleted) = send(&server, Method::DELETE, "/v1/segments/shoes_fans", "");
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(
        server.get("/v1/segments/shoes_fans").status(),
        StatusCode::NOT_FOUND
    );

    // Nothing before an edit's time moved.
    let base_then = run_as_of(dir.path(), before, before.last().unwrap().1);
    let logged = log_as_of(&log, tick_of(&closed));
    for (segment, members) in &base_then {
        let logged: Vec<String> = logged.get(segment).into_iter().flatten().cloned().collect();
        assert_eq!(&logged, members, "{segment} before the edits");
    }
    assert!(!log_as_of(&log, created_at - 1).contains_key("big_spenders"));

    post_events(&server, &after[1..]);
    let last = after.last().unwrap().1;
    post_events(
        &server,
        &[(String::from("u0000001"), last + 1, "view", None, "home")],
    );
    let as_of = format!("{last}.999999");
    let health = server.wait_until(|health| health["as_of"].as_str() >= Some(as_of.as_str()));
    let latest = health["as_of"].as_str().unwrap().to_owned();

    // The edited catalog, as a file, run as of the end.
    let base = fs::read_to_string(catalog()).unwrap();
    let mut edited: String = base
        .lines()
        .filter(|line| {
            !line.starts_with("segment high_value_repeat")
                && !line.starts_with("segment shoes_fans")
        })
        .map(|line| format!("{line}\n"))
        .collect();
    edited.push_str("segment high_value_repeat = purchases > 3 and ltv > 300\n");
    edited.push_str("feature spend = sum(events.amount where kind = 'purchase')\n");
    edited.push_str("segment big_spenders = spend > 1500 and exists(events within 7d)\n");
    let edited_path = dir.path().join("edited.seg");
    fs::write(&edited_path, edited).unwrap();
    let expected = run_catalog_as_of(dir.path(), &edited_path, &events, last);
    let logged = log_as_of(&log, tick_of(&as_of));
    assert_eq!(segment_names(&server).len(), expected.len());
    let mut served = BTreeMap::new();
    for name in segment_names(&server) {
        let members = server.all_members(&name, &as_of, 500, || {});
        assert_eq!(Some(&members), expected.get(&name), "{name} served");
        let from_log: Vec<String> = logged.get(&name).into_iter().flatten().cloned().collect();
        assert_eq!(from_log, members, "{name} in the log");
        served.insert(name.clone(), server.all_members(&name, &latest, 500, || {}));
    }
    assert!(!served["big_spenders"].is_empty() && !served["high_value_repeat"].is_empty());
    assert!(
        !logged.contains_key("shoes_fans"),
        "a deleted segment keeps no member"
    );
    let text = fs::read_to_string(&log).unwrap();
    assert!(text.contains(&format!(
        "# definition big_spenders {} from {}",
        created["hash"].as_str().unwrap(),
        created["effective"].as_str().unwrap()
    )));

    // A restart applies the edits again: the same state, nothing written twice.
    server.kill();
    let again = Server::start(dir.path(), &["--history", "30d", "-w", "2"]);
    let health = again.wait_until(|health| health["status"] == "ready");
    assert_eq!(health["as_of"].as_str(), Some(latest.as_str()));
    for (name, members) in &served {
        let read = again.all_members(name, &latest, 500, || {});
        assert_eq!(&read, members, "{name} after a restart");
    }
    assert_eq!(
        again.get("/v1/segments/shoes_fans").status(),
        StatusCode::NOT_FOUND
    );
    let info = again.json("/v1/segments/big_spenders");
    assert_eq!(info["hash"], created["hash"]);
    assert_eq!(log_as_of(&log, tick_of(&as_of)), logged);
}
