//! A small writer of MaxMind DB files (the format GeoIP2 and GeoLite2 come
//! in), so tests build the database they look addresses up in instead of
//! shipping a binary file.
//!
//! The format (MaxMind DB File Format Specification 2.0): a binary search
//! tree over the address bits, 16 zero bytes, a data section of typed
//! values, then `\xAB\xCD\xEFMaxMind.com` and the metadata map. An IPv6
//! database holds IPv4 networks under `::/96`, which is where readers look
//! IPv4 addresses up; an IPv4 database holds only IPv4 networks. Records
//! are 24 bits wide, or 32 when the database outgrows 24; data values are
//! written once each, without pointers. More specific networks win over
//! the ones they sit in, whatever the order they were inserted in.
//!
//! ```ignore
//! let mut db = MmdbWriter::new("GeoIP2-City");
//! db.insert("81.2.69.0/24", city_record(Some("London"), "GB"));
//! db.write_to(&path);
//! ```

use std::{net::IpAddr, path::Path};

/// A value of the data section: the types a GeoIP2 record uses.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Double(f64),
    U16(u16),
    U32(u32),
    U64(u64),
    Bool(bool),
    Map(Vec<(String, Value)>),
    Array(Vec<Value>),
}

impl Value {
    /// A map from `(key, value)` pairs, in the order given.
    pub fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Value)>) -> Self {
        Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn string(s: impl Into<String>) -> Self {
        Value::String(s.into())
    }
}

/// A GeoIP2-City-shaped record: the city's English name (when given) and
/// the country's ISO code and English name (the code stands in for it).
pub fn city_record(city: Option<&str>, country_iso: &str) -> Value {
    let names = |name: &str| Value::map([("en", Value::string(name))]);
    let mut entries = Vec::new();
    if let Some(city) = city {
        entries.push(("city", Value::map([("names", names(city))])));
    }
    entries.push((
        "country",
        Value::map([
            ("iso_code", Value::string(country_iso)),
            ("names", names(country_iso)),
        ]),
    ));
    Value::map(entries)
}

/// Which addresses the tree covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpVersion {
    /// 32-bit tree: IPv4 networks only.
    V4,
    /// 128-bit tree: IPv6 networks, IPv4 ones under `::/96`.
    V6,
}

/// Collects networks with their records and writes the database.
#[derive(Debug, Clone)]
pub struct MmdbWriter {
    database_type: String,
    ip_version: IpVersion,
    build_epoch: u64,
    networks: Vec<(u128, u8, Value)>,
}

impl MmdbWriter {
    /// An IPv6 database (IPv4 addresses found through `::/96`) of the given
    /// `database_type` (e.g. `GeoIP2-City`).
    pub fn new(database_type: &str) -> Self {
        Self {
            database_type: database_type.to_owned(),
            ip_version: IpVersion::V6,
            build_epoch: 1_700_000_000,
            networks: Vec::new(),
        }
    }

    /// An IPv4-only database.
    pub fn ipv4_only(database_type: &str) -> Self {
        Self {
            ip_version: IpVersion::V4,
            ..Self::new(database_type)
        }
    }

