//! `opsdesk triage`: measure the triage assistant on a labelled ticket file, beside the
//! word TF-IDF + linear SVM baseline, and write sample files from the seeded generator.

use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use clap::Subcommand;
use opsdesk_domain::ticket::{Impact, PriorityMatrix, Urgency};
use opsdesk_domain::triage::{self, Example, Model, TrainOptions};
use opsdesk_seed::generator::{Generator, Scale};
use serde::{Deserialize, Serialize};

#[derive(Debug, Subcommand)]
pub(crate) enum TriageCommand {
    /// Train on part of a labelled JSONL file and report accuracy and speed on the rest.
    #[command(
        after_help = "Each line is a ticket as `opsdesk import tickets` reads it; title, \
        description and category are needed here. Example:\n  \
        opsdesk triage sample --tickets 20000 > tickets.jsonl\n  \
        opsdesk triage evaluate tickets.jsonl --test-fraction 0.2"
    )]
    Evaluate {
        /// The labelled tickets, one JSON object per line.
        file: std::path::PathBuf,
        /// The share held out for testing.
        #[arg(long, default_value_t = 0.2)]
        test_fraction: f64,
        /// Seed of the train/test split.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Misspell this share of the test tickets' longer words (neighbouring letters
        /// swapped), to see how suggestions hold up against hurried typing.
        #[arg(long, default_value_t = 0.0)]
        misspell: f64,
        /// Learn and suggest from titles only.
        #[arg(long)]
        titles_only: bool,
    },
    /// Write generated tickets (the seeded generator's) as JSONL, to evaluate or import.
    Sample {
        #[arg(long, default_value_t = 20_000)]
        tickets: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// One line of a ticket file (the import format); fields evaluation does not use are
/// accepted and ignored.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TicketLine {
    pub external_id: String,
    #[serde(rename = "type", default = "incident")]
    pub ticket_type: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comments: Vec<serde_json::Value>,
}

fn incident() -> String {
    "incident".into()
}

/// Reads a ticket file; a bad line is an error naming its number.
pub(crate) fn read_lines(path: &Path) -> anyhow::Result<Vec<TicketLine>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut lines = Vec::new();
    for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line =
            line.with_context(|| format!("{}: cannot read line {}", path.display(), number + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: TicketLine = serde_json::from_str(&line)
            .with_context(|| format!("{} line {}: not a ticket", path.display(), number + 1))?;
        lines.push(parsed);
    }
    Ok(lines)
}

pub(crate) fn run(command: TriageCommand) -> anyhow::Result<()> {
    match command {
        TriageCommand::Evaluate {
            file,
            test_fraction,
            seed,
            misspell,
            titles_only,
        } => {
            if !(0.01..=0.9).contains(&test_fraction) {
                anyhow::bail!("--test-fraction must be between 0.01 and 0.9");
            }
            let examples: Vec<Example> = read_lines(&file)?
                .into_iter()
                .map(|line| Example {
                    title: line.title,
                    description: if titles_only {
                        String::new()
                    } else {
                        line.description
                    },
                    labels: [line.category, line.group, line.priority],
                })
                .collect();
            let (train, mut test) = triage::split(&examples, test_fraction, seed);
            if misspell > 0.0 {
                triage::misspell(&mut test, misspell.min(1.0), seed);
            }
            println!(
                "{}: {} tickets, trained on {}, tested on {}",
                file.display(),
                examples.len(),
                train.len(),
                test.len()
            );
            println!(
                "| model | top-1 | top-3 | macro-F1 | similar P@5 | p50 µs | p99 µs | training s | memory MiB |"
            );
            println!("|---|---|---|---|---|---|---|---|---|");
            for (name, options) in [
                (
                    "opsdesk (words, pairs, trigrams; softmax)",
                    TrainOptions::default(),
                ),
                (
                    "baseline (word TF-IDF; linear SVM)",
                    TrainOptions::baseline(),
                ),
            ] {
                let started = Instant::now();
                let model = Model::train(&train, &options);
                let training = started.elapsed().as_secs_f64();
                let accuracy = triage::evaluate(&model, &train, &test);
                let mut latencies: Vec<u128> = test
                    .iter()
                    .map(|example| {
                        let started = Instant::now();
                        std::hint::black_box(model.suggest(
                            &example.title,
                            &example.description,
                            3,
                            5,
                        ));
                        started.elapsed().as_micros()
                    })
                    .collect();
                latencies.sort_unstable();
                let at = |q: f64| {
                    latencies
                        .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
                        .copied()
                        .unwrap_or_default()
                };
                println!(
                    "| {name} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} | {training:.1} | {:.0} |",
                    accuracy.top1,
                    accuracy.top3,
                    accuracy.macro_f1,
                    accuracy.similar_precision_at_5,
                    at(0.5),
                    at(0.99),
                    model.memory_bytes() as f64 / (1024.0 * 1024.0)
                );
            }
            Ok(())
        }
        TriageCommand::Sample { tickets, seed } => {
            let mut generator = Generator::new(seed, Scale::LARGE);
            let directory = generator.directory().clone();
            let matrix = PriorityMatrix::default();
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            for n in 0..tickets {
                let ticket = generator.ticket();
                let impact: Impact = ticket.impact.parse().map_err(anyhow::Error::msg)?;
                let urgency: Urgency = ticket.urgency.parse().map_err(anyhow::Error::msg)?;
                let line = TicketLine {
                    external_id: format!("sample-{seed}-{n}"),
                    ticket_type: ticket.ticket_type.to_owned(),
                    title: ticket.title,
                    description: ticket.description,
                    category: Some(ticket.category.to_owned()),
                    group: directory.groups.get(ticket.group).map(|g| g.name.clone()),
                    priority: Some(matrix.priority(impact, urgency).to_string()),
                    status: None,
                    resolution_note: None,
                    requester: directory
                        .customers
                        .get(ticket.requester)
                        .map(|p| p.email.clone()),
                    organization: None,
                    created_at: None,
                    resolved_at: None,
                    comments: Vec::new(),
                };
                serde_json::to_writer(&mut out, &line)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
            Ok(())
        }
    }
}
