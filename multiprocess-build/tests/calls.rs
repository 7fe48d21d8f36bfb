//! Calls every method of the test schema through generated proxies and
//! servers, with the server in a child process: this test binary started
//! again with a marker argument.
//!
//! The generated code under `generated/` comes from `schema/` through mpgen;
//! the `codegen` tests check that it is current.

// Not every generated item is used here, as in any library of interfaces.
#[allow(dead_code)]
#[path = "generated/testapi.rs"]
mod testapi;

mod support;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use support::services::{AddCallback, SharedCallback};
use support::{Child, Watchdog};
use testapi::{
    Callback, Color, Init, Label, Mining, ParseError, Point, Shape, Task, Tree, TypeTest, TypeTestParseError,
    TypeTestProxy,
};

/// Runs the child role when this binary was started by `Child::spawn`.
#[test]
fn child_process_entry() {
    support::run_child_if_marked();
}

fn type_test(child: &Child) -> Box<dyn TypeTest> {
    child.init().make_types().expect("makeTypes succeeds")
}

#[test]
fn numbers_bools_and_enums() {
    let child = Child::spawn();
    let types = type_test(&child);

    assert!(!types.negate(true).unwrap());
    assert!(types.negate(false).unwrap());

    let mixed = types.mix_numbers(-8, -16, -32, -64, 8, 16, 32, u64::MAX - 100, 0.5, 0.25).unwrap();
    assert_eq!(mixed.signed, -120);
    assert_eq!(mixed.unsigned, u64::MAX - 44);
    assert_eq!(mixed.floats, 0.75);

    let extremes = types.mix_numbers(i8::MIN, i16::MIN, i32::MIN, 0, u8::MAX, u16::MAX, u32::MAX, 0, f32::MAX, 0.0).unwrap();
    assert_eq!(extremes.signed, i64::from(i8::MIN) + i64::from(i16::MIN) + i64::from(i32::MIN));
    assert_eq!(extremes.unsigned, u64::from(u8::MAX) + u64::from(u16::MAX) + u64::from(u32::MAX));
    assert_eq!(extremes.floats, f64::from(f32::MAX));

    assert_eq!(types.next_color(Color::Red).unwrap(), Color::Green);
    assert_eq!(types.next_color(Color::Blue).unwrap(), Color::Red);
    drop(types);
    assert!(child.finish().success());
}

#[test]
fn text_and_data() {
    let child = Child::spawn();
    let types = type_test(&child);

    assert_eq!(types.upper("grüße").unwrap(), "GRÜSSE");
    assert_eq!(types.upper("").unwrap(), "");
    assert_eq!(types.reverse(&[1, 2, 3, 255]).unwrap(), vec![255, 3, 2, 1]);
    assert_eq!(types.reverse(&[]).unwrap(), Vec::<u8>::new());

    // 4 MiB is more than a socket's send and receive buffers hold, so both
    // sides wait for room to write.
    let large: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let reversed = types.reverse(&large).unwrap();
    assert_eq!(reversed.len(), large.len());
    assert!(reversed.iter().eq(large.iter().rev()), "the reversed 4 MiB differ from the bytes sent, reversed");
}

#[test]
fn invalid_utf8_is_an_error() {
    let child = Child::spawn();
    let object = child
        .init()
        .object()
        .call("makeTypes", |client, cx| {
            let server = cx.server();
            let mut request = client.make_types_request();
            cx.set_context(request.get().init_context());
            Ok(async move {
                let response = request.send().promise.await?;
                server.import(response.get()?.get_result()?)
            })
        })
        .unwrap();
    let types = TypeTestProxy::new(object);

    let error = types
        .object()
        .call("upper", |client, cx| {
            let mut request = client.upper_request();
            let mut params = request.get();
            cx.set_context(params.reborrow().init_context());
            params.init_text(2).as_bytes_mut().copy_from_slice(&[0xc3, 0x28]);
            Ok(async move {
                request.send().promise.await?;
                Ok(())
            })
        })
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("upper"), "error does not name the method: {message}");
    assert!(message.contains("not valid UTF-8"), "error does not say what is wrong: {message}");

    // The child survived the bad request.
    assert_eq!(types.upper("ok").unwrap(), "OK");
}

