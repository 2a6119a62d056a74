//! Reading the replies of `XREADGROUP` and `XAUTOCLAIM` (RESP2 arrays or
//! RESP3 maps), and the entries Latch writes.

use deadpool_redis::redis::Value;

/// One event as Latch appended it to its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEvent {
    /// The stream entry's id (`1733050000000-0`): its place in the stream.
    pub entry_id: String,
    /// The event's unique id (a UUID): deduplicate on it, since an entry
    /// may be handed out more than once.
    pub event_id: String,
    /// What the event is about (`user:{id}`, `session:{id}`, `role:{name}`);
    /// Latch keeps the order of one aggregate's events.
    pub aggregate: String,
    /// The channel name, e.g. `user:updated`.
    pub event_type: String,
    /// The `latch.events.v1` message of that channel, protobuf-encoded.
    pub data: Vec<u8>,
}

impl StreamEvent {
    /// `data` decoded as `M`, e.g. `latch.events.v1.UserUpdated`.
    pub fn decode<M: prost::Message + Default>(&self) -> Result<M, prost::DecodeError> {
        M::decode(self.data.as_slice())
    }
}

/// An entry as read: its fields, or none when it was trimmed away while
/// pending.
#[derive(Debug)]
pub(crate) struct Entry {
    id: String,
    fields: Option<Vec<(String, Vec<u8>)>>,
}

impl Entry {
    pub(crate) fn entry_id(&self) -> &str {
        &self.id
    }

    /// The event, or why this entry is not one.
    pub(crate) fn into_event(self) -> Result<StreamEvent, &'static str> {
        let fields = self.fields.ok_or("the entry was trimmed from the stream")?;
        let mut event = StreamEvent {
            entry_id: self.id,
            event_id: String::new(),
            aggregate: String::new(),
            event_type: String::new(),
            data: Vec::new(),
        };
        let mut seen = 0;
        for (name, value) in fields {
            let text = || String::from_utf8(value.clone()).map_err(|_| "a field is not UTF-8");
            match name.as_str() {
                "event_id" => event.event_id = text()?,
                "aggregate" => event.aggregate = text()?,
                "type" => event.event_type = text()?,
                "data" => event.data = value,
                _ => continue,
            }
            seen += 1;
        }
        if seen < 4 {
            return Err("the entry lacks a field of Latch's events");
        }
        Ok(event)
    }
}

/// The entries of an `XREADGROUP` reply on one stream (none on a timeout).
pub(crate) fn entries(value: Value) -> Result<Vec<Entry>, &'static str> {
    let streams = match value {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams
            .into_iter()
            .map(|stream| match stream {
                Value::Array(pair) => pair.into_iter().nth(1).ok_or("a stream without entries"),
                _ => Err("a stream is not a pair"),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Value::Map(streams) => streams.into_iter().map(|(_, entries)| entries).collect(),
        _ => return Err("XREADGROUP answered neither an array nor a map"),
    };
    let mut all = Vec::new();
    for list in streams {
        let Value::Array(list) = list else {
            return Err("a stream's entries are not an array");
        };
        for entry in list {
            all.push(entry_of(entry)?);
        }
    }
    Ok(all)
}

fn entry_of(value: Value) -> Result<Entry, &'static str> {
    let Value::Array(parts) = value else {
        return Err("an entry is not an array");
    };
    let mut parts = parts.into_iter();
    let id = parts.next().map(text).ok_or("an entry without an id")??;
    let fields = match parts.next() {
        None | Some(Value::Nil) => None,
        Some(Value::Array(flat)) => {
            let mut pairs = Vec::with_capacity(flat.len() / 2);
            let mut flat = flat.into_iter();
            while let (Some(name), Some(value)) = (flat.next(), flat.next()) {
                pairs.push((text(name)?, bytes(value)?));
            }
            Some(pairs)
        }
        Some(Value::Map(map)) => Some(
            map.into_iter()
                .map(|(name, value)| Ok((text(name)?, bytes(value)?)))
                .collect::<Result<_, &'static str>>()?,
        ),
        Some(_) => return Err("an entry's fields are not an array"),
    };
    Ok(Entry { id, fields })
}

/// The next cursor and the claimed ids of an `XAUTOCLAIM … JUSTID` reply.
pub(crate) fn autoclaim(value: Value) -> Result<(String, Vec<String>), &'static str> {
    let Value::Array(parts) = value else {
        return Err("XAUTOCLAIM answered no array");
    };
    let mut parts = parts.into_iter();
    let next = parts
        .next()
        .map(text)
        .ok_or("XAUTOCLAIM without a cursor")??;
    let ids = match parts.next() {
        Some(Value::Array(ids)) => ids.into_iter().map(text).collect::<Result<_, _>>()?,
        _ => return Err("XAUTOCLAIM without ids"),
    };
    Ok((next, ids))
}

fn bytes(value: Value) -> Result<Vec<u8>, &'static str> {
    match value {
        Value::BulkString(bytes) => Ok(bytes),
        Value::SimpleString(text) => Ok(text.into_bytes()),
        _ => Err("a field is not a string"),
    }
}

fn text(value: Value) -> Result<String, &'static str> {
    String::from_utf8(bytes(value)?).map_err(|_| "a string is not UTF-8")
}
