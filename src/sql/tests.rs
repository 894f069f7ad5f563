//! The emitted SQL text for the constructs where SQL and segflow part ways. Whether the
//! text means the right thing is tested by running it (`tests/sql.rs`, with DuckDB).

use rust_decimal::Decimal;

use super::*;
use crate::catalog::check_sources;

const SCHEMA: &str = "schema users(country: text, vip: bool, age: number)\n\
                      schema events(amount: number, category: text)\n";

fn catalog(text: &str) -> Catalog {
    check_sources(&[("t.seg", &format!("{SCHEMA}{text}"))]).unwrap()
}

fn sql(text: &str) -> String {
    compile(&catalog(text), AsOf::Param).unwrap()
}

/// The body of CTE `name` (from `name AS (` to the closing `)` at the line start).
fn cte<'a>(sql: &'a str, name: &str) -> &'a str {
    let start = sql
        .find(&format!("\n{name} AS (\n"))
        .unwrap_or_else(|| panic!("no CTE {name} in\n{sql}"));
    let body = &sql[start + name.len() + 7..];
    &body[..body.find("\n)").unwrap()]
}

/// The `WHERE` condition of segment CTE `name`.
fn condition<'a>(sql: &'a str, name: &str) -> &'a str {
    let body = cte(sql, name);
    &body[body.find("WHERE ").unwrap() + 6..]
}

#[test]
fn not_negates_a_comparison_closed_against_null() {
    let sql = sql("segment us = users.country = 'US'\n\
         segment not_us = not users.country = 'US'\n\
         segment ne = users.country != 'US'\n\
         segment flag = users.vip\n\
         segment not_listed = users.country not in ('US', 'DE')\n");
    assert_eq!(
        condition(&sql, "\"us\""),
        "coalesce(\"users.country\" = 'US', false)"
    );
    // A user without a country is in `not_us` but not in `ne`.
    assert_eq!(
        condition(&sql, "\"not_us\""),
        "NOT coalesce(\"users.country\" = 'US', false)"
    );
    assert_eq!(
        condition(&sql, "\"ne\""),
        "coalesce(\"users.country\" <> 'US', false)"
    );
    assert_eq!(
        condition(&sql, "\"flag\""),
        "coalesce(\"users.vip\" = TRUE, false)"
    );
    assert_eq!(
        condition(&sql, "\"not_listed\""),
        "coalesce(\"users.country\" NOT IN ('US', 'DE'), false)"
    );
}

#[test]
fn counts_and_sums_of_nothing_are_zero_the_rest_null() {
    let sql = sql("feature n = count(events.amount)\n\
         feature total = sum(events.amount)\n\
         feature kinds = count_distinct(events.kind)\n\
         feature top = max(events.amount)\n\
         segment few = n < 2 and total <= 0 and kinds = 0\n\
         segment small = top < 2\n");
    let features = cte(&sql, "features");
    assert!(features.contains("coalesce(event_values.\"n\", 0) AS \"n\""));
    assert!(features.contains("coalesce(event_values.\"total\", 0) AS \"total\""));
    assert!(features.contains("coalesce(event_values.\"kinds\", 0) AS \"kinds\""));
    assert!(features.contains("event_values.\"top\""));
    assert!(!features.contains("coalesce(event_values.\"top\""));
    let values = cte(&sql, "event_values");
    assert!(values.contains("count(\"amount\") AS \"n\""));
    assert!(values.contains("count(DISTINCT kind) AS \"kinds\""));
    // Never NULL, so written bare; a max may be missing.
    assert_eq!(
        condition(&sql, "\"few\""),
        "\"n\" < 2 AND \"total\" <= 0 AND \"kinds\" = 0"
    );
    assert_eq!(condition(&sql, "\"small\""), "coalesce(\"top\" < 2, false)");
}

