//! Model v2 through the real `ingest` binary: v2 fields, moderation events and the gateway's
//! control lines on the producer socket, read back from the ring.

mod common;

use common::*;
use serde_json::{json, Value};
use shm_layout::{Reader, SlotEvent};

fn drain_events(reader: &mut Reader) -> Vec<SlotEvent> {
    let mut out = Vec::new();
    reader.wait_for_data(std::time::Duration::from_secs(5));
    let end = reader.peek(256, |_, bytes| {
        out.push(SlotEvent::from_json(bytes.expect("a whole slot")).expect("a valid payload"));
    });
    reader.commit(end);
    out
}

#[test]
fn v2_messages_and_events_reach_the_ring_exactly_as_sent() {
    let seg = SegGuard::new("ingest");
    let dir = tempfile::tempdir().unwrap();
    let ingest = Ingest::start(&seg.name, "twitch", dir.path(), &[]);
    let mut reader = Reader::claim(seg.open()).unwrap();
    let mut c = ingest.client();

    let msg = json!({
        "streamerId": SID, "user": "ann", "text": "👉 Kappa hi", "channel": "somechannel",
        "platformMessageId": "m-1", "userId": "42", "kind": "paid", "isOwner": true,
        "badges": ["broadcaster", "subscriber"],
        "emotes": [{"id": "25", "name": "Kappa", "start": 2, "end": 7}],
        "replyTo": {"platformMessageId": "m-0", "user": "bob", "text": "first"},
        "amount": {"value": "100", "currency": "bits", "display": "100 bits"},
        "systemText": "ann cheered 100 bits"
    });
    let first = c.request(msg.to_string().as_bytes());
    let second = c.request(msg.to_string().as_bytes());
    assert_eq!(
        ok_id(&first),
        ok_id(&second),
        "the platform id names the message: {first} {second}"
    );
    let expected_id =
        shm_layout::platform_message_uuid(shm_layout::Platform::Twitch, "somechannel", "m-1");
    assert_eq!(ok_id(&first), expected_id.to_string());

    let del = c.request(
        json!({"type":"delete","streamerId":SID,"channel":"somechannel","platformMessageId":"m-1"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(del["ok"], true, "{del}");
    let cu = c.request(json!({"type":"clear_user","streamerId":SID,"channel":"somechannel","userId":"42","user":"ann","until":123}).to_string().as_bytes());
    assert_eq!(cu["ok"], true, "{cu}");
    let cl = c.request(
        json!({"type":"clear","streamerId":SID,"channel":"somechannel"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(cl["ok"], true, "{cl}");

    let events = drain_events(&mut reader);
    assert_eq!(events.len(), 5, "{events:?}");
    let SlotEvent::Message(m) = &events[0] else {
        panic!("{:?}", events[0])
    };
    let v: Value = serde_json::from_slice(&m.to_json()).unwrap();
    for key in [
        "channel",
        "platformMessageId",
        "userId",
        "kind",
        "isOwner",
        "badges",
        "emotes",
        "replyTo",
        "amount",
        "systemText",
    ] {
        assert_eq!(v[key], msg[key], "{key} in {v}");
    }
    assert_eq!(v["platform"], "Twitch");
    assert!(matches!(&events[2], SlotEvent::Delete(d) if d.target_id == expected_id));
    assert!(
        matches!(&events[3], SlotEvent::ClearUser(c) if c.until == Some(123) && c.user == "ann")
    );
    assert!(matches!(&events[4], SlotEvent::Clear(c) if c.channel == "somechannel"));
}

#[test]
fn malformed_v2_fields_are_refused_with_a_sentence() {
    let seg = SegGuard::new("ingest");
    let dir = tempfile::tempdir().unwrap();
    let ingest = Ingest::start(&seg.name, "kick", dir.path(), &[]);
    let mut c = ingest.client();
    let base = || json!({"streamerId": SID, "user": "ann", "text": "👉 Kappa"});
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"emotes": [{"id": "1", "start": 2, "end": 9}]}),
            "outside the text",
        ),
        (
            json!({"emotes": [{"id": "1", "name": "Kapp", "start": 2, "end": 7}]}),
            "is named",
        ),
        (
            json!({"emotes": [{"id": "1", "start": 2, "end": 5}, {"id": "2", "start": 4, "end": 7}]}),
            "overlaps",
        ),
        (json!({"badges": ["<script>"]}), "not a short word"),
        (json!({"amount": {"value": "2.00"}}), "needs a \"currency\""),
        (
            json!({"amount": {"value": "two", "currency": "EUR"}}),
            "decimal number",
        ),
        (json!({"kind": "shout"}), "field \"kind\" must be one of"),
        (
            json!({"replyTo": {"user": "bob"}}),
            "field \"replyTo\" must be",
        ),
        (json!({"channel": 5}), "field \"channel\" must be a string"),
    ];
    for (extra, needle) in cases {
        let mut m = base();
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        let reply = c.request(m.to_string().as_bytes());
        assert_refused(&reply, "invalid", needle);
    }
    // The emote after an emoji is at code point 2, not byte 5 or UTF-16 unit 3.
    let mut m = base();
    m["emotes"] = json!([{"id": "25", "start": 2, "end": 7}]);
    let reply = c.request(m.to_string().as_bytes());
    assert_eq!(reply["ok"], true, "{reply}");
}

#[test]
fn the_gateway_control_lines_set_links_and_report_states() {
    let seg = SegGuard::new("ingest");
    let dir = tempfile::tempdir().unwrap();
    // --stdin is off: the connector runs, but its endpoint is a closed loopback port, so the
    // channel is not live; what matters here is that the link arrives and a state comes back.
    let ingest = Ingest::start(
        &seg.name,
        "twitch",
        dir.path(),
        &["--twitch-irc-url", "irc://127.0.0.1:9"],
    );
    let mut c = ingest.client();
    let reply = c.request(
        json!({"type":"channels","channels":[{"channel":"somechannel","streamers":[SID]}]})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["channels"][0]["channel"], "somechannel", "{reply}");
    assert!(reply["metrics"]["events"].is_array(), "{reply}");
    let status = c.request(br#"{"type":"status"}"#);
    let st = status["channels"][0]["state"].as_str().unwrap().to_owned();
    assert!(["connecting", "error"].contains(&st.as_str()), "{status}");
    assert!(
        status["channels"][0]["detail"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{status}"
    );
    // Unlinking empties the set.
    let reply = c.request(br#"{"type":"channels","channels":[]}"#);
    assert_eq!(reply["channels"], json!([]), "{reply}");
    let bad = c.request(br#"{"type":"channels","channels":[{"channel":1}]}"#);
    assert_refused(&bad, "invalid", "channels line is invalid");
}
