//! The offline triage assistant: from a new ticket's words it suggests a category, a group
//! and a priority, each with a calibrated confidence and the words behind it, and finds the
//! most similar past tickets. It learns from the desk's own history; nothing leaves the
//! process and nothing is downloaded.
//!
//! Text becomes a TF-IDF vector over hashed features — words, word pairs and the letter
//! trigrams of each word (so "pritner" still shares most of its features with "printer") —
//! and one softmax-regression model per label family turns it into probabilities, whose
//! temperature is fitted on held-out tickets so that 0.8 means right about four times in
//! five. Similar tickets come from an inverted index over the word features. The baseline
//! it is measured against is the textbook one: word TF-IDF and a one-vs-rest linear SVM.

use std::collections::HashMap;

/// Hashed feature space: big enough that collisions are rare, small enough to stay in memory.
const BUCKETS: usize = 1 << 18;

/// Words too common to say anything about a ticket.
const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at",
    "be", "been", "but", "by", "can", "could", "did", "do", "does", "for", "from", "get", "got",
    "had", "has", "have", "hello", "hi", "how", "i", "if", "in", "into", "is", "it", "its", "just",
    "me", "my", "no", "not", "now", "of", "on", "or", "our", "please", "so", "some", "still",
    "thanks", "that", "the", "their", "them", "then", "there", "this", "to", "us", "was", "we",
    "were", "what", "when", "which", "with", "would", "you", "your",
];

/// A labelled ticket to learn from (or to evaluate on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub title: String,
    pub description: String,
    /// Category, group and priority, as far as known.
    pub labels: [Option<String>; 3],
}

/// The label families the assistant suggests, in the order of [`Example::labels`].
pub const FAMILIES: [&str; 3] = ["category", "group", "priority"];

/// What features a model reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Features {
    /// Words, word pairs and letter trigrams; the title counts twice.
    Rich,
    /// Words only: the baseline's.
    Words,
}

fn hash(parts: &[&str]) -> u32 {
    // FNV-1a: fast, stable across runs and platforms (models are compared between runs).
    let mut h: u32 = 0x811c_9dc5;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            h ^= 0x1f;
            h = h.wrapping_mul(0x0100_0193);
        }
        for byte in part.bytes() {
            h ^= u32::from(byte);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h % BUCKETS as u32
}

/// The words of a text: lower case, letters and digits, stop words left out.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .collect()
}

/// How alike two texts are: the cosine of their word vectors, from 0 to 1. With a model,
/// each word weighs as much as it is rare in the tickets it learned from ("down" says
/// little, "vpn" much); without one, every word weighs the same.
pub fn similarity(model: Option<&Model>, a: &str, b: &str) -> f32 {
    let vector = |text: &str| {
        let ids: Vec<u32> = words(text).iter().map(|w| hash(&["w", w])).collect();
        match model {
            Some(model) => model.idf.vector(&ids),
            None => weighted(&ids, |_| 1.0),
        }
    };
    cosine(&vector(a), &vector(b)).clamp(0.0, 1.0)
}

/// Groups alike texts: each text joins the first group whose centre (the sum of its texts'
/// vectors) it is at least `threshold` alike to, or starts a group; a centre, unlike a
/// group's first text, does not hang on how that one happened to be worded. Texts without
/// words join none. Groups come largest first, each in the order of `texts`.
pub fn clusters(texts: &[&str], model: Option<&Model>, threshold: f32) -> Vec<Vec<usize>> {
    let mut groups: Vec<(Sparse, Vec<usize>)> = Vec::new();
    for (index, text) in texts.iter().enumerate() {
        let ids: Vec<u32> = words(text).iter().map(|w| hash(&["w", w])).collect();
        let vector = match model {
            Some(model) => model.idf.vector(&ids),
            None => weighted(&ids, |_| 1.0),
        };
        if vector.is_empty() {
            continue;
        }
        let alike = |centre: &Sparse| {
            let norm = centre.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
            norm > 0.0 && cosine(centre, &vector) / norm >= threshold
        };
        match groups.iter_mut().find(|(centre, _)| alike(centre)) {
            Some((centre, members)) => {
                *centre = added(centre, &vector);
                members.push(index);
            }
            None => groups.push((vector, vec![index])),
        }
    }
    let mut groups: Vec<Vec<usize>> = groups.into_iter().map(|(_, members)| members).collect();
    groups.sort_by_key(|group| std::cmp::Reverse(group.len()));
    groups
}

