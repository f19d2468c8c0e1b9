//! Streaming prediction keeps memory flat: the peak of live heap bytes while predicting is the
//! same for 20,000 and 200,000 rows.
//!
//! A global allocator wraps the system allocator and tracks live bytes and their peak. This
//! binary holds a single test, so no other test's allocations are counted.

use logexp::fit::{FitOptions, fit, predict_csv};
use logexp::model::spec::ModelSpec;
use logexp::table::{ReadOptions, read_table_from};
use logexp::train::Training;
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Tracking;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grow(bytes: usize) {
    let now = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: defers to the system allocator; only counts bytes.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= layout.size() {
            grow(new_size - layout.size());
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// A CSV of `rows` rows `a,b,note`, generated as it is read (never held in memory).
struct Rows {
    rows: usize,
    next: usize,
    line: Vec<u8>,
    at: usize,
}

impl Read for Rows {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.line.len() {
            self.line.clear();
            self.at = 0;
            if self.next == 0 {
                self.line.extend_from_slice(b"note,b,a\n");
            } else if self.next <= self.rows {
                let r = self.next;
                self.line.extend_from_slice(
                    format!("row {r},{},{}\n", r % 89 + 1, r % 97 + 1).as_bytes(),
                );
            } else {
                return Ok(0);
            }
            self.next += 1;
        }
        let n = buf.len().min(self.line.len() - self.at);
        buf[..n].copy_from_slice(&self.line[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn rows(n: usize) -> Rows {
    Rows {
        rows: n,
        next: 0,
        line: Vec::new(),
        at: 0,
    }
}

#[test]
fn prediction_memory_does_not_grow_with_the_rows() {
    let mut csv = String::from("a,b,y\n");
    for r in 1..=50 {
        csv += &format!("{r},{},{}\n", r % 7 + 1, r * (r % 7 + 1));
    }
    let table =
        read_table_from(csv.as_bytes(), Path::new("t.csv"), &ReadOptions::new("y")).unwrap();
    let options = FitOptions {
        training: Training {
            epochs: 1,
            ..Training::default()
        },
        ..FitOptions::new(ModelSpec::preset("nmu").unwrap())
    };
    let model = fit(&table, &options).unwrap();
    let mut peaks = Vec::new();
    for n in [20_000, 200_000] {
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let predicted =
            predict_csv(&model, rows(n), Path::new("gen.csv"), std::io::sink()).unwrap();
        assert_eq!(predicted.rows, n as u64);
        peaks.push(PEAK.load(Ordering::Relaxed) - before);
    }
    // One chunk of rows and their records (about 0.7 MiB when written): well under a few MiB, and the same for ten times the
    // rows (allowing 64 KiB for buffers that grow with the longest line seen).
    assert!(peaks[0] < 4 << 20, "{peaks:?}");
    assert!(peaks[1] <= peaks[0] + (64 << 10), "{peaks:?}");
}
