//! A report as a PDF file: the same lines as the CSV export, as a printable table on A4
//! pages, in PDF's built-in Helvetica so that no font needs embedding.

use pdf_writer::{Content, Name, Pdf, Rect, Ref, Str};

use super::Report;
use super::export::report_lines;

const PAGE_WIDTH: f32 = 595.0;
const PAGE_HEIGHT: f32 = 842.0;
const MARGIN: f32 = 50.0;
const LINE_HEIGHT: f32 = 14.0;
const TEXT_SIZE: f32 = 10.0;
/// Where each column starts: section, figure, value, previous period.
const COLUMNS: [f32; 4] = [MARGIN, 170.0, 390.0, 470.0];
const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");

/// One line of text on a page.
struct Line {
    y: f32,
    bold: bool,
    cells: [String; 4],
}

/// A report as a PDF file: a title with the period and time zone, then every figure
/// beside the previous period's, the backlog, the volumes and the days, over as many
/// pages as it takes, each numbered.
pub fn report_pdf(report: &Report) -> Vec<u8> {
    let mut rows = report_lines(report).into_iter();
    let header = rows.next().unwrap_or_default();
    let title = format!(
        "Service desk report {} to {} ({})",
        report.from, report.to, report.time_zone
    );
    let mut pages: Vec<Vec<Line>> = Vec::new();
    let mut page: Vec<Line> = Vec::new();
    let mut y = PAGE_HEIGHT - MARGIN - 2.5 * LINE_HEIGHT;
    let mut section = String::new();
    let mut new_page = |page: &mut Vec<Line>, y: &mut f32| {
        pages.push(std::mem::take(page));
        *y = PAGE_HEIGHT - MARGIN;
    };
    page.push(Line {
        y,
        bold: true,
        cells: header.map(|cell| readable(&cell)),
    });
    for [row_section, figure, value, previous] in rows {
        y -= LINE_HEIGHT;
        if y < MARGIN + LINE_HEIGHT {
            new_page(&mut page, &mut y);
        }
        // A section is named on its first line only, as a printed table would.
        let shown_section = if row_section == section {
            String::new()
        } else {
            readable(&row_section)
        };
        section = row_section;
        page.push(Line {
            y,
            bold: false,
            cells: [shown_section, readable(&figure), value, previous],
        });
    }
    new_page(&mut page, &mut y);
    write(&title, &pages)
}

/// `volume_by_group` as "volume by group".
fn readable(name: &str) -> String {
    name.replace('_', " ")
}

/// Text in the fonts' WinAnsi encoding: Latin-1 as it is, anything else as `?`.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match u32::from(c) {
            code @ (0x20..=0x7E | 0xA0..=0xFF) => u8::try_from(code).unwrap_or(b'?'),
            _ => b'?',
        })
        .collect()
}

fn write(title: &str, pages: &[Vec<Line>]) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let page_ref = |index: usize, part: i32| {
        Ref::new(5 + 2 * i32::try_from(index).unwrap_or(i32::MAX / 4) + part)
    };
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids((0..pages.len()).map(|index| page_ref(index, 0)))
        .count(i32::try_from(pages.len()).unwrap_or(i32::MAX));
    for (font, name) in [(regular, "Helvetica"), (bold, "Helvetica-Bold")] {
        pdf.type1_font(font)
            .base_font(Name(name.as_bytes()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    for (index, lines) in pages.iter().enumerate() {
        let mut page = pdf.page(page_ref(index, 0));
        page.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT));
        page.parent(tree);
        page.contents(page_ref(index, 1));
        page.resources()
            .fonts()
            .pair(REGULAR, regular)
            .pair(BOLD, bold);
        drop(page);

        let mut content = Content::new();
        let mut text = |font: Name, size: f32, x: f32, y: f32, words: &str| {
            content.begin_text();
            content.set_font(font, size);
            content.next_line(x, y);
            content.show(Str(&win_ansi(words)));
            content.end_text();
        };
        if index == 0 {
            text(BOLD, 16.0, MARGIN, PAGE_HEIGHT - MARGIN, title);
        }
        for line in lines {
            let font = if line.bold { BOLD } else { REGULAR };
            for (x, cell) in COLUMNS.iter().zip(&line.cells) {
                if !cell.is_empty() {
                    text(font, TEXT_SIZE, *x, line.y, cell);
                }
            }
        }
        let footer = format!("page {} of {}", index + 1, pages.len());
        text(REGULAR, 8.0, MARGIN, MARGIN / 2.0, &footer);
        pdf.stream(page_ref(index, 1), &content.finish());
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_outside_latin_1_becomes_a_question_mark() {
        assert_eq!(win_ansi("Zoë → ok"), b"Zo\xEB ? ok".to_vec());
    }
}
