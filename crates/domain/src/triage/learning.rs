//! The linear models: softmax regression with a fitted temperature, and the baseline SVM.

use super::*;

/// How a linear model is trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learner {
    /// Softmax regression with a fitted temperature: probabilities.
    Softmax,
    /// One-vs-rest linear SVM (hinge loss, Pegasos): margins.
    Svm,
}

/// One linear model per label of a family.
#[derive(Debug, Clone)]
pub(super) struct Linear {
    pub(super) labels: Vec<String>,
    /// Per label: weights over the hashed space (scaled by `scale`), and a bias.
    pub(super) weights: Vec<Vec<f32>>,
    pub(super) bias: Vec<f32>,
    pub(super) temperature: f32,
}

pub(super) const EPOCHS: usize = 6;
pub(super) const LAMBDA: f32 = 1e-5;

/// A deterministic shuffle (xorshift seeded by `seed`).
pub(super) fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut state = seed | 1;
    for i in (1..n).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = (state % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

impl Linear {
    pub(super) fn train(
        xs: &[&Sparse],
        ys: &[usize],
        labels: Vec<String>,
        learner: Learner,
        seed: u64,
    ) -> Self {
        let k = labels.len();
        let mut weights = vec![vec![0f32; BUCKETS]; k];
        let mut bias = vec![0f32; k];
        // w = scale × v keeps the L2 shrinkage O(1) per step on sparse data.
        let mut scale = 1f32;
        let mut t = 1f32;
        for epoch in 0..EPOCHS {
            for &i in &shuffled(xs.len(), seed + epoch as u64) {
                let (x, y) = (xs[i], ys[i]);
                let eta = match learner {
                    Learner::Softmax => 0.5 / (1.0 + t * LAMBDA * 50.0),
                    Learner::Svm => 1.0 / (LAMBDA * (t + 1000.0)),
                };
                t += 1.0;
                scale *= 1.0 - eta * LAMBDA;
                if scale < 1e-6 {
                    for w in &mut weights {
                        w.iter_mut().for_each(|v| *v *= scale);
                    }
                    scale = 1.0;
                }
                let scores: Vec<f32> = (0..k)
                    .map(|c| scale * dot(&weights[c], x) + bias[c])
                    .collect();
                let gradients: Vec<f32> = match learner {
                    Learner::Softmax => {
                        let p = softmax(&scores, 1.0);
                        (0..k)
                            .map(|c| p[c] - if c == y { 1.0 } else { 0.0 })
                            .collect()
                    }
                    Learner::Svm => (0..k)
                        .map(|c| {
                            let sign = if c == y { 1.0 } else { -1.0 };
                            if sign * scores[c] < 1.0 { -sign } else { 0.0 }
                        })
                        .collect(),
                };
                for (c, g) in gradients.into_iter().enumerate() {
                    if g == 0.0 {
                        continue;
                    }
                    let step = eta * g / scale;
                    for &(j, v) in x {
                        weights[c][j as usize] -= step * v;
                    }
                    bias[c] -= eta * g * 0.1;
                }
            }
        }
        for w in &mut weights {
            w.iter_mut().for_each(|v| *v *= scale);
        }
        Linear {
            labels,
            weights,
            bias,
            temperature: 1.0,
        }
    }

    pub(super) fn scores(&self, x: &Sparse) -> Vec<f32> {
        self.weights
            .iter()
            .zip(&self.bias)
            .map(|(w, b)| dot(w, x) + b)
            .collect()
    }

    /// Fits the softmax temperature that makes the held-out examples most likely.
    pub(super) fn calibrate(&mut self, xs: &[&Sparse], ys: &[usize]) {
        if xs.is_empty() {
            return;
        }
        let scores: Vec<Vec<f32>> = xs.iter().map(|x| self.scores(x)).collect();
        let loss = |temperature: f32| -> f32 {
            scores
                .iter()
                .zip(ys)
                .map(|(s, &y)| -softmax(s, temperature)[y].max(1e-9).ln())
                .sum()
        };
        let mut best = (f32::MAX, 1.0);
        for step in 0..=40 {
            let temperature = 0.1 * 1.12f32.powi(step);
            let l = loss(temperature);
            if l < best.0 {
                best = (l, temperature);
            }
        }
        self.temperature = best.1;
    }

    pub(super) fn memory_bytes(&self) -> usize {
        self.weights.len() * BUCKETS * 4
    }
}

pub(super) fn softmax(scores: &[f32], temperature: f32) -> Vec<f32> {
    let max = scores.iter().copied().fold(f32::MIN, f32::max);
    let exps: Vec<f32> = scores
        .iter()
        .map(|s| ((s - max) / temperature).exp())
        .collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}