#[test]
fn where_clauses_and_windows_share_one_filter() {
    let sql =
        sql("segment s = count(events where kind = 'a' or not category = 'x' within 1h) > 0\n");
    assert!(cte(&sql, "event_values").contains(
        "count(*) FILTER (WHERE (kind = 'a' OR NOT coalesce(\"category\" = 'x', false)) \
         AND ts > params.now - 3600) AS \"count(events where (kind = 'a' or not category = 'x') within 1h)\""
    ));
    assert!(cte(&sql, "event_values").contains("FROM events_now, params"));
}

#[test]
fn averages_compare_sum_against_count_times_the_other_side() {
    let sql = sql("feature basket = avg(events.amount where kind = 'buy')\n\
         segment big = basket >= 150.5\n\
         segment even = basket = avg(events.amount)\n");
    let values = cte(&sql, "event_values");
    assert!(values.contains("sum(\"amount\") FILTER (WHERE kind = 'buy') AS \"basket (sum)\""));
    assert!(values.contains("count(\"amount\") FILTER (WHERE kind = 'buy') AS \"basket (count)\""));
    assert_eq!(
        condition(&sql, "\"big\""),
        "coalesce(\"basket (sum)\" >= 150.5 * \"basket (count)\", false)"
    );
    assert_eq!(
        condition(&sql, "\"even\""),
        "coalesce(\"basket (sum)\" * \"avg(events.amount) (count)\" = \
         \"avg(events.amount) (sum)\" * \"basket (count)\", false)"
    );
    assert!(!sql.contains(" / "), "nothing is divided:\n{sql}");
}

#[test]
fn segments_come_after_the_segments_they_reference() {
    let sql = sql("segment a = b and not c\n\
         segment b = c or users.age > 30\n\
         segment c = exists(events)\n");
    let at = |name: &str| sql.find(&format!("\n\"{name}\" AS (")).unwrap();
    assert!(at("c") < at("b") && at("b") < at("a"), "{sql}");
    assert_eq!(
        condition(&sql, "\"a\""),
        "user_id IN (SELECT user_id FROM \"b\") AND NOT (user_id IN (SELECT user_id FROM \"c\"))"
    );
    // The result lists segments in catalog order, sorted by segment and user id.
    assert!(sql.ends_with(
        "SELECT 'a' AS segment, user_id FROM \"a\"\n\
         UNION ALL SELECT 'b' AS segment, user_id FROM \"b\"\n\
         UNION ALL SELECT 'c' AS segment, user_id FROM \"c\"\n\
         ORDER BY segment, user_id;\n"
    ));
    assert!(sql.contains("\n-- segments: a, b, c\n"));
}

#[test]
fn catalog_names_never_collide_in_sql() {
    let sql = sql("feature user_id = count(events)\n\
         feature Churn = score('churn')\n\
         feature churn = score('churn2')\n\
         segment features = user_id > 1\n\
         segment Features = Churn > 0.5 and churn > 0.5\n");
    let features = cte(&sql, "features");
    assert!(features.contains("AS \"user_id_2\""), "{features}");
    assert!(features.contains("score_values.\"Churn\""));
    assert!(features.contains("score_values.\"churn_2\""));
    assert_eq!(condition(&sql, "\"features_2\""), "\"user_id_2\" > 1");
    assert_eq!(
        condition(&sql, "\"Features_3\""),
        "coalesce(\"Churn\" > 0.5, false) AND coalesce(\"churn_2\" > 0.5, false)"
    );
    // The rows still carry the catalog's names.
    assert!(sql.contains("SELECT 'Features' AS segment, user_id FROM \"Features_3\""));
}

#[test]
fn a_value_written_twice_is_one_column_named_by_its_feature() {
    let sql = sql("feature buys = count(events where kind = 'buy')\n\
         feature also = buys\n\
         segment s = count(events where kind = 'buy') > 1 and also > 0\n");
    assert_eq!(cte(&sql, "event_values").matches("count(*)").count(), 1);
    assert_eq!(condition(&sql, "\"s\""), "\"buys\" > 1 AND \"buys\" > 0");
}

