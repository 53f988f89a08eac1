//! Ordered collections built without the standard library's sort being compiled again for each
//! use. `collect()` into a `BTreeMap` or `BTreeSet` sorts its input first, and every call site
//! (every element and iterator type) compiles its own copy of the stable sort, about 3 KB of
//! the mobile library each; so does every `sort_by` closure. These helpers insert one by one,
//! or sort one `(f64, usize)` key list that every caller shares.

use std::collections::{BTreeMap, BTreeSet};

/// A map of `items` (a later duplicate key wins, as with `collect()`).
pub(crate) fn btree_map<K: Ord, V>(items: impl IntoIterator<Item = (K, V)>) -> BTreeMap<K, V> {
    let mut map = BTreeMap::new();
    map.extend(items);
    map
}

/// A set of `items`.
pub(crate) fn btree_set<T: Ord>(items: impl IntoIterator<Item = T>) -> BTreeSet<T> {
    let mut set = BTreeSet::new();
    set.extend(items);
    set
}

/// OONI's `extensions` map from `(name, version)` pairs.
pub(crate) fn extensions(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    btree_map(
        pairs
            .iter()
            .map(|(name, version)| (name.to_string(), *version)),
    )
}

/// Sorts `items` by `key`, stably (equal keys keep their order; NaN sorts as
/// [`f64::total_cmp`] says). Integer keys up to 2^53 are exact as `f64`.
pub(crate) fn sort_by_f64_key<T>(items: &mut Vec<T>, key: impl Fn(&T) -> f64) {
    if items.len() < 2 {
        return;
    }
    let mut keyed: Vec<(f64, usize)> = items
        .iter()
        .enumerate()
        .map(|(index, item)| (key(item), index))
        .collect();
    sort_keyed(&mut keyed);
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(
        keyed
            .iter()
            .filter_map(|&(_, index)| slots.get_mut(index).and_then(Option::take)),
    );
}

/// Sorts numbers in [`f64::total_cmp`] order.
pub(crate) fn sort_f64(values: &mut [f64]) {
    values.sort_unstable_by(f64::total_cmp);
}

/// The one compiled sort: by key, then by original position (which makes it stable).
fn sort_keyed(keyed: &mut [(f64, usize)]) {
    keyed.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorting_is_stable_and_total() {
        let mut items = vec![
            (3.0, 'a'),
            (1.0, 'b'),
            (3.0, 'c'),
            (f64::NAN, 'd'),
            (-0.5, 'e'),
        ];
        sort_by_f64_key(&mut items, |item| item.0);
        let order: String = items.iter().map(|item| item.1).collect();
        assert_eq!(order, "ebacd");

        let mut indices = vec![5usize, 0, 9, 2, 2];
        sort_by_f64_key(&mut indices, |index| *index as f64);
        assert_eq!(indices, [0, 2, 2, 5, 9]);

        let mut empty: Vec<u8> = Vec::new();
        sort_by_f64_key(&mut empty, |_| 0.0);
        assert!(empty.is_empty());
    }

    #[test]
    fn maps_and_sets_match_collect() {
        let pairs = [("b", 1), ("a", 2), ("b", 3)];
        assert_eq!(
            btree_map(pairs),
            pairs.into_iter().collect::<BTreeMap<_, _>>()
        );
        assert_eq!(
            btree_set([3, 1, 3]),
            [1, 3].into_iter().collect::<BTreeSet<_>>()
        );
        assert_eq!(
            extensions(&[("dnst", 0), ("httpt", 0)]),
            BTreeMap::from([("dnst".to_string(), 0), ("httpt".to_string(), 0)])
        );
    }
}
