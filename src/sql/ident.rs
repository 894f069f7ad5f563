//! SQL names and strings: quoting, and one identifier per catalog name.
//!
//! DuckDB matches identifiers without regard to case, quoted or not, so `Churn` and
//! `churn` (two names in a catalog) would be one name in SQL. A catalog name can also
//! meet one of the compiler's own names (a segment called `features`, a feature called
//! `user_id`). [`Idents`] hands each wanted name out once and renames later claimants
//! `name_2`, `name_3`, ... so the query always binds, whatever the catalog calls things.

use std::collections::HashSet;

/// `"name"`, with inner double quotes doubled.
pub(super) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`, with inner single quotes doubled (SQL strings have no backslash escapes).
pub(super) fn quote_str(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The identifiers taken in one namespace (the query's CTEs, or one table's columns).
#[derive(Debug, Default)]
pub(super) struct Idents {
    taken: HashSet<String>,
}

impl Idents {
    /// A namespace whose `names` are taken already (the compiler's own names).
    pub fn with(names: &[&str]) -> Idents {
        Idents {
            taken: names.iter().map(|n| n.to_lowercase()).collect(),
        }
    }

    /// Whether `name` is still free.
    pub fn is_free(&self, name: &str) -> bool {
        !self.taken.contains(&name.to_lowercase())
    }

    /// A quoted identifier for `wanted`: `wanted` itself if free, else the first free
    /// `wanted_N` (N = 2, 3, ...).
    pub fn claim(&mut self, wanted: &str) -> String {
        let mut name = wanted.to_string();
        let mut n = 1;
        while !self.is_free(&name) {
            n += 1;
            name = format!("{wanted}_{n}");
        }
        self.taken.insert(name.to_lowercase());
        quote_ident(&name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_regardless_of_case() {
        let mut idents = Idents::with(&["features", "user_id"]);
        assert_eq!(idents.claim("churn"), "\"churn\"");
        assert_eq!(idents.claim("Churn"), "\"Churn_2\"");
        assert_eq!(idents.claim("Features"), "\"Features_2\"");
        assert_eq!(idents.claim("user_id"), "\"user_id_2\"");
        assert_eq!(idents.claim("churn_2"), "\"churn_2_2\"");
    }

    #[test]
    fn quotes_are_doubled() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_str("it's"), "'it''s'");
        assert_eq!(
            quote_ident("count(events where kind = 'x')"),
            "\"count(events where kind = 'x')\""
        );
    }
}
