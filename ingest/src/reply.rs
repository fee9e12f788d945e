//! Reply lines of the producer protocol: `{"ok":true,"id":"<uuid>"}` or
//! `{"ok":false,"code":"…","error":"<sentence>"}`, each ending in a newline.

use serde::Serialize;
use uuid::Uuid;

use crate::normalize::Refusal;

/// Appends the success reply for `id` (built by hand: it is the hot path and needs no escaping).
pub fn write_ok(out: &mut Vec<u8>, id: Uuid) {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    out.extend_from_slice(b"{\"ok\":true,\"id\":\"");
    out.extend_from_slice(id.hyphenated().encode_lower(&mut buf).as_bytes());
    out.extend_from_slice(b"\"}\n");
}

#[derive(Serialize)]
struct ErrorReply<'a> {
    ok: bool,
    code: &'a str,
    error: &'a str,
}

/// Appends the refusal reply for `r` (the sentence JSON-escaped).
pub fn write_refusal(out: &mut Vec<u8>, r: &Refusal) {
    let reply = ErrorReply {
        ok: false,
        code: r.code.as_str(),
        error: &r.message,
    };
    // Serialising two strings and a bool into a Vec cannot fail.
    serde_json::to_writer(&mut *out, &reply).expect("a reply always serialises");
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::Code;

    #[test]
    fn replies_are_single_json_lines() {
        let mut out = Vec::new();
        let id = Uuid::new_v4();
        write_ok(&mut out, id);
        write_refusal(
            &mut out,
            &Refusal {
                code: Code::QueueFull,
                message: "a \"quoted\"\nsentence".into(),
            },
        );
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let ok: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(ok, serde_json::json!({"ok": true, "id": id.to_string()}));
        let err: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(
            err,
            serde_json::json!({"ok": false, "code": "queue_full", "error": "a \"quoted\"\nsentence"})
        );
    }
}
