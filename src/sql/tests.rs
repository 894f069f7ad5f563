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
    assert!(latest.contains("WHERE scores_now.model IN ('churn')"));
    assert!(latest.contains("ORDER BY ts DESC, score DESC\n  ) = 1"));
    assert!(cte(&sql, "score_values").contains(
        "max(score) FILTER (WHERE model = 'churn' AND fixed_version IS NULL) \
         AS \"score('churn')\""
    ));
}

#[test]
fn a_score_reads_the_active_version_or_a_fixed_one() {
    let both = sql("segment risky = score('churn') > 0.7\n\
         segment old = score('churn', 'v1') > 0.5 and score('ltv', 'it''s') > 1\n");
    // The active version: the latest models row at now, then the last in the file.
    let active = cte(&both, "active_versions");
    assert!(active.contains("WHERE models.ts <= params.now AND models.model IN ('churn')"));
    assert!(active.contains("ORDER BY models.ts DESC, models._row DESC\n  ) = 1"));
    // score('churn') reads the active version's rows, or every row without one.
    let latest = cte(&both, "latest_scores");
    assert!(latest.contains(
        "LEFT JOIN active_versions ON active_versions.model = scores_now.model\n    \
         WHERE scores_now.model IN ('churn')\n      \
         AND (active_versions.model IS NULL OR scores_now.version = active_versions.version)"
    ));
    // A fixed version reads its own rows, whatever is active.
    assert!(latest.contains(
        "SELECT user_id, model, version AS fixed_version, ts, score FROM scores_now\n    \
         WHERE (model = 'churn' AND version = 'v1')\n      OR (model = 'ltv' AND version = 'it''s')"
    ));
    assert!(latest.contains("PARTITION BY user_id, model, fixed_version ORDER BY"));
    let values = cte(&both, "score_values");
    assert!(values.contains(
        "max(score) FILTER (WHERE model = 'churn' AND fixed_version = 'v1') \
         AS \"score('churn', 'v1')\""
    ));
    assert!(values.contains(
        "max(score) FILTER (WHERE model = 'ltv' AND fixed_version = 'it''s') \
         AS \"score('ltv', 'it''s')\""
    ));
    // Without a read of an active version, no active_versions.
    let fixed = sql("segment old = score('churn', 'v1') > 0.5\n");
    assert!(!fixed.contains("active_versions"), "{fixed}");
}

#[test]
fn as_of_is_a_parameter_or_a_literal() {
    let catalog = catalog("segment recent = users.age > 1 and now > 5\n");
    let param = compile(&catalog, AsOf::Param).unwrap();
    assert!(cte(&param, "params").contains("CAST($as_of AS BIGINT),"));
    assert!(cte(&param, "params").contains(
        "SELECT ts FROM events UNION ALL SELECT ts FROM scores UNION ALL SELECT ts FROM models"
    ));
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
         ts BIGINT,\n  version VARCHAR\n);"
    ));
    assert!(text.contains(
        "CREATE TABLE models (\n  model VARCHAR,\n  version VARCHAR,\n  ts BIGINT,\n  \
         _row BIGINT\n);"
    ));
}

#[test]
fn a_catalog_without_segments_gives_no_rows() {
    let sql = sql("feature n = count(events)\n");
    assert!(sql.ends_with("WHERE FALSE;\n"), "{sql}");
    assert!(sql.contains("\n-- segments: \n"));
}

#[test]
fn computed_values_are_columns_of_stages_before_features() {
    let sql = sql("feature total = sum(events.amount)\n\
         feature net = total - 5\n\
         feature twice = net * 2\n\
         segment s = twice > 10 and total * 3 < 100\n");
    // The values read from the data first, then one stage per level of nesting, each
    // reading the columns of the stages before it.
    assert!(cte(&sql, "features_0").contains("coalesce(event_values.\"total\", 0) AS \"total\""));
    assert_eq!(
        cte(&sql, "features_1"),
        "  SELECT *,\n    \"total\" - 5 AS \"net\",\n    \
         \"total\" * 3 AS \"sum(events.amount) * 3\"\n  FROM features_0"
    );
    assert_eq!(
        cte(&sql, "features"),
        "  SELECT *,\n    \"net\" * 2 AS \"twice\"\n  FROM features_1"
    );
    assert_eq!(
        condition(&sql, "\"s\""),
        "\"twice\" > 10 AND \"sum(events.amount) * 3\" < 100"
    );
    // Without computed values, `features` is the first and only one.
    assert!(!self::sql("segment s = count(events) > 1\n").contains("features_0"));
}

