//! The dense graph: an hnsw_rs index over unit vectors, searched by cosine.
//!
//! The graph is derived data. It is built from the vectors stored in SQLite
//! whenever a collection is opened, so a crash can never leave it corrupt or
//! behind; deleted chunks stay in the graph as tombstones (filtered out at
//! search time) until the collection rebuilds it.

use hnsw_rs::prelude::{Distance, Hnsw};

/// Construction and search settings of the graph.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GraphParams {
    /// Neighbours kept per node and layer (HNSW `M`); more is slower to build, better recall.
    pub max_connections: usize,
    /// Candidate list size while inserting (HNSW `efConstruction`).
    pub ef_construction: usize,
    /// Candidate list size while searching (HNSW `ef`); raised to `k` when `k` is larger.
    pub ef_search: usize,
    /// Fill a node's neighbour list up to `max_connections` with candidates
    /// the diversity heuristic pruned (hnsw_rs `keep_pruned`); helps recall on
    /// high-dimensional data.
    #[serde(default)]
    pub keep_pruned: bool,
}

impl Default for GraphParams {
    fn default() -> Self {
        // Measured on random 384-d unit vectors (a worst case: no cluster
        // structure): recall@10 0.94 at n = 20k, >= 0.98 at n = 5k; see the
        // `graph_recall` test and `benches/index.rs`.
        GraphParams {
            max_connections: 24,
            ef_construction: 200,
            ef_search: 400,
            keep_pruned: false,
        }
    }
}

/// Cosine distance `1 - a·b` for unit vectors, clamped at zero.
///
/// anndists' `DistDot` asserts `1 - a·b >= 0`, which rounding breaks for
/// identical vectors (a transcript repeating a sentence would panic the
/// search), hence this small replacement.
#[derive(Clone, Copy, Debug, Default)]
pub struct CosineDistance;

impl Distance<f32> for CosineDistance {
    fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
        (1.0 - dot(va, vb)).max(0.0)
    }
}

/// Dot product, written with independent accumulators so it vectorises.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks_a = a.chunks_exact(8);
    let chunks_b = b.chunks_exact(8);
    let tail: f32 = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for i in 0..8 {
            acc[i] += ca[i] * cb[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Scales `v` to unit length; false when it is zero or not finite (unusable).
pub fn normalize(v: &mut [f32]) -> bool {
    if v.iter().any(|x| !x.is_finite()) {
        return false;
    }
    let norm = dot(v, v).sqrt();
    if norm <= f32::MIN_POSITIVE {
        return false;
    }
    for x in v.iter_mut() {
        *x /= norm;
    }
    true
}

/// Exact top-k by cosine (brute force); the reference for recall tests and
/// the path for heavily filtered searches.
pub fn exact_top_k<'a>(
    vectors: impl IntoIterator<Item = (usize, &'a [f32])>,
    query: &[f32],
    k: usize,
) -> Vec<(usize, f32)> {
    let mut scored: Vec<(usize, f32)> = vectors
        .into_iter()
        .map(|(id, v)| (id, dot(v, query)))
        .collect();
    sort_by_similarity(&mut scored);
    scored.truncate(k);
    scored
}

pub(crate) fn sort_by_similarity(scored: &mut [(usize, f32)]) {
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
}

/// An HNSW graph over unit vectors keyed by caller ids (chunk row ids).
pub struct DenseGraph {
    hnsw: Hnsw<'static, f32, CosineDistance>,
    dim: usize,
    params: GraphParams,
    points: usize,
}

impl std::fmt::Debug for DenseGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DenseGraph")
            .field("dim", &self.dim)
            .field("params", &self.params)
            .field("points", &self.points)
            .finish()
    }
}

impl DenseGraph {
    /// An empty graph; `capacity` is a hint for the expected number of points.
    pub fn new(dim: usize, params: GraphParams, capacity: usize) -> Self {
        // hnsw_rs exits the process above 256 connections; clamp instead.
        let max_connections = params.max_connections.clamp(2, 255);
        let mut hnsw = Hnsw::new(
            max_connections,
            capacity.max(1_000),
            16,
            params.ef_construction.max(max_connections),
            CosineDistance,
        );
        hnsw.set_keeping_pruned(params.keep_pruned);
        DenseGraph {
            hnsw,
            dim,
            params,
            points: 0,
        }
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Points inserted (tombstones included).
    pub fn len(&self) -> usize {
        self.points
    }

    /// True when nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.points == 0
    }

    /// Settings the graph was built with.
    pub fn params(&self) -> GraphParams {
        self.params
    }

    /// Inserts unit vectors with their ids, in parallel when there are many.
    /// Vectors of the wrong dimension are the caller's bug and are skipped.
    pub fn insert_batch(&mut self, items: &[(&[f32], usize)]) {
        let valid: Vec<(&[f32], usize)> = items
            .iter()
            .copied()
            .filter(|(v, _)| v.len() == self.dim)
            .collect();
        if valid.len() >= 256 {
            self.hnsw.parallel_insert_slice(&valid);
        } else {
            for item in &valid {
                self.hnsw.insert_slice(*item);
            }
        }
        self.points += valid.len();
    }

    /// The `k` nearest ids with their cosine similarity, best first; ids
    /// rejected by `accept` are skipped during the walk.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<(usize, f32)> {
        if self.points == 0 || k == 0 || query.len() != self.dim {
            return Vec::new();
        }
        let ef = ef.max(k);
        let neighbours = match accept {
            Some(accept) => {
                let filter = |id: &usize| accept(*id);
                self.hnsw.search_filter(query, k, ef, Some(&filter))
            }
            None => self.hnsw.search(query, k, ef),
        };
        let mut out: Vec<(usize, f32)> = neighbours
            .into_iter()
            .map(|n| (n.d_id, 1.0 - n.distance))
            .collect();
        sort_by_similarity(&mut out);
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let mut v = v.to_vec();
        assert!(normalize(&mut v));
        v
    }

    #[test]
    fn dot_matches_naive_sum() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.1).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
    }

    #[test]
    fn normalize_rejects_zero_and_nan() {
        assert!(!normalize(&mut [0.0, 0.0]));
        assert!(!normalize(&mut [f32::NAN, 1.0]));
        let v = unit(&[3.0, 4.0]);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
    }

    #[test]
    fn finds_nearest_and_survives_duplicates() {
        let mut graph = DenseGraph::new(3, GraphParams::default(), 10);
        let a = unit(&[1.0, 0.0, 0.0]);
        let b = unit(&[0.0, 1.0, 0.0]);
        let c = unit(&[0.9, 0.1, 0.0]);
        // The same vector twice: DistDot would assert on the rounding here.
        graph.insert_batch(&[(&a, 1), (&b, 2), (&c, 3), (&a, 4)]);
        let hits = graph.search(&a, 3, 16, None);
        let ids: Vec<usize> = hits.iter().map(|h| h.0).collect();
        assert_eq!(&ids[..2], &[1, 4]);
        assert_eq!(ids[2], 3);
        assert!((hits[0].1 - 1.0).abs() < 1e-5);
        let only_b = |id: usize| id == 2;
        let filtered = graph.search(&a, 3, 16, Some(&only_b));
        assert_eq!(filtered.iter().map(|h| h.0).collect::<Vec<_>>(), vec![2]);
    }
}
