//! Measuring a model: deterministic splits, misspelt test sets, accuracy and macro F1.

use super::*;

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