#[test]
fn undefined_doubles_are_null_not_infinite() {
    let sql = sql("feature n = count(events)\n\
         feature total = sum(events.amount)\n\
         feature rate = total / n\n\
         feature logs = ln(total)\n\
         feature root = sqrt(users.age)\n\
         feature grow = exp(n)\n\
         feature squash = logistic(total)\n\
         feature product = rate * rate\n\
         segment s = rate > 0.5 or logs > 1 or root > 1 or grow > 1 or squash > 0.5 or product > 1\n");
    let values = cte(&sql, "features_1");
    // Exact numbers convert to doubles through their text.
    let total = "CAST(CAST(\"total\" AS VARCHAR) AS DOUBLE)";
    assert!(values.contains(&format!(
        "nullif(nullif({total} / nullif(CAST(\"n\" AS DOUBLE), 0), CAST('inf' AS DOUBLE)), \
         CAST('-inf' AS DOUBLE)) AS \"rate\""
    )));
    // 0 and below become 0, then NULL.
    assert!(values.contains(&format!("ln(nullif(greatest({total}, 0), 0)) AS \"logs\"")));
    assert!(values.contains(
        "sqrt(nullif(greatest(CAST(CAST(\"users.age\" AS VARCHAR) AS DOUBLE), 0), 0)) AS \"root\""
    ));
    assert!(
        values.contains("nullif(exp(CAST(\"n\" AS DOUBLE)), CAST('inf' AS DOUBLE)) AS \"grow\"")
    );
    // In segflow's order: exp(1000) is inf, 1 / (1 + inf) is 0.
    assert!(values.contains(&format!("1 / (1 + exp(-{total})) AS \"squash\"")));
    assert!(cte(&sql, "features").contains(
        "nullif(nullif(\"rate\" * \"rate\", CAST('inf' AS DOUBLE)), CAST('-inf' AS DOUBLE)) \
         AS \"product\""
    ));
    // Float literals are the nearest doubles.
    assert!(
        condition(&sql, "\"s\"").starts_with("coalesce(\"rate\" > CAST('0.5' AS DOUBLE), false)")
    );
}

#[test]
fn choices_share_one_scale_and_conditions_two_values() {
    let sql = sql("feature total = sum(events.amount)\n\
         feature mid = median(events.amount)\n\
         feature lo = least(total, mid, 0)\n\
         feature pick = if(users.country = 'US' and not users.vip, total, mid)\n\
         feature flags = (count(events) > 3) + (total > 5) * 2\n\
         feature twice = count(events) * count(events)\n\
         feature negated = -(-count(events))\n\
         segment s = lo < 1 and pick > 1 and flags > 1 and twice > 1 and negated > 1\n");
    let values = cte(&sql, "features");
    // A median has 10 places: the rest are cast to them.
    assert!(values.contains(
        "least(CAST(\"total\" AS DECIMAL(38, 10)), \"mid\", CAST(0 AS DECIMAL(38, 10))) AS \"lo\""
    ));
    assert!(values.contains(
        "CASE WHEN coalesce(\"users.country\" = 'US', false) AND NOT coalesce(\"users.vip\" = TRUE, \
         false) THEN CAST(\"total\" AS DECIMAL(38, 10)) ELSE \"mid\" END AS \"pick\""
    ));
    assert!(values.contains(
        "CASE WHEN \"count(events)\" > 3 THEN 1 ELSE 0 END + \
         CAST(CASE WHEN \"total\" > 5 THEN 1 ELSE 0 END AS DECIMAL(38, 0)) * 2 AS \"flags\""
    ));
    // Integers are multiplied as decimals (DuckDB's BIGINT overflows at 2^63).
    assert!(values
        .contains("CAST(\"count(events)\" AS DECIMAL(38, 0)) * \"count(events)\" AS \"twice\""));
    // Never `--`, which starts a comment.
    assert!(values.contains("-(-\"count(events)\") AS \"negated\""));
}

