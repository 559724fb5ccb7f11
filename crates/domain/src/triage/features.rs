//! Text as vectors: words, word pairs and letter trigrams hashed into a TF-IDF vector.

/// Hashed feature space: big enough that collisions are rare, small enough to stay in memory.
pub(super) const BUCKETS: usize = 1 << 18;

/// Words too common to say anything about a ticket.
pub(super) const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at",
    "be", "been", "but", "by", "can", "could", "did", "do", "does", "for", "from", "get", "got",
    "had", "has", "have", "hello", "hi", "how", "i", "if", "in", "into", "is", "it", "its", "just",
    "me", "my", "no", "not", "now", "of", "on", "or", "our", "please", "so", "some", "still",
    "thanks", "that", "the", "their", "them", "then", "there", "this", "to", "us", "was", "we",
    "were", "what", "when", "which", "with", "would", "you", "your",
];

/// What features a model reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Features {
    /// Words, word pairs and letter trigrams; the title counts twice.
    Rich,
    /// Words only: the baseline's.
    Words,
}

pub(super) fn hash(parts: &[&str]) -> u32 {
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

/// The sum of two sparse vectors sorted by feature.
pub(super) fn added(a: &Sparse, b: &Sparse) -> Sparse {
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
pub(super) fn cosine(a: &Sparse, b: &Sparse) -> f32 {
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
pub(super) fn featurize(
    title: &str,
    description: &str,
    kind: Features,
) -> (Vec<u32>, Vec<(u32, String)>) {
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
pub(super) type Sparse = Vec<(u32, f32)>;

pub(super) fn dot(weights: &[f32], x: &Sparse) -> f32 {
    x.iter().map(|&(i, v)| weights[i as usize] * v).sum()
}

/// Inverse document frequencies over the hashed space.
#[derive(Debug, Clone)]
pub(super) struct Idf(Vec<f32>);

impl Idf {
    pub(super) fn fit(documents: &[Vec<u32>]) -> Self {
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
    pub(super) fn vector(&self, ids: &[u32]) -> Sparse {
        weighted(ids, |id| self.0[id as usize])
    }
}

/// Sublinear term frequency × `weight`, L2-normalised.
pub(super) fn weighted(ids: &[u32], weight: impl Fn(u32) -> f32) -> Sparse {
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
