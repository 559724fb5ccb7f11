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
mod evaluation;
mod features;
mod learning;
mod similar;

pub use evaluation::{Accuracy, evaluate, macro_f1, misspell, split};
use features::*;
pub use features::{Features, words};
pub use learning::Learner;
use learning::*;
pub use similar::{clusters, similarity};

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
