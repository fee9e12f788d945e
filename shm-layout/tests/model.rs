//! Model test: random enqueue / peek / commit sequences against a `VecDeque`.

mod common;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use common::TestSegment;
use proptest::prelude::*;
use shm_layout::{EnqueueError, Reader, Segment, MAX_PAYLOAD};

#[derive(Debug, Clone)]
enum Op {
    Enqueue { len: usize, fill: u8 },
    Peek { max: usize, commit: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (prop_oneof![0usize..400, Just(MAX_PAYLOAD), Just(MAX_PAYLOAD + 1)], any::<u8>())
            .prop_map(|(len, fill)| Op::Enqueue { len, fill }),
        2 => (0usize..300, 0usize..300).prop_map(|(max, commit)| Op::Peek { max, commit }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn ring_behaves_like_a_bounded_queue(ops in prop::collection::vec(op(), 1..700)) {
        let t = TestSegment::new("model");
        let seg = Arc::new(Segment::open_or_create(&t.name).unwrap());
        let mut reader = Reader::claim(seg.clone()).unwrap();
        let mut model: VecDeque<Vec<u8>> = VecDeque::new();
        let (mut full, mut too_large) = (0u64, 0u64);
        for op in ops {
            match op {
                Op::Enqueue { len, fill } => {
                    let payload = vec![fill; len];
                    let got = seg.try_enqueue(&payload, Duration::from_secs(1));
                    if len > MAX_PAYLOAD {
                        prop_assert_eq!(got, Err(EnqueueError::TooLarge { len }));
                        too_large += 1;
                    } else if model.len() == 256 {
                        prop_assert_eq!(got, Err(EnqueueError::Full));
                        full += 1;
                    } else {
                        prop_assert!(got.is_ok());
                        model.push_back(payload);
                    }
                }
                Op::Peek { max, commit } => {
                    let mut seen = Vec::new();
                    let end = reader.peek(max, |_, slot| seen.push(slot.unwrap().to_vec()));
                    let expect: Vec<Vec<u8>> = model.iter().take(max).cloned().collect();
                    prop_assert_eq!(&seen, &expect);
                    let k = commit.min(seen.len());
                    reader.commit(end - (seen.len() - k) as u64);
                    model.drain(..k);
                }
            }
            prop_assert_eq!(seg.depth(), model.len() as u64);
        }
        let snap = seg.snapshot();
        prop_assert_eq!(snap.counters["rejected_full"], full);
        prop_assert_eq!(snap.counters["rejected_too_large"], too_large);
        prop_assert_eq!(snap.counters["enqueued"] - snap.counters["dequeued"], model.len() as u64);
    }
}
