//! Hash slots: which slot a key is in, which key a command is routed by, and which master
//! serves a slot.

use redis::{Cmd, Value};

/// The master (host, port) serving `wanted` in a `CLUSTER SLOTS` reply: ranges of
/// `[start, end, [host, port, id…], replicas…]`.
pub(crate) fn master_of(ranges: &[Vec<Value>], wanted: u16) -> Option<(String, u16)> {
    let number = |value: &Value| match value {
        Value::Int(n) => Some(*n),
        _ => None,
    };
    ranges.iter().find_map(|range| {
        let (start, end) = (number(range.first()?)?, number(range.get(1)?)?);
        if !(start..=end).contains(&i64::from(wanted)) {
            return None;
        }
        let Value::Array(master) = range.get(2)? else {
            return None;
        };
        let host = match master.first()? {
            Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok()?,
            Value::SimpleString(text) => text.clone(),
            _ => return None,
        };
        let port = u16::try_from(number(master.get(1)?)?).ok()?;
        Some((host, port))
    })
}

/// The Redis Cluster hash slot of `key` (CRC16/XMODEM of its hash tag — the part between
/// the first `{` and the next `}`, when not empty — or of the whole key, modulo 16384):
/// every key one script or transaction touches must share one (the cluster refuses it with
/// `CROSSSLOT` otherwise).
pub fn slot(key: &str) -> u16 {
    slot_of_bytes(key.as_bytes())
}

/// [`slot`] of a key given as bytes.
pub(crate) fn slot_of_bytes(bytes: &[u8]) -> u16 {
    let hashed = bytes
        .iter()
        .position(|b| *b == b'{')
        .and_then(|open| {
            let rest = &bytes[open + 1..];
            let close = rest.iter().position(|b| *b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(bytes);
    let mut crc: u16 = 0;
    for byte in hashed {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

/// The key a command is routed by, as redis's cluster client reads it (the commands
/// pipelined here: one key first, or scripts' first key), if it has one.
pub(crate) fn routing_key(cmd: &Cmd) -> Option<&[u8]> {
    let arg = |index: usize| match cmd.args_iter().nth(index)? {
        redis::Arg::Simple(bytes) => Some(bytes),
        _ => None,
    };
    let name = arg(0)?.to_ascii_uppercase();
    match name.as_slice() {
        b"EVAL" | b"EVALSHA" | b"FCALL" => {
            let keys: u64 = std::str::from_utf8(arg(2)?).ok()?.parse().ok()?;
            if keys == 0 { None } else { arg(3) }
        }
        b"XREAD" | b"XREADGROUP" => {
            let at = cmd.args_iter().position(
                |a| matches!(a, redis::Arg::Simple(b) if b.eq_ignore_ascii_case(b"STREAMS")),
            )?;
            arg(at + 1)
        }
        b"XGROUP" | b"XINFO" => arg(2),
        _ => arg(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_those_of_redis_cluster() {
        // CLUSTER KEYSLOT answers, and the tag rules of the cluster specification.
        assert_eq!(slot("123456789"), 12739);
        assert_eq!(slot("foo"), 12182);
        assert_eq!(slot("{user1000}.following"), slot("{user1000}.followers"));
        assert_eq!(slot("{user1000}.following"), slot("user1000"));
        assert_eq!(slot("foo{}{bar}"), slot("foo{}{bar}"));
        assert_ne!(slot("foo{}{bar}"), slot("bar"));
        assert_eq!(slot("foo{{bar}}zap"), slot("{bar"));
        assert_eq!(slot("foo{bar}{zap}"), slot("bar"));
    }

    #[test]
    fn commands_are_grouped_by_the_key_the_cluster_routes_them_by() {
        let key = |cmd: &Cmd| routing_key(cmd).map(|k| String::from_utf8_lossy(k).into_owned());
        assert_eq!(key(redis::cmd("GET").arg("a")), Some("a".into()));
        assert_eq!(key(&redis::cmd("PING")), None);
        let script = redis::cmd("EVALSHA")
            .arg("sha")
            .arg(2)
            .arg("k1")
            .arg("k2")
            .clone();
        assert_eq!(key(&script), Some("k1".into()));
        assert_eq!(key(redis::cmd("EVALSHA").arg("sha").arg(0)), None);
        let read = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("g")
            .arg("c")
            .arg("STREAMS")
            .arg("s")
            .arg(">")
            .clone();
        assert_eq!(key(&read), Some("s".into()));
        let group = redis::cmd("XGROUP").arg("CREATE").arg("s").arg("g").clone();
        assert_eq!(key(&group), Some("s".into()));
    }

    #[test]
    fn the_master_of_a_slot_is_read_from_cluster_slots() {
        let node = |host: &str, port: i64| {
            Value::Array(vec![
                Value::BulkString(host.as_bytes().to_vec()),
                Value::Int(port),
                Value::BulkString(b"id".to_vec()),
            ])
        };
        let ranges = vec![
            vec![
                Value::Int(0),
                Value::Int(5460),
                node("10.0.0.1", 7000),
                node("10.0.0.4", 7003),
            ],
            vec![Value::Int(5461), Value::Int(16383), node("10.0.0.2", 7001)],
        ];
        assert_eq!(master_of(&ranges, 0), Some(("10.0.0.1".into(), 7000)));
        assert_eq!(master_of(&ranges, 5461), Some(("10.0.0.2".into(), 7001)));
        assert_eq!(master_of(&ranges[..1], 9000), None);
    }
}