#[test]
fn lists_and_nested_lists() {
    let child = Child::spawn();
    let types = type_test(&child);

    assert_eq!(types.sum(&[1, 2, 3, i32::MAX]).unwrap(), 6 + i64::from(i32::MAX));
    assert_eq!(types.sum(&[]).unwrap(), 0);
    let words = ["a".to_owned(), "list".to_owned(), "of".to_owned(), "words".to_owned()];
    assert_eq!(types.join_words(&words, " ").unwrap(), "a list of words");
    assert_eq!(types.transpose(&[vec![1, 2, 3], vec![4, 5, 6]]).unwrap(), vec![vec![1, 4], vec![2, 5], vec![3, 6]]);
    assert_eq!(types.transpose(&[]).unwrap(), Vec::<Vec<i32>>::new());
    assert_eq!(types.concat(&[vec![1, 2], vec![], vec![3]]).unwrap(), vec![1, 2, 3]);
}

#[test]
fn structs_and_maps() {
    let child = Child::spawn();
    let types = type_test(&child);

    // The schema's default for `x` applies to the native struct.
    assert_eq!(Point::default(), Point { pos_x: 1.5, pos_y: 0.0 });
    assert_eq!(types.scale(&Point { pos_x: 1.0, pos_y: -2.0 }, 3.0).unwrap(), Point { pos_x: 3.0, pos_y: -6.0 });

    let shape = Shape {
        name: "triangle".to_owned(),
        color: Color::Blue,
        points: vec![Point { pos_x: 0.0, pos_y: 0.0 }, Point { pos_x: 1.0, pos_y: 0.0 }, Point { pos_x: 0.0, pos_y: 1.0 }],
        label: Some("tri".to_owned()),
        tags: vec![("kind".to_owned(), "polygon".to_owned())],
    };
    let described = types.describe(&shape).unwrap();
    assert_eq!(described.result, "triangle Blue with 3 points, label Some(\"tri\"), 1 tags");
    let mut expected = shape.clone();
    expected.points.reverse();
    expected.label = Some("TRI".to_owned());
    assert_eq!(described.shape, expected);
    assert_eq!(Shape::default().color, Color::Green, "the schema's default enumerant applies");

    let map = vec![("one".to_owned(), vec![1]), ("two".to_owned(), vec![2, 2])];
    assert_eq!(types.invert(&map).unwrap(), vec![(vec![1], "one".to_owned()), (vec![2, 2], "two".to_owned())]);
    assert_eq!(types.count_words("a b a").unwrap(), vec![("a".to_owned(), 2), ("b".to_owned(), 1)]);
    let settings = vec![
        ("path".to_owned(), vec!["/a".to_owned()]),
        ("mode".to_owned(), vec![]),
        ("path".to_owned(), vec!["/b".to_owned(), "/c".to_owned()]),
    ];
    let merged = types.merge_settings(&settings).unwrap();
    assert_eq!(
        merged,
        vec![("path".to_owned(), vec!["/a".to_owned(), "/b".to_owned(), "/c".to_owned()]), ("mode".to_owned(), vec![])]
    );

    let tree = Tree {
        value: 1,
        children: vec![Tree { value: 2, children: vec![], next: None }, Tree { value: 3, children: vec![], next: None }],
        next: Some(Box::new(Tree { value: 10, children: vec![], next: None })),
    };
    assert_eq!(types.sum_tree(&tree).unwrap(), 16);
}

#[test]
fn optional_and_requested_values() {
    let child = Child::spawn();
    let types = type_test(&child);

    assert_eq!(types.clamp(50, Some(10)).unwrap(), 10);
    assert_eq!(types.clamp(50, None).unwrap(), 50);

    let haystack = ["x".to_owned(), "y".to_owned()];
    assert_eq!(types.find(&haystack, "y").unwrap(), Some(1));
    assert_eq!(types.find(&haystack, "z").unwrap(), None);

    assert_eq!(types.centroid(&[Point { pos_x: 0.0, pos_y: 0.0 }, Point { pos_x: 2.0, pos_y: 4.0 }]).unwrap(), Some(Point {
        pos_x: 1.0,
        pos_y: 2.0
    }));
    assert_eq!(types.centroid(&[]).unwrap(), None);

    let requested = types.stats(&[1.0, 2.0, 6.0], true).unwrap();
    assert_eq!(requested.mean, Some(3.0));
    assert_eq!(requested.count, 3);
    let not_requested = types.stats(&[1.0, 2.0, 6.0], false).unwrap();
    assert_eq!(not_requested.mean, None);
    assert_eq!(not_requested.count, 3);

    let unlabeled = Shape { label: None, ..Shape::default() };
    assert_eq!(types.describe(&unlabeled).unwrap().shape.label, None);
}