#[test]
fn averages_in_computations_are_segflows_quotients() {
    let sql = sql("feature basket = avg(events.amount)\n\
         feature doubled = basket * 2\n\
         segment s = doubled > 1 and basket > 2\n");
    // Compared directly, an average is still its sum and count.
    assert!(condition(&sql, "\"s\"")
        .ends_with("coalesce(\"basket (sum)\" > 2 * \"basket (count)\", false)"));
    assert!(sql.contains(
        "CAST(replace(CAST(\"basket (sum)\" AS VARCHAR), '.', '') AS HUGEINT) \
         AS \"basket (numerator)\""
    ));
    assert!(sql.contains(
        "(\"basket (numerator)\" // \"basket (count)\") * 10000000000000000000 + \
         ((\"basket (numerator)\" % \"basket (count)\") * 10000000000000000000) // \
         \"basket (count)\" AS \"basket (digits)\""
    ));
    assert!(sql.contains("\n      ELSE 10000000000\n    END AS \"basket (unit)\""));
    assert!(sql.contains("AS DECIMAL(38, 0)) * 0.0000000000000000000000000001 AS \"basket\""));
    // 28 places times an integer: rounded as segflow rounds beyond 96 bits.
    assert!(sql.contains("\"basket\" * 2 AS \"doubled (exact)\""));
    assert!(sql.contains(
        "WHEN abs(\"doubled (exact)\") <= 7.9228162514264337593543950335 THEN \"doubled (exact)\""
    ));
    assert!(sql.contains(
        "WHEN abs(\"doubled (exact)\") < 79.2281625142643375935439503355 THEN \
         CAST(round_even(\"doubled (exact)\", 27) AS DECIMAL(38, 28))"
    ));
}

#[test]
fn long_products_are_rounded_from_two_exact_parts() {
    let sql = sql("feature basket = avg(events.amount)\n\
         feature risk = basket * score('churn')\n\
         segment s = risk > 1\n");
    // 28 + 9 places: the part of basket to 18 places times the score, and the rest.
    assert!(sql.contains(
        "trunc(\"basket\", 18) * \"score('churn')\" + trunc((\"basket\" - trunc(\"basket\", 18)) \
         * \"score('churn')\", 27) AS \"risk (high)\""
    ));
    assert!(sql.contains(
        "(\"basket\" - trunc(\"basket\", 18)) * \"score('churn')\" - trunc((\"basket\" - \
         trunc(\"basket\", 18)) * \"score('churn')\", 27) AS \"risk (low)\""
    ));
    assert!(sql.contains(
        "THEN CAST(\"risk (high)\" + round_even(\"risk (low)\", 28) AS DECIMAL(38, 28))"
    ));
}

#[test]
fn products_sql_cannot_hold_are_refused_naming_the_definition() {
    let error = compile(
        &catalog("feature basket = avg(events.amount)\nfeature square = basket * basket\n"),
        AsOf::Param,
    )
    .unwrap_err();
    assert!(
        matches!(&error, SqlError::Unsupported { context, .. } if context == "feature `square`"),
        "{error:?}"
    );
    assert!(error.to_string().starts_with(
        "feature `square` uses a product of numbers with more than 38 decimal places"
    ));
    // A literal of more places than SQL keeps, inside a computation.
    let error = compile(
        &catalog("segment s = count(events) * 0.0000000001 > 1\n"),
        AsOf::Param,
    )
    .unwrap_err();
    assert!(matches!(error, SqlError::Precision { context, .. } if context == "segment `s`"));
}

#[test]
fn days_since_rounds_down_in_hugeint_seconds() {
    let sql = sql("feature last_seen = max(events.ts)\n\
         feature idle = days_since(last_seen)\n\
         segment lapsed = idle >= 30 and days_since(last_seen) * 2 > 1\n");
    // Integer `//` truncates toward zero: a negative remainder takes a day more off.
    let seconds = "(CAST((SELECT now FROM params) AS HUGEINT) - \"last_seen\")";
    assert!(sql.contains(&format!(
        "CAST({seconds} // 86400 - CASE WHEN {seconds} % 86400 < 0 THEN 1 ELSE 0 END \
         AS BIGINT) AS \"idle\""
    )));
    // An integer, kept exact in arithmetic, read from its one column.
    assert!(
        sql.contains("CAST(\"idle\" AS DECIMAL(38, 0)) * 2 AS \"days_since(max(events.ts)) * 2\"")
    );
    // Missing where `max(events.ts)` is: compared two-valued.
    assert_eq!(
        condition(&sql, "\"lapsed\""),
        "coalesce(\"idle\" >= 30, false) AND \
         coalesce(\"days_since(max(events.ts)) * 2\" > 1, false)"
    );
}