/// The sum of two sparse vectors sorted by feature.
fn added(a: &Sparse, b: &Sparse) -> Sparse {
    let mut sum = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                sum.push((x.0, x.1 + y.1));
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.0 < y.0 => {
                sum.push(*x);
                i += 1;
            }
            (Some(x), None) => {
                sum.push(*x);
                i += 1;
            }
            (_, Some(y)) => {
                sum.push(*y);
                j += 1;
            }
            (None, None) => break,
        }
    }
    sum
}

/// The dot product of two sparse vectors sorted by feature: their cosine when both are
/// L2-normalised.
fn cosine(a: &Sparse, b: &Sparse) -> f32 {
    let (mut i, mut j, mut sum) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                sum += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    sum
}

/// A ticket's hashed features (with repeats), and the word behind each word feature.
fn featurize(title: &str, description: &str, kind: Features) -> (Vec<u32>, Vec<(u32, String)>) {
    let mut ids = Vec::new();
    let mut named = Vec::new();
    let title_words = words(title);
    let body_words = words(description);
    let passes: &[&[String]] = match kind {
        Features::Rich => &[&title_words, &title_words, &body_words],
        Features::Words => &[&title_words, &body_words],
    };
    for text in passes {
        for (i, word) in text.iter().enumerate() {
            let id = hash(&["w", word]);
            ids.push(id);
            named.push((id, word.clone()));
            if kind == Features::Rich {
                if let Some(next) = text.get(i + 1) {
                    ids.push(hash(&["b", word, next]));
                }
                let padded: Vec<char> = format!("^{word}$").chars().collect();
                for gram in padded.windows(3) {
                    let gram: String = gram.iter().collect();
                    ids.push(hash(&["c", &gram]));
                }
            }
        }
    }
    (ids, named)
}

/// A sparse vector: (feature, value), sorted by feature.
type Sparse = Vec<(u32, f32)>;

fn dot(weights: &[f32], x: &Sparse) -> f32 {
    x.iter().map(|&(i, v)| weights[i as usize] * v).sum()
}

/// Inverse document frequencies over the hashed space.
#[derive(Debug, Clone)]
struct Idf(Vec<f32>);

impl Idf {
    fn fit(documents: &[Vec<u32>]) -> Self {
        let mut df = vec![0u32; BUCKETS];
        for ids in documents {
            let mut seen: Vec<u32> = ids.clone();
            seen.sort_unstable();
            seen.dedup();
            for id in seen {
                df[id as usize] += 1;
            }
        }
        let n = documents.len() as f32;
        Idf(df
            .into_iter()
            .map(|d| ((1.0 + n) / (1.0 + d as f32)).ln() + 1.0)
            .collect())
    }

    /// Sublinear term frequency × idf, L2-normalised.
    fn vector(&self, ids: &[u32]) -> Sparse {
        weighted(ids, |id| self.0[id as usize])
    }
}

/// Sublinear term frequency × `weight`, L2-normalised.
fn weighted(ids: &[u32], weight: impl Fn(u32) -> f32) -> Sparse {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    let mut x: Sparse = Vec::with_capacity(sorted.len());
    for id in sorted {
        match x.last_mut() {
            Some((last, count)) if *last == id => *count += 1.0,
            _ => x.push((id, 1.0)),
        }
    }
    for (id, value) in &mut x {
        *value = (1.0 + value.ln()) * weight(*id);
    }
    let norm = x.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (_, value) in &mut x {
            *value /= norm;
        }
    }
    x
}

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
struct Linear {
    labels: Vec<String>,
    /// Per label: weights over the hashed space (scaled by `scale`), and a bias.
    weights: Vec<Vec<f32>>,
    bias: Vec<f32>,
    temperature: f32,
}

const EPOCHS: usize = 6;
const LAMBDA: f32 = 1e-5;

