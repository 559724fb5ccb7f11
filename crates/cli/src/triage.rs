//! `opsdesk triage`: measure the triage assistant on a labelled ticket file, beside the
//! word TF-IDF + linear SVM baseline, and write sample files from the seeded generator.

use std::io::Write;
use std::time::Instant;

use clap::Subcommand;
use jiff::Timestamp;
use opsdesk_app::tickets::{ImportComment, ImportTicket};
use opsdesk_domain::ticket::{Impact, PriorityMatrix, Urgency};
use opsdesk_domain::triage::{self, Example, Model, TrainOptions};
use opsdesk_seed::generator::{Author, Generator, Outcome, Scale};

/// 2026-01-01T00:00:00Z: sample tickets are dated back from it.
const SAMPLE_EPOCH_MS: i64 = 1_767_225_600_000;

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
            let examples: Vec<Example> = crate::import::read_lines(&file)?
                .into_iter()
                .map(|line| line.ticket)
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
                let requester = directory.customers.get(ticket.requester);
                // Dated back from a fixed moment, so a seed always writes the same file.
                let opened = SAMPLE_EPOCH_MS - ticket.age_ms;
                let comments: Vec<ImportComment> = ticket
                    .conversation
                    .iter()
                    .zip(1..)
                    .map(|(comment, step)| ImportComment {
                        body: comment.body.clone(),
                        public: comment.public,
                        author: match comment.author {
                            Author::Requester => requester.map(|p| p.email.clone()),
                            Author::Agent(agent) => {
                                directory.agents.get(agent).map(|p| p.email.clone())
                            }
                        },
                        at: Timestamp::from_millisecond(opened + step * 1_800_000).ok(),
                        message_id: None,
                        files: Vec::new(),
                    })
                    .collect();
                let finished = opened + (ticket.conversation.len() as i64 + 1) * 1_800_000;
                let (code, note) = match &ticket.outcome {
                    Outcome::Resolved(code, note) | Outcome::Closed(code, note) => {
                        (Some((*code).to_owned()), Some(note.clone()))
                    }
                    _ => (None, None),
                };
                let line = ImportTicket {
                    external_id: format!("sample-{seed}-{n}"),
                    ticket_type: ticket.ticket_type.to_owned(),
                    title: ticket.title,
                    description: ticket.description,
                    category: Some(ticket.category.to_owned()),
                    group: directory.groups.get(ticket.group).map(|g| g.name.clone()),
                    priority: Some(matrix.priority(impact, urgency).to_string()),
                    status: Some(ticket.outcome.status().to_owned()),
                    resolved_at: code
                        .as_ref()
                        .and_then(|_| Timestamp::from_millisecond(finished).ok()),
                    resolution_code: code,
                    resolution_note: note,
                    requester: requester.map(|p| p.email.clone()),
                    organization: requester
                        .and_then(|p| p.organization)
                        .and_then(|o| directory.organizations.get(o))
                        .map(|o| o.name.clone()),
                    created_at: Timestamp::from_millisecond(opened).ok(),
                    comments,
                    tags: Vec::new(),
                    message_id: None,
                    sent_message_ids: Vec::new(),
                    files: Vec::new(),
                };
                serde_json::to_writer(&mut out, &line)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
            Ok(())
        }
    }
}
