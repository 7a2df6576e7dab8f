//! Bagged random-subspace forest of smartcore decision trees.
//!
//! smartcore 0.7's `RandomForestClassifier` exposes neither per-tree votes nor probabilities,
//! and a confidence per window is required; so the forest is assembled here from smartcore
//! `DecisionTreeClassifier`s: each tree gets a class-balanced bootstrap sample and a random
//! feature subspace, all drawn from a seeded SplitMix64 (deterministic).

use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::tree::decision_tree_classifier::{
    DecisionTreeClassifier, DecisionTreeClassifierParameters,
};

use crate::error::{QualityError, Result};
use crate::rng::SplitMix64;

type Tree = DecisionTreeClassifier<f64, u32, DenseMatrix<f64>, Vec<u32>>;

/// Training parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    pub n_trees: usize,
    /// features per tree = max(1, ceil(n_features × fraction))
    pub subspace_fraction: f64,
    pub max_depth: Option<u16>,
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        Self {
            n_trees: 100,
            subspace_fraction: 0.33,
            max_depth: Some(12),
            seed: 0x5eed_0001,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct SubTree {
    features: Vec<u32>,
    tree: Tree,
}

/// Trained forest; classes are `0..n_classes`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Forest {
    n_features: usize,
    n_classes: usize,
    trees: Vec<SubTree>,
}

impl Forest {
    /// Fit on row-major `x` (`n × n_features`) with labels `y < n_classes`.
    pub fn fit(x: &[Vec<f64>], y: &[u32], n_classes: usize, p: &ForestParams) -> Result<Self> {
        let err = |reason: String| QualityError::Train {
            what: "forest",
            reason,
        };
        let n_features = x.first().map_or(0, Vec::len);
        if x.is_empty() || x.len() != y.len() || n_features == 0 || p.n_trees == 0 {
            return Err(err(format!(
                "bad shapes: {} rows, {} labels, {n_features} features",
                x.len(),
                y.len()
            )));
        }
        if x.iter()
            .any(|r| r.len() != n_features || r.iter().any(|v| !v.is_finite()))
        {
            return Err(err("ragged or non-finite feature rows".into()));
        }
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); n_classes];
        for (i, &c) in y.iter().enumerate() {
            by_class
                .get_mut(c as usize)
                .ok_or_else(|| err(format!("label {c} ≥ {n_classes}")))?
                .push(i);
        }
        let present: Vec<&Vec<usize>> = by_class.iter().filter(|v| !v.is_empty()).collect();
        let per_class = x.len() / present.len().max(1);
        let m = ((n_features as f64 * p.subspace_fraction).ceil() as usize).clamp(1, n_features);
        let mut rng = SplitMix64::new(p.seed);
        let mut trees = Vec::with_capacity(p.n_trees);
        for t in 0..p.n_trees {
            // random subspace (partial Fisher–Yates), sorted for locality
            let mut idx: Vec<u32> = (0..n_features as u32).collect();
            for i in 0..m {
                let j = i + rng.below(n_features - i);
                idx.swap(i, j);
            }
            let mut features = idx[..m].to_vec();
            features.sort_unstable();
            // class-balanced bootstrap
            let mut rows = Vec::with_capacity(per_class * present.len());
            for members in &present {
                for _ in 0..per_class {
                    rows.push(members[rng.below(members.len())]);
                }
            }
            let mut vals = Vec::with_capacity(rows.len() * m);
            for &r in &rows {
                vals.extend(features.iter().map(|&f| x[r][f as usize]));
            }
            let xm =
                DenseMatrix::new(rows.len(), m, vals, false).map_err(|e| err(e.to_string()))?;
            let ym: Vec<u32> = rows.iter().map(|&r| y[r]).collect();
            let params = DecisionTreeClassifierParameters {
                max_depth: p.max_depth,
                min_samples_leaf: 1,
                min_samples_split: 2,
                seed: Some(p.seed.wrapping_add(t as u64)),
                ..Default::default()
            };
            let tree = Tree::fit(&xm, &ym, params).map_err(|e| err(e.to_string()))?;
            trees.push(SubTree { features, tree });
        }
        Ok(Self {
            n_features,
            n_classes,
            trees,
        })
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Vote fractions per row (`out[row][class]`, each row sums to 1).
    pub fn predict_proba(&self, x: &[Vec<f64>]) -> Result<Vec<Vec<f64>>> {
        let n = x.len();
        let mut votes = vec![vec![0.0; self.n_classes]; n];
        if n == 0 {
            return Ok(votes);
        }
        if let Some(r) = x.iter().find(|r| r.len() != self.n_features) {
            return Err(QualityError::Predict {
                reason: format!("{} features, model wants {}", r.len(), self.n_features),
            });
        }
        let w = 1.0 / self.trees.len().max(1) as f64;
        let mut vals = Vec::new();
        for st in &self.trees {
            vals.clear();
            for r in x {
                // non-finite features (should not happen: rules run first) are sanitised
                vals.extend(st.features.iter().map(|&f| {
                    let v = r.get(f as usize).copied().unwrap_or(0.0);
                    if v.is_finite() { v } else { 0.0 }
                }));
            }
            let xm = DenseMatrix::new(n, st.features.len(), std::mem::take(&mut vals), false)
                .map_err(|e| QualityError::Predict {
                    reason: e.to_string(),
                })?;
            let pred = st.tree.predict(&xm).map_err(|e| QualityError::Predict {
                reason: e.to_string(),
            })?;
            for (row, c) in pred.iter().enumerate() {
                if let Some(v) = votes.get_mut(row).and_then(|v| v.get_mut(*c as usize)) {
                    *v += w;
                }
            }
            // reclaim the buffer
            vals = Vec::new();
        }
        Ok(votes)
    }
}

/// Index and value of the largest entry (first on ties).
pub(crate) fn argmax(p: &[f64]) -> (usize, f64) {
    p.iter().enumerate().fold(
        (0, f64::NEG_INFINITY),
        |b, (i, &v)| if v > b.1 { (i, v) } else { b },
    )
}