/// A deterministic shuffle (xorshift seeded by `seed`).
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
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
    fn train(
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

    fn scores(&self, x: &Sparse) -> Vec<f32> {
        self.weights
            .iter()
            .zip(&self.bias)
            .map(|(w, b)| dot(w, x) + b)
            .collect()
    }

    /// Fits the softmax temperature that makes the held-out examples most likely.
    fn calibrate(&mut self, xs: &[&Sparse], ys: &[usize]) {
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

    fn memory_bytes(&self) -> usize {
        self.weights.len() * BUCKETS * 4
    }
}

fn softmax(scores: &[f32], temperature: f32) -> Vec<f32> {
    let max = scores.iter().copied().fold(f32::MIN, f32::max);
    let exps: Vec<f32> = scores
        .iter()
        .map(|s| ((s - max) / temperature).exp())
        .collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// How to train.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainOptions {
    pub features: Features,
    pub learner: Learner,
    /// Below this confidence a family's suggestion is withheld.
    pub decline_below: f32,
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            features: Features::Rich,
            learner: Learner::Softmax,
            decline_below: 0.35,
            seed: 7,
        }
    }
}

impl TrainOptions {
    /// The baseline: word TF-IDF and a one-vs-rest linear SVM.
    pub fn baseline() -> Self {
        Self {
            features: Features::Words,
            learner: Learner::Svm,
            ..Self::default()
        }
    }
}

/// One suggested label.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub label: String,
    pub score: f32,
    /// The words of the ticket that pushed most towards this label.
    pub because: Vec<String>,
}

/// What the assistant suggests for one ticket.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Suggestion {
    /// Per family (category, group, priority): the best labels, most likely first; empty
    /// when the assistant declines (not confident enough, or nothing to learn from).
    pub families: [Vec<Scored>; 3],
    /// Past tickets most like this one: (index into the training examples, cosine).
    pub similar: Vec<(usize, f32)>,
}

/// A trained assistant.
#[derive(Debug, Clone)]
pub struct Model {
    options: TrainOptions,
    idf: Idf,
    families: [Option<Linear>; 3],
    /// Word-feature postings for similarity: feature → (example, weight).
    postings: HashMap<u32, Vec<(u32, f32)>>,
    trained_on: usize,
}

impl Model {
    pub fn train(examples: &[Example], options: &TrainOptions) -> Self {
        let features: Vec<Vec<u32>> = examples
            .iter()
            .map(|e| featurize(&e.title, &e.description, options.features).0)
            .collect();
        let idf = Idf::fit(&features);
        let vectors: Vec<Sparse> = features.iter().map(|ids| idf.vector(ids)).collect();
        let families = std::array::from_fn(|family| {
            let labelled: Vec<(usize, &str)> = examples
                .iter()
                .enumerate()
                .filter_map(|(i, e)| e.labels[family].as_deref().map(|l| (i, l)))
                .collect();
            let mut labels: Vec<String> = labelled.iter().map(|(_, l)| (*l).to_owned()).collect();
            labels.sort();
            labels.dedup();
            if labels.len() < 2 {
                return None;
            }
            let index: HashMap<&str, usize> = labels
                .iter()
                .enumerate()
                .map(|(i, l)| (l.as_str(), i))
                .collect();
            // One in ten held out to fit the confidence scale (when there are enough).
            let held = |i: usize| labelled.len() >= 50 && i.is_multiple_of(10);
            let (mut fit_x, mut fit_y, mut cal_x, mut cal_y) = (vec![], vec![], vec![], vec![]);
            for (n, (i, label)) in labelled.iter().enumerate() {
                let (xs, ys) = if held(n) {
                    (&mut cal_x, &mut cal_y)
                } else {
                    (&mut fit_x, &mut fit_y)
                };
                xs.push(&vectors[*i]);
                ys.push(index[label]);
            }
            let mut model = Linear::train(&fit_x, &fit_y, labels, options.learner, options.seed);
            if options.learner == Learner::Softmax {
                model.calibrate(&cal_x, &cal_y);
            }
            Some(model)
        });
        let mut postings: HashMap<u32, Vec<(u32, f32)>> = HashMap::new();
        for (doc, example) in examples.iter().enumerate() {
            let ids = featurize(&example.title, &example.description, Features::Words).0;
            for (id, weight) in idf.vector(&ids) {
                postings.entry(id).or_default().push((doc as u32, weight));
            }
        }
        Model {
            options: *options,
            idf,
            families,
            postings,
            trained_on: examples.len(),
        }
    }

    pub fn trained_on(&self) -> usize {
        self.trained_on
    }

    /// The labels the model knows for a family.
    pub fn labels(&self, family: usize) -> &[String] {
        self.families[family]
            .as_ref()
            .map_or(&[][..], |m| m.labels.as_slice())
    }

