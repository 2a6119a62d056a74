//! Replies as Redis sends them; the consumer against a real Redis is
//! tested end to end in tests/tests/event_stream.rs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use deadpool_redis::redis::Value;

use super::reply;

fn bulk(text: &str) -> Value {
    Value::BulkString(text.as_bytes().to_vec())
}

fn latch_entry(id: &str, event_id: &str) -> Value {
    Value::Array(vec![
        bulk(id),
        Value::Array(vec![
            bulk("event_id"),
            bulk(event_id),
            bulk("aggregate"),
            bulk("user:42"),
            bulk("type"),
            bulk("user:updated"),
            bulk("data"),
            Value::BulkString(vec![0, 159, 146, 150]),
        ]),
    ])
}

#[test]
fn a_resp2_read_gives_latch_events_in_stream_order() {
    let reply = Value::Array(vec![Value::Array(vec![
        bulk("events:user:updated"),
        Value::Array(vec![latch_entry("1-0", "a"), latch_entry("2-0", "b")]),
    ])]);
    let events: Vec<_> = reply::entries(reply)
        .unwrap()
        .into_iter()
        .map(|entry| entry.into_event().unwrap())
        .collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].entry_id, "1-0");
    assert_eq!(events[0].event_id, "a");
    assert_eq!(events[1].event_id, "b");
    assert_eq!(events[0].aggregate, "user:42");
    assert_eq!(events[0].event_type, "user:updated");
    // Binary data arrives untouched.
    assert_eq!(events[0].data, vec![0, 159, 146, 150]);
}

#[test]
fn a_resp3_read_is_read_the_same() {
    let reply = Value::Map(vec![(
        bulk("events:user:updated"),
        Value::Array(vec![latch_entry("7-1", "x")]),
    )]);
    let entries = reply::entries(reply).unwrap();
    let event = entries.into_iter().next().unwrap().into_event().unwrap();
    assert_eq!(
        (event.entry_id.as_str(), event.event_id.as_str()),
        ("7-1", "x")
    );
}

#[test]
fn a_timed_out_read_is_empty() {
    assert!(reply::entries(Value::Nil).unwrap().is_empty());
}

#[test]
fn trimmed_and_foreign_entries_are_not_events() {
    // A pending entry trimmed from the stream reads as an id with no fields.
    let trimmed = Value::Array(vec![Value::Array(vec![
        bulk("s"),
        Value::Array(vec![Value::Array(vec![bulk("3-0"), Value::Nil])]),
    ])]);
    let entry = reply::entries(trimmed).unwrap().into_iter().next().unwrap();
    assert_eq!(entry.entry_id(), "3-0");
    assert!(entry.into_event().is_err());

    let foreign = Value::Array(vec![Value::Array(vec![
        bulk("s"),
        Value::Array(vec![Value::Array(vec![
            bulk("4-0"),
            Value::Array(vec![bulk("hello"), bulk("world")]),
        ])]),
    ])]);
    let entry = reply::entries(foreign).unwrap().into_iter().next().unwrap();
    assert!(entry.into_event().is_err());
}

#[test]
fn autoclaim_gives_the_cursor_and_the_claimed_ids() {
    let reply = Value::Array(vec![
        bulk("0-0"),
        Value::Array(vec![bulk("1-0"), bulk("5-2")]),
        Value::Array(vec![]),
    ]);
    let (next, ids) = reply::autoclaim(reply).unwrap();
    assert_eq!(next, "0-0");
    assert_eq!(ids, vec!["1-0".to_owned(), "5-2".to_owned()]);
}