    /// Maps `network` (CIDR text: `81.2.69.0/24`, `2001:db8::/32`; a bare
    /// address is a host) to `value`. Panics on a malformed network, or an
    /// IPv6 one in an IPv4 database.
    pub fn insert(&mut self, network: &str, value: Value) -> &mut Self {
        let (addr, prefix) = match network.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (network, None),
        };
        let addr: IpAddr = addr
            .parse()
            .unwrap_or_else(|e| panic!("network {network:?}: {e}"));
        let width: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix.map_or(width, |p| {
            p.parse()
                .unwrap_or_else(|e| panic!("network {network:?}: {e}"))
        });
        assert!(prefix <= width, "network {network:?}: prefix too long");
        let (bits, prefix) = match (self.ip_version, addr) {
            // The 32-bit tree: the address in the highest bits.
            (IpVersion::V4, IpAddr::V4(v4)) => (u128::from(u32::from(v4)) << 96, prefix),
            // ::a.b.c.d/96+n, where readers look IPv4 addresses up.
            (IpVersion::V6, IpAddr::V4(v4)) => (u128::from(u32::from(v4)), prefix + 96),
            (IpVersion::V6, IpAddr::V6(v6)) => (u128::from(v6), prefix),
            (IpVersion::V4, IpAddr::V6(_)) => {
                panic!("network {network:?}: IPv6 in an IPv4 database")
            }
        };
        self.networks.push((bits, prefix, value));
        self
    }

    /// The database file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut tree = Tree::default();
        let mut data = Vec::new();
        // Wider networks first, so a narrower one splits them and wins.
        let mut order: Vec<&(u128, u8, Value)> = self.networks.iter().collect();
        order.sort_by_key(|(_, prefix, _)| *prefix);
        for (bits, prefix, value) in order {
            let offset = data.len();
            encode(value, &mut data);
            tree.insert(*bits, *prefix, offset);
        }

        let node_count = tree.nodes.len();
        // A record holds a node number, "no data" (= node_count) or
        // node_count + 16 + the data offset.
        let largest = node_count + 16 + data.len();
        let record_size: u16 = if largest < 1 << 24 { 24 } else { 32 };
        let mut out = Vec::new();
        for node in &tree.nodes {
            for child in node {
                let record = match *child {
                    Child::Empty => node_count,
                    Child::Node(n) => n,
                    Child::Data(offset) => node_count + 16 + offset,
                };
                let record = u32::try_from(record).expect("database too large");
                let bytes = record.to_be_bytes();
                out.extend_from_slice(if record_size == 24 {
                    &bytes[1..]
                } else {
                    &bytes
                });
            }
        }
        out.extend_from_slice(&[0; 16]);
        out.extend_from_slice(&data);
        out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        let metadata = Value::map([
            ("binary_format_major_version", Value::U16(2)),
            ("binary_format_minor_version", Value::U16(0)),
            ("build_epoch", Value::U64(self.build_epoch)),
            ("database_type", Value::string(&self.database_type)),
            (
                "description",
                Value::map([("en", Value::string("Latch test database"))]),
            ),
            (
                "ip_version",
                Value::U16(match self.ip_version {
                    IpVersion::V4 => 4,
                    IpVersion::V6 => 6,
                }),
            ),
            ("languages", Value::Array(vec![Value::string("en")])),
            (
                "node_count",
                Value::U32(u32::try_from(node_count).expect("node count")),
            ),
            ("record_size", Value::U16(record_size)),
        ]);
        encode(&metadata, &mut out);
        out
    }

    /// Writes the database to `path`.
    pub fn write_to(&self, path: &Path) {
        std::fs::write(path, self.to_bytes())
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

/// One side of a tree node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Child {
    Empty,
    Node(usize),
    /// An offset into the data section.
    Data(usize),
}

/// The search tree: node 0 is the root, `[left (bit 0), right (bit 1)]`.
#[derive(Debug)]
struct Tree {
    nodes: Vec<[Child; 2]>,
}

impl Default for Tree {
    fn default() -> Self {
        Self {
            nodes: vec![[Child::Empty; 2]],
        }
    }
}

impl Tree {
    /// Points the `prefix` leading bits of `bits` (the address as 128
    /// bits, the tree's first bit in the highest) at `offset`. A data record met on the way is a
    /// wider network: it is split, both halves keeping its data, so only
    /// the narrower network changes hands.
    fn insert(&mut self, bits: u128, prefix: u8, offset: usize) {
        assert!(prefix > 0, "a network must not cover the whole tree");
        let bit = |i: u8| usize::from((bits >> (127 - i)) & 1 == 1);
        let mut node = 0;
        for i in 0..prefix - 1 {
            let side = bit(i);
            node = match self.nodes[node][side] {
                Child::Node(next) => next,
                inherited @ (Child::Empty | Child::Data(_)) => {
                    self.nodes.push([inherited; 2]);
                    let next = self.nodes.len() - 1;
                    self.nodes[node][side] = Child::Node(next);
                    next
                }
            };
        }
        let side = bit(prefix - 1);
        // Inserted widest first, so nothing narrower sits below yet.
        assert!(
            !matches!(self.nodes[node][side], Child::Node(_)),
            "network inserted below a narrower one"
        );
        self.nodes[node][side] = Child::Data(offset);
    }
}

// Data section types (spec, "Output Data Section").
const STRING: u8 = 2;
const DOUBLE: u8 = 3;
const U16: u8 = 5;
const U32: u8 = 6;
const MAP: u8 = 7;
const U64: u8 = 9;
const ARRAY: u8 = 11;
const BOOL: u8 = 14;

fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::String(s) => {
            control(STRING, s.len(), out);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Double(d) => {
            control(DOUBLE, 8, out);
            out.extend_from_slice(&d.to_be_bytes());
        }
        Value::U16(n) => unsigned(U16, u64::from(*n), out),
        Value::U32(n) => unsigned(U32, u64::from(*n), out),
        Value::U64(n) => unsigned(U64, *n, out),
        // A boolean's value is its size; it has no payload.
        Value::Bool(b) => control(BOOL, usize::from(*b), out),
        Value::Map(entries) => {
            control(MAP, entries.len(), out);
            for (key, value) in entries {
                encode(&Value::String(key.clone()), out);
                encode(value, out);
            }
        }
        Value::Array(items) => {
            control(ARRAY, items.len(), out);
            for item in items {
                encode(item, out);
            }
        }
    }
}

/// Unsigned integers are big-endian in as few bytes as hold them.
fn unsigned(kind: u8, n: u64, out: &mut Vec<u8>) {
    let bytes = n.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(kind, bytes.len() - skip, out);
    out.extend_from_slice(&bytes[skip..]);
}

/// The control byte (type in the top 3 bits, size in the low 5), the
/// extended type byte for types above 7, then the size's extra bytes.
fn control(kind: u8, size: usize, out: &mut Vec<u8>) {
    let type_bits = if kind <= 7 { kind << 5 } else { 0 };
    let (size_bits, extra): (u8, Vec<u8>) = match size {
        0..29 => (u8::try_from(size).expect("size"), Vec::new()),
        29..285 => (29, vec![u8::try_from(size - 29).expect("size")]),
        285..65_821 => (
            30,
            u16::try_from(size - 285)
                .expect("size")
                .to_be_bytes()
                .to_vec(),
        ),
        _ => {
            let n = u32::try_from(size - 65_821).expect("value too large");
            assert!(n < 1 << 24, "value too large");
            (31, n.to_be_bytes()[1..].to_vec())
        }
    };
    out.push(type_bits | size_bits);
    if kind > 7 {
        out.push(kind - 7);
    }
    out.extend_from_slice(&extra);
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, net::IpAddr};

    use maxminddb::{Reader, geoip2};
    use serde_json::json;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn reader(db: &MmdbWriter) -> Reader<Vec<u8>> {
        let reader = Reader::from_source(db.to_bytes()).unwrap();
        reader.verify().unwrap();
        reader
    }

    fn city_of(reader: &Reader<Vec<u8>>, addr: &str) -> Option<(Option<String>, Option<String>)> {
        let found = reader.lookup(ip(addr)).unwrap();
        found.decode::<geoip2::City<'_>>().unwrap().map(|c| {
            (
                c.city.names.english.map(str::to_owned),
                c.country.iso_code.map(str::to_owned),
            )
        })
    }

    fn some(city: Option<&str>, iso: &str) -> Option<(Option<String>, Option<String>)> {
        Some((city.map(str::to_owned), Some(iso.to_owned())))
    }

    #[test]
    fn an_ipv6_database_answers_ipv4_and_ipv6_lookups() {
        let mut db = MmdbWriter::new("GeoIP2-City");
        db.insert("81.2.69.0/24", city_record(Some("London"), "GB"))
            .insert("2001:db8:1::/48", city_record(Some("Berlin"), "DE"))
            .insert("2.125.160.216/29", city_record(None, "FR"));
        let reader = reader(&db);
        let meta = reader.metadata();
        assert_eq!(meta.ip_version, 6);
        assert_eq!(meta.database_type, "GeoIP2-City");
        assert_eq!(meta.record_size, 24);
        assert_eq!(meta.languages, ["en"]);

        assert_eq!(city_of(&reader, "81.2.69.160"), some(Some("London"), "GB"));
        assert_eq!(city_of(&reader, "81.2.69.0"), some(Some("London"), "GB"));
        assert_eq!(city_of(&reader, "81.2.68.255"), None);
        assert_eq!(city_of(&reader, "81.2.70.0"), None);
        assert_eq!(
            city_of(&reader, "2001:db8:1:ffff::1"),
            some(Some("Berlin"), "DE")
        );
        assert_eq!(city_of(&reader, "2001:db8:2::1"), None);
        assert_eq!(city_of(&reader, "2.125.160.217"), some(None, "FR"));
        assert_eq!(city_of(&reader, "2.125.160.224"), None);

        let found = reader.lookup(ip("81.2.69.7")).unwrap();
        assert_eq!(found.network().unwrap().to_string(), "81.2.69.0/24");
    }

    #[test]
    fn an_ipv4_database_answers_ipv4_and_refuses_ipv6() {
        let mut db = MmdbWriter::ipv4_only("GeoIP2-Country");
        db.insert("198.51.100.0/24", city_record(None, "NL"));
        let reader = reader(&db);
        assert_eq!(reader.metadata().ip_version, 4);
        assert_eq!(city_of(&reader, "198.51.100.9"), some(None, "NL"));
        assert_eq!(city_of(&reader, "198.51.101.9"), None);
        assert!(reader.lookup(ip("2001:db8::1")).is_err());
    }

    #[test]
    fn the_narrower_network_wins_in_either_order() {
        for narrow_first in [false, true] {
            let mut db = MmdbWriter::new("GeoIP2-City");
            let wide = ("10.0.0.0/8", city_record(None, "US"));
            let narrow = ("10.1.2.0/24", city_record(Some("Paris"), "FR"));
            let (a, b) = if narrow_first {
                (narrow, wide)
            } else {
                (wide, narrow)
            };
            db.insert(a.0, a.1).insert(b.0, b.1);
            let reader = reader(&db);
            assert_eq!(city_of(&reader, "10.1.2.3"), some(Some("Paris"), "FR"));
            assert_eq!(city_of(&reader, "10.1.3.3"), some(None, "US"));
            assert_eq!(city_of(&reader, "10.200.0.1"), some(None, "US"));
            assert_eq!(city_of(&reader, "11.0.0.1"), None);
        }
    }

    #[test]
    fn every_value_type_and_size_form_reads_back() {
        let long = "x".repeat(300);
        let longer = "y".repeat(70_000);
        let mid = "z".repeat(100);
        let record = Value::map([
            ("s", Value::string("héllo")),
            ("empty", Value::string("")),
            ("mid", Value::string(&mid)),
            ("long", Value::string(&long)),
            ("longer", Value::string(&longer)),
            ("d", Value::Double(52.5)),
            ("u16", Value::U16(65_535)),
            ("u32", Value::U32(16_777_216)),
            ("u64", Value::U64(u64::MAX)),
            ("zero", Value::U32(0)),
            ("yes", Value::Bool(true)),
            ("no", Value::Bool(false)),
            (
                "list",
                Value::Array(vec![Value::U16(1), Value::string("two")]),
            ),
        ]);
        let mut db = MmdbWriter::new("Latch-Test");
        db.insert("192.0.2.1", record);
        let reader = reader(&db);
        let decoded: BTreeMap<String, serde_json::Value> = reader
            .lookup(ip("192.0.2.1"))
            .unwrap()
            .decode()
            .unwrap()
            .unwrap();
        let expected: BTreeMap<String, serde_json::Value> = serde_json::from_value(json!({
            "s": "héllo", "empty": "", "mid": mid, "long": long, "longer": longer,
            "d": 52.5, "u16": 65_535, "u32": 16_777_216, "u64": u64::MAX, "zero": 0,
            "yes": true, "no": false, "list": [1, "two"],
        }))
        .unwrap();
        assert_eq!(decoded, expected);
        assert_eq!(city_of(&reader, "192.0.2.2"), None);
    }

    #[test]
    fn a_large_database_switches_to_32_bit_records() {
        // Enough data to pass 2^24 bytes of offset.
        let mut db = MmdbWriter::new("Latch-Test");
        let filler = "f".repeat(60_000);
        for i in 0..300u32 {
            let addr = std::net::Ipv4Addr::from(0x0A00_0000 + (i << 8));
            db.insert(
                &format!("{addr}/24"),
                Value::map([("n", Value::U32(i)), ("pad", Value::string(&filler))]),
            );
        }
        let reader = reader(&db);
        assert_eq!(reader.metadata().record_size, 32);
        for i in [0u32, 150, 299] {
            let addr = std::net::Ipv4Addr::from(0x0A00_0000 + (i << 8) + 5);
            let n: Option<u32> = reader
                .lookup(IpAddr::V4(addr))
                .unwrap()
                .decode_path(&[maxminddb::PathElement::Key("n")])
                .unwrap();
            assert_eq!(n, Some(i));
        }
    }
}