#[test]
fn several_results_renames_and_hidden_parameters() {
    let child = Child::spawn();
    let types = type_test(&child);

    let divided = types.divide(17, 5).unwrap();
    assert_eq!((divided.result, divided.remainder), (3, 2));
    let split = types.split("headtail", 4).unwrap();
    assert_eq!((split.head.as_str(), split.tail.as_str()), ("head", "tail"));

    // `getAnswer` is renamed to `answer`; the field `rawName` to `display_name`.
    assert_eq!(types.answer().unwrap(), 42);
    let renamed = types.rename(&Label { display_name: "x".to_owned() }).unwrap();
    assert_eq!(renamed.display_name, "renamed x");

    // `ignored`, `folded`, `scheduler` and `args` are not in the signature.
    assert_eq!(types.hidden(21).unwrap(), 42);
}

#[test]
fn exception_fields_become_typed_errors() {
    let child = Child::spawn();
    let types = type_test(&child);

    assert_eq!(types.parse("123").unwrap(), 123);
    match types.parse("12x") {
        Err(TypeTestParseError::Error(message)) => assert!(message.contains("invalid number \"12x\""), "{message}"),
        other => panic!("expected the `error` exception field, got {other:?}"),
    }
    match types.parse("") {
        Err(TypeTestParseError::Detail(detail)) => {
            assert_eq!(detail, ParseError { position: 0, message: "empty input".to_owned() })
        }
        other => panic!("expected the `detail` exception field, got {other:?}"),
    }
    match types.parse("fail") {
        Err(TypeTestParseError::Call(error)) => {
            let message = error.to_string();
            assert!(message.contains("parse was asked to fail"), "{message}");
            assert!(message.contains("parse"), "the error names the method: {message}");
        }
        other => panic!("expected a failed call, got {other:?}"),
    }
}

#[test]
fn server_errors_and_panics_reach_the_caller() {
    let child = Child::spawn();
    let types = type_test(&child);

    let error = types.fail("the disk is full").unwrap_err();
    let message = error.to_string();
    assert!(message.contains("fail"), "the error names the method: {message}");
    assert!(message.contains("the disk is full"), "the error has the server's message: {message}");

    let error = types.divide(1, 0).unwrap_err();
    assert!(error.to_string().contains("cannot divide 1 by 0"), "{error}");

    let error = types.panic("boom").unwrap_err();
    let message = error.to_string();
    assert!(message.contains("panic"), "{message}");
    assert!(message.contains("boom"), "the error has the panic message: {message}");

    // The server thread and the connection survive the panic.
    assert_eq!(types.upper("still here").unwrap(), "STILL HERE");
}

#[test]
fn methods_without_context_run_on_the_event_loop() {
    let child = Child::spawn();
    let types = type_test(&child);

    assert_eq!(types.ping(41).unwrap(), 42);
    let child_pid = child.init().process_id().unwrap();
    assert_ne!(child_pid, std::process::id());
}

#[test]
fn callbacks_run_on_the_calling_thread() {
    let child = Child::spawn();
    let types = type_test(&child);

    let recorder = Arc::new(AddCallback::new(10));
    let total = types.for_each(&[1, 2, 3], Box::new(SharedCallback(recorder.clone()))).unwrap();
    assert_eq!(total, 36);
    let threads = recorder.threads.lock().unwrap().clone();
    assert_eq!(threads.len(), 3);
    assert!(threads.iter().all(|id| *id == thread::current().id()), "callbacks ran on {threads:?}");

    let task = Task { name: "job".to_owned(), callback: Box::new(AddCallback::new(99)) };
    assert_eq!(types.run_task(task).unwrap(), "job: 100");
}