    /// Suggestions for a ticket: up to `top` labels per family and `similar` past tickets.
    pub fn suggest(
        &self,
        title: &str,
        description: &str,
        top: usize,
        similar: usize,
    ) -> Suggestion {
        let (ids, named) = featurize(title, description, self.options.features);
        let x = self.idf.vector(&ids);
        let families = std::array::from_fn(|family| {
            let Some(model) = &self.families[family] else {
                return Vec::new();
            };
            let scores = model.scores(&x);
            let probabilities = match self.options.learner {
                Learner::Softmax => softmax(&scores, model.temperature),
                Learner::Svm => softmax(&scores, 1.0),
            };
            let mut ranked: Vec<(usize, f32)> = probabilities.into_iter().enumerate().collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
            if ranked
                .first()
                .is_none_or(|(_, p)| *p < self.options.decline_below)
            {
                return Vec::new();
            }
            ranked
                .into_iter()
                .take(top)
                .map(|(label, score)| Scored {
                    label: model.labels[label].clone(),
                    score,
                    because: evidence(&model.weights[label], &x, &named),
                })
                .collect()
        });
        Suggestion {
            families,
            similar: self.similar(title, description, similar),
        }
    }

    /// The training examples most like a ticket, by cosine over word features.
    fn similar(&self, title: &str, description: &str, k: usize) -> Vec<(usize, f32)> {
        if k == 0 {
            return Vec::new();
        }
        let ids = featurize(title, description, Features::Words).0;
        // Dense accumulators: one add per posting, no hashing.
        let mut scores = vec![0f32; self.trained_on];
        for (id, weight) in self.idf.vector(&ids) {
            for &(doc, w) in self.postings.get(&id).map_or(&[][..], Vec::as_slice) {
                scores[doc as usize] += weight * w;
            }
        }
        let mut ranked: Vec<(usize, f32)> = scores
            .into_iter()
            .enumerate()
            .filter(|(_, score)| *score > 0.0)
            .collect();
        let by_score = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if ranked.len() > k {
            ranked.select_nth_unstable_by(k, by_score);
            ranked.truncate(k);
        }
        ranked.sort_by(by_score);
        ranked
    }

    /// Approximate memory held: weights, idf and postings.
    pub fn memory_bytes(&self) -> usize {
        let weights: usize = self
            .families
            .iter()
            .flatten()
            .map(Linear::memory_bytes)
            .sum();
        let postings: usize = self.postings.values().map(|p| p.len() * 8 + 32).sum();
        weights + BUCKETS * 4 + postings
    }
}

/// The ticket's words that push most towards a label.
fn evidence(weights: &[f32], x: &Sparse, named: &[(u32, String)]) -> Vec<String> {
    let mut pushes: Vec<(f32, &str)> = named
        .iter()
        .filter_map(|(id, word)| {
            let value = x[x.binary_search_by_key(id, |(j, _)| *j).ok()?].1;
            Some((weights[*id as usize] * value, word.as_str()))
        })
        .filter(|(push, _)| *push > 0.0)
        .collect();
    pushes.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut words: Vec<String> = Vec::new();
    for (_, word) in pushes {
        if !words.iter().any(|w| w == word) {
            words.push(word.to_owned());
        }
        if words.len() == 5 {
            break;
        }
    }
    words
}

/// A deterministic split: every example lands in the test part with `fraction` probability.
pub fn split(examples: &[Example], fraction: f64, seed: u64) -> (Vec<Example>, Vec<Example>) {
    let order = shuffled(examples.len(), seed);
    let test_count = (examples.len() as f64 * fraction).round() as usize;
    let mut train = Vec::with_capacity(examples.len() - test_count);
    let mut test = Vec::with_capacity(test_count);
    for (position, &i) in order.iter().enumerate() {
        if position < test_count {
            test.push(examples[i].clone());
        } else {
            train.push(examples[i].clone());
        }
    }
    (train, test)
}

