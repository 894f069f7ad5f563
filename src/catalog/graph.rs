//! Reference graphs between definitions: dependency order and cycles.
//!
//! Used twice: for features defined as another feature (`feature a = b`) and for
//! segments that reference segments. The search is iterative so a long chain of
//! definitions cannot overflow the stack.

use super::source::Span;

/// A cycle of references: `path` starts and ends at the same node (`a -> b -> a`), and
/// `span` is the reference that closes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cycle {
    pub path: Vec<usize>,
    pub span: Span,
}

#[derive(Copy, Clone, PartialEq, Eq)]
enum Mark {
    Unvisited,
    OnPath,
    Done,
}

/// Walks the graph whose node `i` references the nodes `edges[i]` (each with the span of
/// the reference). Returns every node with its references before it (wherever there
/// is no cycle) and the cycles found, one per reference that closes a cycle.
pub(crate) fn analyze(edges: &[Vec<(usize, Span)>]) -> (Vec<usize>, Vec<Cycle>) {
    let mut mark = vec![Mark::Unvisited; edges.len()];
    let mut order = Vec::with_capacity(edges.len());
    let mut cycles = Vec::new();
    for root in 0..edges.len() {
        if mark[root] != Mark::Unvisited {
            continue;
        }
        // The current path, each node with the index of its next reference to follow.
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::OnPath;
        while let Some((node, next)) = path.last_mut() {
            let node = *node;
            match edges[node].get(*next) {
                Some(&(target, span)) => {
                    *next += 1;
                    match mark[target] {
                        Mark::Unvisited => {
                            mark[target] = Mark::OnPath;
                            path.push((target, 0));
                        }
                        Mark::OnPath => {
                            let from = path.iter().position(|&(n, _)| n == target).unwrap_or(0);
                            let mut nodes: Vec<usize> =
                                path[from..].iter().map(|&(n, _)| n).collect();
                            nodes.push(target);
                            cycles.push(Cycle { path: nodes, span });
                        }
                        Mark::Done => {}
                    }
                }
                None => {
                    mark[node] = Mark::Done;
                    order.push(node);
                    path.pop();
                }
            }
        }
    }
    (order, cycles)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(target: usize) -> (usize, Span) {
        (target, Span::new(0, target, target + 1))
    }

    #[test]
    fn references_come_first() {
        // 0 -> 1 -> 2, 3 -> 1
        let edges = vec![vec![edge(1)], vec![edge(2)], vec![], vec![edge(1)]];
        let (order, cycles) = analyze(&edges);
        assert_eq!(order, [2, 1, 0, 3]);
        assert!(cycles.is_empty());
    }

    #[test]
    fn finds_cycles_and_self_references() {
        // 0 -> 1 -> 2 -> 0, 3 -> 3
        let edges = vec![vec![edge(1)], vec![edge(2)], vec![edge(0)], vec![edge(3)]];
        let (order, cycles) = analyze(&edges);
        assert_eq!(order.len(), 4);
        assert_eq!(cycles.len(), 2);
        assert_eq!(cycles[0].path, [0, 1, 2, 0]);
        assert_eq!(cycles[0].span, Span::new(0, 0, 1));
        assert_eq!(cycles[1].path, [3, 3]);
    }

    #[test]
    fn long_chains_do_not_overflow_the_stack() {
        let n = 200_000;
        let edges: Vec<_> = (0..n)
            .map(|i| if i + 1 < n { vec![edge(i + 1)] } else { vec![] })
            .collect();
        let (order, cycles) = analyze(&edges);
        assert_eq!(order.first(), Some(&(n - 1)));
        assert!(cycles.is_empty());
    }
}