#[test]
fn interfaces_as_results_and_in_lists() {
    let child = Child::spawn();
    let types = type_test(&child);

    let callback = types.make_callback(5).unwrap();
    assert_eq!(callback.call(1).unwrap(), 6);

    let callbacks = types.make_callbacks(&[1, 2, 3]).unwrap();
    let results: Vec<i32> = callbacks.iter().map(|callback| callback.call(10).unwrap()).collect();
    assert_eq!(results, vec![11, 12, 13]);

    // Local callbacks and the child's own, sent back to it in one list.
    let mixed: Vec<Box<dyn Callback>> = vec![Box::new(AddCallback::new(100)), callback];
    assert_eq!(types.call_all(mixed, 1).unwrap(), vec![101, 6]);
}

#[test]
fn dropping_a_proxy_destroys_the_object() {
    let child = Child::spawn();
    let init = child.init();

    assert_eq!(init.live_counters().unwrap(), 0);
    let counter = init.make_counter(10).unwrap();
    let other = init.make_counter(0).unwrap();
    assert_eq!(init.live_counters().unwrap(), 2);
    assert_eq!(counter.increment(5).unwrap(), 15);
    assert_eq!(counter.get().unwrap(), 15);

    drop(counter);
    assert_eq!(init.live_counters().unwrap(), 1);
    drop(other);
    assert_eq!(init.live_counters().unwrap(), 0);
}

#[test]
fn proxies_work_from_several_threads() {
    let child = Child::spawn();
    let types: Arc<dyn TypeTest> = Arc::from(type_test(&child));

    let workers: Vec<_> = (0..4)
        .map(|index| {
            let types = types.clone();
            thread::spawn(move || {
                for round in 0..20 {
                    let value = index * 100 + round;
                    assert_eq!(types.sum(&[value, 1]).unwrap(), i64::from(value) + 1);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("a worker thread panicked");
    }
}

#[test]
fn blocking_wait_is_woken_by_submit() {
    let _watchdog = Watchdog::start("blocking_wait_is_woken_by_submit", Duration::from_secs(60));
    let child = Child::spawn();
    let mining: Arc<dyn Mining> = Arc::from(child.init().make_mining().unwrap());

    let waiter = {
        let mining = mining.clone();
        thread::spawn(move || mining.wait_next(0, 30_000))
    };
    // The wait returns whether submit arrives before or after it starts.
    thread::sleep(Duration::from_millis(100));
    mining.submit(7).unwrap();
    assert_eq!(waiter.join().unwrap().unwrap(), Some(7));

    // A wait given the latest value as `known` times out with no value.
    assert_eq!(mining.wait_next(7, 50).unwrap(), None);
}

#[test]
fn blocking_wait_is_woken_by_interrupt() {
    let _watchdog = Watchdog::start("blocking_wait_is_woken_by_interrupt", Duration::from_secs(60));
    let child = Child::spawn();
    let mining: Arc<dyn Mining> = Arc::from(child.init().make_mining().unwrap());

    let waiter = {
        let mining = mining.clone();
        thread::spawn(move || mining.wait_next(0, 30_000))
    };
    thread::sleep(Duration::from_millis(100));
    // `interrupt` has no Context: it runs on the child's event loop while the
    // waiter's server thread is blocked.
    mining.interrupt().unwrap();
    assert_eq!(waiter.join().unwrap().unwrap(), None);
}

#[test]
fn event_loop_method_runs_while_a_call_blocks() {
    let _watchdog = Watchdog::start("event_loop_method_runs_while_a_call_blocks", Duration::from_secs(60));
    let child = Child::spawn();
    let types: Arc<dyn TypeTest> = Arc::from(type_test(&child));

    let sleeper = {
        let types = types.clone();
        thread::spawn(move || types.sleep(500))
    };
    thread::sleep(Duration::from_millis(50));
    assert_eq!(types.ping(1).unwrap(), 2);
    sleeper.join().unwrap().unwrap();
}

#[test]
fn child_exits_when_the_parent_lets_go() {
    let child = Child::spawn();
    let counter = child.init().make_counter(1).unwrap();
    drop(counter);
    let status = child.finish();
    assert!(status.success(), "child exited with {status}");
}
