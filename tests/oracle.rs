//! The core invariant, property-tested: for random catalogs drawn from the whole
//! language, random data and random as-of times, the dataflow's memberships equal the
//! reference evaluator's from-scratch answer.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use common::{catalog_text, dataset};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use segflow::catalog::{self, ir::Catalog};
use segflow::data::Dataset;
use segflow::engine::batch::run_dataset;
use segflow::reference;

fn dataflow_members(
    catalog: &Catalog,
    data: &Dataset,
    as_of: u64,
    workers: usize,
) -> BTreeMap<String, BTreeSet<String>> {
    let result = run_dataset(
        catalog,
        Arc::new(data.clone()),
        Some(as_of),
        timely::Config::process(workers),
    )
    .unwrap();
    catalog
        .segments
        .iter()
        .zip(result.members)
        .map(|(segment, members)| (segment.name.clone(), members.into_iter().collect()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn dataflow_equals_reference(text in catalog_text(), data in dataset(), as_of in 0..70u64, workers in 1..=3usize) {
        let catalog = catalog::check_sources(&[("random.seg", &text)])
            .unwrap_or_else(|e| panic!("generated catalog must check:\n{text}\n{e}"));
        let expected = reference::evaluate(&catalog, &data, as_of);
        let actual = dataflow_members(&catalog, &data, as_of, workers);
        prop_assert_eq!(actual, expected, "catalog:\n{}", text);
    }
}

#[test]
fn one_and_four_workers_agree() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for _ in 0..16 {
        let text = catalog_text().new_tree(&mut runner).unwrap().current();
        let data = dataset().new_tree(&mut runner).unwrap().current();
        let catalog = catalog::check_sources(&[("random.seg", &text)]).unwrap();
        let as_of = data.max_ts().unwrap_or(0);
        assert_eq!(
            dataflow_members(&catalog, &data, as_of, 1),
            dataflow_members(&catalog, &data, as_of, 4),
            "{text}"
        );
    }
}