/// Misspells about `rate` of the words of longer than three letters in each example (two
/// neighbouring letters swapped, as hurried typing does), deterministically by `seed`: to
/// measure how suggestions hold up against real-world typing.
pub fn misspell(examples: &mut [Example], rate: f64, seed: u64) {
    let mut state = seed | 1;
    let mut roll = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 10_000) as f64 / 10_000.0
    };
    let mut garble = |text: &str| -> String {
        text.split(' ')
            .map(|word| {
                let mut letters: Vec<char> = word.chars().collect();
                if letters.len() > 3 && letters.iter().all(|c| c.is_alphabetic()) && roll() < rate {
                    let last = letters.len() - 1;
                    let at = 1 + (roll() * (last - 1) as f64) as usize;
                    letters.swap(at, (at + 1).min(last));
                }
                letters.into_iter().collect::<String>()
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    for example in examples {
        example.title = garble(&example.title);
        example.description = garble(&example.description);
    }
}

/// How well a model does on labelled examples it did not learn from.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Accuracy {
    pub top1: f64,
    pub top3: f64,
    pub macro_f1: f64,
    /// Of the 5 most similar training tickets, the share in the test ticket's category.
    pub similar_precision_at_5: f64,
}

/// Evaluates category suggestions (with the decline threshold off) and similarity.
pub fn evaluate(model: &Model, train: &[Example], test: &[Example]) -> Accuracy {
    let probe = Model {
        options: TrainOptions {
            decline_below: 0.0,
            ..model.options
        },
        ..model.clone()
    };
    let mut predicted: Vec<(String, String)> = Vec::new();
    let (mut top1, mut top3, mut precision, mut counted) = (0usize, 0usize, 0.0f64, 0usize);
    for example in test {
        let Some(truth) = &example.labels[0] else {
            continue;
        };
        counted += 1;
        let suggestion = probe.suggest(&example.title, &example.description, 3, 5);
        let ranked = &suggestion.families[0];
        if ranked.first().is_some_and(|s| &s.label == truth) {
            top1 += 1;
        }
        if ranked.iter().any(|s| &s.label == truth) {
            top3 += 1;
        }
        predicted.push((
            truth.clone(),
            ranked.first().map(|s| s.label.clone()).unwrap_or_default(),
        ));
        if !suggestion.similar.is_empty() {
            let same = suggestion
                .similar
                .iter()
                .filter(|(i, _)| train[*i].labels[0].as_ref() == Some(truth))
                .count();
            precision += same as f64 / 5.0;
        }
    }
    if counted == 0 {
        return Accuracy::default();
    }
    Accuracy {
        top1: top1 as f64 / counted as f64,
        top3: top3 as f64 / counted as f64,
        macro_f1: macro_f1(&predicted),
        similar_precision_at_5: precision / counted as f64,
    }
}

/// The mean over true labels of each label's F1 score, from (truth, prediction) pairs.
pub fn macro_f1(pairs: &[(String, String)]) -> f64 {
    let mut labels: Vec<&str> = pairs.iter().map(|(t, _)| t.as_str()).collect();
    labels.sort_unstable();
    labels.dedup();
    if labels.is_empty() {
        return 0.0;
    }
    let f1 = |label: &str| {
        let tp = pairs
            .iter()
            .filter(|(t, p)| t == label && p == label)
            .count() as f64;
        let fp = pairs
            .iter()
            .filter(|(t, p)| t != label && p == label)
            .count() as f64;
        let fneg = pairs
            .iter()
            .filter(|(t, p)| t == label && p != label)
            .count() as f64;
        if tp == 0.0 {
            0.0
        } else {
            2.0 * tp / (2.0 * tp + fp + fneg)
        }
    };
    labels.iter().map(|l| f1(l)).sum::<f64>() / labels.len() as f64
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn example(title: &str, category: &str, group: &str) -> Example {
        Example {
            title: title.into(),
            description: String::new(),
            labels: [Some(category.into()), Some(group.into()), None],
        }
    }

    #[test]
    fn a_word_common_in_the_tickets_makes_texts_less_alike_than_a_rare_one() {
        let mut examples = desk();
        for i in 0..100 {
            examples.push(example(&format!("server {i} is down"), "Servers", "Infra"));
        }
        let model = Model::train(&examples, &TrainOptions::default());
        let weighed = similarity(Some(&model), "server down", "printer down");
        let counted = similarity(None, "server down", "printer down");
        assert!((counted - 0.5).abs() < 1e-5, "{counted}");
        assert!(weighed < counted, "{weighed} vs {counted}");
        assert!((similarity(Some(&model), "vpn drops", "VPN drops!") - 1.0).abs() < 1e-5);
        assert_eq!(similarity(None, "printer", "vpn"), 0.0);
        assert_eq!(similarity(None, "", "vpn"), 0.0);
    }

    #[test]
    fn alike_texts_group_together_largest_group_first() {
        let texts = [
            "VPN is down",
            "printer jam",
            "vpn down again",
            "printer jam on floor 2",
            "VPN down for everyone",
            "the",
        ];
        assert_eq!(clusters(&texts, None, 0.5), vec![vec![0, 2, 4], vec![1, 3]]);
    }

    fn desk() -> Vec<Example> {
        let mut examples = Vec::new();
        for i in 0..20 {
            examples.push(example(
                &format!("printer jam tray {i}"),
                "Printer",
                "Field",
            ));
            examples.push(example(
                &format!("printer toner empty {i}"),
                "Printer",
                "Field",
            ));
            examples.push(example(
                &format!("vpn drops connection {i}"),
                "Network",
                "Tier 2",
            ));
            examples.push(example(
                &format!("vpn client will not connect {i}"),
                "Network",
                "Tier 2",
            ));
            examples.push(example(
                &format!("password expired reset {i}"),
                "Accounts",
                "Tier 1",
            ));
            examples.push(example(
                &format!("locked out password {i}"),
                "Accounts",
                "Tier 1",
            ));
        }
        examples
    }

    #[test]
    fn the_obvious_category_and_group_win_with_the_words_behind_them() {
        let model = Model::train(&desk(), &TrainOptions::default());
        let suggestion = model.suggest("the printer has a paper jam", "", 3, 5);
        let category = &suggestion.families[0][0];
        assert_eq!(category.label, "Printer");
        assert!(category.score > 0.5, "{category:?}");
        assert!(
            category.because.contains(&"printer".to_owned()),
            "{category:?}"
        );
        assert_eq!(suggestion.families[1][0].label, "Field");
        assert!(
            suggestion.families[2].is_empty(),
            "no priorities to learn from"
        );
        assert!(suggestion.similar.len() == 5);
        assert!(model.labels(0).contains(&"Network".to_owned()));
    }

    #[test]
    fn a_mistyped_word_still_finds_its_category() {
        let model = Model::train(&desk(), &TrainOptions::default());
        let suggestion = model.suggest("pasword expird", "", 1, 0);
        assert_eq!(suggestion.families[0][0].label, "Accounts");
    }

    #[test]
    fn it_declines_when_nothing_it_knows_is_there() {
        let model = Model::train(
            &desk(),
            &TrainOptions {
                decline_below: 0.6,
                ..TrainOptions::default()
            },
        );
        let suggestion = model.suggest("zzqx", "", 3, 5);
        assert!(suggestion.families[0].is_empty(), "{suggestion:?}");
        assert!(suggestion.similar.is_empty());
    }

    #[test]
    fn the_split_is_deterministic_and_complete() {
        let examples = desk();
        let (train, test) = split(&examples, 0.2, 3);
        assert_eq!(test.len(), 24);
        assert_eq!(train.len() + test.len(), examples.len());
        assert_eq!(split(&examples, 0.2, 3), (train, test));
    }

    #[test]
    fn misspelling_swaps_letters_of_some_words_and_is_repeatable() {
        let mut once = desk();
        let mut again = desk();
        misspell(&mut once, 0.5, 9);
        misspell(&mut again, 0.5, 9);
        assert_eq!(once, again);
        let changed = once
            .iter()
            .zip(desk())
            .filter(|(a, b)| a.title != b.title)
            .count();
        assert!(changed > 10 && changed < once.len(), "{changed}");
        let mut letters: Vec<char> = once[0].title.chars().collect();
        letters.sort_unstable();
        let mut original: Vec<char> = desk()[0].title.chars().collect();
        original.sort_unstable();
        assert_eq!(letters, original, "only the order of letters changes");
    }

    #[test]
    fn macro_f1_averages_each_labels_f1() {
        let pair = |t: &str, p: &str| (t.to_owned(), p.to_owned());
        // a: tp 1, fn 1, fp 0 → 2/3; b: tp 1, fp 1, fn 0 → 2/3.
        let pairs = [pair("a", "a"), pair("a", "b"), pair("b", "b")];
        assert!((macro_f1(&pairs) - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn both_models_learn_and_evaluation_counts_the_held_out_tickets() {
        let examples = desk();
        let (train, test) = split(&examples, 0.25, 1);
        for options in [TrainOptions::default(), TrainOptions::baseline()] {
            let model = Model::train(&train, &options);
            let accuracy = evaluate(&model, &train, &test);
            assert!(accuracy.top1 > 0.9, "{options:?}: {accuracy:?}");
            assert!(accuracy.top3 >= accuracy.top1);
            assert!(accuracy.similar_precision_at_5 > 0.5, "{accuracy:?}");
        }
    }
}
