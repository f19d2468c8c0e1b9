//! Table-reading benchmark: the header of a CSV of 100,000 columns, read and checked for
//! duplicate names, then every column found by name, as `predict` does for a model's
//! features. Before the column index this took 25 s (each name compared with every earlier
//! one).
//!
//! Run with `cargo bench --bench table -- --sample-size 10`; BENCHMARKS.md records the figure.

use criterion::{Criterion, criterion_group, criterion_main};
use logexp::table::CsvSource;
use std::hint::black_box;
use std::path::Path;

const COLUMNS: usize = 100_000;

fn wide_csv() -> Vec<u8> {
    let names: Vec<String> = (0..COLUMNS).map(|i| format!("c{i}")).collect();
    let mut text = names.join(",");
    text.push('\n');
    text.into_bytes()
}

fn bench_wide_header(c: &mut Criterion) {
    let csv = wide_csv();
    let names: Vec<String> = (0..COLUMNS).map(|i| format!("c{i}")).collect();
    c.bench_function("table/header_of_100000_columns", |b| {
        b.iter(|| {
            let source =
                CsvSource::new(black_box(csv.as_slice()), Path::new("wide.csv"), 1 << 20).unwrap();
            let found = names
                .iter()
                .map(|name| source.column(name, "features").unwrap())
                .sum::<usize>();
            black_box(found)
        })
    });
}

criterion_group!(benches, bench_wide_header);
criterion_main!(benches);
