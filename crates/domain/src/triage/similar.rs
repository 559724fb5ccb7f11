//! Similar tickets: how alike two texts are, and groups of alike texts.

use super::*;

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
