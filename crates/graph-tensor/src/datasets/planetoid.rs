//! A strict reader for the Planetoid graph files `ind.<name>.graph` (Yang et al., ICML 2016;
//! the Cora / Citeseer / Pubmed files that GraphRNN, EDP-GNN and GDSS ship): a Python pickle
//! of a `dict` or `collections.defaultdict(list)` mapping each node id to the list of its
//! neighbours.
//!
//! Only the handful of pickle opcodes such a file uses are interpreted (integers, lists,
//! dicts, the `defaultdict(list)` constructor, memo bookkeeping); anything else — in
//! particular any other global — is refused. Nothing is executed.

use std::path::Path;

use super::DatasetError;

#[derive(Debug, Clone)]
enum Value {
    Int(i64),
    List(Vec<i64>),
    Dict(Vec<(i64, Vec<i64>)>),
    Global(String),
    Tuple(Vec<Value>),
    Mark,
}

/// The adjacency dict of a Planetoid `ind.*.graph` pickle, entries in the dict's order.
pub fn read_adjacency_pickle(path: &Path) -> Result<Vec<(i64, Vec<i64>)>, DatasetError> {
    let bytes = std::fs::read(path).map_err(|e| DatasetError::io(path, e))?;
    parse(&bytes).map_err(|(pos, msg)| {
        DatasetError::parse(
            path,
            0,
            format!("byte {pos}: {msg} (expected a Planetoid adjacency pickle)"),
        )
    })
}

type PResult<T> = Result<T, (usize, String)>;

