//! Feeds each input to a connection that serves `TestInit`, after a recorded
//! bootstrap and `construct` request, so that inputs start as calls on a
//! connection in the state a real client leaves it in.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = [multiprocess_fuzz::HANDSHAKE, data].concat();
    multiprocess_testing::replay_bytes(multiprocess_fuzz::event_loop(), &input);
});