#[test]
fn scores_take_the_latest_then_the_greatest() {
    let sql = sql("segment risky = score('churn') > 0.7\n");
    let latest = cte(&sql, "latest_scores");
    assert!(latest.contains("WHERE model IN ('churn')"));
    assert!(latest.contains("ORDER BY ts DESC, score DESC) = 1"));
    assert!(cte(&sql, "score_values")
        .contains("max(score) FILTER (WHERE model = 'churn') AS \"score('churn')\""));
}

#[test]
fn as_of_is_a_parameter_or_a_literal() {
    let catalog = catalog("segment recent = users.age > 1 and now > 5\n");
    let param = compile(&catalog, AsOf::Param).unwrap();
    assert!(cte(&param, "params").contains("CAST($as_of AS BIGINT),"));
    assert!(cte(&param, "params")
        .contains("(SELECT max(ts) FROM (SELECT ts FROM events UNION ALL SELECT ts FROM scores))"));
    let fixed = compile(&catalog, AsOf::At(1_700_000_000)).unwrap();
    assert_eq!(
        cte(&fixed, "params"),
        "  SELECT CAST(1700000000 AS BIGINT) AS now"
    );
    assert!(!fixed.contains('$'));
    assert!(cte(&fixed, "\"recent\"").contains("FROM features, params\n"));
    assert!(cte(&fixed, "users_now").contains("ORDER BY _row DESC) = 1"));
    assert!(cte(&fixed, "events_now").contains("WHERE events.ts <= params.now"));
}

#[test]
fn numbers_sql_cannot_hold_are_refused_naming_the_definition() {
    let in_segment = compile(
        &catalog("segment s = users.age > 0.1234567891\n"),
        AsOf::Param,
    );
    assert_eq!(
        in_segment,
        Err(SqlError::Precision {
            context: "segment `s`".to_string(),
            number: "0.1234567891".parse::<Decimal>().unwrap(),
        })
    );
    let in_where = compile(
        &catalog("feature f = count(events where amount < 0.0000000001)\nsegment s = f > 0\n"),
        AsOf::Param,
    )
    .unwrap_err();
    assert_eq!(
        in_where.to_string(),
        "`f` uses the number 0.0000000001, which has more than 9 decimal places; \
         SQL numbers are DECIMAL(38, 9)"
    );
    // Trailing zeros do not count.
    assert!(compile(
        &catalog("segment s = users.age > 2.0000000000\n"),
        AsOf::Param
    )
    .is_ok());
}

#[test]
fn input_columns_must_stay_distinct_in_sql() {
    let catalog = check_sources(&[("t.seg", "schema users(Plan: text, plan: text)\n")]).unwrap();
    assert_eq!(
        create_tables(&catalog),
        Err(SqlError::ColumnCase {
            table: "users",
            column: "plan".to_string()
        })
    );
    assert!(compile(&catalog, AsOf::Param).is_err());
}

#[test]
fn tables_are_typed_from_the_schemas() {
    let text = create_tables(&catalog("")).unwrap();
    assert!(text.contains(
        "CREATE TABLE users (\n  user_id VARCHAR,\n  \"country\" VARCHAR,\n  \"vip\" BOOLEAN,\n  \
         \"age\" DECIMAL(38, 9),\n  _row BIGINT\n);"
    ));
    assert!(text.contains(
        "CREATE TABLE events (\n  user_id VARCHAR,\n  ts BIGINT,\n  kind VARCHAR,\n  \
         event_id VARCHAR,\n  \"amount\" DECIMAL(38, 9),\n  \"category\" VARCHAR\n);"
    ));
    assert!(text.contains(
        "CREATE TABLE scores (\n  user_id VARCHAR,\n  model VARCHAR,\n  score DECIMAL(38, 9),\n  \
         ts BIGINT\n);"
    ));
}

#[test]
fn a_catalog_without_segments_gives_no_rows() {
    let sql = sql("feature n = count(events)\n");
    assert!(sql.ends_with("WHERE FALSE;\n"), "{sql}");
    assert!(sql.contains("\n-- segments: \n"));
}