fn parse(b: &[u8]) -> PResult<Vec<(i64, Vec<i64>)>> {
    let mut stack: Vec<Value> = Vec::new();
    let mut memo: Vec<Option<Value>> = Vec::new();
    let mut pos = 0usize;
    let take = |pos: &mut usize, n: usize| -> PResult<&[u8]> {
        let s = b
            .get(*pos..*pos + n)
            .ok_or((*pos, "truncated file".to_string()))?;
        *pos += n;
        Ok(s)
    };
    let line = |pos: &mut usize| -> PResult<String> {
        let start = *pos;
        let end = b[start..]
            .iter()
            .position(|&c| c == b'\n')
            .ok_or((start, "unterminated text".to_string()))?;
        *pos = start + end + 1;
        String::from_utf8(b[start..start + end].to_vec())
            .map_err(|_| (start, "text is not UTF-8".into()))
    };
    fn pop_mark(stack: &mut Vec<Value>, at: usize) -> PResult<Vec<Value>> {
        let m = stack
            .iter()
            .rposition(|v| matches!(v, Value::Mark))
            .ok_or((at, "MARK missing".to_string()))?;
        let items = stack.split_off(m + 1);
        stack.pop();
        Ok(items)
    }
    fn int(v: Value, at: usize) -> PResult<i64> {
        match v {
            Value::Int(i) => Ok(i),
            other => Err((at, format!("expected an integer, found {other:?}"))),
        }
    }
    fn store(memo: &mut Vec<Option<Value>>, idx: usize, v: &Value) {
        if memo.len() <= idx {
            memo.resize(idx + 1, None);
        }
        // Only immutable values are remembered; a later GET of a list or dict is refused.
        memo[idx] = matches!(v, Value::Global(_) | Value::Int(_)).then(|| v.clone());
    }
    loop {
        let at = pos;
        let op = *take(&mut pos, 1)?.first().expect("one byte");
        let underflow = || (at, format!("opcode 0x{op:02x} on an empty stack"));
        match op {
            0x80 => {
                take(&mut pos, 1)?; // PROTO
            }
            0x95 => {
                take(&mut pos, 8)?; // FRAME
            }
            b'.' => break, // STOP
            b'(' => stack.push(Value::Mark),
            b'K' => stack.push(Value::Int(take(&mut pos, 1)?[0] as i64)),
            b'M' => {
                let s = take(&mut pos, 2)?;
                stack.push(Value::Int(u16::from_le_bytes([s[0], s[1]]) as i64))
            }
            b'J' => {
                let s = take(&mut pos, 4)?;
                stack.push(Value::Int(
                    i32::from_le_bytes([s[0], s[1], s[2], s[3]]) as i64
                ))
            }
            b'I' => {
                let t = line(&mut pos)?;
                let v = t
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| (at, format!("bad INT '{t}'")))?;
                stack.push(Value::Int(v))
            }
            0x8a => {
                // LONG1: n bytes, little-endian two's complement.
                let n = take(&mut pos, 1)?[0] as usize;
                let s = take(&mut pos, n)?;
                if n > 8 {
                    return Err((at, "integer wider than 64 bits".into()));
                }
                let mut v: i64 = 0;
                for (i, &x) in s.iter().enumerate() {
                    v |= (x as i64) << (8 * i);
                }
                if n > 0 && n < 8 && s[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                stack.push(Value::Int(v))
            }
            b']' => stack.push(Value::List(Vec::new())),
            b'}' => stack.push(Value::Dict(Vec::new())),
            b')' => stack.push(Value::Tuple(Vec::new())),
            b'c' => {
                let module = line(&mut pos)?;
                let name = line(&mut pos)?;
                stack.push(Value::Global(format!("{module}.{name}")))
            }
            0x93 => {
                // STACK_GLOBAL
                let name = stack.pop().ok_or_else(underflow)?;
                let module = stack.pop().ok_or_else(underflow)?;
                return Err((
                    at,
                    format!("unsupported STACK_GLOBAL ({module:?}, {name:?})"),
                ));
            }
            0x85 => {
                let a = stack.pop().ok_or_else(underflow)?;
                stack.push(Value::Tuple(vec![a]))
            }
            b't' => {
                let items = pop_mark(&mut stack, at)?;
                stack.push(Value::Tuple(items))
            }
            b'R' => {
                let args = stack.pop().ok_or_else(underflow)?;
                let f = stack.pop().ok_or_else(underflow)?;
                let ok_list = |g: &str| g == "__builtin__.list" || g == "builtins.list";
                match (&f, &args) {
                    (Value::Global(g), Value::Tuple(a))
                        if g == "collections.defaultdict"
                            && matches!(a.as_slice(), [Value::Global(l)] if ok_list(l)) =>
                    {
                        stack.push(Value::Dict(Vec::new()))
                    }
                    _ => return Err((at, format!("refusing to call {f:?}"))),
                }
            }
            b'q' => {
                let i = take(&mut pos, 1)?[0] as usize;
                store(&mut memo, i, stack.last().ok_or_else(underflow)?);
            }
            b'r' => {
                let s = take(&mut pos, 4)?;
                let i = u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize;
                store(&mut memo, i, stack.last().ok_or_else(underflow)?);
            }
            0x94 => {
                let i = memo.len();
                store(&mut memo, i, stack.last().ok_or_else(underflow)?);
            }
            b'h' | b'j' => {
                let i = if op == b'h' {
                    take(&mut pos, 1)?[0] as usize
                } else {
                    let s = take(&mut pos, 4)?;
                    u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize
                };
                let v = memo
                    .get(i)
                    .cloned()
                    .flatten()
                    .ok_or((at, format!("unsupported memo reference {i}")))?;
                stack.push(v)
            }
            b'a' => {
                let v = int(stack.pop().ok_or_else(underflow)?, at)?;
                match stack.last_mut() {
                    Some(Value::List(l)) => l.push(v),
                    _ => return Err((at, "APPEND to something that is not a list".into())),
                }
            }
            b'e' => {
                let items = pop_mark(&mut stack, at)?;
                let vals = items
                    .into_iter()
                    .map(|v| int(v, at))
                    .collect::<PResult<Vec<_>>>()?;
                match stack.last_mut() {
                    Some(Value::List(l)) => l.extend(vals),
                    _ => return Err((at, "APPENDS to something that is not a list".into())),
                }
            }
            b's' | b'u' => {
                let items = if op == b's' {
                    let v = stack.pop().ok_or_else(underflow)?;
                    let k = stack.pop().ok_or_else(underflow)?;
                    vec![k, v]
                } else {
                    pop_mark(&mut stack, at)?
                };
                if items.len() % 2 != 0 {
                    return Err((at, "odd number of items in SETITEMS".into()));
                }
                let mut pairs = Vec::with_capacity(items.len() / 2);
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    let k = int(k, at)?;
                    let v = match v {
                        Value::List(l) => l,
                        other => return Err((at, format!("dict value is not a list: {other:?}"))),
                    };
                    pairs.push((k, v));
                }
                match stack.last_mut() {
                    Some(Value::Dict(d)) => d.extend(pairs),
                    _ => return Err((at, "SETITEM on something that is not a dict".into())),
                }
            }
            other => return Err((at, format!("unsupported pickle opcode 0x{other:02x}"))),
        }
    }
    match stack.pop() {
        Some(Value::Dict(d)) if stack.is_empty() => Ok(d),
        other => Err((
            pos,
            format!("the pickle holds {other:?}, not an adjacency dict"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_protocol_2_defaultdict() {
        // CPython 3.11: pickle.dumps(defaultdict(list, {0: [628], 1: [158, 2919]}),
        // protocol=2) (the Planetoid files are protocol-2 defaultdicts) and the same dict as a
        // plain dict with protocol 4.
        let p2 = b"\x80\x02ccollections\ndefaultdict\nq\x00c__builtin__\nlist\nq\x01\x85q\x02Rq\x03(K\x00]q\x04Mt\x02aK\x01]q\x05(K\x9eMg\x0beu.";
        let p4 = b"\x80\x04\x95\x18\x00\x00\x00\x00\x00\x00\x00}\x94(K\x00]\x94Mt\x02aK\x01]\x94(K\x9eMg\x0beu.";
        for b in [&p2[..], &p4[..]] {
            assert_eq!(
                parse(b).unwrap(),
                vec![(0, vec![628]), (1, vec![158, 2919])]
            );
        }
    }

    #[test]
    fn refuses_other_code() {
        let mut b: Vec<u8> = vec![0x80, 2];
        b.extend(b"cos\nsystem\nq\x01X\x02\x00\x00\x00ls\x85R.");
        assert!(parse(&b).is_err());
        assert!(
            parse(b"\x80\x02}q\x00(K\x01K\x02u.").is_err(),
            "a dict value must be a list"
        );
        assert!(parse(b"\x80\x02}q\x00(K\x01]q\x01").is_err(), "truncated");
    }
}
