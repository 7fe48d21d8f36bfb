//! Implementations of the test interfaces: the child serves them, and the
//! parent implements `Callback` for the callback tests.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use multiprocess::{Error, Result};

use crate::testapi::{
    Callback, Color, Counter, Init, Label, Mining, ParseError, Point, Shape, Task, Tree, TypeTest, TypeTestDescribeOutput,
    TypeTestDivideOutput, TypeTestMixNumbersOutput, TypeTestParseError, TypeTestSplitOutput, TypeTestStatsOutput,
};

/// Number of `CounterService` objects alive in this process.
static LIVE_COUNTERS: AtomicU32 = AtomicU32::new(0);

/// The Init that the child serves.
pub struct TestInit;

impl Init for TestInit {
    fn make_types(&self) -> Result<Box<dyn TypeTest>> {
        Ok(Box::new(TypeService))
    }

    fn make_counter(&self, start: i64) -> Result<Box<dyn Counter>> {
        LIVE_COUNTERS.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(CounterService { value: Mutex::new(start) }))
    }

    fn live_counters(&self) -> Result<u32> {
        Ok(LIVE_COUNTERS.load(Ordering::SeqCst))
    }

    fn make_mining(&self) -> Result<Box<dyn Mining>> {
        Ok(Box::new(MiningService::default()))
    }

    fn process_id(&self) -> Result<u32> {
        Ok(std::process::id())
    }
}

/// A callback that adds a fixed offset and records the thread it ran on.
pub struct AddCallback {
    pub offset: i32,
    pub threads: Mutex<Vec<std::thread::ThreadId>>,
}

impl AddCallback {
    pub fn new(offset: i32) -> AddCallback {
        AddCallback { offset, threads: Mutex::new(Vec::new()) }
    }
}

impl Callback for AddCallback {
    fn call(&self, value: i32) -> Result<i32> {
        self.threads.lock().unwrap().push(std::thread::current().id());
        Ok(value + self.offset)
    }
}

/// Lets the parent keep a callback it passes by `Box` and inspect it later.
pub struct SharedCallback(pub std::sync::Arc<AddCallback>);

impl Callback for SharedCallback {
    fn call(&self, value: i32) -> Result<i32> {
        self.0.call(value)
    }
}

struct CounterService {
    value: Mutex<i64>,
}

impl Counter for CounterService {
    fn increment(&self, by: i64) -> Result<i64> {
        let mut value = self.value.lock().unwrap();
        *value += by;
        Ok(*value)
    }

    fn get(&self) -> Result<i64> {
        Ok(*self.value.lock().unwrap())
    }
}

