//! segflow: every segment of a catalog maintained by one differential dataflow.
//!
//! A catalog of segment definitions (see the README for the language) is checked
//! ([`catalog`]), lowered to a plan of shared parts ([`plan`]), rendered into one
//! differential dataflow ([`dataflow`]) and run on timely workers ([`engine`]).
//! [`reference`](mod@reference) evaluates the same definitions from scratch and is what
//! the dataflow is tested against.
//!
//! Using it as a library, over data held in memory:
//!
//! ```
//! use std::sync::Arc;
//! use segflow::catalog::check_sources;
//! use segflow::data::{Dataset, EventRow};
//! use segflow::engine::batch::run_dataset;
//! use segflow::value::{Text, Value};
//!
//! let catalog = check_sources(&[(
//!     "shop.seg",
//!     "schema events(amount: number)
//!      feature spend = sum(events.amount where kind = 'purchase')
//!      segment big_spenders = spend >= 100
//!      segment everyone_else = not big_spenders",
//! )])
//! .unwrap();
//! let purchase = |user: &str, ts: u64, amount: i64| EventRow {
//!     user_id: user.to_string(),
//!     ts,
//!     kind: Text::from("purchase"),
//!     fields: vec![Value::Number(amount.into())],
//!     event_id: None,
//! };
//! let data = Dataset {
//!     events: vec![purchase("ann", 10, 60), purchase("ann", 20, 50), purchase("bob", 30, 70)],
//!     ..Dataset::default()
//! };
//! let result = run_dataset(&catalog, Arc::new(data), None, timely::Config::thread()).unwrap();
//! assert_eq!(result.as_of, 30);
//! assert_eq!(result.members, vec![vec!["ann".to_string()], vec!["bob".to_string()]]);
//! ```

#![warn(missing_docs)]

pub mod arith;
pub mod bench;
pub mod catalog;
pub mod choice;
pub mod cli;
pub mod data;
pub mod dataflow;
pub mod engine;
pub mod gen;
pub mod io;
pub mod live;
pub mod plan;
pub mod quoted;
pub mod reference;
pub mod serve;
pub mod sql;
pub mod value;
