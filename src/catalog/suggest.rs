//! "Did you mean" suggestions for misspelt names.
//!
//! The distance is the optimal-string-alignment edit distance (insertions, deletions,
//! substitutions and swaps of neighbours each cost one), compared case-insensitively:
//! swapped letters (`scroe`) are the most common typo and should cost one edit, not two.

/// The candidate closest to `name`, if it is close enough to be a plausible typo: at
/// most a third of the name's length away (at least one edit), and nearer than a
/// wholesale replacement of either word.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let wanted = name.to_lowercase();
    let limit = (name.chars().count() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let d = distance(&wanted, &candidate.to_lowercase());
        let plausible = d <= limit && d < candidate.chars().count() && d < name.chars().count();
        if plausible && best.is_none_or(|(best_d, _)| d < best_d) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// "did you mean `x`?" for the closest candidate, or `otherwise` when none is close.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    otherwise: &str,
) -> String {
    match closest(name, candidates) {
        Some(candidate) => format!("did you mean `{candidate}`?"),
        None => otherwise.to_string(),
    }
}

fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rolling rows of the dynamic programme: two rows back (for swaps), the
    // previous row and the current one.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            current[j] = d;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("purchse", "purchases"), 2);
        assert_eq!(distance("scroe", "score"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggests_the_nearest_plausible_name() {
        let names = ["purchases", "ltv", "churn"];
        assert_eq!(closest("purchse", names), Some("purchases"));
        assert_eq!(closest("Churn", names), Some("churn"));
        assert_eq!(closest("ltx", names), Some("ltv"));
        assert_eq!(closest("zzzzzz", names), None);
        // A one-letter name is not a typo of another one-letter name.
        assert_eq!(closest("x", ["y"]), None);
    }

    #[test]
    fn falls_back_when_nothing_is_close() {
        assert_eq!(
            did_you_mean("cout", ["count"], "?"),
            "did you mean `count`?"
        );
        assert_eq!(
            did_you_mean("qqqq", ["count"], "no such thing"),
            "no such thing"
        );
    }
}