impl Drop for CounterService {
    fn drop(&mut self) {
        LIVE_COUNTERS.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct MiningState {
    latest: u64,
    interrupted: bool,
}

/// Waits for submitted values like Bitcoin Core's `waitTipChanged`.
#[derive(Default)]
struct MiningService {
    state: Mutex<MiningState>,
    changed: Condvar,
}

impl Mining for MiningService {
    fn wait_next(&self, known: u64, timeout_millis: u32) -> Result<Option<u64>> {
        let deadline = Instant::now() + Duration::from_millis(u64::from(timeout_millis));
        let mut state = self.state.lock().unwrap();
        loop {
            if state.interrupted {
                state.interrupted = false;
                return Ok(None);
            }
            if state.latest != known {
                return Ok(Some(state.latest));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            state = self.changed.wait_timeout(state, deadline - now).unwrap().0;
        }
    }

    fn submit(&self, value: u64) -> Result<()> {
        self.state.lock().unwrap().latest = value;
        self.changed.notify_all();
        Ok(())
    }

    fn interrupt(&self) -> Result<()> {
        self.state.lock().unwrap().interrupted = true;
        self.changed.notify_all();
        Ok(())
    }
}

struct TypeService;

impl TypeTest for TypeService {
    fn negate(&self, value: bool) -> Result<bool> {
        Ok(!value)
    }

    fn mix_numbers(&self, a: i8, b: i16, c: i32, d: i64, e: u8, f: u16, g: u32, h: u64, x: f32, y: f64) -> Result<TypeTestMixNumbersOutput> {
        Ok(TypeTestMixNumbersOutput {
            signed: i64::from(a) + i64::from(b) + i64::from(c) + d,
            unsigned: u64::from(e).wrapping_add(u64::from(f)).wrapping_add(u64::from(g)).wrapping_add(h),
            floats: f64::from(x) + y,
        })
    }

    fn next_color(&self, color: Color) -> Result<Color> {
        Ok(match color {
            Color::Red => Color::Green,
            Color::Green => Color::Blue,
            Color::Blue => Color::Red,
        })
    }

    fn upper(&self, text: &str) -> Result<String> {
        Ok(text.to_uppercase())
    }

    fn reverse(&self, data: &[u8]) -> Result<Vec<u8>> {
        Ok(data.iter().rev().copied().collect())
    }

    fn sum(&self, values: &[i32]) -> Result<i64> {
        Ok(values.iter().map(|&value| i64::from(value)).sum())
    }

    fn join_words(&self, words: &[String], separator: &str) -> Result<String> {
        Ok(words.join(separator))
    }

    fn transpose(&self, matrix: &[Vec<i32>]) -> Result<Vec<Vec<i32>>> {
        let columns = matrix.first().map_or(0, Vec::len);
        if matrix.iter().any(|row| row.len() != columns) {
            return Err(Error::failed("rows have different lengths"));
        }
        Ok((0..columns).map(|column| matrix.iter().map(|row| row[column]).collect()).collect())
    }

    fn concat(&self, chunks: &[Vec<u8>]) -> Result<Vec<u8>> {
        Ok(chunks.concat())
    }

    fn scale(&self, point: &Point, factor: f64) -> Result<Point> {
        Ok(Point { pos_x: point.pos_x * factor, pos_y: point.pos_y * factor })
    }

    fn centroid(&self, points: &[Point]) -> Result<Option<Point>> {
        if points.is_empty() {
            return Ok(None);
        }
        let count = points.len() as f64;
        let pos_x = points.iter().map(|point| point.pos_x).sum::<f64>() / count;
        let pos_y = points.iter().map(|point| point.pos_y).sum::<f64>() / count;
        Ok(Some(Point { pos_x, pos_y }))
    }

    fn describe(&self, shape: &Shape) -> Result<TypeTestDescribeOutput> {
        let result = format!(
            "{} {:?} with {} points, label {:?}, {} tags",
            shape.name,
            shape.color,
            shape.points.len(),
            shape.label,
            shape.tags.len()
        );
        let mut changed = shape.clone();
        changed.points.reverse();
        changed.label = shape.label.as_ref().map(|label| label.to_uppercase());
        Ok(TypeTestDescribeOutput { result, shape: changed })
    }

    fn invert(&self, map: &[(String, Vec<u8>)]) -> Result<Vec<(Vec<u8>, String)>> {
        Ok(map.iter().map(|(key, value)| (value.clone(), key.clone())).collect())
    }

    fn count_words(&self, text: &str) -> Result<Vec<(String, i64)>> {
        let mut counts: Vec<(String, i64)> = Vec::new();
        for word in text.split_whitespace() {
            match counts.iter_mut().find(|(known, _)| known == word) {
                Some((_, count)) => *count += 1,
                None => counts.push((word.to_owned(), 1)),
            }
        }
        Ok(counts)
    }

    fn merge_settings(&self, settings: &[(String, Vec<String>)]) -> Result<Vec<(String, Vec<String>)>> {
        let mut merged: Vec<(String, Vec<String>)> = Vec::new();
        for (key, values) in settings {
            match merged.iter_mut().find(|(known, _)| known == key) {
                Some((_, all)) => all.extend(values.iter().cloned()),
                None => merged.push((key.clone(), values.clone())),
            }
        }
        Ok(merged)
    }

    fn clamp(&self, value: i32, max: Option<i32>) -> Result<i32> {
        Ok(max.map_or(value, |max| value.min(max)))
    }

    fn find(&self, haystack: &[String], needle: &str) -> Result<Option<u32>> {
        Ok(haystack.iter().position(|item| item == needle).map(|index| index as u32))
    }

    fn stats(&self, values: &[f64], want_mean: bool) -> Result<TypeTestStatsOutput> {
        let mean = (want_mean && !values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64);
        Ok(TypeTestStatsOutput { mean, count: values.len() as u32 })
    }

    fn divide(&self, a: i64, b: i64) -> Result<TypeTestDivideOutput> {
        let result = a.checked_div(b).ok_or_else(|| Error::failed(format!("cannot divide {a} by {b}")))?;
        Ok(TypeTestDivideOutput { result, remainder: a % b })
    }

    fn split(&self, text: &str, at: u32) -> Result<TypeTestSplitOutput> {
        let at = at as usize;
        if !text.is_char_boundary(at) {
            return Err(Error::failed(format!("{at} is not a character boundary of {text:?}")));
        }
        Ok(TypeTestSplitOutput { head: text[..at].to_owned(), tail: text[at..].to_owned() })
    }

    fn answer(&self) -> Result<i32> {
        Ok(42)
    }

    fn rename(&self, label: &Label) -> Result<Label> {
        Ok(Label { display_name: format!("renamed {}", label.display_name) })
    }

    fn hidden(&self, visible: i32) -> Result<i32> {
        Ok(visible * 2)
    }

    fn parse(&self, text: &str) -> std::result::Result<i64, TypeTestParseError> {
        if text.is_empty() {
            return Err(TypeTestParseError::Detail(ParseError { position: 0, message: "empty input".to_owned() }));
        }
        if text == "fail" {
            return Err(TypeTestParseError::Call(Error::failed("parse was asked to fail")));
        }
        text.parse().map_err(|error| TypeTestParseError::Error(format!("invalid number {text:?}: {error}")))
    }

    fn for_each(&self, values: &[i32], callback: Box<dyn Callback>) -> Result<i32> {
        let mut total = 0;
        for &value in values {
            total += callback.call(value)?;
        }
        Ok(total)
    }

    fn make_callback(&self, offset: i32) -> Result<Box<dyn Callback>> {
        Ok(Box::new(AddCallback::new(offset)))
    }

    fn make_callbacks(&self, offsets: &[i32]) -> Result<Vec<Box<dyn Callback>>> {
        Ok(offsets.iter().map(|&offset| Box::new(AddCallback::new(offset)) as Box<dyn Callback>).collect())
    }

    fn call_all(&self, callbacks: Vec<Box<dyn Callback>>, value: i32) -> Result<Vec<i32>> {
        callbacks.iter().map(|callback| callback.call(value)).collect()
    }

    fn run_task(&self, task: Task) -> Result<String> {
        Ok(format!("{}: {}", task.name, task.callback.call(1)?))
    }

    fn sum_tree(&self, tree: &Tree) -> Result<i64> {
        let mut total = i64::from(tree.value);
        for child in &tree.children {
            total += self.sum_tree(child)?;
        }
        if let Some(next) = &tree.next {
            total += self.sum_tree(next)?;
        }
        Ok(total)
    }

    fn fail(&self, message: &str) -> Result<()> {
        Err(Error::failed(message))
    }

    fn panic(&self, message: &str) -> Result<()> {
        panic!("{message}");
    }

    fn ping(&self, value: u64) -> Result<u64> {
        Ok(value + 1)
    }

    fn sleep(&self, millis: u32) -> Result<()> {
        std::thread::sleep(Duration::from_millis(u64::from(millis)));
        Ok(())
    }
}
