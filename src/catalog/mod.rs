//! The definition language: parsing, checking and the checked form.

pub mod ir;
